//! The credential ("digital key"): what the cloud signs and the phone presents, encrypted, in a
//! full exchange. One canonical encoding, fixed field order, hard size limits.

use crate::{
    Error, PROTOCOL_VERSION, Result,
    codec::Cursor,
    ids::{CredentialId, KeyId, LockId, MemberId, OrgId, Timestamp},
    keys::{DEVICE_PUBLIC_KEY_LEN, DevicePublicKey, OrganizationPublicKey},
};

/// Most locks one credential may list. Chosen so the largest full-exchange message still fits in
/// two ATT packets at MTU 185; the cloud issues several credentials for wider scopes.
pub const MAX_LOCKS: usize = 20;
/// The lock-count byte's flag for [`CredentialBody::owner_verified`]. The count needs five bits
/// (at most 20), so the flags share its byte and no credential grows; bits 5 and 6 are reserved
/// (zero).
const OWNER_VERIFIED_FLAG: u8 = 0x80;
const COUNT_MASK: u8 = 0x1F;
const FIXED_LEN: usize = 1 + 16 + 8 + 4 + 16 + DEVICE_PUBLIC_KEY_LEN + 4 + 4 + 4 + 1;
const SIGNATURE_LEN: usize = 64;
/// Size of a credential with one lock.
pub const CREDENTIAL_MIN_LEN: usize = FIXED_LEN + 4 + SIGNATURE_LEN;
/// Size of a credential with [`MAX_LOCKS`] locks.
pub const CREDENTIAL_MAX_LEN: usize = FIXED_LEN + 4 * MAX_LOCKS + SIGNATURE_LEN;
const DOMAIN: &[u8] = b"mobile-access/v1/credential";

/// When a credential may be used: `not_before <= now < not_after`, on the reader's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First second of validity.
    pub not_before: Timestamp,
    /// First second after validity.
    pub not_after: Timestamp,
}

/// What a credential says, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialBody {
    /// Random id; what revocation and audit name.
    pub id: CredentialId,
    /// Issuing organization (set by [`crate::OrganizationKey::issue`]).
    pub org: OrgId,
    /// Fingerprint of the signing key (set by [`crate::OrganizationKey::issue`]).
    pub org_key: KeyId,
    /// The member. Travels only inside the encrypted full exchange.
    pub member: MemberId,
    /// The phone's device key: only the holder of its private half can use the credential.
    pub device_key: DevicePublicKey,
    /// Validity window.
    pub validity: Validity,
    /// Readers refuse credentials whose epoch is below the one they were last told.
    pub revocation_epoch: u32,
    /// The locks this credential opens: 1..=[`MAX_LOCKS`], strictly ascending.
    pub locks: Vec<LockId>,
    /// True when `device_key` is the phone's *owner key*: a second key its OS releases only just
    /// after the owner verified themselves (biometric or passcode: Android Keystore user
    /// authentication, Secure Enclave user presence). A door that requires owner verification
    /// accepts only such credentials, in full exchanges only, so each opening carries a fresh
    /// signature the OS gave only to the verified owner.
    pub owner_verified: bool,
}

impl CredentialBody {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        self.check()?;
        out.push(PROTOCOL_VERSION);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.org.0);
        out.extend_from_slice(&self.org_key.0);
        out.extend_from_slice(&self.member.0);
        out.extend_from_slice(&self.device_key.0);
        out.extend_from_slice(&self.validity.not_before.0.to_be_bytes());
        out.extend_from_slice(&self.validity.not_after.0.to_be_bytes());
        out.extend_from_slice(&self.revocation_epoch.to_be_bytes());
        let flags = if self.owner_verified { OWNER_VERIFIED_FLAG } else { 0 };
        out.push(self.locks.len() as u8 | flags);
        for lock in &self.locks {
            out.extend_from_slice(&lock.0.to_be_bytes());
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        if self.locks.is_empty() {
            return Err(Error::NonCanonical("credential lists no lock"));
        }
        if self.locks.len() > MAX_LOCKS {
            return Err(Error::TooLarge { what: "credential lock list", got: self.locks.len(), max: MAX_LOCKS });
        }
        if !self.locks.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(Error::NonCanonical("locks not strictly ascending"));
        }
        if self.validity.not_after <= self.validity.not_before {
            return Err(Error::NonCanonical("validity window is empty"));
        }
        if self.device_key.0[0] != 0x04 {
            return Err(Error::NonCanonical("device key is not an uncompressed P-256 point"));
        }
        Ok(())
    }

    /// True if `lock` is in scope.
    pub fn opens(&self, lock: LockId) -> bool {
        self.locks.binary_search(&lock).is_ok()
    }
}

/// A signed credential with its exact encoding kept, so what is verified is what was sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    body: CredentialBody,
    encoded: Vec<u8>,
}

/// The body only (its member id redacted): the encoding would spell the member id out.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("body", &self.body).finish_non_exhaustive()
    }
}

impl Credential {
    pub(crate) fn sign(body: CredentialBody, sign: impl FnOnce(&[u8]) -> [u8; 64]) -> Result<Self> {
        let mut encoded = Vec::with_capacity(CREDENTIAL_MAX_LEN);
        body.encode_into(&mut encoded)?;
        let sig = sign(&signing_input(&encoded));
        encoded.extend_from_slice(&sig);
        Ok(Self { body, encoded })
    }

    /// Decodes exactly one credential; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (credential, used) = Self::decode_prefix(bytes)?;
        match bytes.len() - used {
            0 => Ok(credential),
            extra => Err(Error::TrailingBytes { what: "credential", extra }),
        }
    }

    /// Decodes a credential at the start of `bytes`, returning it and the bytes it used.
    pub(crate) fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize)> {
        let mut c = Cursor::new("credential", bytes);
        c.version(PROTOCOL_VERSION)?;
        let id = CredentialId(c.array()?);
        let org = OrgId(c.array()?);
        let org_key = KeyId(c.array()?);
        let member = MemberId(c.array()?);
        let device_key = DevicePublicKey(c.array()?);
        let not_before = Timestamp(c.u32()?);
        let not_after = Timestamp(c.u32()?);
        let revocation_epoch = c.u32()?;
        let count_and_flags = c.u8()?;
        if count_and_flags & !(OWNER_VERIFIED_FLAG | COUNT_MASK) != 0 {
            return Err(Error::NonCanonical("reserved credential flags set"));
        }
        let owner_verified = count_and_flags & OWNER_VERIFIED_FLAG != 0;
        let count = usize::from(count_and_flags & COUNT_MASK);
        if count > MAX_LOCKS {
            return Err(Error::TooLarge { what: "credential lock list", got: count, max: MAX_LOCKS });
        }
        let locks = (0..count).map(|_| c.u32().map(LockId)).collect::<Result<Vec<_>>>()?;
        c.take(SIGNATURE_LEN)?;
        let used = c.position();
        let body = CredentialBody {
            id,
            org,
            org_key,
            member,
            device_key,
            validity: Validity { not_before, not_after },
            revocation_epoch,
            locks,
            owner_verified,
        };
        body.check()?;
        let encoded = bytes.get(..used).unwrap_or_default().to_vec();
        Ok((Self { body, encoded }, used))
    }

    /// True if the organization's signature verifies under `anchor`.
    pub fn verify(&self, anchor: &OrganizationPublicKey) -> bool {
        let split = self.encoded.len() - SIGNATURE_LEN;
        let (signed, sig) = self.encoded.split_at(split);
        let Ok(sig) = <&[u8; 64]>::try_from(sig) else { return false };
        anchor.key_id == self.body.org_key && anchor.org == self.body.org && anchor.verify(&signing_input(signed), sig)
    }

    /// What the credential says.
    pub fn body(&self) -> &CredentialBody {
        &self.body
    }

    /// The canonical encoding, signature included.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

fn signing_input(body: &[u8]) -> Vec<u8> {
    [DOMAIN, body].concat()
}

//! The signed revocation list: the organization's statement "these credentials are revoked, every
//! credential below this epoch is revoked, and it is at least this time", signed with the
//! organization key.
//!
//! It reaches a reader two ways: from the cloud while the reader is online, and from phones,
//! which carry the newest list they downloaded with their keys (after Salto's and iLOQ's
//! phone-carried blocklists and tedee's signed time). A phone hands it over only after the
//! reader proved itself, sealed under that exchange's keys and padded to a size class, and only
//! when the reader's authenticated answer says it holds an older one (see `delivery`): nothing
//! an observer sees tells one phone's list from another's. So a reader that is offline learns of
//! a revocation from the next member who taps, and its clock can be moved forward (never back)
//! by the signed time.
//!
//! The list is a message of its own type ([`REVOCATION_LIST_TYPE`]) in the same `version ‖ type`
//! header space as the exchange messages. Unlike the exchange messages it has a variable length,
//! bounded by [`REVOCATION_LIST_MAX_LEN`]: up to [`MAX_REVOKED`] ids, enough for an organization
//! of 10,000 members to have 1,000 unexpired revoked credentials (wallet passes last a year).

use crate::{
    Error, PROTOCOL_VERSION, Result,
    codec::Cursor,
    ids::{CredentialId, KeyId, OrgId, Timestamp},
    keys::{OrganizationKey, OrganizationPublicKey},
};

/// The type byte of a revocation list (phone → reader or cloud → reader, never answered).
pub const REVOCATION_LIST_TYPE: u8 = 0x21;
/// Most credential ids one list carries (16 KiB of ids). Only unexpired revoked credentials are
/// listed, so mobile keys (valid for a day) leave it quickly; what accumulates are wallet passes.
/// Beyond it the cloud raises the minimum epoch (see the cloud's revocation store).
pub const MAX_REVOKED: usize = 1024;
const FIXED_LEN: usize = 2 + 8 + 4 + 4 + 4 + 4 + 2;
/// Offset of the big-endian `u16` id count.
const COUNT_OFFSET: usize = FIXED_LEN - 2;
const SIGNATURE_LEN: usize = 64;
/// Size of a list revoking nothing.
pub const REVOCATION_LIST_MIN_LEN: usize = FIXED_LEN + SIGNATURE_LEN;
/// Size of a list revoking [`MAX_REVOKED`] credentials: 16,478 bytes.
pub const REVOCATION_LIST_MAX_LEN: usize = FIXED_LEN + CredentialId::LEN * MAX_REVOKED + SIGNATURE_LEN;

/// Size of a signed list revoking `count` credentials.
pub const fn revocation_list_len(count: usize) -> usize {
    FIXED_LEN + CredentialId::LEN * count + SIGNATURE_LEN
}
const DOMAIN: &[u8] = b"mobile-access/v1/revocation-list";

/// What a revocation list says, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    /// The organization (set by [`RevocationList::sign`]).
    pub org: OrgId,
    /// Fingerprint of the signing key (set by [`RevocationList::sign`]).
    pub org_key: KeyId,
    /// Monotonic version: a reader applies a list only if this is above the one it holds.
    pub sequence: u32,
    /// When the cloud signed it: the signed time, which may move a reader's clock forward.
    pub issued_at: Timestamp,
    /// Credentials with a lower revocation epoch are refused.
    pub min_epoch: u32,
    /// Revoked credentials that have not expired yet, strictly ascending.
    pub revoked: Vec<CredentialId>,
}

impl RevocationList {
    fn check(&self) -> Result<()> {
        if self.revoked.len() > MAX_REVOKED {
            return Err(Error::TooLarge { what: "revocation list", got: self.revoked.len(), max: MAX_REVOKED });
        }
        if !self.revoked.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(Error::NonCanonical("revoked credential ids not strictly ascending"));
        }
        Ok(())
    }

    fn encode_unsigned(&self) -> Result<Vec<u8>> {
        self.check()?;
        let mut out = Vec::with_capacity(FIXED_LEN + CredentialId::LEN * self.revoked.len() + SIGNATURE_LEN);
        out.extend_from_slice(&[PROTOCOL_VERSION, REVOCATION_LIST_TYPE]);
        out.extend_from_slice(&self.org.0);
        out.extend_from_slice(&self.org_key.0);
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.issued_at.0.to_be_bytes());
        out.extend_from_slice(&self.min_epoch.to_be_bytes());
        out.extend_from_slice(&(self.revoked.len() as u16).to_be_bytes());
        for id in &self.revoked {
            out.extend_from_slice(&id.0);
        }
        Ok(out)
    }

    /// Signs the list with the organization key; its organization and key id are set from the
    /// key, so a list can never claim another signer than the one that made it.
    pub fn sign(mut self, key: &OrganizationKey) -> Result<SignedRevocationList> {
        let public = key.public();
        self.org = public.org;
        self.org_key = public.key_id;
        let mut encoded = self.encode_unsigned()?;
        let signature = key.sign(&signing_input(&encoded));
        encoded.extend_from_slice(&signature);
        Ok(SignedRevocationList { list: self, encoded })
    }

    /// True if `credential` is on the list.
    pub fn revokes(&self, credential: &CredentialId) -> bool {
        self.revoked.binary_search(credential).is_ok()
    }
}

/// A signed list with its exact encoding kept, so what is verified is what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRevocationList {
    list: RevocationList,
    encoded: Vec<u8>,
}

impl SignedRevocationList {
    /// True if `bytes` claim to be a revocation list (version and type byte), before decoding.
    pub fn is_revocation_list(bytes: &[u8]) -> bool {
        bytes.get(..2) == Some(&[PROTOCOL_VERSION, REVOCATION_LIST_TYPE][..])
    }

    /// The id count a list's header declares, read before anything else is decoded.
    pub(crate) fn declared_count(bytes: &[u8]) -> Option<usize> {
        let count = bytes.get(COUNT_OFFSET..FIXED_LEN)?;
        Some(usize::from(u16::from_be_bytes([*count.first()?, *count.get(1)?])))
    }

    /// Decodes exactly one list. The length is checked against the declared count before
    /// anything else; non-canonical lists (unsorted or repeated ids) are refused.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > REVOCATION_LIST_MAX_LEN {
            return Err(Error::TooLarge { what: "revocation list", got: bytes.len(), max: REVOCATION_LIST_MAX_LEN });
        }
        let mut c = Cursor::new("revocation list", bytes);
        c.version(PROTOCOL_VERSION)?;
        let kind = c.u8()?;
        if kind != REVOCATION_LIST_TYPE {
            return Err(Error::UnknownMessageType(kind));
        }
        let org = OrgId(c.array()?);
        let org_key = KeyId(c.array()?);
        let sequence = c.u32()?;
        let issued_at = Timestamp(c.u32()?);
        let min_epoch = c.u32()?;
        let count = usize::from(c.u16()?);
        if count > MAX_REVOKED {
            return Err(Error::TooLarge { what: "revocation list", got: count, max: MAX_REVOKED });
        }
        let revoked = (0..count).map(|_| c.array().map(CredentialId)).collect::<Result<Vec<_>>>()?;
        c.take(SIGNATURE_LEN)?;
        c.finish()?;
        let list = RevocationList { org, org_key, sequence, issued_at, min_epoch, revoked };
        list.check()?;
        Ok(Self { list, encoded: bytes.to_vec() })
    }

    /// True if the organization's signature verifies under `anchor`.
    pub fn verify(&self, anchor: &OrganizationPublicKey) -> bool {
        let split = self.encoded.len().saturating_sub(SIGNATURE_LEN);
        let (signed, sig) = self.encoded.split_at(split);
        let Ok(sig) = <&[u8; 64]>::try_from(sig) else { return false };
        anchor.org == self.list.org && anchor.key_id == self.list.org_key && anchor.verify(&signing_input(signed), sig)
    }

    /// What the list says.
    pub fn list(&self) -> &RevocationList {
        &self.list
    }

    /// The canonical encoding, signature included: the bytes a phone writes to a reader.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
}

fn signing_input(body: &[u8]) -> Vec<u8> {
    [DOMAIN, body].concat()
}

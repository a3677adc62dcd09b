//! The three kinds of keys: the organization's Ed25519 signing key (issues credentials and
//! certifies readers), each reader's Ed25519 key (proves the reader is genuine), and each phone's
//! ECDSA P-256 device key (the curve phone secure hardware offers).

use ring::{
    digest,
    rand::SecureRandom,
    signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};

use zeroize::Zeroize;

use crate::{
    Error, Result,
    certificate::ReaderCertificate,
    credential::{Credential, CredentialBody},
    ids::{KeyId, LockId, OrgId, ReaderId},
};

/// Length of an uncompressed SEC1 P-256 public key (`0x04 ‖ X ‖ Y`).
pub const DEVICE_PUBLIC_KEY_LEN: usize = 65;

/// A fresh seed. The caller moves it into a key type that wipes it on drop.
fn random_seed(rng: &dyn SecureRandom) -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    rng.fill(&mut seed).map_err(|_| Error::Crypto("random generator failed"))?;
    Ok(seed)
}

fn ed25519_from_seed(seed: &[u8; 32]) -> Result<Ed25519KeyPair> {
    Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| Error::InvalidKey("Ed25519 seed"))
}

pub(crate) fn verify_ed25519(public: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    signature::UnparsedPublicKey::new(&signature::ED25519, public).verify(message, sig).is_ok()
}

/// The organization's public signing key: the trust anchor readers are provisioned with and
/// phones receive with their key download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrganizationPublicKey {
    /// The organization this key signs for.
    pub org: OrgId,
    /// Fingerprint carried by credentials and certificates so a reader can pick the key.
    pub key_id: KeyId,
    /// Ed25519 public key.
    pub key: [u8; 32],
}

impl OrganizationPublicKey {
    /// Builds the anchor from its raw public key; the key id is derived, never trusted from input.
    pub fn new(org: OrgId, key: [u8; 32]) -> Self {
        Self { org, key_id: key_id(&key), key }
    }

    pub(crate) fn verify(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        verify_ed25519(&self.key, message, sig)
    }
}

fn key_id(public: &[u8]) -> KeyId {
    let digest = digest::digest(&digest::SHA256, public);
    let mut id = [0u8; 4];
    id.copy_from_slice(digest.as_ref().get(..4).unwrap_or(&[0; 4]));
    KeyId(id)
}

/// The organization's signing key. Lives in the access cloud only.
pub struct OrganizationKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
    public: OrganizationPublicKey,
}

impl Drop for OrganizationKey {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl std::fmt::Debug for OrganizationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrganizationKey").field("public", &self.public).finish_non_exhaustive()
    }
}

impl OrganizationKey {
    /// A fresh key for `org`.
    pub fn generate(org: OrgId, rng: &dyn SecureRandom) -> Result<Self> {
        Self::from_seed(org, random_seed(rng)?)
    }

    /// Restores a key from the 32-byte seed the cloud keeps encrypted at rest.
    pub fn from_seed(org: OrgId, mut seed: [u8; 32]) -> Result<Self> {
        let pair = ed25519_from_seed(&seed);
        let Ok(pair) = pair else {
            seed.zeroize();
            return Err(Error::InvalidKey("Ed25519 seed"));
        };
        let mut key = [0u8; 32];
        key.copy_from_slice(pair.public_key().as_ref());
        Ok(Self { seed, pair, public: OrganizationPublicKey::new(org, key) })
    }

    /// The seed, for storage at rest. Secret: never log it.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public half.
    pub fn public(&self) -> OrganizationPublicKey {
        self.public
    }

    /// Signs a credential body. The body's organization and key id are set from this key, so a
    /// credential can never claim another signer than the one that made it.
    pub fn issue(&self, mut body: CredentialBody) -> Result<Credential> {
        body.org = self.public.org;
        body.org_key = self.public.key_id;
        Credential::sign(body, |msg| self.sign(msg))
    }

    /// Certifies a reader's public key for one lock of this organization.
    pub fn certify_reader(&self, reader: ReaderId, lock: LockId, reader_key: [u8; 32]) -> ReaderCertificate {
        ReaderCertificate::sign(reader, self.public.org, self.public.key_id, lock, reader_key, |msg| self.sign(msg))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut sig = [0u8; 64];
        sig.copy_from_slice(self.pair.sign(message).as_ref());
        sig
    }
}

/// A reader's own signing key, with which it proves it is the reader its certificate names.
pub struct ReaderKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl Drop for ReaderKey {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl std::fmt::Debug for ReaderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderKey").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl ReaderKey {
    /// A fresh key.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self> {
        Self::from_seed(random_seed(rng)?)
    }

    /// Restores a key from its 32-byte seed (provisioned into the reader's secure storage).
    pub fn from_seed(seed: [u8; 32]) -> Result<Self> {
        Ok(Self { pair: ed25519_from_seed(&seed)?, seed })
    }

    /// A copy of this key (the seed is copied into the new value, and both wipe it on drop).
    pub fn duplicate(&self) -> Result<Self> {
        Self::from_seed(self.seed)
    }

    /// The seed, for provisioning. Secret: never log it.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public key, to be certified by the organization.
    pub fn public(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        key
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut sig = [0u8; 64];
        sig.copy_from_slice(self.pair.sign(message).as_ref());
        sig
    }
}

/// A phone's P-256 device public key, uncompressed SEC1.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DevicePublicKey(pub [u8; DEVICE_PUBLIC_KEY_LEN]);

impl std::fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevicePublicKey({})", key_id(&self.0))
    }
}

impl DevicePublicKey {
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.0[..]).verify(message, sig).is_ok()
    }
}

/// Signs with the phone's device key. Implemented by the SDK over the Secure Enclave or Android
/// Keystore so the private key never leaves secure hardware; [`SoftwareDeviceKey`] is the
/// desktop and test implementation.
pub trait DeviceSigner {
    /// The public key the credential is bound to.
    fn public_key(&self) -> DevicePublicKey;

    /// ECDSA P-256 with SHA-256 over `message`, as the 64-byte `r ‖ s` form.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64]>;
}

/// A device key held in memory, for desktop builds and tests.
pub struct SoftwareDeviceKey {
    pkcs8: Vec<u8>,
    pair: EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl Drop for SoftwareDeviceKey {
    fn drop(&mut self) {
        self.pkcs8.zeroize();
    }
}

impl std::fmt::Debug for SoftwareDeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareDeviceKey").field("public", &self.public_key()).finish_non_exhaustive()
    }
}

impl SoftwareDeviceKey {
    /// A fresh key.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, rng)
            .map_err(|_| Error::Crypto("P-256 key generation failed"))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// Restores a key from PKCS#8 (what [`SoftwareDeviceKey::pkcs8`] returned).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|_| Error::InvalidKey("P-256 PKCS#8"))?;
        Ok(Self { pkcs8: pkcs8.to_vec(), pair, rng })
    }

    /// PKCS#8 bytes, for the SDK's key store. Secret: never log them.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl DeviceSigner for SoftwareDeviceKey {
    fn public_key(&self) -> DevicePublicKey {
        let mut key = [0u8; DEVICE_PUBLIC_KEY_LEN];
        key.copy_from_slice(self.pair.public_key().as_ref());
        DevicePublicKey(key)
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
        let sig = self.pair.sign(&self.rng, message).map_err(|_| Error::Signer("P-256 signing failed".into()))?;
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        Ok(out)
    }
}

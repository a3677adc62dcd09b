//! Secrets at rest and on the wire: the master key that seals organization signing keys, reader
//! seeds and outgoing mail; bearer tokens (random, shown once, stored as SHA-256); passwords
//! (PBKDF2-HMAC-SHA256).

use std::{
    fs,
    io::Write,
    num::NonZeroU32,
    path::{Path, PathBuf},
};

use ring::{
    aead::{self, Aad, LessSafeKey, Nonce, UnboundKey},
    digest, pbkdf2,
    rand::{SecureRandom, SystemRandom},
};

use crate::{Error, Result, hex};

/// Environment variable holding the master key as 64 hex characters. Replicas sharing one
/// PostgreSQL database must all be given the same key this way.
pub const MASTER_KEY_ENV: &str = "MOBILE_ACCESS_MASTER_KEY";
/// File in the data directory holding the master key (hex) when the environment does not.
pub const MASTER_KEY_FILE: &str = "master.key";
const NONCE_LEN: usize = 12;
const PASSWORD_ITERATIONS: u32 = 100_000;
const SALT_LEN: usize = 16;

/// The AES-256-GCM key that seals every secret the database holds. Losing it makes organization
/// keys unrecoverable; leaking it together with the database leaks them.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { bytes }
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        hex::decode_array(text.trim())
            .map(Self::from_bytes)
            .ok_or_else(|| Error::MasterKey("the master key must be 64 hex characters (32 bytes)".to_owned()))
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        Ok(Self::from_bytes(random_array()?))
    }

    /// The key from [`MASTER_KEY_ENV`], else from `data_dir/master.key`, which is created (mode
    /// 0600) with a fresh key on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            return Self::from_hex(&text);
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                write_private(&path, format!("{}\n", hex::encode(&key.bytes)).as_bytes())?;
                tracing::info!(path = %path.display(), "created a new master key");
                Ok(key)
            }
            Err(source) => Err(Error::Io { context: format!("reading {}", path.display()), source }),
        }
    }

    fn aead(&self) -> Result<LessSafeKey> {
        UnboundKey::new(&aead::AES_256_GCM, &self.bytes)
            .map(LessSafeKey::new)
            .map_err(|_| Error::Crypto("AES-256-GCM key setup failed"))
    }

    /// Seals `plaintext` as `nonce ‖ ciphertext ‖ tag`. `context` (e.g. the row it belongs to) is
    /// authenticated, so a sealed value copied into another row does not open.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce_bytes: [u8; NONCE_LEN] = random_array()?;
        let mut buffer = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(context), &mut buffer)
            .map_err(|_| Error::Crypto("sealing failed"))?;
        Ok([&nonce_bytes[..], &buffer].concat())
    }

    /// Opens what [`MasterKey::seal`] sealed under the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN).ok_or(Error::Crypto("sealed value too short"))?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Crypto("bad nonce"))?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(context), &mut buffer)
            .map_err(|_| Error::Crypto("a sealed value did not open: wrong master key or tampered data"))?;
        Ok(plain.to_vec())
    }
}

fn write_private(path: &PathBuf, contents: &[u8]) -> Result<()> {
    let io = |source| Error::Io { context: format!("creating {}", path.display()), source };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

/// `N` random bytes from the system generator.
pub fn random_array<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| Error::Crypto("random generator failed"))?;
    Ok(out)
}

/// A random identifier of `N` bytes, as hex.
pub fn random_id<const N: usize>() -> Result<String> {
    Ok(hex::encode(&random_array::<N>()?))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// A new bearer token: `ma_<role>_` and 32 random bytes in hex. Returned once; only its
/// SHA-256 ([`token_hash`]) is stored.
pub fn new_token(role_prefix: &str) -> Result<String> {
    Ok(format!("ma_{role_prefix}_{}", hex::encode(&random_array::<32>()?)))
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    sha256(token.as_bytes())
}

/// The form of an email that login looks up: trimmed, ASCII letters in lower case. ASCII only
/// because that is what SQLite's `lower()` does, and the migration that filled existing rows
/// used it: one rule on both databases.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// PBKDF2-HMAC-SHA256 of `password` under a fresh salt, as `salt ‖ hash`.
pub fn hash_password(password: &str) -> Result<Vec<u8>> {
    let salt: [u8; SALT_LEN] = random_array()?;
    let mut hash = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations(), &salt, password.as_bytes(), &mut hash);
    Ok([&salt[..], &hash].concat())
}

/// True if `password` matches what [`hash_password`] stored (constant-time comparison).
pub fn verify_password(password: &str, stored: &[u8]) -> bool {
    let Some((salt, hash)) = stored.split_at_checked(SALT_LEN) else { return false };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, iterations(), salt, password.as_bytes(), hash).is_ok()
}

fn iterations() -> NonZeroU32 {
    NonZeroU32::new(PASSWORD_ITERATIONS).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.seal("org:1", b"seed").unwrap();
        assert_eq!(key.open("org:1", &sealed).unwrap(), b"seed");
        assert!(key.open("org:2", &sealed).is_err());
        assert!(MasterKey::generate().unwrap().open("org:1", &sealed).is_err());
        assert!(key.open("org:1", &sealed[..5]).is_err());
        assert_ne!(key.seal("org:1", b"seed").unwrap(), sealed, "nonces are random");
    }

    proptest::proptest! {
        #[test]
        fn any_plaintext_round_trips_and_any_tampering_is_detected(
            plaintext in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            flip in proptest::prelude::any::<usize>(),
        ) {
            let key = MasterKey::from_bytes([9; 32]);
            let mut sealed = key.seal("ctx", &plaintext).unwrap();
            proptest::prop_assert_eq!(key.open("ctx", &sealed).unwrap(), plaintext);
            let index = flip % sealed.len();
            sealed[index] ^= 0x01;
            proptest::prop_assert!(key.open("ctx", &sealed).is_err());
        }
    }

    #[test]
    fn passwords_verify_only_when_equal() {
        let stored = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &stored));
        assert!(!verify_password("Correct horse", &stored));
        assert!(!verify_password("correct horse", &stored[..10]));
    }

    #[test]
    fn master_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        // The environment variable would take precedence; this test relies on it being unset.
        if std::env::var(MASTER_KEY_ENV).is_ok() {
            return;
        }
        let first = MasterKey::load_or_create(dir.path()).unwrap();
        let second = MasterKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.bytes, second.bytes);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(MASTER_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

//! What the app plugs in: its secure storage (Keychain, Android Keystore-backed storage), its
//! hardware-backed device key (Secure Enclave, Android Keystore) and its state listener. Each is
//! a foreign trait adapted to the core's trait here; an exception thrown by app code becomes a
//! typed error in the SDK, never a crash.

use std::sync::Arc;

use mobile_access::{Error as CoreError, Result as CoreResult};
use mobile_access_protocol::{DEVICE_PUBLIC_KEY_LEN, DevicePublicKey};

use crate::{KeyButtonState, MobileAccessError, PlatformError};

/// A small secret key-value store the app implements over the platform's secure storage.
/// Values are secrets: implementations must not log them. [`file_storage`] and
/// [`memory_storage`] are the desktop and test defaults.
#[uniffi::export(rust, foreign)]
pub trait SecureStorage: Send + Sync {
    /// The value under `key`, or null if there is none.
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Stores `value` under `key`, replacing what was there, atomically.
    fn set(&self, key: String, value: Vec<u8>) -> Result<(), PlatformError>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: String) -> Result<(), PlatformError>;
}

/// The phone's device key in secure hardware: a P-256 key that never leaves it. The cloud binds
/// the member's credentials to its public key; readers check a signature by it on each full
/// exchange.
#[uniffi::export(foreign)]
pub trait DeviceSigner: Send + Sync {
    /// The public key, uncompressed SEC1 (65 bytes, starting with 0x04).
    fn public_key(&self) -> Result<Vec<u8>, PlatformError>;
    /// ECDSA P-256 with SHA-256 over `message`, as the 64-byte `r ‖ s` form (not DER).
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PlatformError>;
}

/// Receives every state change of a Key Button, in order. Called from the SDK's threads: hand
/// the state to the UI thread and return quickly.
#[uniffi::export(foreign)]
pub trait StateListener: Send + Sync {
    /// The button's new state.
    fn on_state(&self, state: KeyButtonState);
}

/// Receives what the member must do before a tap can work, whenever it changes (see
/// `KeyButton.requirements`). Called from the SDK's threads: hand it to the UI thread.
#[uniffi::export(foreign)]
pub trait RequirementsListener: Send + Sync {
    /// The requirements now, most pressing first; empty when nothing stands in the way.
    fn on_requirements(&self, requirements: Vec<crate::radio::Requirement>);
}

/// The desktop default: one file per key in `directory` (created 0700, files 0600, written
/// atomically). Not for phones: use the Keychain or the Android Keystore there.
#[uniffi::export]
pub fn file_storage(directory: String) -> Result<Arc<dyn SecureStorage>, MobileAccessError> {
    let storage = mobile_access::FileStorage::open(directory)?;
    Ok(Arc::new(CoreStorage(Arc::new(storage))))
}

/// Storage that forgets everything when the app quits: for tests, and for apps that must not
/// persist keys (every launch is then a new phone).
#[uniffi::export]
pub fn memory_storage() -> Arc<dyn SecureStorage> {
    Arc::new(CoreStorage(Arc::new(mobile_access::MemoryStorage::new())))
}

/// One of the core's stores, offered to the app as a [`SecureStorage`].
struct CoreStorage(Arc<dyn mobile_access::SecureStorage>);

fn platform_error(error: CoreError) -> PlatformError {
    PlatformError::Failed { detail: error.to_string() }
}

impl SecureStorage for CoreStorage {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, PlatformError> {
        self.0.get(&key).map_err(platform_error)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), PlatformError> {
        self.0.set(&key, &value).map_err(platform_error)
    }

    fn delete(&self, key: String) -> Result<(), PlatformError> {
        self.0.delete(&key).map_err(platform_error)
    }
}

/// The app's storage, as the core's [`mobile_access::SecureStorage`].
pub(crate) struct ForeignStorage(pub Arc<dyn SecureStorage>);

fn storage_error(error: PlatformError) -> CoreError {
    CoreError::Storage(error.to_string())
}

impl mobile_access::SecureStorage for ForeignStorage {
    fn get(&self, key: &str) -> CoreResult<Option<Vec<u8>>> {
        self.0.get(key.to_owned()).map_err(storage_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> CoreResult<()> {
        self.0.set(key.to_owned(), value.to_vec()).map_err(storage_error)
    }

    fn delete(&self, key: &str) -> CoreResult<()> {
        self.0.delete(key.to_owned()).map_err(storage_error)
    }
}

/// The app's hardware key, as the protocol's [`mobile_access_protocol::DeviceSigner`]. The
/// public key is read once, when the button is created, so a broken key fails there with a clear
/// error instead of in the middle of a tap.
pub(crate) struct ForeignSigner {
    signer: Arc<dyn DeviceSigner>,
    public_key: DevicePublicKey,
}

impl ForeignSigner {
    pub(crate) fn new(signer: Arc<dyn DeviceSigner>) -> Result<Self, MobileAccessError> {
        let bytes = signer.public_key().map_err(|e| CoreError::DeviceKey(e.to_string()))?;
        let key = <[u8; DEVICE_PUBLIC_KEY_LEN]>::try_from(bytes.as_slice())
            .ok()
            .filter(|key| key.first() == Some(&0x04))
            .ok_or_else(|| {
                CoreError::DeviceKey(format!(
                    "the device public key must be {DEVICE_PUBLIC_KEY_LEN} bytes of uncompressed SEC1, got {} bytes",
                    bytes.len()
                ))
            })?;
        Ok(Self { signer, public_key: DevicePublicKey(key) })
    }
}

impl mobile_access_protocol::DeviceSigner for ForeignSigner {
    fn public_key(&self) -> DevicePublicKey {
        self.public_key
    }

    fn sign(&self, message: &[u8]) -> mobile_access_protocol::Result<[u8; 64]> {
        let signature =
            self.signer.sign(message.to_vec()).map_err(|e| mobile_access_protocol::Error::Signer(e.to_string()))?;
        <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| {
            mobile_access_protocol::Error::Signer(format!(
                "a signature must be 64 bytes (r ‖ s), got {} bytes",
                signature.len()
            ))
        })
    }
}

/// The app's listener, as the core's [`mobile_access::StateListener`].
pub(crate) struct ForeignListener(pub Arc<dyn StateListener>);

impl mobile_access::StateListener for ForeignListener {
    fn on_state(&self, state: mobile_access::KeyButtonState) {
        self.0.on_state(state.into());
    }
}

/// The app's requirements listener, as the core's.
pub(crate) struct ForeignRequirementsListener(pub Arc<dyn RequirementsListener>);

impl mobile_access::RequirementsListener for ForeignRequirementsListener {
    fn on_requirements(&self, requirements: Vec<crate::radio::Requirement>) {
        self.0.on_requirements(requirements);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use mobile_access::SecureStorage as _;
    use mobile_access_protocol::{DeviceSigner as _, SoftwareDeviceKey};

    use super::*;

    /// An app-side signer as a platform keystore would be, with ways to misbehave.
    struct AppSigner {
        key: SoftwareDeviceKey,
        public_key: Option<Vec<u8>>,
        truncate_signatures: bool,
    }

    impl AppSigner {
        fn new() -> Self {
            let key = SoftwareDeviceKey::generate(&ring::rand::SystemRandom::new()).unwrap();
            Self { key, public_key: None, truncate_signatures: false }
        }
    }

    impl DeviceSigner for AppSigner {
        fn public_key(&self) -> Result<Vec<u8>, PlatformError> {
            Ok(self.public_key.clone().unwrap_or_else(|| self.key.public_key().0.to_vec()))
        }

        fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PlatformError> {
            let signature = self.key.sign(&message).map_err(|e| PlatformError::Failed { detail: e.to_string() })?;
            let length = if self.truncate_signatures { 63 } else { 64 };
            Ok(signature.get(..length).unwrap_or_default().to_vec())
        }
    }

    #[test]
    fn an_app_signer_signs_for_the_protocol() {
        let app = AppSigner::new();
        let expected = app.key.public_key();
        let signer = ForeignSigner::new(Arc::new(app)).unwrap();
        assert_eq!(signer.public_key(), expected);
        assert_eq!(signer.sign(b"challenge").unwrap().len(), 64);
    }

    #[test]
    fn a_malformed_app_key_is_refused_when_the_button_is_made() {
        for bad in [vec![0x04; 64], vec![0x02; 65], Vec::new()] {
            let app = AppSigner { public_key: Some(bad), ..AppSigner::new() };
            let error = ForeignSigner::new(Arc::new(app)).err().unwrap();
            assert!(matches!(error, MobileAccessError::DeviceKey { .. }), "{error:?}");
        }
    }

    #[test]
    fn a_signature_of_the_wrong_length_is_a_signer_error() {
        let app = AppSigner { truncate_signatures: true, ..AppSigner::new() };
        let signer = ForeignSigner::new(Arc::new(app)).unwrap();
        let error = signer.sign(b"challenge").unwrap_err();
        assert!(matches!(error, mobile_access_protocol::Error::Signer(_)), "{error:?}");
    }

    /// App storage that fails as a locked keychain does.
    struct LockedKeychain(Mutex<u32>);

    impl SecureStorage for LockedKeychain {
        fn get(&self, _: String) -> Result<Option<Vec<u8>>, PlatformError> {
            *self.0.lock().unwrap() += 1;
            Err(PlatformError::Failed { detail: "keychain locked".to_owned() })
        }

        fn set(&self, _: String, _: Vec<u8>) -> Result<(), PlatformError> {
            Err(PlatformError::Failed { detail: "keychain locked".to_owned() })
        }

        fn delete(&self, _: String) -> Result<(), PlatformError> {
            Err(PlatformError::Failed { detail: "keychain locked".to_owned() })
        }
    }

    #[test]
    fn app_storage_failures_reach_the_core_as_storage_errors() {
        let storage = ForeignStorage(Arc::new(LockedKeychain(Mutex::new(0))));
        let error = storage.get("device-key").unwrap_err();
        assert_eq!(error, CoreError::Storage("keychain locked".to_owned()));
        assert!(matches!(storage.set("k", b"v"), Err(CoreError::Storage(_))));
    }

    #[test]
    fn the_default_stores_round_trip_through_the_foreign_interface() {
        let dir = std::env::temp_dir().join(format!("mobile-access-ffi-{}", std::process::id()));
        for (store, checks_keys) in
            [(memory_storage(), false), (file_storage(dir.display().to_string()).unwrap(), true)]
        {
            let adapted = ForeignStorage(store);
            adapted.set("key-bundle", b"secret").unwrap();
            assert_eq!(adapted.get("key-bundle").unwrap().as_deref(), Some(&b"secret"[..]));
            adapted.delete("key-bundle").unwrap();
            assert_eq!(adapted.get("key-bundle").unwrap(), None);
            if checks_keys {
                assert!(matches!(adapted.set("../escape", b"x"), Err(CoreError::Storage(_))));
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

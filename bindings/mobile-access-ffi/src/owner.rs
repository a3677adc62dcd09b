//! Owner verification for the app: its owner key (a second P-256 key that the OS releases only
//! after biometric or passcode) as a foreign trait, and a software stand-in for tests.
//!
//! Android: a Keystore key generated with `setUserAuthenticationRequired(true)` and
//! `setUserAuthenticationParameters(10, AUTH_BIOMETRIC_STRONG or AUTH_DEVICE_CREDENTIAL)`;
//! `verifyOwner` shows a `BiometricPrompt` (returning at once while the key is still released),
//! `sign` signs with it and throws `PlatformException.NotVerified` on
//! `UserNotAuthenticatedException`. iOS: a Secure Enclave key with `.userPresence`, signed for
//! with an `LAContext` that `verifyOwner` evaluated (`touchIDAuthenticationAllowableReuseDuration`
//! set to a few seconds).

use std::{sync::Arc, time::Duration};

use mobile_access::Error as CoreError;
use mobile_access_protocol::{DEVICE_PUBLIC_KEY_LEN, DevicePublicKey};

use crate::{MobileAccessError, PlatformError};

/// The phone's owner key, for doors that require owner verification. The SDK asks for the
/// prompt (`verify_owner`) before connecting to such a door, then signs the exchange with the
/// key (`sign`). Both run on the SDK's threads and may block while the prompt shows.
#[uniffi::export(with_foreign)]
pub trait OwnerKey: Send + Sync {
    /// The public key, uncompressed SEC1 (65 bytes, starting with 0x04).
    fn public_key(&self) -> Result<Vec<u8>, PlatformError>;
    /// Verifies the phone's owner (biometric or passcode), with `reason` shown in the prompt.
    /// Throw `NotVerified` when the owner declined or failed.
    fn verify_owner(&self, reason: String) -> Result<(), PlatformError>;
    /// ECDSA P-256 with SHA-256 over `message`, 64-byte `r ‖ s`. Throw `NotVerified` when the OS
    /// withholds the key (no recent verification).
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PlatformError>;
}

/// An owner key in memory with a simulated owner, for tests and the desktop: the owner verifies
/// each prompt (or declines, after `set_owner_verifies(false)`), and the key signs for
/// `window_ms` after a verification.
#[derive(uniffi::Object)]
pub struct SoftwareOwnerKey(mobile_access::SoftwareOwnerKey);

impl std::fmt::Debug for SoftwareOwnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[uniffi::export]
impl SoftwareOwnerKey {
    /// A fresh key whose owner verifies when asked.
    #[uniffi::constructor]
    pub fn new(window_ms: u64) -> Result<Arc<Self>, MobileAccessError> {
        Ok(Arc::new(Self(mobile_access::SoftwareOwnerKey::generate(Duration::from_millis(window_ms))?)))
    }

    /// Whether the simulated owner verifies at the next prompts.
    pub fn set_owner_verifies(&self, verifies: bool) {
        self.0.set_owner_verifies(verifies);
    }

    /// How many times the owner was prompted.
    pub fn prompts(&self) -> u32 {
        self.0.prompts()
    }

    /// This key where an [`OwnerKey`] is expected (`KeyButton.create(..., ownerKey = ...)`).
    pub fn as_owner_key(self: Arc<Self>) -> Arc<dyn OwnerKey> {
        self
    }
}

fn platform(error: CoreError) -> PlatformError {
    match error {
        CoreError::OwnerNotVerified => PlatformError::NotVerified { detail: error.to_string() },
        other => PlatformError::Failed { detail: other.to_string() },
    }
}

impl OwnerKey for SoftwareOwnerKey {
    fn public_key(&self) -> Result<Vec<u8>, PlatformError> {
        Ok(mobile_access::OwnerKey::public_key(&self.0).0.to_vec())
    }

    fn verify_owner(&self, reason: String) -> Result<(), PlatformError> {
        mobile_access::OwnerKey::verify_owner(&self.0, &reason).map_err(platform)
    }

    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PlatformError> {
        mobile_access::OwnerKey::sign(&self.0, &message).map(|signature| signature.to_vec()).map_err(platform)
    }
}

/// The app's owner key, as the core's [`mobile_access::OwnerKey`]. The public key is read once,
/// when the button is made, so a broken key fails there.
pub(crate) struct ForeignOwnerKey {
    key: Arc<dyn OwnerKey>,
    public_key: DevicePublicKey,
}

fn core(error: PlatformError) -> CoreError {
    match error {
        PlatformError::NotVerified { .. } => CoreError::OwnerNotVerified,
        other => CoreError::DeviceKey(format!("owner key: {other}")),
    }
}

impl ForeignOwnerKey {
    pub(crate) fn new(key: Arc<dyn OwnerKey>) -> Result<Self, MobileAccessError> {
        let bytes = key.public_key().map_err(core)?;
        let public_key = <[u8; DEVICE_PUBLIC_KEY_LEN]>::try_from(bytes.as_slice())
            .ok()
            .filter(|key| key.first() == Some(&0x04))
            .map(DevicePublicKey)
            .ok_or_else(|| {
                CoreError::DeviceKey(format!(
                    "the owner public key must be {DEVICE_PUBLIC_KEY_LEN} bytes of uncompressed SEC1, got {} bytes",
                    bytes.len()
                ))
            })?;
        Ok(Self { key, public_key })
    }
}

impl mobile_access::OwnerKey for ForeignOwnerKey {
    fn public_key(&self) -> DevicePublicKey {
        self.public_key
    }

    fn verify_owner(&self, reason: &str) -> mobile_access::Result<()> {
        self.key.verify_owner(reason.to_owned()).map_err(core)
    }

    fn sign(&self, message: &[u8]) -> mobile_access::Result<[u8; 64]> {
        let signature = self.key.sign(message.to_vec()).map_err(core)?;
        <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| {
            CoreError::DeviceKey(format!("an owner signature must be 64 bytes (r ‖ s), got {} bytes", signature.len()))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mobile_access::OwnerKey as _;

    use super::*;

    #[test]
    fn the_app_s_owner_key_reaches_the_core_with_declines_typed() {
        let app = SoftwareOwnerKey::new(60_000).unwrap();
        let key = ForeignOwnerKey::new(Arc::clone(&app).as_owner_key()).unwrap();
        assert_eq!(key.sign(b"m"), Err(CoreError::OwnerNotVerified));
        key.verify_owner("open the lab").unwrap();
        let signature = key.sign(b"m").unwrap();
        let public = key.public_key();
        let verifier =
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &public.0[..]);
        assert!(verifier.verify(b"m", &signature).is_ok());
        assert_eq!(app.prompts(), 1);

        let declining = SoftwareOwnerKey::new(60_000).unwrap();
        declining.set_owner_verifies(false);
        let key = ForeignOwnerKey::new(declining.as_owner_key()).unwrap();
        assert_eq!(key.verify_owner("open the lab"), Err(CoreError::OwnerNotVerified));
    }
}

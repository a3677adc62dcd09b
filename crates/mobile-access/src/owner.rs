//! Owner verification: doors where the phone's owner must prove themselves (biometric or
//! passcode) for each opening.
//!
//! The proof is a second P-256 key on the phone, the *owner key*, that its OS releases only just
//! after the owner verified: an Android Keystore key with user authentication required (a short
//! timeout, `AUTH_BIOMETRIC_STRONG | AUTH_DEVICE_CREDENTIAL`), a Secure Enclave key with the
//! `.userPresence` access control. The cloud binds credentials for such doors to it, and their
//! readers accept only those, in a full exchange whose transcript the owner key signs. The app
//! implements [`OwnerKey`] over the platform's key; [`SoftwareOwnerKey`] stands in for it on the
//! desktop and in tests, with a simulated owner who verifies or declines.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use mobile_access_protocol::{DevicePublicKey, DeviceSigner, SoftwareDeviceKey};

use crate::{Error, Result};

/// The phone's owner key, in the platform's secure hardware.
pub trait OwnerKey: Send + Sync {
    /// The public key the cloud binds owner-verified credentials to.
    fn public_key(&self) -> DevicePublicKey;

    /// Asks the OS to verify the owner (the biometric or passcode prompt, saying `reason`), so
    /// the key signs for a short while after. Blocks until the owner answered; returns at once
    /// when the OS still holds a recent verification. Fails with [`Error::OwnerNotVerified`]
    /// when the owner declined or could not verify.
    fn verify_owner(&self, reason: &str) -> Result<()>;

    /// ECDSA P-256 with SHA-256 over `message` (64-byte `r ‖ s`). Fails with
    /// [`Error::OwnerNotVerified`] when the OS withholds the key (no recent verification).
    fn sign(&self, message: &[u8]) -> Result<[u8; 64]>;
}

/// An owner key the SDK can share across tasks.
pub type SharedOwnerKey = Arc<dyn OwnerKey>;

/// An owner key in memory with a simulated owner: for the desktop harness and tests, where no
/// OS guards a key. The owner verifies (or declines, [`SoftwareOwnerKey::set_owner_verifies`])
/// each prompt, and the key signs for `window` after a verification, as an Android Keystore key
/// with an authentication timeout does.
pub struct SoftwareOwnerKey {
    key: SoftwareDeviceKey,
    window: Duration,
    state: Mutex<OwnerState>,
}

struct OwnerState {
    verifies: bool,
    verified_at: Option<Instant>,
    prompts: u32,
}

impl std::fmt::Debug for SoftwareOwnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareOwnerKey").field("public", &self.key.public_key()).finish_non_exhaustive()
    }
}

impl SoftwareOwnerKey {
    /// A fresh key whose owner verifies when asked, signing for `window` after each verification.
    pub fn generate(window: Duration) -> Result<Self> {
        let key = SoftwareDeviceKey::generate(&ring::rand::SystemRandom::new())
            .map_err(|e| Error::DeviceKey(e.to_string()))?;
        Ok(Self { key, window, state: Mutex::new(OwnerState { verifies: true, verified_at: None, prompts: 0 }) })
    }

    /// Whether the simulated owner verifies at the next prompts (false: they cancel it, or their
    /// face or finger is not recognised).
    pub fn set_owner_verifies(&self, verifies: bool) {
        self.state().verifies = verifies;
    }

    /// Forgets the last verification, as the OS does when the window passed or the phone locked.
    pub fn forget_verification(&self) {
        self.state().verified_at = None;
    }

    /// How many times the owner was prompted.
    pub fn prompts(&self) -> u32 {
        self.state().prompts
    }

    fn state(&self) -> std::sync::MutexGuard<'_, OwnerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn verified_recently(state: &OwnerState, window: Duration) -> bool {
        state.verified_at.is_some_and(|at| at.elapsed() < window)
    }
}

impl OwnerKey for SoftwareOwnerKey {
    fn public_key(&self) -> DevicePublicKey {
        self.key.public_key()
    }

    fn verify_owner(&self, _reason: &str) -> Result<()> {
        let mut state = self.state();
        if Self::verified_recently(&state, self.window) {
            return Ok(());
        }
        state.prompts += 1;
        if !state.verifies {
            return Err(Error::OwnerNotVerified);
        }
        state.verified_at = Some(Instant::now());
        Ok(())
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
        if !Self::verified_recently(&self.state(), self.window) {
            return Err(Error::OwnerNotVerified);
        }
        self.key.sign(message).map_err(|e| Error::DeviceKey(e.to_string()))
    }
}

/// The owner key as the protocol's signer for one exchange. The protocol's error cannot say
/// "the owner was not verified", so the SDK's error is kept here and returned instead.
pub(crate) struct OwnerSigner<'a> {
    pub key: &'a dyn OwnerKey,
    pub withheld: Mutex<Option<Error>>,
}

impl<'a> OwnerSigner<'a> {
    pub(crate) fn new(key: &'a dyn OwnerKey) -> Self {
        Self { key, withheld: Mutex::new(None) }
    }

    /// The SDK's error for an exchange that failed: why the owner key did not sign, if that
    /// is what failed it.
    pub(crate) fn explain(&self, error: Error) -> Error {
        self.withheld.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or(error)
    }
}

impl DeviceSigner for OwnerSigner<'_> {
    fn public_key(&self) -> DevicePublicKey {
        self.key.public_key()
    }

    fn sign(&self, message: &[u8]) -> mobile_access_protocol::Result<[u8; 64]> {
        self.key.sign(message).map_err(|error| {
            let detail = error.to_string();
            *self.withheld.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
            mobile_access_protocol::Error::Signer(detail)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_stand_in_signs_only_within_its_window_after_a_verification() {
        let key = SoftwareOwnerKey::generate(Duration::from_millis(200)).unwrap();
        assert_eq!(key.sign(b"m"), Err(Error::OwnerNotVerified));
        key.verify_owner("open the lab").unwrap();
        let signature = key.sign(b"m").unwrap();
        let public = key.public_key();
        let verifier =
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &public.0[..]);
        assert!(verifier.verify(b"m", &signature).is_ok());
        // Within the window the OS does not ask again.
        key.verify_owner("open the lab").unwrap();
        assert_eq!(key.prompts(), 1);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(key.sign(b"m"), Err(Error::OwnerNotVerified));
        key.set_owner_verifies(false);
        assert_eq!(key.verify_owner("open the lab"), Err(Error::OwnerNotVerified));
        assert_eq!(key.prompts(), 2);
        assert_eq!(key.sign(b"m"), Err(Error::OwnerNotVerified));
    }

    #[test]
    fn a_withheld_owner_key_fails_the_exchange_with_the_sdk_s_own_error() {
        let key = SoftwareOwnerKey::generate(Duration::from_secs(5)).unwrap();
        let signer = OwnerSigner::new(&key);
        let failure = signer.sign(b"transcript").unwrap_err();
        assert_eq!(signer.explain(Error::from(failure)), Error::OwnerNotVerified);
        // Nothing withheld: the exchange's own error stands.
        assert_eq!(signer.explain(Error::NoReaderFound), Error::NoReaderFound);
    }
}

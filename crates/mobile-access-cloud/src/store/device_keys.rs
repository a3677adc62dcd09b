//! Device keys already found to be points on P-256, remembered so that a phone refreshing its
//! keys is checked once per device key rather than on every request.
//!
//! Why: the check is an ECDH with a throwaway key (two P-256 scalar multiplications: ring has no
//! cheaper public way to validate a point), which cost a quarter of a key issuance's CPU, more
//! than signing the credential. A phone keeps its device key for as long as the app is
//! installed, and asks for keys with it again and again. A public key is no secret, and what is
//! remembered is only that those 65 bytes passed the check, which can never change.

use std::{collections::HashSet, sync::Mutex};

use mobile_access_protocol::{DEVICE_PUBLIC_KEY_LEN, DevicePublicKey};

use super::keys::{check_on_curve, decode_device_key};
use crate::Result;

/// Keys kept at most; past that the set starts over (each phone then pays one check again),
/// which bounds memory (about 1 MiB) whatever the number of phones.
const CAPACITY: usize = 16_384;

/// The device keys this process has validated.
#[derive(Debug, Default)]
pub(super) struct DeviceKeys {
    valid: Mutex<HashSet<[u8; DEVICE_PUBLIC_KEY_LEN]>>,
}

impl DeviceKeys {
    /// The device key in `text`: 65 bytes in hex ([`decode_device_key`]), an uncompressed point
    /// on P-256 ([`check_on_curve`], skipped for a key that passed it before).
    pub(super) fn parse(&self, text: &str) -> Result<DevicePublicKey> {
        let bytes = decode_device_key(text)?;
        if !self.lock().contains(&bytes) {
            check_on_curve(&bytes)?;
            let mut valid = self.lock();
            if valid.len() >= CAPACITY {
                valid.clear();
            }
            valid.insert(bytes);
        }
        Ok(DevicePublicKey(bytes))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; DEVICE_PUBLIC_KEY_LEN]>> {
        self.valid.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;
    use ring::{
        agreement::{ECDH_P256, EphemeralPrivateKey},
        rand::SystemRandom,
    };

    use super::*;
    use crate::hex;

    fn phone_key() -> String {
        let private = EphemeralPrivateKey::generate(&ECDH_P256, &SystemRandom::new()).unwrap();
        hex::encode(private.compute_public_key().unwrap().as_ref())
    }

    #[test]
    fn a_key_checked_once_is_accepted_again_and_an_invalid_one_never_is() {
        let keys = DeviceKeys::default();
        let phone = phone_key();
        assert_eq!(keys.parse(&phone).unwrap().0.to_vec(), hex::decode(&phone).unwrap());
        assert_eq!(
            keys.parse(&phone).unwrap().0.to_vec(),
            hex::decode(&phone).unwrap(),
            "the second time, from the set"
        );
        // A valid key with its last byte changed is off the curve, whatever was seen before.
        let mut off_curve = hex::decode(&phone).unwrap();
        off_curve[64] ^= 1;
        let off_curve = hex::encode(&off_curve);
        for _ in 0..2 {
            assert!(matches!(keys.parse(&off_curve), Err(crate::Error::InvalidKey(_))));
        }
        assert!(matches!(keys.parse("04abc"), Err(crate::Error::InvalidRequest(_))));
    }

    #[test]
    fn the_set_starts_over_when_full_and_still_answers_right() {
        let keys = DeviceKeys::default();
        let phone = phone_key();
        keys.lock().extend((0..CAPACITY).map(|i| {
            let mut fake = [0u8; DEVICE_PUBLIC_KEY_LEN];
            fake[..8].copy_from_slice(&(i as u64).to_le_bytes());
            fake
        }));
        keys.parse(&phone).unwrap();
        assert_eq!(keys.lock().len(), 1, "cleared, then the new key kept");
    }

    /// The check without the set.
    fn checked(text: &str) -> Option<[u8; DEVICE_PUBLIC_KEY_LEN]> {
        let bytes = decode_device_key(text).ok()?;
        check_on_curve(&bytes).ok().map(|()| bytes)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever came before, the cached parse answers as the uncached check does.
        #[test]
        fn the_cache_agrees_with_the_check(noise in proptest::collection::vec(any::<u8>(), 65), flip in 0usize..65) {
            let keys = DeviceKeys::default();
            let phone = phone_key();
            keys.parse(&phone).unwrap();
            let mut changed = hex::decode(&phone).unwrap();
            changed[flip] ^= 0x40;
            for text in [hex::encode(&noise), hex::encode(&changed), phone] {
                prop_assert_eq!(keys.parse(&text).ok().map(|k| k.0), checked(&text));
                prop_assert_eq!(keys.parse(&text).ok().map(|k| k.0), checked(&text));
            }
        }
    }
}

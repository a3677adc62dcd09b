//! The organizations' signing keys, unsealed once per process.
//!
//! Why: every key issuance signs with its organization's Ed25519 key. Opening the sealed seed
//! and expanding it into a key pair on every request cost more CPU than the signature itself.
//! The database stays the only truth: each use reads the sealed seed with the organization's
//! row and takes the cached key only if it was unsealed from those very bytes, so a replaced key
//! (by this replica or another one sharing the database) is unsealed afresh, never served stale.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use mobile_access_protocol::OrganizationKey;

use crate::Result;

/// Organizations kept at most; past that the cache starts over (each organization then pays
/// one unsealing again), which bounds memory whatever the number of organizations.
const CAPACITY: usize = 4_096;

/// Unsealed signing keys by organization id.
#[derive(Debug, Default)]
pub(super) struct SigningKeys {
    keys: Mutex<HashMap<String, Kept>>,
}

/// One unsealed key and the sealed seed it came from.
#[derive(Debug)]
struct Kept {
    sealed: Vec<u8>,
    key: Arc<OrganizationKey>,
}

impl SigningKeys {
    /// The key of `org_id` as sealed in `sealed`: from the cache when it was unsealed from the
    /// same bytes, else by `unseal` (then kept).
    pub(super) fn get(
        &self,
        org_id: &str,
        sealed: &[u8],
        unseal: impl FnOnce() -> Result<OrganizationKey>,
    ) -> Result<Arc<OrganizationKey>> {
        if let Some(kept) = self.lock().get(org_id)
            && kept.sealed == sealed
        {
            return Ok(kept.key.clone());
        }
        let key = Arc::new(unseal()?);
        let mut keys = self.lock();
        if keys.len() >= CAPACITY && !keys.contains_key(org_id) {
            keys.clear();
        }
        keys.insert(org_id.to_owned(), Kept { sealed: sealed.to_vec(), key: key.clone() });
        Ok(key)
    }

    /// The map, even if a thread panicked holding it (it holds no invariant a panic could break).
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::Cell;

    use mobile_access_protocol::OrgId;

    use super::*;

    fn key(seed: u8) -> Result<OrganizationKey> {
        Ok(OrganizationKey::from_seed(OrgId([1; 8]), [seed; 32])?)
    }

    #[test]
    fn a_key_is_unsealed_again_when_its_sealed_bytes_change() {
        let keys = SigningKeys::default();
        let unsealed = Cell::new(0);
        let unseal = |seed| {
            unsealed.set(unsealed.get() + 1);
            key(seed)
        };
        let first = keys.get("org", b"sealed one", || unseal(1)).unwrap();
        let again = keys.get("org", b"sealed one", || unseal(1)).unwrap();
        assert_eq!(unsealed.get(), 1, "the same sealed bytes are unsealed once");
        assert!(Arc::ptr_eq(&first, &again));
        let replaced = keys.get("org", b"sealed two", || unseal(2)).unwrap();
        assert_eq!(unsealed.get(), 2, "a replaced key is unsealed afresh");
        assert_ne!(first.public().key, replaced.public().key);
        let other = keys.get("other org", b"sealed one", || unseal(3)).unwrap();
        assert_eq!(unsealed.get(), 3, "keys are kept per organization");
        assert_ne!(other.public().key, first.public().key);
    }

    #[test]
    fn a_failed_unsealing_is_not_kept() {
        let keys = SigningKeys::default();
        assert!(keys.get("org", b"sealed", || Err(crate::Error::Crypto("no"))).is_err());
        assert!(keys.get("org", b"sealed", || key(1)).is_ok());
    }
}

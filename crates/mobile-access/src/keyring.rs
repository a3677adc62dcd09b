//! The phone's keys: the device key, the downloaded credentials with the doors they open, and the
//! fast-exchange secrets per reader — all kept in the app's [`SecureStorage`] so that taps keep
//! working with no network and across restarts.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use mobile_access_protocol::{
    Credential, DevicePublicKey, DeviceSigner, LockId, OrgId, OrganizationPublicKey, ReaderId, SoftwareDeviceKey,
    Timestamp, phone::FastSecret,
};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use crate::{Door, Error, KeyBundle, ReaderMode, Result, storage::SecureStorage};

const DEVICE_KEY: &str = "device-key";
const KEY_BUNDLE: &str = "key-bundle";
const FAST_SECRETS: &str = "fast-secrets";

/// A device signer the SDK can share across tasks.
pub type SharedSigner = Arc<dyn DeviceSigner + Send + Sync>;

/// Loads the software device key from storage, creating and storing it on first use. Apps with
/// secure hardware pass their own [`DeviceSigner`] instead and this is never called.
pub fn software_device_key(storage: &dyn SecureStorage) -> Result<SharedSigner> {
    if let Some(pkcs8) = storage.get(DEVICE_KEY)? {
        let key = SoftwareDeviceKey::from_pkcs8(&pkcs8).map_err(|e| Error::DeviceKey(e.to_string()))?;
        return Ok(Arc::new(key));
    }
    let key =
        SoftwareDeviceKey::generate(&ring::rand::SystemRandom::new()).map_err(|e| Error::DeviceKey(e.to_string()))?;
    storage.set(DEVICE_KEY, key.pkcs8())?;
    info!("created a device key");
    Ok(Arc::new(key))
}

/// A reader of a door the member's keys open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownReader {
    /// As it advertises.
    pub id: ReaderId,
    /// The door's lock.
    pub lock: LockId,
    /// The door's name, for the app.
    pub door: String,
    /// The door's id in the cloud.
    pub door_id: String,
    /// Tap-mode (needs the phone on the reader) or range.
    pub tap: bool,
    /// The door requires owner verification.
    pub owner_verification: bool,
    /// The door allows hands-free unlocking (the organization must too).
    pub hands_free: bool,
}

/// The decoded key bundle: what a tap needs.
#[derive(Debug, Clone)]
pub struct Keys {
    credentials: Vec<Credential>,
    trust: Vec<OrganizationPublicKey>,
    readers: Vec<KnownReader>,
    bundle: KeyBundle,
}

impl Keys {
    /// Decodes and checks a bundle from the cloud: every credential must decode, be bound to
    /// `device` (an owner-verified one: to `owner`, the phone's owner key), and verify under one
    /// of the bundle's anchors.
    pub fn from_bundle(bundle: KeyBundle, device: &DevicePublicKey, owner: Option<&DevicePublicKey>) -> Result<Self> {
        let invalid = |what: &str| Error::InvalidResponse(format!("key bundle: {what}"));
        let trust = bundle
            .trust_anchors
            .iter()
            .map(|anchor| {
                let org = OrgId(decode_hex(&anchor.org).ok_or_else(|| invalid("organization id"))?);
                let key = decode_hex(&anchor.public_key).ok_or_else(|| invalid("organization key"))?;
                Ok(OrganizationPublicKey::new(org, key))
            })
            .collect::<Result<Vec<_>>>()?;
        let credentials = bundle
            .credentials
            .iter()
            .map(|issued| {
                let bytes = hex::decode(&issued.credential).map_err(|_| invalid("credential hex"))?;
                let credential = Credential::decode(&bytes).map_err(|e| invalid(&e.to_string()))?;
                let body = credential.body();
                let bound_to = if body.owner_verified { owner } else { Some(device) };
                if bound_to != Some(&body.device_key) || body.owner_verified != issued.owner_verified {
                    return Err(invalid("credential bound to another device"));
                }
                if !trust.iter().any(|anchor| credential.verify(anchor)) {
                    return Err(invalid("credential signature does not verify"));
                }
                Ok(credential)
            })
            .collect::<Result<Vec<_>>>()?;
        let readers = bundle.doors.iter().flat_map(readers_of).collect::<Result<Vec<_>>>()?;
        Ok(Self { credentials, trust, readers, bundle })
    }

    /// The bundle as downloaded.
    pub(crate) fn bundle(&self) -> &KeyBundle {
        &self.bundle
    }

    /// The organization keys readers must be certified by.
    pub fn trust(&self) -> &[OrganizationPublicKey] {
        &self.trust
    }

    /// Readers of doors these keys open.
    pub fn readers(&self) -> &[KnownReader] {
        &self.readers
    }

    /// The reader `id`, if it is one of ours.
    pub fn reader(&self, id: ReaderId) -> Option<&KnownReader> {
        self.readers.iter().find(|r| r.id == id)
    }

    /// True if the door of `lock` requires owner verification (as of this bundle).
    pub fn owner_verification(&self, lock: LockId) -> bool {
        self.bundle.doors.iter().any(|door| door.lock == lock.0 && door.owner_verification)
    }

    /// The credential to present at `lock` at `now`: valid then, and listing the lock.
    pub fn credential_for(&self, lock: LockId, now: Timestamp) -> Option<&Credential> {
        self.credentials.iter().find(|c| {
            let body = c.body();
            body.opens(lock) && body.validity.not_before <= now && now < body.validity.not_after
        })
    }

    /// True if some credential is valid at `now`.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.credentials.iter().any(|c| c.body().validity.not_before <= now && now < c.body().validity.not_after)
    }

    /// When the first credential stops being valid: until then the phone unlocks every door
    /// with no network.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.credentials.iter().map(|c| c.body().validity.not_after).min()
    }

    /// True once less than a quarter of the validity is left: time for a silent refresh.
    pub fn wants_refresh(&self, now: Timestamp) -> bool {
        self.credentials.iter().any(|c| {
            let validity = c.body().validity;
            let lifetime = validity.not_after.since(validity.not_before);
            validity.not_after.since(now) < lifetime / 4
        })
    }
}

fn readers_of(door: &Door) -> Vec<Result<KnownReader>> {
    door.readers
        .iter()
        .map(|reader| {
            let id = decode_hex(&reader.reader_id)
                .ok_or_else(|| Error::InvalidResponse("key bundle: reader id".to_owned()))?;
            Ok(KnownReader {
                id: ReaderId(id),
                lock: LockId(door.lock),
                door: door.name.clone(),
                door_id: door.id.clone(),
                tap: reader.mode == ReaderMode::Tap,
                owner_verification: door.owner_verification,
                hands_free: door.hands_free,
            })
        })
        .collect()
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    hex::decode(text).ok()?.try_into().ok()
}

#[derive(Default, Serialize, Deserialize)]
struct StoredSecrets {
    /// Reader id (hex) → `FastSecret::to_bytes` (hex).
    secrets: HashMap<String, String>,
}

/// The keys and fast secrets, cached in memory and persisted in secure storage.
pub struct Keyring {
    storage: Arc<dyn SecureStorage>,
    keys: Mutex<Option<Keys>>,
    fast: Mutex<HashMap<ReaderId, FastSecret>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Storage("key cache lock poisoned".to_owned())
}

impl Keyring {
    /// Loads what `storage` holds for `device` and `owner` (a stored bundle for other keys is
    /// dropped: a key was reset).
    pub fn load(
        storage: Arc<dyn SecureStorage>,
        device: &DevicePublicKey,
        owner: Option<&DevicePublicKey>,
    ) -> Result<Self> {
        let keys = match storage.get(KEY_BUNDLE)? {
            Some(bytes) => serde_json::from_slice::<KeyBundle>(&bytes)
                .ok()
                .and_then(|bundle| Keys::from_bundle(bundle, device, owner).ok()),
            None => None,
        };
        let fast = match storage.get(FAST_SECRETS)? {
            Some(bytes) => serde_json::from_slice::<StoredSecrets>(&bytes)
                .map(|stored| {
                    stored
                        .secrets
                        .values()
                        .filter_map(|hex| FastSecret::from_bytes(&hex::decode(hex).ok()?).ok())
                        .map(|secret| (secret.reader, secret))
                        .collect()
                })
                .unwrap_or_default(),
            None => HashMap::new(),
        };
        debug!(cached_keys = keys.is_some(), fast_secrets = fast.len(), "keyring loaded");
        Ok(Self { storage, keys: Mutex::new(keys), fast: Mutex::new(fast) })
    }

    /// The cached keys, if any.
    pub fn keys(&self) -> Result<Option<Keys>> {
        Ok(self.keys.lock().map_err(|_| poisoned())?.clone())
    }

    /// Replaces the keys (after a download) and persists them.
    pub fn store(&self, keys: Keys) -> Result<()> {
        let bytes = serde_json::to_vec(&keys.bundle).map_err(|e| Error::Storage(e.to_string()))?;
        self.storage.set(KEY_BUNDLE, &bytes)?;
        *self.keys.lock().map_err(|_| poisoned())? = Some(keys);
        Ok(())
    }

    /// Forgets the keys and fast secrets (the member lost access or signed out).
    pub fn clear(&self) -> Result<()> {
        self.storage.delete(KEY_BUNDLE)?;
        self.storage.delete(FAST_SECRETS)?;
        *self.keys.lock().map_err(|_| poisoned())? = None;
        self.fast.lock().map_err(|_| poisoned())?.clear();
        Ok(())
    }

    /// The fast secret for `reader`, if a full exchange left one.
    pub fn fast_secret(&self, reader: ReaderId) -> Result<Option<FastSecret>> {
        Ok(self.fast.lock().map_err(|_| poisoned())?.get(&reader).cloned())
    }

    /// Keeps (or, with `None`, forgets) the fast secret for `reader`, persisting the set.
    pub fn set_fast_secret(&self, reader: ReaderId, secret: Option<FastSecret>) -> Result<()> {
        let mut fast = self.fast.lock().map_err(|_| poisoned())?;
        match secret {
            Some(secret) => fast.insert(reader, secret),
            None => fast.remove(&reader),
        };
        let stored =
            StoredSecrets { secrets: fast.iter().map(|(id, s)| (id.to_string(), hex::encode(s.to_bytes()))).collect() };
        let bytes = serde_json::to_vec(&stored).map_err(|e| Error::Storage(e.to_string()))?;
        self.storage.set(FAST_SECRETS, &bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::storage::MemoryStorage;

    proptest! {
        /// Whatever fast secrets a phone collects (set, replaced, forgotten), a restart brings
        /// back exactly the last state.
        #[test]
        fn fast_secrets_survive_a_restart(
            operations in proptest::collection::vec((0u8..6, proptest::option::of(any::<[u8; 48]>())), 0..24)
        ) {
            let storage: Arc<dyn SecureStorage> = Arc::new(MemoryStorage::new());
            let device = SoftwareDeviceKey::generate(&ring::rand::SystemRandom::new()).unwrap().public_key();
            let keyring = Keyring::load(Arc::clone(&storage), &device, None).unwrap();
            let mut expected = HashMap::new();
            for (reader, secret) in operations {
                let id = ReaderId([reader; 8]);
                let secret = secret.map(|rest| {
                    FastSecret::from_bytes(&[&id.0[..], &rest[..]].concat()).unwrap()
                });
                keyring.set_fast_secret(id, secret.clone()).unwrap();
                match secret {
                    Some(secret) => expected.insert(id, secret),
                    None => expected.remove(&id),
                };
            }
            let restarted = Keyring::load(storage, &device, None).unwrap();
            for reader in 0u8..6 {
                let id = ReaderId([reader; 8]);
                prop_assert_eq!(restarted.fast_secret(id).unwrap(), expected.get(&id).cloned());
            }
        }
    }
}

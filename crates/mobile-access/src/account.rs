//! Accounts: one per organization the member belongs to. A member of two coworking operators
//! signs in to each; one Key Button holds both accounts' keys side by side and opens the
//! nearest door any of them opens.
//!
//! Everything an organization gave or will be told stays in its own account: its cloud session,
//! its access (which decides visibility), its keys and fast secrets, its journal of tap results.
//! A tap at one organization's door presents only that organization's credential and carries only
//! its revocation list; a refresh asks each cloud only about its own account; journals upload
//! each to its own cloud. The device key is the phone's (one per app, as the OS keeps it).
//!
//! The account the button was created with is [`PRIMARY_ACCOUNT`] and keeps its storage keys
//! unprefixed, so a phone that had one organization before keeps its keys; accounts added later
//! keep theirs under `account.<id>.` in the same [`SecureStorage`].

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::Poll,
};

use mobile_access_protocol::DevicePublicKey;

use crate::{
    Access, CloudClient, CloudConfig, Error, Result,
    journal::Journal,
    keyring::{Keyring, Keys},
    storage::SecureStorage,
};

/// The id of the account a [`crate::KeyButton`] was created with.
pub const PRIMARY_ACCOUNT: &str = "primary";

const ACCESS_INFO: &str = "access-info";

/// How the member signs in to another organization ([`crate::KeyButton::add_account`]).
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// That organization's access cloud.
    pub cloud: CloudConfig,
    /// The member's session token there.
    pub member_token: String,
}

/// One of the member's accounts as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The app's id for it ([`PRIMARY_ACCOUNT`] for the first).
    pub id: String,
    /// The member's access there, as last fetched (kept across restarts).
    pub access: Option<Access>,
    /// Doors its cached key opens.
    pub doors: u32,
}

/// One organization's part of the button.
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) cloud: CloudClient,
    pub(crate) storage: Arc<dyn SecureStorage>,
    pub(crate) keyring: Keyring,
    access: Mutex<Option<Access>>,
    pub(crate) journal: Journal,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Account {
    /// Loads account `id` from `storage` (its own keys, access and journal), with a cloud
    /// session for `token`.
    pub(crate) fn load(
        id: &str,
        cloud: CloudConfig,
        token: String,
        storage: &Arc<dyn SecureStorage>,
        device: &DevicePublicKey,
        owner: Option<&DevicePublicKey>,
    ) -> Result<Self> {
        let storage: Arc<dyn SecureStorage> = match id {
            PRIMARY_ACCOUNT => Arc::clone(storage),
            _ => Arc::new(Namespaced::new(Arc::clone(storage), id)?),
        };
        let keyring = Keyring::load(Arc::clone(&storage), device, owner)?;
        let access = storage.get(ACCESS_INFO)?.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let journal = Journal::load(storage.as_ref())?;
        Ok(Self {
            id: id.to_owned(),
            cloud: CloudClient::new(cloud, token)?,
            storage,
            keyring,
            access: Mutex::new(access),
            journal,
        })
    }

    pub(crate) fn access(&self) -> Option<Access> {
        self.access.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Keeps `access` (in memory and in storage).
    pub(crate) fn set_access(&self, access: &Access) -> Result<()> {
        if let Ok(bytes) = serde_json::to_vec(access) {
            self.storage.set(ACCESS_INFO, &bytes)?;
        }
        *self.access.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(access.clone());
        Ok(())
    }

    /// Forgets what the organization gave: keys, fast secrets, access. The journal stays, to be
    /// uploaded should the member sign in there again.
    pub(crate) fn forget(&self) -> Result<()> {
        self.keyring.clear()?;
        self.storage.delete(ACCESS_INFO)?;
        *self.access.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        Ok(())
    }

    /// True unless the last access fetched says this member cannot use the Key Button here.
    pub(crate) fn may_hold_keys(&self) -> bool {
        self.access().is_none_or(|access| access.allows_key_button())
    }

    /// The cached keys, when valid now.
    pub(crate) fn valid_keys(&self) -> Result<Option<Keys>> {
        Ok(self.keyring.keys()?.filter(|keys| keys.valid_at(crate::button::now())))
    }

    pub(crate) fn summary(&self) -> AccountSummary {
        let doors = self.keyring.keys().ok().flatten().map_or(0, |keys| {
            let mut ids: Vec<&str> = keys.readers().iter().map(|r| r.door_id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            u32::try_from(ids.len()).unwrap_or(u32::MAX)
        });
        AccountSummary { id: self.id.clone(), access: self.access(), doors }
    }
}

/// A request to one account's cloud, as [`each_at_once`] takes it.
pub(crate) type Call<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs one call per account at once (each to its own cloud) and returns their outputs in the
/// accounts' order. A handful of futures polled in turn: boxed, so every caller shares one
/// copy of this code in the phone's library.
pub(crate) async fn each_at_once<T>(mut calls: Vec<Call<'_, T>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = calls.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut done = true;
        for (call, output) in calls.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match call.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect()) } else { Poll::Pending }
    })
    .await
}

/// An account's view of the app's storage: every key under `account.<id>.`.
struct Namespaced {
    inner: Arc<dyn SecureStorage>,
    prefix: String,
}

impl Namespaced {
    /// Ids are what an app would name an organization by: 1–64 ASCII letters, digits, `-`, `_`
    /// (they become part of storage keys, and file names in [`crate::FileStorage`]).
    fn new(inner: Arc<dyn SecureStorage>, id: &str) -> Result<Self> {
        let valid =
            (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !valid {
            return Err(Error::Storage(format!(
                "invalid account id {id:?}: use 1-64 ASCII letters, digits, '-' or '_'"
            )));
        }
        Ok(Self { inner, prefix: format!("account.{id}.") })
    }
}

impl SecureStorage for Namespaced {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get(&format!("{}{key}", self.prefix))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.inner.set(&format!("{}{key}", self.prefix), value)
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(&format!("{}{key}", self.prefix))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::storage::MemoryStorage;

    /// Calls finishing in any order come back in the accounts' order, all having run at once.
    #[tokio::test(start_paused = true)]
    async fn each_at_once_runs_calls_together_and_keeps_their_order() {
        let started = tokio::time::Instant::now();
        let delays = [30u64, 10, 20, 0];
        let calls: Vec<Call<'_, u64>> = delays
            .iter()
            .map(|&ms| {
                Box::pin(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    ms
                }) as Call<'_, u64>
            })
            .collect();
        assert_eq!(each_at_once(calls).await, delays);
        assert_eq!(started.elapsed(), std::time::Duration::from_millis(30), "together, not one after another");
        assert!(each_at_once::<u8>(Vec::new()).await.is_empty());
    }

    #[test]
    fn accounts_keep_their_storage_apart_and_the_primary_keeps_the_old_keys() {
        let storage: Arc<dyn SecureStorage> = Arc::new(MemoryStorage::new());
        let primary: Arc<dyn SecureStorage> = Arc::clone(&storage);
        let second = Namespaced::new(Arc::clone(&storage), "acme-2").unwrap();
        primary.set("key-bundle", b"one").unwrap();
        second.set("key-bundle", b"two").unwrap();
        assert_eq!(storage.get("key-bundle").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(storage.get("account.acme-2.key-bundle").unwrap().as_deref(), Some(&b"two"[..]));
        second.delete("key-bundle").unwrap();
        assert_eq!(storage.get("key-bundle").unwrap().as_deref(), Some(&b"one"[..]));
        for bad in ["", "a.b", "../x", "a/b", &"x".repeat(65)] {
            assert!(matches!(Namespaced::new(Arc::clone(&storage), bad), Err(Error::Storage(_))), "{bad:?}");
        }
    }
}

//! Where tower-sessions keeps the console's sessions: the `console_sessions` table, through the
//! [`Store`] (sqlx `Any`, so SQLite and PostgreSQL alike). The crate ships SQL stores for each
//! database's own pool only, none for `Any`; this adapter is the trait's four methods.
//!
//! A row is keyed by the SHA-256 of the session id, never the id: the id is the cookie, a
//! credential, and a copy of the database must not sign anyone in. Rows past their expiry are
//! never loaded and are deleted by the retention job ([`Store::prune`]), so a session survives
//! a restart of the cloud, or another replica answering, until it ends.

use async_trait::async_trait;
use tower_sessions::{
    SessionStore,
    cookie::time::OffsetDateTime,
    session::{Id, Record},
    session_store::{self, Error},
};

use crate::{
    crypto,
    store::{Store, StoredSession, now},
};

/// The console's session store.
#[derive(Clone)]
pub(super) struct Sessions {
    store: Store,
}

impl Sessions {
    pub(super) fn new(store: Store) -> Self {
        Self { store }
    }
}

/// Nothing of the store (the trait asks for `Debug`).
impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// What the table keys a session by.
fn hash(id: &Id) -> Vec<u8> {
    crypto::token_hash(&id.to_string())
}

/// A record's data and expiry as stored.
fn stored(record: &Record) -> session_store::Result<StoredSession> {
    let data = serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?;
    Ok(StoredSession { data, expires_at: record.expiry_date.unix_timestamp() })
}

/// The store's error, as the crate takes it (its message names no session).
fn backend(error: crate::Error) -> Error {
    Error::Backend(error.to_string())
}

#[async_trait]
impl SessionStore for Sessions {
    /// Inserts the record, drawing another id in the (2^-128) event that its hash is taken.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let row = stored(record)?;
        while !self.store.create_console_session(&hash(&record.id), &row).await.map_err(backend)? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store.save_console_session(&hash(&record.id), &stored(record)?).await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(row) = self.store.console_session(&hash(id), now()).await.map_err(backend)? else {
            return Ok(None);
        };
        let data = serde_json::from_str(&row.data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date =
            OffsetDateTime::from_unix_timestamp(row.expires_at).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete_console_session(&hash(id)).await.map_err(backend)
    }
}

//! The phone's own record of its taps, kept in secure storage until the cloud acknowledged it:
//! results at doors the phone opened offline still reach the operator's audit log, once each.
//!
//! Every entry gets a random id when it is recorded; the cloud keeps each id once, so an upload
//! whose answer was lost is simply sent again.

use std::sync::Mutex;

use mobile_access_api::UploadedEvent;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, storage::SecureStorage};

const JOURNAL: &str = "unlock-journal";
/// Entries kept at most; the oldest go first (a phone offline for months).
pub const JOURNAL_CAPACITY: usize = 1000;

/// One tap's result as the phone keeps it in secure storage (its own format: what was stored
/// by an earlier SDK must keep loading), sent as the contract's [`UploadedEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Stable, random id.
    pub event_id: String,
    /// When (Unix seconds, the phone's clock).
    pub at: u32,
    /// `unlocked`, `denied` or `failed`.
    pub outcome: String,
    /// The reader's reason or the error, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `full` or `fast`, when an exchange happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// The reader (hex), when one answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader_id: Option<String>,
}

impl From<&JournalEntry> for UploadedEvent {
    fn from(entry: &JournalEntry) -> Self {
        Self {
            event_id: entry.event_id.clone(),
            at: entry.at,
            outcome: entry.outcome.clone(),
            reason: entry.reason.clone(),
            exchange: entry.exchange.clone(),
            credential_id: None,
            member_id: None,
            reader_id: entry.reader_id.clone(),
            rssi: None,
        }
    }
}

/// The pending entries, persisted on every change.
pub(crate) struct Journal {
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    pub(crate) fn load(storage: &dyn SecureStorage) -> Result<Self> {
        let entries = storage.get(JOURNAL)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
        Ok(Self { entries: Mutex::new(entries) })
    }

    fn save(storage: &dyn SecureStorage, entries: &[JournalEntry]) -> Result<()> {
        let bytes = serde_json::to_vec(entries).map_err(|e| Error::Storage(e.to_string()))?;
        storage.set(JOURNAL, &bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<JournalEntry>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a result under a fresh id.
    pub(crate) fn record(&self, storage: &dyn SecureStorage, mut entry: JournalEntry) -> Result<()> {
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| Error::Storage("random generator failed".to_owned()))?;
        entry.event_id = hex::encode(id);
        let mut entries = self.lock();
        entries.push(entry);
        let excess = entries.len().saturating_sub(JOURNAL_CAPACITY);
        entries.drain(..excess);
        Self::save(storage, &entries)
    }

    /// What is waiting for the cloud.
    pub(crate) fn pending(&self) -> Vec<JournalEntry> {
        self.lock().clone()
    }

    /// Forgets what the cloud acknowledged (stored now or before).
    pub(crate) fn acknowledge(&self, storage: &dyn SecureStorage, sent: &[JournalEntry]) -> Result<()> {
        let mut entries = self.lock();
        entries.retain(|entry| !sent.iter().any(|s| s.event_id == entry.event_id));
        Self::save(storage, &entries)
    }
}

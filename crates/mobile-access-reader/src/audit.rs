//! The reader's audit log: every attempt, granted or refused, why and when. Bounded, so a
//! flood of attempts can never exhaust the reader's memory; it keeps the newest entries and
//! counts what it had to drop, so a gap is visible.

use std::collections::VecDeque;

use mobile_access_protocol::{CredentialId, MemberId, Reason, Timestamp, reader::ExchangeKind};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The relay opened.
    Granted,
    /// Refused, and the phone was told why.
    Refused(Reason),
    /// The reader decided but the connection ended before the phone received the answer: the
    /// relay stayed closed whatever the decision was.
    Interrupted(Reason),
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The reader's time.
    pub at: Timestamp,
    /// Full or fast exchange.
    pub exchange: ExchangeKind,
    /// The credential, once the reader could authenticate it.
    pub credential: Option<CredentialId>,
    /// Its member, likewise.
    pub member: Option<MemberId>,
    /// The phone's signal as the reader heard it, dBm; `None` when it was not measured (a
    /// controller that reports no RSSI, such as BlueZ's emulated ones and chipsets reporting
    /// 127, and NFC taps).
    pub rssi: Option<i16>,
    /// How it ended.
    pub outcome: Outcome,
}

/// A bounded log of attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLog {
    entries: VecDeque<AuditEntry>,
    capacity: usize,
    dropped: u64,
}

impl AuditLog {
    /// Default capacity: a busy door's week of attempts in well under 100 KiB.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// An empty log keeping at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { entries: VecDeque::new(), capacity: capacity.max(1), dropped: 0 }
    }

    /// Appends an entry, dropping the oldest if full.
    pub fn push(&mut self, entry: AuditEntry) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(entry);
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &AuditEntry> {
        self.entries.iter()
    }

    /// The newest entry.
    pub fn last(&self) -> Option<&AuditEntry> {
        self.entries.back()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries from sequence number `from` on (oldest first), each with its sequence number:
    /// entry numbers count every entry ever pushed, so they stay stable as old ones are dropped
    /// and make, with the reader id and boot, a stable event id for uploading.
    pub fn since(&self, from: u64) -> impl Iterator<Item = (u64, &AuditEntry)> {
        let first = self.dropped;
        self.entries.iter().enumerate().map(move |(i, e)| (first + i as u64, e)).filter(move |(seq, _)| *seq >= from)
    }

    /// The sequence number the next entry will get.
    pub fn next_sequence(&self) -> u64 {
        self.dropped + self.entries.len() as u64
    }

    /// Entries dropped to stay within capacity.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

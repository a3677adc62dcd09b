//! The reader's audit log: every attempt, granted or refused, why and when. Bounded, so a
//! flood of attempts can never exhaust the reader's memory; junk goes first when it must drop,
//! and it counts what it had to drop, so a gap is visible.

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
///
/// Every entry gets a sequence number counting every entry ever pushed (persisted across
/// restarts with the reader's state), so with the reader id and boot id it is a stable event
/// id for uploading. When the log is full, the oldest entry *without* an authenticated
/// credential is dropped first: a flood of junk writes (anyone in radio range can send them)
/// can push out other junk, never a genuine attempt. What was dropped is counted, split by
/// kind, so a gap is visible in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLog {
    entries: VecDeque<(u64, AuditEntry)>,
    capacity: usize,
    next: u64,
    acknowledged: u64,
    dropped: u64,
    dropped_authenticated: u64,
}

impl AuditLog {
    /// Default capacity: a busy door's week of attempts in well under 100 KiB.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// An empty log keeping at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            next: 0,
            acknowledged: 0,
            dropped: 0,
            dropped_authenticated: 0,
        }
    }

    /// Appends an entry. If full, drops the oldest unauthenticated entry (no credential), or the
    /// oldest entry if every entry is authenticated.
    pub fn push(&mut self, entry: AuditEntry) {
        if self.entries.len() >= self.capacity {
            let junk = self.entries.iter().position(|(_, e)| e.credential.is_none());
            let victim = junk.unwrap_or(0);
            if let Some((_, dropped)) = self.entries.remove(victim) {
                self.dropped += 1;
                if dropped.credential.is_some() {
                    self.dropped_authenticated += 1;
                }
            }
        }
        self.entries.push_back((self.next, entry));
        self.next += 1;
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &AuditEntry> {
        self.entries.iter().map(|(_, e)| e)
    }

    /// The newest entry.
    pub fn last(&self) -> Option<&AuditEntry> {
        self.entries.back().map(|(_, e)| e)
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries from sequence number `from` on (oldest first), each with its sequence number.
    /// Sequence numbers are stable: they count every entry ever pushed, also across restarts.
    pub fn since(&self, from: u64) -> impl Iterator<Item = (u64, &AuditEntry)> {
        self.entries.iter().filter(move |(seq, _)| *seq >= from).map(|(seq, e)| (*seq, e))
    }

    /// The entries the cloud has not acknowledged yet ([`AuditLog::acknowledge`]), oldest first.
    pub fn unacknowledged(&self) -> impl Iterator<Item = (u64, &AuditEntry)> {
        self.since(self.acknowledged)
    }

    /// The cloud stored every entry below sequence `next`: they are no longer kept across
    /// restarts (they stay in memory until pushed out). Never moves back.
    pub fn acknowledge(&mut self, next: u64) {
        self.acknowledged = self.acknowledged.max(next.min(self.next));
    }

    /// The first sequence number not acknowledged by the cloud.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged
    }

    /// The sequence number the next entry will get.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// Entries dropped to stay within capacity, of any kind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Of [`AuditLog::dropped`], those with an authenticated credential: non-zero only when the
    /// log filled with genuine attempts alone.
    pub fn dropped_authenticated(&self) -> u64 {
        self.dropped_authenticated
    }

    /// Rebuilds a log from persisted state (see [`crate::ReaderState`]).
    pub(crate) fn restore(capacity: usize, entries: Vec<(u64, AuditEntry)>, counters: AuditCounters) -> Self {
        let mut log = Self::new(capacity);
        log.next = counters.next;
        log.acknowledged = counters.acknowledged.min(counters.next);
        log.dropped = counters.dropped;
        log.dropped_authenticated = counters.dropped_authenticated;
        let skip = entries.len().saturating_sub(log.capacity);
        log.entries = entries.into_iter().skip(skip).collect();
        log
    }

    /// The counters persisted with the reader's state.
    pub(crate) fn counters(&self) -> AuditCounters {
        AuditCounters {
            next: self.next,
            acknowledged: self.acknowledged,
            dropped: self.dropped,
            dropped_authenticated: self.dropped_authenticated,
        }
    }
}

/// The audit log's counters, as persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AuditCounters {
    pub(crate) next: u64,
    pub(crate) acknowledged: u64,
    pub(crate) dropped: u64,
    pub(crate) dropped_authenticated: u64,
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

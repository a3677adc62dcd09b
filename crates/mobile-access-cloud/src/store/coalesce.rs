//! Coalesced reads: the lookups of one kind waiting at one moment (the tokens of concurrent
//! requests, the issuance facts of concurrent key downloads) are answered by one statement
//! with `IN (…)` for all of them, not one statement each.
//!
//! Why: a statement costs more than the few rows it reads here. On SQLite each one is two
//! thread hand-offs to the connection's worker; on PostgreSQL a round trip. A key download read
//! its token and then its rights, each a statement of its own; at 64 phones those became two
//! statements per batch of waiting requests (see `benches/cloud.rs`: on PostgreSQL about a fifth
//! more keys per second and a lower p99; on SQLite, where the rows themselves cost most, less).
//! When no read is running, a lookup reads alone on its own task, as before: nothing to share.
//!
//! Nothing is cached: each lookup is read by a statement that starts after the lookup was
//! asked for, so it sees every write committed before it, as a statement of its own would.
//! A caller that stops waiting before its lookup is read is left out.

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Backend, bulk};
use crate::{Error, Result};

/// Keys read by one statement at most; the longer queue waits for the next one.
pub(super) const MAX_KEYS: usize = 64;

/// Lookups answered by one read at most (several may ask for one key).
const MAX_LOOKUPS: usize = 4 * MAX_KEYS;

struct Lookup<K, V> {
    key: K,
    reply: oneshot::Sender<Result<Option<V>>>,
}

/// How a coalesced read reads: the value of each key found.
type Read<K, V> = dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = Result<BTreeMap<K, V>>> + Send>> + Send + Sync;

/// A queue of lookups and the readers draining it. Cheap to clone; the readers end when every
/// clone is gone.
pub(super) struct Coalesced<K, V> {
    queue: mpsc::UnboundedSender<Lookup<K, V>>,
    read: Arc<Read<K, V>>,
    /// Reads running now, a lookup's own or a reader's.
    reading: Arc<AtomicUsize>,
}

impl<K, V> Clone for Coalesced<K, V> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone(), read: self.read.clone(), reading: self.reading.clone() }
    }
}

impl<K, V> std::fmt::Debug for Coalesced<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalesced").field("reading", &self.reading).finish_non_exhaustive()
    }
}

impl<K, V> Coalesced<K, V>
where
    K: Ord + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Starts `readers` readers on the current tokio runtime. Each takes the lookups waiting
    /// when it is free (at most [`MAX_KEYS`] distinct keys) and answers them with one call of
    /// `read`, which returns the value of each key found. `what` names the read in the log.
    pub(super) fn start<R, F>(readers: usize, what: &'static str, read: R) -> Self
    where
        R: Fn(Vec<K>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<BTreeMap<K, V>>> + Send + 'static,
    {
        let (queue, waiting) = mpsc::unbounded_channel::<Lookup<K, V>>();
        let waiting = Arc::new(Mutex::new(waiting));
        let read: Arc<Read<K, V>> = Arc::new(move |keys| Box::pin(read(keys)));
        let reading = Arc::new(AtomicUsize::new(0));
        for _ in 0..readers.max(1) {
            let (waiting, read, reading) = (waiting.clone(), read.clone(), reading.clone());
            tokio::spawn(async move {
                while let Some(lookups) = next_lookups(&waiting).await {
                    let _busy = Busy::enter(&reading);
                    answer(lookups, what, read.as_ref()).await;
                }
            });
        }
        Self { queue, read, reading }
    }

    /// The value of `key`; `None` when the read found none. When no read is running, read at
    /// once on the caller's task, alone: a hand-off to a reader and back costs more than it
    /// saves when nothing waits to share the read. Otherwise read with the other lookups
    /// waiting now, by a reader.
    pub(super) async fn get(&self, key: K) -> Result<Option<V>> {
        if let Some(_alone) = Busy::enter_if_idle(&self.reading) {
            let mut found = (self.read)(vec![key.clone()]).await?;
            return Ok(found.remove(&key));
        }
        let (reply, answer) = oneshot::channel();
        self.queue.send(Lookup { key, reply }).map_err(|_| Error::Internal("the database reader has stopped"))?;
        answer.await.map_err(|_| Error::Internal("the database reader stopped before reading"))?
    }
}

/// One read running, counted in `reading` until dropped (also when the read's caller stops
/// waiting for it).
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn enter(reading: &'a AtomicUsize) -> Self {
        reading.fetch_add(1, Ordering::AcqRel);
        Self(reading)
    }

    /// Counted only when no other read is running.
    fn enter_if_idle(reading: &'a AtomicUsize) -> Option<Self> {
        reading.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| Self(reading))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The lookups waiting now (at least one, waiting for it) for at most [`MAX_KEYS`] distinct
/// keys, without those whose caller has gone; `None` once every sender is gone.
async fn next_lookups<K: Ord + Clone, V>(
    waiting: &Mutex<mpsc::UnboundedReceiver<Lookup<K, V>>>,
) -> Option<Vec<Lookup<K, V>>> {
    let mut waiting = waiting.lock().await;
    let first = waiting.recv().await?;
    let mut keys = std::collections::BTreeSet::from([first.key.clone()]);
    let mut lookups = vec![first];
    while keys.len() < MAX_KEYS && lookups.len() < MAX_LOOKUPS {
        let Ok(next) = waiting.try_recv() else { break };
        keys.insert(next.key.clone());
        lookups.push(next);
    }
    drop(waiting);
    lookups.retain(|l| !l.reply.is_closed());
    Some(lookups)
}

/// Reads the keys of `lookups` in one call of `read` and answers each lookup: its value (a
/// copy when several asked for one key), or the failure (logged once, each caller told).
async fn answer<K: Ord + Clone, V: Clone>(lookups: Vec<Lookup<K, V>>, what: &'static str, read: &Read<K, V>) {
    if lookups.is_empty() {
        return;
    }
    let mut keys: Vec<K> = lookups.iter().map(|l| l.key.clone()).collect();
    keys.sort();
    keys.dedup();
    match read(keys).await {
        Ok(mut found) => {
            // The last lookup of a key takes its value; earlier ones get copies.
            let mut last: BTreeMap<&K, usize> = BTreeMap::new();
            for (i, lookup) in lookups.iter().enumerate() {
                last.insert(&lookup.key, i);
            }
            let last: Vec<bool> = lookups.iter().enumerate().map(|(i, l)| last.get(&l.key) == Some(&i)).collect();
            for (lookup, is_last) in lookups.into_iter().zip(last) {
                let value = if is_last { found.remove(&lookup.key) } else { found.get(&lookup.key).cloned() };
                let _ = lookup.reply.send(Ok(value));
            }
        }
        Err(error) => {
            tracing::error!(%error, lookups = lookups.len(), what, "a coalesced read failed");
            for lookup in lookups {
                let _ = lookup.reply.send(Err(Error::Internal("reading the database failed")));
            }
        }
    }
}

/// `keys.len()` rounded up to a power of two, at least one: how many values an `IN (…)` of a
/// coalesced read binds, the last key repeated to fill it. So a read is one of a handful of
/// statements, each prepared once per connection, not one per batch size.
pub(super) fn padded_len(keys: usize) -> usize {
    keys.max(1).next_power_of_two()
}

/// `IN (…)`'s placeholders for `count` values from the `start`-th bound parameter.
pub(super) fn in_list(backend: Backend, start: usize, count: usize) -> String {
    format!("IN ({})", bulk::placeholders(backend, start, count))
}

/// `keys` padded to [`padded_len`] by repeating the last one (no key: nothing).
pub(super) fn padded<K: Clone>(keys: &[K]) -> Vec<K> {
    let mut padded = keys.to_vec();
    if let Some(last) = keys.last() {
        padded.resize(padded_len(keys.len()), last.clone());
    }
    padded
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[tokio::test]
    async fn concurrent_lookups_share_reads_and_each_gets_its_own_value() {
        let reads = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let counted = reads.clone();
        let waiting_on = gate.clone();
        let coalesced: Coalesced<u32, String> = Coalesced::start(1, "test", move |keys: Vec<u32>| {
            let (reads, gate) = (counted.clone(), waiting_on.clone());
            async move {
                reads.fetch_add(1, Ordering::SeqCst);
                // Every read waits until every lookup is queued.
                gate.acquire().await.unwrap().forget();
                Ok(keys.into_iter().filter(|k| k % 5 != 0).map(|k| (k, format!("v{k}"))).collect())
            }
        });
        let ask = |key: u32| {
            let coalesced = coalesced.clone();
            tokio::spawn(async move { (key, coalesced.get(key).await.unwrap()) })
        };
        // The first lookup finds no read running and reads alone; it is held until the rest
        // are queued.
        let mut lookups = vec![ask(1)];
        while reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Key 7 asked for twice.
        lookups.extend((2..=39u32).chain([7]).map(ask));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        gate.add_permits(100);
        for lookup in lookups {
            let (key, value) = lookup.await.unwrap();
            let expected = (key % 5 != 0).then(|| format!("v{key}"));
            assert_eq!(value, expected, "key {key}");
        }
        // The first alone; the 39 queued behind it by the reader, which may have taken the
        // second before the rest arrived: two reads for 39 lookups at most.
        let reads = reads.load(Ordering::SeqCst);
        assert!((2..=3).contains(&reads), "{reads} reads");
    }

    #[tokio::test]
    async fn a_lookup_with_no_read_running_reads_on_its_own_task() {
        let readers_task = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = readers_task.clone();
        let coalesced: Coalesced<u32, u32> = Coalesced::start(1, "test", move |keys: Vec<u32>| {
            seen.lock().unwrap().push(tokio::task::try_id());
            async move { Ok(keys.into_iter().map(|k| (k, k)).collect()) }
        });
        let caller = tokio::spawn(async move {
            assert_eq!(coalesced.get(3).await.unwrap(), Some(3));
            tokio::task::id()
        });
        let caller = caller.await.unwrap();
        assert_eq!(*readers_task.lock().unwrap(), vec![Some(caller)], "read by another task");
    }

    #[tokio::test]
    async fn a_failed_read_fails_each_of_its_lookups_and_the_next_read_is_tried() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let coalesced: Coalesced<u32, u32> = Coalesced::start(1, "test", move |keys: Vec<u32>| {
            let calls = counted.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(Error::Internal("the disk is on fire"))
                } else {
                    Ok(keys.into_iter().map(|k| (k, k * 2)).collect())
                }
            }
        });
        assert!(matches!(coalesced.get(1).await, Err(Error::Internal(_))));
        assert_eq!(coalesced.get(2).await.unwrap(), Some(4));
    }

    #[test]
    fn keys_are_padded_to_a_power_of_two_with_the_last_key() {
        assert_eq!(padded::<u8>(&[]), Vec::<u8>::new());
        assert_eq!(padded(&[1]), vec![1]);
        assert_eq!(padded(&[1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4, 5]), vec![1, 2, 3, 4, 5, 5, 5, 5]);
        assert_eq!(padded_len(MAX_KEYS), MAX_KEYS);
    }
}

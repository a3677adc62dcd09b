//! Request rate limits: what keeps one client (or one guesser) from taking the server.
//!
//! Four limits, each a GCRA ("generic cell rate algorithm": a token bucket kept as one instant
//! per key) over its own key:
//!
//! - every request per client address (probes excepted);
//! - every authenticated request per caller: per member for member tokens, per token otherwise;
//! - failed authentication (an unknown token, a wrong password, an unknown invitation) per client
//!   address, far stricter: once spent, that address's further login and token attempts get 429
//!   without being checked;
//! - failed logins per email, so guessing one member's password from many addresses is slow too.
//!
//! Hand-rolled rather than `governor`: the failure limits must *look* without spending (a request
//! is refused when the budget is spent, and spends only when it fails), which `governor`'s keyed
//! limiter does not offer, and the whole algorithm is the twenty lines of [`Keyed::admit`].

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Keys whose state has not expired are kept; above this many, expired ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// A sustained rate and the burst allowed on top of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once from a rested key.
    pub burst: u32,
}

impl Rate {
    /// `per_second` sustained, `burst` at once.
    pub const fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

/// Every limit; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// All requests of one client address (default 100/s, burst 500).
    pub per_address: Option<Rate>,
    /// Authenticated requests of one member or token (default 10/s, burst 100).
    pub per_caller: Option<Rate>,
    /// Failed authentications of one client address (default 1/s, burst 60).
    pub failures_per_address: Option<Rate>,
    /// Failed logins naming one email (default one per 10 s, burst 10).
    pub failures_per_email: Option<Rate>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_address: Some(Rate::new(100.0, 500)),
            per_caller: Some(Rate::new(10.0, 100)),
            failures_per_address: Some(Rate::new(1.0, 60)),
            failures_per_email: Some(Rate::new(0.1, 10)),
        }
    }
}

impl Limits {
    /// No limits at all (benchmarks, load tests).
    pub const fn off() -> Self {
        Self { per_address: None, per_caller: None, failures_per_address: None, failures_per_email: None }
    }
}

/// One limit over many keys.
#[derive(Debug)]
pub(crate) struct Keyed<K> {
    /// Time between two requests at the sustained rate, and how far ahead of now a key may run
    /// (the burst). `None`: unlimited.
    cell: Option<(Duration, Duration)>,
    /// Per key, the theoretical arrival time of its next request.
    next: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    pub(crate) fn new(rate: Option<Rate>) -> Self {
        let cell = rate.filter(|r| r.per_second > 0.0 && r.burst > 0).map(|r| {
            // At most one a year: a rate too small to write as a duration is that anyway.
            let year = Duration::from_secs(365 * 86_400);
            let interval = Duration::try_from_secs_f64(1.0 / r.per_second).unwrap_or(year).min(year);
            (interval, interval.saturating_mul(r.burst - 1))
        });
        Self { cell, next: Mutex::new(HashMap::new()) }
    }

    /// Counts one request for `key`: `Err(wait)` if it is over the limit (nothing counted).
    pub(crate) fn admit(&self, key: &K) -> Result<(), Duration> {
        self.admit_at(key, Instant::now(), true)
    }

    /// Whether `key` is over the limit now, counting nothing.
    pub(crate) fn peek(&self, key: &K) -> Result<(), Duration> {
        self.admit_at(key, Instant::now(), false)
    }

    fn admit_at(&self, key: &K, now: Instant, count: bool) -> Result<(), Duration> {
        let Some((interval, tolerance)) = self.cell else { return Ok(()) };
        let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = next.get(key).copied().unwrap_or(now).max(now);
        let ahead = due - now;
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        if count {
            if next.len() >= SWEEP_ABOVE {
                next.retain(|_, due| *due > now);
            }
            next.insert(key.clone(), due + interval);
        }
        Ok(())
    }
}

/// The limits of one server.
#[derive(Debug)]
pub(crate) struct Limiters {
    pub(crate) address: Keyed<IpAddr>,
    pub(crate) caller: Keyed<Vec<u8>>,
    pub(crate) address_failures: Keyed<IpAddr>,
    pub(crate) email_failures: Keyed<String>,
}

impl Limiters {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            address: Keyed::new(limits.per_address),
            caller: Keyed::new(limits.per_caller),
            address_failures: Keyed::new(limits.failures_per_address),
            email_failures: Keyed::new(limits.failures_per_email),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_the_wait_is_told() {
        let limit = Keyed::new(Some(Rate::new(2.0, 3)));
        let start = Instant::now();
        for _ in 0..3 {
            limit.admit_at(&1, start, true).unwrap();
        }
        let wait = limit.admit_at(&1, start, true).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        limit.admit_at(&2, start, true).unwrap();
        limit.admit_at(&1, start + wait, true).unwrap();
        assert!(limit.admit_at(&1, start + wait, true).is_err());
    }

    #[test]
    fn peeking_counts_nothing_and_no_rate_means_no_limit() {
        let limit = Keyed::new(Some(Rate::new(1.0, 1)));
        let now = Instant::now();
        for _ in 0..5 {
            limit.admit_at(&"a", now, false).unwrap();
        }
        limit.admit_at(&"a", now, true).unwrap();
        assert!(limit.admit_at(&"a", now, false).is_err());
        let off = Keyed::new(None);
        for _ in 0..1000 {
            off.admit_at(&"a", now, true).unwrap();
        }
    }
}

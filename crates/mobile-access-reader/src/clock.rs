//! The reader's wall clock. Readers have no network time at the door and their crystals drift;
//! the drift is a parameter so tests can show what a drifting reader does with validity windows.

use std::time::{Duration, Instant};

use mobile_access_protocol::Timestamp;

/// A clock set to a Unix time at some instant and running `drift_ppm` parts per million fast
/// (positive) or slow (negative) from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftingClock {
    set_at: Instant,
    set_to: Duration,
    drift_ppm: i32,
}

impl DriftingClock {
    /// A clock reading `time` at `now`.
    pub fn new(now: Instant, time: Timestamp, drift_ppm: i32) -> Self {
        Self { set_at: now, set_to: Duration::from_secs(u64::from(time.0)), drift_ppm }
    }

    /// The reader's time at `now`.
    pub fn now(&self, now: Instant) -> Timestamp {
        let elapsed = now.saturating_duration_since(self.set_at).as_nanos() as i128;
        let drifted = elapsed + elapsed * i128::from(self.drift_ppm) / 1_000_000;
        let nanos = self.set_to.as_nanos() as i128 + drifted.max(0);
        Timestamp(u32::try_from(nanos / 1_000_000_000).unwrap_or(u32::MAX))
    }

    /// Sets the clock (a technician, or a signed time from the cloud).
    pub fn set(&mut self, now: Instant, time: Timestamp) {
        self.set_at = now;
        self.set_to = Duration::from_secs(u64::from(time.0));
    }

    /// The drift, parts per million.
    pub fn drift_ppm(&self) -> i32 {
        self.drift_ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_gains_its_drift() {
        let start = Instant::now();
        let day = Duration::from_secs(86_400);
        let exact = DriftingClock::new(start, Timestamp(1_000), 0);
        let fast = DriftingClock::new(start, Timestamp(1_000), 100);
        let slow = DriftingClock::new(start, Timestamp(1_000), -100);
        assert_eq!(exact.now(start + day), Timestamp(1_000 + 86_400));
        // 100 ppm is 8.64 s a day.
        assert_eq!(fast.now(start + day), Timestamp(1_000 + 86_408));
        assert_eq!(slow.now(start + day), Timestamp(1_000 + 86_391));
    }
}

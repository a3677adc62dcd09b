//! Hands-free unlocking at range readers: the phone opens a door when it stays within the door's
//! distance for a moment, with no tap.
//!
//! Only where the organization allows it (`Access::hands_free`), the door allows it
//! (`Door::hands_free`), its reader is a range reader (never a tap reader: touching it is the
//! point), the door needs no owner verification (that needs the owner's prompt), the member
//! turned it on ([`KeyButton::set_hands_free`]) and the phone is unlocked
//! ([`KeyButton::set_phone_unlocked`]). Wallet passes never open a door hands-free: they are not
//! the Key Button's.
//!
//! One approach opens a door at most once. A door is *armed* while the phone is away from it; it
//! fires once the phone stayed within reach for the dwell time, and arms again only once the
//! phone has left (its signal below reach by a margin, or not heard at all for a while). A phone
//! already at a door when hands-free starts must leave before that door can open, so walking
//! away from a door never opens it; walking past one does not either, since a walk past stays
//! within reach for less than the dwell time. An RSSI the radio cannot measure is no distance:
//! such a reader never opens hands-free.
//!
//! On Android the app runs [`KeyButton::run_hands_free`] from a foreground service (with the
//! `connectedDevice` type) over its own radio; on iOS from the app with the `bluetooth-central`
//! background mode over a `CBCentralManager` with a restore identifier, scanning with the service
//! filter (iOS scans in the background only so).

use std::{collections::HashMap, time::Duration};

use mobile_access_ble::{Rssi, ScanFilter};
use mobile_access_protocol::{Advertisement, ReaderId};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::{
    Error, KeyButton, Result,
    keyring::KnownReader,
    unlock::{Held, ble_error, ours},
};

/// How hands-free decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandsFreeConfig {
    /// How long the phone must stay within reach (while unlocked) before the door opens. Longer
    /// than a walk past a door takes within reach (about 2 s at walking pace within 1.5 m).
    pub dwell: Duration,
    /// A door's reach when its reader sets no maximum distance: this many dB below the
    /// reader's transmit power at 1 m (4 dB: about 1.6 m in free space).
    pub reach_below_tx_power_db: i16,
    /// How far (dB) below reach the signal must fall for the phone to have left the door.
    pub leave_margin_db: i16,
    /// A reader not heard for this long counts as left.
    pub gone_after: Duration,
}

impl Default for HandsFreeConfig {
    fn default() -> Self {
        Self {
            dwell: Duration::from_millis(2_500),
            reach_below_tx_power_db: 4,
            leave_margin_db: 6,
            gone_after: Duration::from_secs(4),
        }
    }
}

/// Where the phone stands with one door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Approach {
    /// Away from it: armed.
    Away,
    /// Within reach (and unlocked) since then.
    Near { since: Instant },
    /// Opened (or found at the door when hands-free started): not again until the phone left.
    Spent,
}

#[derive(Debug, Clone, Copy)]
struct Track {
    /// Smoothed RSSI (dBm): one advertisement's RSSI scatters by several dB.
    smoothed: f64,
    last_heard: Instant,
    approach: Approach,
}

/// The approach state machine, per reader. Pure: fed observations, it says when to open.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    config: HandsFreeConfig,
    tracks: HashMap<ReaderId, Track>,
}

/// Weight of a new RSSI sample in the smoothed value.
const SMOOTHING: f64 = 0.3;

impl Tracker {
    pub(crate) fn new(config: HandsFreeConfig) -> Self {
        Self { config, tracks: HashMap::new() }
    }

    /// The RSSI (dBm) at the door's distance: the range reader's maximum distance where it
    /// advertises one, else the configured reach below its transmit power.
    fn reach(&self, advertisement: &Advertisement) -> f64 {
        match advertisement.tap_rssi_threshold {
            i8::MIN => f64::from(i16::from(advertisement.tx_power) - self.config.reach_below_tx_power_db),
            floor => f64::from(floor),
        }
    }

    /// Forgets readers not heard for a while: the phone left them, and they are armed again.
    pub(crate) fn expire(&mut self, now: Instant) {
        let gone_after = self.config.gone_after;
        self.tracks.retain(|_, track| now.saturating_duration_since(track.last_heard) < gone_after);
    }

    /// One advertisement of `reader` heard at `rssi` at `now`; true when the phone should open
    /// its door now (once per approach).
    pub(crate) fn observe(
        &mut self,
        reader: ReaderId,
        advertisement: &Advertisement,
        rssi: Rssi,
        now: Instant,
        phone_unlocked: bool,
    ) -> bool {
        self.expire(now);
        let Some(dbm) = rssi.dbm() else {
            // No distance: a dwell under way starts over (fail closed), nothing else changes.
            if let Some(track) = self.tracks.get_mut(&reader)
                && matches!(track.approach, Approach::Near { .. })
            {
                track.approach = Approach::Away;
            }
            return false;
        };
        let reach = self.reach(advertisement);
        let (dwell, margin) = (self.config.dwell, f64::from(self.config.leave_margin_db));
        let track = self.tracks.entry(reader).or_insert_with(|| Track {
            smoothed: f64::from(dbm),
            last_heard: now,
            // Already at the door when first heard: not an approach.
            approach: if f64::from(dbm) >= reach { Approach::Spent } else { Approach::Away },
        });
        track.smoothed += SMOOTHING * (f64::from(dbm) - track.smoothed);
        track.last_heard = now;
        let near = track.smoothed >= reach;
        let left = track.smoothed < reach - margin;
        let (next, open) = match track.approach {
            Approach::Spent if left => (Approach::Away, false),
            Approach::Spent => (Approach::Spent, false),
            Approach::Away if near && phone_unlocked => (Approach::Near { since: now }, false),
            Approach::Away => (Approach::Away, false),
            Approach::Near { since } if near && phone_unlocked => {
                if now.saturating_duration_since(since) >= dwell {
                    (Approach::Spent, true)
                } else {
                    (Approach::Near { since }, false)
                }
            }
            Approach::Near { .. } => (Approach::Away, false),
        };
        track.approach = next;
        open
    }

    /// After a hands-free attempt at `reader` that did not happen (the button was busy, the
    /// radio failed): the approach is spent all the same, so the phone does not keep trying.
    pub(crate) fn spend(&mut self, reader: ReaderId) {
        if let Some(track) = self.tracks.get_mut(&reader) {
            track.approach = Approach::Spent;
        }
    }
}

const HANDS_FREE: &str = "hands-free";

impl KeyButton {
    /// Turns hands-free unlocking on or off for this member (kept across restarts). It opens
    /// only doors the organization and the door allow it at, with range readers.
    pub fn set_hands_free(&self, enabled: bool) -> Result<()> {
        if enabled {
            self.storage.set(HANDS_FREE, b"on")?;
        } else {
            self.storage.delete(HANDS_FREE)?;
        }
        info!(enabled, "hands-free unlocking turned {}", if enabled { "on" } else { "off" });
        Ok(())
    }

    /// Whether the member turned hands-free unlocking on.
    pub fn hands_free_enabled(&self) -> bool {
        matches!(self.storage.get(HANDS_FREE), Ok(Some(_)))
    }

    /// Tells the SDK whether the phone is unlocked (Android: `ACTION_USER_PRESENT` and
    /// `ACTION_SCREEN_OFF`, or `KeyguardManager.isDeviceLocked`; iOS: protected data becoming
    /// available or not). Hands-free opens doors only while it is; the SDK assumes locked until
    /// told.
    pub fn set_phone_unlocked(&self, unlocked: bool) {
        self.phone_unlocked.store(unlocked, std::sync::atomic::Ordering::SeqCst);
    }

    fn phone_is_unlocked(&self) -> bool {
        self.phone_unlocked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The doors the cached keys open hands-free now (for the app's settings screen).
    pub fn hands_free_doors(&self) -> Vec<crate::KeyDoor> {
        let held = self.held_keys();
        let allowed: Vec<&KnownReader> = held.iter().flat_map(hands_free_readers).collect();
        self.doors().into_iter().filter(|door| allowed.iter().any(|r| r.door_id == door.id)).collect()
    }

    /// Every account's valid cached keys.
    fn held_keys(&self) -> Vec<Held> {
        self.all_accounts()
            .into_iter()
            .filter_map(|account| Some(Held { keys: account.valid_keys().ok()??, account }))
            .collect()
    }

    /// Runs hands-free unlocking until the member turns it off or no door of theirs allows it
    /// (then it returns `Ok`), or the radio fails. Each door opens at most once per approach,
    /// through the same flow as a tap (states to listeners, journal, report); a tap by the
    /// member meanwhile takes the radio and hands-free resumes after it. Drop the future (or
    /// abort its task) to stop it.
    pub async fn run_hands_free(&self, config: HandsFreeConfig) -> Result<()> {
        let mut tracker = Tracker::new(config);
        loop {
            if !self.hands_free_enabled() {
                info!("hands-free is off");
                return Ok(());
            }
            let held = self.held_keys();
            if held.is_empty() {
                info!("hands-free: no valid key on the phone");
                return Ok(());
            }
            let eligible: Vec<ReaderId> = held.iter().flat_map(hands_free_readers).map(|reader| reader.id).collect();
            if eligible.is_empty() {
                info!("hands-free: no door of this member allows it");
                return Ok(());
            }
            let mut scan = self.central.scan(ScanFilter::readers()).await.map_err(ble_error)?;
            let opened = loop {
                let event = match tokio::time::timeout(config.gone_after, scan.next()).await {
                    Err(_) => {
                        tracker.expire(Instant::now());
                        if !self.hands_free_enabled() {
                            break None;
                        }
                        continue;
                    }
                    // The radio went to someone else (a tap): start again once it is free.
                    Ok(None) => break None,
                    Ok(Some(event)) => event,
                };
                let Some(target) = ours(&held, &event) else { continue };
                if !eligible.contains(&target.reader.id) {
                    continue;
                }
                let now = Instant::now();
                if tracker.observe(target.reader.id, &target.advertisement, event.rssi, now, self.phone_is_unlocked()) {
                    break Some(target.reader);
                }
            };
            let _ = self.central.stop_scan().await;
            let Some(reader) = opened else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            info!(door = %reader.door, "hands-free: the phone stayed at the door");
            match self.exclusively(self.run_tap(Some(&reader.door_id))).await {
                Ok(report) => debug!(outcome = ?report.outcome, "hands-free tap"),
                Err(Error::Busy) => debug!("hands-free: a tap was running"),
                Err(error) => warn!(%error, "hands-free tap failed"),
            }
            tracker.spend(reader.id);
        }
    }
}

/// The readers of `held` that may open hands-free now: its organization, the door and the
/// reader allow it, and the key opens it without the owner's prompt. Decided once per scan, not
/// per advertisement heard.
fn hands_free_readers(held: &Held) -> Vec<&KnownReader> {
    let Held { account, keys } = held;
    if !account.access().is_some_and(|access| access.hands_free && access.allows_key_button()) {
        return Vec::new();
    }
    let now = crate::button::now();
    keys.readers()
        .iter()
        .filter(|reader| {
            reader.hands_free
                && !reader.tap
                && !reader.owner_verification
                && keys.credential_for(reader.lock, now).is_some_and(|c| !c.body().owner_verified)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use mobile_access_protocol::{Nonce, UnlockMode};
    use proptest::prelude::*;

    use super::*;

    fn advertisement() -> Advertisement {
        Advertisement {
            reader: ReaderId([1; 8]),
            nonce: Nonce([0; 8]),
            mode: UnlockMode::Range,
            tap_rssi_threshold: i8::MIN,
            tx_power: -59,
        }
    }

    const READER: ReaderId = ReaderId([1; 8]);

    /// Feeds (milliseconds since the start, RSSI, unlocked) and returns when it opened.
    fn run(samples: &[(u64, Option<i16>, bool)]) -> Vec<u64> {
        let start = Instant::now();
        let mut tracker = Tracker::new(HandsFreeConfig::default());
        samples
            .iter()
            .filter(|(at, rssi, unlocked)| {
                let rssi = rssi.map_or(Rssi::UNKNOWN, Rssi::from_dbm);
                tracker.observe(READER, &advertisement(), rssi, start + Duration::from_millis(*at), *unlocked)
            })
            .map(|(at, _, _)| *at)
            .collect()
    }

    /// Every 100 ms from `from` to `to` (exclusive) at `rssi`.
    fn hold(from: u64, to: u64, rssi: i16, unlocked: bool) -> Vec<(u64, Option<i16>, bool)> {
        (from..to).step_by(100).map(|at| (at, Some(rssi), unlocked)).collect()
    }

    #[test]
    fn an_approach_that_stays_opens_once_after_the_dwell() {
        let samples = [hold(0, 2_000, -80, true), hold(2_000, 20_000, -55, true)].concat();
        let opened = run(&samples);
        assert_eq!(opened.len(), 1, "{opened:?}");
        assert!(opened[0] >= 2_000 + 2_500 && opened[0] < 2_000 + 3_500, "{opened:?}");
    }

    #[test]
    fn a_walk_past_is_shorter_than_the_dwell_and_opens_nothing() {
        let samples =
            [hold(0, 2_000, -80, true), hold(2_000, 4_000, -55, true), hold(4_000, 8_000, -80, true)].concat();
        assert!(run(&samples).is_empty());
    }

    #[test]
    fn leaving_rearms_and_the_next_approach_opens_again() {
        let samples = [
            hold(0, 1_000, -80, true),
            hold(1_000, 6_000, -55, true),
            hold(6_000, 8_000, -80, true),
            hold(8_000, 13_000, -55, true),
        ]
        .concat();
        assert_eq!(run(&samples).len(), 2);
    }

    #[test]
    fn a_phone_found_at_the_door_must_leave_first() {
        let samples =
            [hold(0, 6_000, -55, true), hold(6_000, 8_000, -80, true), hold(8_000, 13_000, -55, true)].concat();
        let opened = run(&samples);
        assert_eq!(opened.len(), 1);
        assert!(opened[0] >= 8_000 + 2_500);
    }

    #[test]
    fn the_dwell_counts_only_while_the_phone_is_unlocked() {
        let samples =
            [hold(0, 1_000, -80, true), hold(1_000, 6_000, -55, false), hold(6_000, 10_000, -55, true)].concat();
        let opened = run(&samples);
        assert_eq!(opened.len(), 1);
        assert!(opened[0] >= 6_000 + 2_500, "{opened:?}");
    }

    #[test]
    fn an_unknown_rssi_is_no_distance() {
        let samples: Vec<_> = (0..200).map(|i| (i * 100, None, true)).collect();
        assert!(run(&samples).is_empty());
    }

    proptest! {
        /// Whatever the phone hears, it opens only after staying within reach for the dwell
        /// time, and never twice without leaving in between.
        #[test]
        fn never_twice_per_approach_and_never_without_the_dwell(
            steps in proptest::collection::vec((50u64..400, proptest::option::of(-100i16..-40), any::<bool>()), 1..300),
        ) {
            let mut at = 0;
            let samples: Vec<_> = steps.iter().map(|(gap, rssi, unlocked)| { at += gap; (at, *rssi, *unlocked) }).collect();
            let opened = run(&samples);
            let dwell = HandsFreeConfig::default().dwell.as_millis() as u64;
            let reach = -63.0;
            for pair in opened.windows(2) {
                // Between two openings the phone left: some sample well below reach, or silence.
                let heard: Vec<u64> =
                    samples.iter().filter(|(t, rssi, _)| *t >= pair[0] && *t <= pair[1] && rssi.is_some()).map(|(t, _, _)| *t).collect();
                let left = samples.iter().any(|(t, rssi, _)| *t > pair[0] && *t <= pair[1] && rssi.is_some_and(|r| f64::from(r) < reach - 6.0))
                    || heard.windows(2).any(|w| w[1] - w[0] >= 4_000);
                prop_assert!(left, "opened twice without leaving: {:?}", pair);
            }
            for open in &opened {
                // Within reach (smoothed) means some raw samples within reach: at least the
                // dwell time of heard, unlocked samples before it.
                let first = samples.iter().find(|(t, _, _)| *t + dwell <= *open);
                prop_assert!(first.is_some(), "opened before the dwell could pass: {open}");
                let window: Vec<_> = samples.iter().filter(|(t, _, _)| *t + dwell >= *open && *t <= *open).collect();
                prop_assert!(window.iter().all(|(_, rssi, unlocked)| *unlocked && rssi.is_some()), "opened while locked or unheard: {open}");
            }
        }
    }
}

//! The radio half of a tap: find the nearest reader of a door the keys open, wait for the phone
//! to be close enough where the reader needs a tap, connect, and run the unlock exchange (fast
//! where a full one left a secret, full otherwise).
//!
//! The RSSI of a reader may be unknown (BlueZ's emulated controllers and some chipsets report
//! 127, the HCI's "not available", or nothing). The phone then has no distance to go on: such a
//! reader never ranks nearer than one it measured, and the phone never asks for a tap it cannot
//! see happen. It connects and lets the reader decide, which refuses a tap it cannot measure
//! either (`Reason::NotCloseEnough`).

use std::time::Duration;

use mobile_access_ble::{Central, PeripheralId, Rssi, ScanFilter, channel::MessageChannel};
use mobile_access_protocol::{
    Advertisement, Credential, DeviceSigner, ReaderId, Reason,
    phone::{Exchange, Step},
};
use ring::rand::SystemRandom;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span};

use crate::{
    Error, KeyButtonState, Phase, Result,
    account::Account,
    keyring::{Keys, KnownReader, SharedSigner},
    owner::{OwnerKey, OwnerSigner},
};

/// How long each radio phase may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Finding a reader of one of the member's doors.
    pub scan: Duration,
    /// Waiting for the phone to be tapped on a tap-mode reader.
    pub tap: Duration,
    /// Connecting (MTU exchange and GATT discovery included).
    pub connect: Duration,
    /// The whole unlock exchange.
    pub exchange: Duration,
    /// After the first reader is seen, how long to keep listening for a nearer one (skipped when
    /// the phone is already at tap distance of it). Readers advertise every 20–100 ms, so 60 ms
    /// hears each nearby 20 ms reader at least twice while adding little to a tap.
    pub ranking_window: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            scan: Duration::from_secs(10),
            tap: Duration::from_secs(30),
            connect: Duration::from_secs(10),
            exchange: Duration::from_secs(5),
            ranking_window: Duration::from_millis(60),
        }
    }
}

/// The reader chosen for a tap.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Whose reader: an index into the tap's [`Held`] keys.
    pub held: usize,
    pub reader: KnownReader,
    pub peripheral: PeripheralId,
    pub advertisement: Advertisement,
}

/// Which exchange opened (or refused) the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    /// First meeting with this reader.
    Full,
    /// A later tap, symmetric only.
    Fast,
}

/// A proven answer from the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub reason: Reason,
    pub kind: ExchangeKind,
}

pub(crate) fn ble_error(error: mobile_access_ble::Error) -> Error {
    use mobile_access_ble::Error as B;
    match error {
        B::AdapterOff => Error::BluetoothOff,
        B::Unauthorized => Error::BluetoothUnauthorized,
        B::Unavailable(_) => Error::BluetoothUnavailable,
        B::LocationServicesOff => Error::LocationServicesOff,
        B::Framing(protocol) => Error::from(protocol),
        other => Error::Bluetooth(other.to_string()),
    }
}

async fn within<T>(phase: Phase, limit: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(limit, work).await.unwrap_or(Err(Error::Timeout { phase }))
}

/// One account's valid keys, as a tap holds them.
pub(crate) struct Held {
    pub account: std::sync::Arc<Account>,
    pub keys: Keys,
}

/// What one tap works with at the door.
pub(crate) struct Door<'a> {
    pub central: &'a dyn Central,
    /// The keys of every account the tap may open a door of: the nearest reader of any wins.
    pub held: &'a [Held],
    pub signer: &'a SharedSigner,
    pub timeouts: &'a Timeouts,
    /// The door the member chose (its cloud id); `None`: the nearest of theirs.
    pub only: Option<&'a str>,
    /// The last of the member's readers heard: a remote unlock's proof that the phone is at the
    /// door, should Bluetooth fail after the scan.
    pub heard: &'a std::sync::Mutex<Option<Heard>>,
}

/// A reader of the member's heard over the air, and when.
#[derive(Debug, Clone)]
pub(crate) struct Heard {
    pub reader: KnownReader,
    pub advertisement: Advertisement,
    pub at: Instant,
}

impl Heard {
    /// `target`, heard just now.
    pub(crate) fn now(target: &Target) -> Self {
        Self { reader: target.reader.clone(), advertisement: target.advertisement, at: Instant::now() }
    }
}

impl Door<'_> {
    /// Scans for the member's readers and returns the nearest, once the phone is close enough for
    /// it. `report` receives `Searching` and `TapRequired` as they happen.
    pub(crate) async fn find_reader(&self, report: &(dyn Fn(KeyButtonState) + Send + Sync)) -> Result<Target> {
        let Door { central, held, timeouts, only, heard, .. } = *self;
        let ours = |event: &mobile_access_ble::ScanEvent| {
            let target = ours(held, event).filter(|target| only.is_none_or(|door| target.reader.door_id == door))?;
            *heard.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Heard::now(&target));
            Some(target)
        };
        let candidates = held
            .iter()
            .flat_map(|held| held.keys.readers())
            .filter(|r| only.is_none_or(|door| r.door_id == door))
            .count();
        report(KeyButtonState::Searching);
        let mut scan = central.scan(ScanFilter::readers()).await.map_err(ble_error)?;
        let result = async {
            let (mut best, mut best_rssi) = within(Phase::Scan, timeouts.scan, async {
                loop {
                    let event = scan.next().await.ok_or(Error::NoReaderFound)?;
                    if let Some(target) = ours(&event) {
                        return Ok((target, event.rssi));
                    }
                }
            })
            .await
            .map_err(|e| if matches!(e, Error::Timeout { .. }) { Error::NoReaderFound } else { e })?;
            // Listen a little longer for a nearer reader, unless it is our only one or the phone
            // is already at tap distance of this one (nothing is nearer than touching it).
            let deadline = Instant::now() + timeouts.ranking_window;
            while candidates > 1 && !(best.reader.tap && touching(&best.advertisement, best_rssi)) {
                let Ok(Some(event)) = tokio::time::timeout_at(deadline, scan.next()).await else { break };
                if let Some(target) = ours(&event)
                    && nearer(path_loss(&target.advertisement, event.rssi), path_loss(&best.advertisement, best_rssi))
                {
                    (best, best_rssi) = (target, event.rssi);
                }
            }
            debug!(reader = %best.reader.id, rssi = %best_rssi, tap = best.reader.tap, "nearest reader");
            // A tap reader's threshold, or a range reader's maximum distance (−128: none).
            if too_far(&best.advertisement, best_rssi) {
                report(KeyButtonState::TapRequired);
                // Until the phone is measured at tap distance, or no longer measured at all (the
                // reader then decides).
                best = within(Phase::Scan, timeouts.tap, async {
                    loop {
                        let event = scan.next().await.ok_or(Error::NoReaderFound)?;
                        if let Some(target) = ours(&event)
                            && target.reader.id == best.reader.id
                            && !too_far(&target.advertisement, event.rssi)
                        {
                            return Ok(target);
                        }
                    }
                })
                .await?;
            } else if best.reader.tap && !best_rssi.is_known() {
                info!(reader = %best.reader.id, "tap reader heard without RSSI: connecting, the reader decides");
            }
            Ok(best)
        }
        .await;
        let _ = central.stop_scan().await;
        result
    }

    /// Connects to `target` and runs the exchange: one hello, answered fast by a reader that
    /// holds the phone's secret, with a full exchange on the same connection otherwise. An
    /// owner-verified credential (a door that requires owner verification) is signed for by
    /// `owner`, always in a full exchange: such a reader keeps no fast session.
    pub(crate) async fn exchange(
        &self,
        target: &Target,
        credential: &Credential,
        owner: Option<&dyn OwnerKey>,
        connected: &(dyn Fn() + Send + Sync),
    ) -> Result<(Answer, Duration, Duration)> {
        let Door { central, timeouts, .. } = *self;
        let keyring = &held_for(self.held, target)?.account.keyring;
        let rng = SystemRandom::new();
        let started = Instant::now();
        let link = within(Phase::Connect, timeouts.connect, async {
            match central.connect(&target.peripheral).await {
                // A failed GATT connection is often transient on real stacks (Android's status
                // 133; on BlueZ a bluez-async worker dying mid-discovery): one more attempt,
                // within the same time limit.
                Err(
                    error @ (mobile_access_ble::Error::Timeout(_)
                    | mobile_access_ble::Error::Backend(_)
                    | mobile_access_ble::Error::Disconnected { .. }),
                ) => {
                    info!(%error, "connect failed; trying once more");
                    central.connect(&target.peripheral).await
                }
                other => other,
            }
            .map_err(ble_error)
        })
        .instrument(info_span!("connect", reader = %target.reader.id))
        .await?;
        let connect_time = started.elapsed();
        connected();
        let started = Instant::now();
        let reader = target.reader.id;
        let secret = keyring.fast_secret(reader)?;
        // A secret made with an older credential (the key was renewed) cannot be used: the
        // hello then carries no fast request and the reader runs the full exchange.
        let fast = secret
            .as_ref()
            .filter(|secret| secret.credential == credential.body().id && !credential.body().owner_verified);
        let (exchange, hello) =
            Exchange::start(reader, target.advertisement.nonce, fast.map(|s| (s, credential)), &rng)?;
        let answer = within(Phase::Exchange, timeouts.exchange, async {
            let mut channel = MessageChannel::open(link, &hello).await.map_err(ble_error)?;
            let answer = match owner {
                Some(owner) => {
                    let signer = OwnerSigner::new(owner);
                    let answer = self.answer(&mut channel, exchange, target, credential, &signer).await;
                    answer.map_err(|error| signer.explain(error))
                }
                None => self.answer(&mut channel, exchange, target, credential, self.signer.as_ref()).await,
            };
            let _ = channel.close().await;
            answer
        })
        .instrument(info_span!("exchange", reader = %target.reader.id))
        .await?;
        Ok((answer, connect_time, started.elapsed()))
    }

    /// Reads the reader's answers to the hello already sent: a fast result ends it; a reader
    /// hello continues with the full exchange (which replaces the fast secret only on an
    /// authenticated grant). The phone's revocation list goes to a reader that proved itself and
    /// says it holds an older one: before the credential in a full exchange, after the answer
    /// in a fast one.
    async fn answer(
        &self,
        channel: &mut MessageChannel,
        exchange: Exchange,
        target: &Target,
        credential: &Credential,
        signer: &(dyn DeviceSigner + Send + Sync),
    ) -> Result<Answer> {
        // Only this reader's organization's: its anchors, its revocation list, its secrets.
        let Held { account, keys } = held_for(self.held, target)?;
        let keyring = &account.keyring;
        let reader = target.reader.id;
        let reply = channel.receive().await.map_err(ble_error)?;
        let list = crate::revocation::carried_list(keys);
        let outcome = match exchange.on_reply(&reply, keys.trust(), credential, signer)? {
            Step::Done(outcome) => {
                // After a fast answer: the door's decision never waits for the list, and a
                // failure here only means the next phone brings it.
                if let Some(list) = &list {
                    hand_over(channel, reader, list, outcome.list_delivery(list)).await;
                }
                outcome
            }
            Step::Authenticate(awaiting, auth) => {
                info!(%reader, "the reader runs a full exchange");
                // Before the credential, when the reader's signed hello says it is behind: it
                // applies the list (and its signed time) before judging the credential.
                if let Some(list) = &list {
                    hand_over(channel, reader, list, awaiting.list_delivery(list)).await;
                }
                channel.send(&auth).await.map_err(ble_error)?;
                let result = channel.receive().await.map_err(ble_error)?;
                let mut outcome = awaiting.on_result(&result)?;
                // A reader that requires owner verification never answers fast: no secret to keep.
                if let Some(secret) = outcome.fast_secret.take()
                    && !credential.body().owner_verified
                {
                    keyring.set_fast_secret(reader, Some(secret))?;
                }
                outcome
            }
        };
        let kind = match outcome.kind {
            mobile_access_protocol::reader::ExchangeKind::Fast => ExchangeKind::Fast,
            mobile_access_protocol::reader::ExchangeKind::Full => ExchangeKind::Full,
        };
        Ok(Answer { reason: outcome.reason, kind })
    }
}

/// Writes the sealed revocation list, if the reader needs it. Best effort: the exchange goes
/// on without it.
async fn hand_over(
    channel: &mut MessageChannel,
    reader: ReaderId,
    list: &mobile_access_protocol::SignedRevocationList,
    sealed: std::result::Result<Option<Vec<u8>>, mobile_access_protocol::Error>,
) {
    match sealed {
        Ok(Some(sealed)) => match channel.send(&sealed).await {
            Ok(()) => {
                debug!(%reader, sequence = list.list().sequence, bytes = sealed.len(), "revocation list handed over")
            }
            Err(error) => info!(%reader, %error, "revocation list not handed over"),
        },
        Ok(None) => {}
        Err(error) => info!(%reader, %error, "revocation list not sealed"),
    }
}

/// The keys `target` was found with (a target always comes from these keys).
pub(crate) fn held_for<'h>(held: &'h [Held], target: &Target) -> Result<&'h Held> {
    held.get(target.held).ok_or(Error::NoReaderFound)
}

/// The reader behind a scan event, if it is one of a door of the member's in any account, and
/// its advertisement decodes.
pub(crate) fn ours(held: &[Held], event: &mobile_access_ble::ScanEvent) -> Option<Target> {
    let advertisement = event.advertisement().ok()?;
    held.iter().enumerate().find_map(|(index, held)| {
        let reader = held.keys.reader(advertisement.reader)?.clone();
        Some(Target { held: index, reader, peripheral: event.peripheral.clone(), advertisement })
    })
}

/// Estimated path loss (dB): lower is nearer, whatever each reader's transmit power. `None`
/// when the RSSI is unknown.
fn path_loss(advertisement: &Advertisement, rssi: Rssi) -> Option<i16> {
    rssi.dbm().map(|dbm| i16::from(advertisement.tx_power).saturating_sub(dbm))
}

/// Whether a reader at path loss `candidate` is nearer than the best so far: a measured reader
/// is nearer than an unmeasured one (nothing says the unmeasured one is close), and of two
/// measured ones the lower path loss wins. Of two unmeasured ones the first heard stays.
fn nearer(candidate: Option<i16>, best: Option<i16>) -> bool {
    match (candidate, best) {
        (Some(candidate), Some(best)) => candidate < best,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// True if the phone is measured at tap distance of the reader.
fn touching(advertisement: &Advertisement, rssi: Rssi) -> bool {
    rssi.dbm().is_some_and(|dbm| dbm >= i16::from(advertisement.tap_rssi_threshold))
}

/// True if the phone is measured short of tap distance. An unknown RSSI is neither touching nor
/// too far: the phone cannot tell, so it never asks for a tap it could not see happen.
fn too_far(advertisement: &Advertisement, rssi: Rssi) -> bool {
    rssi.dbm().is_some_and(|dbm| dbm < i16::from(advertisement.tap_rssi_threshold))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use mobile_access_protocol::{Nonce, UnlockMode};
    use proptest::{collection::vec, prelude::*};

    use super::*;

    fn advertisement(tx_power: i8, tap_rssi_threshold: i8) -> Advertisement {
        Advertisement {
            reader: ReaderId([1; 8]),
            nonce: Nonce([0; 8]),
            mode: UnlockMode::Tap,
            tap_rssi_threshold,
            tx_power,
        }
    }

    fn rssi() -> impl Strategy<Value = Rssi> {
        prop_oneof![Just(Rssi::UNKNOWN), any::<i16>().prop_map(Rssi::from_dbm)]
    }

    /// The ranking `Door::find_reader` runs over the readers it hears (transmit power, RSSI):
    /// the index of the one it keeps.
    fn rank(heard: &[(i8, Rssi)]) -> Option<usize> {
        let mut best: Option<(usize, Option<i16>)> = None;
        for (index, (tx_power, rssi)) in heard.iter().enumerate() {
            let loss = path_loss(&advertisement(*tx_power, -55), *rssi);
            if best.is_none_or(|(_, best)| nearer(loss, best)) {
                best = Some((index, loss));
            }
        }
        best.map(|(index, _)| index)
    }

    #[test]
    fn a_measured_reader_is_nearer_than_one_heard_without_rssi_whatever_the_numbers() {
        let near_but_unknown = (-59, Rssi::UNKNOWN);
        let far_but_measured = (-59, Rssi::from_dbm(-90));
        assert_eq!(rank(&[near_but_unknown, far_but_measured]), Some(1));
        assert_eq!(rank(&[far_but_measured, near_but_unknown]), Some(0));
        // With nothing measured there is no basis: the first heard stays.
        assert_eq!(rank(&[(-59, Rssi::UNKNOWN), (-40, Rssi::UNKNOWN)]), Some(0));
    }

    proptest! {
        /// Whatever is heard, in whatever order: with any reader measured the pick is the first
        /// measured one with the lowest path loss, never an unmeasured one; with none measured,
        /// the first heard.
        #[test]
        fn a_reader_heard_without_rssi_never_ranks_nearer_than_a_measured_one(
            heard in vec((any::<i8>(), rssi()), 1..8),
        ) {
            let picked = rank(&heard).unwrap();
            let nearest_measured = heard
                .iter()
                .enumerate()
                .filter_map(|(index, (tx_power, rssi))| Some((index, path_loss(&advertisement(*tx_power, -55), *rssi)?)))
                .min_by_key(|(_, loss)| *loss);
            match nearest_measured {
                Some((index, _)) => prop_assert_eq!(picked, index),
                None => prop_assert_eq!(picked, 0),
            }
        }

        /// "Tap required" needs a measured RSSI below the threshold; an unknown one is neither
        /// at tap distance nor short of it.
        #[test]
        fn tap_required_is_decided_only_from_a_measured_rssi(threshold: i8, rssi in rssi()) {
            let advertisement = advertisement(-59, threshold);
            match rssi.dbm() {
                Some(dbm) => {
                    prop_assert_eq!(too_far(&advertisement, rssi), dbm < i16::from(threshold));
                    prop_assert_eq!(touching(&advertisement, rssi), !too_far(&advertisement, rssi));
                }
                None => prop_assert!(!too_far(&advertisement, rssi) && !touching(&advertisement, rssi)),
            }
        }
    }
}

//! Unlocking over the simulated radio, as a member at the door would notice it.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::Duration;

use mobile_access_ble::{
    Central, Error as BleError, ScanFilter, WriteType,
    sim::{Fault, Position, RadioProfile},
};
use mobile_access_protocol::{Message, REQUEST_CHARACTERISTIC_UUID, Reason, reader::ExchangeKind};
use mobile_access_reader::{Feedback, Light, Mode, Outcome, Sound};
use support::{TAP, UnlockError, World, drain};

/// Lets tasks that react at the same virtual instant (the reader concluding) run.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn granted() -> Feedback {
    Feedback::Signal { light: Light::Green, sound: Sound::Success, reason: Reason::Granted }
}

fn refused(reason: Reason) -> Feedback {
    Feedback::Signal { light: Light::Red, sound: Sound::Error, reason }
}

#[tokio::test(start_paused = true)]
async fn tap_distance_unlocks_three_metres_is_refused_until_the_phone_comes_close() {
    let world = World::new(RadioProfile::android(), 1);
    let reader = world.reader(1, 42, Position::default());
    let mut feedback = reader.feedback();
    let mut phone = world.phone(Position::new(3.0, 0.0), &[42]);

    let far = phone.unlock().await;
    assert!(matches!(far, Err(UnlockError::RefusedUnverified(Reason::NotCloseEnough))), "{far:?}");
    settle().await;
    assert_eq!(drain(&mut feedback), vec![refused(Reason::NotCloseEnough)]);
    assert!(!reader.relay_is_open());
    assert_eq!(reader.audit().last().unwrap().outcome, Outcome::Refused(Reason::NotCloseEnough));

    phone.move_to(TAP);
    let near = phone.unlock().await.unwrap();
    assert_eq!(near.exchange, ExchangeKind::Full);
    settle().await;
    assert_eq!(drain(&mut feedback), vec![granted(), Feedback::RelayOpened]);
    assert!(reader.relay_is_open());

    // Later taps use the fast exchange; the relay closes after its open time.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(drain(&mut feedback), vec![Feedback::RelayClosed]);
    assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Fast);
}

/// BlueZ's emulated controllers (CI) and chipsets reporting 127 measure no RSSI. A tap reader
/// then cannot tell a phone held against it from one across the street: it fails closed, with
/// the same red light and reason as a phone too far, and logs the attempt without an RSSI.
#[tokio::test(start_paused = true)]
async fn a_tap_reader_that_cannot_measure_the_phone_refuses_it_even_held_against_it() {
    let world = World::new(RadioProfile::android().without_rssi(), 11);
    let reader = world.reader(1, 42, Position::default());
    let mut feedback = reader.feedback();
    let mut phone = world.phone(TAP, &[42]);
    for attempt in 0..2 {
        let refused_tap = phone.unlock().await;
        assert!(
            matches!(refused_tap, Err(UnlockError::RefusedUnverified(Reason::NotCloseEnough))),
            "attempt {attempt}: {refused_tap:?}"
        );
        settle().await;
        assert_eq!(drain(&mut feedback), vec![refused(Reason::NotCloseEnough)], "attempt {attempt}");
        assert!(!reader.relay_is_open());
        let logged = reader.audit().last().unwrap().clone();
        assert_eq!((logged.outcome, logged.rssi), (Outcome::Refused(Reason::NotCloseEnough), None));
    }
    assert_eq!(reader.audit().len(), 2);
}

/// A range reader needs no RSSI: on controllers that report none it opens as anywhere else.
#[tokio::test(start_paused = true)]
async fn a_range_reader_unlocks_a_phone_it_cannot_measure() {
    let world = World::new(RadioProfile::ios().without_rssi(), 12);
    let reader = world.reader_in(Mode::Range, 1, 42, Position::default());
    let mut feedback = reader.feedback();
    let mut phone = world.phone(Position::new(3.0, 0.0), &[42]);
    assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Full);
    settle().await;
    assert_eq!(drain(&mut feedback), vec![granted(), Feedback::RelayOpened]);
    assert!(reader.relay_is_open());
    let logged = reader.audit().last().unwrap().clone();
    assert_eq!((logged.outcome, logged.rssi), (Outcome::Granted, None));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Fast);
}

/// The reader's own controller measures the phone even where the phone's stack has no RSSI
/// for the reader: the reader's threshold decides, as always.
#[tokio::test(start_paused = true)]
async fn a_tap_reader_that_measures_the_phone_decides_whatever_the_phone_measured() {
    let world = World::new(RadioProfile::android(), 13);
    let reader = world.reader(1, 42, Position::default());
    let mut phone = world.phone(Position::new(3.0, 0.0), &[42]);
    phone.sim.report_unknown_rssi_for(reader.peripheral_id());
    let far = phone.unlock().await;
    assert!(matches!(far, Err(UnlockError::RefusedUnverified(Reason::NotCloseEnough))), "{far:?}");
    assert!(reader.audit().last().unwrap().rssi.is_some_and(|dbm| dbm < -55));
    phone.move_to(TAP);
    phone.unlock().await.unwrap();
    settle().await;
    assert!(reader.relay_is_open());
}

#[tokio::test(start_paused = true)]
async fn with_two_readers_in_range_the_phone_opens_the_nearest() {
    for seed in 0..4 {
        let world = World::new(RadioProfile::ios(), seed);
        let near = world.reader(1, 42, Position::new(0.0, 0.0));
        let far = world.reader(2, 43, Position::new(0.45, 0.0));
        let mut phone = world.phone(Position::new(0.05, 0.0), &[42, 43]);
        phone.selection_window = Duration::from_millis(100);
        let unlocked = phone.unlock().await.unwrap();
        assert_eq!(unlocked.peripheral, *near.peripheral_id(), "seed {seed}");
        settle().await;
        assert!(near.relay_is_open());
        assert!(!far.relay_is_open());
        assert!(far.audit().is_empty());
    }
}

/// Stated bound: with 10 % of all packets (advertisements, connection requests, ATT PDUs) lost,
/// a first unlock (full exchange, uncached GATT) at 30 ms / MTU 185 still completes within
/// 1.5 s of virtual time; its lossless mean is 0.56 s (see docs/performance.md).
#[tokio::test(start_paused = true)]
async fn ten_percent_loss_still_unlocks_within_a_bounded_time() {
    let bound = Duration::from_millis(1500);
    for seed in 0..10 {
        let world = World::new(RadioProfile::ios().with_packet_loss(0.10), seed);
        let reader = world.reader(1, 42, Position::default());
        let mut phone = world.phone(TAP, &[42]);
        let started = tokio::time::Instant::now();
        phone.unlock().await.unwrap();
        let full = started.elapsed();
        settle().await;
        assert!(reader.relay_is_open());
        assert!(full <= bound, "seed {seed}: {full:?}");
        let started = tokio::time::Instant::now();
        assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Fast);
        assert!(started.elapsed() <= bound, "seed {seed}: fast {:?}", started.elapsed());
    }
}

/// Counts the ATT packets of one good unlock, then drops the link before each of them in turn.
async fn disconnect_at_every_step(first_unlock_full: bool) {
    let world = World::new(RadioProfile::android(), 5);
    let reader = world.reader(1, 42, Position::default());
    let mut phone = world.phone(TAP, &[42]);
    phone.unlock().await.unwrap(); // caches the GATT layout (and a fast secret)
    if first_unlock_full {
        phone.secrets.clear();
    }
    let secrets = phone.secrets.clone();
    world.radio.start_recording();
    let good = phone.unlock().await.unwrap();
    let packets = world.radio.recording().len() as u64;
    assert!(packets >= 4, "{packets}");
    for step in 0..packets {
        phone.secrets = secrets.clone();
        tokio::time::sleep(Duration::from_secs(6)).await; // relay closed again
        let mut feedback = reader.feedback();
        world.radio.inject(reader.peripheral_id(), Fault::DisconnectBeforePacket(step));
        let attempt = phone.unlock().await;
        assert!(matches!(attempt, Err(UnlockError::Ble(BleError::Disconnected { .. }))), "step {step}: {attempt:?}");
        settle().await;
        let seen = drain(&mut feedback);
        assert!(!seen.contains(&Feedback::RelayOpened), "step {step}: relay opened on a half exchange: {seen:?}");
        assert!(!reader.relay_is_open(), "step {step}");
        let retry = phone.unlock().await.unwrap();
        assert_eq!(retry.reader, good.reader);
        settle().await;
        assert!(drain(&mut feedback).contains(&Feedback::RelayOpened), "step {step}: retry did not open");
    }
    let interrupted = reader.audit().entries().filter(|e| matches!(e.outcome, Outcome::Interrupted(_))).count();
    assert!(interrupted >= 1, "the audit log records answers that never reached the phone");
}

#[tokio::test(start_paused = true)]
async fn a_disconnect_at_any_step_of_a_fast_exchange_never_opens_and_a_retry_does() {
    disconnect_at_every_step(false).await;
}

#[tokio::test(start_paused = true)]
async fn a_disconnect_at_any_step_of_a_full_exchange_never_opens_and_a_retry_does() {
    disconnect_at_every_step(true).await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_establishes_is_a_clear_error_and_a_retry_unlocks() {
    let world = World::new(RadioProfile::ios(), 2);
    let reader = world.reader(1, 42, Position::default());
    let mut phone = world.phone(TAP, &[42]);
    world.radio.inject(reader.peripheral_id(), Fault::FailConnect);
    let attempt = phone.unlock().await;
    assert!(matches!(attempt, Err(UnlockError::Ble(BleError::ConnectionFailed(_)))), "{attempt:?}");
    phone.unlock().await.unwrap();
}

/// Replays the phone's recorded writes from an attacker's phone held at the reader.
async fn replay(world: &World, writes: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let attacker = world.radio.add_central(TAP);
    let mut scan = attacker.scan(ScanFilter::readers()).await.unwrap();
    let peripheral = scan.next().await.unwrap().peripheral;
    drop(scan);
    let link = attacker.connect(&peripheral).await.unwrap();
    let mut replies = link.notifications(mobile_access_protocol::RESPONSE_CHARACTERISTIC_UUID).await.unwrap();
    let mut out = Vec::new();
    let mut reassembler = mobile_access_protocol::framing::Reassembler::new();
    for write in writes {
        link.write(REQUEST_CHARACTERISTIC_UUID, write, WriteType::WithoutResponse).await.unwrap();
        while let Ok(Some(fragment)) = tokio::time::timeout(Duration::from_millis(200), replies.next()).await {
            if let Some(message) = reassembler.push(&fragment).unwrap() {
                out.push(message);
            }
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn replayed_air_traffic_is_refused_with_a_red_light_and_logged() {
    let world = World::new(RadioProfile::ios(), 3);
    let reader = world.reader(1, 42, Position::default());
    let mut phone = world.phone(TAP, &[42]);

    world.radio.start_recording();
    assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Full);
    let full_writes = world.radio.recorded_writes();
    world.radio.start_recording();
    assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Fast);
    let fast_writes = world.radio.recorded_writes();
    tokio::time::sleep(Duration::from_secs(6)).await;

    // A replayed fast hello is not taken as a fast request again (its nonce is stale, and it
    // was answered): the reader answers it with its own hello, a full exchange that only the
    // phone's device key could finish. Nothing opens, nothing is decided yet.
    let mut feedback = reader.feedback();
    let before = reader.audit().len();
    let replies = replay(&world, &fast_writes).await;
    let last = Message::decode(replies.last().unwrap()).unwrap();
    assert!(matches!(last, Message::ReaderHello { .. }), "a replayed fast hello is not answered fast: {last:?}");
    settle().await;
    assert!(drain(&mut feedback).is_empty(), "no green light");
    assert!(!reader.relay_is_open());
    assert_eq!(reader.audit().len(), before);
    // A replayed full exchange: the recorded FullAuth no longer decrypts under the fresh keys.
    let before = reader.audit().len();
    let replies = replay(&world, &full_writes).await;
    let last = Message::decode(replies.last().unwrap()).unwrap();
    let Message::Rejected { reason } = last else { panic!("replay was not refused: {last:?}") };
    assert_eq!(reason, Reason::Malformed);
    settle().await;
    assert_eq!(drain(&mut feedback), vec![refused(reason)]);
    assert!(!reader.relay_is_open());
    let audit = reader.audit();
    assert_eq!(audit.len(), before + 1);
    assert_eq!(audit.last().unwrap().outcome, Outcome::Refused(reason));
}

#[tokio::test(start_paused = true)]
async fn a_tampered_reader_refuses_until_reset() {
    let world = World::new(RadioProfile::android(), 4);
    let reader = world.reader(1, 42, Position::default());
    let mut feedback = reader.feedback();
    let mut phone = world.phone(TAP, &[42]);
    phone.unlock().await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    drain(&mut feedback);

    reader.with(|r| r.trip_tamper());
    for _ in 0..2 {
        let attempt = phone.unlock().await;
        assert!(matches!(attempt, Err(UnlockError::RefusedUnverified(Reason::Tampered))), "{attempt:?}");
        settle().await;
        assert_eq!(drain(&mut feedback), vec![refused(Reason::Tampered)]);
        assert!(!reader.relay_is_open());
    }
    reader.with(|r| r.reset_tamper());
    assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Fast);
    settle().await;
    assert_eq!(drain(&mut feedback), vec![granted(), Feedback::RelayOpened]);
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_forgot_the_phone_falls_back_to_a_full_exchange_without_a_red_light() {
    let world = World::new(RadioProfile::android(), 6);
    let reader = world.reader(1, 42, Position::default());
    let mut phone = world.phone(TAP, &[42]);
    phone.unlock().await.unwrap();
    // Replaced hardware: same reader id, new key, no sessions.
    drop(reader);
    let reader = world.reader(1, 42, Position::default());
    let mut feedback = reader.feedback();
    assert_eq!(phone.unlock().await.unwrap().exchange, ExchangeKind::Full);
    settle().await;
    assert_eq!(drain(&mut feedback), vec![granted(), Feedback::RelayOpened]);
}

//! The Key Button where signal strength is not known: BlueZ with emulated controllers (what CI
//! runs) and some chipsets report 127 ("not available") or no RSSI at all. Range readers still
//! open; tap readers, which must see the phone held against them, refuse it; the phone never
//! takes a reader it cannot measure for the nearest and never asks for a tap it cannot see.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::Duration;

use mobile_access::{
    Error, KeyButtonState, TapOutcome,
    ble::sim::{Position, RadioProfile},
};
use mobile_access_harness::world::{AT_MAIN_ENTRANCE, AT_MEETING_ROOM, NEAR_MAIN_ENTRANCE};
use mobile_access_protocol::Reason;
use mobile_access_reader::{Feedback, FeedbackEvent, Light, Outcome, ReaderLink};
use support::*;
use tokio::sync::broadcast;

/// The meeting room's range reader in the demo site.
const MEETING_ROOM: usize = 1;
/// Out of radio range of everything (another building).
const FAR_AWAY: Position = Position::new(500.0, 0.0);

/// Everything the reader signalled so far, after letting it conclude.
async fn seen(feedback: &mut broadcast::Receiver<FeedbackEvent>) -> Vec<Feedback> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut out = Vec::new();
    while let Ok(event) = feedback.try_recv() {
        out.push(event.feedback);
    }
    out
}

#[tokio::test(start_paused = true)]
async fn on_controllers_without_rssi_a_range_reader_unlocks() {
    let world = World::on_radio(RadioProfile::ios().without_rssi(), "ada_member", AT_MEETING_ROOM).await;
    // With no RSSI at all the phone cannot rank readers: only this one is in range.
    world.site.reader(MAIN).unwrap().move_to(FAR_AWAY);
    let meeting_room = world.site.reader(MEETING_ROOM).unwrap();
    let mut feedback = meeting_room.feedback();

    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!(report.door, "Meeting room");
    assert!(!world.states.take().contains(&KeyButtonState::TapRequired));
    assert_eq!(next_light(&mut feedback).await, (Light::Green, Reason::Granted));
    assert!(meeting_room.relay_is_open());
    let logged = meeting_room.audit().last().unwrap().clone();
    assert_eq!((logged.outcome, logged.rssi), (Outcome::Granted, None));
}

#[tokio::test(start_paused = true)]
async fn on_controllers_without_rssi_a_tap_reader_refuses_even_a_phone_held_against_it() {
    let world = World::on_radio(RadioProfile::ios().without_rssi(), "ada_member", AT_MAIN_ENTRANCE).await;
    world.site.reader(MEETING_ROOM).unwrap().move_to(FAR_AWAY);
    let main = world.site.reader(MAIN).unwrap();
    let mut feedback = main.feedback();
    world.button.refresh().await.unwrap(); // the key is cached: the tap's time is all at the door
    world.states.take();

    let started = tokio::time::Instant::now();
    let error = world.button.tap().await.unwrap_err();
    // The phone did not wait for a tap it could not see: it connected and the reader said no.
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(error, Error::ReaderRefused(Reason::NotCloseEnough));
    assert_eq!(error.category(), mobile_access::ErrorCategory::Reader);
    assert_eq!(
        world.states.take(),
        [
            KeyButtonState::Searching,
            KeyButtonState::Unlocking,
            KeyButtonState::Failed(Error::ReaderRefused(Reason::NotCloseEnough))
        ]
    );
    let signalled = seen(&mut feedback).await;
    assert_eq!(
        signalled,
        [Feedback::Signal {
            light: Light::Red,
            sound: mobile_access_reader::Sound::Error,
            reason: Reason::NotCloseEnough
        }]
    );
    assert!(!main.relay_is_open());

    // A second try is refused the same way: the door never opens on a signal nobody measured.
    assert_eq!(world.button.tap().await.unwrap_err(), Error::ReaderRefused(Reason::NotCloseEnough));
    assert!(!seen(&mut feedback).await.contains(&Feedback::RelayOpened));
    let logged: Vec<_> = main.audit().entries().map(|e| (e.outcome, e.rssi)).collect();
    assert_eq!(logged, [(Outcome::Refused(Reason::NotCloseEnough), None); 2]);

    // The operator sees the attempts in the cloud's audit log, their RSSI unknown (null).
    let link = ReaderLink::new(world.cloud.base_url(), &world.site.provisioning[MAIN]).unwrap();
    assert_eq!(link.upload(main).await.unwrap().accepted, 2);
    let log = world.admin(reqwest::Method::GET, "/v1/admin/audit-log?limit=1000", None);
    let attempts: Vec<&serde_json::Value> =
        log["items"].as_array().unwrap().iter().filter(|e| e["action"] == "reader.attempt").collect();
    assert_eq!(attempts.len(), 2);
    for attempt in attempts {
        assert_eq!(attempt["detail"]["reason"], "notcloseenough");
        assert!(attempt["detail"]["rssi"].is_null(), "{attempt}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_reader_heard_without_rssi_is_not_taken_for_the_nearest() {
    // The meeting room (1.5 m) is measured; the main entrance (10.5 m) is heard without RSSI.
    let world = World::new("ada_member", AT_MEETING_ROOM).await;
    world.phone.report_unknown_rssi_for(world.site.reader(MAIN).unwrap().peripheral_id());
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!(report.door, "Meeting room");
    assert!(world.site.reader(MAIN).unwrap().audit().is_empty(), "the unmeasured reader was never tried");
}

#[tokio::test(start_paused = true)]
async fn a_phone_that_cannot_measure_a_tap_reader_lets_the_reader_decide_without_asking_for_a_tap() {
    // The phone's stack has no RSSI for the main entrance; the reader's controller measures
    // the phone as usual.
    let world = World::new("ada_member", NEAR_MAIN_ENTRANCE).await;
    world.site.reader(MEETING_ROOM).unwrap().move_to(FAR_AWAY);
    let main = world.site.reader(MAIN).unwrap();
    world.phone.report_unknown_rssi_for(main.peripheral_id());

    // Three metres away: no "hold your phone against the reader" that could never end; the
    // reader measures the phone too far and says so.
    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::ReaderRefused(Reason::NotCloseEnough));
    assert!(!world.states.take().contains(&KeyButtonState::TapRequired));
    assert!(!main.relay_is_open());

    // Held against it: the reader measures a tap and opens.
    world.phone.move_to(AT_MAIN_ENTRANCE);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(world.button.tap().await.unwrap().outcome, TapOutcome::Unlocked);
    assert!(!world.states.take().contains(&KeyButtonState::TapRequired));
    assert!(main.relay_is_open());
}

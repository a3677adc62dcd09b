//! Remote unlock end to end: the embedded cloud over real HTTP, the demo site's meeting-room
//! reader on the simulated radio running its link's command loop (the long poll), and the
//! member's Key Button. The member opens the door from anywhere where the organization allows
//! it; only with a reader heard at the door where it requires proximity; the tap falls back to
//! it only where allowed, and the report says which path opened the door.
//!
//! These tests run on real time, not the paused clock the other end-to-end tests use: the
//! reader's nonces rotate on the radio's clock while the cloud checks them on real time, and a
//! paused clock races ahead whenever the test waits on HTTP.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use mobile_access::{
    Error, KeyButton, RemoteUnlock, TapOutcome, UnlockPath,
    ble::{AdapterState, sim::Position},
};
use mobile_access_harness::world::AT_MEETING_ROOM;
use mobile_access_reader::{Feedback, FeedbackEvent, Light, ReaderLink, VirtualReader};
use support::*;
use tokio::sync::broadcast;

/// The meeting room's range reader in the demo site.
const MEETING_ROOM: usize = 1;
/// Out of radio range of every reader (at home).
const AT_HOME: Position = Position::new(5_000.0, 0.0);

/// The meeting room's door id, as the cloud lists the member's doors, once its reader is online.
async fn online_meeting_room(button: &KeyButton) -> String {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let listed = button.remote_doors().await.unwrap();
            if let Some(door) = listed.doors.iter().find(|d| d.name == "Meeting room" && d.reader_online) {
                return door.id.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the meeting room's reader came online")
}

/// Waits for the reader's next light (green comes with the relay opening, or staying open).
async fn opened(feedback: &mut broadcast::Receiver<FeedbackEvent>) -> Light {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Feedback::Signal { light, .. } = feedback.recv().await.unwrap().feedback {
                return light;
            }
        }
    })
    .await
    .expect("the reader signalled")
}

/// Runs `body` while the meeting room's reader serves commands from the cloud.
async fn with_online_reader(world: &World, body: impl Future<Output = ()>) {
    let reader: &VirtualReader = world.site.reader(MEETING_ROOM).unwrap();
    let link = ReaderLink::new(world.cloud.base_url(), &world.site.provisioning[MEETING_ROOM]).unwrap();
    tokio::select! {
        () = link.serve_commands(reader) => unreachable!("the command loop runs forever"),
        () = body => {}
    }
}

fn audit_count(world: &World, action: &str) -> usize {
    let log = world.admin(reqwest::Method::GET, "/v1/admin/audit-log?limit=1000", None);
    log["items"].as_array().unwrap().iter().filter(|e| e["action"] == action).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_at_home_opens_the_door_remotely_within_a_second_where_allowed() {
    let world = World::new("ada_member", AT_HOME).await;
    world.phone.set_adapter_state(AdapterState::PoweredOff);
    let mut feedback = world.site.reader(MEETING_ROOM).unwrap().feedback();
    with_online_reader(&world, async {
        // Off by default: refused, and the door stays shut.
        world.button.refresh().await.unwrap();
        let door = online_meeting_room(&world.button).await;
        assert_eq!(world.button.remote_doors().await.unwrap().policy, RemoteUnlock::Off);
        let refused = world.button.unlock_remotely(&door).await.unwrap_err();
        assert_eq!(refused, Error::RemoteUnlockOff);
        assert_eq!(refused.sentence(), "Your workspace doesn't allow opening doors from a distance.");

        world.admin_settings(serde_json::json!({"remote_unlock": "allowed"})).await;
        let asked = Instant::now();
        let report = world.button.unlock_remotely(&door).await.unwrap();
        let took = asked.elapsed();
        let light = opened(&mut feedback).await;
        assert!(world.site.reader(MEETING_ROOM).unwrap().relay_is_open());
        eprintln!("remote unlock: the member heard back {took:?} after asking, the relay open");
        assert!(took < Duration::from_secs(1), "opened within a second of wall time: {took:?}");
        assert_eq!(light, Light::Green, "the reader shows the opening to whoever is at the door");
        assert_eq!((report.outcome, report.path, report.exchange), (TapOutcome::Unlocked, UnlockPath::Remote, None));
        assert_eq!(report.door, "Meeting room");
        assert_eq!(report.reader, world.site.provisioning[MEETING_ROOM].reader_id);
        assert!(world.button.pending_journal().iter().any(|e| e.exchange.as_deref() == Some("remote")));
        // And it locks again after its open time, as after a tap: nobody was there to tap.
        let open_for = Duration::from_millis(u64::from(world.site.provisioning[MEETING_ROOM].relay_open_ms));
        tokio::time::sleep(open_for + Duration::from_millis(500)).await;
        assert!(!world.site.reader(MEETING_ROOM).unwrap().relay_is_open(), "the door locked again");
    })
    .await;
    assert_eq!(audit_count(&world, "door.remote_unlock"), 2, "the refusal and the opening");
    assert_eq!(audit_count(&world, "reader.command_result"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_proximity_is_required_only_a_phone_that_heard_the_reader_opens_remotely() {
    let timeouts = mobile_access::Timeouts { scan: Duration::from_secs(2), ..mobile_access::Timeouts::default() };
    let world = World::with_timeouts("ada_member", AT_HOME, timeouts).await;
    world.admin_settings(serde_json::json!({"remote_unlock": "proximity_required"})).await;
    let mut feedback = world.site.reader(MEETING_ROOM).unwrap().feedback();
    with_online_reader(&world, async {
        world.button.refresh().await.unwrap();
        let door = online_meeting_room(&world.button).await;

        // At home, Bluetooth on: no reader heard, no proof, refused by the cloud.
        let refused = world.button.unlock_remotely(&door).await.unwrap_err();
        assert!(matches!(refused, Error::ProximityRequired(_)), "{refused:?}");
        assert_eq!(refused.next_step(), mobile_access::NextStep::MoveCloser);
        // A tap there finds no reader, and without a proof does not fall back either.
        assert_eq!(world.button.tap_door(&door).await.unwrap_err(), Error::NoReaderFound);

        // At the door with Bluetooth on: the phone hears the reader's current nonce, and the
        // cloud takes it as proof.
        world.phone.move_to(AT_MEETING_ROOM);
        let report = world.button.unlock_remotely(&door).await.unwrap();
        assert_eq!((report.outcome, report.path), (TapOutcome::Unlocked, UnlockPath::Remote));
        assert_eq!(opened(&mut feedback).await, Light::Green);
    })
    .await;
    // Refused once (the tap without a proof never asked), opened once.
    assert_eq!(audit_count(&world, "door.remote_unlock"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_with_bluetooth_off_falls_back_to_remote_unlock_only_where_allowed() {
    let world = World::new("ada_member", AT_MEETING_ROOM).await;
    let mut feedback = world.site.reader(MEETING_ROOM).unwrap().feedback();
    with_online_reader(&world, async {
        world.button.refresh().await.unwrap();
        let door = online_meeting_room(&world.button).await;
        // A first tap over Bluetooth, for the key and to show the path it reports.
        let report = world.button.tap_door(&door).await.unwrap();
        assert_eq!(report.path, UnlockPath::Bluetooth);
        assert!(report.exchange.is_some());
        opened(&mut feedback).await;

        world.phone.set_adapter_state(AdapterState::PoweredOff);
        // Remote unlock off: the tap's own error, what the member can fix.
        assert_eq!(world.button.tap_door(&door).await.unwrap_err(), Error::BluetoothOff);
        // Proximity required: the reader heard moments ago (the tap before) is the proof.
        world.admin_settings(serde_json::json!({"remote_unlock": "proximity_required"})).await;
        world.button.refresh().await.unwrap();
        let report = world.button.tap_door(&door).await.unwrap();
        assert_eq!(report.path, UnlockPath::Remote);
        assert_eq!(opened(&mut feedback).await, Light::Green);
        // Some seconds later that hearing is no proof any more: the tap's own error.
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(world.button.tap_door(&door).await.unwrap_err(), Error::BluetoothOff);

        // Allowed: the tap opens the door over the network and says so.
        world.admin_settings(serde_json::json!({"remote_unlock": "allowed"})).await;
        world.button.refresh().await.unwrap();
        let report = world.button.tap_door(&door).await.unwrap();
        assert_eq!((report.outcome, report.path, report.exchange), (TapOutcome::Unlocked, UnlockPath::Remote, None));
        assert_eq!(report.door, "Meeting room");
        assert_eq!(opened(&mut feedback).await, Light::Green);
    })
    .await;
    assert_eq!(audit_count(&world, "door.remote_unlock"), 2, "only the fallbacks asked the cloud");
}

/// The push path's reconnects: the reader's first polls fail (the cloud unreachable), and it
/// comes online after its backoff; then the answer carrying a command is lost on the way to the
/// reader, which gets the command again at its next poll and opens once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readers_long_poll_reconnects_and_a_lost_answer_loses_no_command() {
    let world = World::new("ada_member", AT_HOME).await;
    world.phone.set_adapter_state(AdapterState::PoweredOff);
    world.admin_settings(serde_json::json!({"remote_unlock": "allowed"})).await;
    let proxy = FlakyProxy::start(world.cloud.base_url(), 2);
    let reader = world.site.reader(MEETING_ROOM).unwrap();
    let link = ReaderLink::new(&proxy.base_url(), &world.site.provisioning[MEETING_ROOM]).unwrap();
    let mut feedback = reader.feedback();
    tokio::select! {
        () = link.serve_commands(reader) => unreachable!("the command loop runs forever"),
        () = async {
            world.button.refresh().await.unwrap();
            let door = online_meeting_room(&world.button).await;
            assert_eq!(proxy.failures_served(), 2, "online after two failed polls and their backoff");
            // The reader's poll is held open; the answer that will carry the command is lost.
            tokio::time::sleep(Duration::from_millis(300)).await;
            proxy.lose_next(1);
            let asked = Instant::now();
            let report = world.button.unlock_remotely(&door).await.unwrap();
            eprintln!("remote unlock with the reader's answer lost once: {:?}", asked.elapsed());
            assert_eq!((report.outcome, report.path), (TapOutcome::Unlocked, UnlockPath::Remote));
            assert_eq!(opened(&mut feedback).await, Light::Green);
            // Once: the command came with one more poll only, and the reader never acts twice.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let again = std::iter::from_fn(|| feedback.try_recv().ok())
                .filter(|event| matches!(event.feedback, Feedback::Signal { .. }))
                .count();
            assert_eq!(again, 0, "the door opened once");
        } => {}
    }
}

//! The Key Button end to end: the SDK against the real cloud on loopback (SQLite, the demo
//! organization) and virtual readers on the simulated radio, on tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{sync::Arc, time::Duration};

use mobile_access::{
    Error, ExchangeKind, KeyButton, KeyButtonState, Phase, Screen, StateListener, TapOutcome, Timeouts,
};
use mobile_access_harness::world::{AT_MAIN_ENTRANCE, NEAR_MAIN_ENTRANCE};
use mobile_access_protocol::Reason;
use mobile_access_reader::{Light, Outcome};
use support::*;

#[tokio::test(start_paused = true)]
async fn the_first_tap_validates_downloads_once_and_unlocks_with_a_green_light() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let mut feedback = world.site.reader(MAIN).unwrap().feedback();
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!(report.http_requests, 1, "validate and download in one request");
    assert_eq!(report.exchange, Some(ExchangeKind::Full));
    assert_eq!(report.door, "Main entrance");
    assert_eq!(
        world.states.take(),
        [
            KeyButtonState::Hidden,
            KeyButtonState::Validating,
            KeyButtonState::DownloadingKey,
            KeyButtonState::Searching,
            KeyButtonState::Unlocking,
            KeyButtonState::Unlocked
        ]
    );
    assert_eq!(next_light(&mut feedback).await, (Light::Green, Reason::Granted));
    assert!(world.site.reader(MAIN).unwrap().relay_is_open());
    // The key is cached for a day: that is how long the phone unlocks with no network.
    let offline = world.button.offline_validity();
    assert!(offline > Duration::from_secs(23 * 3600) && offline <= Duration::from_secs(24 * 3600), "{offline:?}");
    assert!(report.timings.radio() > Duration::ZERO && report.timings.radio() < Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn later_taps_need_no_network_even_after_a_restart() {
    let mut world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    world.button.tap().await.unwrap();
    world.cloud.stop().unwrap();
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!(report.http_requests, 0);
    assert_eq!(report.exchange, Some(ExchangeKind::Fast), "the reader was met before");
    // The app restarts: keys and fast secrets come back from secure storage.
    let restarted = world.button_again();
    let report = restarted.tap().await.unwrap();
    assert_eq!(
        (report.outcome, report.http_requests, report.exchange),
        (TapOutcome::Unlocked, 0, Some(ExchangeKind::Fast))
    );
    assert_eq!(restarted.http_requests(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_button_shows_only_on_the_home_screen_for_members_with_an_access_group() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    world.button.set_screen(Screen::Home);
    assert!(!world.button.is_visible(), "unknown access: hidden until the first refresh");
    let access = world.button.refresh().await.unwrap();
    assert!(access.has_access_group);
    assert!(world.button.is_visible());
    assert_eq!(world.button.state(), KeyButtonState::Ready);
    world.button.set_screen(Screen::Other);
    assert_eq!(world.button.state(), KeyButtonState::Hidden);

    let nick = World::new("nick_nogroup", AT_MAIN_ENTRANCE).await;
    nick.button.set_screen(Screen::Home);
    let access = nick.button.refresh().await.unwrap();
    assert!(!access.has_access_group);
    assert!(!nick.button.is_visible());
    assert_eq!(nick.button.state(), KeyButtonState::Hidden);
    // A tap anyway (a stale UI) gets the clear error, and nothing at the door.
    let error = nick.button.tap().await.unwrap_err();
    assert_eq!(error, Error::NoAccessGroup);
    assert_eq!(error.category(), mobile_access::ErrorCategory::Access);
    assert!(nick.site.reader(MAIN).unwrap().audit().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unconfirmed_user_under_branded_app_is_refused_clearly() {
    let world = World::new("una_unconfirmed", AT_MAIN_ENTRANCE).await;
    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::NotConfirmed);
    assert!(error.to_string().contains("not confirmed"));
    assert_eq!(world.button.state(), KeyButtonState::Failed(Error::NotConfirmed));
    assert!(world.site.reader(MAIN).unwrap().audit().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_tap_reader_asks_for_a_tap_until_the_phone_comes_close() {
    let world = World::new("ada_member", NEAR_MAIN_ENTRANCE).await;
    let (report, ()) = tokio::join!(world.button.tap(), async {
        world.states.wait_for(&KeyButtonState::TapRequired).await;
        assert!(!world.site.reader(MAIN).unwrap().relay_is_open());
        tokio::time::sleep(Duration::from_millis(800)).await; // the member walks up
        world.phone.move_to(AT_MAIN_ENTRANCE);
    });
    let report = report.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert!(report.timings.scan >= Duration::from_millis(800), "{:?}", report.timings);
    let states = world.states.take();
    let tap = states.iter().position(|s| *s == KeyButtonState::TapRequired).unwrap();
    let unlocking = states.iter().position(|s| *s == KeyButtonState::Unlocking).unwrap();
    assert!(tap < unlocking);
}

#[tokio::test(start_paused = true)]
async fn a_tap_reader_that_is_never_tapped_times_out_cleanly() {
    let timeouts = Timeouts { tap: Duration::from_secs(5), ..Timeouts::default() };
    let world = World::with_timeouts("ada_member", NEAR_MAIN_ENTRANCE, timeouts).await;
    world.button.refresh().await.unwrap(); // the key is cached: the tap's time is all at the door
    let started = tokio::time::Instant::now();
    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::Timeout { phase: Phase::Scan });
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(5) && waited < Duration::from_secs(6), "{waited:?}");
    assert!(world.site.reader(MAIN).unwrap().audit().is_empty(), "nothing reached the reader");
    assert!(!world.site.reader(MAIN).unwrap().relay_is_open());
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_is_refreshed_once_and_the_refusal_is_reported() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    world.button.tap().await.unwrap();
    // The reader is told of a revocation the cloud's keys do not clear.
    world.site.reader(MAIN).unwrap().with(|reader| reader.set_revocation_epoch(1));
    let mut feedback = world.site.reader(MAIN).unwrap().feedback();
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Denied(Reason::Revoked));
    assert!(report.key_refreshed);
    assert_eq!(report.http_requests, 1, "one refresh, no loop");
    assert_eq!(world.button.state(), KeyButtonState::Denied(Reason::Revoked));
    assert_eq!(next_light(&mut feedback).await, (Light::Red, Reason::Revoked));
}

#[tokio::test(start_paused = true)]
async fn a_key_the_reader_sees_as_expired_is_refreshed_and_the_retry_unlocks() {
    // The readers' clocks run two minutes ahead; the cloud first issues one-minute keys.
    let world = World::build("ada_member", AT_MAIN_ENTRANCE, Timeouts::default(), Duration::from_secs(120)).await;
    world.admin_settings(serde_json::json!({ "key_validity_secs": 60 })).await;
    world.button.refresh().await.unwrap();
    world.admin_settings(serde_json::json!({ "key_validity_secs": 86_400 })).await;
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert!(report.key_refreshed);
    assert_eq!(report.http_requests, 1);
    let outcomes: Vec<Outcome> = world.site.reader(MAIN).unwrap().audit().entries().map(|e| e.outcome).collect();
    assert_eq!(outcomes, [Outcome::Refused(Reason::Expired), Outcome::Granted]);
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_and_an_unreachable_cloud_is_a_clear_network_error() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let proxy = FlakyProxy::start(world.cloud.base_url(), 2);
    let button = world.button_via(&proxy.base_url());
    let report = button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!(report.http_requests, 3, "503, 503, then 200");
    assert_eq!(proxy.failures_served(), 2);

    let unreachable = world.button_via(&dead_url());
    let error = unreachable.tap().await.unwrap_err();
    assert!(matches!(error, Error::Network(_)), "{error:?}");
    assert_eq!(error.category(), mobile_access::ErrorCategory::Network);
    assert_eq!(unreachable.http_requests(), 4, "every attempt, then a clear error");
}

#[tokio::test(start_paused = true)]
async fn a_second_tap_while_one_runs_is_reported_busy_and_the_door_opens_once() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let (first, second) = tokio::join!(world.button.tap(), async {
        world.states.wait_for(&KeyButtonState::Validating).await;
        world.button.tap().await
    });
    assert_eq!(first.unwrap().outcome, TapOutcome::Unlocked);
    assert_eq!(second.unwrap_err(), Error::Busy);
    let granted = world.site.reader(MAIN).unwrap().audit().entries().filter(|e| e.outcome == Outcome::Granted).count();
    assert_eq!(granted, 1);
    assert_eq!(world.button.state(), KeyButtonState::Unlocked, "the busy tap changed nothing");
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_a_tap_waiting_at_the_door() {
    let world = World::new("ada_member", NEAR_MAIN_ENTRANCE).await;
    let (result, ()) = tokio::join!(world.button.tap(), async {
        world.states.wait_for(&KeyButtonState::TapRequired).await;
        world.button.cancel();
    });
    assert_eq!(result.unwrap_err(), Error::Cancelled);
    // A cancel is nobody's error: the button goes back to what the screen shows, no red flash.
    assert!(!world.states.take().iter().any(|s| matches!(s, KeyButtonState::Failed(_))));
    assert_eq!(world.button.state(), KeyButtonState::Hidden, "the world's app never showed the home screen");
    // The button is free again.
    world.phone.move_to(AT_MAIN_ENTRANCE);
    assert_eq!(world.button.tap().await.unwrap().outcome, TapOutcome::Unlocked);
}

/// Bluetooth switched off shows before the tap as what to do, and a tap meanwhile fails at once
/// with its own error (no key download first), which the app can send the member to settings for.
#[tokio::test(start_paused = true)]
async fn bluetooth_off_is_guidance_before_the_tap_and_a_distinct_error_during_it() {
    use mobile_access::{Requirement, RequirementsListener};
    struct Seen(std::sync::Mutex<Vec<Vec<Requirement>>>);
    impl RequirementsListener for Seen {
        fn on_requirements(&self, requirements: Vec<Requirement>) {
            self.0.lock().unwrap().push(requirements);
        }
    }
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let seen = Arc::new(Seen(std::sync::Mutex::default()));
    let _handle = world.button.add_requirements_listener(seen.clone());
    assert!(world.button.check_requirements().await.is_empty());

    world.phone.set_adapter_state(mobile_access::ble::AdapterState::PoweredOff);
    assert_eq!(world.button.check_requirements().await, [Requirement::TurnOnBluetooth]);
    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::BluetoothOff);
    assert_eq!(error.category(), mobile_access::ErrorCategory::Bluetooth);
    assert_eq!(error.next_step(), mobile_access::NextStep::TurnOnBluetooth);
    assert_eq!(world.button.http_requests(), 0, "no key download for a phone that cannot scan");

    world.phone.set_adapter_state(mobile_access::ble::AdapterState::Unauthorized);
    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::BluetoothUnauthorized, "a refused permission is not 'Bluetooth off'");
    assert_eq!(error.next_step(), mobile_access::NextStep::GrantPermissions);
    assert_eq!(world.button.requirements(), [Requirement::GrantPermissions { permissions: vec![] }]);

    world.phone.set_adapter_state(mobile_access::ble::AdapterState::PoweredOn);
    assert!(world.button.check_requirements().await.is_empty());
    assert_eq!(world.button.tap().await.unwrap().outcome, TapOutcome::Unlocked);
    // Each change told once, in order, starting with the list as known when the listener came.
    assert_eq!(
        *seen.0.lock().unwrap(),
        [
            vec![],
            vec![Requirement::TurnOnBluetooth],
            vec![Requirement::GrantPermissions { permissions: vec![] }],
            vec![],
        ]
    );
}

/// The operator's cloud stops serving this SDK: the member is told to update the app before the
/// next tap, the key on the phone still opens the door meanwhile, and the guidance goes once the
/// cloud serves the app again.
#[tokio::test(start_paused = true)]
async fn an_outdated_app_is_told_to_update_and_its_key_still_opens_the_door() {
    use mobile_access::{Requirement, RequirementsListener};
    use mobile_access_cloud::sdk_version::SdkVersion;
    struct Seen(std::sync::Mutex<Vec<Vec<Requirement>>>);
    impl RequirementsListener for Seen {
        fn on_requirements(&self, requirements: Vec<Requirement>) {
            self.0.lock().unwrap().push(requirements);
        }
    }
    let mut world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let seen = Arc::new(Seen(std::sync::Mutex::default()));
    let _handle = world.button.add_requirements_listener(seen.clone());
    world.button.refresh().await.unwrap();
    // The operator restarts the cloud, on the same address, with a minimum SDK above this one.
    let address: std::net::SocketAddr = world.cloud.base_url().trim_start_matches("http://").parse().unwrap();
    let serving = move |oldest: SdkVersion| {
        move |config: &mut mobile_access_cloud::Config| {
            config.listen = address;
            config.min_sdk_version = Some(oldest);
        }
    };
    world.cloud.restart_with(serving(SdkVersion(999, 0, 0))).unwrap();

    let error = world.button.refresh().await.unwrap_err();
    assert!(matches!(error, Error::AppUpdateRequired(_)), "{error:?}");
    assert_eq!(error.next_step(), mobile_access::NextStep::UpdateApp);
    assert_eq!(world.button.requirements(), [Requirement::UpdateApp]);
    assert_eq!(world.button.tap().await.unwrap().outcome, TapOutcome::Unlocked, "the cached key still opens");
    assert_eq!(world.button.requirements(), [Requirement::UpdateApp], "until the cloud serves the app again");

    world.cloud.restart_with(serving(SdkVersion(0, 0, 1))).unwrap();
    world.button.refresh().await.unwrap();
    assert!(world.button.requirements().is_empty());
    assert_eq!(*seen.0.lock().unwrap(), [vec![], vec![Requirement::UpdateApp], vec![]], "each change told once");
}

#[tokio::test(start_paused = true)]
async fn the_nearest_of_the_members_readers_opens() {
    use mobile_access_harness::world::AT_MEETING_ROOM;
    // Both the main entrance (10.5 m away) and the meeting room (1.5 m) are in radio range.
    let world = World::new("ada_member", AT_MEETING_ROOM).await;
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!(report.door, "Meeting room");
    assert!(world.site.reader(MAIN).unwrap().audit().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_key_near_its_expiry_is_renewed_silently_by_refresh_and_only_then() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    world.admin_settings(serde_json::json!({ "key_validity_secs": 60 })).await;
    world.button.refresh().await.unwrap();
    let short = world.button.key_expires_at().unwrap();
    assert!(world.button.offline_validity() <= Duration::from_secs(60));
    world.admin_settings(serde_json::json!({ "key_validity_secs": 86_400 })).await;
    let before = world.button.http_requests();
    world.button.refresh().await.unwrap();
    assert_eq!(world.button.http_requests() - before, 2, "access, then the due key");
    assert!(world.button.key_expires_at().unwrap() > short);
    assert!(world.button.offline_validity() > Duration::from_secs(23 * 3600));
    // A fresh key is left alone: only the access check goes out.
    let before = world.button.http_requests();
    world.button.refresh().await.unwrap();
    assert_eq!(world.button.http_requests() - before, 1);
    // And the renewed key opens the door with no request at all.
    assert_eq!(world.button.tap().await.unwrap().http_requests, 0);
}

#[tokio::test(start_paused = true)]
async fn a_suspended_mobile_key_gets_no_new_key_and_says_so() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    world.admin_settings(serde_json::json!({ "key_validity_secs": 60 })).await;
    world.button.refresh().await.unwrap();
    let credentials = world.admin(reqwest::Method::GET, "/v1/admin/credentials", None);
    let mobile_key = credentials["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "mobile_key")
        .unwrap_or_else(|| panic!("no mobile key in {credentials}"));
    let path = format!("/v1/admin/credentials/{}/suspend", mobile_key["id"].as_str().unwrap());
    world.admin(reqwest::Method::POST, &path, None);
    // The short key is due: the silent renewal is refused, with the reason the app can show.
    let error = world.button.refresh().await.unwrap_err();
    assert_eq!(error, Error::CredentialSuspended);
    assert!(error.to_string().contains("suspended"));
}

#[tokio::test(start_paused = true)]
async fn tap_results_reach_the_audit_log_once_despite_failed_uploads_and_lost_answers() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let proxy = FlakyProxy::start(world.cloud.base_url(), 0);
    let button = world.button_via(&proxy.base_url());
    for _ in 0..3 {
        assert_eq!(button.tap().await.unwrap().outcome, TapOutcome::Unlocked);
    }
    assert_eq!(button.pending_journal().len(), 3, "every result is kept until acknowledged");
    // The cloud is unreachable: nothing is lost.
    proxy.fail_next(100);
    assert!(matches!(button.upload_journal().await, Err(Error::Network(_))));
    assert_eq!(button.pending_journal().len(), 3);
    // Back, but the first answer is lost after the cloud stored everything: the retry is counted
    // as duplicates and the journal empties.
    proxy.fail_next(0);
    proxy.lose_next(1);
    let report = button.upload_journal().await.unwrap();
    assert_eq!((report.accepted, report.duplicates), (0, 3));
    assert!(button.pending_journal().is_empty());
    let log = world.admin(reqwest::Method::GET, "/v1/admin/audit-log?limit=1000", None);
    let unlocks = log["items"].as_array().unwrap().iter().filter(|e| e["action"] == "app.unlock").count();
    assert_eq!(unlocks, 3, "each tap once");
}

#[tokio::test(start_paused = true)]
async fn a_fake_reader_refusing_in_the_clear_does_not_make_the_phone_forget_its_fast_secret() {
    use mobile_access_ble::sim::Position;
    use mobile_access_protocol::{OrgId, OrganizationKey};
    use mobile_access_reader::{Provisioning, VirtualReader, VirtualReaderOptions};

    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    assert_eq!(world.button.tap().await.unwrap().exchange, Some(ExchangeKind::Full));
    tokio::time::sleep(Duration::from_secs(6)).await;

    // A keyless impostor copies the main entrance's reader id and stands at the door; the genuine
    // reader is out of reach. It knows no session, so it refuses the fast request in the clear.
    let genuine = world.site.reader(MAIN).unwrap();
    genuine.move_to(Position::new(500.0, 0.0));
    let rng = ring::rand::SystemRandom::new();
    let rogue = OrganizationKey::generate(OrgId([0xee; 8]), &rng).unwrap();
    let copied = &world.site.provisioning[MAIN];
    let fake = Provisioning::generate(&rogue, copied.reader_id, copied.lock, "Main entrance", &rng).unwrap();
    let at = VirtualReaderOptions::at(Position::new(0.0, 0.0), mobile_access_harness::world::wall_clock());
    let impostor =
        VirtualReader::spawn_as(&world.site.radio, mobile_access_ble::PeripheralId::new("impostor"), &fake, at)
            .unwrap();
    assert!(matches!(world.button.tap().await, Err(Error::ReaderNotGenuine(_))), "the impostor cannot prove itself");
    drop(impostor);
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Back at the genuine reader, the phone still holds its secret: one fast round trip.
    genuine.move_to(Position::new(0.0, 0.0));
    let report = world.button.tap().await.unwrap();
    assert_eq!((report.outcome, report.exchange), (TapOutcome::Unlocked, Some(ExchangeKind::Fast)));
}

#[tokio::test(start_paused = true)]
async fn a_range_reader_with_a_maximum_distance_is_not_tried_from_beyond_it() {
    use mobile_access_ble::sim::Position;
    use mobile_access_harness::world::AT_MEETING_ROOM;
    use mobile_access_reader::{VirtualReader, VirtualReaderOptions};

    let timeouts = Timeouts { tap: Duration::from_secs(2), ..Timeouts::default() };
    let world = World::with_timeouts("ada_member", AT_MEETING_ROOM, timeouts).await;
    world.button.refresh().await.unwrap();
    // The meeting room's range reader, provisioned with a maximum distance of a few centimetres.
    const MEETING: usize = 1;
    world.site.reader(MEETING).unwrap().move_to(Position::new(500.0, 0.0));
    let mut provisioning = world.site.provisioning[MEETING].clone();
    provisioning.range_rssi_floor = Some(-45);
    let at = VirtualReaderOptions::at(Position::new(12.0, 0.0), mobile_access_harness::world::wall_clock());
    let bounded =
        VirtualReader::spawn_as(&world.site.radio, mobile_access_ble::PeripheralId::new("bounded"), &provisioning, at)
            .unwrap();

    // 1.5 m away: the phone waits to come closer instead of trying (and being refused).
    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::Timeout { phase: Phase::Scan });
    assert!(bounded.audit().is_empty(), "nothing reached the reader");
    assert!(world.states.take().contains(&KeyButtonState::TapRequired));

    world.phone.move_to(Position::new(11.98, 0.0));
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert!(bounded.relay_is_open());
}

/// Nothing a phone writes links two of its taps or tells two members apart: over Ada's first
/// (full) and later (fast) taps and Grace's, at the same door, no 8 bytes repeat between any
/// two taps, each kind of tap writes the same lengths whoever taps, and the organization's
/// signed revocation list the phones carry (a reader that is behind gets it) never crosses the
/// air in the clear.
#[tokio::test(start_paused = true)]
async fn nothing_a_phone_writes_links_its_taps_or_tells_members_apart() {
    use std::collections::HashSet;

    use mobile_access_harness::world::{key_button, new_phone_storage};

    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let grace_token = world.cloud.member("grace_staff").unwrap().token.clone();
    let grace_phone = world.site.phone(AT_MAIN_ENTRANCE);
    let grace = key_button(world.cloud.base_url(), &grace_token, grace_phone, new_phone_storage(), Timeouts::default())
        .unwrap();
    grace.set_screen(Screen::Home);
    // Something revoked and restored: both phones carry a signed list newer than the reader's.
    grace.refresh().await.unwrap();
    let credentials = world.admin(reqwest::Method::GET, "/v1/admin/credentials", None);
    let grace_id = world.cloud.member("grace_staff").unwrap().member_id.clone();
    let key = credentials["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "mobile_key" && c["member_id"] == grace_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.admin(reqwest::Method::POST, &format!("/v1/admin/credentials/{key}/suspend"), None);
    world.admin(reqwest::Method::POST, &format!("/v1/admin/credentials/{key}/resume"), None);

    let mut taps: Vec<(&str, ExchangeKind, Vec<Vec<u8>>)> = Vec::new();
    for (who, button) in [("ada", &world.button), ("grace", &grace), ("ada", &world.button), ("grace", &grace)] {
        tokio::time::sleep(Duration::from_secs(6)).await;
        button.refresh().await.unwrap();
        world.site.radio.start_recording();
        let report = button.tap().await.unwrap();
        assert_eq!(report.outcome, TapOutcome::Unlocked);
        taps.push((who, report.exchange.expect("over Bluetooth"), world.site.radio.recorded_writes()));
    }
    let kinds: Vec<ExchangeKind> = taps.iter().map(|t| t.1).collect();
    assert_eq!(kinds, [ExchangeKind::Full, ExchangeKind::Full, ExchangeKind::Fast, ExchangeKind::Fast]);

    let windows = |writes: &[Vec<u8>]| -> HashSet<Vec<u8>> {
        writes.iter().flat_map(|w| w.windows(8).map(<[u8]>::to_vec)).collect()
    };
    for (i, a) in taps.iter().enumerate() {
        for b in &taps[i + 1..] {
            let shared: Vec<_> = windows(&a.2).intersection(&windows(&b.2)).cloned().collect();
            assert!(shared.is_empty(), "{} {:?} and {} {:?} share bytes: {shared:02x?}", a.0, a.1, b.0, b.1);
        }
    }
    // The first (full) tap handed the newer list to the reader, sealed, before its credential;
    // the second found the reader up to date. No list ever went in the clear (type 0x21).
    let types = |writes: &[Vec<u8>]| -> Vec<u8> {
        writes.iter().filter(|w| w.first() == Some(&0)).filter_map(|w| w.get(4).copied()).collect()
    };
    assert_eq!(types(&taps[0].2), [0x01, 0x22, 0x03], "hello, sealed list, credential");
    // (Grace's suspended-then-resumed key is refused once and renewed: two full exchanges.)
    assert!(types(&taps[1].2).chunks(2).all(|pair| pair == [0x01, 0x03]), "{:?}", types(&taps[1].2));
    assert_eq!(types(&taps[2].2), [0x01]);
    // Lengths say only which exchange ran, never who.
    let lengths = |writes: &[Vec<u8>]| writes.iter().map(Vec::len).collect::<Vec<_>>();
    assert_eq!(lengths(&taps[2].2), lengths(&taps[3].2), "fast taps of two members look alike");
}

#[tokio::test(start_paused = true)]
async fn leaving_the_home_screen_during_a_tap_ends_it_hidden_whichever_comes_first() {
    let world = World::new("ada_member", NEAR_MAIN_ENTRANCE).await;
    world.button.refresh().await.unwrap();
    // The screen changes first; the app's cancel (its coroutine ending) comes after.
    world.button.set_screen(Screen::Home);
    let (result, ()) = tokio::join!(world.button.tap(), async {
        world.states.wait_for(&KeyButtonState::TapRequired).await;
        world.button.set_screen(Screen::Other);
        world.button.cancel();
    });
    assert_eq!(result.unwrap_err(), Error::Cancelled);
    let seen = world.states.take();
    assert_eq!(seen.last(), Some(&KeyButtonState::Hidden), "{seen:?}");
    assert!(!seen.iter().any(|s| matches!(s, KeyButtonState::Failed(_))), "{seen:?}");

    // The app cancels first, then the screen changes: the same end.
    world.button.set_screen(Screen::Home);
    let (result, ()) = tokio::join!(world.button.tap(), async {
        world.states.wait_for(&KeyButtonState::TapRequired).await;
        world.button.cancel();
        world.button.set_screen(Screen::Other);
    });
    assert_eq!(result.unwrap_err(), Error::Cancelled);
    let seen = world.states.take();
    assert_eq!(seen.last(), Some(&KeyButtonState::Hidden), "{seen:?}");
    assert!(!seen.iter().any(|s| matches!(s, KeyButtonState::Failed(_))), "{seen:?}");
    assert_eq!(world.button.state(), KeyButtonState::Hidden);
}

#[tokio::test(start_paused = true)]
async fn a_removed_listener_hears_nothing_more_and_never_keeps_the_button_alive() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    let other = Arc::new(States::default());
    let handle = world.button.add_listener(other.clone());
    assert_eq!(other.take(), vec![KeyButtonState::Hidden], "the current state at once");
    handle.remove();
    world.button.set_screen(Screen::Home);
    world.button.refresh().await.unwrap();
    world.button.tap().await.unwrap();
    assert!(other.take().is_empty(), "nothing after remove");
    assert!(!world.states.take().is_empty(), "the world's listener still hears");

    // A listener that holds the button (as an app's view model does) does not keep it alive:
    // the button holds listeners weakly, the handle strongly.
    struct Holding {
        _button: Arc<KeyButton>,
    }
    impl StateListener for Holding {
        fn on_state(&self, _: KeyButtonState) {}
    }
    let button = Arc::new(world.button_again());
    let handle = button.add_listener(Arc::new(Holding { _button: Arc::clone(&button) }));
    let weak = Arc::downgrade(&button);
    drop(button);
    assert!(weak.upgrade().is_some(), "the app's handle keeps its listener, which holds the button");
    drop(handle);
    assert!(weak.upgrade().is_none(), "once the app lets go, nothing in the SDK keeps it");
}

#[tokio::test(start_paused = true)]
async fn the_member_sees_their_doors_and_opens_the_one_they_choose_not_the_nearest() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    assert!(world.button.doors().is_empty(), "no key yet, no doors");
    world.button.refresh().await.unwrap();
    let doors = world.button.doors();
    let names: Vec<_> = doors.iter().map(|d| (d.name.as_str(), d.needs_tap)).collect();
    assert_eq!(names, [("Main entrance", true), ("Meeting room", false)], "ada's doors, the server room is staff only");

    // Held against the main entrance, the member picks the meeting room down the corridor.
    let meeting = doors.iter().find(|d| d.name == "Meeting room").unwrap();
    let report = world.button.tap_door(&meeting.id).await.unwrap();
    assert_eq!((report.outcome, report.door.as_str()), (TapOutcome::Unlocked, "Meeting room"));
    assert!(world.site.reader(MAIN).unwrap().audit().entries().next().is_none(), "the nearer reader was left alone");

    // The default stays the nearest door.
    assert_eq!(world.button.tap().await.unwrap().door, "Main entrance");

    // A door the key does not open is refused before any radio work, with a typed error.
    let error = world.button.tap_door("no-such-door").await.unwrap_err();
    assert_eq!(error, Error::UnknownDoor("no-such-door".to_owned()));
    assert_eq!(error.sentence(), "Your key doesn't open this door.");
}

#[tokio::test(start_paused = true)]
async fn a_tap_whose_future_is_dropped_midway_leaves_the_button_free() {
    let world = World::new("ada_member", AT_MAIN_ENTRANCE).await;
    world.button.tap().await.unwrap();
    // Dropped after a few milliseconds of the exchange (an aborted task, a caller that gave up).
    let abandoned = tokio::time::timeout(Duration::from_millis(5), world.button.tap()).await;
    assert!(abandoned.is_err(), "the tap was still running when dropped");
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked, "not Busy: the dropped tap released the button");
}

//! Several organizations end to end: one member of two coworking operators, each with its own
//! access cloud (two embedded clouds over real HTTP, each with its own demo organization) and its
//! own floor of virtual readers on one simulated radio. One Key Button holds both accounts' keys,
//! shows when either grants access, opens the nearest door of either, and keeps revocation,
//! journals and refresh per organization: nothing of one reaches the other's cloud or readers.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{sync::Arc, time::Duration};

use mobile_access::{
    AccountConfig, CloudConfig, Error, ExchangeKind, KeyButton, PRIMARY_ACCOUNT, Screen, SecureStorage, TapOutcome,
    Timeouts, UnlockPath,
    ble::{
        AdapterState,
        sim::{Position, RadioProfile, SimCentral},
    },
};
use mobile_access_harness::world::{AT_MEETING_ROOM, EmbeddedCloud, Site, key_button, new_phone_storage};
use mobile_access_reader::ReaderLink;
use serde_json::{Value, json};
use support::{dead_url, http, remove_groups};

/// The second operator's floor: its doors laid out as the first's, 20 m east and 6 m north.
const BETA_ORIGIN: Position = Position::new(20.0, 6.0);
/// Half a metre from the second operator's meeting room (a range reader), 21 m from the first's.
const AT_BETA_MEETING_ROOM: Position = Position::new(31.5, 6.0);
/// The app's id for the second account.
const BETA: &str = "beta";
/// The meeting room's index among an organization's readers.
const MEETING_ROOM: usize = 1;

/// Two operators in one building, each with its own cloud.
struct Building {
    alpha: EmbeddedCloud,
    beta: EmbeddedCloud,
    site: Site,
    /// Index of the second operator's first reader in `site.readers`.
    beta_first: usize,
    phone: Arc<SimCentral>,
    storage: Arc<dyn SecureStorage>,
}

impl Building {
    fn new(at: Position) -> Self {
        let alpha = EmbeddedCloud::start().unwrap();
        let beta = EmbeddedCloud::start().unwrap();
        let mut site = Site::new(alpha.seed(), RadioProfile::ios(), 7, Duration::ZERO).unwrap();
        let beta_first = site.add_organization(beta.seed(), BETA_ORIGIN, Duration::ZERO).unwrap();
        let phone = site.phone(at);
        Self { alpha, beta, site, beta_first, phone, storage: new_phone_storage() }
    }

    /// The member's Key Button, signed in as `primary` to the first operator and as
    /// `ada_member` to the second (at `beta_url`).
    fn button(&self, primary: &str, beta_url: &str) -> KeyButton {
        let token = &self.alpha.member(primary).unwrap().token;
        let button = key_button(
            self.alpha.base_url(),
            token,
            Arc::clone(&self.phone),
            Arc::clone(&self.storage),
            Timeouts::default(),
        )
        .unwrap();
        let mut cloud = CloudConfig::new(beta_url);
        cloud.backoff = Duration::from_millis(50);
        let member_token = self.beta.member("ada_member").unwrap().token.clone();
        button.add_account(BETA, AccountConfig { cloud, member_token }).unwrap();
        button.set_screen(Screen::Home);
        button
    }

    fn alpha_readers(&self) -> std::ops::Range<usize> {
        0..self.beta_first
    }

    fn beta_readers(&self) -> std::ops::Range<usize> {
        self.beta_first..self.site.readers.len()
    }

    /// Attempts each reader of `readers` has recorded.
    fn attempts(&self, readers: std::ops::Range<usize>) -> Vec<usize> {
        readers.map(|index| self.site.reader(index).unwrap().audit().len()).collect()
    }

    fn reader_id(&self, index: usize) -> String {
        self.site.provisioning[index].reader_id.to_string()
    }
}

/// How many entries of `action` `cloud`'s audit log holds.
fn audited(cloud: &EmbeddedCloud, action: &str) -> usize {
    let log =
        http("GET", format!("{}/v1/admin/audit-log?limit=1000", cloud.base_url()), &cloud.seed().admin_token, None);
    log["items"].as_array().unwrap().iter().filter(|entry| entry["action"] == action).count()
}

/// The member's tap results as `cloud`'s audit log holds them (uploaded from the phone's
/// journal): the reader each names.
fn uploaded_results(cloud: &EmbeddedCloud) -> Vec<Option<String>> {
    let log =
        http("GET", format!("{}/v1/admin/audit-log?limit=1000", cloud.base_url()), &cloud.seed().admin_token, None);
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "app.unlock")
        .map(|entry| {
            let detail: Value = match &entry["detail"] {
                Value::String(text) => serde_json::from_str(text).unwrap(),
                other => other.clone(),
            };
            detail["reader_id"].as_str().map(str::to_owned)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn one_button_opens_the_nearest_door_of_either_organization_and_tells_each_only_its_own() {
    let building = Building::new(AT_BETA_MEETING_ROOM);
    let button = building.button("ada_member", building.beta.base_url());
    assert!(!button.is_visible(), "hidden until the first refresh");
    button.refresh().await.unwrap();
    assert!(button.is_visible());
    let accounts = button.accounts();
    assert_eq!(accounts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), [PRIMARY_ACCOUNT, BETA]);
    assert!(accounts.iter().all(|a| a.access.as_ref().is_some_and(|access| access.has_access_group) && a.doors == 2));
    let doors = button.doors();
    assert_eq!(doors.len(), 4, "two doors in each organization: {doors:?}");
    assert_eq!(doors.iter().filter(|door| door.account == BETA).count(), 2);

    // At the second operator's meeting room: its reader opens, the first's hear nothing.
    let alpha_before = building.attempts(building.alpha_readers());
    let report = button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!((report.account.as_str(), report.door.as_str()), (BETA, "Meeting room"));
    assert_eq!(report.reader.to_string(), building.reader_id(building.beta_first + MEETING_ROOM));
    assert_eq!(report.http_requests, 0, "keys came with the refresh");
    assert!(building.site.reader(building.beta_first + MEETING_ROOM).unwrap().relay_is_open());
    assert_eq!(building.attempts(building.alpha_readers()), alpha_before, "no attempt at the other's readers");

    // Down the corridor at the first operator's meeting room: the nearest door is now its.
    building.phone.move_to(AT_MEETING_ROOM);
    let beta_before = building.attempts(building.beta_readers());
    let report = button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!((report.account.as_str(), report.door.as_str()), (PRIMARY_ACCOUNT, "Meeting room"));
    assert_eq!(report.reader.to_string(), building.reader_id(MEETING_ROOM));
    assert_eq!(building.attempts(building.beta_readers()), beta_before);

    // Each journal goes to its own cloud, and holds only that organization's door.
    assert_eq!(button.pending_journal().len(), 2);
    let uploaded = button.upload_journal().await.unwrap();
    assert_eq!(uploaded.accepted, 2);
    assert_eq!(uploaded_results(&building.alpha), [Some(building.reader_id(MEETING_ROOM))]);
    assert_eq!(uploaded_results(&building.beta), [Some(building.reader_id(building.beta_first + MEETING_ROOM))]);
}

#[tokio::test(start_paused = true)]
async fn revocation_and_refresh_stay_within_their_organization() {
    let building = Building::new(AT_BETA_MEETING_ROOM);
    let button = building.button("ada_member", building.beta.base_url());
    button.refresh().await.unwrap();
    assert_eq!(button.tap().await.unwrap().account, BETA);
    let beta_meeting_room = button.doors().into_iter().find(|d| d.account == BETA && d.name == "Meeting room").unwrap();

    // The second operator takes her access away; the first does not.
    remove_groups(&building.beta, "ada_member");
    let access = button.refresh().await.unwrap();
    assert!(access.has_access_group, "the first organization's access is unchanged");
    let accounts = button.accounts();
    assert!(!accounts[1].access.as_ref().unwrap().has_access_group);
    assert_eq!((accounts[0].doors, accounts[1].doors), (2, 0), "only the second's keys are forgotten");
    assert!(button.is_visible(), "the first organization still grants access");
    assert!(button.doors().iter().all(|door| door.account == PRIMARY_ACCOUNT));
    let attempts = building.attempts(building.beta_readers());
    assert!(matches!(button.tap_door(&beta_meeting_room.id).await, Err(Error::UnknownDoor(_))));
    assert_eq!(building.attempts(building.beta_readers()), attempts, "the phone has nothing to show its reader");

    // The first operator's door still opens, from its cached key.
    building.phone.move_to(AT_MEETING_ROOM);
    let report = button.tap().await.unwrap();
    assert_eq!(
        (report.outcome, report.account.as_str(), report.http_requests),
        (TapOutcome::Unlocked, PRIMARY_ACCOUNT, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn shown_when_only_the_second_organization_grants_access_and_opening_offline_after_a_restart() {
    let mut building = Building::new(AT_BETA_MEETING_ROOM);
    // No access group with the first operator, the member's group with the second.
    let button = building.button("nick_nogroup", building.beta.base_url());
    let report = button.tap().await.unwrap();
    assert_eq!((report.outcome, report.account.as_str()), (TapOutcome::Unlocked, BETA));
    assert_eq!(report.http_requests, 3, "a key request to each cloud at once, then the refusing one's access");
    assert_eq!(report.exchange, Some(ExchangeKind::Full));
    assert!(!button.access().unwrap().has_access_group, "nothing from the first organization");
    // Later taps ask no cloud at all, not even the one that refused.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let report = button.tap().await.unwrap();
    assert_eq!((report.outcome, report.http_requests), (TapOutcome::Unlocked, 0));
    button.refresh().await.unwrap();
    assert!(button.is_visible(), "shown: the second organization grants access");

    // Both clouds go away and the app restarts: the second account's cached key still opens.
    building.alpha.stop().unwrap();
    building.beta.stop().unwrap();
    drop(button);
    let restarted = building.button("nick_nogroup", &dead_url());
    assert!(restarted.is_visible(), "access kept across restarts, per account");
    let report = restarted.tap().await.unwrap();
    assert_eq!(
        (report.outcome, report.account.as_str(), report.http_requests, report.exchange),
        (TapOutcome::Unlocked, BETA, 0, Some(ExchangeKind::Fast))
    );
}

#[tokio::test(start_paused = true)]
async fn one_organization_s_cloud_down_never_keeps_the_other_s_door_shut() {
    let mut building = Building::new(AT_BETA_MEETING_ROOM);
    let button = building.button("ada_member", building.beta.base_url());
    building.alpha.stop().unwrap();
    let report = button.tap().await.unwrap();
    assert_eq!((report.outcome, report.account.as_str()), (TapOutcome::Unlocked, BETA));
    // The refresh reports the first account's failure and still refreshes the second.
    assert!(matches!(button.refresh().await, Err(Error::Network(_))));
    assert!(button.refresh_account(BETA).await.unwrap().unwrap().has_access_group);
    assert_eq!(button.accounts()[1].doors, 2);
    // Signing out of the second organization forgets its keys.
    assert!(button.remove_account(BETA).unwrap());
    assert!(!button.remove_account(PRIMARY_ACCOUNT).unwrap(), "the first account lives as long as the button");
    assert!(button.doors().is_empty());
    assert_eq!(button.accounts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cloud_that_never_answers_holds_up_a_door_the_phone_can_open_by_seconds_not_the_call_timeout() {
    let building = Building::new(AT_MEETING_ROOM);
    // The second operator's address accepts connections and never answers (a black hole).
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let button = building.button("ada_member", &format!("http://{}", black_hole.local_addr().unwrap()));
    assert!(button.refresh_account(PRIMARY_ACCOUNT).await.unwrap().is_ok());
    // The phone holds the first operator's keys, none of the second's yet: the tap asks the
    // second's cloud for a moment only, then opens the first's door.
    let started = std::time::Instant::now();
    let report = button.tap().await.unwrap();
    let waited = started.elapsed();
    assert_eq!((report.outcome, report.account.as_str()), (TapOutcome::Unlocked, PRIMARY_ACCOUNT));
    assert!(waited < Duration::from_secs(10), "held up {waited:?}: the call timeout is 30 s");
}

/// On real time, as the remote unlock tests run: the reader's long poll and the cloud's
/// command window are wall-clock matters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_unlock_asks_the_door_s_own_organization_under_its_own_policy() {
    let building = Building::new(Position::new(5_000.0, 0.0));
    building.phone.set_adapter_state(AdapterState::PoweredOff);
    let button = building.button("ada_member", building.beta.base_url());
    // The second operator lets members open doors over the network; the first does not.
    let settings = format!("{}/v1/admin/settings", building.beta.base_url());
    http("PATCH", settings, &building.beta.seed().admin_token, Some(json!({"remote_unlock": "allowed"})));
    button.refresh().await.unwrap();
    let index = building.beta_first + MEETING_ROOM;
    let link = ReaderLink::new(building.beta.base_url(), &building.site.provisioning[index]).unwrap();
    let reader = building.site.reader(index).unwrap();
    tokio::select! {
        () = link.serve_commands(reader) => unreachable!("the command loop runs forever"),
        () = async {
            let door = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let listed = button.remote_doors().await.unwrap();
                    let online = listed.doors.iter().find(|d| d.account == BETA && d.name == "Meeting room" && d.reader_online);
                    if let Some(door) = online {
                        return door.id.clone();
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await
            .expect("the second operator's meeting room came online");
            let report = button.unlock_remotely(&door).await.unwrap();
            assert_eq!((report.outcome, report.path, report.account.as_str()), (TapOutcome::Unlocked, UnlockPath::Remote, BETA));
            let first = button.doors().into_iter().find(|d| d.account == PRIMARY_ACCOUNT && d.name == "Meeting room").unwrap();
            assert!(matches!(button.unlock_remotely(&first.id).await, Err(Error::RemoteUnlockOff)));
        } => {}
    }
    // Each cloud heard of its own door only: the opening at the second, the refusal at the first.
    assert_eq!((audited(&building.alpha, "door.remote_unlock"), audited(&building.beta, "door.remote_unlock")), (1, 1));
}

//! Wallet passes at the door, end to end: the member adds a pass through the SDK against the
//! embedded cloud, the simulated wallet presents it by NFC tap (no app) to virtual readers on the
//! simulated radio, and the administrator's suspend, resume and delete, and an add on a new
//! iPhone, reach readers online (their poll, with the reason) and offline (the signed list alone).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::time::Duration;

use mobile_access::{
    CloudConfig, WalletDevice, WalletPassAdded, WalletPasses, WatchBinding,
    ble::sim::{Position, RadioProfile, SimRadio},
};
use mobile_access_harness::{
    wallet::Wallet,
    world::{EmbeddedCloud, Site, WATCH_ON_MAIN_ENTRANCE, WATCH_ON_MEETING_ROOM},
};
use mobile_access_protocol::{Reason, reader::ListOutcome};
use mobile_access_reader::{Mode, Outcome, ReaderLink, VirtualReader, VirtualReaderOptions};
use serde_json::Value;

const MAIN: usize = 0;
const MEETING: usize = 1;
const SERVER: usize = 2;
const ON_SERVER_ROOM: Position = Position::new(30.02, 0.0);
const ONE_METRE_FROM_MAIN: Position = Position::new(1.0, 0.0);

/// An admin call on a runtime of its own (the test's clock is paused).
fn admin(cloud: &EmbeddedCloud, method: &str, path: &str) -> Value {
    let (url, token) = (format!("{}{path}", cloud.base_url()), cloud.seed().admin_token.clone());
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    std::thread::spawn(move || {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let response = client.request(method, url).bearer_auth(token).send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.unwrap_or(Value::Null)
        })
    })
    .join()
    .unwrap()
}

async fn add(cloud: &EmbeddedCloud, member: &str, wallet: &mut Wallet, watch_unlocked: bool) -> WalletPassAdded {
    let token = cloud.member(member).unwrap().token.clone();
    let passes = WalletPasses::new(CloudConfig::new(cloud.base_url()), token).unwrap();
    let device = WalletDevice { ios_version: "17.4".to_owned(), app_version: "46.2".to_owned() };
    assert!(passes.eligibility(&device).await.unwrap().eligible);
    let added = passes.add(&wallet.pass_request(&device, watch_unlocked)).await.unwrap();
    wallet.install(&added.provisioning, watch_unlocked).unwrap();
    added
}

fn last(reader: &VirtualReader) -> Outcome {
    reader.audit().last().unwrap().outcome
}

fn world() -> (EmbeddedCloud, Site) {
    let cloud = EmbeddedCloud::start().unwrap();
    let site = Site::new(cloud.seed(), RadioProfile::ios(), 5, Duration::ZERO).unwrap();
    (cloud, site)
}

#[tokio::test(start_paused = true)]
async fn a_pass_opens_by_nfc_tap_only_and_only_on_readers_that_take_passes() {
    let (cloud, site) = world();
    let mut wallet = Wallet::new("iphone-g", Some("watch-g"), ONE_METRE_FROM_MAIN).unwrap();
    let added = add(&cloud, "grace_staff", &mut wallet, true).await;
    assert_eq!(added.pass.locks.len(), 2, "main entrance and server room take passes; the meeting room does not");
    assert_eq!(added.provisioning.unlock, "tap");
    let main = site.reader(MAIN).unwrap();

    // A metre away the reader never notices the phone: no hands-free, no attempt logged.
    assert!(wallet.iphone.tap(main).is_none());
    assert!(main.audit().is_empty());

    wallet.iphone.position = WATCH_ON_MAIN_ENTRANCE;
    assert!(wallet.iphone.tap(main).unwrap().granted());
    assert!(main.relay_is_open());
    let watch = wallet.watch.as_mut().unwrap();
    watch.position = ON_SERVER_ROOM;
    assert!(watch.tap(site.reader(SERVER).unwrap()).unwrap().granted());

    // The Reader Pro 2 (tamper protection off) refuses passes, logged and red.
    watch.position = WATCH_ON_MEETING_ROOM;
    let meeting = site.reader(MEETING).unwrap();
    let mut lights = meeting.feedback();
    assert_eq!(watch.tap(meeting).unwrap().reason, Reason::PassNotAccepted);
    assert_eq!(last(meeting), Outcome::Refused(Reason::PassNotAccepted));
    let signal = lights.recv().await.unwrap();
    assert!(matches!(
        signal.feedback,
        mobile_access_reader::Feedback::Signal { light: mobile_access_reader::Light::Red, .. }
    ));
    assert!(!meeting.relay_is_open());

    // A Reader Pro 2.1 in range mode still needs the tap for a pass.
    let radio = SimRadio::new(RadioProfile::ios(), 9);
    let mut range = site.provisioning[MAIN].clone();
    range.mode = Mode::Range;
    let time = main.time();
    let range_reader =
        VirtualReader::spawn(&radio, &range, VirtualReaderOptions::at(Position::new(0.0, 0.0), time)).unwrap();
    watch.position = ONE_METRE_FROM_MAIN;
    assert!(watch.tap(&range_reader).is_none(), "no hands-free for a pass");
    watch.position = WATCH_ON_MAIN_ENTRANCE;
    assert!(watch.tap(&range_reader).unwrap().granted());

    // A tampered Reader Pro 2.1 refuses like for any credential.
    tokio::time::sleep(Duration::from_secs(6)).await;
    main.with(|r| r.trip_tamper());
    assert_eq!(watch.tap(main).unwrap().reason, Reason::Tampered);
}

#[tokio::test(start_paused = true)]
async fn a_watch_locked_during_the_add_gets_the_pass_only_when_added_again() {
    let (cloud, site) = world();
    let main = site.reader(MAIN).unwrap();
    let mut wallet = Wallet::new("iphone-g", Some("watch-g"), WATCH_ON_MAIN_ENTRANCE).unwrap();
    let first = add(&cloud, "grace_staff", &mut wallet, false).await;
    assert_eq!(first.watch, WatchBinding::AddAgain);
    assert!(first.notes.iter().any(|n| n.contains("add the pass again")));
    let watch = wallet.watch.as_ref().unwrap();
    assert!(!watch.has_pass());
    assert!(watch.tap(main).is_none(), "no pass on the watch: the reader sees nothing");
    assert!(wallet.iphone.tap(main).unwrap().granted());

    let again = add(&cloud, "grace_staff", &mut wallet, true).await;
    assert_eq!(again.watch, WatchBinding::Bound);
    assert_eq!(again.pass.devices.watch.as_deref(), Some("watch-g"));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(wallet.watch.as_ref().unwrap().tap(main).unwrap().granted());
}

#[tokio::test(start_paused = true)]
async fn a_pass_added_on_a_new_iphone_is_refused_on_the_old_one_online_and_offline() {
    let (cloud, site) = world();
    let main = site.reader(MAIN).unwrap();
    let link = ReaderLink::new(cloud.base_url(), &site.provisioning[MAIN]).unwrap();
    let mut old = Wallet::new("iphone-old", Some("watch-g"), WATCH_ON_MAIN_ENTRANCE).unwrap();
    add(&cloud, "grace_staff", &mut old, true).await;
    assert!(old.iphone.tap(main).unwrap().granted());

    let mut new = Wallet::new("iphone-new", None, WATCH_ON_MAIN_ENTRANCE).unwrap();
    let added = add(&cloud, "grace_staff", &mut new, false).await;
    assert_eq!(added.superseded.len(), 1);
    let listed = admin(&cloud, "GET", "/v1/admin/wallet-passes");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["devices"]["iphone"], "iphone-new");

    // Online: the reader's poll brings the list and the reason.
    assert_eq!(link.poll(main).await.unwrap(), ListOutcome::Applied);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(old.iphone.tap(main).unwrap().reason, Reason::PassSuperseded);
    assert_eq!(old.watch.as_ref().unwrap().tap(main).unwrap().reason, Reason::PassSuperseded);
    assert!(new.iphone.tap(main).unwrap().granted());

    // Offline: the server room only gets the signed list (as a phone carries it): refused as revoked.
    let server = site.reader(SERVER).unwrap();
    let carried = carried_list(&cloud, &site);
    assert_eq!(server.apply_revocation_list(&carried).unwrap(), ListOutcome::Applied);
    let mut old_watch = old.watch.take().unwrap();
    old_watch.position = ON_SERVER_ROOM;
    assert_eq!(old_watch.tap(server).unwrap().reason, Reason::Revoked);
    assert_eq!(last(server), Outcome::Refused(Reason::Revoked));
}

/// The signed list alone, as a member's phone carries it to an offline reader (no reasons).
fn carried_list(cloud: &EmbeddedCloud, site: &Site) -> Vec<u8> {
    let sync = admin_reader_config(cloud, &site.provisioning[SERVER]);
    hex_decode(sync["revocation_list"].as_str().unwrap())
}

fn admin_reader_config(cloud: &EmbeddedCloud, provisioning: &mobile_access_reader::Provisioning) -> Value {
    let url = format!("{}/v1/reader/config", cloud.base_url());
    let token = provisioning.reader_token.as_ref().unwrap().0.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            client.get(url).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap()
        })
    })
    .join()
    .unwrap()
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[tokio::test(start_paused = true)]
async fn suspend_resume_and_delete_reach_the_reader_with_their_reason() {
    let (cloud, site) = world();
    let main = site.reader(MAIN).unwrap();
    let link = ReaderLink::new(cloud.base_url(), &site.provisioning[MAIN]).unwrap();
    let mut wallet = Wallet::new("iphone-g", Some("watch-g"), WATCH_ON_MAIN_ENTRANCE).unwrap();
    let added = add(&cloud, "grace_staff", &mut wallet, true).await;
    let id = added.pass.id;
    let watch = wallet.watch.as_ref().unwrap();
    assert!(watch.tap(main).unwrap().granted());

    admin(&cloud, "POST", &format!("/v1/admin/wallet-passes/{id}/suspend"));
    link.poll(main).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(watch.tap(main).unwrap().reason, Reason::PassSuspended);
    assert_eq!(wallet.iphone.tap(main).unwrap().reason, Reason::PassSuspended);
    assert!(!main.relay_is_open());

    admin(&cloud, "POST", &format!("/v1/admin/wallet-passes/{id}/resume"));
    assert_eq!(link.poll(main).await.unwrap(), ListOutcome::Applied, "resuming publishes a newer list");
    assert!(watch.tap(main).unwrap().granted());

    tokio::time::sleep(Duration::from_secs(6)).await;
    admin(&cloud, "DELETE", &format!("/v1/admin/wallet-passes/{id}"));
    link.poll(main).await.unwrap();
    assert_eq!(watch.tap(main).unwrap().reason, Reason::PassDeleted);
    assert_eq!(last(main), Outcome::Refused(Reason::PassDeleted));
}

#[tokio::test(start_paused = true)]
async fn a_pass_for_a_member_without_an_access_group_is_issued_and_opens_nothing() {
    let (cloud, site) = world();
    let main = site.reader(MAIN).unwrap();
    let mut wallet = Wallet::new("iphone-n", None, WATCH_ON_MAIN_ENTRANCE).unwrap();
    let added = add(&cloud, "nick_nogroup", &mut wallet, false).await;
    assert!(added.pass.locks.is_empty());
    assert!(wallet.iphone.has_pass(), "the pass is in the wallet");
    assert_eq!(wallet.iphone.tap(main).unwrap().reason, Reason::WrongLock);
    assert_eq!(last(main), Outcome::Refused(Reason::WrongLock));
    assert!(!main.relay_is_open());
}

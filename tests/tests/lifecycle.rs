//! The member lifecycle end to end: the workspace platform takes a member's access away and
//! their phone stops opening doors — at a reader that is online (it polls the cloud), and at a
//! reader that is offline (another member's phone carries the signed revocation list to it) —
//! and the Key Button disappears at the next refresh. Readers that were offline upload their
//! attempts afterwards, each kept once.
#![allow(clippy::unwrap_used, clippy::panic, clippy::unreachable, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{collections::HashMap, time::Duration};

use mobile_access::{KeyButton, Screen, TapOutcome, Timeouts, ble::sim::RadioProfile};
use mobile_access_harness::world::{AT_MEETING_ROOM, EmbeddedCloud, Site, key_button, new_phone_storage, wall_clock};
use mobile_access_protocol::{Reason, Timestamp, reader::ListOutcome};
use mobile_access_reader::{Outcome, ReaderLink};
use serde_json::Value;
use support::{http, remove_groups};

/// The meeting room's range reader: members tap it from where they stand.
const MEETING_ROOM: usize = 1;

fn button(cloud: &EmbeddedCloud, site: &Site, external_id: &str) -> KeyButton {
    let token = &cloud.member(external_id).unwrap().token;
    let button =
        key_button(cloud.base_url(), token, site.phone(AT_MEETING_ROOM), new_phone_storage(), Timeouts::default())
            .unwrap();
    button.set_screen(Screen::Home);
    button
}

fn last_outcome(site: &Site) -> Outcome {
    site.reader(MEETING_ROOM).unwrap().audit().last().unwrap().outcome
}

#[tokio::test(start_paused = true)]
async fn an_online_reader_refuses_a_removed_member_after_its_next_poll_and_the_button_goes() {
    let cloud = EmbeddedCloud::start().unwrap();
    let site = Site::new(cloud.seed(), RadioProfile::android(), 7, Duration::ZERO).unwrap();
    let reader = site.reader(MEETING_ROOM).unwrap();
    let link = ReaderLink::new(cloud.base_url(), &site.provisioning[MEETING_ROOM]).unwrap();
    let ada = button(&cloud, &site, "ada_member");
    ada.refresh().await.unwrap();
    assert!(ada.is_visible());
    assert_eq!(ada.tap().await.unwrap().outcome, TapOutcome::Unlocked);
    assert_eq!(link.poll(reader).await.unwrap(), ListOutcome::NotNewer, "nothing revoked yet");

    remove_groups(&cloud, "ada_member");
    // Until the reader polls, the key Ada holds still opens (the documented online window).
    assert_eq!(link.poll(reader).await.unwrap(), ListOutcome::Applied);
    assert_eq!(reader.with(|r| r.revocation_sequence()), 1);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let refused = ada.tap().await;
    assert!(refused.is_err(), "the cloud gives her no fresh key either: {refused:?}");
    assert_eq!(last_outcome(&site), Outcome::Refused(Reason::Revoked), "the reader refused her key");

    // At the next refresh the button disappears and the keys are forgotten.
    let access = ada.refresh().await.unwrap();
    assert!(!access.has_access_group);
    assert!(!ada.is_visible());
    assert!(ada.key_expires_at().is_none(), "keys forgotten");
}

#[tokio::test(start_paused = true)]
async fn an_offline_reader_learns_the_revocation_from_the_next_member_who_taps() {
    let cloud = EmbeddedCloud::start().unwrap();
    // The meeting room reader's clock lags an hour behind (it never reached the cloud).
    let site = Site::new(cloud.seed(), RadioProfile::ios(), 11, Duration::ZERO).unwrap();
    let reader = site.reader(MEETING_ROOM).unwrap();
    let lagging = Timestamp(wall_clock().0 - 3_600);
    reader.with(|r| r.set_time(tokio::time::Instant::now().into_std(), lagging));
    let ada = button(&cloud, &site, "ada_member");
    ada.refresh().await.unwrap();
    assert_eq!(ada.tap().await.unwrap().outcome, TapOutcome::Unlocked);

    remove_groups(&cloud, "ada_member");
    let grace = button(&cloud, &site, "grace_staff");
    grace.refresh().await.unwrap();
    let mut cloud = cloud;
    cloud.stop().unwrap();

    // Grace's phone carries the newer list (and a signed time) to the offline reader.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(grace.tap().await.unwrap().outcome, TapOutcome::Unlocked);
    assert_eq!(reader.with(|r| r.revocation_sequence()), 1);
    assert!(reader.time() >= Timestamp(wall_clock().0 - 60), "signed time moved the lagging clock forward");

    // Ada's fast session and her still-valid key are refused from now on.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let refused = ada.tap().await;
    assert!(refused.is_err() || matches!(refused, Ok(ref r) if r.outcome == TapOutcome::Denied(Reason::Revoked)));
    assert_eq!(last_outcome(&site), Outcome::Refused(Reason::Revoked));

    // A signed time never moves a clock back.
    let ahead = Timestamp(wall_clock().0 + 7_200);
    reader.with(|r| r.set_time(tokio::time::Instant::now().into_std(), ahead));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(grace.tap().await.unwrap().outcome, TapOutcome::Unlocked);
    assert!(reader.time() >= ahead);
}

#[tokio::test(start_paused = true)]
async fn attempts_recorded_offline_are_uploaded_once_despite_retries_and_lost_answers() {
    let data = tempfile::tempdir().unwrap();
    let mut cloud = EmbeddedCloud::start_in(data.path()).unwrap();
    let admin = cloud.seed().admin_token.clone();
    let site = Site::new(cloud.seed(), RadioProfile::android(), 3, Duration::ZERO).unwrap();
    let reader = site.reader(MEETING_ROOM).unwrap();
    let link = ReaderLink::new(cloud.base_url(), &site.provisioning[MEETING_ROOM]).unwrap();
    let ada = button(&cloud, &site, "ada_member");
    let grace = button(&cloud, &site, "grace_staff");
    ada.refresh().await.unwrap();
    grace.refresh().await.unwrap();
    cloud.stop().unwrap();

    // Offline: taps are recorded by the reader only.
    for _ in 0..3 {
        for phone in [&ada, &grace] {
            tokio::time::sleep(Duration::from_secs(6)).await;
            assert_eq!(phone.tap().await.unwrap().outcome, TapOutcome::Unlocked);
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let recorded = reader.audit().len();
    assert!(recorded >= 6);
    assert!(link.upload(reader).await.is_err(), "no cloud: nothing acknowledged");

    // Back online. The first half arrives but its answer is lost; then everything is sent,
    // then everything again: each attempt is stored once.
    let cloud = EmbeddedCloud::start_in(data.path()).unwrap();
    link.set_base_url(cloud.base_url());
    let pending = link.pending(reader);
    assert_eq!(pending.len(), recorded);
    let half = link.send(&pending[..recorded / 2]).await.unwrap();
    assert_eq!((half.accepted as usize, half.duplicates), (recorded / 2, 0));
    let all = link.upload(reader).await.unwrap();
    assert_eq!((all.accepted as usize, all.duplicates as usize), (recorded - recorded / 2, recorded / 2));
    let again = link.send(&pending).await.unwrap();
    assert_eq!((again.accepted, again.duplicates as usize), (0, recorded));
    assert!(link.pending(reader).is_empty(), "acknowledged");

    let log = http("GET", format!("{}/v1/admin/audit-log?limit=1000", cloud.base_url()), &admin, None);
    let attempts: Vec<&Value> =
        log["items"].as_array().unwrap().iter().filter(|e| e["action"] == "reader.attempt").collect();
    assert_eq!(attempts.len(), recorded, "each attempt exactly once");
    let mut by_member: HashMap<String, usize> = HashMap::new();
    for attempt in &attempts {
        assert_eq!(attempt["detail"]["outcome"], "granted");
        *by_member.entry(attempt["subject"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(by_member.len(), 2);
    assert!(by_member.values().all(|n| *n == 3), "{by_member:?}");
}

#[tokio::test(start_paused = true)]
async fn an_online_reader_left_to_itself_picks_up_a_revocation_at_its_next_poll() {
    let cloud = EmbeddedCloud::start().unwrap();
    let site = Site::new(cloud.seed(), RadioProfile::android(), 7, Duration::ZERO).unwrap();
    let reader = site.reader(MEETING_ROOM).unwrap();
    let link = ReaderLink::new(cloud.base_url(), &site.provisioning[MEETING_ROOM]).unwrap();
    let ada = button(&cloud, &site, "ada_member");
    assert_eq!(ada.tap().await.unwrap().outcome, TapOutcome::Unlocked);
    let period = Duration::from_secs(30);
    tokio::select! {
        () = link.run(reader, period) => unreachable!("the link runs forever"),
        () = async {
            remove_groups(&cloud, "ada_member");
            // Nobody calls `poll`: the link's own loop fetches the new list. (Its period is on this
            // paused clock while its HTTP is real, so the wait is counted in polls, not seconds.)
            tokio::time::timeout(10 * period, async {
                while reader.with(|r| r.revocation_sequence()) == 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
            .await
            .expect("the link polled on its own");
            let refused = ada.tap().await;
            assert!(refused.is_err(), "{refused:?}");
            assert_eq!(last_outcome(&site), Outcome::Refused(Reason::Revoked));
        } => {}
    }
}

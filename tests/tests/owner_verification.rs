//! Owner verification end to end: the administrator makes the server room require it (the cloud
//! over real HTTP), the server room's reader learns it from its poll, and a staff member's Key
//! Button on the simulated radio is refused until its owner verified (the software stand-in for
//! the OS's biometric or passcode prompt), then opens with a full exchange signed by the owner
//! key, every time.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{sync::Arc, time::Duration};

use mobile_access::{Error, ExchangeKind, KeyButtonState, NextStep, SoftwareOwnerKey, TapOutcome};
use mobile_access_harness::world::AT_SERVER_ROOM;
use mobile_access_protocol::Reason;
use mobile_access_reader::{Light, Outcome, ReaderLink};
use serde_json::json;
use support::*;

/// The server room's tap reader in the demo site (Staff only).
const SERVER_ROOM: usize = 2;

/// The administrator requires owner verification at the server room, and its reader polls.
async fn require_owner_verification(world: &World) {
    let id = world.door_id("Server room");
    let door = world.admin(
        reqwest::Method::PATCH,
        &format!("/v1/admin/doors/{id}"),
        Some(json!({"owner_verification": true})),
    );
    assert_eq!(door["owner_verification"], json!(true));
    let link = ReaderLink::new(world.cloud.base_url(), &world.site.provisioning[SERVER_ROOM]).unwrap();
    link.poll(world.site.reader(SERVER_ROOM).unwrap()).await.unwrap();
    assert!(world.site.reader(SERVER_ROOM).unwrap().with(|r| r.owner_verification()));
}

fn last_attempt(world: &World) -> Outcome {
    world.site.reader(SERVER_ROOM).unwrap().with(|r| r.audit().entries().last().unwrap().outcome)
}

fn attempts(world: &World) -> usize {
    world.site.reader(SERVER_ROOM).unwrap().with(|r| r.audit().entries().count())
}

#[tokio::test(start_paused = true)]
async fn the_owner_declines_and_the_door_stays_shut_then_verifies_and_it_opens_with_every_tap_verified() {
    let owner = Arc::new(SoftwareOwnerKey::generate(Duration::from_secs(30)).unwrap());
    let world = World::with_owner_key("grace_staff", AT_SERVER_ROOM, owner.clone()).await;
    require_owner_verification(&world).await;
    let mut feedback = world.site.reader(SERVER_ROOM).unwrap().feedback();

    // The owner cancels the prompt: nothing reaches the reader.
    owner.set_owner_verifies(false);
    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::OwnerNotVerified);
    assert_eq!(error.next_step(), NextStep::VerifyItsYou);
    assert!(error.sentence().contains("verify it's you"), "{}", error.sentence());
    let states = world.states.take();
    assert!(states.contains(&KeyButtonState::VerifyingOwner), "{states:?}");
    assert!(!states.contains(&KeyButtonState::Unlocking), "no connection without a verified owner: {states:?}");
    assert_eq!(attempts(&world), 0);
    assert!(!world.site.reader(SERVER_ROOM).unwrap().relay_is_open());

    // The owner verifies: a full exchange signed by the owner key opens the door.
    owner.set_owner_verifies(true);
    let report = world.button.tap().await.unwrap();
    assert_eq!((report.outcome, report.exchange), (TapOutcome::Unlocked, Some(ExchangeKind::Full)));
    assert_eq!(report.door, "Server room");
    let states = world.states.take();
    let order: Vec<_> = states
        .iter()
        .filter(|s| matches!(s, KeyButtonState::Searching | KeyButtonState::VerifyingOwner | KeyButtonState::Unlocking))
        .cloned()
        .collect();
    assert_eq!(order, [KeyButtonState::Searching, KeyButtonState::VerifyingOwner, KeyButtonState::Unlocking]);
    assert_eq!(next_light(&mut feedback).await, (Light::Green, Reason::Granted));
    assert_eq!(owner.prompts(), 2);

    // The next tap is a full exchange again (the reader keeps no fast session), and asks again
    // once the OS's window has passed.
    let report = world.button.tap().await.unwrap();
    assert_eq!((report.outcome, report.exchange), (TapOutcome::Unlocked, Some(ExchangeKind::Full)));
    assert_eq!(owner.prompts(), 2, "within the OS's window, no second prompt");
    owner.forget_verification();
    world.button.tap().await.unwrap();
    assert_eq!(owner.prompts(), 3);
    assert_eq!(last_attempt(&world), Outcome::Granted);
}

#[tokio::test(start_paused = true)]
async fn a_key_from_before_the_door_required_verification_is_refused_by_the_reader_and_replaced_on_the_spot() {
    let owner = Arc::new(SoftwareOwnerKey::generate(Duration::from_secs(30)).unwrap());
    let world = World::with_owner_key("grace_staff", AT_SERVER_ROOM, owner.clone()).await;
    // A first tap before the change: the everyday key, a fast secret left behind.
    let report = world.button.tap().await.unwrap();
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert_eq!(owner.prompts(), 0, "doors without the setting never prompt");

    require_owner_verification(&world).await;
    world.states.take();
    let report = world.button.tap().await.unwrap();
    // The reader refused the everyday key, provably; the phone downloaded the owner key's
    // credential, asked its owner and opened.
    assert_eq!(report.outcome, TapOutcome::Unlocked);
    assert!(report.key_refreshed);
    assert_eq!(report.http_requests, 1);
    assert_eq!(owner.prompts(), 1);
    let entries: Vec<Outcome> =
        world.site.reader(SERVER_ROOM).unwrap().with(|r| r.audit().entries().map(|e| e.outcome).collect());
    assert_eq!(&entries[entries.len() - 2..], [Outcome::Refused(Reason::OwnerNotVerified), Outcome::Granted]);
}

#[tokio::test(start_paused = true)]
async fn an_app_without_an_owner_key_is_told_why_and_the_door_never_opens() {
    let world = World::new("grace_staff", AT_SERVER_ROOM).await;
    world.button.tap().await.unwrap();
    require_owner_verification(&world).await;
    let mut feedback = world.site.reader(SERVER_ROOM).unwrap().feedback();
    // The door the first tap opened locks again first.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!world.site.reader(SERVER_ROOM).unwrap().relay_is_open());

    let error = world.button.tap().await.unwrap_err();
    assert_eq!(error, Error::OwnerVerificationUnavailable);
    assert_eq!(error.next_step(), NextStep::ContactCommunityManager);
    // The reader saw the old key, and refused it with a red light and the reason.
    assert_eq!(next_light(&mut feedback).await, (Light::Red, Reason::OwnerNotVerified));
    assert_eq!(last_attempt(&world), Outcome::Refused(Reason::OwnerNotVerified));
    assert!(!world.site.reader(SERVER_ROOM).unwrap().relay_is_open());
    // And from now on the phone knows before it connects.
    let before = attempts(&world);
    assert_eq!(world.button.tap().await.unwrap_err(), Error::OwnerVerificationUnavailable);
    assert_eq!(attempts(&world), before);
    // Other doors are unaffected.
    assert!(world.button.doors().iter().any(|d| d.name == "Main entrance"));
    assert!(!world.button.doors().iter().any(|d| d.name == "Server room"));
}

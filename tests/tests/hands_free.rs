//! Hands-free unlocking end to end: the organization and the meeting room allow it (the cloud
//! over real HTTP), the member turns it on, and their phone walks the simulated site on the paused
//! clock — past the meeting room's range reader, towards it, away from it — while the Key Button
//! runs hands-free. The door opens once per approach that stops at it, never on a walk past or
//! away, never at a tap reader, never while the phone is locked.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::Duration;

use mobile_access::{HandsFreeConfig, ble::sim::Position};
use mobile_access_reader::Outcome;
use serde_json::json;
use support::*;

/// The meeting room's range reader (at x = 12 m) in the demo site.
const MEETING_ROOM: usize = 1;
const MEETING_ROOM_X: f64 = 12.0;
/// Walking pace, metres per second.
const WALK: f64 = 1.4;

/// Moves the phone from `from` to `to` at `speed` m/s.
async fn walk(world: &World, from: Position, to: Position, speed: f64) {
    mobile_access_harness::world::walk(&world.phone, from, to, speed).await;
}

async fn stay(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

fn openings(world: &World, reader: usize) -> usize {
    world.site.reader(reader).unwrap().with(|r| r.audit().entries().filter(|e| e.outcome == Outcome::Granted).count())
}

fn attempts(world: &World, reader: usize) -> usize {
    world.site.reader(reader).unwrap().with(|r| r.audit().entries().count())
}

/// Ada's world at `at`, with hands-free allowed by the organization and the doors named, turned
/// on by Ada, her phone unlocked, keys downloaded.
async fn hands_free_world(at: Position, doors: &[&str]) -> World {
    let world = World::new("ada_member", at).await;
    world.admin_settings(json!({"hands_free": true})).await;
    for door in doors {
        let id = world.door_id(door);
        world.admin(reqwest::Method::PATCH, &format!("/v1/admin/doors/{id}"), Some(json!({"hands_free": true})));
    }
    world.button.refresh().await.unwrap();
    world.button.set_hands_free(true).unwrap();
    world.button.set_phone_unlocked(true);
    world
}

/// Runs hands-free while `moves` runs.
async fn while_hands_free(world: &World, moves: impl Future<Output = ()>) {
    tokio::select! {
        result = world.button.run_hands_free(HandsFreeConfig::default()) => panic!("hands-free ended: {result:?}"),
        () = moves => {}
    }
}

#[tokio::test(start_paused = true)]
async fn walking_towards_the_door_and_waiting_opens_it_once() {
    let far = Position::new(MEETING_ROOM_X + 10.0, 0.0);
    let world = hands_free_world(far, &["Meeting room"]).await;
    assert_eq!(world.button.hands_free_doors().iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["Meeting room"]);
    while_hands_free(&world, async {
        stay(2).await;
        walk(&world, far, Position::new(MEETING_ROOM_X + 1.0, 0.0), WALK).await;
        stay(20).await; // waiting at the door, then through it and standing around
    })
    .await;
    assert_eq!(openings(&world, MEETING_ROOM), 1, "one approach, one opening");
    assert_eq!(world.button.pending_journal().len(), 1, "journalled like a tap");
}

#[tokio::test(start_paused = true)]
async fn walking_past_the_door_opens_nothing() {
    let start = Position::new(MEETING_ROOM_X - 10.0, 0.8);
    let world = hands_free_world(start, &["Meeting room"]).await;
    while_hands_free(&world, async {
        walk(&world, start, Position::new(MEETING_ROOM_X + 10.0, 0.8), WALK).await;
        stay(5).await;
        // And back again, the other way.
        walk(&world, Position::new(MEETING_ROOM_X + 10.0, 0.8), start, WALK).await;
        stay(5).await;
    })
    .await;
    assert_eq!(attempts(&world, MEETING_ROOM), 0);
}

#[tokio::test(start_paused = true)]
async fn walking_away_from_the_door_opens_nothing_and_coming_back_opens_it() {
    let at_door = Position::new(MEETING_ROOM_X + 0.7, 0.0);
    let far = Position::new(MEETING_ROOM_X + 12.0, 0.0);
    let world = hands_free_world(at_door, &["Meeting room"]).await;
    while_hands_free(&world, async {
        stay(5).await; // already at the door when hands-free started: not an approach
        walk(&world, at_door, far, WALK).await;
        stay(5).await;
    })
    .await;
    assert_eq!(attempts(&world, MEETING_ROOM), 0, "standing at the door, then leaving: no opening");
    while_hands_free(&world, async {
        walk(&world, far, at_door, WALK).await;
        stay(10).await;
    })
    .await;
    assert_eq!(openings(&world, MEETING_ROOM), 1, "coming back is an approach");
}

#[tokio::test(start_paused = true)]
async fn a_locked_phone_waits_and_opens_only_once_unlocked() {
    let far = Position::new(MEETING_ROOM_X + 10.0, 0.0);
    let world = hands_free_world(far, &["Meeting room"]).await;
    world.button.set_phone_unlocked(false);
    while_hands_free(&world, async {
        walk(&world, far, Position::new(MEETING_ROOM_X + 1.0, 0.0), WALK).await;
        stay(10).await;
        assert_eq!(attempts(&world, MEETING_ROOM), 0, "locked in the pocket: nothing");
        // The member unlocks the phone, standing at the door.
        world.button.set_phone_unlocked(true);
        stay(6).await;
    })
    .await;
    assert_eq!(openings(&world, MEETING_ROOM), 1);
}

#[tokio::test(start_paused = true)]
async fn never_at_a_tap_reader_nor_where_the_organization_or_member_did_not_turn_it_on() {
    // The main entrance allows it, but its reader is a tap reader: touching it is the point.
    let world = hands_free_world(Position::new(20.0, 0.0), &["Main entrance"]).await;
    assert!(world.button.hands_free_doors().is_empty());
    let result =
        tokio::time::timeout(Duration::from_secs(5), world.button.run_hands_free(HandsFreeConfig::default())).await;
    assert!(matches!(result, Ok(Ok(()))), "nothing to do: it returns at once");
    world.phone.move_to(Position::new(0.05, 0.0));
    stay(10).await;
    assert_eq!(attempts(&world, MAIN), 0);

    // The meeting room allows it, but the organization turns it off again.
    let world = hands_free_world(Position::new(MEETING_ROOM_X + 10.0, 0.0), &["Meeting room"]).await;
    world.admin_settings(json!({"hands_free": false})).await;
    world.button.refresh().await.unwrap();
    assert!(world.button.hands_free_doors().is_empty());
    assert!(matches!(world.button.run_hands_free(HandsFreeConfig::default()).await, Ok(())));

    // Allowed everywhere, but the member turned it off.
    let world = hands_free_world(Position::new(MEETING_ROOM_X + 10.0, 0.0), &["Meeting room"]).await;
    world.button.set_hands_free(false).unwrap();
    assert!(!world.button.hands_free_enabled());
    assert!(matches!(world.button.run_hands_free(HandsFreeConfig::default()).await, Ok(())));
    assert_eq!(attempts(&world, MEETING_ROOM), 0);
}

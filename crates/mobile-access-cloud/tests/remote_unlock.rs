//! Remote unlock over real HTTP: a member's `POST /v1/me/doors/{door_id}/unlock` reaches the
//! door's reader, which holds a long poll open, within a second of wall time; the organization's
//! policy and the proof of proximity refuse what they must; a dropped poll loses no command; a
//! reader that does not answer leaves the door shut and the member told so. Every attempt is
//! in the audit log.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, Cloud};

/// What the reader announces with each poll in these tests: a phone may hear any of them.
const NONCES: &str = "0102030405060708,1112131415161718,2122232425262728";

/// One long poll as a reader makes it.
async fn poll(cloud: &Cloud, reader_token: &str, wait_secs: u32, nonces: &str) -> Vec<Value> {
    let path = format!("/v1/reader/commands?wait_secs={wait_secs}&nonces={nonces}");
    cloud.get(reader_token, &path).await.ok()["commands"].as_array().unwrap().clone()
}

/// A reader that polls until it receives one command, opens, and reports it: the command, and
/// when it arrived. Its polls announce no nonces: the list announced before stays.
fn reader_opening_once(cloud: &Cloud, reader_token: &str) -> tokio::task::JoinHandle<(Value, Instant)> {
    let http = cloud.http.clone();
    let base = cloud.url("");
    let token = reader_token.to_owned();
    tokio::spawn(async move {
        loop {
            let url = format!("{base}/v1/reader/commands?wait_secs=25");
            let reply: Value = http.get(url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
            let commands = reply["commands"].as_array().unwrap_or_else(|| panic!("the reader poll failed: {reply}"));
            if let Some(command) = commands.first().cloned() {
                let arrived = Instant::now();
                let url = format!("{base}/v1/reader/commands/{}/result", command["command_id"].as_str().unwrap());
                let done = http.post(url).bearer_auth(&token).json(&json!({"outcome": "opened"})).send().await.unwrap();
                assert_eq!(done.status(), 204);
                return (command, arrived);
            }
        }
    })
}

async fn poll_status(cloud: &Cloud, reader_token: &str, nonces: &str, status: u16) {
    let url = cloud.url(&format!("/v1/reader/commands?wait_secs=0&nonces={nonces}"));
    assert_eq!(cloud.http.get(url).bearer_auth(reader_token).send().await.unwrap().status(), status, "{nonces}");
}

fn audit_count(audit: &Value, action: &str) -> usize {
    audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == action).count()
}

#[tokio::test]
async fn a_remote_unlock_reaches_the_online_reader_within_a_second_and_the_policy_refuses_what_it_must() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    on_every_backend!(|cloud| {
        let org = cloud.org("Remote", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let (door, reader) = cloud.door_with_reader(admin, "Lab", "range").await;
        let (other_door, _) = cloud.door_with_reader(admin, "Vault", "range").await;
        cloud.group(admin, "Lab", &[&door]).await;
        let ada = cloud.member(&org.integration_token, "ada", &["Lab"]).await;
        let reader_token = reader["reader_token"].as_str().unwrap();
        let unlock = format!("/v1/me/doors/{door}/unlock");

        // The member's doors, listed from the cloud: only theirs, with the policy (off by default)
        // and whether the reader is online (it never polled).
        let listed = cloud.get(&ada, "/v1/me/doors").await.ok();
        assert_eq!(listed["remote_unlock"], "off");
        assert_eq!(listed["doors"], json!([{"door_id": door, "name": "Lab", "reader_online": false}]));
        assert_eq!(cloud.get(&ada, "/v1/me/access").await.ok()["remote_unlock"], "off");

        // Off by default: the member is told to use the reader.
        cloud.post(&ada, &unlock, json!({})).await.expect(403, "remote_unlock_off");
        let allowed = cloud.patch(admin, "/v1/admin/settings", json!({"remote_unlock": "allowed"})).await.ok();
        assert_eq!(allowed["remote_unlock"], "allowed");

        // A reader that never polled is offline: nothing is queued for later.
        cloud.post(&ada, &unlock, json!({})).await.expect(409, "reader_unavailable");
        // Another door is not the member's: the same answer as no door at all.
        cloud.post(&ada, &format!("/v1/me/doors/{other_door}/unlock"), json!({})).await.expect(404, "not_found");

        // Online: the reader's poll is open when the member asks.
        assert!(poll(&cloud, reader_token, 0, NONCES).await.is_empty());
        let listed = cloud.get(&ada, "/v1/me/doors").await.ok();
        assert_eq!((&listed["remote_unlock"], &listed["doors"][0]["reader_online"]), (&json!("allowed"), &json!(true)));
        let reader_task = reader_opening_once(&cloud, reader_token);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = Instant::now();
        let opened = cloud.post(&ada, &unlock, json!({})).await.ok();
        let answered = asked.elapsed();
        let (command, arrived) = reader_task.await.unwrap();
        let reached = arrived.duration_since(asked);
        eprintln!(
            "remote unlock: the reader had the command after {reached:?}, the member the answer after {answered:?}"
        );
        assert!(reached < Duration::from_secs(1), "the command reached the reader within a second: {reached:?}");
        assert!(answered < Duration::from_secs(2), "the member heard back at once: {answered:?}");
        assert_eq!((&opened["door_id"], &opened["door_name"]), (&json!(door), &json!("Lab")));
        assert_eq!(opened["reader_id"], reader["reader_id"]);
        assert_eq!(command["kind"], "open");
        let access = cloud.get(&ada, "/v1/me/access").await.ok();
        assert_eq!(command["member_id"], access["member_id"]);

        // Proximity required: without a proof, or with a nonce the reader did not announce,
        // refused; with one it announced (the last: one it will advertise later), opened.
        cloud.patch(admin, "/v1/admin/settings", json!({"remote_unlock": "proximity_required"})).await.ok();
        cloud.post(&ada, &unlock, json!({})).await.expect(403, "proximity_required");
        let reader_id = reader["reader_id"].as_str().unwrap();
        let wrong = json!({"proximity": {"reader_id": reader_id, "nonce": "ffffffffffffffff"}});
        cloud.post(&ada, &unlock, wrong).await.expect(403, "proximity_required");
        let reader_task = reader_opening_once(&cloud, reader_token);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let heard = json!({"proximity": {"reader_id": reader_id, "nonce": "2122232425262728".to_uppercase()}});
        cloud.post(&ada, &unlock, heard).await.ok();
        reader_task.await.unwrap();

        // A nonce of the list before the last poll still proves proximity (the phone may have
        // heard it just before the poll); one from two polls ago no longer does.
        assert!(poll(&cloud, reader_token, 0, "3132333435363738").await.is_empty());
        let reader_task = reader_opening_once(&cloud, reader_token);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let recent = json!({"proximity": {"reader_id": reader_id, "nonce": "2122232425262728"}});
        cloud.post(&ada, &unlock, recent.clone()).await.ok();
        reader_task.await.unwrap();
        assert!(poll(&cloud, reader_token, 0, "4142434445464748").await.is_empty());
        cloud.post(&ada, &unlock, recent).await.expect(403, "proximity_required");
        // A malformed or oversized announcement is a 400, and changes nothing.
        poll_status(&cloud, reader_token, "0102", 400).await;
        poll_status(&cloud, reader_token, &vec!["0102030405060708"; 129].join(","), 400).await;

        let audit = cloud.get(admin, "/v1/admin/audit-log").await.ok();
        assert_eq!(audit_count(&audit, "door.remote_unlock"), 9, "every attempt, refused ones too: {audit}");
        assert_eq!(audit_count(&audit, "reader.command_result"), 3);
    });
}

#[tokio::test]
async fn a_dropped_poll_loses_no_command_and_an_unanswered_one_leaves_the_door_shut() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Remote", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let (door, reader) = cloud.door_with_reader(admin, "Lab", "range").await;
        cloud.group(admin, "Lab", &[&door]).await;
        let ada = cloud.member(&org.integration_token, "ada", &["Lab"]).await;
        let reader_token = reader["reader_token"].as_str().unwrap();
        let unlock = format!("/v1/me/doors/{door}/unlock");
        cloud.patch(admin, "/v1/admin/settings", json!({"remote_unlock": "allowed"})).await.ok();

        // The reader's connection drops in the middle of a poll (its network went away).
        let url = cloud.url(&format!("/v1/reader/commands?wait_secs=25&nonces={NONCES}"));
        let dropped = cloud.http.get(url).bearer_auth(reader_token).send();
        assert!(tokio::time::timeout(Duration::from_millis(300), dropped).await.is_err(), "the poll was held open");
        // The member asks while no poll is open; the reader reconnects a moment later.
        let asking = {
            let (http, url, token) = (cloud.http.clone(), cloud.url(&unlock), ada.clone());
            tokio::spawn(async move { http.post(url).bearer_auth(token).json(&json!({})).send().await.unwrap() })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (command, _) = reader_opening_once(&cloud, reader_token).await.unwrap();
        assert_eq!(command["kind"], "open");
        assert_eq!(asking.await.unwrap().status(), 200, "opened after the reconnect");
        // Decided: the next poll has nothing, and the same result again is accepted once more.
        assert!(poll(&cloud, reader_token, 0, NONCES).await.is_empty());

        // Online a moment ago, silent now: the member waits a few seconds, hears the door
        // stayed shut, and the command never reaches the reader afterwards.
        let asked = Instant::now();
        let refused = cloud.post(&ada, &unlock, json!({})).await.expect(409, "reader_unavailable");
        assert!(refused["error"]["message"].as_str().unwrap().contains("did not answer"), "{refused}");
        assert!(asked.elapsed() >= Duration::from_secs(4), "the member waited for the reader");
        assert!(poll(&cloud, reader_token, 0, NONCES).await.is_empty(), "an expired command is never delivered");

        // A result for a command this reader was never given is refused.
        let stray = cloud.url(&format!("/v1/reader/commands/{}/result", "ab".repeat(16)));
        let reply = cloud.http.post(stray).bearer_auth(reader_token).json(&json!({"outcome": "opened"})).send();
        assert_eq!(reply.await.unwrap().status(), 404);
        // Only readers poll for commands, only members unlock.
        cloud.call(Method::GET, Some(&ada), "/v1/reader/commands?wait_secs=0", None).await.expect(403, "forbidden");
        cloud.post(admin, &unlock, json!({})).await.expect(403, "forbidden");
    });
}

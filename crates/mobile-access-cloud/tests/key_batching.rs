//! Key issuance's group commit (`store::key_writes`) seen from outside, on every backend: many
//! phones at once each get their own keys, every key handed out is recorded once with its audit
//! entry, and issuances abandoned at any point leave no half-written request behind.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::{collections::HashSet, time::Duration};

use mobile_access_cloud::{Limits, Store, api::KeyRequest};
use serde_json::{Value, json};
use sqlx::Row as _;
use support::{AFTER_DECEMBER_2023, Cloud, device};

/// Every `keys.issued` audit entry names credentials recorded in `issued_credentials`, and every
/// recorded credential is named by exactly one entry: no request was written in part. Returns
/// how many credentials are recorded.
async fn writes_are_whole(store: &Store) -> usize {
    let audits =
        sqlx::query("SELECT detail FROM audit_log WHERE action = 'keys.issued'").fetch_all(store.pool()).await.unwrap();
    let mut named = Vec::new();
    for row in audits {
        let detail: Value = serde_json::from_str(&row.get::<String, _>("detail")).unwrap();
        named.extend(detail["credentials"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()));
    }
    let recorded: HashSet<String> = sqlx::query("SELECT id FROM issued_credentials")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("id"))
        .collect();
    let distinct: HashSet<&String> = named.iter().collect();
    assert_eq!(distinct.len(), named.len(), "a credential named by two audit entries");
    assert_eq!(distinct.len(), recorded.len(), "audit entries and recorded credentials differ");
    assert!(named.iter().all(|id| recorded.contains(id)));
    recorded.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_phones_each_get_their_own_keys_and_abandoned_requests_leave_nothing_half_written() {
    const PHONES: usize = 32;
    const ROUNDS: usize = 4;
    for backend in support::backends() {
        let cloud = Cloud::start_with(backend, |config| config.limits = Limits::off()).await;
        let org = cloud.org("Batch", AFTER_DECEMBER_2023, None).await;
        let (door, _) = cloud.door_with_reader(&org.admin_token, "Door", "tap").await;
        cloud.group(&org.admin_token, "Staff", &[&door]).await;
        let mut tokens = Vec::new();
        for i in 0..PHONES {
            tokens.push(cloud.member(&org.integration_token, &format!("phone{i}"), &["Staff"]).await);
        }

        // Every phone asks ROUNDS times at once with the others, for its own device key.
        let tasks: Vec<_> = tokens
            .iter()
            .cloned()
            .map(|token| {
                let (http, url) = (cloud.http.clone(), cloud.url("/v1/me/keys"));
                tokio::spawn(async move {
                    let (_, public) = device();
                    let mut bundles = Vec::new();
                    for _ in 0..ROUNDS {
                        let reply = http.post(&url).bearer_auth(&token).json(&json!({"device_public_key": public}));
                        let response = reply.send().await.unwrap();
                        assert_eq!(response.status(), 200);
                        bundles.push((public.clone(), response.json::<Value>().await.unwrap()));
                    }
                    bundles
                })
            })
            .collect();
        let mut ids = HashSet::new();
        for task in tasks {
            for (public, bundle) in task.await.unwrap() {
                for credential in bundle["credentials"].as_array().unwrap() {
                    assert!(ids.insert(credential["id"].as_str().unwrap().to_owned()), "a credential id twice");
                    // Each key is signed for the phone that asked, not a neighbour in its batch.
                    let encoded = credential["credential"].as_str().unwrap();
                    assert!(encoded.contains(&public[2..]), "a key for another device");
                }
            }
        }
        assert_eq!(ids.len(), PHONES * ROUNDS);
        let store = cloud.handle.store();
        assert_eq!(writes_are_whole(store).await, PHONES * ROUNDS);
        let bindings = sqlx::query("SELECT COUNT(*) AS n FROM credentials WHERE kind = 'mobile_key'")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .get::<i64, _>("n");
        assert_eq!(bindings, PHONES as i64, "one device binding per phone");

        // Issuances abandoned at every stage (in the rights check, queued, mid-batch): whatever
        // was written is whole.
        let users = cloud.get(&org.admin_token, "/v1/admin/users?limit=1000").await.ok();
        let members: Vec<String> =
            users["items"].as_array().unwrap().iter().map(|u| u["member_id"].as_str().unwrap().to_owned()).collect();
        let mut abandoned = Vec::new();
        for (i, member) in members.iter().cycle().take(256).enumerate() {
            let (store, org_id, member) = (store.clone(), org.organization.id.clone(), member.clone());
            abandoned.push(tokio::spawn(async move {
                let request = KeyRequest { device_public_key: device().1, owner_public_key: None };
                let patience = Duration::from_micros(50 * (i as u64 % 60));
                tokio::time::timeout(patience, store.issue_keys(&org_id, &member, &request)).await.is_ok()
            }));
        }
        let mut finished = 0;
        for task in abandoned {
            finished += usize::from(task.await.unwrap());
        }
        // Let any batch in flight commit before looking.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let recorded = writes_are_whole(store).await;
        eprintln!("{backend:?}: {finished} of 256 abandoned-or-not issuances finished; {recorded} keys recorded");
        assert!(recorded >= PHONES * ROUNDS + finished);
        // And the server still issues.
        let (_, public) = device();
        cloud.post(&tokens[0], "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        cloud.finish().await;
    }
}

/// A member's token, the doors (ids and lock ids) they open, their organization's trust anchor.
type Phone = (String, Vec<(String, u64)>, Value);

/// The reads of concurrent key downloads are shared (`store::coalesce`): members of two
/// organizations, each opening their own doors, all asking at once, each get exactly their own
/// organization's trust anchor and their own doors; a member with no door is refused alone;
/// and a change of rights is seen by the very next request (nothing is cached).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_reads_give_each_member_their_own_rights_and_see_every_change_at_once() {
    const PER_ORG: usize = 12;
    for backend in support::backends() {
        let cloud = Cloud::start_with(backend, |config| config.limits = Limits::off()).await;
        // (member token, expected door ids and their lock ids, expected trust anchor); the
        // last member of each organization has no access group. Lock ids repeat across
        // organizations; door ids do not.
        let mut phones: Vec<Phone> = Vec::new();
        let mut orgs = Vec::new();
        for o in 0..2 {
            let org = cloud.org(&format!("Org {o}"), AFTER_DECEMBER_2023, None).await;
            let anchor = serde_json::to_value(&org.organization.trust_anchor).unwrap();
            let mut doors = Vec::new();
            for i in 0..PER_ORG - 1 {
                let (door, _) = cloud.door_with_reader(&org.admin_token, &format!("Door {o}.{i}"), "tap").await;
                cloud.group(&org.admin_token, &format!("Group {i}"), &[&door]).await;
                doors.push(door);
            }
            let listed = cloud.get(&org.admin_token, "/v1/admin/doors?limit=100").await.ok();
            let lock_of = |door: &str| {
                let listed = listed["items"].as_array().unwrap();
                listed.iter().find(|d| d["id"] == json!(door)).unwrap()["lock"].as_u64().unwrap()
            };
            for i in 0..PER_ORG {
                // Member i of this organization opens door i only (and the last member none).
                let groups: Vec<String> = (i < PER_ORG - 1).then(|| format!("Group {i}")).into_iter().collect();
                let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
                let token = cloud.member(&org.integration_token, &format!("m{o}-{i}"), &refs).await;
                let own = doors.get(i).map(|door| (door.clone(), lock_of(door))).into_iter().collect();
                phones.push((token, own, anchor.clone()));
            }
            orgs.push(org);
        }

        let tasks: Vec<_> = phones
            .iter()
            .cloned()
            .map(|(token, locks, anchor)| {
                let (http, url) = (cloud.http.clone(), cloud.url("/v1/me/keys"));
                tokio::spawn(async move {
                    let (_, public) = device();
                    for _ in 0..4 {
                        let body = json!({"device_public_key": public});
                        let response = http.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                        let status = response.status().as_u16();
                        let bundle: Value = response.json().await.unwrap();
                        if locks.is_empty() {
                            assert_eq!(
                                (status, bundle["error"]["code"].as_str()),
                                (403, Some("no_access_group")),
                                "{bundle}"
                            );
                            continue;
                        }
                        assert_eq!(status, 200, "{bundle}");
                        let doors: Vec<(String, u64)> = bundle["doors"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| (d["id"].as_str().unwrap().to_owned(), d["lock"].as_u64().unwrap()))
                            .collect();
                        assert_eq!(doors, locks, "another member's doors");
                        let issued: Vec<u64> = bundle["credentials"][0]["locks"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|l| l.as_u64().unwrap())
                            .collect();
                        let own: Vec<u64> = locks.iter().map(|(_, lock)| *lock).collect();
                        assert_eq!(issued, own, "a key for another member's doors");
                        assert_eq!(bundle["trust_anchors"], json!([anchor]), "another organization's anchor");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }

        // Rights taken away are seen by the next request, and given back likewise.
        let (token, _, _) = &phones[0];
        let (_, public) = device();
        let ask = || cloud.post(token, "/v1/me/keys", json!({"device_public_key": public}));
        ask().await.ok();
        let member = |groups: &[&str]| json!({"members": [{"external_id": "m0-0", "name": "m0-0", "email": "m0-0@example.com", "access_groups": groups}]});
        cloud.put(&orgs[0].integration_token, "/v1/integration/members", member(&[])).await.ok();
        ask().await.expect(403, "no_access_group");
        cloud.put(&orgs[0].integration_token, "/v1/integration/members", member(&["Group 0"])).await.ok();
        ask().await.ok();
        // A session ended is refused at once.
        cloud.empty(reqwest::Method::POST, token, "/v1/logout").await.expect(204, "");
        ask().await.expect(401, "unauthorized");
        cloud.finish().await;
    }
}

/// A pool of one connection still serves concurrent key downloads: with the key writer, the
/// shared reads and the requests' own statements all taking turns on it, none holds a
/// connection while it waits for a second (which on a small pool would wait until the pool's
/// timeout answered 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_of_one_connection_serves_concurrent_key_downloads() {
    for backend in support::backends() {
        let cloud = Cloud::start_with(backend, |config| {
            config.limits = Limits::off();
            config.max_connections = 1;
        })
        .await;
        let org = cloud.org("Small", AFTER_DECEMBER_2023, None).await;
        let (door, _) = cloud.door_with_reader(&org.admin_token, "Door", "tap").await;
        cloud.group(&org.admin_token, "Staff", &[&door]).await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let token = cloud.member(&org.integration_token, &format!("p{i}"), &["Staff"]).await;
            let (http, url) = (cloud.http.clone(), cloud.url("/v1/me/keys"));
            tasks.push(tokio::spawn(async move {
                let (_, public) = device();
                for _ in 0..4 {
                    let body = json!({"device_public_key": public});
                    let response = http.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                }
            }));
        }
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(20), task).await.expect("a key download stalled").unwrap();
        }
        cloud.finish().await;
    }
}

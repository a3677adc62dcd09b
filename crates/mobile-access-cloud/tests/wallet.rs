//! Wallet passes over real HTTP: eligibility with every combination of unmet prerequisites, the
//! member's self-service add (watch unlocked or locked, no permission, a new iPhone superseding
//! the old), and what the administrator does (list with devices, suspend, resume, delete), with
//! the audit log and what readers are told.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_cloud::hex;
use mobile_access_protocol::{CredentialId, SignedRevocationList};
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, Cloud, device};

const ORG_PREREQUISITES: [&str; 3] = ["sso_mfa", "wallet_pass_subscription", "eligible_reader"];

struct Org {
    admin: String,
    integration: String,
    reader_token: String,
}

/// An organization whose only door has a Reader Pro 2.1 with tamper protection on (so every
/// prerequisite but the device's is met), and a group "Staff" opening it.
async fn eligible_org(cloud: &Cloud, name: &str) -> Org {
    let org = cloud.org(name, AFTER_DECEMBER_2023, None).await;
    let admin = org.admin_token.clone();
    cloud.patch(&admin, "/v1/admin/settings", json!({"sso_mfa": true, "wallet_pass_subscription": true})).await.ok();
    let (door_id, provisioning) = cloud.door_with_reader(&admin, "Main entrance", "tap").await;
    cloud.group(&admin, "Staff", &[&door_id]).await;
    Org {
        admin,
        integration: org.integration_token,
        reader_token: provisioning["reader_token"].as_str().unwrap().to_owned(),
    }
}

fn add_body(iphone: &str, watch: Option<(&str, bool)>) -> Value {
    let (_, key) = device();
    json!({
        "ios_version": "17.4", "app_version": "46.2", "iphone_device_id": iphone,
        "secure_element_public_key": key,
        "watch_device_id": watch.map(|w| w.0), "watch_unlocked": watch.is_some_and(|w| w.1),
    })
}

fn body_key(body: &Value) -> String {
    body["secure_element_public_key"].as_str().unwrap().to_owned()
}

fn credential_ids(added: &Value) -> Vec<String> {
    added["provisioning"]["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The reader's poll: the credential ids on the signed list, and the reasons map.
async fn reader_view(cloud: &Cloud, org: &Org) -> (Vec<String>, Value) {
    let sync = cloud.get(&org.reader_token, "/v1/reader/config").await.ok();
    let list = SignedRevocationList::decode(&hex::decode(sync["revocation_list"].as_str().unwrap()).unwrap()).unwrap();
    let ids = list.list().revoked.iter().map(|CredentialId(id)| hex::encode(id)).collect();
    (ids, sync["revocation_reasons"].clone())
}

#[tokio::test]
async fn eligibility_names_every_unmet_prerequisite_in_every_combination() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Wallet eligibility", AFTER_DECEMBER_2023, None).await;
        let admin = org.admin_token.clone();
        let member = cloud.member(&org.integration_token, "m", &[]).await;
        // Doors whose readers do not take passes: a Reader Pro 2.1 with tamper protection off and
        // a Reader Pro 2 with it on.
        for (door, model, tamper) in [("Back door", "Reader Pro 2.1", false), ("Side door", "Reader Pro 2", true)] {
            let door = cloud.post(&admin, "/v1/admin/doors", json!({"name": door})).await.ok();
            let path = format!("/v1/admin/doors/{}/readers", door["id"].as_str().unwrap());
            cloud.post(&admin, &path, json!({"model": model, "mode": "tap", "tamper_protection": tamper})).await.ok();
        }
        let devices = [("16.7.8", "45.9"), ("17.0", "45.9"), ("16.7.8", "46.0"), ("17.4", "46.10")];
        for eligible_reader in [false, true] {
            if eligible_reader {
                cloud.door_with_reader(&admin, "Main entrance", "tap").await;
            }
            for org_flags in 0..4u8 {
                let (sso, subscription) = (org_flags & 1 != 0, org_flags & 2 != 0);
                let patch = json!({"sso_mfa": sso, "wallet_pass_subscription": subscription});
                cloud.patch(&admin, "/v1/admin/settings", patch).await.ok();
                for (ios, app) in devices {
                    let device = json!({"ios_version": ios, "app_version": app});
                    let answer = cloud.post(&member, "/v1/me/wallet/eligibility", device).await.ok();
                    let mut expected = Vec::new();
                    for (name, met) in ORG_PREREQUISITES.iter().zip([sso, subscription, eligible_reader]) {
                        if !met {
                            expected.push(*name);
                        }
                    }
                    if ios.starts_with("16") {
                        expected.push("ios_version");
                    }
                    if app == "45.9" {
                        expected.push("app_version");
                    }
                    let label =
                        format!("reader {eligible_reader}, sso {sso}, subscription {subscription}, {ios}/{app}");
                    assert_eq!(answer["unmet"], json!(expected), "{label}");
                    assert_eq!(answer["eligible"], expected.is_empty(), "{label}");
                    assert_eq!(answer["messages"].as_array().unwrap().len(), expected.len(), "{label}");
                    let mut body = add_body("iphone-1", None);
                    body["ios_version"] = json!(ios);
                    body["app_version"] = json!(app);
                    let reply = cloud.post(&member, "/v1/me/wallet/passes", body).await;
                    if expected.is_empty() {
                        assert_eq!(reply.status, 201, "{label}: {}", reply.body);
                    } else {
                        let refusal = reply.expect(403, "wallet_not_eligible");
                        let text = refusal["error"]["message"].as_str().unwrap().to_owned();
                        assert_eq!(text.split("; ").count(), expected.len(), "{label}: every reason in {text}");
                    }
                }
            }
        }
        let bad = cloud
            .post(&member, "/v1/me/wallet/eligibility", json!({"ios_version": "seventeen", "app_version": "46"}))
            .await;
        bad.expect(400, "invalid_request");
    });
}

#[tokio::test]
async fn a_member_adds_a_pass_with_the_watch_unlocked_or_locked_and_the_admin_sees_the_devices() {
    on_every_backend!(|cloud| {
        let org = eligible_org(&cloud, "Wallet add").await;
        let grace = cloud.member(&org.integration, "grace", &["Staff"]).await;
        let locked_body = add_body("iphone-1", Some(("watch-1", false)));
        let locked = cloud.post(&grace, "/v1/me/wallet/passes", locked_body.clone()).await.ok();
        assert_eq!(locked["watch"], "add_again");
        assert_eq!(locked["pass"]["devices"], json!({"iphone": "iphone-1", "watch": null}));
        assert!(locked["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("add the pass again")));
        assert_eq!(locked["pass"]["locks"].as_array().unwrap().len(), 1);
        assert_eq!(locked["provisioning"]["unlock"], "tap");
        assert_eq!(credential_ids(&locked).len(), 1);

        // Redoing the steps (same iPhone, same secure-element key) with the watch unlocked binds
        // it; the first add is superseded.
        let mut redo = add_body("iphone-1", Some(("watch-1", true)));
        redo["secure_element_public_key"] = json!(body_key(&locked_body));
        let unlocked = cloud.post(&grace, "/v1/me/wallet/passes", redo).await.ok();
        assert_eq!(unlocked["watch"], "bound");
        assert_eq!(unlocked["superseded"], json!([locked["pass"]["id"]]));
        let listed = cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1, "one pass per member");
        assert_eq!(listed["items"][0]["devices"], json!({"iphone": "iphone-1", "watch": "watch-1"}));
        assert_eq!(listed["items"][0]["status"], "active");
        let mine = cloud.get(&grace, "/v1/me/wallet/passes").await.ok();
        assert_eq!(mine["items"], listed["items"]);
        let credentials = cloud.get(&org.admin, "/v1/admin/credentials").await.ok();
        assert!(credentials["items"].as_array().unwrap().iter().any(|c| c["kind"] == "wallet_pass"));

        let audit = cloud.get(&org.admin, "/v1/admin/audit-log").await.ok();
        let actions: Vec<&str> =
            audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"wallet_pass.added") && actions.contains(&"wallet_pass.superseded"));

        // A key that is not a P-256 point is refused, and nothing is recorded.
        let mut bad = add_body("iphone-1", None);
        bad["secure_element_public_key"] = json!(format!("04{}", "00".repeat(64)));
        cloud.post(&grace, "/v1/me/wallet/passes", bad).await.expect(422, "invalid_key");
        assert_eq!(cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok()["items"], listed["items"]);
    });
}

#[tokio::test]
async fn a_new_iphone_supersedes_the_old_pass_and_its_watch_for_every_reader() {
    on_every_backend!(|cloud| {
        let org = eligible_org(&cloud, "Wallet new iPhone").await;
        let grace = cloud.member(&org.integration, "grace", &["Staff"]).await;
        let old =
            cloud.post(&grace, "/v1/me/wallet/passes", add_body("iphone-old", Some(("watch-1", true)))).await.ok();
        let new = cloud.post(&grace, "/v1/me/wallet/passes", add_body("iphone-new", None)).await.ok();
        assert_eq!(new["superseded"], json!([old["pass"]["id"]]));
        let listed = cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed["items"][0]["devices"], json!({"iphone": "iphone-new", "watch": null}));
        let (revoked, reasons) = reader_view(&cloud, &org).await;
        for id in credential_ids(&old) {
            assert!(revoked.contains(&id), "the old pass is on the signed list");
            assert_eq!(reasons[&id], "pass_superseded");
        }
        for id in credential_ids(&new) {
            assert!(!revoked.contains(&id));
        }
    });
}

#[tokio::test]
async fn suspend_resume_and_delete_reach_readers_with_their_reason_and_the_audit_log_names_the_admin() {
    on_every_backend!(|cloud| {
        let org = eligible_org(&cloud, "Wallet admin").await;
        let grace = cloud.member(&org.integration, "grace", &["Staff"]).await;
        let added = cloud.post(&grace, "/v1/me/wallet/passes", add_body("iphone-1", None)).await.ok();
        let id = added["pass"]["id"].as_str().unwrap().to_owned();
        let ids = credential_ids(&added);
        let status = |listed: &Value| listed["items"][0]["status"].as_str().unwrap().to_owned();

        cloud
            .empty(reqwest::Method::POST, &org.admin, &format!("/v1/admin/wallet-passes/{id}/suspend"))
            .await
            .expect(204, "");
        assert_eq!(status(&cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok()), "suspended");
        let (revoked, reasons) = reader_view(&cloud, &org).await;
        assert!(revoked.contains(&ids[0]));
        assert_eq!(reasons[&ids[0]], "pass_suspended");

        let again = cloud.post(&grace, "/v1/me/wallet/passes", add_body("iphone-2", None)).await;
        again.expect(403, "credential_suspended");
        cloud
            .empty(reqwest::Method::POST, &org.admin, &format!("/v1/admin/wallet-passes/{id}/resume"))
            .await
            .expect(204, "");
        assert_eq!(status(&cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok()), "active");
        let (revoked, reasons) = reader_view(&cloud, &org).await;
        assert!(!revoked.contains(&ids[0]), "resumed: off the list again");
        assert!(reasons.get(&ids[0]).is_none());

        cloud
            .empty(reqwest::Method::DELETE, &org.admin, &format!("/v1/admin/wallet-passes/{id}"))
            .await
            .expect(204, "");
        assert_eq!(cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok()["items"], json!([]));
        let (revoked, reasons) = reader_view(&cloud, &org).await;
        assert!(revoked.contains(&ids[0]));
        assert_eq!(reasons[&ids[0]], "pass_deleted");
        cloud
            .empty(reqwest::Method::DELETE, &org.admin, &format!("/v1/admin/wallet-passes/{id}"))
            .await
            .expect(404, "not_found");

        let audit = cloud.get(&org.admin, "/v1/admin/audit-log").await.ok();
        for action in ["wallet_pass.suspended", "wallet_pass.resumed", "wallet_pass.deleted"] {
            let entry = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == action).unwrap();
            assert_eq!(entry["actor"], "admin", "{action}");
            assert_eq!(entry["subject"], id.as_str());
        }
    });
}

#[tokio::test]
async fn a_member_without_an_access_group_gets_a_pass_that_opens_nothing() {
    on_every_backend!(|cloud| {
        let org = eligible_org(&cloud, "Wallet no group").await;
        let nick = cloud.member(&org.integration, "nick", &[]).await;
        let added = cloud.post(&nick, "/v1/me/wallet/passes", add_body("iphone-1", None)).await.ok();
        assert_eq!(added["pass"]["locks"], json!([]));
        assert_eq!(added["provisioning"]["credentials"], json!([]));
        assert!(added["notes"][0].as_str().unwrap().contains("opens no door"));
        assert_eq!(cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok()["items"].as_array().unwrap().len(), 1);
    });
}

#[tokio::test]
async fn a_pass_key_never_becomes_a_mobile_key_for_hands_free_unlock() {
    on_every_backend!(|cloud| {
        let org = eligible_org(&cloud, "Wallet no hands-free").await;
        let grace = cloud.member(&org.integration, "grace", &["Staff"]).await;
        let body = add_body("iphone-1", None);
        cloud.post(&grace, "/v1/me/wallet/passes", body.clone()).await.ok();
        let keys = cloud.post(&grace, "/v1/me/keys", json!({"device_public_key": body_key(&body)})).await;
        keys.expect(409, "conflict");
        let listed = cloud.get(&org.admin, "/v1/admin/wallet-passes").await.ok();
        assert_eq!(listed["items"][0]["status"], "active", "the pass is untouched");
    });
}

/// Revocation scales: in an organization of 10,000 members, 1,000 revoked wallet passes (people
/// leaving over a year) stay on the list that readers poll and phones carry, and revoke nobody
/// else: the epoch does not move, the remaining pass and a mobile key issued before still verify.
/// When mobile keys then overflow the list, the epoch rises for mobile keys only: every revoked
/// pass stays listed and no pass is revoked by it.
#[tokio::test]
async fn a_thousand_revoked_passes_among_ten_thousand_members_revoke_nobody_else() {
    use mobile_access_protocol::{Credential, MAX_REVOKED};
    const MEMBERS: usize = 10_000;
    const LEAVERS: usize = 1_000;
    // A load test: 2,000 calls from one integration and one administrator in a few seconds, well
    // past the rate limits meant for people; those are tested in tests/limits.rs.
    for backend in support::backends() {
        let cloud = Cloud::start_with(backend, |config| config.limits = mobile_access_cloud::Limits::off()).await;
        eprintln!("backend: {:?}", cloud.backend);
        let org = eligible_org(&cloud, "Scale").await;
        for batch in (0..MEMBERS).collect::<Vec<_>>().chunks(2_000) {
            let members: Vec<Value> = batch
                .iter()
                .map(|i| {
                    json!({"external_id": format!("m{i}"), "name": format!("Member {i}"),
                           "email": format!("m{i}@example.com"), "access_groups": ["Staff"]})
                })
                .collect();
            cloud.put(&org.integration, "/v1/integration/members", json!({ "members": members })).await.ok();
        }
        let session = |i: usize| {
            let cloud = &cloud;
            let integration = org.integration.clone();
            async move {
                let path = format!("/v1/integration/members/m{i}/session");
                cloud.call(reqwest::Method::POST, Some(&integration), &path, None).await.ok()["token"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        // A member who stays, with a mobile key and a pass issued before everything below.
        let stayer = session(MEMBERS - 1).await;
        let (_, stayer_key) = device();
        let bundle = cloud.post(&stayer, "/v1/me/keys", json!({ "device_public_key": stayer_key })).await.ok();
        let mobile =
            Credential::decode(&hex::decode(bundle["credentials"][0]["credential"].as_str().unwrap()).unwrap())
                .unwrap();
        let kept_pass = cloud.post(&stayer, "/v1/me/wallet/passes", add_body("iphone-stay", None)).await.ok();
        let kept_pass_ids = credential_ids(&kept_pass);

        let mut revoked = Vec::new();
        for i in 0..LEAVERS {
            let token = session(i).await;
            let added = cloud.post(&token, "/v1/me/wallet/passes", add_body(&format!("iphone-{i}"), None)).await.ok();
            revoked.extend(credential_ids(&added));
            let id = added["pass"]["id"].as_str().unwrap().to_owned();
            cloud
                .empty(reqwest::Method::DELETE, &org.admin, &format!("/v1/admin/wallet-passes/{id}"))
                .await
                .expect(204, "");
        }
        let sync = cloud.get(&org.reader_token, "/v1/reader/config").await.ok();
        let list =
            SignedRevocationList::decode(&hex::decode(sync["revocation_list"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(list.list().revoked.len(), LEAVERS, "every revoked pass is listed");
        for id in &revoked {
            assert!(list.list().revoked.iter().any(|CredentialId(c)| hex::encode(c) == *id));
        }
        assert!(mobile.body().revocation_epoch >= list.list().min_epoch, "the stayer's mobile key still verifies");
        for id in &kept_pass_ids {
            assert!(!list.list().revoked.iter().any(|CredentialId(c)| hex::encode(c) == *id), "the kept pass");
        }
        let epoch_before = list.list().min_epoch;

        // Mobile keys now overflow the list: members losing access with keys on their phones.
        let overflow = MAX_REVOKED + 1 - LEAVERS;
        for i in LEAVERS..LEAVERS + overflow {
            let token = session(i).await;
            let (_, key) = device();
            cloud.post(&token, "/v1/me/keys", json!({ "device_public_key": key })).await.ok();
        }
        let leaving: Vec<Value> = (LEAVERS..LEAVERS + overflow)
            .map(|i| {
                json!({"external_id": format!("m{i}"), "name": format!("Member {i}"),
                       "email": format!("m{i}@example.com"), "access_groups": []})
            })
            .collect();
        cloud.put(&org.integration, "/v1/integration/members", json!({ "members": leaving })).await.ok();
        let sync = cloud.get(&org.reader_token, "/v1/reader/config").await.ok();
        let list =
            SignedRevocationList::decode(&hex::decode(sync["revocation_list"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(list.list().min_epoch, epoch_before + 1, "the mobile keys' epoch rose");
        assert_eq!(list.list().revoked.len(), LEAVERS, "every revoked pass stays listed; mobile entries left");
        let pass = Credential::decode(
            &hex::decode(kept_pass["provisioning"]["credentials"][0]["credential"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        assert!(pass.body().revocation_epoch >= list.list().min_epoch, "no pass is revoked by an epoch rise");
        println!(
            "{:?}: {LEAVERS} revoked passes among {MEMBERS} members: list of {} bytes",
            cloud.backend,
            list.encoded().len()
        );
        cloud.finish().await;
    }
}

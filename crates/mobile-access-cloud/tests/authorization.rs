//! The authorization matrix: anonymous, member, integration and admin callers against every
//! documented route, and callers of one organization against another's objects.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::collections::HashMap;

use mobile_access_cloud::{api::Role, http::OPERATIONS};
use reqwest::Method;
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, Cloud, device};

/// One organization with one of everything, and a caller of each role.
struct Tenant {
    admin: String,
    integration: String,
    member: String,
    reader: String,
    ids: HashMap<&'static str, String>,
}

async fn tenant(cloud: &Cloud, name: &str) -> Tenant {
    let org = cloud.org(name, AFTER_DECEMBER_2023, None).await;
    let admin = org.admin_token.clone();
    let (door_id, provisioning) = cloud.door_with_reader(&admin, "Door", "tap").await;
    let reader = provisioning["reader_token"].as_str().unwrap().to_owned();
    cloud.group(&admin, "Members", &[&door_id]).await;
    let external_id = format!("{name}-member");
    let member = cloud.member(&org.integration_token, &external_id, &["Members"]).await;
    let users = cloud.get(&admin, "/v1/admin/users").await.ok();
    let member_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["external_id"] == external_id.as_str())
        .unwrap()["member_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fob = cloud
        .post(&admin, &format!("/v1/admin/users/{member_id}/credentials"), json!({"kind": "key_fob", "number": "1"}))
        .await
        .ok();
    cloud.patch(&admin, "/v1/admin/settings", json!({"sso_mfa": true, "wallet_pass_subscription": true})).await.ok();
    // The pass belongs to another member: the matrix's own add as `member` would supersede it.
    let holder = cloud.member(&org.integration_token, &format!("{name}-pass-holder"), &["Members"]).await;
    let pass = cloud.post(&holder, "/v1/me/wallet/passes", body_for(Some("NewWalletPass"), 0).unwrap()).await.ok();
    // A remote unlock the reader carried out: its command id is the result route's object.
    cloud.patch(&admin, "/v1/admin/settings", json!({"remote_unlock": "allowed"})).await.ok();
    cloud.get(&reader, "/v1/reader/commands?wait_secs=0").await.ok();
    let asking = {
        let (http, url, token) =
            (cloud.http.clone(), cloud.url(&format!("/v1/me/doors/{door_id}/unlock")), member.clone());
        tokio::spawn(async move { http.post(url).bearer_auth(token).json(&json!({})).send().await.unwrap().status() })
    };
    let polled = cloud.get(&reader, "/v1/reader/commands?wait_secs=5").await.ok();
    let command_id = polled["commands"][0]["command_id"].as_str().unwrap().to_owned();
    let result = format!("/v1/reader/commands/{command_id}/result");
    let reported = cloud.call(Method::POST, Some(&reader), &result, Some(json!({"outcome": "opened"}))).await;
    assert_eq!(reported.status.as_u16(), 204, "{}", reported.body);
    assert_eq!(asking.await.unwrap(), 200);
    cloud.patch(&admin, "/v1/admin/settings", json!({"remote_unlock": "off"})).await.ok();
    let ids = HashMap::from([
        ("command_id", command_id),
        ("pass_id", pass["pass"]["id"].as_str().unwrap().to_owned()),
        ("org_id", org.organization.id.clone()),
        ("door_id", door_id),
        ("member_id", member_id),
        ("external_id", external_id),
        ("credential_id", fob["id"].as_str().unwrap().to_owned()),
    ]);
    Tenant { admin, integration: org.integration_token, member, reader, ids }
}

fn path_for(template: &str, tenant: &Tenant) -> String {
    template
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => tenant.ids[name].clone(),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A valid body for each request schema; `n` keeps names unique across calls.
fn body_for(schema: Option<&str>, n: usize) -> Option<Value> {
    let (_, device_key) = device();
    Some(match schema? {
        "Login" => json!({"email": "nobody@example.com", "password": "password123"}),
        "AcceptInvitation" => json!({"token": "ma_inv_unknown", "password": "password123"}),
        "KeyRequest" => json!({"device_public_key": device_key}),
        "MemberSync" => json!({"members": []}),
        "SettingsPatch" => json!({}),
        "CommandResult" => json!({"outcome": "opened"}),
        "RemoteUnlockRequest" => json!({}),
        "NewDoor" => json!({"name": format!("Door {n}")}),
        "DoorPatch" => json!({"owner_verification": false}),
        "NewReader" => json!({"model": "Reader Pro 2.1", "mode": "range", "tamper_protection": false}),
        "NewAccessGroup" => json!({"name": format!("Group {n}"), "door_ids": []}),
        "NewCredential" => json!({"kind": "card", "number": format!("{n}")}),
        "EventUpload" => json!({"events": [{"event_id": format!("e{n}"), "at": 1, "outcome": "granted"}]}),
        "StartSwitch" => json!({"unlock_method": "branded_app"}),
        "WalletDevice" => json!({"ios_version": "17.4", "app_version": "46.2"}),
        "NewWalletPass" => {
            json!({"ios_version": "17.4", "app_version": "46.2", "iphone_device_id": format!("iphone-{n}"),
            "secure_element_public_key": device_key})
        }
        other => panic!("no sample body for {other}"),
    })
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

#[tokio::test]
async fn every_route_admits_exactly_its_role_and_only_within_its_organization() {
    on_every_backend!(|cloud| {
        let a = tenant(&cloud, "a").await;
        let b = tenant(&cloud, "b").await;
        let mut n = 0;
        for op in OPERATIONS {
            let mut path = path_for(op.path, &a);
            if op.path == "/v1/reader/commands" {
                path.push_str("?wait_secs=0"); // answered at once, not held for 25 s
            }
            let label = format!("{} {}", op.method, op.path);
            let mut call = |token: Option<String>| {
                n += 1;
                let body = body_for(op.request, n);
                let path = path.clone();
                let cloud = &cloud;
                async move { cloud.call(method(op.method), token.as_deref(), &path, body).await }
            };
            let Some(role) = op.role else {
                for token in [None, Some(a.admin.clone()), Some(a.member.clone())] {
                    let reply = call(token).await;
                    assert!(!["unauthorized", "forbidden"].contains(&reply.code()), "{label}: public route refused");
                    assert!(reply.status.as_u16() < 500, "{label}: {}", reply.status);
                }
                continue;
            };
            call(None).await.expect(401, "unauthorized");
            call(Some("ma_adm_0000".to_owned())).await.expect(401, "unauthorized");
            let own = |role: Role, t: &Tenant| match role {
                Role::Admin => t.admin.clone(),
                Role::Integration => t.integration.clone(),
                Role::Member => t.member.clone(),
                Role::Reader => t.reader.clone(),
            };
            for other in [Role::Admin, Role::Integration, Role::Member, Role::Reader].into_iter().filter(|r| *r != role)
            {
                let reply = call(Some(own(other, &a))).await;
                assert_eq!((reply.status.as_u16(), reply.code()), (403, "forbidden"), "{label} as {other}");
            }
            let reply = call(Some(own(role, &a))).await;
            let refused_by_rule = reply.status == 403 && op.refusals.contains(&reply.code());
            assert!(
                reply.status.as_u16() == op.status || refused_by_rule,
                "{label} as {role}: {} {}",
                reply.status,
                reply.body
            );

            // The same role in organization b, aimed at a's objects or listing its own.
            let reply = call(Some(own(role, &b))).await;
            if op.path.contains('{') {
                assert_eq!((reply.status.as_u16(), reply.code()), (404, "not_found"), "{label} from b");
            } else {
                let text = reply.body.to_string();
                for (name, id) in &a.ids {
                    assert!(!text.contains(id.as_str()), "{label} from b shows a's {name}");
                }
            }
        }
    });
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_with_its_security() {
    on_every_backend!(|cloud| {
        let doc = cloud.call(Method::GET, None, "/openapi.json", None).await.ok();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut operations = 0;
        for op in OPERATIONS {
            let entry = &doc["paths"][op.path][op.method.to_lowercase()];
            assert!(entry.is_object(), "{} {} is documented", op.method, op.path);
            assert!(entry["responses"][op.status.to_string()].is_object());
            match op.role {
                Some(role) => assert_eq!(entry["security"][0][format!("{role}_token")], json!([])),
                None => assert!(entry.get("security").is_none()),
            }
            if let Some(schema) = op.request {
                assert!(doc["components"]["schemas"][schema].is_object(), "{schema} is defined");
            }
            operations += 1;
        }
        let documented: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(documented, operations);
        // Every $ref resolves.
        let text = doc.to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name} is defined");
        }
    });
}

#[tokio::test]
async fn a_removed_member_s_session_stops_working() {
    on_every_backend!(|cloud| {
        let a = tenant(&cloud, "a").await;
        cloud.get(&a.member, "/v1/me/access").await.ok();
        let removal = json!({"members": [{"external_id": a.ids["external_id"], "removed": true}]});
        let report = cloud.put(&a.integration, "/v1/integration/members", removal).await.ok();
        assert_eq!(report["removed"], 1);
        cloud.get(&a.member, "/v1/me/access").await.expect(401, "unauthorized");
        let credentials = cloud.get(&a.admin, "/v1/admin/credentials").await.ok();
        let theirs =
            credentials["items"].as_array().unwrap().iter().filter(|c| c["member_id"] == a.ids["member_id"].as_str());
        assert_eq!(theirs.count(), 0, "the member's fob went with them");
    });
}

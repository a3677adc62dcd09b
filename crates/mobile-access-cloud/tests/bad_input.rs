//! Bad input gets the right 4xx with a JSON error, never a 500, and changes nothing.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use reqwest::{Method, header};
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, Cloud, Reply};

async fn raw(
    cloud: &Cloud,
    method: Method,
    token: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = cloud.http.request(method, cloud.url(path)).bearer_auth(token).body(body);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    Reply { status, body: serde_json::from_str(&body).unwrap_or(Value::Null) }
}

#[track_caller]
fn is_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{}", reply.body);
    assert!(reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {}", reply.body);
}

#[tokio::test]
async fn malformed_bodies_are_rejected_with_their_own_codes() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Bad", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let json_type = Some("application/json");
        let doors = "/v1/admin/doors";
        is_error(&raw(&cloud, Method::POST, admin, doors, json_type, b"{not json".to_vec()).await, 400, "invalid_json");
        is_error(&raw(&cloud, Method::POST, admin, doors, json_type, b"".to_vec()).await, 400, "invalid_json");
        is_error(&cloud.post(admin, doors, json!({"name": 5})).await, 400, "invalid_request");
        is_error(&cloud.post(admin, doors, json!({})).await, 400, "invalid_request");
        is_error(&cloud.post(admin, doors, json!({"name": "x", "colour": "red"})).await, 400, "invalid_request");
        is_error(&cloud.post(admin, doors, json!({"name": "   "})).await, 400, "invalid_request");
        is_error(&cloud.post(admin, doors, json!([1, 2])).await, 400, "invalid_request");
        let plain = raw(&cloud, Method::POST, admin, doors, Some("text/plain"), br#"{"name":"x"}"#.to_vec()).await;
        is_error(&plain, 415, "unsupported_media_type");
        is_error(
            &raw(&cloud, Method::POST, admin, doors, None, br#"{"name":"x"}"#.to_vec()).await,
            415,
            "unsupported_media_type",
        );

        let settings = "/v1/admin/settings";
        is_error(&cloud.patch(admin, settings, json!({"unlock_method": "telepathy"})).await, 400, "invalid_request");
        is_error(&cloud.patch(admin, settings, json!({"key_validity_secs": 10})).await, 400, "invalid_request");
        is_error(&cloud.patch(admin, settings, json!({"key_validity_secs": -1})).await, 400, "invalid_request");
        is_error(&cloud.patch(admin, settings, json!({"welcome_email": "yes"})).await, 400, "invalid_request");
        is_error(&cloud.get(admin, "/v1/admin/users?limit=0").await, 400, "invalid_request");
        is_error(&cloud.get(admin, "/v1/admin/users?limit=many").await, 400, "invalid_request");
        is_error(&cloud.get(admin, "/v1/admin/audit-log?after=yesterday").await, 400, "invalid_request");
        assert_eq!(cloud.get(admin, doors).await.ok()["items"], json!([]), "nothing was created");
        let settings_now = cloud.get(admin, settings).await.ok();
        assert_eq!(
            (settings_now["unlock_method"].as_str(), settings_now["key_validity_secs"].as_u64()),
            (Some("branded_app"), Some(86400))
        );
    });
}

#[tokio::test]
async fn oversized_bodies_are_413_and_the_sync_route_takes_large_batches() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Big", AFTER_DECEMBER_2023, None).await;
        let name = "x".repeat(100 * 1024);
        is_error(
            &cloud.post(&org.admin_token, "/v1/admin/doors", json!({"name": name})).await,
            413,
            "payload_too_large",
        );

        // 5 000 members (~600 KiB) are fine on the sync route...
        let members: Vec<Value> = (0..5_000)
            .map(|i| json!({"external_id": format!("m{i}"), "name": format!("Member {i}"), "email": format!("m{i}@example.com")}))
            .collect();
        let report =
            cloud.put(&org.integration_token, "/v1/integration/members", json!({"members": members})).await.ok();
        assert_eq!(report["created"], 5_000);
        // ...but not beyond its 32 MiB limit.
        let huge = vec![b' '; 33 * 1024 * 1024];
        let reply =
            raw(&cloud, Method::PUT, &org.integration_token, "/v1/integration/members", Some("application/json"), huge)
                .await;
        is_error(&reply, 413, "payload_too_large");
    });
}

#[tokio::test]
async fn unknown_ids_routes_and_methods_are_404_and_405() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Ids", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let reader = json!({"model": "Reader Pro 2.1", "mode": "tap", "tamper_protection": true});
        is_error(&cloud.post(admin, "/v1/admin/doors/0011223344556677/readers", reader).await, 404, "not_found");
        is_error(&cloud.get(admin, "/v1/admin/users/00112233445566778899aabbccddeeff").await, 404, "not_found");
        is_error(&cloud.empty(Method::POST, admin, "/v1/admin/credentials/nope/suspend").await, 404, "not_found");
        is_error(&cloud.empty(Method::DELETE, admin, "/v1/admin/credentials/nope").await, 404, "not_found");
        is_error(&cloud.empty(Method::POST, admin, "/v1/admin/users/nope/invitation").await, 404, "not_found");
        let fob = json!({"kind": "card", "number": "1"});
        is_error(&cloud.post(admin, "/v1/admin/users/nope/credentials", fob).await, 404, "not_found");
        let session = cloud.empty(Method::POST, &org.integration_token, "/v1/integration/members/nobody/session").await;
        is_error(&session, 404, "not_found");
        is_error(&cloud.get(admin, "/v1/admin/nothing-here").await, 404, "not_found");
        is_error(&cloud.empty(Method::DELETE, admin, "/v1/admin/doors").await, 405, "method_not_allowed");
        let group = json!({"name": "G", "door_ids": ["0011223344556677"]});
        is_error(&cloud.post(admin, "/v1/admin/access-groups", group).await, 422, "unknown_doors");
        cloud.post(admin, "/v1/admin/access-groups", json!({"name": "G"})).await.ok();
        is_error(&cloud.post(admin, "/v1/admin/access-groups", json!({"name": "G"})).await, 409, "conflict");
        let reply = cloud.call(Method::GET, None, "/v1/admin/users", None).await;
        is_error(&reply, 401, "unauthorized");
        let basic =
            cloud.http.get(cloud.url("/v1/admin/users")).header(header::AUTHORIZATION, format!("Basic {admin}"));
        assert_eq!(basic.send().await.unwrap().status(), 401);
    });
}

#[tokio::test]
async fn bad_device_keys_are_rejected_before_any_rule_is_checked() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Keys", AFTER_DECEMBER_2023, None).await;
        let token = cloud.member(&org.integration_token, "m", &[]).await;
        let off_curve = format!("04{}", "00".repeat(64));
        let compressed = format!("02{}", "11".repeat(32));
        for key in ["", "04", "zz", compressed.as_str(), &"0".repeat(131)] {
            let reply = cloud.post(&token, "/v1/me/keys", json!({"device_public_key": key})).await;
            is_error(&reply, 400, "invalid_request");
        }
        // The documented shape (04 and 128 hex digits) but no point on the curve: the request is
        // well-formed and still cannot be served, a 422 (schemathesis sends such keys as valid).
        let reply = cloud.post(&token, "/v1/me/keys", json!({"device_public_key": off_curve})).await;
        is_error(&reply, 422, "invalid_key");
        is_error(&cloud.post(&token, "/v1/me/keys", json!({"device_public_key": 4})).await, 400, "invalid_request");
        let (_, good) = support::device();
        is_error(&cloud.post(&token, "/v1/me/keys", json!({"device_public_key": good})).await, 403, "no_access_group");
    });
}

#[tokio::test]
async fn a_sync_naming_unknown_groups_is_rejected_whole() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Sync", AFTER_DECEMBER_2023, None).await;
        cloud.group(&org.admin_token, "Members", &[]).await;
        let sync = json!({"members": [
            {"external_id": "ok", "name": "Ok", "email": "ok@example.com", "access_groups": ["Members"]},
            {"external_id": "bad", "name": "Bad", "email": "bad@example.com", "access_groups": ["Ghosts", "Members", "Aliens"]},
        ]});
        let reply = cloud.put(&org.integration_token, "/v1/integration/members", sync).await;
        is_error(&reply, 422, "unknown_access_groups");
        assert!(reply.body["error"]["message"].as_str().unwrap().contains("Aliens, Ghosts"));
        assert_eq!(cloud.get(&org.admin_token, "/v1/admin/users").await.ok()["items"], json!([]));

        // A sync naming one member twice is well-formed and contradicts itself: 422 (it was a
        // 400, which schemathesis reported: the schema cannot say "unique by a field"), and
        // nothing is written.
        let twice = json!({"members": [
            {"external_id": "x", "name": "X", "email": "x@example.com"},
            {"external_id": "x", "name": "Y", "email": "y@example.com"},
        ]});
        let reply = cloud.put(&org.integration_token, "/v1/integration/members", twice).await;
        is_error(&reply, 422, "duplicate_external_id");
        assert_eq!(cloud.get(&org.admin_token, "/v1/admin/users").await.ok()["items"], json!([]));

        for bad in [
            json!({"members": [{"external_id": "", "name": "X", "email": "x@example.com"}]}),
            json!({"members": [{"external_id": "x", "name": "X", "email": "not-an-email"}]}),
            json!({"members": [{"external_id": "x", "email": "x@example.com"}]}),
            json!({"members": "everyone"}),
        ] {
            is_error(&cloud.put(&org.integration_token, "/v1/integration/members", bad).await, 400, "invalid_request");
        }
    });
}

#[tokio::test]
async fn strings_holding_a_nul_character_are_400_everywhere_on_both_databases() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Nul", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let member = cloud.member(integration, "m", &[]).await;
        let refused = |reply: Reply, what: &str| {
            assert_eq!((reply.status.as_u16(), reply.code()), (400, "invalid_request"), "{what}: {}", reply.body);
            assert!(reply.body["error"]["message"].as_str().unwrap().contains("NUL"), "{what}: {}", reply.body);
        };
        let login = json!({"email": "a\u{0}b@example.com", "password": "whatever1"});
        refused(cloud.call(Method::POST, None, "/v1/login", Some(login)).await, "login email");
        refused(cloud.post(admin, "/v1/admin/doors", json!({"name": "Door\u{0}"})).await, "door name");
        let sync = json!({"members": [{"external_id": "x\u{0}", "name": "X", "email": "x@example.com",
                                       "access_groups": []}]});
        refused(cloud.put(integration, "/v1/integration/members", sync).await, "external id");
        let events = json!({"events": [{"event_id": "e\u{0}", "at": 1, "outcome": "granted"}]});
        refused(cloud.post(&member, "/v1/me/events", events).await, "event id");
        refused(cloud.get(admin, "/v1/admin/users/abc%00def").await, "path id");
        refused(
            cloud.empty(Method::POST, integration, "/v1/integration/members/m%00/session").await,
            "external id in path",
        );
        refused(cloud.get(admin, "/v1/admin/users?after=a%00b").await, "paging cursor");
        refused(cloud.get(admin, "/v1/admin/audit-log?limit=5&after=%00").await, "paging cursor");
        // An escaped backslash followed by "u0000" is text, not a NUL.
        let door = cloud.post(admin, "/v1/admin/doors", json!({"name": "C:\\u0000"})).await.ok();
        assert_eq!(door["name"], "C:\\u0000");
        // Nothing was stored, and the server is fine.
        let doors = cloud.get(admin, "/v1/admin/doors").await.ok();
        assert_eq!(doors["items"].as_array().unwrap().len(), 1);
        assert_eq!(cloud.call(Method::GET, None, "/readyz", None).await.status, 200);
    });
}

/// What schemathesis found the server refusing although the OpenAPI document allowed it, or
/// accepting although the document refused it: each field now follows the document's rule
/// (`input.rs`), both ways.
#[tokio::test]
async fn fields_follow_the_documented_rules_both_ways() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Rules", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        // JSON Schema's integers include 3600.0; a fraction is not one.
        let settings = cloud.patch(admin, "/v1/admin/settings", json!({"key_validity_secs": 3600.0})).await.ok();
        assert_eq!(settings["key_validity_secs"], 3600);
        let fraction = cloud.patch(admin, "/v1/admin/settings", json!({"key_validity_secs": 3600.5})).await;
        is_error(&fraction, 400, "invalid_request");
        // Options may be null: the same as absent.
        cloud.patch(admin, "/v1/admin/settings", json!({"sso_mfa": null, "key_validity_secs": null})).await.ok();
        let door = cloud.post(admin, "/v1/admin/doors", json!({"name": "Door"})).await.ok();
        let readers = format!("/v1/admin/doors/{}/readers", door["id"].as_str().unwrap());
        let reader = json!({"model": "Reader Pro 2.1", "mode": "tap", "tamper_protection": true,
                            "relay_open_ms": 3000.0, "tx_power": -40.0, "tap_rssi_threshold": null});
        cloud.post(admin, &readers, reader).await.ok();

        // Lengths count what is sent, padding included; blank means ASCII whitespace only.
        let padded = format!(" {} ", "d".repeat(199));
        is_error(&cloud.post(admin, "/v1/admin/doors", json!({"name": padded})).await, 400, "invalid_request");
        let named = cloud.post(admin, "/v1/admin/doors", json!({"name": "é".repeat(200)})).await.ok();
        assert_eq!(named["name"].as_str().unwrap().chars().count(), 200);
        is_error(&cloud.post(admin, "/v1/admin/doors", json!({"name": " \t "})).await, 400, "invalid_request");

        // Cursors of the audit log and the outbox are digits, nothing else.
        for after in ["%2B5", "-1", "%205"] {
            for list in ["/v1/admin/audit-log", "/v1/admin/outbox"] {
                is_error(&cloud.get(admin, &format!("{list}?after={after}")).await, 400, "invalid_request");
            }
        }
        cloud.get(admin, "/v1/admin/audit-log?after=5").await.ok();

        // Versions: one to four dot-separated numbers, nothing around them.
        let member = cloud.member(&org.integration_token, "m", &[]).await;
        let eligibility = "/v1/me/wallet/eligibility";
        for bad in [" 17.4", "+17", "17.4 ", "1.2.3.4.5"] {
            let reply = cloud.post(&member, eligibility, json!({"ios_version": bad, "app_version": "46.2"})).await;
            is_error(&reply, 400, "invalid_request");
        }
        cloud.post(&member, eligibility, json!({"ios_version": "17.4.1", "app_version": "46"})).await.ok();
    });
}

/// The most events an upload may hold, at the longest ids the document allows, fit the upload's
/// body limit (they were a 413 under the 64 KiB every other route has).
#[tokio::test]
async fn the_largest_documented_event_upload_is_accepted() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Events", AFTER_DECEMBER_2023, None).await;
        let member = cloud.member(&org.integration_token, "m", &[]).await;
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({"event_id": format!("{i:04}{}", "é".repeat(96)), "at": 1, "outcome": "unlocked"}))
            .collect();
        let report = cloud.post(&member, "/v1/me/events", json!({"events": events})).await.ok();
        assert_eq!(report["accepted"], 1000);
    });
}

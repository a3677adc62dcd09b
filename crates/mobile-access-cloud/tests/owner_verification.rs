//! Doors that require owner verification, as the cloud serves them: the door setting, the
//! credentials bound to the phone's owner key (and never the everyday key) for those doors, the
//! reader told by its poll and its provisioning, and no remote unlock there.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_cloud::hex;
use mobile_access_protocol::{Credential, LockId};
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, device};

fn credentials(bundle: &Value) -> Vec<(Credential, bool)> {
    bundle["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issued| {
            let bytes = hex::decode(issued["credential"].as_str().unwrap()).unwrap();
            (Credential::decode(&bytes).unwrap(), issued["owner_verified"].as_bool().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_door_requiring_owner_verification_is_keyed_to_the_owner_key_only() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (lobby, lobby_reader) = cloud.door_with_reader(admin, "Lobby", "range").await;
        let (vault, vault_reader) = cloud.door_with_reader(admin, "Vault", "tap").await;
        cloud.group(admin, "Members", &[&lobby, &vault]).await;
        let token = cloud.member(integration, "m1", &["Members"]).await;
        let (_, device_key) = device();
        let (_, owner_key) = device();
        let lobby_lock = LockId(lobby_reader["lock"].as_u64().unwrap() as u32);
        let vault_lock = LockId(vault_reader["lock"].as_u64().unwrap() as u32);
        assert_eq!(vault_reader["owner_verification"], json!(false));

        // Off by default: the everyday key opens both.
        let bundle = cloud.post(&token, "/v1/me/keys", json!({"device_public_key": device_key})).await.ok();
        let issued = credentials(&bundle);
        assert_eq!(issued.len(), 1);
        assert!(issued[0].0.body().opens(vault_lock) && !issued[0].1);

        // The administrator turns it on for the vault.
        let door =
            cloud.patch(admin, &format!("/v1/admin/doors/{vault}"), json!({"owner_verification": true})).await.ok();
        assert_eq!((door["name"].as_str(), door["owner_verification"].as_bool()), (Some("Vault"), Some(true)));

        // Its reader learns it from its next poll; a reader installed now, from provisioning.
        let reader_token = vault_reader["reader_token"].as_str().unwrap();
        let sync = cloud.get(reader_token, "/v1/reader/config").await.ok();
        assert_eq!(sync["owner_verification"], json!(true));
        let lobby_sync = cloud.get(lobby_reader["reader_token"].as_str().unwrap(), "/v1/reader/config").await.ok();
        assert_eq!(lobby_sync["owner_verification"], json!(false));
        let second = cloud
            .post(
                admin,
                &format!("/v1/admin/doors/{vault}/readers"),
                json!({"model": "Reader Pro 2.1", "mode": "tap", "tamper_protection": true}),
            )
            .await
            .ok();
        assert_eq!(second["owner_verification"], json!(true));

        // A phone without an owner key: the everyday key no longer lists the vault.
        let bundle = cloud.post(&token, "/v1/me/keys", json!({"device_public_key": device_key})).await.ok();
        let issued = credentials(&bundle);
        assert!(issued.iter().all(|(c, owner)| !owner && !c.body().opens(vault_lock) && c.body().opens(lobby_lock)));
        let vault_door = bundle["doors"].as_array().unwrap().iter().find(|d| d["id"] == json!(vault)).unwrap();
        assert_eq!(vault_door["owner_verification"], json!(true), "the phone can say why it cannot open it");

        // With one: the vault's credential is bound to the owner key and flagged, the lobby's to
        // the device key.
        let body = json!({"device_public_key": device_key, "owner_public_key": owner_key});
        let bundle = cloud.post(&token, "/v1/me/keys", body).await.ok();
        let issued = credentials(&bundle);
        let (vault_credential, flagged) = issued.iter().find(|(c, _)| c.body().opens(vault_lock)).unwrap();
        assert!(*flagged && vault_credential.body().owner_verified);
        assert_eq!(hex::encode(&vault_credential.body().device_key.0), owner_key);
        assert!(!vault_credential.body().opens(lobby_lock));
        let (lobby_credential, flagged) = issued.iter().find(|(c, _)| c.body().opens(lobby_lock)).unwrap();
        assert!(!flagged && !lobby_credential.body().owner_verified);
        assert_eq!(hex::encode(&lobby_credential.body().device_key.0), device_key);

        // An owner key that is the device key, or not a key at all, is refused.
        let same = json!({"device_public_key": device_key, "owner_public_key": device_key});
        cloud.post(&token, "/v1/me/keys", same).await.expect(400, "invalid_request");
        let off_curve = format!("04{}", "11".repeat(64));
        let bad = json!({"device_public_key": device_key, "owner_public_key": off_curve});
        cloud.post(&token, "/v1/me/keys", bad).await.expect(422, "invalid_key");

        // Never over the network, whatever the organization allows.
        cloud.patch(admin, "/v1/admin/settings", json!({"remote_unlock": "allowed"})).await.ok();
        let refused = cloud.post(&token, &format!("/v1/me/doors/{vault}/unlock"), json!({})).await;
        refused.expect(403, "owner_verification_required");

        // Both changes are in the audit log.
        let log = cloud.get(admin, "/v1/admin/audit-log?limit=1000").await.ok();
        let actions: Vec<_> = log["items"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
        assert!(actions.contains(&json!("door.updated")));
    });
}

#[tokio::test]
async fn a_door_patch_changes_only_what_it_names_and_refuses_what_it_cannot_take() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let created = cloud.post(admin, "/v1/admin/doors", json!({"name": "Lab", "owner_verification": true})).await;
        let door = created.ok();
        assert_eq!(door["owner_verification"], json!(true));
        let id = door["id"].as_str().unwrap();
        let renamed = cloud.patch(admin, &format!("/v1/admin/doors/{id}"), json!({"name": "Wet lab"})).await.ok();
        assert_eq!((renamed["name"].as_str(), renamed["owner_verification"].as_bool()), (Some("Wet lab"), Some(true)));
        cloud
            .patch(admin, &format!("/v1/admin/doors/{id}"), json!({"colour": "red"}))
            .await
            .expect(400, "invalid_request");
        cloud.patch(admin, &format!("/v1/admin/doors/{id}"), json!({"name": ""})).await.expect(400, "invalid_request");
        cloud.patch(admin, "/v1/admin/doors/00000000", json!({"name": "Nowhere"})).await.expect(404, "not_found");
        // A patch whose fields are all optional is not to be written as an array of them (serde
        // would read one; no schema says so: what schemathesis found).
        let door_path = format!("/v1/admin/doors/{id}");
        cloud.patch(admin, &door_path, json!([null, null])).await.expect(400, "invalid_request");
        cloud.patch(admin, &door_path, json!([])).await.expect(400, "invalid_request");
        // Another organization's door is not found either.
        let other = cloud.org("Other", AFTER_DECEMBER_2023, None).await;
        cloud
            .patch(&other.admin_token, &format!("/v1/admin/doors/{id}"), json!({"name": "Mine"}))
            .await
            .expect(404, "not_found");
    });
}

//! Key issuance: what the cloud signs verifies with the protocol crate, and a reader provisioned
//! by the cloud opens its door for a phone holding a cloud-issued credential.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_cloud::{api::UnlockMethod, hex};
use mobile_access_protocol::{
    Credential, CredentialId, LockId, MAX_LOCKS, OrgId, OrganizationPublicKey, ReaderCertificate, ReaderId, ReaderKey,
    Reason, SignedRevocationList, Timestamp, UnlockMode,
    phone::Exchange,
    reader::{Connection, ReaderConfig, Responder},
};
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, device};

fn anchor(value: &Value) -> OrganizationPublicKey {
    OrganizationPublicKey::new(
        OrgId(hex::decode_array(value["org"].as_str().unwrap()).unwrap()),
        hex::decode_array(value["public_key"].as_str().unwrap()).unwrap(),
    )
}

fn reader_from(provisioning: &Value, now: Timestamp) -> Responder {
    let certificate =
        ReaderCertificate::decode(&hex::decode(provisioning["certificate"].as_str().unwrap()).unwrap()).unwrap();
    let key =
        ReaderKey::from_seed(hex::decode_array(provisioning["reader_key_seed"].as_str().unwrap()).unwrap()).unwrap();
    let trust = provisioning["trust_anchors"].as_array().unwrap().iter().map(anchor).collect();
    let mut config = ReaderConfig::new(certificate, key, trust);
    config.mode = UnlockMode::Range;
    Responder::new(config, now, &ring::rand::SystemRandom::new()).unwrap()
}

#[tokio::test]
async fn issued_credentials_verify_and_open_the_provisioned_reader() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door_id, provisioning) = cloud.door_with_reader(admin, "Main entrance", "tap").await;
        let (other_door, _) = cloud.door_with_reader(admin, "Vault", "range").await;
        cloud.group(admin, "Members", &[&door_id]).await;
        cloud.group(admin, "Vault", &[&other_door]).await;
        let token = cloud.member(integration, "m1", &["Members"]).await;
        let (device, public) = device();

        let bundle = cloud.post(&token, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        let anchor = anchor(&bundle["trust_anchors"][0]);
        assert_eq!(bundle["trust_anchors"][0], json!(org.organization.trust_anchor));
        let issued = &bundle["credentials"][0];
        let credential = Credential::decode(&hex::decode(issued["credential"].as_str().unwrap()).unwrap()).unwrap();
        assert!(credential.verify(&anchor), "the credential verifies against the organization's anchor");
        let body = credential.body();
        assert_eq!(body.device_key.0.to_vec(), hex::decode(&public).unwrap());
        let lock = provisioning["lock"].as_u64().unwrap() as u32;
        assert_eq!(body.locks, vec![LockId(lock)], "only the Members door, not the vault");
        assert_eq!(issued["locks"], json!([lock]));
        assert_eq!(body.validity.not_after.0 - bundle["server_time"].as_u64().unwrap() as u32, 86_400);
        assert_eq!(hex::encode(&body.id.0), issued["id"].as_str().unwrap());
        assert_eq!(bundle["doors"][0]["readers"][0]["reader_id"], provisioning["reader_id"]);
        assert_eq!(bundle["doors"][0]["readers"][0]["model"], "Reader Pro 2.1");
        assert_eq!(bundle["doors"].as_array().unwrap().len(), 1);

        // The reader certificate is the organization's statement about this reader and lock.
        let certificate =
            ReaderCertificate::decode(&hex::decode(provisioning["certificate"].as_str().unwrap()).unwrap()).unwrap();
        assert!(certificate.verify(&anchor));
        assert_eq!(certificate.lock, LockId(lock));
        assert_eq!(hex::encode(&certificate.reader.0), provisioning["reader_id"].as_str().unwrap());
        let seed: [u8; 32] = hex::decode_array(provisioning["reader_key_seed"].as_str().unwrap()).unwrap();
        assert_eq!(ReaderKey::from_seed(seed).unwrap().public(), certificate.reader_key);

        // A whole exchange: the phone with the cloud's credential at the cloud's reader.
        let now = Timestamp(bundle["server_time"].as_u64().unwrap() as u32);
        let mut reader = reader_from(&provisioning, now);
        let rng = ring::rand::SystemRandom::new();
        let mut connection = Connection::default();
        let (exchange, hello) =
            Exchange::start(ReaderId(certificate.reader.0), mobile_access_protocol::Nonce([0; 8]), None, &rng).unwrap();
        let reader_hello = reader.handle(&mut connection, &hello, now, &rng);
        let (awaiting, auth) = exchange.on_reader_hello(&reader_hello.bytes, &[anchor], &credential, &device).unwrap();
        let result = reader.handle(&mut connection, &auth, now, &rng);
        assert_eq!(result.decision.as_ref().map(|d| d.reason), Some(Reason::Granted));
        let reply = awaiting.on_result(&result.bytes).unwrap();
        assert_eq!(reply.reason, Reason::Granted);

        // Every issuance is recorded as a device binding and in the audit log.
        let credentials = cloud.get(admin, "/v1/admin/credentials").await.ok();
        let mobile: Vec<&Value> =
            credentials["items"].as_array().unwrap().iter().filter(|c| c["kind"] == "mobile_key").collect();
        assert_eq!(mobile.len(), 1);
        assert_eq!(mobile[0]["device_public_key"], json!(public));
        let audit = cloud.get(admin, "/v1/admin/audit-log").await.ok();
        assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "keys.issued"));
    });
}

#[tokio::test]
async fn more_doors_than_one_credential_holds_are_split_across_credentials() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Big", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let mut doors = Vec::new();
        for i in 0..(MAX_LOCKS + 5) {
            let door = cloud.post(admin, "/v1/admin/doors", json!({"name": format!("Door {i}")})).await.ok();
            doors.push(door["id"].as_str().unwrap().to_owned());
        }
        let ids: Vec<&str> = doors.iter().map(String::as_str).collect();
        cloud.group(admin, "Everything", &ids).await;
        let token = cloud.member(&org.integration_token, "m", &["Everything"]).await;
        let (_, public) = device();
        let bundle = cloud.post(&token, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        let credentials = bundle["credentials"].as_array().unwrap();
        assert_eq!(credentials.len(), 2);
        let anchor = anchor(&bundle["trust_anchors"][0]);
        let mut all_locks = Vec::new();
        for issued in credentials {
            let credential = Credential::decode(&hex::decode(issued["credential"].as_str().unwrap()).unwrap()).unwrap();
            assert!(credential.verify(&anchor));
            all_locks.extend(credential.body().locks.iter().map(|l| l.0));
        }
        assert_eq!(all_locks.len(), MAX_LOCKS + 5);
        assert!(all_locks.windows(2).all(|w| w[0] < w[1]), "every door exactly once, in order");
    });
}

#[tokio::test]
async fn key_validity_follows_the_organization_setting() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Short", AFTER_DECEMBER_2023, Some(UnlockMethod::BrandedApp)).await;
        let admin = &org.admin_token;
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "G", &[&door]).await;
        cloud.patch(admin, "/v1/admin/settings", json!({"key_validity_secs": 3600})).await.ok();
        let token = cloud.member(&org.integration_token, "m", &["G"]).await;
        let access = cloud.get(&token, "/v1/me/access").await.ok();
        assert_eq!(access["key_validity_secs"], 3600);
        let (_, public) = device();
        let bundle = cloud.post(&token, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        let issued = &bundle["credentials"][0];
        assert_eq!(issued["not_after"].as_u64().unwrap() - bundle["server_time"].as_u64().unwrap(), 3600);
        assert!(issued["not_before"].as_u64().unwrap() < bundle["server_time"].as_u64().unwrap());
    });
}

#[tokio::test]
async fn a_suspended_mobile_key_gets_no_new_keys_until_resumed_and_a_deleted_one_rebinds() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "G", &[&door]).await;
        let token = cloud.member(&org.integration_token, "m", &["G"]).await;
        let (_, public) = device();
        let request = json!({"device_public_key": public});
        cloud.post(&token, "/v1/me/keys", request.clone()).await.ok();
        cloud.post(&token, "/v1/me/keys", request.clone()).await.ok();
        let list = cloud.get(admin, "/v1/admin/credentials").await.ok();
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "one binding per device, however often it asks");
        let id = list["items"][0]["id"].as_str().unwrap().to_owned();

        cloud.empty(reqwest::Method::POST, admin, &format!("/v1/admin/credentials/{id}/suspend")).await.expect(204, "");
        cloud.post(&token, "/v1/me/keys", request.clone()).await.expect(403, "credential_suspended");
        let (_, other_device) = device();
        cloud.post(&token, "/v1/me/keys", json!({"device_public_key": other_device})).await.ok();

        cloud.empty(reqwest::Method::POST, admin, &format!("/v1/admin/credentials/{id}/resume")).await.expect(204, "");
        cloud.post(&token, "/v1/me/keys", request.clone()).await.ok();

        cloud.empty(reqwest::Method::DELETE, admin, &format!("/v1/admin/credentials/{id}")).await.expect(204, "");
        let list = cloud.get(admin, "/v1/admin/credentials").await.ok();
        assert!(list["items"].as_array().unwrap().iter().all(|c| c["id"] != json!(id)));
        cloud.post(&token, "/v1/me/keys", request).await.ok();
    });
}

#[tokio::test]
async fn a_server_whose_clock_is_behind_a_time_it_signed_refuses_to_sign() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door_id, provisioning) = cloud.door_with_reader(admin, "Main entrance", "tap").await;
        cloud.group(admin, "Members", &[&door_id]).await;
        let token = cloud.member(integration, "m1", &["Members"]).await;
        let (_, public) = device();
        let keys = json!({"device_public_key": public});
        let reader_token = provisioning["reader_token"].as_str().unwrap().to_owned();
        cloud.post(&token, "/v1/me/keys", keys.clone()).await.ok();
        cloud.get(&reader_token, "/v1/reader/config").await.ok();
        let signed_at = |offset: i64| {
            let at = i64::from(mobile_access_cloud::store::now()) + offset;
            sqlx::query("UPDATE organizations SET revocation_signed_at = $1")
                .bind(at)
                .execute(cloud.handle.store().pool())
        };
        // A list was already signed with a time an hour from now: this clock is an hour behind.
        signed_at(3_600).await.unwrap();
        cloud.post(&token, "/v1/me/keys", keys.clone()).await.expect(503, "clock_behind");
        cloud.get(&reader_token, "/v1/reader/config").await.expect(503, "clock_behind");
        // Replicas' clocks differ a little: within the slack it signs.
        signed_at(30).await.unwrap();
        cloud.post(&token, "/v1/me/keys", keys.clone()).await.ok();
        cloud.get(&reader_token, "/v1/reader/config").await.ok();
    });
}

/// The revocation list a key bundle carries.
fn bundled_list(bundle: &Value) -> SignedRevocationList {
    SignedRevocationList::decode(&hex::decode(bundle["revocation_list"].as_str().unwrap()).unwrap()).unwrap()
}

/// Issuance keeps the organizations' signing keys and the lists it signed this second in
/// memory; nothing kept outlives a change: a member who loses their access group is refused
/// their next key at once, the list handed out right after (within the same second) names the
/// keys just revoked, and switching mobile access off refuses the very next request.
#[tokio::test]
async fn a_revoked_member_gets_no_key_right_after_and_the_next_list_names_their_keys() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Acme", AFTER_DECEMBER_2023, None).await;
        let (admin, integration) = (&org.admin_token, &org.integration_token);
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "G", &[&door]).await;
        let leaving = cloud.member(integration, "leaving", &["G"]).await;
        let staying = cloud.member(integration, "staying", &["G"]).await;
        let leaving_keys = json!({"device_public_key": device().1});
        let staying_keys = json!({"device_public_key": device().1});
        let issued = cloud.post(&leaving, "/v1/me/keys", leaving_keys.clone()).await.ok();
        let revoked = CredentialId(hex::decode_array(issued["credentials"][0]["id"].as_str().unwrap()).unwrap());
        let before = bundled_list(&cloud.post(&staying, "/v1/me/keys", staying_keys.clone()).await.ok());
        assert!(!before.list().revoked.contains(&revoked));

        cloud.member(integration, "leaving", &[]).await;
        cloud.post(&leaving, "/v1/me/keys", leaving_keys.clone()).await.expect(403, "no_access_group");
        let after = bundled_list(&cloud.post(&staying, "/v1/me/keys", staying_keys.clone()).await.ok());
        assert!(after.list().revoked.contains(&revoked), "the list handed out right after names the revoked key");
        assert!(after.list().sequence > before.list().sequence);

        cloud.patch(admin, "/v1/admin/settings", json!({"mobile_access_enabled": false})).await.ok();
        cloud.post(&staying, "/v1/me/keys", staying_keys).await.expect(403, "module_disabled");
    });
}

//! Starting with no set-up, refusing a foreign master key, and the demo seed the harness uses.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_cloud::{Config, Error, MasterKey, SQLITE_FILE, crypto::MASTER_KEY_FILE, demo, hex};
use mobile_access_protocol::{OrgId, OrganizationPublicKey, ReaderCertificate};
use serde_json::json;
use support::device;

#[tokio::test]
async fn an_empty_data_dir_is_set_up_on_first_start_and_a_different_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let mut config = Config::ephemeral(&data);
    if std::env::var(mobile_access_cloud::crypto::MASTER_KEY_ENV).is_ok() {
        config.master_key = Some(MasterKey::generate().unwrap());
    }
    let cloud = mobile_access_cloud::spawn(config.clone()).await.unwrap();
    assert!(data.join(SQLITE_FILE).is_file());
    let health = support::client().get(format!("{}/healthz", cloud.base_url())).send().await.unwrap();
    assert_eq!(health.status(), 200);
    cloud.shutdown().await.unwrap();
    if config.master_key.is_none() {
        assert!(data.join(MASTER_KEY_FILE).is_file());
    }

    // Same data, same key: starts again (migrations already applied).
    mobile_access_cloud::spawn(config.clone()).await.unwrap().shutdown().await.unwrap();
    let foreign = Config { master_key: Some(MasterKey::generate().unwrap()), ..config };
    match mobile_access_cloud::spawn(foreign).await {
        Err(Error::MasterKey(message)) => assert!(message.contains("not the master key")),
        other => panic!("expected a master key error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_demo_seed_has_every_kind_of_member_and_working_readers() {
    on_every_backend!(|cloud| {
        let seed = demo::seed(cloud.handle.store(), |_| {}).await.unwrap();
        let json = serde_json::to_value(&seed).unwrap();
        for member in json["members"].as_array().unwrap() {
            for field in ["name", "status", "access_groups", "token"] {
                assert!(member.get(field).is_some(), "{field} in {member}");
            }
        }
        let settings = cloud.get(&seed.admin_token, "/v1/admin/settings").await.ok();
        assert_eq!(settings["unlock_method"], "branded_app");

        let anchor = OrganizationPublicKey::new(
            OrgId(hex::decode_array(&seed.trust_anchor.org).unwrap()),
            hex::decode_array(&seed.trust_anchor.public_key).unwrap(),
        );
        let tap = seed.readers.iter().find(|r| r.model == "Reader Pro 2.1" && r.tamper_protection).unwrap();
        assert_eq!(tap.mode, mobile_access_cloud::api::ReaderMode::Tap);
        assert!(seed.readers.iter().any(|r| r.mode == mobile_access_cloud::api::ReaderMode::Range));
        for reader in &seed.readers {
            let certificate = ReaderCertificate::decode(&hex::decode(&reader.certificate).unwrap()).unwrap();
            assert!(certificate.verify(&anchor));
            assert_eq!(certificate.lock.0, reader.lock);
        }

        let (_, public) = device();
        let keys = json!({"device_public_key": public});
        let find = |status: &str, with_group: bool| {
            seed.members
                .iter()
                .find(|m| m.status.as_str() == status && m.access_groups.is_empty() != with_group)
                .unwrap()
        };
        let confirmed = find("confirmed", true);
        let bundle = cloud.post(&confirmed.token, "/v1/me/keys", keys.clone()).await.ok();
        assert!(!bundle["credentials"].as_array().unwrap().is_empty());
        cloud.post(&find("confirmed", false).token, "/v1/me/keys", keys.clone()).await.expect(403, "no_access_group");
        let unconfirmed = find("not_confirmed", true);
        cloud.post(&unconfirmed.token, "/v1/me/keys", keys).await.expect(403, "not_confirmed");
        let access = cloud.get(&unconfirmed.token, "/v1/me/access").await.ok();
        assert_eq!(
            (access["status"].as_str(), access["unlock_method"].as_str()),
            (Some("not_confirmed"), Some("branded_app"))
        );
    });
}

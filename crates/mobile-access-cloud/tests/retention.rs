//! Retention over real HTTP: the background job prunes signed credentials past their expiry,
//! expired sessions, audit entries and delivered mails past their horizons, and nothing that is
//! still in use (valid keys and sessions, admin tokens, recent audit entries, queued mail).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use mobile_access_cloud::{Limits, Retention, store::now};
use serde_json::{Value, json};
use support::{AFTER_DECEMBER_2023, BEFORE_DECEMBER_2023, Cloud, device};

const DAY: i64 = 86_400;

async fn count(cloud: &Cloud, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(cloud.handle.store().pool()).await.unwrap()
}

async fn execute(cloud: &Cloud, sql: &str, at: i64) {
    sqlx::query(sql).bind(at).execute(cloud.handle.store().pool()).await.unwrap();
}

async fn audit_actions(cloud: &Cloud, admin: &str) -> Vec<Value> {
    cloud.get(admin, "/v1/admin/audit-log?limit=1000").await.ok()["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_retention_job_prunes_what_expired_or_aged_and_keeps_what_is_in_use() {
    for backend in support::backends() {
        // The job runs every 200 ms here; the horizons are the defaults (audit 400 days, mail 30
        // days, expired keys kept a day).
        let cloud = Cloud::start_with(backend, |config| {
            config.limits = Limits::off();
            config.retention = Retention { interval: Duration::from_millis(200), ..Retention::default() };
        })
        .await;
        eprintln!("backend: {backend:?}");
        let org = cloud.org("Org", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        cloud.patch(admin, "/v1/admin/settings", json!({"welcome_email": true})).await.ok();
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "Members", &[&door]).await;
        let stale = cloud.member(&org.integration_token, "stale", &["Members"]).await;
        let fresh = cloud.member(&org.integration_token, "fresh", &["Members"]).await;
        for token in [&stale, &fresh] {
            let (_, public) = device();
            cloud.post(token, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        }
        // A native organization's queued invitation: never pruned, however old, until delivered.
        let native = cloud.org("Native", BEFORE_DECEMBER_2023, None).await;
        cloud.member(&native.integration_token, "waiting", &[]).await;
        assert_eq!(count(&cloud, "SELECT COUNT(*) FROM issued_credentials").await, 2);
        let audit_before = audit_actions(&cloud, admin).await.len();
        assert!(audit_before >= 6, "doors, group, members, sessions, keys: {audit_before}");

        let audit_total = count(&cloud, "SELECT COUNT(*) FROM audit_log").await;
        // Age some of it, as months of operation would.
        let now = i64::from(now());
        let stale_member = "(SELECT id FROM members WHERE external_id = 'stale')";
        execute(
            &cloud,
            &format!(
                "UPDATE issued_credentials SET not_after = $1 WHERE credential_id IN \
                 (SELECT id FROM credentials WHERE member_id IN {stale_member})"
            ),
            now - 2 * DAY,
        )
        .await;
        execute(&cloud, &format!("UPDATE api_tokens SET expires_at = $1 WHERE member_id IN {stale_member}"), now - 1)
            .await;
        execute(&cloud, "UPDATE audit_log SET at = $1 WHERE id <= 3", now - 401 * DAY).await;
        execute(&cloud, "UPDATE outbox SET sent_at = $1, created_at = $1 WHERE kind = 'welcome'", now - 31 * DAY).await;
        execute(
            &cloud,
            "UPDATE outbox SET created_at = $1, next_attempt_at = $1 WHERE kind = 'invitation'",
            now - 90 * DAY,
        )
        .await;
        let welcome_mails = count(&cloud, "SELECT COUNT(*) FROM outbox WHERE kind = 'welcome'").await;
        assert_eq!(welcome_mails, 2, "the branded organization welcomed both members");

        // The job's next pass prunes it.
        let started = Instant::now();
        while count(&cloud, "SELECT COUNT(*) FROM issued_credentials").await != 1 {
            assert!(started.elapsed() < Duration::from_secs(10), "the retention job never pruned");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        eprintln!("{backend:?}: pruned within {:?}", started.elapsed());
        assert_eq!(count(&cloud, "SELECT COUNT(*) FROM audit_log").await, audit_total - 3, "three entries aged out");

        // The expired session is gone from the database, the valid one works.
        let sessions = count(&cloud, "SELECT COUNT(*) FROM api_tokens WHERE role = 'member'").await;
        assert_eq!(sessions, 2, "fresh's and waiting's sessions are left");
        cloud.get(&stale, "/v1/me/access").await.expect(401, "unauthorized");
        cloud.get(&fresh, "/v1/me/access").await.ok();
        let (_, public) = device();
        cloud.post(&fresh, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        // Admin and integration tokens never expire and are kept.
        cloud.get(admin, "/v1/admin/settings").await.ok();
        cloud.put(&org.integration_token, "/v1/integration/members", json!({"members": []})).await.ok();

        // Exactly the three old audit entries are gone; the newest ones are there.
        let audit = audit_actions(&cloud, admin).await;
        assert!(audit.iter().all(|e| e["id"].as_i64().unwrap() > 3), "{audit:?}");
        assert!(audit.iter().any(|e| e["action"] == "session.created"));

        // Delivered mails past the horizon are gone; the queued invitation stays.
        assert!(cloud.get(admin, "/v1/admin/outbox").await.ok()["items"].as_array().unwrap().is_empty());
        let queued = cloud.get(&native.admin_token, "/v1/admin/outbox").await.ok();
        assert_eq!(queued["items"].as_array().unwrap().len(), 1);
        assert_eq!(queued["items"][0]["state"], "queued");
        cloud.finish().await;
    }
}

#[tokio::test]
async fn a_pruning_pass_is_idempotent_and_keeps_credentials_within_the_grace() {
    on_every_backend!(|cloud| {
        let org = cloud.org("Org", AFTER_DECEMBER_2023, None).await;
        let admin = &org.admin_token;
        let (door, _) = cloud.door_with_reader(admin, "Door", "tap").await;
        cloud.group(admin, "Members", &[&door]).await;
        let member = cloud.member(&org.integration_token, "m", &["Members"]).await;
        let (_, public) = device();
        cloud.post(&member, "/v1/me/keys", json!({"device_public_key": public})).await.ok();
        let now = now();
        // Expired an hour ago: within the day of grace.
        execute(&cloud, "UPDATE issued_credentials SET not_after = $1", i64::from(now) - 3600).await;
        let store = cloud.handle.store();
        let first = store.prune(now, &Retention::default()).await.unwrap();
        assert_eq!(first.issued_credentials, 0, "{first:?}");
        let later = store.prune(now + 86_400, &Retention::default()).await.unwrap();
        assert_eq!(later.issued_credentials, 1, "{later:?}");
        // The session expires 30 days after it was opened.
        assert_eq!(later.sessions, 0, "{later:?}");
        let month = store.prune(now + 31 * 86_400, &Retention::default()).await.unwrap();
        assert_eq!((month.issued_credentials, month.sessions), (0, 1), "{month:?}");
        assert_eq!(store.prune(now + 31 * 86_400, &Retention::default()).await.unwrap(), Default::default());
        cloud.get(&member, "/v1/me/access").await.expect(401, "unauthorized");
        cloud.get(admin, "/v1/admin/settings").await.ok();
    });
}

//! `/readyz`: ready only with the database reachable and every migration applied; and the
//! migration that made login an index lookup, applied to a database that has members already.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use mobile_access_cloud::{Backend, Config, MasterKey, api::UnlockMethod};
use reqwest::Method;
use serde_json::json;
use support::{BEFORE_DECEMBER_2023, Reply};

async fn get(http: &reqwest::Client, url: String) -> Reply {
    let response = http.get(url).send().await.unwrap();
    let status = response.status();
    Reply { status, body: response.json().await.unwrap_or_default() }
}

#[tokio::test]
async fn readyz_says_ready_only_when_every_migration_is_applied_and_existing_emails_are_migrated() {
    for backend in support::backends() {
        eprintln!("backend: {backend:?}");
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::ephemeral(dir.path());
        config.master_key = Some(MasterKey::generate().unwrap());
        let mut pg = None;
        if backend == Backend::Postgres {
            let (url, name) = support::fresh_postgres_database().await;
            config.database_url = Some(url);
            pg = Some(name);
        }
        let http = support::client();
        let cloud = mobile_access_cloud::spawn(config.clone()).await.unwrap();
        let ready = get(&http, format!("{}/readyz", cloud.base_url())).await;
        assert_eq!((ready.status.as_u16(), ready.body.clone()), (200, json!({"status": "ready"})));

        // A member with a mixed-case email and a password, as a database before migration 5 has.
        let org = cloud
            .store()
            .create_organization(mobile_access_cloud::api::NewOrganization {
                name: "Native".to_owned(),
                created_at: Some(BEFORE_DECEMBER_2023),
                unlock_method: Some(UnlockMethod::Native),
            })
            .await
            .unwrap();
        let sync = json!({"members": [{"external_id": "m", "name": "M", "email": "Mixed.Case@Example.COM",
                                       "access_groups": []}]});
        let put = http
            .put(format!("{}/v1/integration/members", cloud.base_url()))
            .bearer_auth(&org.integration_token)
            .json(&sync)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        let invitation = support::invitation_token(cloud.store(), "Mixed.Case@Example.COM").await;
        let accept = json!({"token": invitation, "password": "a good password"});
        let accepted = http.post(format!("{}/v1/invitations/accept", cloud.base_url())).json(&accept).send().await;
        assert_eq!(accepted.unwrap().status(), 200);

        // Undo migration 5 as if it had never run.
        let pool = cloud.store().pool();
        for sql in [
            "DROP INDEX members_email_normalized",
            "ALTER TABLE members DROP COLUMN email_normalized",
            "DELETE FROM _sqlx_migrations WHERE version = 5",
        ] {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
        let not_ready = get(&http, format!("{}/readyz", cloud.base_url())).await;
        assert_eq!((not_ready.status.as_u16(), not_ready.code()), (503, "not_ready"), "{}", not_ready.body);
        assert_eq!(get(&http, format!("{}/healthz", cloud.base_url())).await.status, 200, "alive, not ready");
        cloud.shutdown().await.unwrap();

        // The next start applies it to the existing member, who logs in with any case of the email.
        let cloud = mobile_access_cloud::spawn(config).await.unwrap();
        assert_eq!(get(&http, format!("{}/readyz", cloud.base_url())).await.status, 200);
        let login = json!({"email": "mixed.case@example.com", "password": "a good password"});
        let response = http.request(Method::POST, format!("{}/v1/login", cloud.base_url())).json(&login).send().await;
        assert_eq!(response.unwrap().status(), 200);
        cloud.shutdown().await.unwrap();
        if let Some(name) = pg {
            support::drop_postgres_database(&name).await;
        }
    }
}

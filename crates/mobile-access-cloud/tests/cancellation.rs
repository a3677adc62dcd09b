//! Clients that give up mid-request: a handler is never cut off where its client left it (a
//! transaction open, rows half written; sqlx 0.8 can then return the connection to the pool still
//! inside the transaction): it runs to its end, and every later request succeeds with no
//! connection left inside a transaction.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod support;

use std::time::Duration;

use mobile_access_cloud::{Backend, Limits};
use serde_json::json;
use support::{BEFORE_DECEMBER_2023, Cloud};

fn sync_body(tag: usize, members: usize) -> serde_json::Value {
    let members: Vec<_> = (0..members)
        .map(|i| {
            json!({"external_id": format!("{tag}-{i}"), "name": format!("Member {i}"),
                   "email": format!("m{tag}-{i}@example.com"), "access_groups": ["All"]})
        })
        .collect();
    json!({"members": members})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_aborted_mid_transaction_leave_every_later_request_working() {
    for backend in support::backends() {
        eprintln!("backend: {backend:?}");
        let cloud = Cloud::start_with(backend, |config| config.limits = Limits::off()).await;
        let org = cloud.org("Org", BEFORE_DECEMBER_2023, None).await;
        let (admin, integration) = (org.admin_token.clone(), org.integration_token.clone());
        cloud.group(&admin, "All", &[]).await;

        // 48 writers that hang up after 2 to 95 ms: syncs (one long transaction each, serialized
        // on the organization's row lock) and door creations.
        let mut aborted = tokio::task::JoinSet::new();
        for i in 0..48 {
            let request = if i % 3 == 0 {
                cloud
                    .http
                    .post(cloud.url("/v1/admin/doors"))
                    .bearer_auth(&admin)
                    .json(&json!({"name": format!("D{i}")}))
            } else {
                cloud.http.put(cloud.url("/v1/integration/members")).bearer_auth(&integration).json(&sync_body(i, 400))
            };
            let give_up = Duration::from_millis(2 + (i as u64 * 37) % 94);
            aborted.spawn(async move { request.timeout(give_up).send().await.is_err() });
        }
        // Then 640 short transactions (a door and its audit entry) abandoned at every point of
        // their life, 0.3 to 12 ms in: some while their BEGIN is on the wire, the window sqlx 0.8
        // cannot roll back.
        let mut gave_up = 0;
        for wave in 0..20 {
            for i in 0..32u64 {
                let request = cloud
                    .http
                    .post(cloud.url("/v1/admin/doors"))
                    .bearer_auth(&admin)
                    .json(&json!({"name": format!("W{wave}-{i}")}));
                let give_up = Duration::from_micros(300 + (wave * 32 + i) * 17 % 11_700);
                aborted.spawn(async move { request.timeout(give_up).send().await.is_err() });
            }
            while aborted.len() > 16 {
                gave_up += usize::from(aborted.join_next().await.unwrap().unwrap());
            }
        }
        while let Some(result) = aborted.join_next().await {
            gave_up += usize::from(result.unwrap());
        }
        eprintln!("{gave_up} of 688 requests were abandoned by their client");
        assert!(gave_up > 0, "no request was abandoned: the test proves nothing");

        // A long sync whose client hangs up once it is surely running still completes, whole.
        let big =
            cloud.http.put(cloud.url("/v1/integration/members")).bearer_auth(&integration).json(&sync_body(7777, 5000));
        assert!(big.timeout(Duration::from_millis(250)).send().await.is_err(), "the sync answered within 250 ms");
        let mut synced = 0;
        for _ in 0..200 {
            synced = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM members WHERE external_id LIKE '7777-%'")
                .fetch_one(cloud.handle.store().pool())
                .await
                .unwrap();
            if synced == 5000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(synced, 5000, "the abandoned sync was cut short");

        // Every later request succeeds, promptly, and sees a consistent database.
        for i in 0..12 {
            let reply = cloud.put(&integration, "/v1/integration/members", sync_body(1000 + i, 50)).await;
            assert_eq!(reply.status, 200, "sync {i} after the aborts: {}", reply.body);
            let door = cloud.post(&admin, "/v1/admin/doors", json!({"name": format!("After {i}")})).await;
            assert_eq!(door.status, 201, "door {i} after the aborts: {}", door.body);
            cloud.get(&admin, "/v1/admin/users?limit=5").await.ok();
        }
        if backend == Backend::Postgres {
            // Give detached handlers of abandoned requests time to finish, then look for leftovers.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let database = cloud.pg_database.clone().unwrap();
            let stuck: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
            )
            .bind(&database)
            .fetch_one(cloud.handle.store().pool())
            .await
            .unwrap();
            assert_eq!(stuck, 0, "connections left inside a transaction");
        }
        cloud.finish().await;
    }
}

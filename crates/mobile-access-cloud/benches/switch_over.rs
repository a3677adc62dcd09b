//! `cargo bench -p mobile-access-cloud --bench switch_over`: the time to switch an organization
//! from native unlocking to the branded app, on SQLite and PostgreSQL (when `DATABASE_URL`
//! points at one): 100 000 users of whom 60 % are unconfirmed and recreated, each in one to three
//! access groups, a third with a key fob. The job runs as the server and the CLI run it, in
//! batches of the default size. Under `cargo test` a smoke run of 2 000 users only checks it works.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use mobile_access_cloud::{
    Actor, Backend, Config, DEFAULT_SWITCH_BATCH, Store,
    api::{MemberSync, NewAccessGroup, NewDoor, NewOrganization, StartSwitch, SyncedMember, UnlockMethod},
};
use support::BEFORE_DECEMBER_2023;

async fn measure(backend: Backend, users: usize) -> (f64, f64, u32) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    let mut pg = None;
    if backend == Backend::Postgres {
        let (url, name) = support::fresh_postgres_database().await;
        config.database_url = Some(url);
        pg = Some(name);
    }
    let store = Store::open(&config).await.unwrap();
    let new = NewOrganization { name: "Bench".into(), created_at: Some(BEFORE_DECEMBER_2023), unlock_method: None };
    let org = store.create_organization(new).await.unwrap().organization.id;
    let op = Actor::Operator;
    let mut doors = Vec::new();
    for name in ["A", "B", "C"] {
        doors.push(
            store
                .create_door(&org, &op, &NewDoor { name: name.into(), owner_verification: false, hands_free: false })
                .await
                .unwrap()
                .id,
        );
    }
    for (i, name) in ["G0", "G1", "G2"].iter().enumerate() {
        let group = NewAccessGroup { name: (*name).into(), door_ids: vec![doors[i].clone()] };
        store.create_access_group(&org, &op, &group).await.unwrap();
    }
    for start in (0..users).step_by(10_000) {
        let members = (start..(start + 10_000).min(users))
            .map(|i| SyncedMember {
                external_id: format!("m{i}"),
                name: format!("Member {i}"),
                email: format!("m{i}@example.com"),
                access_groups: (0..=(i % 3)).map(|g| format!("G{g}")).collect(),
                removed: false,
            })
            .collect();
        store.sync_members(&org, &Actor::Integration, &MemberSync { members }).await.unwrap();
    }
    // 40 % confirmed, a third with a fob (fixture SQL: the sync and invitations are measured elsewhere).
    sqlx::query("UPDATE members SET status = 'confirmed' WHERE org_id = $1 AND id < '66'")
        .bind(&org)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO credentials (id, org_id, member_id, kind, status, number, created_at) \
         SELECT 'f' || id, org_id, id, 'key_fob', 'active', id, 0 FROM members WHERE org_id = $1 AND id < '55'",
    )
    .bind(&org)
    .execute(store.pool())
    .await
    .unwrap();
    if backend == Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
    let started = Instant::now();
    let job = store
        .start_switch(&org, &op, &StartSwitch { unlock_method: UnlockMethod::BrandedApp, welcome_email: None })
        .await
        .unwrap();
    let created = started.elapsed().as_secs_f64();
    let job = store.run_switch(&org, &job.id, DEFAULT_SWITCH_BATCH, |_| {}).await.unwrap();
    let total = started.elapsed().as_secs_f64();
    assert_eq!((job.state.as_str(), job.done), ("done", job.total));
    store.close().await;
    if let Some(name) = pg {
        support::drop_postgres_database(&name).await;
    }
    (created, total, job.total)
}

fn main() {
    let users = if std::env::args().any(|a| a == "--bench") { 100_000 } else { 2_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    for backend in support::backends() {
        let (created, total, recreated) = runtime.block_on(measure(backend, users));
        println!(
            "switch-over native -> branded app, {users} users ({recreated} recreated), {backend:?}: \
             job created in {created:.2} s, finished in {total:.2} s ({:.0} users recreated/s)",
            f64::from(recreated) / total
        );
    }
}

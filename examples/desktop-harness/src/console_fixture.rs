//! The world the console's browser tests run against (`mobile-access-harness console-fixture`):
//! the cloud serving on loopback with two organizations, each with a console administrator, and
//! a small fixture API for what happens outside the browser, done for real:
//!
//! - `POST /tap`: Grace holds her Apple Watch against the main entrance. A virtual reader (the
//!   reader crate's `Reader`, from the cloud's provisioning) polls the cloud over HTTP as an
//!   online reader does, the simulated wallet presents her pass by NFC, and the reader uploads
//!   its attempt. Answers `{"granted": bool, "reason": "..."}`.
//! - `POST /grant`: the workspace platform's integration syncs a member with the access groups
//!   given (`PUT /v1/integration/members`). Answers the cloud's sync report (`access_emails`).
//!
//! Organizations: the demo ("Demo Coworking", branded app, one not-confirmed member, Grace with
//! a wallet pass on her iPhone and Apple Watch) and "Northwind Offices", an integration from
//! before December 2023 still on native unlocking, with [`NORTHWIND_MEMBERS`] not-confirmed
//! members for a switch-over to work on.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use mobile_access::{CloudConfig, WalletDevice, WalletPasses, ble::sim::RadioProfile};
use mobile_access_cloud::{
    Actor, Config, Store,
    api::{MemberSync, NewAccessGroup, NewOrganization, SyncedMember, UnlockMethod},
    demo::DemoSeed,
};
use mobile_access_reader::ReaderLink;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::{
    wallet::Wallet,
    world::{Error, Result, Site, WATCH_ON_MAIN_ENTRANCE},
};

/// Members of the second organization, all synced under native unlocking (not-confirmed).
pub const NORTHWIND_MEMBERS: usize = 2_400;
/// The second organization's administrator.
pub const NORTHWIND_ADMIN: &str = "admin@northwind.example";
const MAIN_ENTRANCE: usize = 0;

/// What the fixture prints on its first line of stdout, as JSON.
#[derive(Debug, Serialize)]
pub struct Started {
    /// The console, e.g. `http://127.0.0.1:41234/console`.
    pub console: String,
    /// The fixture API's base URL.
    pub fixture: String,
    /// The demo organization's administrator.
    pub demo_admin: Value,
    /// The second organization's administrator.
    pub northwind_admin: Value,
    /// The demo's members by platform id: `{name, member_id}`.
    pub demo_members: Value,
}

struct World {
    base_url: String,
    seed: DemoSeed,
    wallet: Mutex<Wallet>,
}

fn cloud_error(e: impl std::fmt::Display) -> Error {
    Error::Cloud(e.to_string())
}

/// Starts the cloud (SQLite in `data_dir`, or PostgreSQL at `database_url`) and the fixture API,
/// seeds both organizations, prints [`Started`] and serves until `stop` resolves.
pub async fn run(
    data_dir: &std::path::Path,
    database_url: Option<String>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let mut config = Config::ephemeral(data_dir);
    config.database_url = database_url;
    let cloud = mobile_access_cloud::spawn(config).await.map_err(cloud_error)?;
    let base_url = cloud.base_url();
    let store = cloud.store().clone();
    let seed = mobile_access_cloud::demo::seed(&store, |_| {}).await.map_err(cloud_error)?;
    let northwind_password = mobile_access_cloud::crypto::random_id::<12>().map_err(cloud_error)?;
    seed_northwind(&store, &northwind_password).await?;

    let mut wallet = Wallet::new("iphone-grace", Some("watch-grace"), WATCH_ON_MAIN_ENTRANCE)?;
    add_pass(&base_url, &seed, &mut wallet).await?;
    let world = Arc::new(World { base_url: base_url.clone(), seed, wallet: Mutex::new(wallet) });
    // The main entrance's reader has been in touch: online on the doors page.
    poll_and_tap(&world, false).await?;

    let app = Router::new().route("/tap", post(tap)).route("/grant", post(grant)).with_state(Arc::clone(&world));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| Error::Demo(format!("fixture listener: {e}")))?;
    let fixture = format!("http://{}", listener.local_addr().map_err(|e| Error::Demo(e.to_string()))?);
    let members: serde_json::Map<String, Value> = world
        .seed
        .members
        .iter()
        .map(|m| (m.external_id.clone(), json!({"name": m.name, "member_id": m.member_id})))
        .collect();
    let started = Started {
        console: format!("{base_url}/console"),
        fixture,
        demo_admin: json!({"email": world.seed.console_admin.email, "password": world.seed.console_admin.password}),
        northwind_admin: json!({"email": NORTHWIND_ADMIN, "password": northwind_password}),
        demo_members: Value::Object(members),
    };
    println!("{}", serde_json::to_string(&started).map_err(|e| Error::Demo(e.to_string()))?);
    axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(|e| Error::Demo(e.to_string()))?;
    cloud.shutdown().await.map_err(cloud_error)
}

/// A database of the fixture's own on a PostgreSQL server, so runs never see each other's data
/// (nor the server's database theirs).
pub struct FreshDatabase {
    /// Its URL.
    pub url: String,
    server: String,
    name: String,
}

impl FreshDatabase {
    /// Creates `ma_console_<random>` on the server `server` (a `postgres://` URL) names.
    pub async fn create(server: &str) -> Result<Self> {
        use sqlx::Connection;
        let name = format!("ma_console_{}", mobile_access_cloud::crypto::random_id::<6>().map_err(cloud_error)?);
        let url = with_database(server, &name)?;
        let mut admin = sqlx::PgConnection::connect(server).await.map_err(database_error)?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.map_err(database_error)?;
        admin.close().await.map_err(database_error)?;
        Ok(Self { url, server: server.to_owned(), name })
    }

    /// Drops it (a failure is only reported: the run's outcome is what matters).
    pub async fn drop(self) {
        use sqlx::Connection;
        let dropped = async {
            let mut admin = sqlx::PgConnection::connect(&self.server).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin).await?;
            admin.close().await
        };
        if let Err(error) = dropped.await {
            eprintln!("console-fixture: could not drop the database {}: {error}", self.name);
        }
    }
}

/// The error of a database statement, without the URL (it holds a password).
fn database_error(error: sqlx::Error) -> Error {
    Error::Cloud(format!("PostgreSQL: {error}"))
}

/// `server` (`postgres://user:password@host:port/db?options`) with database `name` instead.
fn with_database(server: &str, name: &str) -> Result<String> {
    let invalid = || Error::Cloud("DATABASE_URL must be postgres://user:password@host:port/database".to_owned());
    let authority = server.find("://").map(|at| at + 3).ok_or_else(invalid)?;
    let path = server.get(authority..).and_then(|rest| rest.find('/')).map(|at| authority + at).ok_or_else(invalid)?;
    let (base, rest) = server.split_at(path);
    let options = rest.find('?').and_then(|at| rest.get(at..)).unwrap_or("");
    Ok(format!("{base}/{name}{options}"))
}

/// A second organization on native unlocking whose members are all not-confirmed.
async fn seed_northwind(store: &Store, password: &str) -> Result<()> {
    let new = NewOrganization {
        name: "Northwind Offices".to_owned(),
        created_at: Some(1_672_531_200), // 2023-01-01: native by default
        unlock_method: Some(UnlockMethod::Native),
    };
    let org = store.create_organization(new).await.map_err(cloud_error)?.organization.id;
    store
        .create_console_admin(&org, NORTHWIND_ADMIN, "Northwind Administrator", password)
        .await
        .map_err(cloud_error)?;
    let group = NewAccessGroup { name: "Everyone".to_owned(), door_ids: Vec::new() };
    store.create_access_group(&org, &Actor::Operator, &group).await.map_err(cloud_error)?;
    let members = (0..NORTHWIND_MEMBERS)
        .map(|i| SyncedMember {
            external_id: format!("nw-{i:04}"),
            name: format!("Northwind Member {i:04}"),
            email: format!("member{i:04}@northwind.example"),
            access_groups: vec!["Everyone".to_owned()],
            removed: false,
        })
        .collect();
    store.sync_members(&org, &Actor::Integration, &MemberSync { members }).await.map_err(cloud_error)?;
    Ok(())
}

/// Grace adds a wallet pass from the app (the member API), with her watch unlocked.
async fn add_pass(base_url: &str, seed: &DemoSeed, wallet: &mut Wallet) -> Result<()> {
    let grace = seed.members.iter().find(|m| m.external_id == "grace_staff").ok_or(Error::Demo("no Grace".into()))?;
    let passes = WalletPasses::new(CloudConfig::new(base_url), grace.token.clone())?;
    let device = WalletDevice { ios_version: "17.4".to_owned(), app_version: "46.2".to_owned() };
    let added = passes.add(&wallet.pass_request(&device, true)).await?;
    wallet.install(&added.provisioning, true)
}

/// The main entrance's reader polls the cloud (revocation list and reasons), Grace's watch taps
/// it if `tap`, and the reader uploads what it recorded. A fresh reader each time, from the
/// same provisioning: what it knows comes from its poll, as after a reboot.
async fn poll_and_tap(world: &World, tap: bool) -> Result<Option<mobile_access_reader::TapResult>> {
    let site = Site::new(&world.seed, RadioProfile::ios(), 7, Duration::ZERO)?;
    let reader = site.reader(MAIN_ENTRANCE)?;
    let provisioning = site.provisioning.get(MAIN_ENTRANCE).ok_or(Error::Demo("no main entrance".into()))?;
    let link = ReaderLink::new(&world.base_url, provisioning).map_err(|e| Error::Reader(e.to_string()))?;
    link.poll(reader).await.map_err(|e| Error::Reader(e.to_string()))?;
    let result = if tap {
        let wallet = world.wallet.lock().await;
        let watch = wallet.watch.as_ref().ok_or(Error::Demo("no watch".into()))?;
        watch.tap(reader)
    } else {
        None
    };
    link.upload(reader).await.map_err(|e| Error::Reader(e.to_string()))?;
    Ok(result)
}

async fn tap(State(world): State<Arc<World>>) -> (StatusCode, Json<Value>) {
    match poll_and_tap(&world, true).await {
        Ok(Some(result)) => {
            (StatusCode::OK, Json(json!({"granted": result.granted(), "reason": format!("{:?}", result.reason)})))
        }
        Ok(None) => (StatusCode::OK, Json(json!({"granted": false, "reason": "not noticed"}))),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": error.to_string()}))),
    }
}

/// `POST /grant`: one demo member and the complete set of their access groups after the sync.
#[derive(Deserialize)]
struct Grant {
    external_id: String,
    access_groups: Vec<String>,
}

async fn grant(State(world): State<Arc<World>>, Json(grant): Json<Grant>) -> (StatusCode, Json<Value>) {
    let Some(member) = world.seed.members.iter().find(|m| m.external_id == grant.external_id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such demo member"})));
    };
    let body = MemberSync {
        members: vec![SyncedMember {
            external_id: member.external_id.clone(),
            name: member.name.clone(),
            email: format!("{}@demo.example", member.external_id.replace('_', ".")),
            access_groups: grant.access_groups,
            removed: false,
        }],
    };
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(client) => client,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e.to_string()}))),
    };
    let sent = client
        .put(format!("{}/v1/integration/members", world.base_url))
        .bearer_auth(&world.seed.integration_token)
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, Json(response.json::<Value>().await.unwrap_or(Value::Null)))
        }
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e.to_string()}))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn a_fresh_database_keeps_the_server_and_its_options() {
        let url = super::with_database("postgres://u:p@127.0.0.1:5432/main?sslmode=disable", "ma_console_1").unwrap();
        assert_eq!(url, "postgres://u:p@127.0.0.1:5432/ma_console_1?sslmode=disable");
        let url = super::with_database("postgresql://u:p@db/main", "x").unwrap();
        assert_eq!(url, "postgresql://u:p@db/x");
        assert!(super::with_database("postgres://u:p@db", "x").is_err());
        assert!(super::with_database("not a url", "x").is_err());
    }
}

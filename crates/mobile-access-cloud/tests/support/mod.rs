//! A real cloud on a loopback port, over SQLite and (when `DATABASE_URL` is set) PostgreSQL,
//! each test with its own fresh database, driven over HTTP with reqwest.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use mobile_access_cloud::{
    Backend, CloudHandle, Config, MasterKey,
    api::{CreatedOrganization, NewOrganization, UnlockMethod},
    hex,
};
use mobile_access_protocol::{DeviceSigner, SoftwareDeviceKey};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::Connection;

/// 2023-06-01, before the branded-app default.
pub const BEFORE_DECEMBER_2023: u32 = 1_685_577_600;
/// 2024-03-01, after it.
pub const AFTER_DECEMBER_2023: u32 = 1_709_251_200;

/// The backends to run every scenario on.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        backends.push(Backend::Postgres);
    } else {
        eprintln!("note: DATABASE_URL is not set to PostgreSQL; testing SQLite only");
    }
    backends
}

/// A fresh PostgreSQL database on the server `DATABASE_URL` points at; its URL.
pub async fn fresh_postgres_database() -> (String, String) {
    sqlx::any::install_default_drivers();
    let admin_url = std::env::var("DATABASE_URL").unwrap();
    let name = format!("ma_test_{}", hex::encode(&mobile_access_cloud::crypto::random_array::<6>().unwrap()));
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    (format!("{base}/{name}"), name)
}

pub async fn drop_postgres_database(name: &str) {
    let admin_url = std::env::var("DATABASE_URL").unwrap();
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A running cloud with its own database.
pub struct Cloud {
    pub handle: CloudHandle,
    pub backend: Backend,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    pub pg_database: Option<String>,
    /// What it was started with, for [`Cloud::restart`].
    config: Config,
}

/// A response: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The error code of an error response.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(self.status.is_success(), "expected success, got {} {}", self.status, self.body);
        self.body
    }

    #[track_caller]
    pub fn expect(self, status: u16, code: &str) -> Value {
        assert_eq!((self.status.as_u16(), self.code()), (status, code), "body: {}", self.body);
        self.body
    }
}

impl Cloud {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Same, with the configuration changed by `adjust` (limits, pool size) first.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::ephemeral(dir.path());
        config.master_key = Some(MasterKey::generate().unwrap());
        config.max_connections = 4;
        adjust(&mut config);
        let mut pg_database = None;
        if backend == Backend::Postgres {
            let (url, name) = fresh_postgres_database().await;
            config.database_url = Some(url);
            pg_database = Some(name);
        }
        let handle = mobile_access_cloud::spawn(config.clone()).await.unwrap();
        assert_eq!(handle.store().backend(), backend);
        Self { handle, backend, http: client(), _dir: dir, pg_database, config }
    }

    /// The same cloud stopped and started again on its database (a deploy, a crash): what is
    /// stored survives, nothing held in memory does. It may listen on another port.
    pub async fn restart(self) -> Self {
        self.handle.shutdown().await.unwrap();
        let handle = mobile_access_cloud::spawn(self.config.clone()).await.unwrap();
        Self { handle, ..self }
    }

    pub async fn finish(self) {
        self.handle.shutdown().await.unwrap();
        if let Some(name) = &self.pg_database {
            drop_postgres_database(name).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    /// An organization created the way the operator does (CLI / library).
    pub async fn org(&self, name: &str, created_at: u32, method: Option<UnlockMethod>) -> CreatedOrganization {
        let new = NewOrganization { name: name.to_owned(), created_at: Some(created_at), unlock_method: method };
        self.handle.store().create_organization(new).await.unwrap()
    }

    pub async fn call(&self, method: Method, token: Option<&str>, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(Method::GET, Some(token), path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(Method::POST, Some(token), path, Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, Some(token), path, Some(body)).await
    }

    /// A request without a body.
    pub async fn empty(&self, method: Method, token: &str, path: &str) -> Reply {
        self.call(method, Some(token), path, None).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, Some(token), path, Some(body)).await
    }

    /// Creates a door with one reader and a group opening it; returns (door id, provisioning).
    pub async fn door_with_reader(&self, admin: &str, name: &str, mode: &str) -> (String, Value) {
        let door = self.post(admin, "/v1/admin/doors", serde_json::json!({"name": name})).await.ok();
        let door_id = door["id"].as_str().unwrap().to_owned();
        let reader = self
            .post(
                admin,
                &format!("/v1/admin/doors/{door_id}/readers"),
                serde_json::json!({"model": "Reader Pro 2.1", "mode": mode, "tamper_protection": true}),
            )
            .await
            .ok();
        (door_id, reader)
    }

    pub async fn group(&self, admin: &str, name: &str, doors: &[&str]) -> Value {
        self.post(admin, "/v1/admin/access-groups", serde_json::json!({"name": name, "door_ids": doors})).await.ok()
    }

    /// Syncs one member and opens a session for them; returns the member token.
    pub async fn member(&self, integration: &str, external_id: &str, groups: &[&str]) -> String {
        let body = serde_json::json!({"members": [{
            "external_id": external_id, "name": external_id, "email": format!("{external_id}@example.com"),
            "access_groups": groups,
        }]});
        self.put(integration, "/v1/integration/members", body).await.ok();
        self.call(Method::POST, Some(integration), &format!("/v1/integration/members/{external_id}/session"), None)
            .await
            .ok()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The body of the newest unsent mail of `kind` to `recipient`, read as the mail sender reads it
/// (claimed for 0 s, so it stays due): what the member's mailbox gets. The admin outbox never
/// shows bodies, so tests that need an invitation token take it from here, like a member would.
pub async fn mail_body(store: &mobile_access_cloud::Store, recipient: &str, kind: &str) -> String {
    let mails = store.claim_due_mail(mobile_access_cloud::store::now(), 0, 1000).await.unwrap();
    let mail = mails.iter().rev().find(|m| m.recipient == recipient && m.kind == kind);
    mail.unwrap_or_else(|| panic!("no {kind} mail to {recipient}")).body.clone()
}

/// The invitation token in a mail body.
pub fn token_in(body: &str) -> String {
    body.split_whitespace().find(|w| w.starts_with("ma_inv_")).unwrap().to_owned()
}

/// The token of the newest unsent invitation to `recipient`.
pub async fn invitation_token(store: &mobile_access_cloud::Store, recipient: &str) -> String {
    token_in(&mail_body(store, recipient, "invitation").await)
}

/// A phone's device key and its public half in hex.
pub fn device() -> (SoftwareDeviceKey, String) {
    let key = SoftwareDeviceKey::generate(&ring::rand::SystemRandom::new()).unwrap();
    let public = hex::encode(&key.public_key().0);
    (key, public)
}

/// Runs `scenario` against a fresh cloud on every backend.
#[macro_export]
macro_rules! on_every_backend {
    (|$cloud:ident| $body:block) => {
        for backend in support::backends() {
            let $cloud = support::Cloud::start(backend).await;
            eprintln!("backend: {:?}", $cloud.backend);
            $body
            $cloud.finish().await;
        }
    };
}

/// The cloud binary run by a test: killed when dropped, so a failed assertion leaves no server.
pub struct ServerProcess(pub std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary's ready line (the base URL it serves on), read off the runtime's threads.
pub async fn ready_line(stdout: std::process::ChildStdout) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
        line.trim().to_owned()
    })
    .await
    .unwrap()
}

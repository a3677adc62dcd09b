//! How a cloud instance is started.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
};

use crate::{
    crypto::MasterKey, limits::Limits, mail::MailConfig, proxy::Cidr, retention::Retention, serving::Timeouts,
};

/// Directory used when none is given: relative to where the server starts, so `cargo run -p
/// mobile-access-cloud -- serve` works with no set-up and keeps its data next to the checkout.
pub const DEFAULT_DATA_DIR: &str = "mobile-access-data";
/// SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "cloud.db";

/// Everything a cloud instance needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one (tests).
    pub listen: SocketAddr,
    /// Holds the SQLite database (unless `database_url` is set) and `master.key` (unless the key
    /// comes from the environment or `master_key`). Created if missing.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; `None` means `data_dir/cloud.db`.
    pub database_url: Option<String>,
    /// Overrides the environment variable and the key file.
    pub master_key: Option<MasterKey>,
    /// Database connection pool size (default [`default_max_connections`]).
    pub max_connections: u32,
    /// Password hashes computed at once (each on the blocking pool, ~tens of ms of CPU); more
    /// logins wait their turn, so a flood cannot take every core.
    pub password_concurrency: usize,
    /// Request rate limits (per client address, per caller, and on failed authentication).
    pub limits: Limits,
    /// How long shutdown waits for in-flight requests and jobs before giving up on them.
    pub shutdown_grace: std::time::Duration,
    /// Mail delivery: the SMTP server (none by default: mail stays queued) and retry policy.
    pub mail: MailConfig,
    /// What the retention job prunes, and how often it runs.
    pub retention: Retention,
    /// Header-read, idle and request timeouts of the API listener.
    pub timeouts: Timeouts,
    /// Where to serve `GET /metrics` (Prometheus), unauthenticated; `None` (the default): not at
    /// all. A listener of its own so that what the metrics say (routes, load, pool use) stays
    /// on the network the operator scrapes from, never the public one.
    pub metrics_listen: Option<SocketAddr>,
    /// Proxies whose `X-Forwarded-For` names the client (for the per-address rate limits). Empty
    /// (the default): the TCP peer is the client, and the header is ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// The oldest SDK served: older ones get `426 app_update_required` (see
    /// [`crate::sdk_version`]). Default: every version.
    pub min_sdk_version: Option<crate::sdk_version::SdkVersion>,
}

impl Config {
    /// Defaults: 127.0.0.1:8080, SQLite in `data_dir`, master key from the environment or file.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            data_dir: data_dir.into(),
            database_url: None,
            master_key: None,
            max_connections: default_max_connections(),
            password_concurrency: crate::passwords::default_concurrency(),
            limits: Limits::default(),
            shutdown_grace: std::time::Duration::from_secs(30),
            mail: MailConfig::default(),
            retention: Retention::default(),
            timeouts: Timeouts::default(),
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            min_sdk_version: None,
        }
    }

    /// Same, listening on a free loopback port: what tests and the desktop harness use.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        Self { listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), ..Self::new(data_dir) }
    }
}

/// Four connections per core, at least 8 and at most 32. A request holds a connection only while
/// its queries run, and the work between them (signing, hashing) is CPU: more connections than
/// a few per core only queue inside the database. The ceiling keeps a few replicas under
/// PostgreSQL's default `max_connections` of 100; SQLite serializes writers anyway.
pub fn default_max_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    u32::try_from(cores.saturating_mul(4)).unwrap_or(u32::MAX).clamp(8, 32)
}

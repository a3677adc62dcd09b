//! The reference access cloud: the server the mobile-access SDK downloads digital keys from.
//!
//! It holds what the workspace platform's integration syncs (members and their access groups),
//! what administrators set up (doors, readers, access groups, integration settings, credentials)
//! and what the system produces (an email outbox, an audit log), and it signs credentials with
//! each organization's key from `mobile-access-protocol`.
//!
//! - [`spawn`] / [`serve`] run the HTTP API ([`http::router`]) over a [`Store`].
//! - [`Store`] holds every rule; the HTTP handlers and the CLI both call it.
//! - [`demo::seed`] creates the demo organization the harness and app developers use.
//!
//! Storage is SQLite (a file in the data directory) by default, PostgreSQL with a
//! `postgres://` URL; the server keeps no state of its own, so replicas can share PostgreSQL.
//! Secrets at rest are sealed with a master key; tokens are stored hashed; nothing secret is
//! logged.
//!
//! ```no_run
//! # async fn example() -> Result<(), mobile_access_cloud::Error> {
//! let dir = std::env::temp_dir().join("mobile-access-example");
//! let cloud = mobile_access_cloud::spawn(mobile_access_cloud::Config::ephemeral(&dir)).await?;
//! let seed = mobile_access_cloud::demo::seed(cloud.store(), |_| {}).await?;
//! println!("{} admin token {}", cloud.base_url(), seed.admin_token);
//! cloud.shutdown().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
mod config;
pub mod crypto;
pub mod demo;
mod error;
pub mod hex;
pub mod http;
pub mod input;
pub mod limits;
pub mod mail;
pub mod metrics;
mod passwords;
pub mod proxy;
pub mod retention;
pub mod sdk_version;
mod server;
mod serving;
pub mod store;

pub use config::{Config, DEFAULT_DATA_DIR, SQLITE_FILE, default_max_connections};
pub use crypto::MasterKey;
pub use error::{Error, Refusal};
pub use limits::{Limits, Rate};
pub use mail::{MailConfig, Smtp, SmtpCredentials, SmtpSecurity};
pub use retention::Retention;
pub use server::{CloudHandle, serve, spawn};
pub use serving::Timeouts;
pub use store::{Actor, Backend, Caller, DEFAULT_SWITCH_BATCH, KeyWriterLoad, Pruned, READER_POLL_SECS, Store};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

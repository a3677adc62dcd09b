//! The retention job: a background pass that prunes expired and old rows
//! ([`crate::store::Store::prune`]) at start and then every [`Retention::interval`].
//!
//! Why: issued credentials, sessions, audit entries and mails were kept forever, so the tables
//! every request reads grew without bound and an audit trail outlived any policy. Pruning is
//! idempotent and runs on every replica; two replicas pruning at once delete each row once.

use std::time::Duration;

use crate::{
    http::Background,
    store::{Store, now},
};

/// How long things are kept.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Time between pruning passes (the first runs at start).
    pub interval: Duration,
    /// Audit entries older than this are deleted.
    pub audit_horizon: Duration,
    /// Sent and failed mails older than this are deleted (their bodies were sealed, but an
    /// invitation's token need not sit in the database once delivered).
    pub mail_horizon: Duration,
    /// Signed credentials are kept this long past their expiry, so an administrator looking
    /// into yesterday's refused tap still finds the key; expired sessions go at once.
    pub expired_grace: Duration,
}

impl Default for Retention {
    /// Hourly; audit entries for 400 days (a year and its audit season), mails for 30 days,
    /// expired credentials for a day.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3600),
            audit_horizon: Duration::from_secs(400 * 86_400),
            mail_horizon: Duration::from_secs(30 * 86_400),
            expired_grace: Duration::from_secs(86_400),
        }
    }
}

/// Runs the job on `background` until shutdown.
pub(crate) fn run(background: &Background, store: Store, retention: Retention) {
    background.spawn_job(|stop| async move {
        loop {
            match store.prune(now(), &retention).await {
                Ok(pruned) if pruned == crate::store::Pruned::default() => {
                    tracing::debug!("retention: nothing to prune")
                }
                Ok(pruned) => tracing::info!(?pruned, "retention: pruned"),
                Err(error) => tracing::warn!(%error, "retention: pruning failed; trying again at the next pass"),
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(retention.interval) => {}
            }
        }
    });
}

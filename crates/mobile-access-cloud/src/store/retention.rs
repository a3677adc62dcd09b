//! Retention: deleting what has outlived its use, so tables that only grew (every key signed,
//! every session, every audit entry, every mail) stay the size of what is still needed.
//!
//! Deletes run in chunks of [`CHUNK`] rows, each its own statement, so pruning a year of audit
//! log never holds a long lock over a table requests write to.

use serde::Serialize;

use super::Store;
use crate::{Result, retention::Retention};

/// Rows deleted per statement.
const CHUNK: i64 = 5_000;

/// What one pruning pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Signed credentials past their validity (plus the grace).
    pub issued_credentials: u64,
    /// Expired member sessions and console sessions.
    pub sessions: u64,
    /// Revocation list entries whose credential expired (readers refuse it anyway).
    pub revocations: u64,
    /// Audit entries older than the audit horizon.
    pub audit_entries: u64,
    /// Sent or failed mails older than the mail horizon.
    pub mails: u64,
}

fn secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

impl Store {
    /// Deletes, as of `at`: signed credentials that expired more than `retention.expired_grace`
    /// ago, expired sessions, expired revocation entries, audit entries older than
    /// `retention.audit_horizon`, and sent or failed mails older than `retention.mail_horizon`.
    /// Admin and integration tokens never expire and are never pruned.
    pub async fn prune(&self, at: u32, retention: &Retention) -> Result<Pruned> {
        let at = i64::from(at);
        let issued_before = at.saturating_sub(secs(retention.expired_grace));
        let audit_before = at.saturating_sub(secs(retention.audit_horizon));
        let mail_before = at.saturating_sub(secs(retention.mail_horizon));
        Ok(Pruned {
            issued_credentials: self
                .delete_chunked("issued_credentials", "credential_id, id", "not_after < $1", issued_before)
                .await?,
            sessions: self
                .delete_chunked("api_tokens", "hash", "expires_at IS NOT NULL AND expires_at <= $1", at)
                .await?
                + self.delete_chunked("console_sessions", "hash", "expires_at <= $1", at).await?,
            revocations: self.delete_chunked("revocations", "id", "not_after <= $1", at).await?,
            audit_entries: self.delete_chunked("audit_log", "id", "at < $1", audit_before).await?,
            mails: self.delete_chunked("outbox", "id", "sent_at < $1", mail_before).await?
                + self.delete_chunked("outbox", "id", "failed_at < $1", mail_before).await?,
        })
    }

    /// Deletes the rows of `table` matching `condition` (with `$1` bound to `bound`), [`CHUNK`]
    /// at a time by their `key` (a primary key: a column, or columns separated by commas). The
    /// names are this module's constants, never input.
    async fn delete_chunked(&self, table: &str, key: &str, condition: &str, bound: i64) -> Result<u64> {
        let sql =
            format!("DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {condition} LIMIT $2)");
        let mut deleted = 0;
        loop {
            let n = sqlx::query(&sql).bind(bound).bind(CHUNK).execute(&self.pool).await?.rows_affected();
            deleted += n;
            if n < u64::try_from(CHUNK).unwrap_or(u64::MAX) {
                return Ok(deleted);
            }
        }
    }
}

//! The audit log: who did what to which object, per organization.

use serde_json::Value;
use sqlx::AnyConnection;

use super::{RowExt, Store, now};
use crate::{
    Result,
    api::{AuditEntry, Page, PageQuery},
    store::Caller,
};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An organization administrator (HTTP).
    Admin,
    /// An administrator signed in to the web console, by email: the audit log says who.
    ConsoleAdmin(String),
    /// The workspace platform's integration.
    Integration,
    /// A member, by id.
    Member(String),
    /// The operator at the command line.
    Operator,
    /// A reader, by id.
    Reader(String),
}

impl Actor {
    pub(super) fn text(&self) -> String {
        match self {
            Self::Admin => "admin".to_owned(),
            Self::ConsoleAdmin(email) => format!("admin:{email}"),
            Self::Integration => "integration".to_owned(),
            Self::Member(id) => format!("member:{id}"),
            Self::Operator => "operator".to_owned(),
            Self::Reader(id) => format!("reader:{id}"),
        }
    }
}

impl From<&Caller> for Actor {
    fn from(caller: &Caller) -> Self {
        match (caller.role, &caller.member_id) {
            (crate::api::Role::Admin, _) => Self::Admin,
            (crate::api::Role::Integration, _) => Self::Integration,
            (crate::api::Role::Member, id) => Self::Member(id.clone().unwrap_or_default()),
            (crate::api::Role::Reader, _) => Self::Reader(caller.reader_id.clone().unwrap_or_default()),
        }
    }
}

/// Appends an entry. `detail` must never hold a secret.
pub(super) async fn record(
    conn: &mut AnyConnection,
    org_id: &str,
    actor: &Actor,
    action: &str,
    subject: &str,
    detail: Value,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (org_id, at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(org_id)
        .bind(i64::from(now()))
        .bind(actor.text())
        .bind(action)
        .bind(subject)
        .bind(detail.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Parses a numeric `after` cursor.
pub(super) fn sequence_cursor(query: &PageQuery) -> Result<i64> {
    match &query.after {
        None => Ok(0),
        Some(text) => crate::input::sequence_cursor(text)
            .ok_or_else(|| crate::Error::invalid("after must be a cursor returned by a list")),
    }
}

/// The `next` cursor of a page of `limit` items ending at `last`.
pub(super) fn next_cursor<T>(items: &[T], limit: i64, last: impl Fn(&T) -> String) -> Option<String> {
    if i64::try_from(items.len()).unwrap_or(i64::MAX) >= limit { items.last().map(last) } else { None }
}

impl Store {
    /// The organization's audit log, oldest first.
    pub async fn audit_log(&self, org_id: &str, query: &PageQuery) -> Result<Page<AuditEntry>> {
        let limit = query.limit()?;
        let rows = sqlx::query(
            "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE org_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(org_id)
        .bind(sequence_cursor(query)?)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(entry_from_row).collect::<Result<Vec<_>>>()?;
        let next = next_cursor(&items, limit, |e| e.id.to_string());
        Ok(Page { items, next })
    }
}

/// One row of `audit_log` as the API shows it (every reader of the log reads it so).
pub(super) fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.int("id")?,
        at: row.time("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        subject: row.text("subject")?,
        detail: serde_json::from_str(&row.text("detail")?).unwrap_or(Value::Null),
    })
}

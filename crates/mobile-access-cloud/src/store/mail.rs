//! The email outbox: mails the cloud sends (welcome, invitation, access), kept per organization
//! and delivered by the background sender ([`crate::mail`]). Bodies are sealed at rest because
//! invitation mails carry a token that lets the recipient set a password; for the same reason the
//! administrators' listing never shows a body, and only the sender opens one.
//!
//! Delivery is at least once: a sender claims a due row by moving its `next_attempt_at` ahead by a
//! lease (a conditional update, so two replicas never claim the same row at once), sends it, then
//! marks it sent or schedules the retry. A sender that dies mid-send leaves the row to be claimed
//! again when the lease ends.

use sqlx::AnyConnection;

use super::{
    Backend, RowExt, Store,
    audit::{next_cursor, sequence_cursor},
    bulk::{Param, insert_rows},
    now,
};
use crate::{
    Error, Result,
    api::{MailState, OutboxMail, Page, PageQuery},
    crypto::MasterKey,
};

/// One mail to queue.
#[derive(Debug, Clone)]
pub(super) struct Mail {
    pub member_id: String,
    pub kind: &'static str,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

fn body_context(org_id: &str) -> String {
    format!("outbox.body:{org_id}")
}

/// Queues `mails` for `org_id` in the caller's transaction.
pub(super) async fn queue(
    conn: &mut AnyConnection,
    backend: Backend,
    master: &MasterKey,
    org_id: &str,
    mails: &[Mail],
) -> Result<()> {
    let at = i64::from(now());
    let context = body_context(org_id);
    let rows = mails
        .iter()
        .map(|mail| {
            Ok(vec![
                Param::Text(org_id.to_owned()),
                Param::Text(mail.member_id.clone()),
                Param::Text(mail.kind.to_owned()),
                Param::Text(mail.recipient.clone()),
                Param::Text(mail.subject.clone()),
                Param::Bytes(master.seal(&context, mail.body.as_bytes())?),
                Param::Int(at),
                Param::Int(at),
            ])
        })
        .collect::<Result<Vec<_>>>()?;
    insert_rows(
        conn,
        backend,
        "outbox (org_id, member_id, kind, recipient, subject, body_sealed, created_at, next_attempt_at)",
        rows,
    )
    .await
}

/// A mail claimed for delivery, its body opened: what the sender hands to the SMTP server.
/// Its `Debug` leaves the body out (it may carry an invitation token).
#[derive(Clone)]
pub struct QueuedMail {
    /// Outbox sequence number.
    pub id: i64,
    /// The organization that queued it.
    pub org_id: String,
    /// `welcome`, `invitation` or `access`.
    pub kind: String,
    /// Address.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Text body.
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

impl std::fmt::Debug for QueuedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedMail")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("kind", &self.kind)
            .field("recipient", &self.recipient)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Longest `last_error` kept: an SMTP answer, not a transcript.
const MAX_ERROR_CHARS: usize = 300;

impl Store {
    /// Claims up to `limit` mails due at `at` for `lease` seconds (each claim counts as an
    /// attempt) and opens them. A row another sender claimed in between is skipped.
    pub async fn claim_due_mail(&self, at: u32, lease: u32, limit: i64) -> Result<Vec<QueuedMail>> {
        let rows = sqlx::query(
            "SELECT id, org_id, kind, recipient, subject, body_sealed, attempts, next_attempt_at FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(i64::from(at))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = row.int("id")?;
            let taken = sqlx::query(
                "UPDATE outbox SET next_attempt_at = $1, attempts = attempts + 1 \
                 WHERE id = $2 AND next_attempt_at = $3 AND sent_at IS NULL AND failed_at IS NULL",
            )
            .bind(i64::from(at.saturating_add(lease)))
            .bind(id)
            .bind(row.int("next_attempt_at")?)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if taken != 1 {
                continue;
            }
            let org_id = row.text("org_id")?;
            let body = self.master.open(&body_context(&org_id), &row.bytes("body_sealed")?)?;
            claimed.push(QueuedMail {
                id,
                kind: row.text("kind")?,
                recipient: row.text("recipient")?,
                subject: row.text("subject")?,
                body: String::from_utf8(body).map_err(|_| Error::Corrupt(format!("outbox {id}: body is not UTF-8")))?,
                attempts: row.u32("attempts")?.saturating_add(1),
                org_id,
            });
        }
        Ok(claimed)
    }

    /// Records that the SMTP server accepted mail `id`.
    pub async fn mail_sent(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE outbox SET sent_at = $1, last_error = NULL WHERE id = $2")
            .bind(i64::from(now()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a failed attempt at mail `id`: tried again at `retry_at`, or never (`None`: the
    /// failure is permanent or the attempts are spent).
    pub async fn mail_failed(&self, id: i64, error: &str, retry_at: Option<u32>) -> Result<()> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let query =
            match retry_at {
                Some(at) => sqlx::query("UPDATE outbox SET next_attempt_at = $1, last_error = $2 WHERE id = $3")
                    .bind(i64::from(at)),
                None => sqlx::query("UPDATE outbox SET failed_at = $1, last_error = $2 WHERE id = $3")
                    .bind(i64::from(now())),
            };
        query.bind(error).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// The organization's outbox, oldest first: delivery state, never bodies.
    pub async fn outbox(&self, org_id: &str, query: &PageQuery) -> Result<Page<OutboxMail>> {
        let limit = query.limit()?;
        let rows = sqlx::query(
            "SELECT id, member_id, kind, recipient, subject, created_at, attempts, next_attempt_at, sent_at, \
             failed_at, last_error FROM outbox WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(org_id)
        .bind(sequence_cursor(query)?)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                let sent_at = row.opt_int("sent_at")?.map(|t| u32::try_from(t).unwrap_or(u32::MAX));
                let state = match (sent_at, row.opt_int("failed_at")?) {
                    (Some(_), _) => MailState::Sent,
                    (None, Some(_)) => MailState::Failed,
                    (None, None) => MailState::Queued,
                };
                Ok(OutboxMail {
                    id: row.int("id")?,
                    member_id: row.text("member_id")?,
                    kind: row.text("kind")?,
                    recipient: row.text("recipient")?,
                    subject: row.text("subject")?,
                    created_at: row.time("created_at")?,
                    state,
                    attempts: row.u32("attempts")?,
                    next_attempt_at: if state == MailState::Queued { Some(row.time("next_attempt_at")?) } else { None },
                    sent_at,
                    last_error: row.opt_text("last_error")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = next_cursor(&items, limit, |m| m.id.to_string());
        Ok(Page { items, next })
    }
}

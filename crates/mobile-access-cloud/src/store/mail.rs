//! The email outbox: mails the cloud would send (welcome, invitation, access), kept per
//! organization for a mail relay to deliver. Bodies are sealed at rest because invitation mails
//! carry a token that lets the recipient set a password.

use sqlx::AnyConnection;

use super::{
    Backend, RowExt, Store,
    audit::{next_cursor, sequence_cursor},
    bulk::{Param, insert_rows},
    now,
};
use crate::{
    Result,
    api::{OutboxMail, Page, PageQuery},
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
            ])
        })
        .collect::<Result<Vec<_>>>()?;
    insert_rows(conn, backend, "outbox (org_id, member_id, kind, recipient, subject, body_sealed, created_at)", rows)
        .await
}

impl Store {
    /// The organization's outbox, oldest first.
    pub async fn outbox(&self, org_id: &str, query: &PageQuery) -> Result<Page<OutboxMail>> {
        let limit = query.limit()?;
        let rows = sqlx::query(
            "SELECT id, member_id, kind, recipient, subject, body_sealed, created_at FROM outbox \
             WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(org_id)
        .bind(sequence_cursor(query)?)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let context = body_context(org_id);
        let items = rows
            .iter()
            .map(|row| {
                let body = self.master.open(&context, &row.bytes("body_sealed")?)?;
                Ok(OutboxMail {
                    id: row.int("id")?,
                    member_id: row.text("member_id")?,
                    kind: row.text("kind")?,
                    recipient: row.text("recipient")?,
                    subject: row.text("subject")?,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    created_at: row.time("created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = next_cursor(&items, limit, |m| m.id.to_string());
        Ok(Page { items, next })
    }
}

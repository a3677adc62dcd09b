//! What readers do with the cloud while they are online: poll their configuration (the signed
//! revocation list and time) and upload the attempts they recorded, and the same upload for
//! the app's unlock results recorded while the phone was offline.

use serde_json::json;

use super::{
    Actor, Store,
    bulk::{Param, insert_rows_with},
    now,
};
use crate::{
    Error, Result,
    api::{EventUpload, ReaderSync, UploadReport, UploadedEvent},
    hex, input,
};

/// How often an online reader polls, in seconds: the online worst case from a revocation to a
/// reader refusing it.
pub const READER_POLL_SECS: u32 = 30;
/// Most events per upload.
pub use crate::input::MAX_EVENTS_PER_UPLOAD;

fn check(event: &UploadedEvent) -> Result<()> {
    input::EVENT_ID.check("event_id", &event.event_id)?;
    input::OUTCOME.check("outcome", &event.outcome)?;
    for (field, value) in [("reason", &event.reason), ("exchange", &event.exchange)] {
        if let Some(value) = value {
            input::EVENT_WORD.check(field, value)?;
        }
    }
    for (field, value, bytes) in [
        ("credential_id", &event.credential_id, 16),
        ("member_id", &event.member_id, 16),
        ("reader_id", &event.reader_id, 8),
    ] {
        if value.as_ref().is_some_and(|v| hex::decode(v).is_none_or(|b| b.len() != bytes)) {
            return Err(Error::invalid(format!("{field} must be {} hex characters", bytes * 2)));
        }
    }
    Ok(())
}

impl Store {
    /// `GET /v1/reader/config`.
    pub async fn reader_sync(&self, org_id: &str, reader_id: &str) -> Result<ReaderSync> {
        self.touch_reader(org_id, reader_id).await?;
        let list = self.revocation_list(org_id).await?;
        let revocation_reasons = self.revocation_reasons(org_id).await?;
        let owner_verification: i64 = sqlx::query_scalar(
            "SELECT d.owner_verification FROM readers r JOIN doors d ON d.id = r.door_id \
             WHERE r.org_id = $1 AND r.id = $2",
        )
        .bind(org_id)
        .bind(reader_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("reader"))?;
        Ok(ReaderSync {
            owner_verification: owner_verification != 0,
            reader_id: reader_id.to_owned(),
            revocation_list: hex::encode(list.encoded()),
            server_time: list.list().issued_at.0,
            poll_secs: READER_POLL_SECS,
            revocation_reasons,
        })
    }

    /// Stores uploaded events in the audit log, each once: an event id already stored (an upload
    /// retried after a lost answer, a reader that re-sends its whole log) is counted as a
    /// duplicate and ignored. Event ids are scoped by who uploads, so one recorder cannot shadow
    /// another's events.
    pub async fn upload_events(&self, org_id: &str, actor: &Actor, upload: &EventUpload) -> Result<UploadReport> {
        if upload.events.len() > MAX_EVENTS_PER_UPLOAD {
            return Err(Error::invalid(format!("at most {MAX_EVENTS_PER_UPLOAD} events per upload")));
        }
        upload.events.iter().try_for_each(check)?;
        let (action, scope) = match actor {
            Actor::Reader(id) => ("reader.attempt", format!("reader:{id}")),
            Actor::Member(id) => ("app.unlock", format!("member:{id}")),
            _ => return Err(Error::Forbidden),
        };
        if let Actor::Reader(id) = actor {
            self.touch_reader(org_id, id).await?;
        }
        let mut tx = self.pool.begin().await?;
        // A write first, so SQLite takes its write lock up front instead of failing to upgrade
        // its read lock when another writer (a switch-over job) is busy ("database is locked").
        sqlx::query("UPDATE organizations SET id = id WHERE id = $1").bind(org_id).execute(&mut *tx).await?;
        let before: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND event_id IS NOT NULL")
                .bind(org_id)
                .fetch_one(&mut *tx)
                .await?;
        let received = i64::from(now());
        let rows = upload
            .events
            .iter()
            .map(|event| {
                let subject = event
                    .member_id
                    .clone()
                    .or_else(|| event.credential_id.clone())
                    .or_else(|| event.reader_id.clone())
                    .unwrap_or_else(|| scope.clone());
                let detail = json!({
                    "outcome": event.outcome, "reason": event.reason, "exchange": event.exchange,
                    "credential_id": event.credential_id, "member_id": event.member_id,
                    "reader_id": event.reader_id, "rssi": event.rssi, "received_at": received,
                });
                vec![
                    Param::Text(org_id.to_owned()),
                    Param::Int(i64::from(event.at)),
                    Param::Text(actor.text()),
                    Param::Text(action.to_owned()),
                    Param::Text(subject),
                    Param::Text(detail.to_string()),
                    Param::Text(format!("{scope}:{}", event.event_id.trim())),
                ]
            })
            .collect();
        insert_rows_with(
            &mut tx,
            self.backend,
            "audit_log (org_id, at, actor, action, subject, detail, event_id)",
            "ON CONFLICT DO NOTHING",
            rows,
        )
        .await?;
        let after: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND event_id IS NOT NULL")
                .bind(org_id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        let accepted = u32::try_from(after - before).unwrap_or(0);
        let total = u32::try_from(upload.events.len()).unwrap_or(u32::MAX);
        Ok(UploadReport { accepted, duplicates: total.saturating_sub(accepted) })
    }
}

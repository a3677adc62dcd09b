//! Remote unlock (see [`crate::api::RemoteUnlock`]): a member's request becomes a command for
//! the door's reader, which holds a long poll open and so hears of it at once.
//!
//! The database is the truth (so several replicas on one PostgreSQL agree); what this process
//! adds is [`Wakeups`], which answers a long poll or a waiting member the moment the other side
//! wrote, instead of at the next re-read. A request served by another replica is seen at the
//! next re-read, within [`RECHECK`].
//!
//! A command waits (outcome NULL) until the reader reports `opened` or `failed`, and every poll
//! of the reader gets it meanwhile: the server cannot tell that a poll's connection died, so a
//! command handed to a dead poll must reach the next one (the reader acts on each id once). A
//! reader acts on a command only within [`COMMAND_VALIDITY`] of its issue, and the member waits
//! longer, [`ANSWER_WAIT`]: when the member stops waiting the command is marked `expired` and
//! no reader acts on it any more, so a door never opens after the member was told it did not.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Actor, RowExt, Store, audit, doors::member_door_ids, now};
use crate::{
    Error, Refusal, Result,
    api::{
        CommandKind, CommandOutcome, MAX_ANNOUNCED_NONCES, MemberDoor, MemberDoors, MemberStatus, ReaderCommand,
        ReaderCommands, RemoteUnlock, RemoteUnlockRequest, RemoteUnlockResult,
    },
    crypto, hex,
};

/// A reader counts as online when it polled this recently (its long polls last at most
/// [`MAX_POLL_WAIT`]).
pub const ONLINE_SECS: u32 = 45;
/// The longest a reader's poll is held open.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(25);
/// How long a member's request waits for the reader's answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// How long after its issue a reader may act on a command (shorter than [`ANSWER_WAIT`]).
const COMMAND_VALIDITY: Duration = Duration::from_secs(3);
/// How often a waiting side reads the database again, for writes made by another replica.
const RECHECK: Duration = Duration::from_millis(250);

/// In-process wakeups: per reader (a command was queued) and per command (a result arrived).
#[derive(Debug, Default)]
pub(super) struct Wakeups {
    readers: Mutex<HashMap<String, Arc<Notify>>>,
    commands: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakeups {
    fn of(map: &Mutex<HashMap<String, Arc<Notify>>>, key: &str) -> Arc<Notify> {
        let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Entries nobody waits on any more are dropped as the map is used: bounded by waiters.
        map.retain(|_, notify| Arc::strong_count(notify) > 1);
        map.entry(key.to_owned()).or_default().clone()
    }

    fn wake(map: &Mutex<HashMap<String, Arc<Notify>>>, key: &str) {
        let map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(notify) = map.get(key) {
            notify.notify_waiters();
        }
    }
}

/// Waits for `notify` or [`RECHECK`], whichever is first, but never past `deadline`.
async fn nap(notify: &Notify, deadline: Instant) {
    let nap = RECHECK.min(deadline.saturating_duration_since(Instant::now()));
    let _ = tokio::time::timeout(nap, notify.notified()).await;
}

/// Whether a reader last seen at `last_seen` (Unix seconds) counts as online at `now`.
fn is_online(last_seen: Option<i64>, now: u32) -> bool {
    last_seen.is_some_and(|seen| seen + i64::from(ONLINE_SECS) >= i64::from(now))
}

/// The time now in Unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A lowercase hex nonce of the protocol's advertisement (8 bytes), or a 400.
fn nonce(text: &str) -> Result<String> {
    hex::decode_array::<8>(text)
        .map(|bytes| hex::encode(&bytes))
        .ok_or_else(|| Error::invalid("a nonce is 16 hex characters: one the reader advertises"))
}

/// A reader's announced nonces (comma-separated hex), lowercased and re-joined, or a 400.
fn announced_nonces(text: &str) -> Result<String> {
    let nonces = text.split(',').map(nonce).collect::<Result<Vec<_>>>()?;
    if nonces.len() > MAX_ANNOUNCED_NONCES {
        return Err(Error::invalid(format!("at most {MAX_ANNOUNCED_NONCES} nonces per poll")));
    }
    Ok(nonces.join(","))
}

impl Store {
    /// `GET /v1/me/doors`: the doors the member's access groups open, by name, each with
    /// whether a reader of it polled within [`ONLINE_SECS`].
    pub async fn doors_for_member(&self, org_id: &str, member_id: &str) -> Result<MemberDoors> {
        let organization = self.organization(org_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT d.id, d.name, MAX(r.last_seen_at) AS last_seen_at FROM doors d \
             LEFT JOIN readers r ON r.door_id = d.id \
             WHERE d.org_id = $1 AND d.id IN ({}) GROUP BY d.id, d.name ORDER BY d.name, d.id",
            member_door_ids("$2")
        ))
        .bind(org_id)
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?;
        let now = now();
        let doors = rows
            .iter()
            .map(|row| {
                Ok(MemberDoor {
                    door_id: row.text("id")?,
                    name: row.text("name")?,
                    reader_online: is_online(row.opt_int("last_seen_at")?, now),
                })
            })
            .collect::<Result<_>>()?;
        Ok(MemberDoors { remote_unlock: organization.settings.remote_unlock, doors })
    }

    /// `POST /v1/me/doors/{door_id}/unlock`: checks the organization's policy, the member's
    /// rights to the door and (where required) the proof of proximity, commands the door's
    /// online reader and waits up to [`ANSWER_WAIT`] for it to open. Every attempt is audited.
    pub async fn unlock_remotely(
        &self,
        org_id: &str,
        member_id: &str,
        door_id: &str,
        request: &RemoteUnlockRequest,
    ) -> Result<RemoteUnlockResult> {
        let started = Instant::now();
        let result = self.command_open(org_id, member_id, door_id, request).await;
        let actor = Actor::Member(member_id.to_owned());
        let detail = match &result {
            Ok(opened) => json!({"outcome": "opened", "reader": opened.reader_id, "took_ms": opened.took_ms}),
            Err(error) => json!({"outcome": "refused", "code": error.status_and_code().1, "reason": error.to_string()}),
        };
        // Refusals too, a door that is not the member's included; not a failed database. An id
        // that names no door of this organization is not written down: it may be another
        // organization's, and nothing of one organization shows in another's audit log.
        let subject = match &result {
            Err(Error::NotFound(_)) if !self.door_exists(org_id, door_id).await? => "",
            _ => door_id,
        };
        if !matches!(result, Err(Error::Database(_))) {
            let mut conn = self.pool.acquire().await?;
            audit::record(&mut conn, org_id, &actor, "door.remote_unlock", subject, detail).await?;
        }
        tracing::info!(took_ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), "remote unlock");
        result
    }

    async fn door_exists(&self, org_id: &str, door_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS found FROM doors WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(door_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn command_open(
        &self,
        org_id: &str,
        member_id: &str,
        door_id: &str,
        request: &RemoteUnlockRequest,
    ) -> Result<RemoteUnlockResult> {
        let started = Instant::now();
        let rows = sqlx::query(&format!(
            "SELECT o.remote_unlock, o.mobile_access_enabled, d.name AS door_name, d.owner_verification, \
             (SELECT status FROM members WHERE org_id = $1 AND id = $2) AS member_status, \
             r.id AS reader_id, r.last_seen_at, r.nonces, r.previous_nonces \
             FROM organizations o JOIN doors d ON d.org_id = o.id AND d.id = $3 AND d.id IN ({}) \
             LEFT JOIN readers r ON r.door_id = d.id \
             WHERE o.id = $1 ORDER BY r.last_seen_at DESC",
            member_door_ids("$2")
        ))
        .bind(org_id)
        .bind(member_id)
        .bind(door_id)
        .fetch_all(&self.pool)
        .await?;
        // Not one of the member's doors: the same answer as a door that does not exist.
        let first = rows.first().ok_or(Error::NotFound("door"))?;
        let policy = RemoteUnlock::parse(&first.text("remote_unlock")?)?;
        if !first.flag("mobile_access_enabled")? {
            return Err(Error::refused(Refusal::ModuleDisabled, "mobile access is switched off for this organization"));
        }
        if policy == RemoteUnlock::Off {
            return Err(Error::refused(
                Refusal::RemoteUnlockOff,
                "this organization does not allow unlocking over the network: hold the phone to the reader",
            ));
        }
        let status = first.opt_text("member_status")?.ok_or(Error::NotFound("user"))?;
        if MemberStatus::parse(&status)? != MemberStatus::Confirmed {
            return Err(Error::refused(Refusal::NotConfirmed, "only confirmed users can unlock"));
        }
        if first.flag("owner_verification")? {
            return Err(Error::refused(
                Refusal::OwnerVerificationRequired,
                "this door asks you to verify it's you at the reader: hold the phone to it",
            ));
        }
        let now = now();
        let online = |row: &sqlx::any::AnyRow| -> Result<bool> { Ok(is_online(row.opt_int("last_seen_at")?, now)) };
        let reader = if policy == RemoteUnlock::ProximityRequired {
            let proof = request.proximity.as_ref().ok_or_else(|| {
                Error::refused(Refusal::ProximityRequired, "this door needs the phone at the door: turn Bluetooth on")
            })?;
            let heard = nonce(&proof.nonce)?;
            let matched = rows.iter().find(|row| {
                row.opt_text("reader_id").ok().flatten().as_deref() == Some(proof.reader_id.as_str())
                    && [row.opt_text("nonces"), row.opt_text("previous_nonces")]
                        .into_iter()
                        .any(|known| matches!(known, Ok(Some(known)) if known.split(',').any(|n| n == heard)))
            });
            match matched {
                Some(row) if online(row)? => row,
                Some(_) => return Err(Error::ReaderUnavailable("the door's reader is offline".to_owned())),
                None => {
                    return Err(Error::refused(
                        Refusal::ProximityRequired,
                        "the phone's proof is not this door's current advertisement: move closer and try again",
                    ));
                }
            }
        } else {
            // Readers ordered by when they were last seen: the first is the likeliest online.
            match rows.iter().find(|row| matches!(row.opt_text("reader_id"), Ok(Some(_)))) {
                Some(row) if online(row)? => row,
                Some(_) => return Err(Error::ReaderUnavailable("the door's reader is offline".to_owned())),
                None => return Err(Error::ReaderUnavailable("the door has no reader".to_owned())),
            }
        };
        let reader_id = reader.text("reader_id")?;
        let door_name = reader.text("door_name")?;
        let command_id = crypto::random_id::<16>()?;
        let expires_ms = now_ms() + i64::try_from(COMMAND_VALIDITY.as_millis()).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO reader_commands (id, org_id, reader_id, door_id, member_id, kind, issued_at, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&command_id)
        .bind(org_id)
        .bind(&reader_id)
        .bind(door_id)
        .bind(member_id)
        .bind(CommandKind::Open.as_str())
        .bind(i64::from(now))
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        let answered = Wakeups::of(&self.wakeups.commands, &command_id);
        Wakeups::wake(&self.wakeups.readers, &reader_id);
        let deadline = started + ANSWER_WAIT;
        loop {
            let row = sqlx::query("SELECT outcome, done_at FROM reader_commands WHERE id = $1")
                .bind(&command_id)
                .fetch_one(&self.pool)
                .await?;
            match row.opt_text("outcome")?.as_deref() {
                Some("opened") => {
                    return Ok(RemoteUnlockResult {
                        door_id: door_id.to_owned(),
                        door_name,
                        reader_id,
                        opened_at: row.u32("done_at")?,
                        took_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
                    });
                }
                Some("failed") => {
                    return Err(Error::ReaderUnavailable("the reader could not open the door".to_owned()));
                }
                _ if Instant::now() >= deadline => break,
                _ => nap(&answered, deadline).await,
            }
        }
        // The command's validity has passed: no reader acts on it any more.
        let expired = sqlx::query(
            "UPDATE reader_commands SET outcome = 'expired', done_at = $2 WHERE id = $1 AND outcome IS NULL",
        )
        .bind(&command_id)
        .bind(i64::from(super::now()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Err(Error::ReaderUnavailable(if expired == 1 {
            "the door's reader did not answer: the door stays shut".to_owned()
        } else {
            // The reader answered between the last read and the update: say what it said.
            "the reader answered too late to be sure; try again".to_owned()
        }))
    }

    /// `GET /v1/reader/commands`: records that the reader is online and the nonces it
    /// `announced` (comma-separated hex; `None` keeps the list held), then answers with the commands waiting for it as soon as there is one, or with none
    /// after `wait` or once `closing` fires (a server shutting down answers its polls at once
    /// instead of holding its drain for them; the reader polls again, another replica or the
    /// restarted server).
    pub async fn reader_commands(
        &self,
        reader_id: &str,
        wait: Duration,
        announced: Option<&str>,
        closing: &CancellationToken,
    ) -> Result<ReaderCommands> {
        let announced = announced.map(announced_nonces).transpose()?;
        let deadline = Instant::now() + wait.min(MAX_POLL_WAIT);
        // The list before is kept: a phone may have heard one of its nonces just before this poll.
        sqlx::query(
            "UPDATE readers SET last_seen_at = $2, \
             previous_nonces = CASE WHEN $3 IS NULL THEN previous_nonces ELSE nonces END, \
             nonces = COALESCE($3, nonces) WHERE id = $1",
        )
        .bind(reader_id)
        .bind(i64::from(now()))
        .bind(announced.as_deref())
        .execute(&self.pool)
        .await?;
        let queued = Wakeups::of(&self.wakeups.readers, reader_id);
        loop {
            let now_ms = now_ms();
            let rows = sqlx::query(
                "SELECT id, kind, member_id, issued_at, expires_ms FROM reader_commands \
                 WHERE reader_id = $1 AND outcome IS NULL AND expires_ms > $2 ORDER BY issued_at, id",
            )
            .bind(reader_id)
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?;
            let commands = rows
                .iter()
                .map(|row| {
                    Ok(ReaderCommand {
                        command_id: row.text("id")?,
                        kind: CommandKind::parse(&row.text("kind")?)?,
                        member_id: row.text("member_id")?,
                        issued_at: row.u32("issued_at")?,
                        valid_for_ms: u32::try_from(row.int("expires_ms")? - now_ms).unwrap_or(0),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if !commands.is_empty() || Instant::now() >= deadline || closing.is_cancelled() {
                return Ok(ReaderCommands { commands });
            }
            tokio::select! {
                () = nap(&queued, deadline) => {}
                () = closing.cancelled() => {}
            }
        }
    }

    /// `POST /v1/reader/commands/{command_id}/result`: what the reader did with a command. The
    /// same result again (a retry whose answer was lost) is accepted; a command this reader was
    /// never given is a 404, one already decided otherwise (the member stopped waiting) a 409.
    pub async fn command_result(
        &self,
        org_id: &str,
        reader_id: &str,
        command_id: &str,
        outcome: CommandOutcome,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("SELECT door_id, member_id, outcome FROM reader_commands WHERE id = $1 AND reader_id = $2")
                .bind(command_id)
                .bind(reader_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(Error::NotFound("command"))?;
        match row.opt_text("outcome")?.as_deref() {
            None => {}
            Some(decided) if decided == outcome.as_str() => return Ok(()),
            Some(decided) => return Err(Error::Conflict(format!("the command is already {decided}"))),
        }
        let updated =
            sqlx::query("UPDATE reader_commands SET outcome = $2, done_at = $3 WHERE id = $1 AND outcome IS NULL")
                .bind(command_id)
                .bind(outcome.as_str())
                .bind(i64::from(now()))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            return Err(Error::Conflict("the command was decided meanwhile".to_owned()));
        }
        let detail = json!({"command": command_id, "outcome": outcome.as_str(), "member": row.text("member_id")?});
        let actor = Actor::Reader(reader_id.to_owned());
        audit::record(&mut tx, org_id, &actor, "reader.command_result", &row.text("door_id")?, detail).await?;
        tx.commit().await?;
        Wakeups::wake(&self.wakeups.commands, command_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A reader's announcement is taken exactly when it is 1 to MAX_ANNOUNCED_NONCES
        /// comma-separated 8-byte hex nonces (either case), and stored lowercase; anything else
        /// is a 400, never a panic.
        #[test]
        fn announced_nonces_take_exactly_comma_separated_hex_nonces(
            nonces in proptest::collection::vec(any::<[u8; 8]>(), 1..=MAX_ANNOUNCED_NONCES + 2),
            upper in any::<bool>(),
            junk in "\\PC{0,40}",
        ) {
            let text = nonces.iter().map(|n| hex::encode(n)).collect::<Vec<_>>().join(",");
            let sent = if upper { text.to_uppercase() } else { text.clone() };
            match announced_nonces(&sent) {
                Ok(stored) => {
                    prop_assert!(nonces.len() <= MAX_ANNOUNCED_NONCES);
                    prop_assert_eq!(stored, text);
                }
                Err(error) => {
                    prop_assert!(nonces.len() > MAX_ANNOUNCED_NONCES);
                    prop_assert_eq!(error.status_and_code().0.as_u16(), 400);
                }
            }
            if let Ok(stored) = announced_nonces(&junk) {
                prop_assert!(stored.split(',').all(|n| n.len() == 16), "{junk:?} taken as {stored:?}");
            }
        }
    }
}

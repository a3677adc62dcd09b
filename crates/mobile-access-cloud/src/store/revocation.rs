//! Revocation that reaches readers: which signed credentials are revoked, and the signed list
//! (`mobile_access_protocol::SignedRevocationList`) that readers poll and phones carry.
//!
//! A member's unexpired credentials are revoked when they lose an access group, are removed, or
//! an administrator suspends or deletes their mobile key. The list holds only credentials that
//! have not expired (expired ones are refused by every reader anyway) and is signed afresh on
//! every request, so its `issued_at` doubles as the signed time. Its `sequence` rises whenever
//! something is added or the epoch rises.
//!
//! The list holds up to `MAX_REVOKED` (1,024) ids: an organization of 10,000 members can have
//! 1,000 unexpired revoked credentials without touching anyone else's key. Mobile keys live a
//! day, so they leave the list within a day; what accumulates are wallet passes (a year). Passes
//! are issued at [`PASS_EPOCH`], outside the revocation epoch: only the list ever stops a pass.
//! When the list would overflow, the organization's epoch rises, which revokes every mobile key
//! issued before (each app fetches a fresh key at its own next refresh or tap; nothing tells
//! every phone at once) and drops their entries, keeping every pass entry. If revoked passes
//! alone would overflow it, the revocation is refused with a conflict that says so: the cloud
//! never drops a revocation silently.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

use mobile_access_protocol::{
    CredentialId, KeyId, MAX_REVOKED, OrgId, RevocationList, SignedRevocationList, Timestamp,
};
use sqlx::AnyConnection;

use super::{
    Backend, RowExt, Store,
    bulk::placeholders,
    now,
    organizations::{ORG_COLUMNS, Signer},
};
use crate::{Error, Result, hex};

/// The revocation epoch wallet passes are issued at: the highest, so no epoch rise ever revokes
/// a pass (a pass works without the app for a year and could not pick up a fresh key). Only the
/// list stops a pass.
pub const PASS_EPOCH: u32 = u32::MAX;

/// Which credentials to revoke.
pub(super) enum Whose<'a> {
    /// Every mobile key of these members.
    Members(&'a [String]),
    /// One device binding (`credentials.id`).
    Binding(&'a str),
}

/// Revokes the unexpired signed credentials of `whose` in the caller's transaction, and bumps
/// the list's sequence (or the epoch) if anything was added. Returns how many were revoked.
pub(super) async fn revoke(conn: &mut AnyConnection, backend: Backend, org_id: &str, whose: Whose<'_>) -> Result<u64> {
    let at = i64::from(now());
    let mut revoked = 0;
    let select = format!(
        "INSERT INTO revocations (id, org_id, not_after, epoch_exempt, revoked_at) \
         SELECT ic.id, c.org_id, ic.not_after, CASE WHEN ic.revocation_epoch = {PASS_EPOCH} THEN 1 ELSE 0 END, "
    );
    match whose {
        Whose::Members(ids) => {
            for chunk in ids.chunks(400) {
                let (p_at, p_org, p_now) = (placeholder(backend, 1), placeholder(backend, 2), placeholder(backend, 3));
                let sql = format!(
                    "{select}{p_at} FROM issued_credentials ic JOIN credentials c ON c.id = ic.credential_id \
                     WHERE c.org_id = {p_org} AND ic.not_after > {p_now} AND c.member_id IN ({}) ON CONFLICT DO NOTHING",
                    placeholders(backend, 4, chunk.len())
                );
                let mut query = sqlx::query(&sql).bind(at).bind(org_id).bind(at);
                for id in chunk {
                    query = query.bind(id);
                }
                revoked += query.execute(&mut *conn).await?.rows_affected();
            }
        }
        Whose::Binding(id) => {
            let sql = format!(
                "{select}$1 FROM issued_credentials ic JOIN credentials c ON c.id = ic.credential_id \
                 WHERE c.org_id = $2 AND ic.not_after > $3 AND c.id = $4 ON CONFLICT DO NOTHING"
            );
            revoked +=
                sqlx::query(&sql).bind(at).bind(org_id).bind(at).bind(id).execute(&mut *conn).await?.rows_affected();
        }
    }
    if revoked == 0 {
        return Ok(0);
    }
    sqlx::query("DELETE FROM revocations WHERE org_id = $1 AND not_after <= $2")
        .bind(org_id)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    let listed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(&mut *conn)
        .await?;
    if usize::try_from(listed).unwrap_or(usize::MAX) > MAX_REVOKED {
        let passes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM revocations WHERE org_id = $1 AND epoch_exempt = 1")
            .bind(org_id)
            .fetch_one(&mut *conn)
            .await?;
        if usize::try_from(passes).unwrap_or(usize::MAX) > MAX_REVOKED {
            tracing::error!(org = org_id, passes, "revocation list full of wallet passes: revocation refused");
            return Err(Error::Conflict(format!(
                "the revocation list is full: {passes} unexpired wallet passes would be revoked and readers hold at \
                 most {MAX_REVOKED}; nothing was changed"
            )));
        }
        tracing::warn!(org = org_id, listed, passes, "revocation list full: raising the mobile keys' epoch");
        sqlx::query(
            "UPDATE organizations SET revocation_epoch = revocation_epoch + 1, \
             revocation_sequence = revocation_sequence + 1 WHERE id = $1",
        )
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM revocations WHERE org_id = $1 AND epoch_exempt = 0")
            .bind(org_id)
            .execute(&mut *conn)
            .await?;
    } else {
        sqlx::query("UPDATE organizations SET revocation_sequence = revocation_sequence + 1 WHERE id = $1")
            .bind(org_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(revoked)
}

fn placeholder(backend: Backend, n: usize) -> String {
    super::bulk::placeholder(backend, n)
}

/// How far behind the newest signed time the clock may read and still sign: replicas' clocks
/// differ by a little; a clock further behind is wrong.
pub const CLOCK_SLACK_SECS: i64 = 60;

/// What an organization's row says of its revocation list, read with whatever else the request
/// needs from the row (`revocation_sequence`, `revocation_signed_at`).
pub(super) struct ListState {
    sequence: u32,
    signed_at: i64,
}

/// Signing a list at one time, as [`ListState::at`] allows it.
pub(super) struct Signing {
    /// The list's sequence as read.
    pub sequence: u32,
    /// The time to record as signed before the list goes out: the signing time, when later than
    /// every time recorded so far.
    pub to_record: Option<u32>,
}

impl ListState {
    pub(super) fn from_row(row: &sqlx::any::AnyRow) -> Result<Self> {
        let sequence = row.int("revocation_sequence")?;
        Ok(Self {
            sequence: u32::try_from(sequence).map_err(|_| Error::Corrupt("revocation sequence".to_owned()))?,
            signed_at: row.int("revocation_signed_at")?,
        })
    }

    /// Signing at `at`. Refused with [`Error::ClockBehind`] when the clock reads more than
    /// [`CLOCK_SLACK_SECS`] earlier than a list already signed: the signed time is what moves
    /// readers' clocks, so a server that knows its clock is wrong does not sign with it.
    pub(super) fn at(&self, org_id: &str, at: u32) -> Result<Signing> {
        let newest = self.signed_at;
        if i64::from(at) + CLOCK_SLACK_SECS < newest {
            tracing::error!(org = org_id, newest, now = at, "server clock behind a time it signed: refusing to sign");
            return Err(Error::ClockBehind { newest, now: at });
        }
        Ok(Signing { sequence: self.sequence, to_record: (i64::from(at) > newest).then_some(at) })
    }
}

/// Records that a list of `org_id` was signed at `at` (never moving the record back). Done
/// before the list leaves, so a replica whose clock is behind learns it.
pub(super) async fn record_signed_at(conn: &mut AnyConnection, org_id: &str, at: u32) -> Result<()> {
    sqlx::query("UPDATE organizations SET revocation_signed_at = $1 WHERE id = $2 AND revocation_signed_at < $1")
        .bind(i64::from(at))
        .bind(org_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The last list signed for each organization, kept for the rest of its second.
///
/// Why: every key issuance and reader poll hands out the organization's list signed at the
/// current second. Within one second, at one sequence and epoch, under one key, that list is the
/// same: ids are added to it, or taken off it other than by expiring, only together with a rise
/// of the sequence (see [`revoke`] and the wallet passes' resumption), and Ed25519 signatures are
/// deterministic. Signing it again cost every issuance a database read and a second signature.
#[derive(Debug, Default)]
pub(super) struct SignedLists {
    lists: Mutex<HashMap<String, KeptList>>,
}

/// Organizations kept at most; past that the cache starts over.
const KEPT_LISTS: usize = 4_096;

#[derive(Debug)]
struct KeptList {
    /// What the list was signed at and under: the signing key, time, sequence and epoch.
    signed: ([u8; 32], u32, u32, u32),
    list: SignedRevocationList,
}

impl SignedLists {
    fn get(&self, org_id: &str, signed: ([u8; 32], u32, u32, u32)) -> Option<SignedRevocationList> {
        self.lock().get(org_id).filter(|kept| kept.signed == signed).map(|kept| kept.list.clone())
    }

    fn keep(&self, org_id: &str, signed: ([u8; 32], u32, u32, u32), list: &SignedRevocationList) {
        let mut lists = self.lock();
        if lists.len() >= KEPT_LISTS && !lists.contains_key(org_id) {
            lists.clear();
        }
        lists.insert(org_id.to_owned(), KeptList { signed, list: list.clone() });
    }

    /// The map, even if a thread panicked holding it (it holds no invariant a panic could break).
    fn lock(&self) -> MutexGuard<'_, HashMap<String, KeptList>> {
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// The organization's revocation list, signed now. Refused with [`Error::ClockBehind`] when
    /// the clock is behind a time already signed (see [`ListState::at`]).
    pub async fn revocation_list(&self, org_id: &str) -> Result<SignedRevocationList> {
        let row = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS}, signing_key_sealed, revocation_sequence, revocation_signed_at \
             FROM organizations WHERE id = $1"
        ))
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("organization"))?;
        let signer = self.signer_from_row(&row)?;
        let at = now();
        let signing = ListState::from_row(&row)?.at(org_id, at)?;
        if let Some(at) = signing.to_record {
            record_signed_at(&mut *self.pool.acquire().await?, org_id, at).await?;
        }
        self.signed_list(&signer, org_id, at, signing.sequence).await
    }

    /// The list signed at `at`, whose time is already recorded ([`ListState::at`]): the one kept
    /// for this second when the organization's sequence and epoch are still those, else read
    /// and signed. `sequence` is the one read with the signer.
    pub(super) async fn signed_list(
        &self,
        signer: &Signer,
        org_id: &str,
        at: u32,
        sequence: u32,
    ) -> Result<SignedRevocationList> {
        let key = signer.key.public().key;
        let expected = (key, at, sequence, signer.organization.revocation_epoch);
        if let Some(list) = self.signed_lists.get(org_id, expected) {
            return Ok(list);
        }
        // The sequence, the epoch and the ids in one statement, so they agree with each other
        // even when a revocation commits meanwhile.
        let rows = sqlx::query(
            "SELECT o.revocation_sequence, o.revocation_epoch, r.id FROM organizations o \
             LEFT JOIN revocations r ON r.org_id = o.id AND r.not_after > $2 \
             WHERE o.id = $1 ORDER BY r.id LIMIT $3",
        )
        .bind(org_id)
        .bind(i64::from(at))
        .bind(MAX_REVOKED as i64)
        .fetch_all(&self.pool)
        .await?;
        let first = rows.first().ok_or(Error::NotFound("organization"))?;
        let sequence = first.u32("revocation_sequence")?;
        let epoch = first.u32("revocation_epoch")?;
        let mut revoked = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(id) = row.opt_text("id")? {
                let bytes = hex::decode_array(&id).ok_or_else(|| Error::Corrupt(format!("revoked id {id:?}")))?;
                revoked.push(CredentialId(bytes));
            }
        }
        revoked.sort();
        let list = RevocationList {
            org: OrgId([0; 8]),
            org_key: KeyId([0; 4]),
            sequence,
            issued_at: Timestamp(at),
            min_epoch: epoch,
            revoked,
        }
        .sign(&signer.key)?;
        self.signed_lists.keep(org_id, (key, at, sequence, epoch), &list);
        Ok(list)
    }
}

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

use mobile_access_protocol::{
    CredentialId, KeyId, MAX_REVOKED, OrgId, RevocationList, SignedRevocationList, Timestamp,
};
use sqlx::AnyConnection;

use super::{Backend, RowExt, Store, bulk::placeholders, now, organizations::Signer};
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

impl Store {
    /// The organization's revocation list, signed now. Refused with [`Error::ClockBehind`] when
    /// the clock reads more than [`CLOCK_SLACK_SECS`] earlier than a list already signed: the
    /// signed time is what moves readers' clocks, so a server that knows its clock is wrong does
    /// not sign with it.
    pub async fn revocation_list(&self, org_id: &str) -> Result<SignedRevocationList> {
        self.revocation_list_by(&self.signer(org_id).await?, org_id).await
    }

    /// Same, with the organization's signer already in hand (key issuance reads it once for the
    /// credentials and the list, so both carry the same epoch).
    pub(super) async fn revocation_list_by(&self, signer: &Signer, org_id: &str) -> Result<SignedRevocationList> {
        let at = now();
        let row = sqlx::query("SELECT revocation_sequence, revocation_signed_at FROM organizations WHERE id = $1")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await?;
        let sequence = row.int("revocation_sequence")?;
        let newest = row.int("revocation_signed_at")?;
        if i64::from(at) + CLOCK_SLACK_SECS < newest {
            tracing::error!(org = org_id, newest, now = at, "server clock behind a time it signed: refusing to sign");
            return Err(Error::ClockBehind { newest, now: at });
        }
        if i64::from(at) > newest {
            sqlx::query(
                "UPDATE organizations SET revocation_signed_at = $1 WHERE id = $2 AND revocation_signed_at < $1",
            )
            .bind(i64::from(at))
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        }
        let rows = sqlx::query("SELECT id FROM revocations WHERE org_id = $1 AND not_after > $2 ORDER BY id LIMIT $3")
            .bind(org_id)
            .bind(i64::from(at))
            .bind(MAX_REVOKED as i64)
            .fetch_all(&self.pool)
            .await?;
        let mut revoked = rows
            .iter()
            .map(|row| {
                let id = row.text("id")?;
                hex::decode_array(&id).map(CredentialId).ok_or_else(|| Error::Corrupt(format!("revoked id {id:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        revoked.sort();
        let list = RevocationList {
            org: OrgId([0; 8]),
            org_key: KeyId([0; 4]),
            sequence: u32::try_from(sequence).map_err(|_| Error::Corrupt("revocation sequence".to_owned()))?,
            issued_at: Timestamp(at),
            min_epoch: signer.organization.revocation_epoch,
            revoked,
        };
        Ok(list.sign(&signer.key)?)
    }
}

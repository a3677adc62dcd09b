//! Bearer tokens: who is calling. Tokens are random, returned once, and stored as SHA-256, so a
//! database leak does not leak working tokens.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, AnyPool, any::AnyRow};

use super::{Actor, Backend, RowExt, Store, audit, coalesce, now};
use crate::{Error, Result, api::Role, crypto};

/// How long a member session token lives.
pub const MEMBER_SESSION_SECS: u32 = 30 * 86_400;

/// An authenticated caller: always scoped to one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The organization the token belongs to.
    pub org_id: String,
    /// What the token may do.
    pub role: Role,
    /// For member tokens, the member.
    pub member_id: Option<String>,
    /// For reader tokens, the reader.
    pub reader_id: Option<String>,
}

impl Caller {
    /// The member id, or `forbidden` for other roles.
    pub fn member(&self) -> Result<&str> {
        match (&self.role, &self.member_id) {
            (Role::Member, Some(id)) => Ok(id),
            _ => Err(Error::Forbidden),
        }
    }

    /// The reader id, or `forbidden` for other roles.
    pub fn reader(&self) -> Result<&str> {
        match (&self.role, &self.reader_id) {
            (Role::Reader, Some(id)) => Ok(id),
            _ => Err(Error::Forbidden),
        }
    }

    /// `forbidden` unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<&Self> {
        if self.role == role { Ok(self) } else { Err(Error::Forbidden) }
    }
}

fn prefix(role: Role) -> &'static str {
    match role {
        Role::Admin => "adm",
        Role::Integration => "int",
        Role::Member => "mem",
        Role::Reader => "rdr",
    }
}

/// Creates a token; only its hash is stored.
pub(super) async fn create(
    conn: &mut AnyConnection,
    org_id: &str,
    role: Role,
    member_id: Option<&str>,
    expires_at: Option<u32>,
) -> Result<String> {
    let token = crypto::new_token(prefix(role))?;
    sqlx::query(
        "INSERT INTO api_tokens (hash, org_id, role, member_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(crypto::token_hash(&token))
    .bind(org_id)
    .bind(role.as_str())
    .bind(member_id)
    .bind(i64::from(now()))
    .bind(expires_at.map(i64::from))
    .execute(conn)
    .await?;
    Ok(token)
}

/// The `api_tokens` rows of `hashes` (tokens' SHA-256), by hash, in one statement: the
/// coalesced read behind [`Store::authenticate`].
pub(super) async fn read_tokens(
    pool: AnyPool,
    backend: Backend,
    hashes: Vec<Vec<u8>>,
) -> Result<BTreeMap<Vec<u8>, AnyRow>> {
    let hashes = coalesce::padded(&hashes);
    let sql = format!(
        "SELECT hash, org_id, role, member_id, expires_at FROM api_tokens WHERE hash {}",
        coalesce::in_list(backend, 1, hashes.len())
    );
    let mut query = sqlx::query(&sql);
    for hash in hashes {
        query = query.bind(hash);
    }
    query.fetch_all(&pool).await?.into_iter().map(|row| Ok((row.bytes("hash")?, row))).collect()
}

impl Store {
    /// Who `token` speaks for; `unauthorized` if nobody (unknown, expired, or its member gone).
    /// Read together with the other requests' tokens waiting at once (see `coalesce`).
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let hash = crypto::token_hash(token);
        let Some(row) = self.token_reads.get(hash.clone()).await? else {
            // Reader tokens live with their reader, so removing the reader removes its token.
            let reader = sqlx::query("SELECT id, org_id FROM readers WHERE token_hash = $1")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(Error::Unauthorized)?;
            return Ok(Caller {
                org_id: reader.text("org_id")?,
                role: Role::Reader,
                member_id: None,
                reader_id: Some(reader.text("id")?),
            });
        };
        if row.opt_int("expires_at")?.is_some_and(|expires| expires <= i64::from(now())) {
            return Err(Error::Unauthorized);
        }
        Ok(Caller {
            org_id: row.text("org_id")?,
            role: Role::parse(&row.text("role")?)?,
            member_id: row.opt_text("member_id")?,
            reader_id: None,
        })
    }

    /// Logging out: revokes the member session `token` that `caller` authenticated with, so
    /// every later request with it is `unauthorized`. The member's other sessions (other
    /// devices) stay.
    pub async fn end_session(&self, caller: &Caller, token: &str) -> Result<()> {
        let member_id = caller.member()?;
        let mut tx = self.pool.begin().await?;
        let ended =
            sqlx::query("DELETE FROM api_tokens WHERE hash = $1 AND org_id = $2 AND member_id = $3 AND role = $4")
                .bind(crypto::token_hash(token))
                .bind(&caller.org_id)
                .bind(member_id)
                .bind(Role::Member.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if ended == 0 {
            // Ended by a concurrent logout or removal since this request authenticated.
            return Err(Error::Unauthorized);
        }
        let actor = Actor::Member(member_id.to_owned());
        audit::record(&mut tx, &caller.org_id, &actor, "session.ended", member_id, serde_json::json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new admin or integration token for an organization (CLI: rotating a lost token).
    pub async fn create_token(&self, org_id: &str, role: Role) -> Result<String> {
        self.organization(org_id).await?;
        let mut conn = self.pool.acquire().await?;
        create(&mut conn, org_id, role, None, None).await
    }
}

//! What the web console needs beyond the API's queries: its administrators and their sessions'
//! rows (the sessions themselves are tower-sessions', see `http::console::sessions`),
//! member search, the credentials of a page of members, readers' last contact and a filtered
//! audit log. Every change the console makes goes through the same methods the API calls
//! (settings, switch-over, wallet passes); only reading and signing in are here.

use std::collections::HashMap;

use serde_json::json;

use super::{
    Actor, RowExt, Store, audit,
    bulk::placeholders,
    credentials::{CREDENTIAL_COLUMNS, credential_from_row},
    now,
};
use crate::{
    Error, Result,
    api::{AuditEntry, CredentialInfo, MemberStatus, Page, User},
    crypto,
};

/// Shortest administrator password.
pub const MIN_ADMIN_PASSWORD_LEN: usize = 12;
/// Most users on one page of the console's list.
pub const MAX_SEARCH_LIMIT: u32 = 200;

/// An administrator of one organization who signs in to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleAdmin {
    /// Administrator id (hex).
    pub id: String,
    /// The one organization they administer.
    pub org_id: String,
    /// Their sign-in email, as entered; also how the audit log names them.
    pub email: String,
    /// Display name.
    pub name: String,
}

impl ConsoleAdmin {
    /// Who the audit log says acted.
    pub fn actor(&self) -> Actor {
        Actor::ConsoleAdmin(self.email.clone())
    }
}

/// A console session as stored: the crate's record without its id (the row is found by the
/// id's SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The session's data, as JSON.
    pub data: String,
    /// When it ends (Unix seconds).
    pub expires_at: i64,
}

/// The console's member list: a search, a status filter and a keyset page by member id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSearch {
    /// Part of the name or email (case-insensitive for ASCII); `None` or blank: everyone.
    pub text: Option<String>,
    /// Only users with this status.
    pub status: Option<MemberStatus>,
    /// Only users managed by the integration (`Some(true)`) or not (`Some(false)`).
    pub managed: Option<bool>,
    /// Cursor: the last member id of the previous page.
    pub after: Option<String>,
    /// Users per page (1 to [`MAX_SEARCH_LIMIT`], default 50).
    pub limit: Option<u32>,
}

/// The console's audit log: newest first, filtered, a keyset page by entry id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Entries whose action starts with this (e.g. `wallet_pass.` or `reader.attempt`).
    pub action: Option<String>,
    /// Entries by exactly this actor (e.g. `admin:ada@example.com`, `reader:<id>`).
    pub actor: Option<String>,
    /// Entries about exactly this subject (a member, credential, reader id).
    pub subject: Option<String>,
    /// Entries about any of these subjects (a member and their credentials: a reader logs a
    /// wallet pass's attempts by credential).
    pub subjects: Vec<String>,
    /// Cursor: entries older than this id.
    pub before: Option<i64>,
    /// Entries per page (1 to 200, default 50).
    pub limit: Option<u32>,
}

/// `%`, `_` and `\` taken literally in a `LIKE … ESCAPE '\'` pattern.
fn like_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn page_limit(limit: Option<u32>, default: u32) -> Result<i64> {
    match limit {
        None => Ok(i64::from(default)),
        Some(n @ 1..=MAX_SEARCH_LIMIT) => Ok(i64::from(n)),
        Some(_) => Err(Error::invalid(format!("limit must be between 1 and {MAX_SEARCH_LIMIT}"))),
    }
}

fn admin_from_row(row: &sqlx::any::AnyRow) -> Result<ConsoleAdmin> {
    Ok(ConsoleAdmin {
        id: row.text("id")?,
        org_id: row.text("org_id")?,
        email: row.text("email")?,
        name: row.text("name")?,
    })
}

impl Store {
    /// Adds an administrator who signs in to the console with `email` and `password` (CLI, the
    /// demo). An email belongs to one administrator in the whole cloud.
    pub async fn create_console_admin(
        &self,
        org_id: &str,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<ConsoleAdmin> {
        let email = email.trim();
        let normalized = crypto::normalize_email(email);
        if !normalized.contains('@') || normalized.len() > 320 {
            return Err(Error::invalid("the administrator's email must be an address (at most 320 characters)"));
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(Error::invalid("the administrator's name must be 1 to 200 characters"));
        }
        if password.chars().count() < MIN_ADMIN_PASSWORD_LEN || password.len() > 1024 {
            return Err(Error::invalid(format!(
                "an administrator's password must be {MIN_ADMIN_PASSWORD_LEN} to 1024 characters"
            )));
        }
        self.organization(org_id).await?;
        let hash = self.passwords.hash(password).await?;
        let id = crypto::random_id::<8>()?;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO console_admins (id, org_id, email, email_normalized, name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email_normalized) DO NOTHING",
        )
        .bind(&id)
        .bind(org_id)
        .bind(email)
        .bind(&normalized)
        .bind(name)
        .bind(hash)
        .bind(i64::from(now()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(Error::Conflict(format!("{email} already signs in to the console")));
        }
        audit::record(&mut tx, org_id, &Actor::Operator, "console_admin.created", &id, json!({"email": email})).await?;
        tx.commit().await?;
        Ok(ConsoleAdmin { id, org_id: org_id.to_owned(), email: email.to_owned(), name: name.to_owned() })
    }

    /// Checks an administrator's email and password, and audits the sign-in; the session is the
    /// caller's to start. Like member login, a guesser learns nothing: an unknown email and a
    /// wrong password get the same `invalid_credentials` after the same work (one PBKDF2
    /// verification, against a dummy hash when the email is unknown).
    pub async fn console_sign_in(&self, email: &str, password: &str) -> Result<ConsoleAdmin> {
        let row = sqlx::query(
            "SELECT id, org_id, email, name, password_hash FROM console_admins WHERE email_normalized = $1",
        )
        .bind(crypto::normalize_email(email))
        .fetch_optional(&self.pool)
        .await?;
        let stored = row.as_ref().map(|r| r.bytes("password_hash")).transpose()?;
        let matched = self.passwords.verify(password, stored).await?;
        let admin = match row {
            Some(row) if matched => admin_from_row(&row)?,
            _ => return Err(Error::InvalidCredentials),
        };
        self.audit_console(&admin, "console.signed_in").await?;
        Ok(admin)
    }

    /// Audits a sign-out (its session is already deleted).
    pub async fn console_signed_out(&self, admin: &ConsoleAdmin) -> Result<()> {
        self.audit_console(admin, "console.signed_out").await
    }

    async fn audit_console(&self, admin: &ConsoleAdmin, action: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        audit::record(&mut tx, &admin.org_id, &admin.actor(), action, &admin.id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The administrator a session names; `unauthorized` once they are gone (their organization
    /// deleted), so a session never outlives its administrator.
    pub async fn console_admin(&self, id: &str) -> Result<ConsoleAdmin> {
        let row = sqlx::query("SELECT id, org_id, email, name FROM console_admins WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::Unauthorized)?;
        admin_from_row(&row)
    }

    /// Stores a new console session under `hash`; `false` (nothing written) if that hash is
    /// taken, so the caller draws another id instead of overwriting someone's session.
    pub async fn create_console_session(&self, hash: &[u8], session: &StoredSession) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO console_sessions (hash, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash)
        .bind(&session.data)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Rewrites an existing console session. One deleted meanwhile (signed out in another tab)
    /// stays deleted: an update never brings a session back.
    pub async fn save_console_session(&self, hash: &[u8], session: &StoredSession) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET data = $1, expires_at = $2 WHERE hash = $3")
            .bind(&session.data)
            .bind(session.expires_at)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The console session stored under `hash`, unless it ended before `at` (retention deletes
    /// those rows later; until then they are ignored).
    pub async fn console_session(&self, hash: &[u8], at: u32) -> Result<Option<StoredSession>> {
        let row = sqlx::query("SELECT data, expires_at FROM console_sessions WHERE hash = $1 AND expires_at > $2")
            .bind(hash)
            .bind(i64::from(at))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok(StoredSession { data: row.text("data")?, expires_at: row.int("expires_at")? })).transpose()
    }

    /// Deletes a console session: its cookie stops working at once, on every replica.
    pub async fn delete_console_session(&self, hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE hash = $1").bind(hash).execute(&self.pool).await?;
        Ok(())
    }

    /// The organization's users matching `search`, by member id. Paging is by key (`id >
    /// after` on the `(org_id, id)` index), so the 2,000th page costs what the first does.
    pub async fn search_users(&self, org_id: &str, search: &UserSearch) -> Result<Page<User>> {
        let limit = page_limit(search.limit, 50)?;
        let mut clauses = String::new();
        let mut params: Vec<String> = vec![org_id.to_owned(), search.after.clone().unwrap_or_default()];
        if let Some(status) = search.status {
            params.push(status.as_str().to_owned());
            clauses.push_str(&format!(" AND status = ${}", params.len()));
        }
        if let Some(managed) = search.managed {
            clauses.push_str(if managed { " AND managed = 1" } else { " AND managed = 0" });
        }
        if let Some(text) = search.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            if text.len() > 200 {
                return Err(Error::invalid("the search text is at most 200 characters"));
            }
            let pattern = format!("%{}%", like_literal(&text.to_ascii_lowercase()));
            params.push(pattern.clone());
            let name = params.len();
            params.push(pattern);
            clauses.push_str(&format!(
                " AND (lower(name) LIKE ${name} ESCAPE '\\' OR lower(email) LIKE ${} ESCAPE '\\')",
                params.len()
            ));
        }
        // The ids first, from the index alone; then the page's rows.
        let sql = format!("SELECT id FROM members WHERE org_id = $1 AND id > $2{clauses} ORDER BY id LIMIT {limit}");
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for param in params {
            query = query.bind(param);
        }
        let ids = query.fetch_all(&self.pool).await?;
        let rows = if ids.is_empty() {
            Vec::new()
        } else {
            let sql = format!(
                "SELECT id, external_id, name, email, status, managed, created_at FROM members \
                 WHERE org_id = {} AND id IN ({}) ORDER BY id",
                placeholders(self.backend, 1, 1),
                placeholders(self.backend, 2, ids.len())
            );
            let mut query = sqlx::query(&sql).bind(org_id);
            for id in &ids {
                query = query.bind(id);
            }
            query.fetch_all(&self.pool).await?
        };
        let items = self.users_from_rows(&rows).await?;
        let next = audit::next_cursor(&items, limit, |u| u.member_id.clone());
        Ok(Page { items, next })
    }

    /// How many of the organization's users are not confirmed yet: what the members page says
    /// before any search (an index range, however many members are confirmed).
    pub async fn not_confirmed_count(&self, org_id: &str) -> Result<u32> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE org_id = $1 AND status = $2")
            .bind(org_id)
            .bind(MemberStatus::NotConfirmed.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The key fobs, cards, mobile keys and passes of these members (of this organization only),
    /// by member.
    pub async fn credentials_of(
        &self,
        org_id: &str,
        member_ids: &[&str],
    ) -> Result<HashMap<String, Vec<CredentialInfo>>> {
        let mut found: HashMap<String, Vec<CredentialInfo>> = HashMap::new();
        for chunk in member_ids.chunks(500) {
            let sql = format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE org_id = {} AND member_id IN ({}) \
                 ORDER BY created_at, id",
                placeholders(self.backend, 1, 1),
                placeholders(self.backend, 2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(org_id);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                let credential = credential_from_row(&row)?;
                found.entry(credential.member_id.clone()).or_default().push(credential);
            }
        }
        Ok(found)
    }

    /// When each of the organization's readers last polled or uploaded (`None`: never), by id.
    pub async fn reader_contacts(&self, org_id: &str) -> Result<HashMap<String, Option<u32>>> {
        let rows = sqlx::query("SELECT id, last_contact_at FROM readers WHERE org_id = $1")
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let at = row.opt_int("last_contact_at")?.and_then(|t| u32::try_from(t).ok());
                Ok((row.text("id")?, at))
            })
            .collect()
    }

    /// Records that a reader was in touch (its poll, its upload).
    pub(super) async fn touch_reader(&self, org_id: &str, reader_id: &str) -> Result<()> {
        sqlx::query("UPDATE readers SET last_contact_at = $1 WHERE id = $2 AND org_id = $3")
            .bind(i64::from(now()))
            .bind(reader_id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The organization's audit log, newest first, filtered.
    pub async fn search_audit(&self, org_id: &str, filter: &AuditFilter) -> Result<Page<AuditEntry>> {
        let limit = page_limit(filter.limit, 50)?;
        let mut clauses = String::new();
        let mut params: Vec<String> = vec![org_id.to_owned()];
        let mut add = |clause: &str, value: String| {
            params.push(value);
            clauses.push_str(&clause.replace("{}", &format!("${}", params.len())));
        };
        if let Some(action) = filter.action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            add(" AND action LIKE {} ESCAPE '\\'", format!("{}%", like_literal(action)));
        }
        if let Some(actor) = filter.actor.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            add(" AND actor = {}", actor.to_owned());
        }
        if let Some(subject) = filter.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            add(" AND subject = {}", subject.to_owned());
        }
        if !filter.subjects.is_empty() {
            let first = params.len() + 1;
            params.extend(filter.subjects.iter().cloned());
            let list: Vec<String> = (first..=params.len()).map(|n| format!("${n}")).collect();
            clauses.push_str(&format!(" AND subject IN ({})", list.join(", ")));
        }
        let before = filter.before.map_or(String::new(), |id| format!(" AND id < {id}"));
        let sql = format!(
            "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE org_id = $1{clauses}{before} \
             ORDER BY id DESC LIMIT {limit}"
        );
        let mut query = sqlx::query(&sql);
        for param in params {
            query = query.bind(param);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let items = rows.iter().map(audit::entry_from_row).collect::<Result<Vec<_>>>()?;
        let next = audit::next_cursor(&items, limit, |e| e.id.to_string());
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_patterns_take_wildcards_literally() {
        assert_eq!(super::like_literal("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(super::like_literal("ada"), "ada");
    }
}

//! Switching an organization's unlock method, as a persisted, resumable job.
//!
//! **Native → branded app.** Only `confirmed` users can unlock with the branded app, and the
//! way to confirm an unconfirmed user there is to delete and recreate them. The job does that
//! for every user who was `not_confirmed` when it started: each is recreated as a `confirmed`,
//! `managed` user (a new member id, the same external id, name and email) who keeps their access
//! group memberships (with their original grant times, so no access email is sent again), key
//! fobs, cards and sessions; the old id is recorded in `member_lineage` and a `member.recreated`
//! audit entry names both, so the user's history stays linked. Confirmed users are untouched. A
//! welcome email is queued for each recreated user if the organization's welcome email setting
//! (reset to the new method's default at the switch, unless overridden) is on.
//!
//! **Branded app → native.** Nobody is deleted: users stay confirmed and keep their groups,
//! fobs, cards and mobile keys. Native login needs a password, which a user sets through an
//! invitation: each user without a password gets a fresh invitation token, mailed when the
//! welcome email setting (on by default under native) is on, and can re-request one later.
//!
//! **Crash safety.** Creating the job is one transaction: it switches the setting and snapshots
//! the users to process with their new member ids chosen up front. The job then runs in batches,
//! each one transaction that does the batch's users' work and marks them done; a batch is
//! taken under the organization's row lock (the same the member sync takes) and only picks users
//! not yet done. So killing the process at any instant leaves every user either done or not
//! started, restarting finishes the rest, and running the job again (or twice at once) does
//! nothing twice.

use super::organizations::UnlockMethodRules;
use std::collections::HashMap;

use serde_json::json;
use sqlx::AnyConnection;

use super::{
    Actor, Backend, RowExt, Store, audit,
    bulk::{Param, insert_rows, placeholder, placeholders},
    flag, mail,
    members::welcome_mail,
    now,
};
use crate::{
    Error, Result,
    api::{SettingsPatch, StartSwitch, SwitchJob, SwitchPreview, SwitchPreviewQuery, UnlockMethod, User},
    crypto,
};

/// Users per batch transaction by default.
pub const DEFAULT_SWITCH_BATCH: usize = 500;

/// One user of a batch.
struct Pending {
    old_id: String,
    new_id: String,
    external_id: Option<String>,
}

fn job_from_row(row: &sqlx::any::AnyRow) -> Result<SwitchJob> {
    Ok(SwitchJob {
        id: row.text("id")?,
        target: UnlockMethod::parse(&row.text("target")?)?,
        state: row.text("state")?,
        total: row.u32("total")?,
        done: row.u32("done")?,
        created_at: row.time("created_at")?,
        finished_at: row.opt_int("finished_at")?.and_then(|t| u32::try_from(t).ok()),
    })
}

/// The users a switch to `to` works on: unconfirmed users (to recreate) going to the branded
/// app, users without a password (to invite) going to native.
fn affected_clause(to: UnlockMethod) -> &'static str {
    match to {
        UnlockMethod::BrandedApp => "status = 'not_confirmed'",
        UnlockMethod::Native => "password_hash IS NULL",
    }
}

const JOB_COLUMNS: &str = "j.id, j.target, j.state, j.total, j.created_at, j.finished_at, \
    (SELECT COUNT(*) FROM switch_job_members s WHERE s.job_id = j.id AND s.done = 1) AS done";

impl Store {
    /// What switching to `query.to` would do, with a page of the users concerned. Changes nothing.
    pub async fn preview_switch(&self, org_id: &str, query: &SwitchPreviewQuery) -> Result<SwitchPreview> {
        let organization = self.organization(org_id).await?;
        let from = organization.settings.unlock_method;
        let to = query.to.unwrap_or(match from {
            UnlockMethod::Native => UnlockMethod::BrandedApp,
            UnlockMethod::BrandedApp => UnlockMethod::Native,
        });
        let limit = crate::api::PageQuery { limit: query.limit, after: None }.limit()?;
        let affected = if from == to { "1 = 0" } else { affected_clause(to) };
        let count = |sql: String| {
            let pool = self.pool.clone();
            async move {
                let n: i64 = sqlx::query_scalar(&sql).bind(org_id).fetch_one(&pool).await?;
                Ok::<u32, Error>(u32::try_from(n).unwrap_or(u32::MAX))
            }
        };
        let users_total = count("SELECT COUNT(*) FROM members WHERE org_id = $1".to_owned()).await?;
        let selected = count(format!("SELECT COUNT(*) FROM members WHERE org_id = $1 AND {affected}")).await?;
        let of_selected = |what: &str| {
            format!(
                "SELECT COUNT(*) FROM {what} WHERE member_id IN (SELECT id FROM members WHERE org_id = $1 AND {affected})"
            )
        };
        let recreating = to == UnlockMethod::BrandedApp;
        let (memberships, fobs, cards) = if recreating {
            (
                count(of_selected("member_access_groups")).await?,
                count(format!("{} AND kind = 'key_fob'", of_selected("credentials"))).await?,
                count(format!("{} AND kind = 'card'", of_selected("credentials"))).await?,
            )
        } else {
            (0, 0, 0)
        };
        let welcome = if from == to { organization.settings.welcome_email } else { to.welcome_email_default() };
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM members WHERE org_id = $1 AND {affected} AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(org_id)
        .bind(query.after.clone().unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut users = Vec::with_capacity(ids.len());
        for id in &ids {
            users.push(self.user(org_id, id).await?);
        }
        let next = audit::next_cursor(&users, limit, |u: &User| u.member_id.clone());
        Ok(SwitchPreview {
            from,
            to,
            users_to_recreate: if recreating { selected } else { 0 },
            users_untouched: users_total - if recreating { selected } else { 0 },
            memberships_kept: memberships,
            key_fobs_kept: fobs,
            cards_kept: cards,
            invitations: if recreating { 0 } else { selected },
            welcome_emails: if welcome { selected } else { 0 },
            users,
            next,
        })
    }

    /// Starts a switch (or returns the one already running to the same method, so asking twice
    /// is harmless). Switching to the method already in use with nothing running is a no-op
    /// that returns the last job, if any.
    pub async fn start_switch(&self, org_id: &str, actor: &Actor, start: &StartSwitch) -> Result<SwitchJob> {
        if let Some(job) = self.running_switch(org_id).await? {
            if job.target == start.unlock_method {
                return Ok(job);
            }
            return Err(Error::Conflict(format!(
                "a switch to {} is still running: let it finish (or resume it) first",
                job.target
            )));
        }
        let current = self.organization(org_id).await?.settings;
        if current.unlock_method == start.unlock_method
            && let Some(job) = self.last_switch(org_id).await?
        {
            return Ok(job);
        }
        let job_id = crypto::random_id::<16>()?;
        let at = i64::from(now());
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE organizations SET sync_generation = sync_generation + 1 WHERE id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        let mut settings = current.clone();
        let patch = SettingsPatch {
            unlock_method: Some(start.unlock_method),
            welcome_email: start.welcome_email,
            ..SettingsPatch::default()
        };
        let changed = settings.unlock_method != start.unlock_method;
        settings.unlock_method = start.unlock_method;
        settings.welcome_email = patch.welcome_email.unwrap_or(if changed {
            start.unlock_method.welcome_email_default()
        } else {
            settings.welcome_email
        });
        sqlx::query(
            "UPDATE organizations SET unlock_method = $1, welcome_email = $2, unlock_method_changed_at = $3 WHERE id = $4",
        )
        .bind(settings.unlock_method.as_str())
        .bind(flag(settings.welcome_email))
        .bind(at)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        let affected: Vec<(String, Option<String>)> = sqlx::query(&format!(
            "SELECT id, external_id FROM members WHERE org_id = $1 AND {} ORDER BY id",
            affected_clause(start.unlock_method)
        ))
        .bind(org_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| Ok((row.text("id")?, row.opt_text("external_id")?)))
        .collect::<Result<_>>()?;
        sqlx::query(
            "INSERT INTO switch_jobs (id, org_id, target, state, total, created_at) VALUES ($1, $2, $3, 'running', $4, $5)",
        )
        .bind(&job_id)
        .bind(org_id)
        .bind(start.unlock_method.as_str())
        .bind(i64::try_from(affected.len()).unwrap_or(i64::MAX))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let recreate = start.unlock_method == UnlockMethod::BrandedApp;
        let rows = affected
            .iter()
            .map(|(id, external_id)| {
                let new_id = if recreate { crypto::random_id::<16>()? } else { id.clone() };
                Ok(vec![
                    Param::Text(job_id.clone()),
                    Param::Text(id.clone()),
                    Param::Text(new_id),
                    Param::OptText(external_id.clone()),
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        insert_rows(
            &mut tx,
            self.backend,
            "switch_job_members (job_id, old_member_id, new_member_id, external_id)",
            rows,
        )
        .await?;
        let detail = json!({"job_id": job_id, "from": current.unlock_method, "to": start.unlock_method,
            "users": affected.len(), "welcome_email": settings.welcome_email});
        audit::record(&mut tx, org_id, actor, "switch.started", org_id, detail).await?;
        tx.commit().await?;
        tracing::info!(org = org_id, job = %job_id, to = %start.unlock_method, users = affected.len(), "switch started");
        self.switch_job(org_id, &job_id).await
    }

    /// The running switch of the organization, if any.
    pub async fn running_switch(&self, org_id: &str) -> Result<Option<SwitchJob>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM switch_jobs j WHERE j.org_id = $1 AND j.state = 'running'"
        ))
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The newest switch of the organization, if any.
    pub async fn last_switch(&self, org_id: &str) -> Result<Option<SwitchJob>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM switch_jobs j WHERE j.org_id = $1 ORDER BY j.created_at DESC, j.id DESC LIMIT 1"
        ))
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// One switch job.
    pub async fn switch_job(&self, org_id: &str, job_id: &str) -> Result<SwitchJob> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM switch_jobs j WHERE j.org_id = $1 AND j.id = $2"))
            .bind(org_id)
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound("switch job"))?;
        job_from_row(&row)
    }

    /// Every running switch job, as (organization, job id): what a starting server resumes.
    pub async fn running_switches(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT org_id, id FROM switch_jobs WHERE state = 'running' ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((row.text("org_id")?, row.text("id")?))).collect()
    }

    /// Runs a job to the end in batches of `batch` users, calling `progress` after each batch.
    /// Safe to call on a finished job, and concurrently with another runner of the same job.
    pub async fn run_switch(
        &self,
        org_id: &str,
        job_id: &str,
        batch: usize,
        progress: impl FnMut(&SwitchJob),
    ) -> Result<SwitchJob> {
        self.run_switch_until(org_id, job_id, batch, progress, || false).await
    }

    /// Same, but returns the job still `running` as soon as `stop` says so after a batch: what a
    /// server shutting down does, so no batch is cut in the middle; a later run resumes it.
    pub async fn run_switch_until(
        &self,
        org_id: &str,
        job_id: &str,
        batch: usize,
        mut progress: impl FnMut(&SwitchJob),
        stop: impl Fn() -> bool,
    ) -> Result<SwitchJob> {
        loop {
            let worked = self.switch_batch(org_id, job_id, batch.max(1)).await?;
            let job = self.switch_job(org_id, job_id).await?;
            progress(&job);
            if worked > 0 && stop() {
                return Ok(job);
            }
            if worked == 0 {
                if job.state == "running" {
                    sqlx::query(
                        "UPDATE switch_jobs SET state = 'done', finished_at = $1 WHERE id = $2 AND state = 'running'",
                    )
                    .bind(i64::from(now()))
                    .bind(job_id)
                    .execute(&self.pool)
                    .await?;
                    tracing::info!(org = org_id, job = job_id, users = job.total, "switch finished");
                }
                return self.switch_job(org_id, job_id).await;
            }
        }
    }

    /// One batch in one transaction; returns how many users it finished (0: none left).
    async fn switch_batch(&self, org_id: &str, job_id: &str, batch: usize) -> Result<usize> {
        let b = self.backend;
        let mut tx = self.pool.begin().await?;
        // The organization's row lock: serializes batches with each other and with member syncs.
        sqlx::query("UPDATE organizations SET sync_generation = sync_generation + 1 WHERE id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        let target: String = sqlx::query_scalar("SELECT target FROM switch_jobs WHERE id = $1 AND org_id = $2")
            .bind(job_id)
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("switch job"))?;
        let pending: Vec<Pending> = sqlx::query(
            "SELECT old_member_id, new_member_id, external_id FROM switch_job_members \
             WHERE job_id = $1 AND done = 0 ORDER BY old_member_id LIMIT $2",
        )
        .bind(job_id)
        .bind(i64::try_from(batch).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            Ok(Pending {
                old_id: row.text("old_member_id")?,
                new_id: row.text("new_member_id")?,
                external_id: row.opt_text("external_id")?,
            })
        })
        .collect::<Result<_>>()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let organization = self.organization(org_id).await?;
        let old_ids: Vec<&str> = pending.iter().map(|p| p.old_id.as_str()).collect();
        let people = member_rows(&mut tx, b, &old_ids).await?;
        let mails = match UnlockMethod::parse(&target)? {
            UnlockMethod::BrandedApp => recreate(&mut tx, b, org_id, job_id, &pending, &people).await?,
            UnlockMethod::Native => {
                invite(&mut tx, org_id, organization.settings.welcome_email, &pending, &people).await?
            }
        }
        .into_iter()
        .filter(|_| organization.settings.welcome_email)
        .map(|(id, name, email, token)| welcome_mail(&organization.name, &id, &name, &email, token.as_deref()))
        .collect::<Vec<_>>();
        mail::queue(&mut tx, b, &self.master, org_id, &mails).await?;
        for chunk in old_ids.chunks(400) {
            let sql = format!(
                "UPDATE switch_job_members SET done = 1 WHERE job_id = {} AND old_member_id IN ({})",
                placeholder(b, 1),
                placeholders(b, 2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(job_id);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(pending.len())
    }
}

impl Store {
    /// A user's audit history, including what happened under the member ids they had before
    /// being recreated by a switch-over (oldest first, at most 1000 entries per page).
    pub async fn user_history(
        &self,
        org_id: &str,
        member_id: &str,
        query: &crate::api::PageQuery,
    ) -> Result<crate::api::Page<crate::api::AuditEntry>> {
        self.user(org_id, member_id).await?;
        let mut ids = vec![member_id.to_owned()];
        let mut cursor = member_id.to_owned();
        // Each switch-over adds at most one link; the chain is short.
        for _ in 0..16 {
            let previous: Option<String> =
                sqlx::query_scalar("SELECT old_member_id FROM member_lineage WHERE new_member_id = $1 AND org_id = $2")
                    .bind(&cursor)
                    .bind(org_id)
                    .fetch_optional(&self.pool)
                    .await?;
            let Some(previous) = previous else { break };
            ids.push(previous.clone());
            cursor = previous;
        }
        let limit = query.limit()?;
        let b = self.backend;
        let n = ids.len();
        let sql = format!(
            "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE org_id = {} AND id > {} \
             AND (subject IN ({}) OR actor IN ({})) ORDER BY id LIMIT {}",
            placeholder(b, 1),
            placeholder(b, 2),
            placeholders(b, 3, n),
            placeholders(b, 3 + n, n),
            placeholder(b, 3 + 2 * n)
        );
        let mut q = sqlx::query(&sql).bind(org_id).bind(audit::sequence_cursor(query)?);
        for id in &ids {
            q = q.bind(id.clone());
        }
        for id in &ids {
            q = q.bind(format!("member:{id}"));
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        let items = rows.iter().map(audit::entry_from_row).collect::<Result<Vec<_>>>()?;
        let next = audit::next_cursor(&items, limit, |e| e.id.to_string());
        Ok(crate::api::Page { items, next })
    }
}

/// (name, email) of the members that still exist.
async fn member_rows(conn: &mut AnyConnection, b: Backend, ids: &[&str]) -> Result<HashMap<String, (String, String)>> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(400) {
        let sql = format!("SELECT id, name, email FROM members WHERE id IN ({})", placeholders(b, 1, chunk.len()));
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.insert(row.text("id")?, (row.text("name")?, row.text("email")?));
        }
    }
    Ok(found)
}

type Welcome = (String, String, String, Option<String>);

/// Native → branded app: recreates each user who still exists; returns their welcome mails.
async fn recreate(
    conn: &mut AnyConnection,
    b: Backend,
    org_id: &str,
    job_id: &str,
    pending: &[Pending],
    people: &HashMap<String, (String, String)>,
) -> Result<Vec<Welcome>> {
    let at = i64::from(now());
    let present: Vec<&Pending> = pending.iter().filter(|p| people.contains_key(&p.old_id)).collect();
    let mut new_rows = Vec::with_capacity(present.len());
    let mut lineage = Vec::with_capacity(present.len());
    let mut entries = Vec::with_capacity(present.len());
    let mut welcome = Vec::with_capacity(present.len());
    for p in &present {
        let Some((name, email)) = people.get(&p.old_id) else { continue };
        new_rows.push(vec![
            Param::Text(p.new_id.clone()),
            Param::Text(org_id.to_owned()),
            Param::Text(name.clone()),
            Param::Text(email.clone()),
            Param::Text(crypto::normalize_email(email)),
            Param::Int(at),
            Param::Int(at),
        ]);
        lineage.push(vec![
            Param::Text(p.old_id.clone()),
            Param::Text(p.new_id.clone()),
            Param::Text(org_id.to_owned()),
            Param::Text(job_id.to_owned()),
            Param::Int(at),
        ]);
        let detail = json!({"old_member_id": p.old_id, "new_member_id": p.new_id, "job_id": job_id,
            "external_id": p.external_id, "status": "confirmed", "managed": true});
        entries.push(vec![
            Param::Text(org_id.to_owned()),
            Param::Int(at),
            Param::Text(Actor::Operator.text()),
            Param::Text("member.recreated".to_owned()),
            Param::Text(p.new_id.clone()),
            Param::Text(detail.to_string()),
        ]);
        welcome.push((p.new_id.clone(), name.clone(), email.clone(), None));
    }
    // The new users exist first (without their external id, which the old row still holds).
    insert_rows(
        conn,
        b,
        "members (id, org_id, name, email, email_normalized, created_at, updated_at, status, managed)",
        new_rows
            .into_iter()
            .map(|mut row| {
                row.push(Param::Text("confirmed".to_owned()));
                row.push(Param::Int(1));
                row
            })
            .collect(),
    )
    .await?;
    // Everything the old users hold moves to the new ones, rows untouched otherwise.
    let old_ids: Vec<&str> = present.iter().map(|p| p.old_id.as_str()).collect();
    let new_ids: Vec<&str> = present.iter().map(|p| p.new_id.as_str()).collect();
    for chunk in old_ids.chunks(400) {
        for table in ["member_access_groups", "credentials", "api_tokens"] {
            let sql = format!(
                "UPDATE {table} SET member_id = (SELECT s.new_member_id FROM switch_job_members s \
                 WHERE s.job_id = {} AND s.old_member_id = {table}.member_id) WHERE member_id IN ({})",
                placeholder(b, 1),
                placeholders(b, 2, chunk.len())
            );
            execute_with_ids(conn, &sql, job_id, chunk).await?;
        }
        let sql = format!("DELETE FROM members WHERE id IN ({})", placeholders(b, 1, chunk.len()));
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in new_ids.chunks(400) {
        let sql = format!(
            "UPDATE members SET external_id = (SELECT s.external_id FROM switch_job_members s \
             WHERE s.job_id = {} AND s.new_member_id = members.id) WHERE id IN ({})",
            placeholder(b, 1),
            placeholders(b, 2, chunk.len())
        );
        execute_with_ids(conn, &sql, job_id, chunk).await?;
    }
    insert_rows(conn, b, "member_lineage (old_member_id, new_member_id, org_id, job_id, at)", lineage).await?;
    insert_rows(conn, b, "audit_log (org_id, at, actor, action, subject, detail)", entries).await?;
    Ok(welcome)
}

async fn execute_with_ids(conn: &mut AnyConnection, sql: &str, job_id: &str, ids: &[&str]) -> Result<()> {
    let mut query = sqlx::query(sql).bind(job_id);
    for id in ids {
        query = query.bind(*id);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Branded app → native: a fresh invitation for each user without a password.
async fn invite(
    conn: &mut AnyConnection,
    org_id: &str,
    deliver: bool,
    pending: &[Pending],
    people: &HashMap<String, (String, String)>,
) -> Result<Vec<Welcome>> {
    let at = i64::from(now());
    let mut welcome = Vec::new();
    for p in pending {
        let Some((name, email)) = people.get(&p.old_id) else { continue };
        // Only a delivered invitation can be accepted; without the mail, an administrator sends
        // one later (POST /v1/admin/users/{id}/invitation).
        if !deliver {
            continue;
        }
        let token = crypto::new_token("inv")?;
        sqlx::query("UPDATE members SET invitation_hash = $1, updated_at = $2 WHERE id = $3 AND org_id = $4")
            .bind(crypto::token_hash(&token))
            .bind(at)
            .bind(&p.old_id)
            .bind(org_id)
            .execute(&mut *conn)
            .await?;
        welcome.push((p.old_id.clone(), name.clone(), email.clone(), Some(token)));
    }
    Ok(welcome)
}

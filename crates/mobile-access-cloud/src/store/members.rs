//! Members (access users): the integration's bulk sync, sessions, native login and invitations,
//! and what a member may see about their own access.
//!
//! The integration settings decide how a user is created: under `native` they start
//! `not_confirmed` and confirm by setting a password through their invitation; under
//! `branded_app` they start `confirmed` and `managed` and never get a password. Users keep the
//! status they were created with when the setting changes later (the switch-over migration that
//! recreates them is separate).

use super::organizations::UnlockMethodRules;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::json;
use sqlx::{AnyConnection, any::AnyRow};

use super::{
    Actor, Backend, RowExt, Store, audit,
    bulk::{Param, insert_rows, insert_rows_with, placeholder, placeholders},
    flag,
    mail::{self, Mail},
    now,
    revocation::{self, Whose},
    tokens,
};
use crate::{
    Error, Refusal, Result,
    api::{
        AcceptInvitation, Access, Login, MemberStatus, MemberSync, Page, PageQuery, Role, SyncReport, SyncedMember,
        TokenResponse, UnlockMethod, User,
    },
    crypto, input,
};

/// Most members one sync call may carry.
pub use crate::input::MAX_MEMBERS_PER_SYNC;
/// Ids per `IN (...)` list.
const IN_CHUNK: usize = 500;

/// Members created by one sync from which PostgreSQL's statistics are refreshed.
const BULK_ANALYZE_THRESHOLD: u32 = 1_000;

/// What the sync needs to know about an existing member.
struct Existing {
    id: String,
    name: String,
    email: String,
}

/// What a sync will do, computed before anything is written.
#[derive(Default)]
struct Plan {
    inserts: Vec<Vec<Param>>,
    updates: Vec<(String, String, String)>,
    grants: Vec<Vec<Param>>,
    revokes: Vec<(String, String)>,
    removals: Vec<String>,
    mails: Vec<Mail>,
    report: SyncReport,
}

fn check_member(member: &SyncedMember) -> Result<()> {
    let external_id = input::EXTERNAL_ID.check("external_id", &member.external_id)?;
    if member.removed {
        return Ok(());
    }
    input::NAME.check(&format!("member {external_id:?}: name"), &member.name)?;
    if input::EMAIL.check("email", &member.email).is_err() || !member.email.contains(input::EMAIL_PATTERN) {
        return Err(Error::invalid(format!("member {external_id:?}: email is not an email address")));
    }
    Ok(())
}

/// The welcome mail, carrying the invitation token when the user must confirm.
pub(super) fn welcome_mail(org_name: &str, member_id: &str, name: &str, email: &str, invitation: Option<&str>) -> Mail {
    let body = match invitation {
        Some(token) => format!(
            "Hello {name},\n\n{org_name} gave you mobile access. Accept your invitation by setting a password \
             (POST /v1/invitations/accept) with this invitation token:\n\n{token}\n"
        ),
        None => format!("Hello {name},\n\n{org_name} gave you mobile access. Open the app to unlock your doors.\n"),
    };
    Mail {
        member_id: member_id.to_owned(),
        kind: if invitation.is_some() { "invitation" } else { "welcome" },
        recipient: email.to_owned(),
        subject: format!("Welcome to {org_name}"),
        body,
    }
}

pub(super) fn access_mail(org_name: &str, member_id: &str, name: &str, email: &str, group: &str) -> Mail {
    Mail {
        member_id: member_id.to_owned(),
        kind: "access",
        recipient: email.to_owned(),
        subject: format!("You now have access to {group}"),
        body: format!("Hello {name},\n\n{org_name} gave you access to the doors of {group}.\n"),
    }
}

impl Store {
    /// The integration's bulk upsert. Idempotent: the same call twice changes nothing the
    /// second time. Members absent from the call are left alone; `removed: true` deletes one.
    /// Unknown group names reject the whole call before anything is written.
    pub async fn sync_members(&self, org_id: &str, actor: &Actor, sync: &MemberSync) -> Result<SyncReport> {
        if sync.members.len() > MAX_MEMBERS_PER_SYNC {
            return Err(Error::invalid(format!("at most {MAX_MEMBERS_PER_SYNC} members per call")));
        }
        let mut seen = HashSet::with_capacity(sync.members.len());
        for member in &sync.members {
            check_member(member)?;
            if !seen.insert(member.external_id.trim()) {
                return Err(Error::DuplicateExternalId(member.external_id.clone()));
            }
        }
        let groups: HashMap<String, String> =
            self.access_groups(org_id).await?.into_iter().map(|g| (g.name, g.id)).collect();
        let unknown: BTreeSet<&String> = sync
            .members
            .iter()
            .filter(|m| !m.removed)
            .flat_map(|m| &m.access_groups)
            .filter(|name| !groups.contains_key(*name))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::UnknownAccessGroups(unknown.into_iter().cloned().collect()));
        }
        let organization = self.organization(org_id).await?;

        let mut tx = self.pool.begin().await?;
        // First statement a write: takes the organization's row lock (PostgreSQL) or the write
        // lock (SQLite), so concurrent syncs of one organization, on any replica, serialize.
        sqlx::query("UPDATE organizations SET sync_generation = sync_generation + 1 WHERE id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        let settings = self.organization_in(&mut tx, org_id).await?;
        let external_ids: Vec<&str> = sync.members.iter().map(|m| m.external_id.trim()).collect();
        let existing = existing_members(&mut tx, self.backend, org_id, &external_ids).await?;
        let ids: Vec<&str> = existing.values().map(|e| e.id.as_str()).collect();
        let current_groups = member_groups(&mut tx, self.backend, &ids).await?;

        let group_names: HashMap<&String, &String> = groups.iter().map(|(name, id)| (id, name)).collect();
        let at = i64::from(now());
        let confirmed = settings.unlock_method.creates_confirmed_users();
        let mut plan = Plan::default();
        for member in &sync.members {
            let external_id = member.external_id.trim();
            let found = existing.get(external_id);
            if member.removed {
                if let Some(found) = found {
                    plan.removals.push(found.id.clone());
                    plan.report.removed += 1;
                }
                continue;
            }
            let (name, email) = (member.name.trim(), member.email.trim());
            let wanted: BTreeSet<&String> = member.access_groups.iter().filter_map(|n| groups.get(n)).collect();
            let (id, had) = match found {
                Some(found) => {
                    let had = current_groups.get(&found.id).cloned().unwrap_or_default();
                    let changed_fields = found.name != name || found.email != email;
                    if changed_fields {
                        plan.updates.push((found.id.clone(), name.to_owned(), email.to_owned()));
                    }
                    let groups_changed = wanted.len() != had.len() || wanted.iter().any(|g| !had.contains(*g));
                    if changed_fields || groups_changed {
                        plan.report.updated += 1;
                    } else {
                        plan.report.unchanged += 1;
                    }
                    (found.id.clone(), had)
                }
                None => {
                    let id = crypto::random_id::<16>()?;
                    let invitation = if confirmed { None } else { Some(crypto::new_token("inv")?) };
                    if settings.welcome_email {
                        plan.mails.push(welcome_mail(&organization.name, &id, name, email, invitation.as_deref()));
                        plan.report.welcome_emails += 1;
                    }
                    let status = if confirmed { MemberStatus::Confirmed } else { MemberStatus::NotConfirmed };
                    plan.inserts.push(vec![
                        Param::Text(id.clone()),
                        Param::Text(org_id.to_owned()),
                        Param::Text(external_id.to_owned()),
                        Param::Text(name.to_owned()),
                        Param::Text(email.to_owned()),
                        Param::Text(crypto::normalize_email(email)),
                        Param::Text(status.as_str().to_owned()),
                        Param::Int(flag(confirmed)),
                        // Only a delivered invitation can be accepted.
                        Param::OptBytes(invitation.filter(|_| settings.welcome_email).map(|t| crypto::token_hash(&t))),
                        Param::Int(at),
                        Param::Int(at),
                    ]);
                    plan.report.created += 1;
                    (id, HashSet::new())
                }
            };
            for group in wanted.iter().filter(|g| !had.contains(**g)) {
                plan.grants.push(vec![Param::Text(id.clone()), Param::Text((*group).clone()), Param::Int(at)]);
                if settings.invitation_mail {
                    let group_name = group_names.get(group).map_or("", |n| n.as_str());
                    plan.mails.push(access_mail(&organization.name, &id, name, email, group_name));
                    plan.report.access_emails += 1;
                }
            }
            for group in had.iter().filter(|g| !wanted.contains(g)) {
                plan.revokes.push((id.clone(), group.clone()));
            }
        }

        insert_rows(
            &mut tx,
            self.backend,
            "members (id, org_id, external_id, name, email, email_normalized, status, managed, invitation_hash, created_at, updated_at)",
            std::mem::take(&mut plan.inserts),
        )
        .await?;
        for (id, name, email) in &plan.updates {
            sqlx::query(
                "UPDATE members SET name = $1, email = $2, email_normalized = $3, updated_at = $4 WHERE id = $5",
            )
            .bind(name)
            .bind(email)
            .bind(crypto::normalize_email(email))
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        // A member who loses a group (their last one included) or is removed loses the keys they
        // hold: those list doors they may no longer open. Revoked before the rows go.
        let mut losing: Vec<String> = plan.revokes.iter().map(|(member, _)| member.clone()).collect();
        losing.extend(plan.removals.iter().cloned());
        losing.sort();
        losing.dedup();
        revocation::revoke(&mut tx, self.backend, org_id, Whose::Members(&losing)).await?;
        for (member, group) in &plan.revokes {
            sqlx::query("DELETE FROM member_access_groups WHERE member_id = $1 AND group_id = $2")
                .bind(member)
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        insert_rows_with(
            &mut tx,
            self.backend,
            "member_access_groups (member_id, group_id, granted_at)",
            "ON CONFLICT DO NOTHING",
            std::mem::take(&mut plan.grants),
        )
        .await?;
        for id in &plan.removals {
            sqlx::query("DELETE FROM members WHERE id = $1").bind(id).execute(&mut *tx).await?;
        }
        mail::queue(&mut tx, self.backend, &self.master, org_id, &plan.mails).await?;
        let detail = serde_json::to_value(&plan.report).unwrap_or_default();
        audit::record(&mut tx, org_id, actor, "members.synced", org_id, detail).await?;
        tx.commit().await?;
        if self.backend == Backend::Postgres && plan.report.created >= BULK_ANALYZE_THRESHOLD {
            // A bulk load leaves the planner believing the tables are as small as before, and
            // the next sync's IN-list lookups then scan instead of using the unique index.
            sqlx::query("ANALYZE members, member_access_groups").execute(&self.pool).await?;
        }
        Ok(plan.report)
    }

    async fn organization_in(&self, conn: &mut AnyConnection, org_id: &str) -> Result<crate::api::Settings> {
        let row = sqlx::query(
            "SELECT unlock_method, invitation_mail, welcome_email, mobile_access_enabled, key_validity_secs, \
             sso_mfa, wallet_pass_subscription, remote_unlock, hands_free FROM organizations WHERE id = $1",
        )
        .bind(org_id)
        .fetch_optional(conn)
        .await?
        .ok_or(Error::NotFound("organization"))?;
        Ok(crate::api::Settings {
            unlock_method: UnlockMethod::parse(&row.text("unlock_method")?)?,
            invitation_mail: row.flag("invitation_mail")?,
            welcome_email: row.flag("welcome_email")?,
            mobile_access_enabled: row.flag("mobile_access_enabled")?,
            key_validity_secs: row.u32("key_validity_secs")?,
            sso_mfa: row.flag("sso_mfa")?,
            wallet_pass_subscription: row.flag("wallet_pass_subscription")?,
            remote_unlock: crate::api::RemoteUnlock::parse(&row.text("remote_unlock")?)?,
            hands_free: row.flag("hands_free")?,
        })
    }

    /// A member session token for the branded app, for the member with `external_id`.
    pub async fn create_member_session(&self, org_id: &str, actor: &Actor, external_id: &str) -> Result<TokenResponse> {
        let member_id: String = sqlx::query_scalar("SELECT id FROM members WHERE org_id = $1 AND external_id = $2")
            .bind(org_id)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound("member"))?;
        self.session(org_id, actor, &member_id).await
    }

    async fn session(&self, org_id: &str, actor: &Actor, member_id: &str) -> Result<TokenResponse> {
        let expires_at = now().saturating_add(tokens::MEMBER_SESSION_SECS);
        let mut tx = self.pool.begin().await?;
        let token = tokens::create(&mut tx, org_id, Role::Member, Some(member_id), Some(expires_at)).await?;
        audit::record(&mut tx, org_id, actor, "session.created", member_id, json!({})).await?;
        tx.commit().await?;
        Ok(TokenResponse { token, expires_at: Some(expires_at) })
    }

    /// The organization's users, by member id.
    pub async fn users(&self, org_id: &str, query: &PageQuery) -> Result<Page<User>> {
        let limit = query.limit()?;
        let after = query.after.clone().unwrap_or_default();
        let items = self.fetch_users(org_id, "AND id > $2 ORDER BY id LIMIT $3", &after, Some(limit)).await?;
        let next = audit::next_cursor(&items, limit, |u| u.member_id.clone());
        Ok(Page { items, next })
    }

    /// One user of the organization.
    pub async fn user(&self, org_id: &str, member_id: &str) -> Result<User> {
        self.fetch_users(org_id, "AND id = $2", member_id, None).await?.pop().ok_or(Error::NotFound("user"))
    }

    async fn fetch_users(&self, org_id: &str, clause: &str, key: &str, limit: Option<i64>) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT id, external_id, name, email, status, managed, created_at FROM members WHERE org_id = $1 {clause}"
        );
        let mut query = sqlx::query(&sql).bind(org_id).bind(key);
        if let Some(limit) = limit {
            query = query.bind(limit);
        }
        let rows = query.fetch_all(&self.pool).await?;
        self.users_from_rows(&rows).await
    }

    /// Users from rows of `id, external_id, name, email, status, managed, created_at`, with
    /// their access groups (one query per 500 users).
    pub(super) async fn users_from_rows(&self, rows: &[AnyRow]) -> Result<Vec<User>> {
        let ids: Vec<String> = rows.iter().map(|r| r.text("id")).collect::<Result<_>>()?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let names = self.member_group_names(&ids).await?;
        rows.iter()
            .map(|row| {
                let member_id = row.text("id")?;
                Ok(User {
                    access_groups: names.get(&member_id).cloned().unwrap_or_default(),
                    member_id,
                    external_id: row.opt_text("external_id")?,
                    name: row.text("name")?,
                    email: row.text("email")?,
                    status: MemberStatus::parse(&row.text("status")?)?,
                    managed: row.flag("managed")?,
                    created_at: row.time("created_at")?,
                })
            })
            .collect()
    }

    async fn member_group_names(&self, ids: &[&str]) -> Result<HashMap<String, Vec<String>>> {
        let mut names: HashMap<String, Vec<String>> = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT mg.member_id, g.name FROM member_access_groups mg JOIN access_groups g ON g.id = mg.group_id \
                 WHERE mg.member_id IN ({}) ORDER BY g.name",
                placeholders(self.backend, 1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                names.entry(row.text("member_id")?).or_default().push(row.text("name")?);
            }
        }
        Ok(names)
    }

    /// What the Key Button needs to know about the calling member.
    pub async fn member_access(&self, org_id: &str, member_id: &str) -> Result<Access> {
        let organization = self.organization(org_id).await?;
        let user = self.user(org_id, member_id).await?;
        Ok(Access {
            member_id: user.member_id,
            name: user.name,
            mobile_access_enabled: organization.settings.mobile_access_enabled,
            has_access_group: !user.access_groups.is_empty(),
            access_groups: user.access_groups,
            status: user.status,
            managed: user.managed,
            unlock_method: organization.settings.unlock_method,
            key_validity_secs: organization.settings.key_validity_secs,
            remote_unlock: organization.settings.remote_unlock,
            hands_free: organization.settings.hands_free,
        })
    }

    /// Native login, by the indexed normalized email.
    ///
    /// A guesser learns nothing: an unknown email, a wrong password and a member who cannot use a
    /// password (not confirmed yet, created for the branded app) all get the same
    /// `invalid_credentials`, after the same work (one password hash, against a dummy when there is
    /// no stored hash). Why a member cannot log in is said only after a correct password
    /// (`password_login_disabled` under the branded app; several organizations without `org_id`);
    /// the member learns the rest from their invitation email.
    pub async fn login(&self, login: &Login) -> Result<TokenResponse> {
        let rows = sqlx::query(
            "SELECT m.id, m.org_id, m.password_hash, o.unlock_method FROM members m \
             JOIN organizations o ON o.id = m.org_id WHERE m.email_normalized = $1 ORDER BY m.org_id",
        )
        .bind(crypto::normalize_email(&login.email))
        .fetch_all(&self.pool)
        .await?;
        let mut hashed = Vec::new();
        for row in &rows {
            let org_id = row.text("org_id")?;
            if login.org_id.as_ref().is_none_or(|wanted| *wanted == org_id)
                && let Some(hash) = row.opt_bytes("password_hash")?
            {
                hashed.push((row, hash));
            }
        }
        if hashed.is_empty() {
            self.passwords.verify(&login.password, None).await?;
            return Err(Error::InvalidCredentials);
        }
        let mut matched = Vec::new();
        for (row, hash) in hashed {
            if self.passwords.verify(&login.password, Some(hash)).await? {
                matched.push(row);
            }
        }
        let row = match matched.as_slice() {
            [] => return Err(Error::InvalidCredentials),
            [row] => *row,
            _ => return Err(Error::invalid("this email belongs to users of several organizations: pass org_id")),
        };
        if UnlockMethod::parse(&row.text("unlock_method")?)? == UnlockMethod::BrandedApp {
            return Err(Error::refused(
                Refusal::PasswordLoginDisabled,
                "this organization unlocks with its branded app: sign in there, password login is disabled",
            ));
        }
        let member_id = row.text("id")?;
        self.session(&row.text("org_id")?, &Actor::Member(member_id.clone()), &member_id).await
    }

    /// A native user confirms by setting a password with their invitation token.
    pub async fn accept_invitation(&self, accept: &AcceptInvitation) -> Result<TokenResponse> {
        input::PASSWORD.check("the password", &accept.password)?;
        let row = sqlx::query(
            "SELECT m.id, m.org_id, o.unlock_method FROM members m JOIN organizations o ON o.id = m.org_id \
             WHERE m.invitation_hash = $1",
        )
        .bind(crypto::token_hash(accept.token.trim()))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
        if UnlockMethod::parse(&row.text("unlock_method")?)? == UnlockMethod::BrandedApp {
            return Err(Error::refused(
                Refusal::PasswordLoginDisabled,
                "this organization unlocks with its branded app: invitations and passwords are disabled",
            ));
        }
        let (member_id, org_id) = (row.text("id")?, row.text("org_id")?);
        let hash = self.passwords.hash(&accept.password).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE members SET password_hash = $1, status = 'confirmed', invitation_hash = NULL, updated_at = $2 \
             WHERE id = $3",
        )
        .bind(hash)
        .bind(i64::from(now()))
        .bind(&member_id)
        .execute(&mut *tx)
        .await?;
        let actor = Actor::Member(member_id.clone());
        audit::record(&mut tx, &org_id, &actor, "invitation.accepted", &member_id, json!({})).await?;
        tx.commit().await?;
        self.session(&org_id, &actor, &member_id).await
    }

    /// (Re)sends a native user's invitation with a fresh token (the old one stops working).
    pub async fn send_invitation(&self, org_id: &str, actor: &Actor, member_id: &str) -> Result<()> {
        let organization = self.organization(org_id).await?;
        let user = self.user(org_id, member_id).await?;
        if organization.settings.unlock_method == UnlockMethod::BrandedApp {
            return Err(Error::refused(
                Refusal::PasswordLoginDisabled,
                "this organization unlocks with its branded app: invitations are disabled",
            ));
        }
        // Confirmed users without a password (created for the branded app, before a switch back
        // to native) set one through an invitation too.
        let has_password: bool = sqlx::query_scalar::<_, i64>(
            "SELECT CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END FROM members WHERE id = $1",
        )
        .bind(member_id)
        .fetch_one(&self.pool)
        .await?
            != 0;
        if user.status == MemberStatus::Confirmed && has_password {
            return Err(Error::Conflict("the user is already confirmed and has a password".to_owned()));
        }
        let token = crypto::new_token("inv")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE members SET invitation_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(crypto::token_hash(&token))
            .bind(i64::from(now()))
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        let mail = welcome_mail(&organization.name, member_id, &user.name, &user.email, Some(&token));
        mail::queue(&mut tx, self.backend, &self.master, org_id, &[mail]).await?;
        audit::record(&mut tx, org_id, actor, "invitation.sent", member_id, json!({})).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn existing_members(
    conn: &mut AnyConnection,
    backend: Backend,
    org_id: &str,
    external_ids: &[&str],
) -> Result<HashMap<String, Existing>> {
    let mut found = HashMap::with_capacity(external_ids.len());
    for chunk in external_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id, external_id, name, email FROM members WHERE org_id = {} AND external_id IN ({})",
            placeholder(backend, 1),
            placeholders(backend, 2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(org_id);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.insert(
                row.text("external_id")?,
                Existing { id: row.text("id")?, name: row.text("name")?, email: row.text("email")? },
            );
        }
    }
    Ok(found)
}

async fn member_groups(
    conn: &mut AnyConnection,
    backend: Backend,
    member_ids: &[&str],
) -> Result<HashMap<String, HashSet<String>>> {
    let mut groups: HashMap<String, HashSet<String>> = HashMap::new();
    for chunk in member_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT member_id, group_id FROM member_access_groups WHERE member_id IN ({})",
            placeholders(backend, 1, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            groups.entry(row.text("member_id")?).or_default().insert(row.text("group_id")?);
        }
    }
    Ok(groups)
}

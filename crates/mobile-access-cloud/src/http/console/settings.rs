//! Integration settings: the welcome email and Invitation Mail switches, the Unlock Method with
//! a preview of what a switch will do (users deleted and recreated, emails) before the
//! administrator confirms, the switch-over job's progress, and the emails the cloud queued.

use askama::Template;
use axum::{extract::State, response::Response};
use serde::Deserialize;

use super::{
    ConsoleError, PageQuery, render, see,
    session::{Admin, Posted},
    view::{MemberRow, Nav, when},
};
use crate::{
    Error,
    api::{SettingsPatch, StartSwitch, SwitchJob, SwitchPreviewQuery, UnlockMethod},
    http::{AppState, run_switch_in_background},
    store::DEFAULT_SWITCH_BATCH,
};

/// How a method reads in the product's words.
fn method_label(method: UnlockMethod) -> &'static str {
    match method {
        UnlockMethod::Native => "Unlock with native methods (the access vendor's app)",
        UnlockMethod::BrandedApp => "Unlock with the branded app",
    }
}

fn other(method: UnlockMethod) -> UnlockMethod {
    match method {
        UnlockMethod::Native => UnlockMethod::BrandedApp,
        UnlockMethod::BrandedApp => UnlockMethod::Native,
    }
}

/// A switch-over job as its progress reads.
struct JobView {
    target: &'static str,
    running: bool,
    done: u32,
    total: u32,
    started: String,
    finished: String,
}

impl JobView {
    fn new(job: &SwitchJob) -> Self {
        Self {
            target: method_label(job.target),
            running: job.state == "running",
            done: job.done,
            total: job.total,
            started: when(job.created_at),
            finished: job.finished_at.map(when).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    nav: Nav,
    method: &'static str,
    other_method: &'static str,
    other_slug: &'static str,
    welcome_email: bool,
    invitation_mail: bool,
    job: Option<JobView>,
    saved: bool,
}

#[derive(Deserialize)]
pub(super) struct Saved {
    #[serde(default)]
    saved: String,
}

pub(super) async fn page(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(saved): PageQuery<Saved>,
) -> Result<Response, ConsoleError> {
    let organization = state.store.organization(admin.org()).await?;
    let settings = organization.settings;
    let job = state.store.last_switch(admin.org()).await?;
    render(&SettingsPage {
        nav: Nav::new(&admin, &state, "settings").await?,
        method: method_label(settings.unlock_method),
        other_method: method_label(other(settings.unlock_method)),
        other_slug: other(settings.unlock_method).as_str(),
        welcome_email: settings.welcome_email,
        invitation_mail: settings.invitation_mail,
        job: job.as_ref().map(JobView::new),
        saved: saved.saved == "1",
    })
}

/// The mail switches. Checkboxes send nothing when cleared, so absent means off.
#[derive(Deserialize)]
pub(super) struct MailSettings {
    welcome_email: Option<String>,
    invitation_mail: Option<String>,
}

pub(super) async fn save(
    State(state): State<AppState>,
    posted: Posted<MailSettings>,
) -> Result<Response, ConsoleError> {
    let admin = &posted.admin;
    let patch = SettingsPatch {
        welcome_email: Some(posted.form.welcome_email.is_some()),
        invitation_mail: Some(posted.form.invitation_mail.is_some()),
        ..SettingsPatch::default()
    };
    state.store.update_settings(admin.org(), &admin.actor(), &patch).await?;
    Ok(see("/console/settings?saved=1"))
}

/// `?to=&after=`.
#[derive(Deserialize)]
pub(super) struct PreviewQuery {
    to: UnlockMethod,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "console/preview.html")]
struct PreviewPage {
    nav: Nav,
    from: &'static str,
    to: &'static str,
    to_slug: &'static str,
    nothing_to_do: bool,
    recreating: bool,
    users_to_recreate: u32,
    users_untouched: u32,
    memberships_kept: u32,
    key_fobs_kept: u32,
    cards_kept: u32,
    invitations: u32,
    welcome_emails: u32,
    users: Vec<MemberRow>,
    next: Option<String>,
}

/// What switching would do. Changes nothing.
pub(super) async fn preview(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<PreviewQuery>,
) -> Result<Response, ConsoleError> {
    let request = SwitchPreviewQuery { to: Some(query.to), limit: Some(50), after: query.after };
    let preview = state.store.preview_switch(admin.org(), &request).await?;
    render(&PreviewPage {
        nav: Nav::new(&admin, &state, "settings").await?,
        from: method_label(preview.from),
        to: method_label(preview.to),
        to_slug: preview.to.as_str(),
        nothing_to_do: preview.from == preview.to,
        recreating: preview.to == UnlockMethod::BrandedApp,
        users_to_recreate: preview.users_to_recreate,
        users_untouched: preview.users_untouched,
        memberships_kept: preview.memberships_kept,
        key_fobs_kept: preview.key_fobs_kept,
        cards_kept: preview.cards_kept,
        invitations: preview.invitations,
        welcome_emails: preview.welcome_emails,
        users: preview.users.iter().map(|u| MemberRow::new(u, String::new())).collect(),
        next: preview.next,
    })
}

#[derive(Deserialize)]
pub(super) struct Start {
    to: UnlockMethod,
}

/// Starts the switch-over job (as the API does) and shows its progress.
pub(super) async fn start(State(state): State<AppState>, posted: Posted<Start>) -> Result<Response, ConsoleError> {
    let admin = &posted.admin;
    let request = StartSwitch { unlock_method: posted.form.to, welcome_email: None };
    let job = state.store.start_switch(admin.org(), &admin.actor(), &request).await?;
    if job.state == "running" {
        run_switch_in_background(
            &state.background,
            state.store.clone(),
            admin.org().to_owned(),
            job.id.clone(),
            DEFAULT_SWITCH_BATCH,
        );
    }
    Ok(see("/console/settings/switch-over"))
}

#[derive(Template)]
#[template(path = "console/progress.html")]
struct ProgressPage {
    nav: Nav,
    job: JobView,
}

/// The latest job; while it runs the page reloads itself every second (no script).
pub(super) async fn progress(State(state): State<AppState>, admin: Admin) -> Result<Response, ConsoleError> {
    let job = state.store.last_switch(admin.org()).await?.ok_or(Error::NotFound("switch-over job"))?;
    render(&ProgressPage { nav: Nav::new(&admin, &state, "settings").await?, job: JobView::new(&job) })
}

/// One email of the outbox: delivery, never the body.
struct MailRow {
    id: i64,
    member_id: String,
    kind: String,
    recipient: String,
    subject: String,
    queued: String,
    state: String,
    attempts: u32,
}

#[derive(Template)]
#[template(path = "console/emails.html")]
struct EmailsPage {
    nav: Nav,
    mails: Vec<MailRow>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct After {
    after: Option<String>,
}

pub(super) async fn emails(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<After>,
) -> Result<Response, ConsoleError> {
    let page = state
        .store
        .outbox(admin.org(), &crate::api::PageQuery { limit: Some(100), after: query.after.filter(|a| !a.is_empty()) })
        .await?;
    let mails = page
        .items
        .into_iter()
        .map(|m| MailRow {
            id: m.id,
            member_id: m.member_id,
            kind: m.kind,
            recipient: m.recipient,
            subject: m.subject,
            queued: when(m.created_at),
            state: m.state.to_string(),
            attempts: m.attempts,
        })
        .collect();
    render(&EmailsPage { nav: Nav::new(&admin, &state, "emails").await?, mails, next: page.next })
}

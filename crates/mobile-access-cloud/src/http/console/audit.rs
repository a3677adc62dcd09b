//! The audit log: newest first, filtered by action, actor and subject, paged by entry id.

use askama::Template;
use axum::{extract::State, response::Response};
use serde::Deserialize;

use super::{
    ConsoleError, PageQuery, render,
    session::Admin,
    view::{EntryRow, Nav},
};
use crate::{Error, http::AppState, store::AuditFilter};

/// `?action=&actor=&subject=&before=`.
#[derive(Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    before: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    action: String,
    actor: String,
    subject: String,
    entries: Vec<EntryRow>,
    next: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<Filter>,
) -> Result<Response, ConsoleError> {
    let before = match query.before.trim() {
        "" => None,
        text => Some(text.parse::<i64>().map_err(|_| Error::invalid("before must be an entry number"))?),
    };
    let filter = AuditFilter {
        action: Some(query.action.clone()),
        actor: Some(query.actor.clone()),
        subject: Some(query.subject.clone()),
        before,
        limit: Some(50),
        ..AuditFilter::default()
    };
    let page = state.store.search_audit(admin.org(), &filter).await?;
    render(&AuditPage {
        nav: Nav::new(&admin, &state, "audit").await?,
        action: query.action,
        actor: query.actor,
        subject: query.subject,
        entries: page.items.iter().map(EntryRow::new).collect(),
        next: page.next,
    })
}

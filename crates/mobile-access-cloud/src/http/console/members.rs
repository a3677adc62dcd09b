//! Members: the list (search, status filter, keyset paging) and one member's page with their
//! keys, fobs and cards, wallet passes and recent activity.

use askama::Template;
use axum::{extract::State, response::Response};
use serde::Deserialize;

use super::{
    ConsoleError, PageQuery, PathId, render,
    session::Admin,
    view::{EntryRow, MemberRow, Nav, when},
};
use crate::{
    Error,
    api::{CredentialInfo, CredentialKind, MemberStatus},
    http::AppState,
    store::{AuditFilter, UserSearch},
};

/// `?q=&status=&after=`.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    /// `confirmed`, `not_confirmed`, `managed`, or empty for everyone.
    #[serde(default)]
    status: String,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    nav: Nav,
    q: String,
    status: String,
    rows: Vec<MemberRow>,
    not_confirmed: u32,
    next: Option<String>,
    first_page: bool,
}

/// What a member's fobs and cards read as in a list.
fn fobs_and_cards(credentials: Option<&Vec<CredentialInfo>>) -> String {
    let listed: Vec<String> = credentials
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let kind = match c.kind {
                CredentialKind::KeyFob => "fob",
                CredentialKind::Card => "card",
                _ => return None,
            };
            Some(format!("{kind} {}", c.number.as_deref().unwrap_or("")))
        })
        .collect();
    if listed.is_empty() { "—".to_owned() } else { listed.join(", ") }
}

pub(super) async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<ListQuery>,
) -> Result<Response, ConsoleError> {
    let (status, managed) = match query.status.as_str() {
        "" => (None, None),
        "confirmed" => (Some(MemberStatus::Confirmed), None),
        "not_confirmed" => (Some(MemberStatus::NotConfirmed), None),
        "managed" => (None, Some(true)),
        _ => return Err(Error::invalid("status must be confirmed, not_confirmed or managed").into()),
    };
    let search = UserSearch {
        text: Some(query.q.clone()),
        status,
        managed,
        after: query.after.clone().filter(|a| !a.is_empty()),
        limit: None,
    };
    let page = state.store.search_users(admin.org(), &search).await?;
    let ids: Vec<&str> = page.items.iter().map(|u| u.member_id.as_str()).collect();
    let credentials = state.store.credentials_of(admin.org(), &ids).await?;
    let not_confirmed = state.store.not_confirmed_count(admin.org()).await?;
    let rows = page.items.iter().map(|u| MemberRow::new(u, fobs_and_cards(credentials.get(&u.member_id)))).collect();
    render(&MembersPage {
        nav: Nav::new(&admin, &state, "members").await?,
        q: query.q,
        status: query.status,
        rows,
        not_confirmed,
        next: page.next,
        first_page: search.after.is_none(),
    })
}

/// A credential on the member's page.
struct CredentialRow {
    kind: &'static str,
    what: String,
    status: String,
    since: String,
}

/// A wallet pass on the member's page.
struct PassRow {
    id: String,
    status: String,
    iphone: String,
    watch: String,
    added: String,
}

#[derive(Template)]
#[template(path = "console/member.html")]
struct MemberPage {
    nav: Nav,
    member: MemberRow,
    external_id: String,
    created: String,
    credentials: Vec<CredentialRow>,
    passes: Vec<PassRow>,
    activity: Vec<EntryRow>,
}

pub(super) async fn member(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
) -> Result<Response, ConsoleError> {
    let org = admin.org();
    let user = state.store.user(org, &id).await?;
    let credentials = state.store.credentials_of(org, &[id.as_str()]).await?;
    let held = credentials.get(&id);
    let credential_rows = held
        .into_iter()
        .flatten()
        .filter(|c| c.kind != CredentialKind::WalletPass)
        .map(|c| CredentialRow {
            kind: match c.kind {
                CredentialKind::MobileKey => "Mobile key",
                CredentialKind::KeyFob => "Key fob",
                CredentialKind::Card => "Card",
                CredentialKind::WalletPass => "Wallet pass",
            },
            what: c
                .number
                .clone()
                .or_else(|| c.device_public_key.as_ref().map(|k| format!("device key {}…", k.get(..16).unwrap_or(k))))
                .unwrap_or_default(),
            status: c.status.to_string(),
            since: when(c.created_at),
        })
        .collect();
    let passes = state
        .store
        .wallet_passes(org, Some(&id))
        .await?
        .into_iter()
        .map(|p| PassRow {
            id: p.id,
            status: p.status.to_string(),
            iphone: p.devices.iphone,
            watch: p.devices.watch.unwrap_or_else(|| "—".to_owned()),
            added: when(p.added_at),
        })
        .collect();
    // The member's own entries and their credentials' (a reader logs a pass by credential).
    let subjects = std::iter::once(id.clone()).chain(held.into_iter().flatten().map(|c| c.id.clone())).collect();
    let filter = AuditFilter { subjects, limit: Some(20), ..AuditFilter::default() };
    let activity = state.store.search_audit(org, &filter).await?.items.iter().map(EntryRow::new).collect();
    render(&MemberPage {
        nav: Nav::new(&admin, &state, "members").await?,
        external_id: user.external_id.clone().unwrap_or_else(|| "—".to_owned()),
        created: when(user.created_at),
        member: MemberRow::new(&user, fobs_and_cards(held)),
        credentials: credential_rows,
        passes,
        activity,
    })
}

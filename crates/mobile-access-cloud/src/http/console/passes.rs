//! Credentials → Wallet passes: the passes with the devices each lives on (iPhone, Apple Watch),
//! one pass, and Suspend / Resume / Delete, each behind a confirmation page and recorded in the
//! audit log with the administrator who confirmed it.

use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;

use super::{
    ConsoleError, PageQuery, PathId, render, see,
    session::{Admin, Posted},
    view::{Nav, when},
};
use crate::{
    Error,
    api::{CredentialStatus, WalletPass},
    http::AppState,
};

/// A pass as the pages show it.
struct PassView {
    id: String,
    member_id: String,
    member_name: String,
    status: String,
    iphone: String,
    watch: Option<String>,
    doors: usize,
    added: String,
}

async fn view(state: &AppState, org: &str, pass: WalletPass) -> Result<PassView, ConsoleError> {
    let member = state.store.user(org, &pass.member_id).await?;
    Ok(PassView {
        id: pass.id,
        member_id: pass.member_id,
        member_name: member.name,
        status: pass.status.to_string(),
        iphone: pass.devices.iphone,
        watch: pass.devices.watch,
        doors: pass.locks.len(),
        added: when(pass.added_at),
    })
}

/// The organization's pass `id`, or `404` (another organization's included).
async fn find(state: &AppState, org: &str, id: &str) -> Result<WalletPass, ConsoleError> {
    let passes = state.store.wallet_passes(org, None).await?;
    Ok(passes.into_iter().find(|p| p.id == id).ok_or(Error::NotFound("wallet pass"))?)
}

#[derive(Template)]
#[template(path = "console/passes.html")]
struct PassesPage {
    nav: Nav,
    passes: Vec<PassView>,
    done: String,
}

/// `?done=` after an action, for the status line.
#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
}

fn done_sentence(done: &str) -> String {
    match done {
        "suspend" => "The pass is suspended: readers refuse it on the iPhone and the Apple Watch.",
        "resume" => "The pass is active again.",
        "delete" => "The pass is deleted: readers refuse it on every device.",
        _ => "",
    }
    .to_owned()
}

pub(super) async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, ConsoleError> {
    let mut passes = Vec::new();
    for pass in state.store.wallet_passes(admin.org(), None).await? {
        passes.push(view(&state, admin.org(), pass).await?);
    }
    render(&PassesPage { nav: Nav::new(&admin, &state, "credentials").await?, passes, done: done_sentence(&done.done) })
}

#[derive(Template)]
#[template(path = "console/pass.html")]
struct PassPage {
    nav: Nav,
    pass: PassView,
    suspended: bool,
    done: String,
}

pub(super) async fn pass(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    PageQuery(done): PageQuery<Done>,
) -> Result<Response, ConsoleError> {
    let found = find(&state, admin.org(), &id).await?;
    let suspended = found.status == CredentialStatus::Suspended;
    render(&PassPage {
        nav: Nav::new(&admin, &state, "credentials").await?,
        pass: view(&state, admin.org(), found).await?,
        suspended,
        done: done_sentence(&done.done),
    })
}

/// What an administrator can do to a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Suspend,
    Resume,
    Delete,
}

impl Action {
    fn parse(text: &str) -> Result<Self, ConsoleError> {
        match text {
            "suspend" => Ok(Self::Suspend),
            "resume" => Ok(Self::Resume),
            "delete" => Ok(Self::Delete),
            _ => Err(Error::NotFound("page").into()),
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Delete => "delete",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Suspend => "Suspend",
            Self::Resume => "Resume",
            Self::Delete => "Delete",
        }
    }

    fn consequence(self) -> &'static str {
        match self {
            Self::Suspend => {
                "Readers will refuse this pass on the iPhone and the Apple Watch (as suspended) until you resume it. \
                 Online readers learn it at their next poll; offline readers from the next phone that carries the list."
            }
            Self::Resume => "Readers will accept this pass again, on every device it is on.",
            Self::Delete => {
                "The pass is deleted for good: readers refuse it on every device (as deleted). The member can add a \
                 new pass from the app."
            }
        }
    }
}

/// The two path parameters, NUL refused.
fn pass_and_action(Path((id, action)): Path<(String, String)>) -> Result<(String, Action), ConsoleError> {
    if id.contains('\0') {
        return Err(Error::invalid("strings may not contain the NUL character (U+0000)").into());
    }
    Ok((id, Action::parse(&action)?))
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage {
    nav: Nav,
    pass: PassView,
    verb: &'static str,
    slug: &'static str,
    consequence: &'static str,
}

/// The confirmation step: nothing changes until its form is posted.
pub(super) async fn confirm(
    State(state): State<AppState>,
    admin: Admin,
    path: Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let (id, action) = pass_and_action(path)?;
    let found = find(&state, admin.org(), &id).await?;
    render(&ConfirmPage {
        nav: Nav::new(&admin, &state, "credentials").await?,
        pass: view(&state, admin.org(), found).await?,
        verb: action.verb(),
        slug: action.slug(),
        consequence: action.consequence(),
    })
}

#[derive(Deserialize)]
pub(super) struct Confirmed {}

/// The confirmed action, through the same store methods as the API, audited with the
/// administrator.
pub(super) async fn act(
    State(state): State<AppState>,
    path: Path<(String, String)>,
    posted: Posted<Confirmed>,
) -> Result<Response, ConsoleError> {
    let (id, action) = pass_and_action(path)?;
    let admin = &posted.admin;
    let (org, actor) = (admin.org(), admin.actor());
    match action {
        Action::Suspend => state.store.set_wallet_pass_status(org, &actor, &id, CredentialStatus::Suspended).await?,
        Action::Resume => state.store.set_wallet_pass_status(org, &actor, &id, CredentialStatus::Active).await?,
        Action::Delete => {
            state.store.delete_wallet_pass(org, &actor, &id).await?;
            return Ok(see("/console/credentials/wallet-passes?done=delete"));
        }
    }
    Ok(see(&format!("/console/credentials/wallet-passes/{id}?done={}", action.slug())))
}

//! Signing in and out. Sign-in failures spend the same per-address and per-email budgets as the
//! API's login, so the console is no easier to guess passwords through.

use askama::Template;
use axum::{
    body::Bytes,
    extract::{FromRequestParts, State},
    http::{StatusCode, request::Parts},
    response::Response,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::{
    ConsoleError, html,
    session::{self, Admin, Posted, same_token},
};
use crate::{
    Error,
    http::{AppState, client_ip},
};

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    csrf: String,
    email: String,
    error: Option<String>,
}

/// What a request tells the sign-in form: its session and the client's address.
pub(super) struct Browser {
    session: Session,
    ip: Option<std::net::IpAddr>,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self { session: session::session_of(&parts.extensions)?, ip: client_ip(&parts.extensions) })
    }
}

/// The form, with the session's token (already signed in: on to the members).
pub(super) async fn form(State(state): State<AppState>, browser: Browser) -> Result<Response, ConsoleError> {
    match Admin::of(browser.session.clone(), &state).await {
        Ok(_) => return Ok(super::see("/console/members")),
        Err(Error::Unauthorized) => {}
        Err(other) => return Err(other.into()),
    }
    sign_in_form(&browser, String::new(), None, StatusCode::OK).await
}

async fn sign_in_form(
    browser: &Browser,
    email: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let csrf = session::sign_in_token(&browser.session).await?;
    Ok(html(status, SignInPage { csrf, email, error }.render()?))
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

/// Checks the form's token against its session's, then the password; on success the session
/// becomes the administrator's (under a new id).
pub(super) async fn sign_in(
    State(state): State<AppState>,
    browser: Browser,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let offered = session::csrf_of(&body).unwrap_or_default();
    let expected = session::csrf_token(&browser.session).await?.unwrap_or_default();
    if !same_token(&offered, &expected) {
        return Err(ConsoleError::CsrfRefused);
    }
    let Credentials { email, password } = session::parse_form(&body)?;
    let normalized = crate::crypto::normalize_email(&email);
    state.refuse_spent_failures(browser.ip, Some(&normalized))?;
    match state.store.console_sign_in(&email, &password).await {
        Ok(admin) => {
            session::start(&browser.session, &admin).await?;
            Ok(super::see("/console/members"))
        }
        Err(Error::InvalidCredentials) => {
            state.count_failure(browser.ip, Some(&normalized));
            let error = "That email and password do not match an administrator.".to_owned();
            sign_in_form(&browser, email, Some(error), StatusCode::UNAUTHORIZED).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct SignOut {}

/// Ends the session: its row is deleted (the cookie stops working on every replica, replayed or
/// not) and the browser is told to drop the cookie.
pub(super) async fn sign_out(State(state): State<AppState>, posted: Posted<SignOut>) -> Result<Response, ConsoleError> {
    let admin = posted.admin;
    admin.session.flush().await.map_err(session::store_failed)?;
    state.store.console_signed_out(&admin.who).await?;
    Ok(super::see("/console/sign-in"))
}

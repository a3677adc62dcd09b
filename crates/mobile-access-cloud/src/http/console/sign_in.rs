//! Signing in and out. Sign-in failures spend the same per-address and per-email budgets as the
//! API's login, so the console is no easier to guess passwords through.

use askama::Template;
use axum::{
    body::Bytes,
    extract::{FromRequestParts, State},
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{
    ConsoleError, html,
    session::{self, Admin, Posted, SIGN_IN_COOKIE, cookie, over_https, same_token, set_cookie, sign_in_token},
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

/// What a request tells the sign-in form: HTTPS or not, the client's address.
pub(super) struct Browser {
    secure: bool,
    ip: Option<std::net::IpAddr>,
    form_token: Option<String>,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self {
            secure: over_https(parts, state),
            ip: client_ip(&parts.extensions),
            form_token: cookie(&parts.headers, SIGN_IN_COOKIE).map(str::to_owned),
        })
    }
}

/// The form, with a fresh double-submit token (already signed in: on to the members).
pub(super) async fn form(
    State(state): State<AppState>,
    browser: Browser,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    if let Some(token) = cookie(&headers, session::SESSION_COOKIE)
        && state.store.console_session(token).await.is_ok()
    {
        return Ok(super::see("/console/members"));
    }
    sign_in_form(&browser, String::new(), None, StatusCode::OK)
}

fn sign_in_form(
    browser: &Browser,
    email: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let (csrf, cookie) = sign_in_token(browser.secure)?;
    let mut response = html(status, SignInPage { csrf, email, error }.render()?);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

/// Checks the form's token against its cookie, then the password; on success the session cookie
/// replaces the form's.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    browser: Browser,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    let offered = session::csrf_of(&body).unwrap_or_default();
    if !browser.form_token.as_deref().is_some_and(|expected| same_token(&offered, expected)) {
        return Err(ConsoleError::CsrfRefused);
    }
    let Credentials { email, password } = session::parse_form(&body)?;
    let normalized = crate::crypto::normalize_email(&email);
    state.refuse_spent_failures(browser.ip, Some(&normalized))?;
    match state.store.console_sign_in(&email, &password).await {
        Ok(signed_in) => {
            let mut response = super::see("/console/members");
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, session::session_cookie(&signed_in.token, browser.secure));
            headers.append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, "", 0, browser.secure));
            Ok(response)
        }
        Err(Error::InvalidCredentials) => {
            state.count_failure(browser.ip, Some(&normalized));
            let error = "That email and password do not match an administrator.".to_owned();
            sign_in_form(&browser, email, Some(error), StatusCode::UNAUTHORIZED)
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct SignOut {}

/// Ends the session (its cookie stops working on every replica) and clears the cookie.
pub(super) async fn sign_out(State(state): State<AppState>, posted: Posted<SignOut>) -> Result<Response, ConsoleError> {
    let Admin { session, token, secure } = posted.admin;
    state.store.end_console_session(&session, &token).await?;
    let mut response = super::see("/console/sign-in");
    response.headers_mut().append(header::SET_COOKIE, set_cookie(session::SESSION_COOKIE, "", 0, secure));
    Ok(response.into_response())
}

//! Who is signed in, and proof that a form came from one of their pages.
//!
//! The session cookie holds a random token whose SHA-256 the database keeps
//! ([`Store::console_session`]), so the server stays stateless and a replica can serve any
//! request. It is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
//! sends it) and `Secure` whenever the browser reached the cloud over HTTPS, which, since TLS ends
//! at a proxy, means a trusted proxy said `X-Forwarded-Proto: https`.
//!
//! Every form carries a CSRF token as well: the session's own (stored with it) once signed in,
//! and, on the sign-in form, a random value also set as a short-lived cookie (double submit), so
//! another site cannot sign a browser in to its own account either. A POST whose token is missing
//! or wrong is refused with 403 before anything is read or changed.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::ConsoleError;
use crate::{
    Error, crypto,
    http::AppState,
    store::{CONSOLE_SESSION_SECS, ConsoleSession},
};

/// The session cookie.
pub(super) const SESSION_COOKIE: &str = "console_session";
/// The sign-in form's double-submit cookie.
pub(super) const SIGN_IN_COOKIE: &str = "console_sign_in";
/// How long a sign-in form stays usable.
const SIGN_IN_FORM_SECS: u32 = 3600;
/// The name of every form's CSRF field.
pub(super) const CSRF_FIELD: &str = "csrf";

/// The value of cookie `name` in the request's `Cookie` headers.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Whether the browser reached the cloud over HTTPS: only a trusted proxy can say so (the cloud
/// itself serves plain HTTP).
pub(super) fn over_https(parts: &Parts, state: &AppState) -> bool {
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else { return false };
    if !state.trusted_proxies.iter().any(|cidr| cidr.contains(peer.ip())) {
        return false;
    }
    parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for the console's path. Tokens are hex or the token alphabet, so no
/// value needs quoting.
pub(super) fn set_cookie(name: &str, value: &str, max_age: u32, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("console_invalid=1"))
}

/// The session cookie for a new session.
pub(super) fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, token, CONSOLE_SESSION_SECS, secure)
}

/// A fresh sign-in form token and its cookie.
pub(super) fn sign_in_token(secure: bool) -> Result<(String, HeaderValue), Error> {
    let token = crate::hex::encode(&crypto::random_array::<32>()?);
    let cookie = set_cookie(SIGN_IN_COOKIE, &token, SIGN_IN_FORM_SECS, secure);
    Ok((token, cookie))
}

/// Whether `offered` is `expected`. Their SHA-256 digests are compared, so how long the
/// comparison takes says nothing about how much of the token a guess got right.
pub(super) fn same_token(offered: &str, expected: &str) -> bool {
    !expected.is_empty() && crypto::sha256(offered.as_bytes()) == crypto::sha256(expected.as_bytes())
}

/// A signed-in administrator: the page's handler acts for them, in their organization only.
/// Without a valid session a page redirects to the sign-in form.
pub(super) struct Admin {
    /// The session (administrator, organization, CSRF token).
    pub session: ConsoleSession,
    /// The cookie's token: what signing out ends.
    pub token: String,
    /// Whether the browser came over HTTPS (for the cookies set in answer).
    pub secure: bool,
}

impl Admin {
    /// The organization every query of the page is scoped to.
    pub fn org(&self) -> &str {
        &self.session.admin.org_id
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secure = over_https(parts, state);
        let token = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()).ok_or(Error::Unauthorized)?;
        let session = state.store.console_session(token).await?;
        Ok(Self { session, token: token.to_owned(), secure })
    }
}

/// A form posted by a signed-in administrator, its CSRF token checked against their session's
/// before the form is parsed into `T`.
pub(super) struct Posted<T> {
    /// Who posted it.
    pub admin: Admin,
    /// What they posted.
    pub form: T,
}

/// Parses an `application/x-www-form-urlencoded` body, refusing the NUL character like the API.
pub(super) fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if crate::http::extract::percent_has_nul(&String::from_utf8_lossy(bytes)) {
        return Err(Error::invalid("strings may not contain the NUL character (U+0000)"));
    }
    serde_urlencoded::from_bytes(bytes).map_err(|e| Error::InvalidRequest(format!("the form is not valid: {e}")))
}

/// The form's CSRF field, whatever else it holds.
pub(super) fn csrf_of(bytes: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == CSRF_FIELD)
        .map(|(_, value)| value)
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state).await?;
        let bytes =
            Bytes::from_request(Request::from_parts(parts, body), state).await.map_err(|_| Error::PayloadTooLarge)?;
        let offered = csrf_of(&bytes).unwrap_or_default();
        if !same_token(&offered, &admin.session.csrf) {
            return Err(ConsoleError::CsrfRefused);
        }
        let form = parse_form(&bytes)?;
        Ok(Self { admin, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; console_session_x=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("console_session=abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "a"), Some("1"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn an_empty_expected_token_matches_nothing() {
        assert!(!same_token("", ""));
        assert!(same_token("ab", "ab"));
        assert!(!same_token("ab", "ac"));
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_only_over_https() {
        let plain = session_cookie("t", false);
        assert_eq!(plain, "console_session=t; Path=/console; Max-Age=28800; HttpOnly; SameSite=Strict");
        assert!(session_cookie("t", true).to_str().unwrap_or("").ends_with("; Secure"));
    }
}

//! Who is signed in, and proof that a form came from one of their pages.
//!
//! Sessions are tower-sessions': it draws each session's id, sets and clears the cookie, loads
//! a session when a handler first asks and saves it when it changed; [`Sessions`] keeps them in
//! the database, so any replica serves any request and a restart signs nobody out. What stays
//! ours is what the console puts in a session (the administrator's id and a CSRF token), the
//! check of that token on every form, and the choice of `Secure` per request.
//!
//! The cookie (`console_session`, path `/console`) is:
//! - `HttpOnly`: no script reads it;
//! - `SameSite=Strict`: no other site's page sends it, not even on a link followed to the
//!   console. Nothing links into the console from elsewhere (no mail does), so `Lax` would buy
//!   nothing and would let another site's page open a signed-in page (a search) in a window;
//! - `Secure` whenever the browser reached the cloud over HTTPS. The cloud serves plain HTTP;
//!   TLS ends at a proxy, so this means a trusted proxy said `X-Forwarded-Proto: https`. The
//!   crate fixes the attribute per layer, so [`manage`] picks one of two otherwise identical
//!   layers per request.
//!
//! A session lasts [`SESSION_SECS`] from sign-in, whatever its use: nothing rewrites it after
//! sign-in, and retention deletes it once past.
//!
//! CSRF is the synchronizer token pattern: a random token kept in the session, in a hidden
//! field of every form, compared on every POST before the form is read; a POST whose token is
//! missing or wrong is refused with 403 and changes nothing. The sign-in form needs one too (so
//! another site cannot sign a browser in to its own account): showing it starts a session that
//! holds only its token, for [`SIGN_IN_FORM_SECS`]. Signing in then draws a new session id (an
//! id planted before sign-in is worth nothing after) and a new token.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State},
    http::{Extensions, HeaderMap, request::Parts},
    middleware::Next,
    response::Response,
};
use serde::de::DeserializeOwned;
use tower::{Layer, ServiceExt};
use tower_sessions::{
    Expiry, Session, SessionManagerLayer,
    cookie::{
        SameSite,
        time::{Duration, OffsetDateTime},
    },
};

use super::{ConsoleError, sessions::Sessions};
use crate::{
    Error, crypto,
    http::AppState,
    proxy::Cidr,
    store::{Actor, ConsoleAdmin},
};

/// The session cookie.
const SESSION_COOKIE: &str = "console_session";
/// How long a signed-in session lasts: a forgotten browser is signed out by the next morning.
const SESSION_SECS: i64 = 8 * 3600;
/// How long a sign-in form stays usable.
const SIGN_IN_FORM_SECS: i64 = 3600;
/// The name of every form's CSRF field.
pub(super) const CSRF_FIELD: &str = "csrf";
/// The session's keys: the signed-in administrator's id, the forms' token.
const ADMIN_KEY: &str = "admin";
const CSRF_KEY: &str = "csrf";

/// The session layers and what picks between them.
struct Layers {
    plain: SessionManagerLayer<Sessions>,
    secure: SessionManagerLayer<Sessions>,
    trusted_proxies: Arc<[Cidr]>,
}

/// `router` with the session middleware around each of its routes.
pub(super) fn manage_sessions(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let plain = SessionManagerLayer::new(Sessions::new(state.store.clone()))
        .with_name(SESSION_COOKIE)
        .with_path("/console")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        // Only a default: sign-in and the sign-in form set their session's own end.
        .with_expiry(Expiry::OnInactivity(Duration::seconds(SESSION_SECS)))
        .with_secure(false);
    let secure = plain.clone().with_secure(true);
    let layers = Arc::new(Layers { plain, secure, trusted_proxies: state.trusted_proxies.clone() });
    router.layer(axum::middleware::from_fn_with_state(layers, manage))
}

/// Runs the request inside the session layer that fits it (see the module's documentation).
async fn manage(State(layers): State<Arc<Layers>>, request: Request, next: Next) -> Response {
    let layer = if over_https(request.headers(), request.extensions(), &layers.trusted_proxies) {
        &layers.secure
    } else {
        &layers.plain
    };
    match layer.layer(next).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Whether the browser reached the cloud over HTTPS: only a trusted proxy can say so (the cloud
/// itself serves plain HTTP).
fn over_https(headers: &HeaderMap, extensions: &Extensions, trusted_proxies: &[Cidr]) -> bool {
    let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<std::net::SocketAddr>>() else { return false };
    if !trusted_proxies.iter().any(|cidr| cidr.contains(peer.ip())) {
        return false;
    }
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The request's session (lazy: nothing is read until asked).
pub(super) fn session_of(extensions: &Extensions) -> Result<Session, Error> {
    extensions.get::<Session>().cloned().ok_or(Error::Internal("a console route runs without its session layer"))
}

/// A session the store could not read or write: a server error (the crate's message names no
/// session, and is logged here once).
pub(super) fn store_failed(error: tower_sessions::session::Error) -> Error {
    tracing::error!(%error, "the console's session store failed");
    Error::Internal("the console's session store failed")
}

/// A new CSRF token.
fn new_token() -> Result<String, Error> {
    Ok(crate::hex::encode(&crypto::random_array::<32>()?))
}

/// The session's CSRF token, if it has one.
pub(super) async fn csrf_token(session: &Session) -> Result<Option<String>, Error> {
    session.get(CSRF_KEY).await.map_err(store_failed)
}

/// The token of the sign-in form: the session's, or a new one in a session that lasts
/// [`SIGN_IN_FORM_SECS`].
pub(super) async fn sign_in_token(session: &Session) -> Result<String, Error> {
    if let Some(token) = csrf_token(session).await? {
        return Ok(token);
    }
    let token = new_token()?;
    session.insert(CSRF_KEY, &token).await.map_err(store_failed)?;
    session.set_expiry(Some(Expiry::OnInactivity(Duration::seconds(SIGN_IN_FORM_SECS))));
    Ok(token)
}

/// Signs `admin` in on this browser: a new session id, a new token, [`SESSION_SECS`] to live.
pub(super) async fn start(session: &Session, admin: &ConsoleAdmin) -> Result<(), Error> {
    session.cycle_id().await.map_err(store_failed)?;
    session.insert(ADMIN_KEY, &admin.id).await.map_err(store_failed)?;
    session.insert(CSRF_KEY, new_token()?).await.map_err(store_failed)?;
    session.set_expiry(Some(Expiry::AtDateTime(OffsetDateTime::now_utc() + Duration::seconds(SESSION_SECS))));
    Ok(())
}

/// Whether `offered` is `expected`. Their SHA-256 digests are compared, so how long the
/// comparison takes says nothing about how much of the token a guess got right.
pub(super) fn same_token(offered: &str, expected: &str) -> bool {
    !expected.is_empty() && crypto::sha256(offered.as_bytes()) == crypto::sha256(expected.as_bytes())
}

/// A signed-in administrator: the page's handler acts for them, in their organization only.
/// Without a valid session a page redirects to the sign-in form.
pub(super) struct Admin {
    /// Who is signed in.
    pub who: ConsoleAdmin,
    /// The token every form of the session carries.
    pub csrf: String,
    /// The session, for signing out.
    pub session: Session,
}

impl Admin {
    /// The organization every query of the page is scoped to.
    pub fn org(&self) -> &str {
        &self.who.org_id
    }

    /// Who the audit log says acted.
    pub fn actor(&self) -> Actor {
        self.who.actor()
    }

    /// The signed-in administrator of `session`, if any. The administrator is read again on
    /// every request, so a session never outlives its administrator.
    pub(super) async fn of(session: Session, state: &AppState) -> Result<Self, Error> {
        let Some(id) = session.get::<String>(ADMIN_KEY).await.map_err(store_failed)? else {
            return Err(Error::Unauthorized);
        };
        let csrf = csrf_token(&session).await?.ok_or(Error::Unauthorized)?;
        let who = state.store.console_admin(&id).await?;
        Ok(Self { who, csrf, session })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(session_of(&parts.extensions)?, state).await?)
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
        if !same_token(&offered, &admin.csrf) {
            return Err(ConsoleError::CsrfRefused);
        }
        let form = parse_form(&bytes)?;
        Ok(Self { admin, form })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_expected_token_matches_nothing() {
        assert!(!same_token("", ""));
        assert!(same_token("ab", "ab"));
        assert!(!same_token("ab", "ac"));
    }

    #[test]
    fn only_a_trusted_proxy_says_https() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", axum::http::HeaderValue::from_static("http, https"));
        let from = |ip: [u8; 4]| {
            let mut extensions = Extensions::new();
            extensions.insert(ConnectInfo(std::net::SocketAddr::from((ip, 443))));
            extensions
        };
        assert!(over_https(&headers, &from([10, 0, 0, 1]), &trusted));
        assert!(!over_https(&headers, &from([203, 0, 113, 9]), &trusted));
        assert!(!over_https(&headers, &Extensions::new(), &trusted));
        assert!(!over_https(&HeaderMap::new(), &from([10, 0, 0, 1]), &trusted));
    }
}

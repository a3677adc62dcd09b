//! The operator's web console under `/console`: what an organization's administrator does in a
//! browser, served by the cloud itself on the API's port.
//!
//! Pages are HTML rendered on the server (askama templates in `templates/console`, escaped by
//! default) from the same [`Store`](crate::Store) methods the API's handlers call: the console
//! decides nothing the API does not. Forms are plain HTML forms; the only refresh is the
//! switch-over's progress page reloading itself while the job runs. Each page is scoped to the
//! signed-in administrator's organization: another organization's ids are `404`, as in the API.
//!
//! | Page | Path |
//! | --- | --- |
//! | Sign in / out | `/console/sign-in`, `/console/sign-out` |
//! | Members (search, status filter, keyset paging) and a member | `/console/members`, `/console/members/{id}` |
//! | Credentials → Wallet passes, a pass, Suspend / Resume / Delete (confirm) | `/console/credentials/wallet-passes…` |
//! | Integration settings, switch-over preview, start and progress | `/console/settings…` |
//! | Emails (the outbox, never bodies) | `/console/emails` |
//! | Doors and readers, with recent attempts | `/console/doors` |
//! | Audit log (filtered, paged) | `/console/audit` |

mod audit;
mod doors;
mod members;
mod passes;
mod session;
mod sessions;
mod settings;
mod sign_in;
mod view;

use askama::Template;
use axum::{
    Router,
    extract::{FromRequestParts, Query},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::Error;

/// Every console route, each behind the session middleware, merged into the API's router (and
/// so behind its request id, logging, timeouts and per-address limits).
pub(super) fn router(state: &AppState) -> Router<AppState> {
    let routes = Router::new()
        .route("/console", get(|| async { Redirect::to("/console/members") }))
        .route("/console/style.css", get(style))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::sign_in))
        .route("/console/sign-out", axum::routing::post(sign_in::sign_out))
        .route("/console/members", get(members::list))
        .route("/console/members/{id}", get(members::member))
        .route("/console/credentials", get(|| async { Redirect::to("/console/credentials/wallet-passes") }))
        .route("/console/credentials/wallet-passes", get(passes::list))
        .route("/console/credentials/wallet-passes/{id}", get(passes::pass))
        .route("/console/credentials/wallet-passes/{id}/{action}", get(passes::confirm).post(passes::act))
        .route("/console/settings", get(settings::page).post(settings::save))
        .route("/console/settings/switch-over/preview", get(settings::preview))
        .route("/console/settings/switch-over", get(settings::progress).post(settings::start))
        .route("/console/emails", get(settings::emails))
        .route("/console/doors", get(doors::page))
        .route("/console/audit", get(audit::page));
    session::manage_sessions(routes, state)
}

async fn style() -> Response {
    let mut response = include_str!("../../../templates/console/style.css").into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response
}

/// Why a console page could not be shown, shown as a page (never JSON): no session sends the
/// browser to the sign-in form, a refused form says so, anything else is an error page with the
/// API's status.
#[derive(Debug)]
pub(super) enum ConsoleError {
    /// What the store or an extractor said.
    Error(Error),
    /// A form without its CSRF token, or with another session's.
    CsrfRefused,
}

impl From<Error> for ConsoleError {
    fn from(error: Error) -> Self {
        Self::Error(error)
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(_: askama::Error) -> Self {
        Self::Error(Error::Internal("a console template failed to render"))
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            Self::Error(Error::RateLimited { retry_after }) => Some(crate::error::retry_after_secs(*retry_after)),
            _ => None,
        };
        let (status, title, message) = match self {
            Self::Error(Error::Unauthorized) => return Redirect::to("/console/sign-in").into_response(),
            Self::CsrfRefused => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form did not come from a page of your session (its security token is missing or stale). \
                 Go back, reload the page and try again."
                    .to_owned(),
            ),
            Self::Error(error) => {
                let (status, _) = error.status_and_code();
                let title = match status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::BAD_REQUEST => "That request is not valid",
                    StatusCode::TOO_MANY_REQUESTS => "Too many requests",
                    StatusCode::FORBIDDEN | StatusCode::CONFLICT => "Not possible",
                    _ => "Something went wrong",
                };
                let message = if status.is_server_error() {
                    tracing::error!(%error, "console page failed");
                    "The console could not do this. Try again; if it keeps failing, the server's log says why."
                        .to_owned()
                } else {
                    error.to_string()
                };
                (status, title, message)
            }
        };
        let body = ErrorPage { status: status.as_u16(), title, message }
            .render()
            .unwrap_or_else(|_| "console error".to_owned());
        let mut response = html(status, body);
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// What every console page answers with: HTML that is never cached, framed or scripted from
/// elsewhere.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, axum::response::Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// A rendered page, 200.
fn render(page: &impl Template) -> Result<Response, ConsoleError> {
    Ok(html(StatusCode::OK, page.render()?))
}

/// After a form: see the result at `to` (303, so a reload does not post again).
fn see(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A page's query string, refused (NUL included) as a 400 page.
pub(super) struct PageQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(super::extract::percent_has_nul) {
            return Err(Error::invalid("strings may not contain the NUL character (U+0000)").into());
        }
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::InvalidRequest(format!("the address is not valid: {}", e.body_text())))?;
        Ok(Self(value))
    }
}

/// One path id, as a 400 page when it holds a NUL.
pub(super) struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let super::extract::Id(id) = super::extract::Id::from_request_parts(parts, state).await?;
        Ok(Self(id))
    }
}

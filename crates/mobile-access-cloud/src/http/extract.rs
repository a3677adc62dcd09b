//! Request extractors that turn every kind of bad input into the API's JSON errors, and the
//! bearer-token extractors that decide who is calling before the body is even read (so an
//! anonymous caller learns nothing about what a valid body would be).
//!
//! One rule for the NUL character lives here: no string the API accepts may contain U+0000
//! (JSON bodies, path ids, query strings and paging cursors alike), refused with a 400 before
//! any handler runs. PostgreSQL cannot store it in `TEXT` and answered 500; SQLite stored it and
//! then compared strings differently. Refusing it at the edge keeps both databases the same.

use std::net::IpAddr;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Query, Request, rejection::JsonRejection},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::{AppState, client_ip};
use crate::{Error, api::Role, crypto, store::Caller};

/// What every refusal of a NUL says.
const NUL_REFUSED: &str = "strings may not contain the NUL character (U+0000)";

/// `axum::Json`, with rejections as [`Error`] and NUL characters refused.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                Error::InvalidRequest(e.body_text())
            }
        })?;
        if json_has_nul(&bytes) {
            return Err(Error::invalid(NUL_REFUSED));
        }
        // Every request body of the API is an object: serde would also read a struct from an
        // array of its fields in order (`[null, null]` as a patch that changes nothing), which
        // no schema documents.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|first| *first == b'[') {
            return Err(Error::invalid("the request body must be a JSON object"));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(Error::InvalidRequest(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Error::InvalidJson(e.body_text())),
            Err(e) => Err(Error::InvalidRequest(e.body_text())),
        }
    }
}

/// `application/json` or any `application/…+json`, parameters allowed (what `axum::Json` takes).
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether a JSON text holds a NUL in a string: the only way to write one is the escape
/// `\u0000` (a raw control character is a syntax error anyway). Backslashes occur only inside
/// strings, so skipping each escape's next character keeps `\\u0000` (a backslash, then text)
/// from counting.
fn json_has_nul(json: &[u8]) -> bool {
    let mut rest = json;
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        let escape = rest.get(at + 1..).unwrap_or(&[]);
        if escape.get(..5).is_some_and(|e| e.eq_ignore_ascii_case(b"u0000")) {
            return true;
        }
        rest = rest.get(at + 2..).unwrap_or(&[]);
    }
    false
}

/// Whether a percent-encoded query or path holds a NUL (`%00`).
pub(super) fn percent_has_nul(text: &str) -> bool {
    let mut rest = text.as_bytes();
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        if rest.get(at + 1..at + 3) == Some(b"00") {
            return true;
        }
        rest = rest.get(at + 1..).unwrap_or(&[]);
    }
    false
}

/// `axum::extract::Query`, with rejections as [`Error`] and NUL characters refused.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(percent_has_nul) {
            return Err(Error::invalid(NUL_REFUSED));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| Error::InvalidRequest(e.body_text()))
    }
}

/// One path parameter, with rejections as [`Error`] and NUL characters refused.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|e| Error::InvalidRequest(e.body_text()))?;
        if value.contains('\0') {
            return Err(Error::invalid(NUL_REFUSED));
        }
        Ok(Self(value))
    }
}

/// The client's address, for the limits on failed authentication (`None` without connection
/// info).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(&parts.extensions)))
    }
}

impl AppState {
    /// 429 if `ip` or `email` already spent their failed-authentication budget: checked before
    /// any work, so a guesser who ran out gets no answer about their guess.
    pub(super) fn refuse_spent_failures(&self, ip: Option<IpAddr>, email: Option<&str>) -> Result<(), Error> {
        let by_address = ip.map_or(Ok(()), |ip| self.limits.address_failures.peek(&ip));
        let by_email = email.map_or(Ok(()), |email| self.limits.email_failures.peek(&email.to_owned()));
        by_address.and(by_email).map_err(|retry_after| Error::RateLimited { retry_after })
    }

    /// Spends one failed authentication of `ip` and `email`.
    pub(super) fn count_failure(&self, ip: Option<IpAddr>, email: Option<&str>) {
        if let Some(ip) = ip {
            let _ = self.limits.address_failures.admit(&ip);
        }
        if let Some(email) = email {
            let _ = self.limits.email_failures.admit(&email.to_owned());
        }
    }
}

/// The bearer token of a request, or `unauthorized`.
fn bearer(parts: &Parts) -> Result<&str, Error> {
    let header = parts.headers.get(header::AUTHORIZATION).ok_or(Error::Unauthorized)?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(Error::Unauthorized)
}

async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, Error> {
    refuse_outdated_sdk(parts, state)?;
    let token = bearer(parts)?;
    let ip = client_ip(&parts.extensions);
    state.refuse_spent_failures(ip, None)?;
    let caller = match state.store.authenticate(token).await {
        Err(Error::Unauthorized) => {
            state.count_failure(ip, None);
            return Err(Error::Unauthorized);
        }
        other => other?,
    };
    // One budget per member, whichever of their tokens they use; one per token otherwise.
    let key = match (&caller.role, &caller.member_id) {
        (Role::Member, Some(member)) => [b"m:".as_slice(), member.as_bytes()].concat(),
        _ => [b"t:".as_slice(), &crypto::token_hash(token)].concat(),
    };
    state.limits.caller.admit(&key).map_err(|retry_after| Error::RateLimited { retry_after })?;
    Ok(caller)
}

/// `426 app_update_required` for an SDK older than the cloud serves (see
/// [`crate::sdk_version`]); any other client passes.
fn refuse_outdated_sdk(parts: &Parts, state: &AppState) -> Result<(), Error> {
    let Some(oldest) = state.min_sdk_version else { return Ok(()) };
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok()).unwrap_or_default();
    match crate::sdk_version::SdkVersion::from_user_agent(user_agent) {
        Some(version) if version < oldest => Err(Error::AppUpdateRequired(format!(
            "this app's access SDK ({version}) is older than the oldest this service supports ({oldest}): update the app"
        ))),
        _ => Ok(()),
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = Error;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                let caller = caller(parts, state).await?;
                caller.require($role)?;
                Ok(Self(caller))
            }
        }
    };
}

role_extractor!(
    /// A caller with an admin token.
    AdminCaller,
    Role::Admin
);
role_extractor!(
    /// A caller with the integration token.
    IntegrationCaller,
    Role::Integration
);
role_extractor!(
    /// A caller with a member session token.
    MemberCaller,
    Role::Member
);
role_extractor!(
    /// A caller with a reader token.
    ReaderCaller,
    Role::Reader
);

/// A member caller and the session token they called with: what logging out revokes.
pub struct MemberSession {
    /// Who is calling.
    pub caller: Caller,
    /// Their bearer token.
    pub token: String,
}

impl FromRequestParts<AppState> for MemberSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = caller(parts, state).await?;
        caller.require(Role::Member)?;
        Ok(Self { caller, token: bearer(parts)?.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_only_where_it_is_one() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a":"\\\u0000"}"#));
        assert!(json_has_nul(br#"{"\U0000":1}"#));
        assert!(!json_has_nul(br#"{"a":"\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\u0001 \n"}"#));
        assert!(percent_has_nul("after=a%00b"));
        assert!(!percent_has_nul("after=%2500&limit=10"));
        assert!(!percent_has_nul("after=abc"));
    }
}

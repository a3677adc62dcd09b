//! Request extractors that turn every kind of bad input into the API's JSON errors, and the
//! bearer-token extractors that decide who is calling before the body is even read (so an
//! anonymous caller learns nothing about what a valid body would be).

use axum::{
    extract::{
        FromRequest, FromRequestParts, Path, Query, Request,
        rejection::{JsonRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::{
    Error,
    api::Role,
    store::{Caller, Store},
};

/// `axum::Json`, with rejections as [`Error`].
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(Error::InvalidRequest(e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(Error::InvalidJson(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::UnsupportedMediaType),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Error::PayloadTooLarge),
            Err(e) => Err(Error::InvalidRequest(e.body_text())),
        }
    }
}

/// `axum::extract::Query`, with rejections as [`Error`].
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e: QueryRejection| Error::InvalidRequest(e.body_text()))
    }
}

/// One path parameter, with rejections as [`Error`].
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|e| Error::InvalidRequest(e.body_text()))
    }
}

async fn caller(parts: &Parts, store: &Store) -> Result<Caller, Error> {
    let header = parts.headers.get(header::AUTHORIZATION).ok_or(Error::Unauthorized)?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(Error::Unauthorized)?;
    store.authenticate(token).await
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl FromRequestParts<Store> for $name {
            type Rejection = Error;

            async fn from_request_parts(parts: &mut Parts, store: &Store) -> Result<Self, Self::Rejection> {
                let caller = caller(parts, store).await?;
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

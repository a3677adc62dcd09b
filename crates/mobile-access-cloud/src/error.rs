//! The crate's one error type, and how each variant reaches an HTTP client: a status and a
//! stable `code` that the SDK matches on, never a message it has to parse.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use mobile_access_api::{ErrorBody, ErrorDetail};
use serde::Serialize;

/// Why the cloud refused a member something they asked for. Each is a 403 with its own stable
/// code, because the Key Button shows the member a different explanation for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The organization has the mobile access module switched off.
    ModuleDisabled,
    /// The access user is `not_confirmed`: only confirmed users get mobile keys.
    NotConfirmed,
    /// The member has no access group, so there is nothing a key could open.
    NoAccessGroup,
    /// The organization unlocks with the branded app: password login and invitations are off.
    PasswordLoginDisabled,
    /// An administrator suspended this device's mobile key.
    CredentialSuspended,
    /// A wallet pass prerequisite is unmet (the message lists every one).
    WalletNotEligible,
    /// The organization does not let members unlock over the network.
    RemoteUnlockOff,
    /// The organization requires a proof that the phone is at the door, and there was none or
    /// it was not the door's current advertisement.
    ProximityRequired,
    /// The door requires owner verification, which only the phone at the reader can prove:
    /// it never opens over the network.
    OwnerVerificationRequired,
}

impl Refusal {
    /// The stable wire code.
    pub fn code(self) -> &'static str {
        match self {
            Self::ModuleDisabled => "module_disabled",
            Self::NotConfirmed => "not_confirmed",
            Self::NoAccessGroup => "no_access_group",
            Self::PasswordLoginDisabled => "password_login_disabled",
            Self::CredentialSuspended => "credential_suspended",
            Self::WalletNotEligible => "wallet_not_eligible",
            Self::RemoteUnlockOff => "remote_unlock_off",
            Self::ProximityRequired => "proximity_required",
            Self::OwnerVerificationRequired => "owner_verification_required",
        }
    }
}

/// Everything that can go wrong in the cloud.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is well-formed JSON but its content is not acceptable.
    #[error("{0}")]
    InvalidRequest(String),
    /// The body is not JSON of the expected shape.
    #[error("{0}")]
    InvalidJson(String),
    /// The body is not declared as `application/json`.
    #[error("expected a body with content type application/json")]
    UnsupportedMediaType,
    /// The body exceeds the route's limit.
    #[error("the request body exceeds the limit of this route")]
    PayloadTooLarge,
    /// No valid bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// Email and password do not match a user.
    #[error("email or password is wrong")]
    InvalidCredentials,
    /// The token is valid but its role may not call this route.
    #[error("this token's role may not call this route")]
    Forbidden,
    /// A business rule refused the request.
    #[error("{message}")]
    Refused {
        /// Which rule.
        refusal: Refusal,
        /// What to tell the user.
        message: String,
    },
    /// No such object in the caller's organization (other organizations' objects included).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No such route.
    #[error("no such route")]
    NoRoute,
    /// The route exists, the method does not.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The request conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// The app's SDK is older than this cloud serves (`--min-sdk-version`).
    #[error("{0}")]
    AppUpdateRequired(String),
    /// Members were assigned access groups the organization does not have.
    #[error("unknown access groups: {}", .0.join(", "))]
    UnknownAccessGroups(Vec<String>),
    /// An access group was given doors the organization does not have.
    #[error("unknown doors: {}", .0.join(", "))]
    UnknownDoors(Vec<String>),
    /// A sync lists one external id twice: which entry wins is not the server's to guess.
    #[error("external_id {0:?} is listed twice")]
    DuplicateExternalId(String),
    /// A door's reader is offline, or did not answer a command in time: the door stayed shut
    /// (as far as the cloud knows; the message says which).
    #[error("{0}")]
    ReaderUnavailable(String),
    /// Well-formed hex that is not a point on P-256 (a device or secure-element key): the
    /// request is valid JSON in the documented shape, and still cannot be served.
    #[error("{0}")]
    InvalidKey(&'static str),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A cryptographic operation failed (including a sealed value that does not open).
    #[error("crypto: {0}")]
    Crypto(&'static str),
    /// The protocol crate refused to build a credential or certificate.
    #[error("protocol: {0}")]
    Protocol(#[from] mobile_access_protocol::Error),
    /// The master key is missing, malformed, or not the one the database was sealed with.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Stored data violates an invariant the cloud keeps (e.g. an unknown enum value).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Too many requests from this client, caller or for this email: try again after the wait
    /// (sent as `Retry-After`, in whole seconds).
    #[error("too many requests: retry after {} s", retry_after_secs(*.retry_after))]
    RateLimited {
        /// How long until the request would be admitted.
        retry_after: std::time::Duration,
    },
    /// The server cannot serve yet (database unreachable, migrations not applied).
    #[error("not ready: {0}")]
    NotReady(String),
    /// The request took longer than the server's request timeout. Its handler may still have
    /// finished (it runs on, detached): retry with a fresh read, not a blind repeat.
    #[error("the request took longer than the server allows")]
    Timeout,
    /// A request handler failed unexpectedly (a panic, caught so the process lives on).
    #[error("internal: {0}")]
    Internal(&'static str),
    /// The server's clock reads earlier than a time it already signed: it refuses to sign (a
    /// revocation list's time moves readers' clocks; keys carry validity windows) until its clock
    /// is right again.
    #[error("the server clock ({now}) is behind a time it already signed ({newest}): refusing to sign")]
    ClockBehind {
        /// The newest signed time.
        newest: i64,
        /// The server's clock now.
        now: u32,
    },
}

impl Error {
    /// Shorthand for a 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// Shorthand for a refusal.
    pub fn refused(refusal: Refusal, message: impl Into<String>) -> Self {
        Self::Refused { refusal, message: message.into() }
    }

    /// HTTP status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Refused { refusal, .. } => (StatusCode::FORBIDDEN, refusal.code()),
            Self::NotFound(_) | Self::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::ReaderUnavailable(_) => (StatusCode::CONFLICT, "reader_unavailable"),
            Self::AppUpdateRequired(_) => (StatusCode::UPGRADE_REQUIRED, "app_update_required"),
            Self::UnknownAccessGroups(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_access_groups"),
            Self::UnknownDoors(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_doors"),
            Self::InvalidKey(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_key"),
            Self::DuplicateExternalId(_) => (StatusCode::UNPROCESSABLE_ENTITY, "duplicate_external_id"),
            Self::Database(_)
            | Self::Migrate(_)
            | Self::Io { .. }
            | Self::Crypto(_)
            | Self::Protocol(_)
            | Self::MasterKey(_)
            | Self::Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Self::ClockBehind { .. } => (StatusCode::SERVICE_UNAVAILABLE, "clock_behind"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            Self::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// A text read back from the database that names no variant: the row is corrupt (clients'
/// text is checked where it is read, by serde).
impl From<mobile_access_api::UnknownText> for Error {
    fn from(error: mobile_access_api::UnknownText) -> Self {
        Self::Corrupt(error.to_string())
    }
}

impl From<mobile_access_api::OutOfRange> for Error {
    fn from(error: mobile_access_api::OutOfRange) -> Self {
        Self::invalid(error.0)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() {
            // Details stay in the log (which never holds secrets: no variant carries one).
            tracing::error!(error = %self, "request failed");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some(retry_after_secs(*retry_after)),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code: code.to_owned(), message } };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A wait as `Retry-After` says it: whole seconds, rounded up, at least 1 (0 would invite an
/// immediate retry that is refused again).
pub(crate) fn retry_after_secs(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

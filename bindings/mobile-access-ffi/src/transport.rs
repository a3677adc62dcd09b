//! The app's HTTP stack behind the SDK: [`HttpTransport`] as a foreign trait.
//!
//! The SDK's cloud client decides every request and what each answer means (retries, backoff,
//! time limits, status codes → typed errors); the transport only sends one request. A phone build
//! (`--no-default-features`) carries no HTTP or TLS stack of its own: the app hands the SDK its
//! platform's (`UrlConnectionTransport` in the Android module, `URLSessionTransport` in the Swift
//! package), which verifies certificates with the OS trust store and follows the device's proxy,
//! VPN and MDM settings. That keeps about 1 MB out of the library and needs no TLS start-up.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use mobile_access::http::{self, HttpMethod, TransportError};

/// One request to send as is: method, absolute URL, every header, an optional body.
///
/// An object rather than a record because `headers` carries the member's token
/// (`Authorization`): printing the request (`toString`, `description`, `Debug`) shows the method
/// and URL only, so an app that logs what it sends cannot leak the token by accident.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct HttpRequest {
    method: String,
    url: String,
    headers: HashMap<String, String>,
    body: Option<Vec<u8>>,
    timeout: Duration,
}

#[uniffi::export]
impl HttpRequest {
    /// `GET` or `POST`.
    pub fn method(&self) -> String {
        self.method.clone()
    }

    /// Absolute URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Headers to send, `Authorization` (a secret: do not log) and `Content-Type` included.
    pub fn headers(&self) -> HashMap<String, String> {
        self.headers.clone()
    }

    /// The body, when there is one.
    pub fn body(&self) -> Option<Vec<u8>> {
        self.body.clone()
    }

    /// Limit for connecting, sending and reading the answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl std::fmt::Display for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpRequest({} {}, headers: <redacted>)", self.method, self.url)
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest").field("method", &self.method).field("url", &self.url).finish_non_exhaustive()
    }
}

/// What came back, whatever the status.
#[derive(Debug, Clone, uniffi::Record)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header in seconds, when present in that form (a 429's wait).
    pub retry_after_secs: Option<u64>,
    /// The body, whole (empty when there is none).
    pub body: Vec<u8>,
}

/// Why no response arrived. The SDK retries all three as network failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HttpError {
    /// No answer in time.
    #[error("timed out: {detail}")]
    Timeout {
        /// Human message.
        detail: String,
    },
    /// The connection (DNS, TCP, TLS) could not be made.
    #[error("connection failed: {detail}")]
    Connect {
        /// Human message.
        detail: String,
    },
    /// Anything else, or an exception the app's code threw.
    #[error("request failed: {detail}")]
    Failed {
        /// Human message.
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HttpError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HttpError::Failed { detail: format!("unexpected error in the app's HTTP transport: {}", error.reason) }
    }
}

/// The app's HTTP stack. Called on the SDK's threads; suspend (Kotlin) or `await` (Swift)
/// freely. Return every status as a response: only a missing answer is an error.
#[uniffi::export(with_foreign)]
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` once and returns the answer.
    async fn send(&self, request: Arc<HttpRequest>) -> Result<HttpResponse, HttpError>;
}

/// The app's transport as the core's.
pub(crate) struct ForeignTransport(pub(crate) Arc<dyn HttpTransport>);

#[async_trait]
impl http::HttpTransport for ForeignTransport {
    async fn send(&self, request: http::HttpRequest) -> Result<http::HttpResponse, TransportError> {
        let mut headers = HashMap::new();
        headers.insert("Authorization".to_owned(), format!("Bearer {}", request.bearer_token));
        headers.insert("User-Agent".to_owned(), request.user_agent.to_owned());
        headers.insert("Accept".to_owned(), "application/json".to_owned());
        if request.json_body.is_some() {
            headers.insert("Content-Type".to_owned(), "application/json".to_owned());
        }
        let foreign = HttpRequest {
            method: match request.method {
                HttpMethod::Get => "GET",
                HttpMethod::Post => "POST",
            }
            .to_owned(),
            url: request.url.clone(),
            headers,
            body: request.json_body.clone(),
            timeout: request.timeout,
        };
        match self.0.send(Arc::new(foreign)).await {
            Ok(response) => Ok(http::HttpResponse {
                status: response.status,
                retry_after_secs: response.retry_after_secs,
                body: response.body,
            }),
            Err(HttpError::Timeout { detail }) => Err(TransportError::Timeout(detail)),
            Err(HttpError::Connect { detail }) => Err(TransportError::Connect(detail)),
            Err(HttpError::Failed { detail }) => Err(TransportError::Failed(detail)),
        }
    }
}

/// The core's transport for `transport`, when the app gave one.
pub(crate) fn shared(transport: Option<Arc<dyn HttpTransport>>) -> Option<http::SharedTransport> {
    transport.map(|t| Arc::new(ForeignTransport(t)) as http::SharedTransport)
}

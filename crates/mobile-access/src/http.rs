//! How a cloud request leaves the phone: the [`HttpTransport`] seam.
//!
//! The cloud client ([`crate::CloudClient`]) decides everything about a call (URL, token, body,
//! retries, backoff, the call's time limit, the meaning of each status); a transport only sends
//! one request and returns the status and body. Two kinds exist:
//!
//! - feature `rust-http` (on by default): [`ReqwestTransport`], reqwest on rustls and ring with
//!   `rustls-platform-verifier`. The desktop, the harness and the tests use it.
//! - the phone's own HTTP stack (`HttpURLConnection` on Android, `URLSession` on iOS), handed in
//!   by the app through the bindings. It verifies certificates with the OS's trust store, obeys
//!   the device's proxy/VPN/MDM settings, and keeps a whole TLS and HTTP stack (about 1 MB of
//!   the stripped library) and the TLS verifier's Android start-up out of the phone build.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;

/// The two methods the member API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`, with a JSON body.
    Post,
}

impl HttpMethod {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// One request. `Debug` leaves the token out.
#[derive(Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: HttpMethod,
    /// Absolute URL.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`. Never logged.
    pub bearer_token: String,
    /// A JSON body (`Content-Type: application/json`), for `POST`.
    pub json_body: Option<Vec<u8>>,
    /// Sent as `User-Agent`.
    pub user_agent: &'static str,
    /// Limit for connecting, sending and receiving this one request.
    pub timeout: Duration,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest").field("method", &self.method).field("url", &self.url).finish_non_exhaustive()
    }
}

impl Drop for HttpRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bearer_token);
    }
}

/// What came back: any status, with its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header in seconds, when present in that form (a 429's wait).
    pub retry_after_secs: Option<u64>,
    /// The body, whole.
    pub body: Vec<u8>,
}

/// Why no response arrived. Every variant is a network failure the cloud client retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the request's timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The connection (DNS, TCP, TLS) could not be made.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Anything else (the connection broke mid-request, say).
    #[error("request failed: {0}")]
    Failed(String),
}

/// Sends one HTTP request. Never sees the same request twice: retries are the caller's.
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and returns the response, whatever its status.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// A transport shared by the clients of one button.
pub type SharedTransport = Arc<dyn HttpTransport>;

/// The built-in transport: reqwest over rustls (ring), certificates verified by the platform
/// (`rustls-platform-verifier`). Keeps connections alive between requests.
#[cfg(feature = "rust-http")]
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

#[cfg(feature = "rust-http")]
impl ReqwestTransport {
    /// A client whose connections give up after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Result<Self, TransportError> {
        // One crypto library in the SDK: rustls runs on ring. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| TransportError::Failed(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }
}

#[cfg(feature = "rust-http")]
#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        };
        let mut builder = self
            .client
            .request(method, &request.url)
            .timeout(request.timeout)
            .bearer_auth(&request.bearer_token)
            .header(reqwest::header::USER_AGENT, request.user_agent);
        if let Some(body) = &request.json_body {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.clone());
        }
        let response = builder.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let retry_after_secs = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        let body = response.bytes().await.map_err(|e| describe(&e))?;
        Ok(HttpResponse { status, retry_after_secs, body: body.to_vec() })
    }
}

/// A reqwest error for logs and the app: reqwest never prints headers, so the token stays out.
#[cfg(feature = "rust-http")]
fn describe(error: &reqwest::Error) -> TransportError {
    if error.is_timeout() {
        TransportError::Timeout(error.to_string())
    } else if error.is_connect() {
        TransportError::Connect(error.to_string())
    } else {
        TransportError::Failed(error.to_string())
    }
}

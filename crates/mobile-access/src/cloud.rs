//! The access cloud's member API: what the Key Button needs to know (`GET /v1/me/access`), the
//! one request that validates rights and downloads keys (`POST /v1/me/keys`), and remote unlock
//! (`GET /v1/me/doors`, `POST /v1/me/doors/{door_id}/unlock`).
//!
//! Requests run on a small runtime the SDK owns, on real time: a key download must not be
//! timed out by the simulated radio's virtual clock, and on a phone the app's own executor (if
//! any) is never blocked. Network errors and 5xx answers are retried with exponential backoff;
//! 4xx answers never are, and each maps to an [`Error`] the app can act on, except 429: the
//! cloud is rate limiting, and the client waits what its `Retry-After` says (never less than the
//! backoff) within the same bounded attempts, or gives up at once with [`Error::RateLimited`]
//! when the wait is longer than `max_retry_wait` or than the call has left. So a fleet of phones
//! never retries into a storm: every retry is spaced by the server's own figure.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use mobile_access_api::{
    Access, ErrorBody, EventUpload, KeyBundle, KeyRequest, MemberDoors, Proximity, RemoteUnlockRequest,
    RemoteUnlockResult, UploadReport, UploadedEvent,
};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::{
    Error, Result,
    http::{HttpMethod, HttpRequest, SharedTransport},
};

/// Sent as `User-Agent` with every request.
const USER_AGENT: &str = concat!("mobile-access-sdk/", env!("CARGO_PKG_VERSION"));

/// How the SDK talks to the cloud.
#[derive(Clone)]
pub struct CloudConfig {
    /// Base URL, e.g. `https://access.example.com`.
    pub base_url: String,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Attempts for one call (network errors and 5xx only).
    pub attempts: u32,
    /// First backoff; doubles after each failed attempt.
    pub backoff: Duration,
    /// Limit for one call, all attempts and backoffs included. Enforced on the network runtime,
    /// in real time, whatever clock the caller runs on.
    pub call_timeout: Duration,
    /// The longest `Retry-After` the client waits out itself; a longer one ends the call with
    /// [`Error::RateLimited`] for the app to schedule.
    pub max_retry_wait: Duration,
    /// How requests are sent: the app's HTTP stack, or `None` for the built-in one (feature
    /// `rust-http`; a build without it needs the app's).
    pub transport: Option<SharedTransport>,
}

impl std::fmt::Debug for CloudConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudConfig")
            .field("base_url", &self.base_url)
            .field("request_timeout", &self.request_timeout)
            .field("attempts", &self.attempts)
            .field("max_retry_wait", &self.max_retry_wait)
            .field("app_transport", &self.transport.is_some())
            .finish_non_exhaustive()
    }
}

impl CloudConfig {
    /// Defaults: 10 s per request, 4 attempts, 200 ms first backoff, 30 s per call, waits of up
    /// to 5 s asked by a 429.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            request_timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(200),
            call_timeout: Duration::from_secs(30),
            max_retry_wait: Duration::from_secs(5),
            transport: None,
        }
    }
}

/// The member API client. Cheap to clone; clones share the runtime and the request counter.
#[derive(Clone)]
pub struct CloudClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: CloudConfig,
    token: std::sync::RwLock<String>,
    transport: SharedTransport,
    runtime: NetworkRuntime,
    requests: AtomicU64,
    /// The cloud's last answer was `426`: this SDK is too old for it. Cleared by any success.
    update_required: std::sync::atomic::AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut token = self.token.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        zeroize::Zeroize::zeroize(&mut *token);
    }
}

impl std::fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient").field("base_url", &self.inner.config.base_url).finish_non_exhaustive()
    }
}

/// A one-worker runtime for HTTP, shut down without blocking when the client goes away (which
/// may happen inside another runtime).
struct NetworkRuntime(Option<tokio::runtime::Runtime>);

impl Drop for NetworkRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl CloudClient {
    /// A client for `config`, authenticating as the member with `token`.
    pub fn new(config: CloudConfig, token: impl Into<String>) -> Result<Self> {
        let transport = match &config.transport {
            Some(transport) => Arc::clone(transport),
            None => built_in_transport(&config)?,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mobile-access-net")
            .enable_all()
            .build()
            .map_err(|e| Error::Network(format!("network runtime: {e}")))?;
        let inner = Inner {
            config,
            token: std::sync::RwLock::new(token.into()),
            transport,
            runtime: NetworkRuntime(Some(runtime)),
            requests: AtomicU64::new(0),
            update_required: std::sync::atomic::AtomicBool::new(false),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Replaces the member token (after the app signed the member in again).
    pub fn set_token(&self, token: impl Into<String>) {
        if let Ok(mut slot) = self.inner.token.write() {
            *slot = token.into();
        }
    }

    /// HTTP requests sent so far (every attempt counts).
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// True if the cloud's last answer said this SDK is too old for it (HTTP 426), until a later
    /// request succeeds.
    pub fn update_required(&self) -> bool {
        self.inner.update_required.load(Ordering::Relaxed)
    }

    /// `GET /v1/me/access`.
    pub async fn access(&self) -> Result<Access> {
        self.call(HttpMethod::Get, "/v1/me/access", None, None).await
    }

    /// `POST /v1/me/keys` for `device_public_key`: validates the member's rights and returns
    /// fresh credentials, in one request. `validated` fires when the cloud accepted the request
    /// (its status arrived) and the key itself is downloading.
    pub async fn download_keys(
        &self,
        device_public_key: &[u8],
        owner_public_key: Option<&[u8]>,
        validated: Option<oneshot::Sender<()>>,
    ) -> Result<KeyBundle> {
        self.download_keys_within(device_public_key, owner_public_key, validated, None).await
    }

    /// [`CloudClient::download_keys`], all attempts within `limit` (real time) when given, else
    /// within the configured call timeout.
    pub(crate) async fn download_keys_within(
        &self,
        device_public_key: &[u8],
        owner_public_key: Option<&[u8]>,
        validated: Option<oneshot::Sender<()>>,
        limit: Option<Duration>,
    ) -> Result<KeyBundle> {
        let limit = limit.unwrap_or(self.inner.config.call_timeout);
        let request = KeyRequest {
            device_public_key: hex::encode(device_public_key),
            owner_public_key: owner_public_key.map(hex::encode),
        };
        let body = serde_json::to_value(request).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        self.call_within(HttpMethod::Post, "/v1/me/keys".to_owned(), Some(body), validated, limit).await
    }

    /// `POST /v1/me/events`: tap results recorded on the phone. The cloud keeps each event id
    /// once, so sending again after a lost answer is harmless.
    pub async fn upload_events(&self, events: &[crate::journal::JournalEntry]) -> Result<UploadReport> {
        let upload = EventUpload { events: events.iter().map(UploadedEvent::from).collect() };
        let body = serde_json::to_value(upload).map_err(|e| Error::InvalidResponse(e.to_string()))?;
        self.call(HttpMethod::Post, "/v1/me/events", Some(body), None).await
    }

    /// `GET /v1/me/doors`: the member's doors, whether each can be opened remotely now, and
    /// the organization's remote unlock policy.
    pub async fn doors(&self) -> Result<MemberDoors> {
        self.call(HttpMethod::Get, "/v1/me/doors", None, None).await
    }

    /// `POST /v1/me/doors/{door_id}/unlock`: opens the door over the network, through its
    /// online reader, with what the phone heard at the door where the organization requires it.
    /// Answers once the reader confirmed (a few seconds at most).
    pub async fn unlock_door(&self, door_id: &str, proximity: Option<Proximity>) -> Result<RemoteUnlockResult> {
        // Door ids are the cloud's hex; anything else must not reach a URL path.
        if door_id.is_empty() || !door_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::UnknownDoor(door_id.to_owned()));
        }
        let body = serde_json::to_value(RemoteUnlockRequest { proximity })
            .map_err(|e| Error::InvalidResponse(e.to_string()))?;
        self.call(HttpMethod::Post, format!("/v1/me/doors/{door_id}/unlock"), Some(body), None).await
    }

    pub(crate) async fn call<T: DeserializeOwned + Send + 'static>(
        &self,
        method: HttpMethod,
        path: impl Into<String>,
        body: Option<serde_json::Value>,
        validated: Option<oneshot::Sender<()>>,
    ) -> Result<T> {
        self.call_within(method, path.into(), body, validated, self.inner.config.call_timeout).await
    }

    async fn call_within<T: DeserializeOwned + Send + 'static>(
        &self,
        method: HttpMethod,
        path: String,
        body: Option<serde_json::Value>,
        validated: Option<oneshot::Sender<()>>,
        limit: Duration,
    ) -> Result<T> {
        let Some(runtime) = self.inner.runtime.0.as_ref() else {
            return Err(Error::Network("network runtime stopped".to_owned()));
        };
        let inner = Arc::clone(&self.inner);
        runtime
            .spawn(async move {
                tokio::time::timeout(limit, inner.call_with_retries(method, path, body, validated))
                    .await
                    .unwrap_or_else(|_| Err(Error::Network(format!("no answer within {:.1} s", limit.as_secs_f64()))))
            })
            .await
            .map_err(|e| Error::Network(format!("request task failed: {e}")))?
    }
}

impl Inner {
    async fn call_with_retries<T: DeserializeOwned>(
        &self,
        method: HttpMethod,
        path: String,
        body: Option<serde_json::Value>,
        mut validated: Option<oneshot::Sender<()>>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let started = tokio::time::Instant::now();
        let mut backoff = self.config.backoff;
        let mut attempt = 1;
        loop {
            match self.attempt(method, &url, body.as_ref(), &mut validated).await {
                Ok(value) => return Ok(value),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::RateLimited(wait)) => {
                    let retry_after_secs = wait.as_secs().max(1);
                    let left = self.config.call_timeout.saturating_sub(started.elapsed());
                    let wait = wait.max(backoff);
                    if attempt >= self.config.attempts.max(1) || wait > self.config.max_retry_wait || wait >= left {
                        warn!(%path, attempt, retry_after_secs, "rate limited; giving up");
                        return Err(Error::RateLimited { retry_after_secs });
                    }
                    debug!(%path, attempt, wait_ms = wait.as_millis() as u64, "rate limited; waiting as asked");
                    tokio::time::sleep(wait).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                Err(Attempt::Retry(why)) if attempt >= self.config.attempts.max(1) => {
                    warn!(%path, attempt, "giving up: {why}");
                    return Err(Error::Network(why));
                }
                Err(Attempt::Retry(why)) => {
                    debug!(%path, attempt, backoff_ms = backoff.as_millis() as u64, "retrying: {why}");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: HttpMethod,
        url: &str,
        body: Option<&serde_json::Value>,
        validated: &mut Option<oneshot::Sender<()>>,
    ) -> std::result::Result<T, Attempt> {
        let json_body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Attempt::Final(Error::InvalidResponse(format!("request body: {e}"))))?;
        let request = HttpRequest {
            method,
            url: url.to_owned(),
            bearer_token: self.token.read().map(|t| t.clone()).unwrap_or_default(),
            json_body,
            user_agent: USER_AGENT,
            timeout: self.config.request_timeout,
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = tokio::time::timeout(self.config.request_timeout, self.transport.send(request))
            .await
            .map_err(|_| Attempt::Retry(format!("timed out after {} ms", self.config.request_timeout.as_millis())))?
            .map_err(|e| Attempt::Retry(e.to_string()))?;
        let status = response.status;
        if status == 429 {
            return Err(Attempt::RateLimited(retry_after(response.retry_after_secs)));
        }
        let success = (200..300).contains(&status);
        if success && let Some(validated) = validated.take() {
            let _ = validated.send(());
        }
        let bytes = response.body;
        self.update_required.store(status == 426, Ordering::Relaxed);
        if success {
            return serde_json::from_slice(&bytes).map_err(|e| Attempt::Final(Error::InvalidResponse(e.to_string())));
        }
        if (500..600).contains(&status) {
            return Err(Attempt::Retry(format!("server error {status}")));
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => (body.error.code, body.error.message),
            Err(_) => ("http_error".to_owned(), format!("HTTP {status}")),
        };
        Err(Attempt::Final(Error::from_cloud(status, code, message)))
    }
}

enum Attempt {
    Retry(String),
    /// A 429, with the wait the cloud asked for.
    RateLimited(Duration),
    Final(Error),
}

/// reqwest on rustls, where the build carries it.
#[cfg(feature = "rust-http")]
fn built_in_transport(config: &CloudConfig) -> Result<SharedTransport> {
    let transport = crate::http::ReqwestTransport::new(config.request_timeout)
        .map_err(|e| Error::Network(format!("HTTP client: {e}")))?;
    Ok(Arc::new(transport))
}

/// A build without `rust-http` (a phone's) sends through the app's HTTP stack only.
#[cfg(not(feature = "rust-http"))]
fn built_in_transport(_config: &CloudConfig) -> Result<SharedTransport> {
    Err(Error::NoTransport)
}

/// The wait a 429 asked for: its `Retry-After` in seconds, 1 s when absent (or in the HTTP-date
/// form; the cloud sends seconds), so a 429 is never retried at once.
fn retry_after(secs: Option<u64>) -> Duration {
    Duration::from_secs(secs.unwrap_or(1).max(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::{
        io::{Read, Write},
        net::TcpListener,
        sync::atomic::AtomicUsize,
        time::Instant,
    };

    use super::*;

    const ACCESS: &str = r#"{"member_id":"m","name":"M","mobile_access_enabled":true,"access_groups":["A"],"has_access_group":true,"status":"confirmed","managed":false,"unlock_method":"native","key_validity_secs":86400}"#;

    /// A cloud on loopback answering 429 with `Retry-After: retry_after` to the first `limited`
    /// requests (all, with `None`), then the member's access; counts the requests it saw.
    fn rate_limiting_cloud(limited: Option<usize>, retry_after: u64) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let answer = if limited.is_none_or(|limited| n < limited) {
                    let body = r#"{"error":{"code":"rate_limited","message":"too many requests"}}"#;
                    format!(
                        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{ACCESS}",
                        ACCESS.len()
                    )
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (url, seen)
    }

    fn client(url: &str, attempts: u32) -> CloudClient {
        let config = CloudConfig { attempts, backoff: Duration::from_millis(10), ..CloudConfig::new(url) };
        CloudClient::new(config, "ma_mem_test").unwrap()
    }

    #[tokio::test]
    async fn a_429_is_retried_after_the_wait_the_cloud_asked_for() {
        let (url, seen) = rate_limiting_cloud(Some(1), 1);
        let started = Instant::now();
        let access = client(&url, 4).access().await.unwrap();
        assert!(access.allows_key_button());
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() >= Duration::from_secs(1), "retried after {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_cloud_that_keeps_limiting_gets_bounded_spaced_retries_then_a_typed_error() {
        let (url, seen) = rate_limiting_cloud(None, 1);
        let started = Instant::now();
        let error = client(&url, 3).access().await.unwrap_err();
        assert_eq!(error, Error::RateLimited { retry_after_secs: 1 });
        assert_eq!(error.category(), crate::ErrorCategory::Network);
        assert_eq!(seen.load(Ordering::SeqCst), 3, "exactly the configured attempts");
        assert!(started.elapsed() >= Duration::from_secs(2), "each retry waited: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_long_retry_after_is_handed_to_the_app_at_once() {
        let (url, seen) = rate_limiting_cloud(None, 3600);
        let started = Instant::now();
        let error = client(&url, 4).access().await.unwrap_err();
        assert_eq!(error, Error::RateLimited { retry_after_secs: 3600 });
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

//! What operators see of each request: its id, its log line, its metrics, and the limits that
//! wrap it (the request timeout, the client's address behind a proxy); and the `/metrics`
//! listener's router.

use std::{net::IpAddr, sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use tracing::Instrument as _;

use super::AppState;
use crate::{
    Error,
    metrics::{self, Metrics},
    store::Store,
};

/// The request id header, read from the client (or the proxy in front) and always answered.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client's address as the rate limits see it (see [`crate::proxy`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientAddress(pub(super) IpAddr);

/// An incoming id is kept when it is 1 to 64 characters of letters, digits, `-`, `_` and `.`
/// (UUIDs, ULIDs, and the ids of common proxies): anything else could forge log structure or
/// carry a secret into the logs, and is replaced.
fn well_formed(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// 16 random bytes in hex; should the system's randomness fail, a process-wide counter (an id
/// only has to tell requests apart).
fn new_id() -> String {
    static FALLBACK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    crate::crypto::random_id::<16>()
        .unwrap_or_else(|_| format!("local-{}", FALLBACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed)))
}

/// Gives the request its id, answers it in `X-Request-Id`, and runs everything below in a
/// `request` span carrying it, so every log line of the request names it (detached handlers
/// too: `detach` keeps the span).
pub(super) async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| well_formed(id))
        .map_or_else(new_id, str::to_owned);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// One log line per request (method, route template, path, status, latency; never headers,
/// which carry tokens, nor bodies, which carry passwords and keys), and its metrics.
pub(super) async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let route = route.as_deref().unwrap_or(metrics::UNMATCHED);
    state.background.metrics.request(metrics::method_label(&method), route, status.as_u16(), elapsed);
    let micros = elapsed.as_micros();
    if status.is_server_error() {
        tracing::warn!(%method, route, %path, status = status.as_u16(), micros, "request");
    } else {
        tracing::info!(%method, route, %path, status = status.as_u16(), micros, "request");
    }
    response
}

/// Answers `503 timeout` when the rest of the request takes longer than the configured request
/// timeout. The handler is detached (see `detach`), so it runs to its end anyway: a write the
/// client was told timed out may still have happened, which every write route tolerates by
/// being idempotent or by its client retrying on a fresh read.
pub(super) async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::Timeout.into_response(),
    }
}

/// Finds the client's address: the TCP peer, or behind a trusted proxy its `X-Forwarded-For`.
pub(super) async fn client(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let address = crate::proxy::client_address(peer, request.headers(), &state.trusted_proxies);
        request.extensions_mut().insert(ClientAddress(address));
    }
    next.run(request).await
}

/// The metrics listener's router: `GET /metrics` only.
pub(crate) fn metrics_router(store: Store, metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let text = metrics.render(&store);
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text) }
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(super::well_formed("3f2a-request_1.b"));
        assert!(!super::well_formed(""));
        assert!(!super::well_formed(&"a".repeat(65)));
        assert!(!super::well_formed("a b"));
        assert!(!super::well_formed("x\"}{\"level\":\"ERROR"));
        assert_ne!(super::new_id(), super::new_id());
    }
}

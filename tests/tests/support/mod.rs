//! The end-to-end world: the embedded cloud with the demo organization, the simulated site, and
//! a phone's Key Button; plus a listener that records states and a proxy that fails on purpose.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use mobile_access::{
    KeyButton, KeyButtonState, SecureStorage, StateListener, Timeouts,
    ble::sim::{Position, RadioProfile, SimCentral},
};
use mobile_access_harness::world::{EmbeddedCloud, Site, key_button, new_phone_storage};
use mobile_access_protocol::Reason;
use mobile_access_reader::{Feedback, FeedbackEvent, Light};
use tokio::sync::{Notify, broadcast};

/// Index of the main entrance's reader (tap mode) in the demo site.
pub const MAIN: usize = 0;

/// Records every state the button reports, in order.
#[derive(Default)]
pub struct States {
    seen: Mutex<Vec<KeyButtonState>>,
    changed: Notify,
}

impl StateListener for States {
    fn on_state(&self, state: KeyButtonState) {
        self.seen.lock().unwrap().push(state);
        self.changed.notify_waiters();
    }
}

impl States {
    pub fn take(&self) -> Vec<KeyButtonState> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// Waits (on the paused clock, bounded) until `state` has been reported.
    pub async fn wait_for(&self, state: &KeyButtonState) {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let changed = self.changed.notified();
                if self.seen.lock().unwrap().contains(state) {
                    return;
                }
                changed.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never saw {state:?}"));
    }
}

pub struct World {
    pub cloud: EmbeddedCloud,
    pub site: Site,
    pub phone: Arc<SimCentral>,
    pub storage: Arc<dyn SecureStorage>,
    pub button: KeyButton,
    pub states: Arc<States>,
    token: String,
    timeouts: Timeouts,
}

impl World {
    pub async fn new(member: &str, at: Position) -> Self {
        Self::build(member, at, Timeouts::default(), Duration::ZERO).await
    }

    pub async fn with_timeouts(member: &str, at: Position, timeouts: Timeouts) -> Self {
        Self::build(member, at, timeouts, Duration::ZERO).await
    }

    pub async fn build(member: &str, at: Position, timeouts: Timeouts, reader_clock_ahead: Duration) -> Self {
        let cloud = EmbeddedCloud::start().unwrap();
        let site = Site::new(cloud.seed(), RadioProfile::ios(), 7, reader_clock_ahead).unwrap();
        let phone = site.phone(at);
        let storage = new_phone_storage();
        let token = cloud.member(member).unwrap().token.clone();
        let button = key_button(cloud.base_url(), &token, Arc::clone(&phone), Arc::clone(&storage), timeouts).unwrap();
        let states = Arc::new(States::default());
        button.add_listener(states.clone());
        Self { cloud, site, phone, storage, button, states, token, timeouts }
    }

    /// The same member's button again, on the same phone and storage (an app restart).
    pub fn button_again(&self) -> KeyButton {
        self.button_via(self.cloud.base_url())
    }

    /// The same member and phone, talking to the cloud through `base_url`, with its own storage
    /// when that is another address (a fresh install).
    pub fn button_via(&self, base_url: &str) -> KeyButton {
        let storage = if base_url == self.cloud.base_url() { Arc::clone(&self.storage) } else { new_phone_storage() };
        key_button(base_url, &self.token, Arc::clone(&self.phone), storage, self.timeouts).unwrap()
    }

    /// `PATCH /v1/admin/settings` as the demo organization's admin.
    pub async fn admin_settings(&self, patch: serde_json::Value) {
        let url = format!("{}/v1/admin/settings", self.cloud.base_url());
        let token = self.cloud.seed().admin_token.clone();
        // On a real-time thread: this runtime's clock is paused.
        let status = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
                http_client().patch(url).bearer_auth(token).json(&patch).send().await.unwrap().status()
            })
        })
        .join()
        .unwrap();
        assert!(status.is_success(), "settings patch: {status}");
    }
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The next light the reader shows, with its reason.
pub async fn next_light(feedback: &mut broadcast::Receiver<FeedbackEvent>) -> (Light, Reason) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), feedback.recv()).await.unwrap().unwrap();
        if let Feedback::Signal { light, reason, .. } = event.feedback {
            return (light, reason);
        }
    }
}

/// An address where nothing listens.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A reverse proxy on loopback that answers the first `failures` requests with 503 and
/// forwards everything else to the cloud: a cloud having a bad moment.
pub struct FlakyProxy {
    base_url: String,
    failed: Arc<AtomicU32>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FlakyProxy {
    pub fn start(upstream: &str, failures: u32) -> Self {
        let upstream = upstream.to_owned();
        let failed = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&failed);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = http_client();
                let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                    let (client, upstream, counter) = (client.clone(), upstream.clone(), Arc::clone(&counter));
                    async move { forward(client, &upstream, counter, failures, request).await }
                });
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Self { base_url: format!("http://{addr}"), failed, stop: Some(stop_tx) }
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn failures_served(&self) -> u32 {
        self.failed.load(Ordering::SeqCst)
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn forward(
    client: reqwest::Client,
    upstream: &str,
    failed: Arc<AtomicU32>,
    failures: u32,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if failed.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < failures).then_some(n + 1)).is_ok() {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let url = format!("{upstream}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut outgoing = client.request(parts.method.clone(), url).body(body.to_vec());
    for name in [axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE] {
        if let Some(value) = parts.headers.get(&name) {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = outgoing.send().await.unwrap();
    let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let bytes = answer.bytes().await.unwrap();
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], bytes.to_vec()).into_response()
}

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
    KeyButton, KeyButtonState, ListenerHandle, SecureStorage, StateListener, Timeouts,
    ble::sim::{Position, RadioProfile, SimCentral},
};
use mobile_access_harness::world::{EmbeddedCloud, Site, key_button, key_button_with_owner, new_phone_storage};
use mobile_access_protocol::Reason;
use mobile_access_reader::{Feedback, FeedbackEvent, Light};
use serde_json::{Value, json};
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

    /// Waits until `state` has been reported. Bounded generously on the paused clock: virtual time
    /// runs ahead while the phone waits on real HTTP (readers keep advertising).
    pub async fn wait_for(&self, state: &KeyButtonState) {
        tokio::time::timeout(Duration::from_secs(3600), async {
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
    /// Keeps `states` registered with `button`.
    pub listening: ListenerHandle,
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
        Self::assemble(member, at, timeouts, reader_clock_ahead, RadioProfile::ios()).await
    }

    /// `member`'s phone at `at` whose app holds an owner key (for doors that require owner
    /// verification).
    pub async fn with_owner_key(member: &str, at: Position, owner: mobile_access::SharedOwnerKey) -> Self {
        let mut world = Self::assemble(member, at, Timeouts::default(), Duration::ZERO, RadioProfile::ios()).await;
        world.listening.remove();
        world.button = key_button_with_owner(
            world.cloud.base_url(),
            &world.token,
            Arc::clone(&world.phone),
            Arc::clone(&world.storage),
            world.timeouts,
            Some(owner),
        )
        .unwrap();
        world.states.take();
        world.listening = world.button.add_listener(world.states.clone());
        world
    }

    /// The id of the demo site's door named `name`, as the administrator lists them.
    pub fn door_id(&self, name: &str) -> String {
        let doors = self.admin(reqwest::Method::GET, "/v1/admin/doors", None);
        let door = doors["items"].as_array().unwrap().iter().find(|d| d["name"] == name).unwrap();
        door["id"].as_str().unwrap().to_owned()
    }

    /// `member`'s phone at `at`, on a radio running `profile`.
    pub async fn on_radio(profile: RadioProfile, member: &str, at: Position) -> Self {
        Self::assemble(member, at, Timeouts::default(), Duration::ZERO, profile).await
    }

    async fn assemble(
        member: &str,
        at: Position,
        timeouts: Timeouts,
        reader_clock_ahead: Duration,
        profile: RadioProfile,
    ) -> Self {
        let cloud = EmbeddedCloud::start().unwrap();
        let site = Site::new(cloud.seed(), profile, 7, reader_clock_ahead).unwrap();
        let phone = site.phone(at);
        let storage = new_phone_storage();
        let token = cloud.member(member).unwrap().token.clone();
        let button = key_button(cloud.base_url(), &token, Arc::clone(&phone), Arc::clone(&storage), timeouts).unwrap();
        let states = Arc::new(States::default());
        let listening = button.add_listener(states.clone());
        Self { cloud, site, phone, storage, button, states, listening, token, timeouts }
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
        self.admin(reqwest::Method::PATCH, "/v1/admin/settings", Some(patch));
    }

    /// An admin call to the cloud, on a real-time thread (this runtime's clock is paused).
    pub fn admin(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let url = format!("{}{path}", self.cloud.base_url());
        let token = self.cloud.seed().admin_token.clone();
        let (status, text) = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
                let mut request = http_client().request(method, url).bearer_auth(token);
                if let Some(body) = body {
                    request = request.json(&body);
                }
                let response = request.send().await.unwrap();
                (response.status(), response.text().await.unwrap())
            })
        })
        .join()
        .unwrap();
        assert!(status.is_success(), "admin call: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP call on a runtime of its own (the test's clock is paused).
pub fn http(method: &str, url: String, token: &str, body: Option<Value>) -> Value {
    let token = token.to_owned();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    std::thread::spawn(move || {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let mut request = client.request(method, url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.unwrap()
        })
    })
    .join()
    .unwrap()
}

/// The workspace platform removes `external_id`'s last access group.
pub fn remove_groups(cloud: &EmbeddedCloud, external_id: &str) {
    let member = cloud.member(external_id).unwrap();
    let body = json!({"members": [{"external_id": external_id, "name": member.name,
        "email": format!("{}@demo.example", external_id.replace('_', ".")), "access_groups": []}]});
    let report = http(
        "PUT",
        format!("{}/v1/integration/members", cloud.base_url()),
        &cloud.seed().integration_token,
        Some(body),
    );
    assert_eq!(report["updated"], 1);
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

/// A reverse proxy on loopback in front of the cloud, with bad moments on demand: requests it
/// fails (503 without forwarding) and answers it loses (forwarded, then 503 to the phone).
pub struct FlakyProxy {
    base_url: String,
    failed: Arc<AtomicU32>,
    fail: Arc<AtomicU32>,
    lose: Arc<AtomicU32>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FlakyProxy {
    pub fn start(upstream: &str, failures: u32) -> Self {
        let upstream = upstream.to_owned();
        let failed = Arc::new(AtomicU32::new(0));
        let fail = Arc::new(AtomicU32::new(failures));
        let lose = Arc::new(AtomicU32::new(0));
        let budgets = Budgets { failed: Arc::clone(&failed), fail: Arc::clone(&fail), lose: Arc::clone(&lose) };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = http_client();
                let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                    let (client, upstream, budgets) = (client.clone(), upstream.clone(), budgets.clone());
                    async move { forward(client, &upstream, &budgets, request).await }
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
        Self { base_url: format!("http://{addr}"), failed, fail, lose, stop: Some(stop_tx) }
    }

    /// The next `n` requests get 503 without reaching the cloud.
    pub fn fail_next(&self, n: u32) {
        self.fail.store(n, Ordering::SeqCst);
    }

    /// The next `n` requests reach the cloud, but their answers are lost (503 to the phone).
    pub fn lose_next(&self, n: u32) {
        self.lose.store(n, Ordering::SeqCst);
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

#[derive(Clone)]
struct Budgets {
    failed: Arc<AtomicU32>,
    fail: Arc<AtomicU32>,
    lose: Arc<AtomicU32>,
}

fn take(budget: &AtomicU32) -> bool {
    budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

async fn forward(
    client: reqwest::Client,
    upstream: &str,
    budgets: &Budgets,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if take(&budgets.fail) {
        budgets.failed.fetch_add(1, Ordering::SeqCst);
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
    if take(&budgets.lose) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "answer lost").into_response();
    }
    let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let bytes = answer.bytes().await.unwrap();
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], bytes.to_vec()).into_response()
}

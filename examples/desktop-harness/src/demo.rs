//! The demo: what a member experiences, step by step, against the embedded cloud and virtual
//! readers, each step checked. Timings are simulated radio time (tokio's paused clock), except the
//! cloud's, which is wall time on this machine.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use mobile_access::{
    AccountConfig, CloudConfig, Error as SdkError, HandsFreeConfig, KeyButton, KeyButtonState, ListenerHandle,
    PRIMARY_ACCOUNT, Screen, SharedOwnerKey, SoftwareOwnerKey, StateListener, TapOutcome, TapReport, Timeouts,
    UnlockPath, WalletDevice, WalletPasses,
    ble::{
        AdapterState,
        sim::{Position, RadioProfile, SimCentral},
    },
};
use mobile_access_protocol::Reason;
use mobile_access_reader::{Feedback, Light, ReaderLink, Sound};
use serde::Serialize;
use tokio::{
    sync::{Notify, mpsc},
    time::Instant,
};

use crate::{
    wallet::Wallet,
    world::{
        AT_MAIN_ENTRANCE, AT_MEETING_ROOM, AT_SERVER_ROOM, EmbeddedCloud, NEAR_MAIN_ENTRANCE, Result, Site,
        WATCH_ON_MAIN_ENTRANCE, WATCH_ON_MEETING_ROOM, key_button_with_owner, new_phone_storage, walk,
    },
};

/// Something that happened during a step.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Simulated milliseconds since the step began.
    pub at_ms: f64,
    /// `phone`, `reader` or `cloud`.
    pub source: &'static str,
    /// What happened.
    pub text: String,
}

/// One step of the demo and whether it behaved as it should.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What the step shows.
    pub title: String,
    /// What should happen.
    pub expected: String,
    /// What did happen.
    pub observed: String,
    /// True if the two agree.
    pub ok: bool,
    /// Simulated time the step took, ms.
    pub sim_ms: f64,
    /// What the phone, the reader and the cloud did, in order.
    pub events: Vec<Event>,
}

/// Receives steps as they finish (the terminal printer shows them live).
pub trait Output {
    /// A step started.
    fn begin(&mut self, title: &str);
    /// A step ended.
    fn end(&mut self, step: &Step);
}

/// Keeps the simulated clock still while the phone waits on the (real-time) network.
///
/// A paused tokio clock jumps to the next timer whenever the runtime is idle, and the readers'
/// advertising timers are always pending: without this, seconds of simulated time would pass
/// during a few milliseconds of HTTP, and the demo's timeline would show them.
#[derive(Default)]
struct ClockHold {
    /// The phone's state says it is on the network (validating, downloading).
    phone: AtomicBool,
    /// Network calls the demo itself is waiting on ([`ClockHold::hold`]).
    calls: AtomicUsize,
    changed: Notify,
}

impl ClockHold {
    fn set(&self, network: bool) {
        self.phone.store(network, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn held(&self) -> bool {
        self.phone.load(Ordering::SeqCst) || self.calls.load(Ordering::SeqCst) > 0
    }

    /// Runs forever: spins (never idle) while the network is in use, sleeps otherwise.
    async fn run(self: Arc<Self>) {
        loop {
            let changed = self.changed.notified();
            if self.held() {
                tokio::task::yield_now().await;
            } else {
                changed.await;
            }
        }
    }

    /// Runs `work`, a network-only call, with the clock held (whatever the phone's state says
    /// meanwhile).
    async fn hold<T>(&self, work: impl Future<Output = T>) -> T {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        let result = work.await;
        self.calls.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_waiters();
        result
    }
}

struct Recorder {
    events: mpsc::UnboundedSender<(Instant, &'static str, String)>,
    clock: Arc<ClockHold>,
}

impl StateListener for Recorder {
    fn on_state(&self, state: KeyButtonState) {
        self.clock.set(matches!(state, KeyButtonState::Validating | KeyButtonState::DownloadingKey));
        let hint = state.hint();
        let name = match &state {
            KeyButtonState::Denied(reason) => format!("Denied({reason:?})"),
            KeyButtonState::Failed(_) => "Failed".to_owned(),
            other => format!("{other:?}"),
        };
        let text = if hint.is_empty() { name } else { format!("{name}: {hint}") };
        let _ = self.events.send((Instant::now(), "phone", text));
    }
}

fn describe(feedback: Feedback) -> String {
    match feedback {
        Feedback::Signal { light, sound, reason } => {
            let light = if light == Light::Green { "green light" } else { "red light" };
            let sound = if sound == Sound::Success { "success sound" } else { "error sound" };
            format!("{light}, {sound} ({reason})")
        }
        Feedback::RelayOpened => "relay opened: door unlocked".to_owned(),
        Feedback::RelayClosed => "relay closed".to_owned(),
    }
}

struct Demo<'o> {
    cloud: EmbeddedCloud,
    clock: Arc<ClockHold>,
    site: Site,
    events_tx: mpsc::UnboundedSender<(Instant, &'static str, String)>,
    events_rx: mpsc::UnboundedReceiver<(Instant, &'static str, String)>,
    /// Keeps the recorders of every button made registered.
    listening: std::sync::Mutex<Vec<ListenerHandle>>,
    output: &'o mut dyn Output,
    steps: Vec<Step>,
}

impl Demo<'_> {
    fn button(&self, member: &str, phone: Arc<SimCentral>) -> Result<KeyButton> {
        self.button_with_owner(member, phone, None)
    }

    /// A member's button whose app holds `owner`, the phone's owner key.
    fn button_with_owner(
        &self,
        member: &str,
        phone: Arc<SimCentral>,
        owner: Option<SharedOwnerKey>,
    ) -> Result<KeyButton> {
        let token = &self.cloud.member(member)?.token;
        let storage = new_phone_storage();
        let button = key_button_with_owner(self.cloud.base_url(), token, phone, storage, Timeouts::default(), owner)?;
        let handle =
            button.add_listener(Arc::new(Recorder { events: self.events_tx.clone(), clock: Arc::clone(&self.clock) }));
        self.listening.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(handle);
        Ok(button)
    }

    fn note(&self, source: &'static str, text: impl Into<String>) {
        let _ = self.events_tx.send((Instant::now(), source, text.into()));
    }

    /// Runs one step: `body` returns (observed, ok).
    async fn step(&mut self, title: &str, expected: &str, body: impl AsyncFnOnce(&Self) -> (String, bool)) {
        self.output.begin(title);
        while self.events_rx.try_recv().is_ok() {}
        let started = Instant::now();
        let (observed, ok) = body(self).await;
        // Let the door finish what it does (relay open time) so its feedback shows.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let mut events = Vec::new();
        while let Ok((at, source, text)) = self.events_rx.try_recv() {
            let at_ms = at.saturating_duration_since(started).as_secs_f64() * 1e3;
            events.push(Event { at_ms, source, text });
        }
        let sim_ms = events.iter().map(|e| e.at_ms).fold(0.0, f64::max);
        let step = Step { title: title.to_owned(), expected: expected.to_owned(), observed, ok, sim_ms, events };
        self.output.end(&step);
        self.steps.push(step);
    }
}

fn report_line(report: &TapReport) -> String {
    let Some(exchange) = report.exchange else {
        return format!(
            "{:?} at {} (remote unlock over the network, {} HTTP request(s), {:.0} ms wall)",
            report.outcome,
            report.door,
            report.http_requests,
            report.timings.exchange.as_secs_f64() * 1e3
        );
    };
    format!(
        "{:?} at {} ({exchange:?} exchange, {} HTTP request(s); key {:.0} ms wall, radio {:.0} ms simulated)",
        report.outcome,
        report.door,
        report.http_requests,
        report.timings.key.as_secs_f64() * 1e3,
        report.timings.radio().as_secs_f64() * 1e3
    )
}

/// Runs the whole demo on a paused clock; returns every step. `profile` picks the phone's radio.
pub fn run(profile: RadioProfile, output: &mut dyn Output) -> Result<Vec<Step>> {
    let cloud = EmbeddedCloud::start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| crate::world::Error::Demo(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        let site = Site::new(cloud.seed(), profile, 2026, Duration::ZERO)?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        for reader in &site.readers {
            show_feedback(reader, &events_tx);
        }
        let clock = Arc::new(ClockHold::default());
        tokio::spawn(Arc::clone(&clock).run());
        let mut demo =
            Demo { cloud, clock, site, events_tx, events_rx, listening: Default::default(), output, steps: Vec::new() };
        script(&mut demo).await?;
        wallet_script(&mut demo).await?;
        organizations_script(&mut demo).await?;
        Ok(demo.steps)
    })
}

/// Shows `reader`'s lights, sounds and relay as the demo's events.
fn show_feedback(
    reader: &mobile_access_reader::VirtualReader,
    events: &mpsc::UnboundedSender<(Instant, &'static str, String)>,
) {
    let mut feedback = reader.feedback();
    let events = events.clone();
    tokio::spawn(async move {
        while let Ok(event) = feedback.recv().await {
            let _ = events.send((Instant::now(), "reader", describe(event.feedback)));
        }
    });
}

/// Where the second operator's floor starts: its doors laid out as the first's, one floor up.
const UPSTAIRS: Position = Position::new(0.0, 40.0);

/// Ada also rents a desk from a second operator upstairs, with its own access cloud: the app
/// signs her in there too, and one Key Button opens the nearest door of either.
async fn organizations_script(demo: &mut Demo<'_>) -> Result<()> {
    let upstairs = EmbeddedCloud::start()?;
    let first = demo.site.add_organization(upstairs.seed(), UPSTAIRS, Duration::ZERO)?;
    for reader in demo.site.readers.iter().skip(first) {
        show_feedback(reader, &demo.events_tx);
    }
    let phone = demo.site.phone(Position::new(UPSTAIRS.x + MEETING_ROOM_X - 1.5, UPSTAIRS.y));
    let ada = demo.button("ada_member", Arc::clone(&phone))?;
    let member_token = upstairs.member("ada_member")?.token.clone();
    ada.add_account("upstairs", AccountConfig { cloud: CloudConfig::new(upstairs.base_url()), member_token })?;
    demo.step(
        "Ada also rents a desk from a second operator upstairs, with its own cloud: the app signs her in there too; she taps at its meeting room, then downstairs at the first's",
        "one Key Button opens the nearest door each time, with that operator's key; each cloud hears only of its own door",
        async move |demo| {
            if let Err(error) = demo.clock.hold(ada.refresh()).await {
                return (error.to_string(), false);
            }
            let accounts: Vec<String> =
                ada.accounts().iter().map(|a| format!("{} ({} doors)", a.id, a.doors)).collect();
            demo.note("phone", format!("accounts: {}", accounts.join(", ")));
            let upstairs_tap = ada.tap().await;
            demo.note("phone", "Ada goes downstairs to the first operator's meeting room");
            phone.move_to(AT_MEETING_ROOM);
            let downstairs_tap = ada.tap().await;
            let uploaded = demo.clock.hold(ada.upload_journal()).await;
            match (upstairs_tap, downstairs_tap, uploaded) {
                (Ok(up), Ok(down), Ok(uploaded)) => {
                    let ok = up.outcome == TapOutcome::Unlocked
                        && down.outcome == TapOutcome::Unlocked
                        && up.account == "upstairs"
                        && down.account == PRIMARY_ACCOUNT
                        && uploaded.accepted == 2;
                    (
                        format!(
                            "upstairs: {} with the {} key; downstairs: {} with the {} key; {} results uploaded, each to its own cloud",
                            report_line(&up),
                            up.account,
                            report_line(&down),
                            down.account,
                            uploaded.accepted
                        ),
                        ok,
                    )
                }
                (up, down, uploaded) => (format!("{up:?}; {down:?}; {uploaded:?}"), false),
            }
        },
    )
    .await;
    drop(upstairs);
    Ok(())
}

async fn script(demo: &mut Demo<'_>) -> Result<()> {
    let ada_phone = demo.site.phone(NEAR_MAIN_ENTRANCE);
    let ada = Arc::new(demo.button("ada_member", Arc::clone(&ada_phone))?);

    let button = Arc::clone(&ada);
    demo.step(
        "Ada opens the app: the Key Button shows on the home screen only",
        "hidden on another screen, shown (Ready) on the home screen",
        async move |demo| {
            button.set_screen(Screen::Other);
            let access = demo.clock.hold(button.refresh_access()).await;
            let hidden = button.state() == KeyButtonState::Hidden;
            button.set_screen(Screen::Home);
            let shown = button.state() == KeyButtonState::Ready;
            let groups = access.map(|a| a.access_groups.join(", ")).unwrap_or_else(|e| e.to_string());
            (format!("access groups: {groups}; hidden elsewhere: {hidden}; shown at home: {shown}"), hidden && shown)
        },
    )
    .await;

    let (button, phone) = (Arc::clone(&ada), Arc::clone(&ada_phone));
    demo.step(
        "First tap, three metres from the main entrance (a tap-mode Reader Pro 2.1)",
        "validate + download in one request, search, \"tap required\", the phone comes close, green light, door open",
        async move |demo| {
            let walk = async {
                loop {
                    if button.state() == KeyButtonState::TapRequired {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(Duration::from_millis(1500)).await;
                demo.note("phone", "Ada holds her phone against the reader");
                phone.move_to(AT_MAIN_ENTRANCE);
            };
            let (result, ()) = tokio::join!(button.tap(), walk);
            match result {
                Ok(report) => {
                    let ok = report.outcome == TapOutcome::Unlocked && report.http_requests == 1;
                    (report_line(&report), ok)
                }
                Err(error) => (error.to_string(), false),
            }
        },
    )
    .await;

    demo.cloud.stop()?;
    demo.note("cloud", "the access cloud goes offline");
    let button = Arc::clone(&ada);
    demo.step(
        "Second tap with the cloud down",
        "unlocked with the cached key, fast exchange, zero HTTP requests",
        async move |_| match button.tap().await {
            Ok(report) => {
                let ok = report.outcome == TapOutcome::Unlocked && report.http_requests == 0;
                (report_line(&report), ok)
            }
            Err(error) => (error.to_string(), false),
        },
    )
    .await;
    demo.cloud.restart()?;

    let (button, phone) = (Arc::clone(&ada), Arc::clone(&ada_phone));
    demo.step(
        "Ada walks to the meeting room (a range-mode reader) and taps from 1.5 m",
        "unlocked without touching the reader",
        async move |_| {
            phone.move_to(AT_MEETING_ROOM);
            match button.tap().await {
                Ok(report) => {
                    let ok = report.outcome == TapOutcome::Unlocked && report.door == "Meeting room";
                    (report_line(&report), ok)
                }
                Err(error) => (error.to_string(), false),
            }
        },
    )
    .await;

    let nick = demo.button("nick_nogroup", demo.site.phone(AT_MAIN_ENTRANCE))?;
    demo.step("Nick has a key fob but no access group", "no Key Button on his home screen", async move |demo| {
        nick.set_screen(Screen::Home);
        let access = demo.clock.hold(nick.refresh_access()).await;
        let hidden = !nick.is_visible() && nick.state() == KeyButtonState::Hidden;
        let groups = access.map(|a| a.access_groups.len()).unwrap_or_default();
        (format!("{groups} access group(s); button hidden: {hidden}"), hidden)
    })
    .await;

    let una = demo.button("una_unconfirmed", demo.site.phone(AT_MAIN_ENTRANCE))?;
    demo.step(
        "Una was never confirmed for the branded app",
        "a clear refusal before anything reaches the door",
        async move |demo| {
            let attempts = |demo: &Demo<'_>| demo.site.readers.iter().map(|r| r.audit().len()).sum::<usize>();
            let before = attempts(demo);
            let result = una.tap().await;
            let quiet = attempts(demo) == before;
            match result {
                Err(SdkError::NotConfirmed) => (SdkError::NotConfirmed.to_string(), quiet),
                Err(other) => (other.to_string(), false),
                Ok(report) => (report_line(&report), false),
            }
        },
    )
    .await;

    let (button, phone) = (Arc::clone(&ada), Arc::clone(&ada_phone));
    demo.step(
        "Someone pried the main entrance reader off the wall; Ada taps",
        "red light and error sound; the phone says the reader refused",
        async move |demo| {
            let Ok(reader) = demo.site.reader(0) else { return ("no reader".to_owned(), false) };
            reader.with(|r| r.trip_tamper());
            demo.note("reader", "tamper switch tripped");
            phone.move_to(AT_MAIN_ENTRANCE);
            let result = button.tap().await;
            reader.with(|r| r.reset_tamper());
            match result {
                Err(error @ SdkError::ReaderRefused(Reason::Tampered)) => {
                    let red = reader
                        .audit()
                        .last()
                        .is_some_and(|e| e.outcome == mobile_access_reader::Outcome::Refused(Reason::Tampered));
                    (error.to_string(), red)
                }
                Err(other) => (other.to_string(), false),
                Ok(report) => (report_line(&report), false),
            }
        },
    )
    .await;

    // Her app again (the cloud came back on another address after the outage above).
    let phone = Arc::clone(&ada_phone);
    let button = demo.button("ada_member", Arc::clone(&phone))?;
    demo.step(
        "The operator allows remote unlock; Ada, at home with Bluetooth off, opens the meeting room from the app",
        "the cloud tells the meeting room's online reader at once: green light, door open, the report says \"remote\"",
        async move |demo| {
            let (Ok(reader), Some(provisioning)) = (demo.site.reader(MEETING_ROOM), demo.site.provisioning.get(MEETING_ROOM))
            else {
                return ("no meeting room reader".to_owned(), false);
            };
            let link = match ReaderLink::new(demo.cloud.base_url(), provisioning) {
                Ok(link) => link,
                Err(error) => return (error.to_string(), false),
            };
            phone.move_to(AT_HOME);
            phone.set_adapter_state(AdapterState::PoweredOff);
            demo.note("phone", "Ada is at home; Bluetooth is off");
            let outcome = tokio::select! {
                () = link.serve_commands(reader) => ("the reader's command loop ended".to_owned(), false),
                outcome = async {
                    if let Err(error) = admin_settings(demo, serde_json::json!({"remote_unlock": "allowed"})) {
                        return (error, false);
                    }
                    demo.note("cloud", "remote unlock allowed for the organization");
                    let Some(door) = demo.clock.hold(online_door(&button, "Meeting room")).await else {
                        return ("the meeting room's reader never came online".to_owned(), false);
                    };
                    let asked = std::time::Instant::now();
                    let result = demo.clock.hold(button.unlock_remotely(&door)).await;
                    let took = asked.elapsed();
                    match result {
                        Ok(report) => {
                            let ok = report.outcome == TapOutcome::Unlocked
                                && report.path == UnlockPath::Remote
                                && took < Duration::from_secs(1);
                            (format!("{}; the member heard back {:.0} ms (wall) after asking", report_line(&report), took.as_secs_f64() * 1e3), ok)
                        }
                        Err(error) => (error.to_string(), false),
                    }
                } => outcome,
            };
            phone.set_adapter_state(AdapterState::PoweredOn);
            outcome
        },
    )
    .await;

    let owner = Arc::new(SoftwareOwnerKey::generate(Duration::from_secs(30)).map_err(crate::world::Error::from)?);
    let grace = demo.button_with_owner("grace_staff", demo.site.phone(AT_SERVER_ROOM), Some(owner.clone()))?;
    demo.step(
        "The operator makes the server room require owner verification; Grace taps there, cancels the prompt, then verifies",
        "the reader learns it from its poll; declined: \"verify it's you\", nothing reaches the door; verified: a full \
         exchange signed by her owner key, green light, door open",
        async move |demo| {
            let (Ok(reader), Some(provisioning)) = (demo.site.reader(SERVER_ROOM), demo.site.provisioning.get(SERVER_ROOM))
            else {
                return ("no server room reader".to_owned(), false);
            };
            let door = match door_id(demo, "Server room") {
                Ok(door) => door,
                Err(error) => return (error, false),
            };
            let patch = serde_json::json!({"owner_verification": true});
            if let Err(error) = admin_call(demo, reqwest::Method::PATCH, &format!("/v1/admin/doors/{door}"), Some(patch)) {
                return (error, false);
            }
            let polled = match ReaderLink::new(demo.cloud.base_url(), provisioning) {
                Ok(link) => demo.clock.hold(link.poll(reader)).await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = polled {
                return (error, false);
            }
            demo.note("reader", "server room: owner verification required (from its poll)");
            let attempts = reader.audit().len();
            owner.set_owner_verifies(false);
            demo.note("phone", "Grace cancels the Face ID prompt");
            let declined = grace.tap().await;
            let untouched = reader.audit().len() == attempts;
            owner.set_owner_verifies(true);
            demo.note("phone", "Grace taps again and verifies with Face ID");
            match (declined, grace.tap().await) {
                (Err(SdkError::OwnerNotVerified), Ok(report)) => {
                    let ok = untouched
                        && report.outcome == TapOutcome::Unlocked
                        && report.exchange == Some(mobile_access::ExchangeKind::Full)
                        && owner.prompts() == 2;
                    (format!("declined: \"{}\"; then {}", SdkError::OwnerNotVerified.sentence(), report_line(&report)), ok)
                }
                (declined, verified) => (format!("declined: {declined:?}; verified: {verified:?}"), false),
            }
        },
    )
    .await;

    let far = Position::new(MEETING_ROOM_X - 10.0, 0.8);
    let phone = demo.site.phone(far);
    let ada = demo.button("ada_member", Arc::clone(&phone))?;
    demo.step(
        "Hands-free: the operator allows it at the meeting room and Ada turns it on; she walks past the door, then walks up to it and waits",
        "walking past opens nothing; stopping at the door opens it once, with no tap, however long she stays",
        async move |demo| {
            let opened = |demo: &Demo<'_>| {
                demo.site.reader(MEETING_ROOM).map(|r| r.audit().entries().filter(|e| e.outcome == mobile_access_reader::Outcome::Granted).count()).unwrap_or(0)
            };
            let before = opened(demo);
            let door = match door_id(demo, "Meeting room") {
                Ok(door) => door,
                Err(error) => return (error, false),
            };
            let allowed = admin_settings(demo, serde_json::json!({"hands_free": true})).and_then(|()| {
                let patch = serde_json::json!({"hands_free": true});
                admin_call(demo, reqwest::Method::PATCH, &format!("/v1/admin/doors/{door}"), Some(patch)).map(drop)
            });
            if let Err(error) = allowed {
                return (error, false);
            }
            if let Err(error) = demo.clock.hold(ada.refresh()).await {
                return (error.to_string(), false);
            }
            if let Err(error) = ada.set_hands_free(true) {
                return (error.to_string(), false);
            }
            ada.set_phone_unlocked(true);
            demo.note("phone", "hands-free on; the phone is unlocked in Ada's hand");
            let walks = async {
                let past = Position::new(MEETING_ROOM_X + 10.0, 0.8);
                demo.note("phone", "Ada walks past the meeting room door, 0.8 m from its reader");
                walk(&phone, far, past, 1.4).await;
                let after_walk_past = opened(demo);
                demo.note("phone", "Ada walks up to the door and waits there");
                walk(&phone, past, Position::new(MEETING_ROOM_X + 1.0, 0.0), 1.4).await;
                tokio::time::sleep(Duration::from_secs(15)).await;
                after_walk_past
            };
            let after_walk_past = tokio::select! {
                result = ada.run_hands_free(HandsFreeConfig::default()) => {
                    return (format!("hands-free ended early: {result:?}"), false);
                }
                after = walks => after,
            };
            let total = opened(demo) - before;
            let ok = after_walk_past == before && total == 1;
            (format!("openings after walking past: {}; after stopping at the door for 15 s: {total}", after_walk_past - before), ok)
        },
    )
    .await;
    Ok(())
}

/// Where the meeting room's reader hangs, along the demo's corridor (metres).
const MEETING_ROOM_X: f64 = 12.0;

/// The server room's tap reader in the demo site (Staff only).
const SERVER_ROOM: usize = 2;

/// The meeting room's range reader in the demo site.
const MEETING_ROOM: usize = 1;
/// Out of radio range of every reader.
const AT_HOME: Position = Position::new(5_000.0, 0.0);

/// The id of the member's door called `name` once the cloud lists its reader online (it comes
/// online with its first long poll), within a few seconds.
async fn online_door(button: &KeyButton, name: &str) -> Option<String> {
    for _ in 0..100 {
        if let Ok(listed) = button.remote_doors().await
            && let Some(door) = listed.doors.into_iter().find(|d| d.name == name && d.reader_online)
        {
            return Some(door.id);
        }
        // Real time, as the network's: the simulated clock is held while the phone uses it.
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The id of the demo organization's door named `name`, as its administrator lists them.
fn door_id(demo: &Demo<'_>, name: &str) -> std::result::Result<String, String> {
    let doors = admin_call(demo, reqwest::Method::GET, "/v1/admin/doors", None)?;
    let items = doors.get("items").and_then(serde_json::Value::as_array);
    items
        .and_then(|doors| doors.iter().find(|d| d["name"] == name))
        .and_then(|door| door["id"].as_str().map(str::to_owned))
        .ok_or_else(|| format!("no door named {name} in the cloud"))
}

/// `PATCH /v1/admin/settings` as the demo organization's administrator.
fn admin_settings(demo: &Demo<'_>, patch: serde_json::Value) -> std::result::Result<(), String> {
    admin_call(demo, reqwest::Method::PATCH, "/v1/admin/settings", Some(patch)).map(drop)
}

/// A call as the demo organization's administrator, on a thread of its own (the demo's runtime
/// has no network driver: its clock is the simulation's). Its JSON answer (null when empty).
fn admin_call(
    demo: &Demo<'_>,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> std::result::Result<serde_json::Value, String> {
    let url = format!("{}{path}", demo.cloud.base_url());
    let token = demo.cloud.seed().admin_token.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let mut request = reqwest::Client::new().request(method, &url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let text = response.text().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("{url}: {status}"));
            }
            Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
        })
    })
    .join()
    .map_err(|_| "the administrator's call panicked".to_owned())?
}

/// Grace adds a wallet pass herself and opens the main entrance with her watch, no app.
async fn wallet_script(demo: &mut Demo<'_>) -> Result<()> {
    let grace = demo.cloud.member("grace_staff")?;
    let passes = WalletPasses::new(CloudConfig::new(demo.cloud.base_url()), grace.token.clone())?;
    let wallet = Arc::new(Mutex::new(Wallet::new("iphone-grace-1", Some("watch-grace-1"), AT_MAIN_ENTRANCE)?));

    let shared = Arc::clone(&wallet);
    demo.step(
        "Grace (iOS 17.4, app 46.2) checks eligibility and adds a wallet pass, her watch unlocked",
        "eligible; the pass lands on her iPhone and watch and opens the doors with a Reader Pro 2.1",
        async move |demo| {
            let device = WalletDevice { ios_version: "17.4".to_owned(), app_version: "46.2".to_owned() };
            let eligibility = match demo.clock.hold(passes.eligibility(&device)).await {
                Ok(eligibility) => eligibility,
                Err(error) => return (error.to_string(), false),
            };
            demo.note("cloud", format!("eligible: {} (unmet: {:?})", eligibility.eligible, eligibility.unmet));
            let request = lock(&shared).pass_request(&device, true);
            let added = match demo.clock.hold(passes.add(&request)).await {
                Ok(added) => added,
                Err(error) => return (error.to_string(), false),
            };
            demo.note("cloud", format!("pass {} recorded on {:?}", added.pass.id, added.pass.devices));
            let installed = lock(&shared).install(&added.provisioning, request.watch_unlocked);
            let on_watch = lock(&shared).watch.as_ref().is_some_and(|w| w.has_pass());
            demo.note("phone", format!("wallet: pass added (watch: {})", added.watch));
            let ok = eligibility.eligible && installed.is_ok() && on_watch && added.pass.locks.len() == 2;
            (
                format!(
                    "pass opens {} lock(s); on the watch: {on_watch}; watch {}",
                    added.pass.locks.len(),
                    added.watch
                ),
                ok,
            )
        },
    )
    .await;

    let shared = Arc::clone(&wallet);
    demo.step(
        "Grace taps her watch on the main entrance's Reader Pro 2.1 (no app running)",
        "NFC tap: green light, the door opens",
        async move |demo| {
            let Ok(reader) = demo.site.reader(0) else { return ("no reader".to_owned(), false) };
            let result = {
                let mut wallet = lock(&shared);
                let Some(watch) = wallet.watch.as_mut() else { return ("no watch".to_owned(), false) };
                watch.position = WATCH_ON_MAIN_ENTRANCE;
                demo.note("phone", "watch held against the main entrance (NFC)");
                watch.tap(reader)
            };
            match result {
                Some(tap) => (format!("NFC tap: {}", tap.reason), tap.granted() && reader.relay_is_open()),
                None => ("the reader never noticed the watch".to_owned(), false),
            }
        },
    )
    .await;

    let shared = Arc::clone(&wallet);
    demo.step(
        "Grace taps the same watch on the meeting room's Reader Pro 2",
        "red light: this reader does not accept wallet passes",
        async move |demo| {
            let Ok(reader) = demo.site.reader(1) else { return ("no reader".to_owned(), false) };
            let result = {
                let mut wallet = lock(&shared);
                let Some(watch) = wallet.watch.as_mut() else { return ("no watch".to_owned(), false) };
                watch.position = WATCH_ON_MEETING_ROOM;
                demo.note("phone", "watch held against the meeting room reader (NFC)");
                watch.tap(reader)
            };
            match result {
                Some(tap) => (format!("NFC tap: {}", tap.reason), tap.reason == Reason::PassNotAccepted),
                None => ("the reader never noticed the watch".to_owned(), false),
            }
        },
    )
    .await;
    Ok(())
}

fn lock(wallet: &Mutex<Wallet>) -> std::sync::MutexGuard<'_, Wallet> {
    wallet.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Shared with the tests: did every step behave?
pub fn all_ok(steps: &[Step]) -> bool {
    !steps.is_empty() && steps.iter().all(|s| s.ok)
}

/// For callers that only need the steps, not live output.
#[derive(Debug, Default)]
pub struct Quiet;

impl Output for Quiet {
    fn begin(&mut self, _title: &str) {}
    fn end(&mut self, _step: &Step) {}
}

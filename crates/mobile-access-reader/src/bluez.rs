//! The reader on a real Linux Bluetooth stack: BlueZ's `bluetoothd`, driven over D-Bus through
//! `bluer` (BlueZ's official Rust binding). The same [`Reader`] logic as the virtual reader, with
//! BlueZ as the radio:
//!
//! - **Advertising.** The protocol's advertisement as BlueZ sends it in legacy advertising: the
//!   16-bit service UUID list (what phones' filtered scans match: BlueZ and iOS match the UUID
//!   *list*, not service data) and the 19-byte service data. BlueZ adds its own Flags, so we
//!   give it the other 27 bytes and the whole stays within legacy advertising's 31. BlueZ has no
//!   call to change a running advertisement, so a rotated nonce is advertised by registering the
//!   new advertisement and dropping the old one.
//! - **GATT.** One primary service with the request characteristic (written with or without
//!   response) and the response characteristic (notified). Writes are handed to one task in the
//!   order BlueZ delivered them, reassembled per phone (by its address), answered with
//!   notifications fragmented to the phone's ATT MTU.
//! - **RSSI.** BlueZ gives a GATT server no measurement of the connected phone's signal, so every
//!   request is judged with an unknown RSSI: a tap-mode reader refuses (it cannot tell a phone
//!   at the door from one across the street), a range-mode reader opens.
//! - **Delivery.** BlueZ does not report when a notification was acknowledged by the phone's link
//!   layer. A decision is acted on (relay, light) once BlueZ accepted every notification of the
//!   answer while the phone was still connected; if the phone is gone by then, the attempt is
//!   logged as interrupted and the relay stays closed.
//! - **One phone at a time.** BlueZ sends a local characteristic's notifications to every
//!   subscribed phone; a second phone connected at the same moment receives the first one's
//!   (encrypted) answer, drops it as unreadable and retries. Doors see one phone at a time.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use bluer::{
    Adapter, Address, Session, Uuid,
    adv::{Advertisement as BluezAdvertisement, AdvertisementHandle, Type as AdvertisementType},
    gatt::local::{
        Application, ApplicationHandle, Characteristic, CharacteristicNotifier, CharacteristicNotify,
        CharacteristicNotifyMethod, CharacteristicWrite, CharacteristicWriteMethod, Service,
    },
};
use futures_util::FutureExt;
use mobile_access_protocol::{
    REQUEST_CHARACTERISTIC_UUID, RESPONSE_CHARACTERISTIC_UUID, SERVICE_UUID,
    framing::{self, Reassembler},
    reader::Connection,
};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{Answer, Error, Feedback, FeedbackEvent, Light, Reader, Result, SharedReader, relay::Relay};

/// How often the advertisement is checked for a rotated nonce (the reader rotates it after every
/// authenticated answer and when it ages).
const ADVERTISEMENT_REFRESH: Duration = Duration::from_millis(100);
/// How often the relay's open time is checked.
const RELAY_TICK: Duration = Duration::from_millis(50);

/// The RSSI the reader judges a connected phone by: BlueZ measures none for a GATT server, so
/// it is unknown (a tap-mode reader refuses, a range-mode reader opens).
const UNMEASURED_RSSI: Option<i16> = None;

fn bluetooth(error: bluer::Error) -> Error {
    Error::Bluetooth(error.to_string())
}

struct Shared {
    reader: Mutex<Reader>,
    relay: Mutex<Box<dyn Relay>>,
    notifier: tokio::sync::Mutex<Option<CharacteristicNotifier>>,
    /// Set when a phone disconnected: the advertisement is registered again even if unchanged
    /// (one registered while a phone was connected is sent non-connectable, see `advertise`).
    readvertise: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn reader(&self) -> MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the reader, then shows the member what it did (log lines for the light and
    /// sound) and moves the relay to match.
    fn act<R>(&self, f: impl FnOnce(&mut Reader, Instant) -> R) -> R {
        let (result, feedback) = {
            let mut reader = self.reader();
            let result = f(&mut reader, Instant::now());
            (result, reader.drain_feedback())
        };
        for event in feedback {
            self.show(event);
        }
        result
    }

    fn show(&self, event: FeedbackEvent) {
        match event.feedback {
            Feedback::Signal { light: Light::Green, reason, .. } => {
                tracing::info!(target: "feedback", "green light, success sound ({reason})");
            }
            Feedback::Signal { light: Light::Red, reason, .. } => {
                tracing::info!(target: "feedback", "red light, error sound ({reason})");
            }
            Feedback::RelayOpened => self.drive_relay(true),
            Feedback::RelayClosed => self.drive_relay(false),
        }
    }

    fn drive_relay(&self, open: bool) {
        let mut relay = self.relay.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match relay.set(open) {
            Ok(()) if open => tracing::info!(target: "feedback", "relay opened: door unlocked"),
            Ok(()) => tracing::info!(target: "feedback", "relay closed"),
            Err(error) => tracing::error!(target: "feedback", %error, open, "the relay did not move"),
        }
    }
}

/// A running reader on a BlueZ adapter. Dropping it (or [`BluezReader::stop`]) unregisters the
/// advertisement and the GATT service and closes the relay.
pub struct BluezReader {
    shared: Arc<Shared>,
    adapter: Adapter,
    tasks: Vec<JoinHandle<()>>,
    _application: ApplicationHandle,
    _session: Session,
}

impl std::fmt::Debug for BluezReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BluezReader").field("adapter", &self.adapter.name()).finish_non_exhaustive()
    }
}

impl BluezReader {
    /// Puts `reader` on the air on the BlueZ adapter named `adapter` (e.g. `hci0`), powering it
    /// on, with `relay` driven by its decisions. Must run inside a tokio runtime.
    pub async fn start(reader: Reader, adapter: &str, relay: Box<dyn Relay>) -> Result<Self> {
        let session = Session::new().await.map_err(bluetooth)?;
        let adapter = session.adapter(adapter).map_err(bluetooth)?;
        adapter.set_powered(true).await.map_err(bluetooth)?;
        let shared = Arc::new(Shared {
            reader: Mutex::new(reader),
            relay: Mutex::new(relay),
            notifier: tokio::sync::Mutex::new(None),
            // Registered once more as soon as no phone is connected: a phone still linked to the
            // adapter from before a restart would otherwise leave the first registration
            // non-connectable.
            readvertise: std::sync::atomic::AtomicBool::new(true),
        });

        let (writes, received) = mpsc::unbounded_channel();
        let application =
            adapter.serve_gatt_application(application(writes, shared.clone())).await.map_err(bluetooth)?;
        let first = shared.act(|reader, now| reader.advertisement(now))?;
        let advertising = adapter.advertise(advertisement(&first)).await.map_err(bluetooth)?;
        let id = shared.reader().id();
        tracing::info!(reader = %id, adapter = adapter.name(), "on the air");

        let tasks = vec![
            tokio::spawn(serve(received, adapter.clone(), shared.clone())),
            tokio::spawn(advertise(adapter.clone(), shared.clone(), first, advertising)),
            tokio::spawn(tick(shared.clone())),
        ];
        Ok(Self { shared, adapter, tasks, _application: application, _session: session })
    }

    /// The adapter's Bluetooth address.
    pub async fn address(&self) -> Result<Address> {
        self.adapter.address().await.map_err(bluetooth)
    }

    /// Takes the reader off the air and leaves the relay closed.
    pub fn stop(self) {
        drop(self);
    }
}

impl SharedReader for BluezReader {
    fn with_reader<R>(&self, f: impl FnOnce(&mut Reader, Instant) -> R) -> R {
        self.shared.act(f)
    }
}

impl Drop for BluezReader {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.shared.drive_relay(false);
    }
}

/// The GATT application: writes go, in order, into `writes`; notification sessions are kept.
fn application(writes: mpsc::UnboundedSender<(Address, u16, Vec<u8>)>, shared: Arc<Shared>) -> Application {
    let request = Characteristic {
        uuid: Uuid::from_u128(REQUEST_CHARACTERISTIC_UUID),
        write: Some(CharacteristicWrite {
            write: true,
            write_without_response: true,
            method: CharacteristicWriteMethod::Fun(Box::new(move |value, request| {
                // Queued before any await: the order of writes is the order BlueZ called us in.
                let queued = writes.send((request.device_address, request.mtu, value));
                async move { queued.map_err(|_| bluer::gatt::local::ReqError::Failed) }.boxed()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let response = Characteristic {
        uuid: Uuid::from_u128(RESPONSE_CHARACTERISTIC_UUID),
        notify: Some(CharacteristicNotify {
            notify: true,
            method: CharacteristicNotifyMethod::Fun(Box::new(move |notifier| {
                let shared = shared.clone();
                async move {
                    tracing::debug!("phone subscribed to answers");
                    *shared.notifier.lock().await = Some(notifier);
                }
                .boxed()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    Application {
        services: vec![Service {
            uuid: Uuid::from_u128(SERVICE_UUID),
            primary: true,
            characteristics: vec![request, response],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The advertisement as BlueZ takes it: BlueZ adds the Flags itself.
fn advertisement(advertisement: &mobile_access_protocol::Advertisement) -> BluezAdvertisement {
    let service = Uuid::from_u128(SERVICE_UUID);
    BluezAdvertisement {
        advertisement_type: AdvertisementType::Peripheral,
        service_uuids: [service].into_iter().collect(),
        service_data: BTreeMap::from([(service, advertisement.encode_payload().to_vec())]),
        discoverable: Some(true),
        ..Default::default()
    }
}

/// True while any phone is connected to the reader's adapter.
async fn any_phone_connected(adapter: &Adapter) -> Option<Address> {
    let Ok(addresses) = adapter.device_addresses().await else { return None };
    for address in addresses {
        if let Ok(device) = adapter.device(address)
            && device.is_connected().await.unwrap_or(false)
        {
            return Some(address);
        }
    }
    None
}

/// Re-registers the advertisement whenever the reader's nonce (or anything else in it) changed,
/// once no phone is connected: the kernel sends an advertisement registered during a
/// connection as non-connectable (ADV_NONCONN_IND, seen on BlueZ 5.66 / Linux 6.1), and keeps it
/// so after the phone left, so the next phone could see the reader and never connect. Until
/// then the advertisement on the air is the previous one (the reader accepts the previous nonce).
async fn advertise(
    adapter: Adapter,
    shared: Arc<Shared>,
    mut current: mobile_access_protocol::Advertisement,
    mut handle: AdvertisementHandle,
) {
    let mut interval = tokio::time::interval(ADVERTISEMENT_REFRESH);
    // Which phone holds the advertisement back, logged when that changes: a reader unheard for
    // seconds after a phone left shows here as a connection BlueZ still reports.
    let mut held_by: Option<Address> = None;
    loop {
        interval.tick().await;
        let next = match shared.act(|reader, now| reader.advertisement(now)) {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "no advertisement");
                continue;
            }
        };
        let forced = shared.readvertise.load(std::sync::atomic::Ordering::SeqCst);
        if next == current && !forced {
            continue;
        }
        let connected = any_phone_connected(&adapter).await;
        if connected != held_by {
            match connected {
                Some(phone) => tracing::info!(%phone, "advertisement held while a phone is connected"),
                None => tracing::info!("no phone connected: advertising the current nonce"),
            }
            held_by = connected;
        }
        if connected.is_some() {
            continue;
        }
        shared.readvertise.store(false, std::sync::atomic::Ordering::SeqCst);
        // BlueZ cannot update a running advertisement: stop the old one first (an adapter has a
        // limited number of advertising instances), then start the new one.
        drop(handle);
        match adapter.advertise(advertisement(&next)).await {
            Ok(new) => {
                handle = new;
                current = next;
            }
            Err(error) => {
                tracing::error!(error = %error, "advertising failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                match adapter.advertise(advertisement(&current)).await {
                    Ok(old) => handle = old,
                    Err(error) => {
                        tracing::error!(error = %error, "advertising stopped");
                        return;
                    }
                }
            }
        }
    }
}

/// Closes the relay when its open time has passed.
async fn tick(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(RELAY_TICK);
    loop {
        interval.tick().await;
        shared.act(|reader, now| reader.tick(now));
    }
}

/// One phone's exchange state, forgotten when it disconnects.
struct PhoneSession {
    protocol: Connection,
    reassembler: Reassembler,
}

/// Answers the phones' writes, one at a time, in the order BlueZ delivered them.
async fn serve(mut writes: mpsc::UnboundedReceiver<(Address, u16, Vec<u8>)>, adapter: Adapter, shared: Arc<Shared>) {
    let sessions: Arc<Mutex<HashMap<Address, PhoneSession>>> = Arc::default();
    while let Some((phone, mtu, value)) = writes.recv().await {
        let request = {
            let mut all = sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let fresh = !all.contains_key(&phone);
            let session = all
                .entry(phone)
                .or_insert_with(|| PhoneSession { protocol: Connection::default(), reassembler: Reassembler::new() });
            if fresh {
                tracing::info!(%phone, "phone connected");
                forget_on_disconnect(&adapter, shared.clone(), phone, sessions.clone());
            }
            match session.reassembler.push(&value) {
                Ok(None) => continue,
                Ok(Some(request)) => Ok(request),
                Err(error) => Err(error),
            }
        };
        let answer = match request {
            // The revocation list a phone hands over after the answer: applied, never answered.
            Ok(request) if crate::reader::is_one_way(&request) => {
                let mut all = sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(session) = all.get_mut(&phone) else { continue };
                match shared.act(|reader, now| reader.apply_one_way(&mut session.protocol, &request, now)) {
                    Ok(outcome) => tracing::info!(%phone, ?outcome, "revocation list from the phone"),
                    Err(error) => tracing::info!(%phone, %error, "revocation list from the phone not applied"),
                }
                continue;
            }
            Ok(request) => {
                tracing::info!(%phone, kind = %request_name(&request), "request");
                let mut all = sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(session) = all.get_mut(&phone) else { continue };
                shared.act(|reader, now| reader.handle(&mut session.protocol, &request, UNMEASURED_RSSI, now))
            }
            Err(error) => {
                tracing::info!(%phone, %error, "unreadable request");
                shared.act(|reader, _| reader.handle_unreadable(UNMEASURED_RSSI))
            }
        };
        answer_phone(&adapter, &shared, phone, mtu, answer).await;
    }
}

/// Drops a phone's session once BlueZ reports it disconnected, and has the advertisement
/// registered again.
fn forget_on_disconnect(
    adapter: &Adapter,
    shared: Arc<Shared>,
    phone: Address,
    sessions: Arc<Mutex<HashMap<Address, PhoneSession>>>,
) {
    let device = match adapter.device(phone) {
        Ok(device) => device,
        Err(error) => {
            tracing::warn!(%phone, %error, "cannot watch the phone's connection");
            return;
        }
    };
    tokio::spawn(async move {
        let forget = || {
            sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&phone);
            shared.readvertise.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(%phone, "phone disconnected");
        };
        let Ok(events) = device.events().await else { return forget() };
        futures_util::pin_mut!(events);
        loop {
            match tokio::time::timeout(Duration::from_secs(1), futures_util::StreamExt::next(&mut events)).await {
                Ok(Some(bluer::DeviceEvent::PropertyChanged(bluer::DeviceProperty::Connected(false)))) | Ok(None) => {
                    return forget();
                }
                Ok(Some(_)) => {}
                // A disconnect can happen before the watch started: check now and then.
                Err(_) => {
                    if !device.is_connected().await.unwrap_or(false) {
                        return forget();
                    }
                }
            }
        }
    });
}

/// How long an answer waits for the phone's subscription: the phone writes the CCCD and its
/// first request back to back, and bluetoothd may hand us the request before it tells us of
/// the subscription (seen with an immediate refusal on BlueZ 5.66).
const SUBSCRIPTION_WAIT: Duration = Duration::from_secs(1);

/// The notification session, waiting up to [`SUBSCRIPTION_WAIT`] for one to start.
async fn subscribed(shared: &Shared) -> tokio::sync::MutexGuard<'_, Option<CharacteristicNotifier>> {
    let deadline = tokio::time::Instant::now() + SUBSCRIPTION_WAIT;
    loop {
        let notifier = shared.notifier.lock().await;
        let ready = notifier.as_ref().is_some_and(|n| !n.is_stopped());
        if ready || tokio::time::Instant::now() >= deadline {
            return notifier;
        }
        drop(notifier);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Notifies the answer and, if it ends the exchange, concludes the decision (relay, light,
/// audit) according to whether the phone was still there to receive it.
async fn answer_phone(adapter: &Adapter, shared: &Shared, phone: Address, mtu: u16, answer: Answer) {
    let mut delivered = true;
    match framing::fragment(&answer.bytes, mtu.clamp(framing::MIN_MTU, framing::MAX_MTU)) {
        Ok(fragments) => {
            let mut notifier = subscribed(shared).await;
            match notifier.as_mut() {
                Some(notifier) if !notifier.is_stopped() => {
                    for fragment in fragments {
                        if let Err(error) = notifier.notify(fragment).await {
                            tracing::info!(%phone, %error, "answer not sent");
                            delivered = false;
                            break;
                        }
                    }
                }
                _ => {
                    tracing::info!(%phone, "the phone did not subscribe to answers");
                    delivered = false;
                }
            }
        }
        Err(error) => {
            tracing::error!(%phone, %error, "answer could not be framed");
            delivered = false;
        }
    }
    let Some(pending) = answer.pending else { return };
    if delivered {
        let connected = match adapter.device(phone) {
            Ok(device) => device.is_connected().await.unwrap_or(false),
            Err(_) => false,
        };
        delivered = connected;
    }
    shared.act(|reader, now| reader.conclude(pending, delivered, now));
}

/// A request's message name, for the log (never its content).
fn request_name(request: &[u8]) -> String {
    use mobile_access_protocol::MessageType;
    match request.get(1).copied() {
        Some(code) if code == MessageType::Hello as u8 => "hello".to_owned(),
        Some(code) if code == MessageType::FullAuth as u8 => "full auth".to_owned(),
        Some(code) => format!("type {code:#04x}"),
        None => "empty".to_owned(),
    }
}

//! A [`Reader`] running as a peripheral on the simulated radio: it advertises the protocol's
//! advertisement (with its rotating nonce), reassembles fragmented writes on the request
//! characteristic, notifies fragmented answers on the response characteristic, acts on each
//! decision once the phone received the answer, and closes its relay on time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use mobile_access_ble::{
    PeripheralId,
    sim::{Advertiser, PeripheralConfig, PeripheralEvent, PeripheralEvents, Position, SimConnection, SimRadio},
};
use mobile_access_protocol::{
    REQUEST_CHARACTERISTIC_UUID, RESPONSE_CHARACTERISTIC_UUID, SERVICE_UUID, Timestamp,
    framing::{self, Reassembler},
    reader::Connection,
};
use tokio::{sync::broadcast, task::JoinHandle};

use crate::{AuditLog, DriftingClock, FeedbackEvent, PassPresenter, Provisioning, Reader, Result, TapResult, hex};

/// How a virtual reader is set up besides its provisioning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VirtualReaderOptions {
    /// Where it hangs.
    pub position: Position,
    /// What its clock reads when it starts.
    pub time: Timestamp,
    /// How fast its clock runs, parts per million.
    pub drift_ppm: i32,
}

impl VirtualReaderOptions {
    /// A reader at `position` whose clock reads `time` and does not drift.
    pub fn at(position: Position, time: Timestamp) -> Self {
        Self { position, time, drift_ppm: 0 }
    }
}

struct Shared {
    reader: Mutex<Reader>,
    feedback: broadcast::Sender<FeedbackEvent>,
    /// When the relay is due to close, as last scheduled.
    closing: Mutex<Option<Instant>>,
}

impl Shared {
    fn reader(&self) -> MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the reader, publishes the feedback it produced and, whenever it left the
    /// relay open, makes sure it closes on time: whatever opened it (a tap, an NFC pass, the
    /// cloud's remote unlock through the link), the door never stays unlocked.
    fn act<R>(self: &Arc<Self>, f: impl FnOnce(&mut Reader, Instant) -> R) -> R {
        let (result, closes_at) = {
            let mut reader = self.reader();
            let result = f(&mut reader, now());
            for event in reader.drain_feedback() {
                let _ = self.feedback.send(event);
            }
            (result, reader.relay_closes_at())
        };
        if let Some(at) = closes_at {
            self.close_relay_at(at);
        }
        result
    }

    /// Ticks the reader at `at` (once per closing time), so the open relay closes then.
    fn close_relay_at(self: &Arc<Self>, at: Instant) {
        let mut closing = self.closing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *closing == Some(at) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        *closing = Some(at);
        let shared = Arc::clone(self);
        runtime.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            shared.tick();
        });
    }

    fn tick(self: &Arc<Self>) {
        self.act(|reader, now| reader.tick(now));
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct ReaderAdvertiser(Arc<Shared>);

impl Advertiser for ReaderAdvertiser {
    fn advertising_data(&self) -> Vec<u8> {
        self.0.act(|reader, now| reader.advertisement(now)).map(|a| a.encode_ad()).unwrap_or_default()
    }
}

/// A reader on the simulated radio. Dropping it takes it off the air.
pub struct VirtualReader {
    id: PeripheralId,
    position: Mutex<Position>,
    radio: SimRadio,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for VirtualReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualReader").field("id", &self.id).finish_non_exhaustive()
    }
}

impl VirtualReader {
    /// Puts a reader provisioned with `provisioning` on `radio`. Must run inside the tokio
    /// runtime the radio uses.
    pub fn spawn(radio: &SimRadio, provisioning: &Provisioning, options: VirtualReaderOptions) -> Result<Self> {
        let id = PeripheralId::new(hex::encode(&provisioning.reader_id.0));
        Self::spawn_as(radio, id, provisioning, options)
    }

    /// Like [`VirtualReader::spawn`], on the radio as `id` instead of its reader id: another
    /// device advertising the same reader id (an impostor copying a genuine reader's id, as an
    /// attacker's own radio would).
    pub fn spawn_as(
        radio: &SimRadio,
        id: PeripheralId,
        provisioning: &Provisioning,
        options: VirtualReaderOptions,
    ) -> Result<Self> {
        let start = now();
        let clock = DriftingClock::new(start, options.time, options.drift_ppm);
        let reader = Reader::new(provisioning, clock, start)?;
        let (feedback, _) = broadcast::channel(256);
        let shared = Arc::new(Shared { reader: Mutex::new(reader), feedback, closing: Mutex::new(None) });
        let config = PeripheralConfig {
            id: id.clone(),
            position: options.position,
            power_at_1m: f64::from(provisioning.tx_power),
            services: vec![SERVICE_UUID],
            characteristics: vec![REQUEST_CHARACTERISTIC_UUID, RESPONSE_CHARACTERISTIC_UUID],
        };
        let events = radio.add_peripheral(config, Arc::new(ReaderAdvertiser(shared.clone())));
        let task = tokio::spawn(serve(events, shared.clone()));
        Ok(Self { id, position: Mutex::new(options.position), radio: radio.clone(), shared, task })
    }

    /// Its identifier on the radio.
    pub fn peripheral_id(&self) -> &PeripheralId {
        &self.id
    }

    /// Lights, sounds and relay movements from now on.
    pub fn feedback(&self) -> broadcast::Receiver<FeedbackEvent> {
        self.shared.feedback.subscribe()
    }

    /// Moves the reader.
    pub fn move_to(&self, position: Position) {
        *self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = position;
        self.radio.move_peripheral(&self.id, position);
    }

    /// Runs `f` on the reader's logic (tamper switch, revocation epoch, clock...), publishing
    /// any feedback it produces.
    pub fn with<R>(&self, f: impl FnOnce(&mut Reader) -> R) -> R {
        self.shared.act(|reader, _| f(reader))
    }

    /// Where it hangs.
    pub fn position(&self) -> Position {
        *self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A phone or watch holding a wallet pass tapped at `device`: the NFC entry point (no app,
    /// no BLE). `None` if the device is out of the NFC field (the reader never noticed it).
    pub fn nfc_tap(&self, pass: &mut dyn PassPresenter, device: Position) -> Option<TapResult> {
        let distance = device.distance(&self.position());
        self.shared.act(|reader, now| reader.nfc_tap(pass, distance, now))
    }

    /// Applies a signed revocation list (what the reader's cloud connection does when it polls).
    pub fn apply_revocation_list(&self, bytes: &[u8]) -> Result<mobile_access_protocol::reader::ListOutcome> {
        self.shared.act(|reader, now| reader.apply_revocation_list(bytes, now))
    }

    /// The reader's time now.
    pub fn time(&self) -> Timestamp {
        self.shared.act(|reader, now| reader.clock().now(now))
    }

    /// A copy of the audit log.
    pub fn audit(&self) -> AuditLog {
        self.shared.reader().audit().clone()
    }

    /// True while the relay is open.
    pub fn relay_is_open(&self) -> bool {
        self.shared.reader().relay_is_open()
    }
}

#[cfg(feature = "link")]
impl crate::SharedReader for VirtualReader {
    fn with_reader<R>(&self, f: impl FnOnce(&mut Reader, Instant) -> R) -> R {
        self.shared.act(f)
    }
}

impl Drop for VirtualReader {
    fn drop(&mut self) {
        self.task.abort();
        self.radio.remove_peripheral(&self.id);
    }
}

struct Session {
    handle: SimConnection,
    protocol: Connection,
    reassembler: Reassembler,
}

async fn serve(mut events: PeripheralEvents, shared: Arc<Shared>) {
    let mut sessions: HashMap<_, Session> = HashMap::new();
    while let Some(event) = events.next().await {
        match event {
            PeripheralEvent::Connected(handle) => {
                let session = Session { handle, protocol: Connection::default(), reassembler: Reassembler::new() };
                sessions.insert(session.handle.id(), session);
            }
            PeripheralEvent::Disconnected { connection, .. } => {
                sessions.remove(&connection);
            }
            PeripheralEvent::Subscribed { .. } => {}
            PeripheralEvent::Write { connection, characteristic, value, rssi } => {
                if characteristic != REQUEST_CHARACTERISTIC_UUID {
                    continue;
                }
                let Some(session) = sessions.get_mut(&connection) else { continue };
                let answer = match session.reassembler.push(&value) {
                    Ok(None) => continue,
                    // The revocation list a phone hands over after the answer: applied, never answered.
                    Ok(Some(request)) if crate::reader::is_one_way(&request) => {
                        let _ = shared.act(|reader, now| reader.apply_one_way(&mut session.protocol, &request, now));
                        continue;
                    }
                    Ok(Some(request)) => {
                        shared.act(|reader, now| reader.handle(&mut session.protocol, &request, rssi.dbm(), now))
                    }
                    Err(_) => shared.act(|reader, _| reader.handle_unreadable(rssi.dbm())),
                };
                answer_phone(&shared, &session.handle, answer);
            }
        }
    }
}

/// Notifies the answer and, once the phone received all of it (or the link ended first),
/// concludes the decision and schedules the relay closing.
fn answer_phone(shared: &Arc<Shared>, handle: &SimConnection, answer: crate::Answer) {
    let deliveries: Vec<_> = framing::fragment(&answer.bytes, handle.mtu())
        .unwrap_or_default()
        .into_iter()
        .map(|fragment| handle.notify(RESPONSE_CHARACTERISTIC_UUID, fragment))
        .collect();
    let Some(pending) = answer.pending else { return };
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut delivered = !deliveries.is_empty();
        for delivery in deliveries {
            delivered &= match delivery {
                Ok(delivery) => delivery.delivered().await,
                Err(_) => false,
            };
        }
        shared.act(|reader, now| reader.conclude(pending, delivered, now));
    });
}

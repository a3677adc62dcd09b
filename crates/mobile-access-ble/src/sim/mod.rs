//! A simulated Bluetooth LE radio that models what makes real BLE slow or flaky, on tokio's
//! clock (run it under a paused clock and every latency is exact and reproducible).
//!
//! What is modelled, and how:
//! - **Space**: peripherals and phones at positions (metres) that can move. RSSI follows the
//!   log-distance path-loss model with seeded Gaussian noise; packets below the receiver
//!   sensitivity are not received. Controllers that report no RSSI (BlueZ's emulated ones,
//!   chipsets reporting 127) are a profile setting (`RadioProfile::without_rssi`); a phone's
//!   stack that has no RSSI for one peripheral is a per-phone one
//!   (`SimCentral::report_unknown_rssi_for`).
//! - **Advertising**: every peripheral advertises each `advertising_interval` plus the spec's
//!   random 0–10 ms `advDelay`, from a random phase. A scanning phone receives an advertisement
//!   only if it falls in its scan window.
//! - **Connecting**: the phone must catch the peripheral's *next* advertisement; the first
//!   connection event follows 1.25 ms plus a random transmit-window offset in `[0, CI)` later.
//! - **Connection events**: every ATT packet goes out at the first connection event strictly
//!   after it was queued that still has room in its direction (`packets_per_event`), so a
//!   request/response costs one interval and a reaction to a received packet another.
//! - **ATT**: the MTU exchange, the GATT discovery of a first connection (then cached per phone,
//!   as iOS and Android cache it), the CCCD write enabling notifications, writes with and
//!   without response, notifications.
//! - **Loss**: each packet is lost with the profile's probability and retransmitted by the
//!   link layer at the next event; a link where nothing gets through for the supervision
//!   timeout (out of range, or loss) is dropped.
//! - **Faults**: a connection that fails to establish, or a disconnect before any given packet.
//!
//! Not modelled: airtime within an event (≈1–2 ms per event at most), channel hopping and the
//! three advertising channels, connection-parameter updates, and supervision of an idle link
//! (a link is checked when it next carries a packet).

mod central;
mod link;
mod peripheral;
mod profile;
mod rng;
mod space;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};

pub use central::{SimCentral, SimLink};
pub use peripheral::{
    Advertiser, ConnectionId, Delivery, PeripheralConfig, PeripheralEvent, PeripheralEvents, SimConnection,
};
pub use profile::{FloorExchange, RadioProfile};
use rng::SimRng;
pub use space::{MIN_DISTANCE_M, Position, distance_for, mean_rssi};
use tokio::{
    sync::{broadcast, mpsc},
    time::Instant,
};

use crate::{AdapterState, PeripheralId, Rssi, ScanEvent, ScanFilter};

/// A fault to inject on the next connection to a peripheral. Each fires once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection request is sent but the connection never establishes.
    FailConnect,
    /// The link drops just before its `n`-th ATT packet (0-based, both directions counted in
    /// the order they are queued: 0 is the MTU request, 1 its response, ...). The packet is
    /// never delivered.
    DisconnectBeforePacket(u64),
}

/// Which way an air packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AirDirection {
    /// Phone to peripheral.
    ToPeripheral,
    /// Peripheral to phone.
    ToCentral,
}

/// What an air packet carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AirPdu {
    /// An ATT write.
    Write {
        /// The characteristic.
        characteristic: u128,
        /// The value.
        value: Vec<u8>,
        /// Write request (true) or write command.
        with_response: bool,
    },
    /// An ATT notification.
    Notification {
        /// The characteristic.
        characteristic: u128,
        /// The value.
        value: Vec<u8>,
    },
    /// MTU exchange, discovery, CCCD writes and ATT responses.
    Control(&'static str),
}

/// One ATT packet as an eavesdropper on the air recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirPacket {
    /// When it was received.
    pub at: Instant,
    /// The connection.
    pub connection: ConnectionId,
    /// The peripheral end.
    pub peripheral: PeripheralId,
    /// Which way.
    pub direction: AirDirection,
    /// What it carried.
    pub pdu: AirPdu,
}

struct PeripheralEntry {
    config: PeripheralConfig,
    advertiser: Arc<dyn Advertiser>,
    events: mpsc::UnboundedSender<PeripheralEvent>,
    adverts: broadcast::Sender<()>,
    faults: Vec<Fault>,
}

struct Scan {
    filter: ScanFilter,
    started: Instant,
    events: mpsc::Sender<ScanEvent>,
}

struct CentralEntry {
    position: Position,
    adapter: AdapterState,
    scan: Option<Scan>,
    gatt_cache: HashSet<PeripheralId>,
    /// Peripherals this phone's stack reports without an RSSI.
    rssi_unknown: HashSet<PeripheralId>,
}

struct State {
    peripherals: Vec<PeripheralEntry>,
    centrals: Vec<CentralEntry>,
    noise: SimRng,
    loss: SimRng,
    packet_loss: f64,
    next_connection: u64,
    air: Option<Vec<AirPacket>>,
}

/// The shared world behind a [`SimRadio`].
pub(crate) struct World {
    pub(crate) profile: RadioProfile,
    pub(crate) seed: u64,
    state: Mutex<State>,
}

/// A simulated radio world: peripherals, phones, and the air between them.
///
/// Cloning gives another handle on the same world. Must be used inside a tokio runtime (it
/// spawns the advertising and delivery tasks).
#[derive(Clone)]
pub struct SimRadio {
    world: Arc<World>,
}

impl std::fmt::Debug for SimRadio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRadio").field("profile", &self.world.profile.name).finish_non_exhaustive()
    }
}

impl SimRadio {
    /// A world running `profile`, with every random draw derived from `seed`.
    pub fn new(profile: RadioProfile, seed: u64) -> Self {
        let packet_loss = profile.packet_loss;
        Self {
            world: Arc::new(World {
                state: Mutex::new(State {
                    peripherals: Vec::new(),
                    centrals: Vec::new(),
                    noise: SimRng::new(seed, 1),
                    loss: SimRng::new(seed, 2),
                    packet_loss,
                    next_connection: 0,
                    air: None,
                }),
                profile,
                seed,
            }),
        }
    }

    /// The profile this world runs.
    pub fn profile(&self) -> &RadioProfile {
        &self.world.profile
    }

    /// Adds a peripheral that starts advertising at once. Its events arrive on the returned
    /// receiver; removing it (or dropping every handle on the world) stops it.
    pub fn add_peripheral(&self, config: PeripheralConfig, advertiser: Arc<dyn Advertiser>) -> PeripheralEvents {
        let (events, receiver) = mpsc::unbounded_channel();
        let (adverts, _) = broadcast::channel(16);
        let id = config.id.clone();
        let mut state = self.world.state();
        let index = state.peripherals.len() as u64;
        state.peripherals.retain(|p| p.config.id != id);
        state.peripherals.push(PeripheralEntry { config, advertiser, events, adverts, faults: Vec::new() });
        drop(state);
        tokio::spawn(advertise(Arc::downgrade(&self.world), id, SimRng::new(self.world.seed, 0x100 + index)));
        PeripheralEvents { events: receiver }
    }

    /// Moves a peripheral.
    pub fn move_peripheral(&self, id: &PeripheralId, to: Position) {
        if let Some(p) = self.world.state().peripherals.iter_mut().find(|p| &p.config.id == id) {
            p.config.position = to;
        }
    }

    /// Removes a peripheral: it stops advertising and its event receiver ends.
    pub fn remove_peripheral(&self, id: &PeripheralId) {
        self.world.state().peripherals.retain(|p| &p.config.id != id);
    }

    /// Adds a phone at `position`, Bluetooth on.
    pub fn add_central(&self, position: Position) -> SimCentral {
        let mut state = self.world.state();
        state.centrals.push(CentralEntry {
            position,
            adapter: AdapterState::PoweredOn,
            scan: None,
            gatt_cache: HashSet::new(),
            rssi_unknown: HashSet::new(),
        });
        SimCentral::new(self.world.clone(), state.centrals.len() - 1)
    }

    /// Sets the probability that any one packet is lost, from now on.
    pub fn set_packet_loss(&self, probability: f64) {
        self.world.state().packet_loss = probability.clamp(0.0, 1.0);
    }

    /// Arms `fault` for the next connection to `peripheral`.
    pub fn inject(&self, peripheral: &PeripheralId, fault: Fault) {
        if let Some(p) = self.world.state().peripherals.iter_mut().find(|p| &p.config.id == peripheral) {
            p.faults.push(fault);
        }
    }

    /// Starts recording every ATT packet delivered on the air (clearing an earlier recording).
    pub fn start_recording(&self) {
        self.world.state().air = Some(Vec::new());
    }

    /// What was recorded so far.
    pub fn recording(&self) -> Vec<AirPacket> {
        self.world.state().air.clone().unwrap_or_default()
    }

    /// The values of the ATT writes centrals sent since recording started (fragment headers
    /// included): what a phone put on the air, as an eavesdropper or a replaying attacker has it.
    pub fn recorded_writes(&self) -> Vec<Vec<u8>> {
        self.recording()
            .into_iter()
            .filter(|p| p.direction == AirDirection::ToPeripheral)
            .filter_map(|p| match p.pdu {
                AirPdu::Write { value, .. } => Some(value),
                _ => None,
            })
            .collect()
    }
}

impl World {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn packet_loss(&self) -> f64 {
        self.state().packet_loss
    }

    pub(crate) fn record(&self, packet: AirPacket) {
        if let Some(air) = self.state().air.as_mut() {
            air.push(packet);
        }
    }

    fn distance(state: &State, central: usize, peripheral: &PeripheralId) -> Option<(f64, f64)> {
        let c = state.centrals.get(central)?;
        let p = state.peripherals.iter().find(|p| &p.config.id == peripheral)?;
        Some((c.position.distance(&p.config.position), p.config.power_at_1m))
    }

    /// A noisy RSSI sample of power `power_at_1m` over `distance`.
    fn sample(&self, state: &mut State, power_at_1m: f64, distance: f64) -> f64 {
        mean_rssi(power_at_1m, self.profile.path_loss_exponent, distance)
            + state.noise.gaussian(self.profile.rssi_noise_db)
    }

    /// True if packets between the phone and the peripheral are received at all.
    pub(crate) fn link_in_range(&self, central: usize, peripheral: &PeripheralId) -> bool {
        let state = self.state();
        Self::distance(&state, central, peripheral).is_some_and(|(d, power)| {
            mean_rssi(power, self.profile.path_loss_exponent, d) >= self.profile.sensitivity_dbm
        })
    }

    /// What a receiver reports for a signal it sampled at `dbm`. The sample is drawn either way,
    /// so a seed gives the same air with and without RSSI.
    fn reported(&self, state: &State, central: usize, peripheral: &PeripheralId, dbm: f64) -> Rssi {
        let hidden = state.centrals.get(central).is_some_and(|c| c.rssi_unknown.contains(peripheral));
        if self.profile.reports_rssi && !hidden { Rssi::from_dbm(round_dbm(dbm)) } else { Rssi::UNKNOWN }
    }

    /// The phone's signal as the peripheral measures it now.
    pub(crate) fn rssi_at_peripheral(&self, central: usize, peripheral: &PeripheralId) -> Rssi {
        let mut state = self.state();
        let distance = Self::distance(&state, central, peripheral).map_or(f64::MAX, |(d, _)| d);
        let dbm = self.sample(&mut state, self.profile.phone_power_at_1m, distance);
        if self.profile.reports_rssi { Rssi::from_dbm(round_dbm(dbm)) } else { Rssi::UNKNOWN }
    }

    /// The peripheral's signal as the phone measures it now.
    pub(crate) fn rssi_at_central(&self, central: usize, peripheral: &PeripheralId) -> Option<Rssi> {
        let mut state = self.state();
        let (distance, power) = Self::distance(&state, central, peripheral)?;
        let dbm = self.sample(&mut state, power, distance);
        Some(self.reported(&state, central, peripheral, dbm))
    }

    /// One advertising event of `id`; false once the peripheral is gone.
    fn advertise_once(&self, id: &PeripheralId) -> bool {
        let Some(advertiser) =
            self.state().peripherals.iter().find(|p| &p.config.id == id).map(|p| p.advertiser.clone())
        else {
            return false;
        };
        let data = advertiser.advertising_data();
        let now = Instant::now();
        let mut state = self.state();
        let Some(index) = state.peripherals.iter().position(|p| &p.config.id == id) else { return false };
        let (position, power, services) = match state.peripherals.get(index) {
            Some(p) => (p.config.position, p.config.power_at_1m, p.config.services.clone()),
            None => return false,
        };
        let service_data =
            mobile_access_protocol::Advertisement::decode_ad(&data).ok().map(|a| a.encode_payload().to_vec());
        for c in 0..state.centrals.len() {
            let Some((central_position, started, matches)) = state.centrals.get(c).and_then(|central| {
                let scan = central.scan.as_ref()?;
                Some((central.position, scan.started, scan.filter.matches(&services)))
            }) else {
                continue;
            };
            if !matches || !self.in_scan_window(now.duration_since(started)) {
                continue;
            }
            let rssi = self.sample(&mut state, power, central_position.distance(&position));
            let loss = state.packet_loss;
            if rssi < self.profile.sensitivity_dbm || state.loss.chance(loss) {
                continue;
            }
            let event = ScanEvent {
                peripheral: id.clone(),
                rssi: self.reported(&state, c, id, rssi),
                service_data: service_data.clone(),
                advertising_data: Some(data.clone()),
                seen_at: now,
            };
            if let Some(central) = state.centrals.get_mut(c)
                && let Some(scan) = &central.scan
                && let Err(mpsc::error::TrySendError::Closed(_)) = scan.events.try_send(event)
            {
                central.scan = None;
            }
        }
        if let Some(p) = state.peripherals.get(index) {
            let _ = p.adverts.send(());
        }
        true
    }

    fn in_scan_window(&self, since_start: Duration) -> bool {
        let interval = self.profile.scan_interval.as_nanos().max(1);
        since_start.as_nanos() % interval < self.profile.scan_window.as_nanos()
    }

    /// Whether a connection attempt on the advertisement just sent gets through: the phone
    /// must receive the advertisement and the peripheral the connection request.
    fn connect_attempt(&self, central: usize, peripheral: &PeripheralId) -> bool {
        let mut state = self.state();
        let Some((distance, power)) = Self::distance(&state, central, peripheral) else { return false };
        let advert = self.sample(&mut state, power, distance);
        let request = self.sample(&mut state, self.profile.phone_power_at_1m, distance);
        let loss = state.packet_loss;
        advert >= self.profile.sensitivity_dbm
            && request >= self.profile.sensitivity_dbm
            && !state.loss.chance(loss)
            && !state.loss.chance(loss)
    }
}

fn round_dbm(dbm: f64) -> i16 {
    dbm.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

async fn advertise(world: Weak<World>, id: PeripheralId, mut rng: SimRng) {
    let (interval, delay_max) = match world.upgrade() {
        Some(w) => (w.profile.advertising_interval, w.profile.advertising_delay_max),
        None => return,
    };
    tokio::time::sleep(interval.mul_f64(rng.unit())).await;
    loop {
        match world.upgrade() {
            Some(w) if w.advertise_once(&id) => {}
            _ => return,
        }
        tokio::time::sleep(interval + delay_max.mul_f64(rng.unit())).await;
    }
}

//! The central interface: what the SDK needs from a Bluetooth LE stack, and nothing more.

use std::sync::Arc;

use async_trait::async_trait;
use mobile_access_protocol::{Advertisement, SERVICE_UUID};
use tokio::{sync::mpsc, time::Instant};

use crate::{Error, Result};

/// A peripheral as the platform names it (a MAC address on Linux and Android, a per-phone UUID
/// on Apple platforms). Opaque: only good for talking to the same radio again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeripheralId(String);

impl PeripheralId {
    /// Wraps a platform identifier.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The platform identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PeripheralId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state of the phone's Bluetooth adapter, as the app must explain it to the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdapterState {
    /// Ready.
    PoweredOn,
    /// Switched off by the user.
    PoweredOff,
    /// The app is not allowed to use Bluetooth.
    Unauthorized,
    /// No adapter, or the Bluetooth service is not reachable.
    Unavailable,
}

impl AdapterState {
    /// `Ok` when powered on, else the matching [`Error`].
    pub fn ready(self) -> Result<()> {
        match self {
            AdapterState::PoweredOn => Ok(()),
            AdapterState::PoweredOff => Err(Error::AdapterOff),
            AdapterState::Unauthorized => Err(Error::Unauthorized),
            AdapterState::Unavailable => Err(Error::Unavailable("no Bluetooth adapter".to_owned())),
        }
    }
}

/// Something the member must do before a tap can work. The app shows these before the tap (turn
/// Bluetooth on, grant the permission) instead of letting the member find out by failing; each
/// radio requirement has a distinct error a tap gets while it is unmet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// The app may not use Bluetooth: grant these permissions (the platform's names, e.g.
    /// `android.permission.BLUETOOTH_SCAN`; empty where the platform has one authorization with
    /// no name, as iOS).
    GrantPermissions {
        /// The missing permissions.
        permissions: Vec<String>,
    },
    /// Bluetooth is switched off.
    TurnOnBluetooth,
    /// Location services are off, and this platform delivers no scan results without them
    /// (Android 11 and older).
    TurnOnLocationServices,
    /// This phone has no usable Bluetooth LE adapter: nothing the member can switch on.
    UseAnotherPhone,
    /// The access cloud no longer serves this version of the app (it answered `426`). Never
    /// reported by a radio: the Key Button adds it; a key already on the phone still opens doors.
    UpdateApp,
}

impl AdapterState {
    /// What the user must do for this state (nothing when powered on), for radios that know
    /// no more than the adapter's state.
    pub fn requirements(self) -> Vec<Requirement> {
        match self {
            AdapterState::PoweredOn => Vec::new(),
            AdapterState::PoweredOff => vec![Requirement::TurnOnBluetooth],
            AdapterState::Unauthorized => vec![Requirement::GrantPermissions { permissions: Vec::new() }],
            AdapterState::Unavailable => vec![Requirement::UseAnotherPhone],
        }
    }
}

/// Which advertisements a scan reports. An explicit service filter is also what lets iOS scan
/// in the background.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanFilter {
    /// 128-bit service UUIDs; empty reports every advertiser.
    pub services: Vec<u128>,
}

impl ScanFilter {
    /// Only mobile-access readers.
    pub fn readers() -> Self {
        Self { services: vec![SERVICE_UUID] }
    }

    /// True if a peripheral advertising `advertised` passes this filter.
    pub fn matches(&self, advertised: &[u128]) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| advertised.contains(s))
    }
}

/// A received signal strength as a controller measured it, in dBm — or unknown.
///
/// Unknown is an ordinary value, not an error: BlueZ with emulated controllers (btvirt, what CI
/// runs) and some chipsets report 127, the HCI's "not available", or no RSSI at all. Code that
/// decides from signal strength must say what it does without one, so the type makes it ask.
/// There is deliberately no ordering: where an unknown signal ranks depends on the decision.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rssi(Option<i16>);

impl Rssi {
    /// No measurement.
    pub const UNKNOWN: Self = Self(None);

    /// The value an HCI controller reports for "RSSI is not available" (Core specification,
    /// Vol 4 Part E, LE Advertising Report event: measurements range from −127 to +20 dBm).
    /// CoreBluetooth and Android pass it on as is.
    pub const HCI_NOT_AVAILABLE: i16 = 127;

    /// A measured signal of `dbm`.
    pub const fn from_dbm(dbm: i16) -> Self {
        Self(Some(dbm))
    }

    /// A value as a Bluetooth stack reports it: [`Rssi::HCI_NOT_AVAILABLE`] is unknown, anything
    /// else a measurement.
    pub const fn from_hci(value: i16) -> Self {
        if value == Self::HCI_NOT_AVAILABLE { Self::UNKNOWN } else { Self::from_dbm(value) }
    }

    /// The measured signal in dBm, `None` when unknown.
    pub const fn dbm(self) -> Option<i16> {
        self.0
    }

    /// True if the signal was measured.
    pub const fn is_known(self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Rssi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `-48 dBm`, or `unknown`.
impl std::fmt::Display for Rssi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(dbm) => write!(f, "{dbm} dBm"),
            None => f.write_str("unknown"),
        }
    }
}

/// One advertisement received during a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEvent {
    /// Who advertised.
    pub peripheral: PeripheralId,
    /// Signal strength as this phone received it; unknown where the stack reports none.
    pub rssi: Rssi,
    /// The service data for the mobile-access 16-bit service UUID, when the stack reports
    /// service data per UUID (btleplug does).
    pub service_data: Option<Vec<u8>>,
    /// The raw advertising data, when the stack exposes it (the simulated radio does).
    pub advertising_data: Option<Vec<u8>>,
    /// When it was received.
    pub seen_at: Instant,
}

impl ScanEvent {
    /// The reader advertisement this event carries.
    pub fn advertisement(&self) -> Result<Advertisement> {
        match (&self.service_data, &self.advertising_data) {
            (Some(payload), _) => Ok(Advertisement::decode_payload(payload)?),
            (None, Some(ad)) => Ok(Advertisement::decode_ad(ad)?),
            (None, None) => Err(Error::Framing(mobile_access_protocol::Error::Truncated {
                what: "advertisement without mobile-access service data",
                needed: mobile_access_protocol::ADVERTISEMENT_PAYLOAD_LEN,
                got: 0,
            })),
        }
    }
}

/// Advertisements as they arrive. Scan results are lossy by nature: when the consumer falls
/// behind, the oldest unread reports are the ones that matter least and are dropped by the
/// producer.
#[derive(Debug)]
pub struct ScanStream {
    events: mpsc::Receiver<ScanEvent>,
}

impl ScanStream {
    /// Capacity backends should give the channel behind a scan stream.
    pub const CAPACITY: usize = 256;

    /// Wraps the receiving end of a backend's scan channel.
    pub fn new(events: mpsc::Receiver<ScanEvent>) -> Self {
        Self { events }
    }

    /// The next advertisement; `None` once the scan stopped.
    pub async fn next(&mut self) -> Option<ScanEvent> {
        self.events.recv().await
    }
}

/// ATT write flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteType {
    /// ATT Write Request: returns once the peripheral acknowledged it (one more connection
    /// event), at most one outstanding at a time.
    WithResponse,
    /// ATT Write Command: queued and sent back to back, acknowledged only by the link layer.
    WithoutResponse,
}

/// Values the peripheral notifies on one characteristic, in order. Ends (`None`) when the
/// connection ends.
#[derive(Debug)]
pub struct Notifications {
    values: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl Notifications {
    /// Wraps the receiving end of a backend's notification channel.
    pub fn new(values: mpsc::UnboundedReceiver<Vec<u8>>) -> Self {
        Self { values }
    }

    /// The next value; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        self.values.recv().await
    }
}

/// A Bluetooth LE central (the phone's role). Object-safe: the SDK holds an `Arc<dyn Central>`
/// and never knows whether the radio is real or simulated.
#[async_trait]
pub trait Central: Send + Sync {
    /// The adapter's state now.
    async fn adapter_state(&self) -> AdapterState;

    /// What the user must do before a scan can work, most pressing first; empty when nothing.
    /// The default derives it from [`Central::adapter_state`]; a platform radio that knows more
    /// (which permissions are missing, location services) overrides it.
    async fn requirements(&self) -> Vec<Requirement> {
        self.adapter_state().await.requirements()
    }

    /// Starts scanning (replacing a scan already running) and returns its advertisements.
    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream>;

    /// Stops the scan; its stream ends.
    async fn stop_scan(&self) -> Result<()>;

    /// Connects, exchanges the ATT MTU and discovers (or recalls from the OS cache) the
    /// peripheral's GATT layout. Returns once the link is ready for writes.
    async fn connect(&self, peripheral: &PeripheralId) -> Result<Box<dyn Link>>;
}

#[async_trait]
impl<T: Central + ?Sized> Central for Arc<T> {
    async fn adapter_state(&self) -> AdapterState {
        (**self).adapter_state().await
    }

    async fn requirements(&self) -> Vec<Requirement> {
        (**self).requirements().await
    }

    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream> {
        (**self).scan(filter).await
    }

    async fn stop_scan(&self) -> Result<()> {
        (**self).stop_scan().await
    }

    async fn connect(&self, peripheral: &PeripheralId) -> Result<Box<dyn Link>> {
        (**self).connect(peripheral).await
    }
}

/// One connection to a peripheral.
#[async_trait]
pub trait Link: Send + Sync {
    /// The peripheral at the other end.
    fn peripheral(&self) -> &PeripheralId;

    /// The negotiated ATT MTU; one write or notification carries `mtu() - 3` bytes.
    fn mtu(&self) -> u16;

    /// Writes one ATT value (at most `mtu() - 3` bytes) to `characteristic`.
    async fn write(&self, characteristic: u128, value: &[u8], kind: WriteType) -> Result<()>;

    /// Enables notifications on `characteristic` (a CCCD write) and returns them.
    async fn notifications(&self, characteristic: u128) -> Result<Notifications>;

    /// Signal strength of the peripheral as this phone receives it now; unknown where the
    /// stack reports none.
    async fn rssi(&self) -> Result<Rssi>;

    /// Ends the connection.
    async fn disconnect(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Rssi;

    #[test]
    fn rssi_reads_as_the_app_and_the_logs_show_it() {
        assert_eq!(Rssi::from_dbm(-48).to_string(), "-48 dBm");
        assert_eq!(Rssi::UNKNOWN.to_string(), "unknown");
        assert_eq!(format!("{:?}", Rssi::UNKNOWN), "unknown");
        assert_eq!(Rssi::from_dbm(-48).dbm(), Some(-48));
        assert!(!Rssi::UNKNOWN.is_known());
    }

    proptest! {
        /// 127 (the HCI's "not available") and only 127 is unknown; every other value is kept
        /// as measured.
        #[test]
        fn hci_values_are_measurements_except_127(value: i16) {
            let rssi = Rssi::from_hci(value);
            if value == 127 {
                prop_assert_eq!(rssi, Rssi::UNKNOWN);
            } else {
                prop_assert_eq!(rssi.dbm(), Some(value));
                prop_assert_eq!(rssi, Rssi::from_dbm(value));
            }
        }
    }
}

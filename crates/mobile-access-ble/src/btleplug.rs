//! The real radio, through btleplug (BlueZ over D-Bus on Linux, CoreBluetooth on Apple
//! platforms, WinRT on Windows, the Java bridge on Android).
//!
//! The mapping is deliberately thin: btleplug's own `Central`/`Peripheral` calls, with its
//! identifiers, UUIDs, states and errors translated to this crate's. What btleplug cannot do
//! (choose Android's scan mode, restore iOS state, reuse iOS's GATT cache) is listed in the
//! repository's ARCHITECTURE.md together with what the app must do about it.

use std::{
    collections::HashMap,
    future::Future,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use btleplug::{
    api::{
        self, Central as _, CentralEvent, CentralState, Characteristic, Manager as _, Peripheral as _,
        PeripheralProperties,
    },
    platform::{Adapter, Manager, Peripheral},
};
use futures_util::{FutureExt, StreamExt};
use mobile_access_protocol::SERVICE_UUID;
use tokio::{sync::mpsc, task::JoinHandle, time::Instant};
use uuid::Uuid;

use crate::{
    AdapterState, Central, DisconnectCause, Error, Link, Notifications, PeripheralId, Result, Rssi, ScanEvent,
    ScanFilter, ScanStream, WriteType,
};

/// How long finding an adapter may take before the radio counts as unavailable. Opening the
/// system bus and asking BlueZ for adapters takes milliseconds when it works; without a running
/// Bluetooth service it either fails at once or would hang.
pub const ADAPTER_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any other single Bluetooth operation (discovery, a write, a subscription, a
/// disconnect) may take before it counts as failed.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a scan reads the adapter's device properties besides its D-Bus signals.
const PROPERTY_POLL: Duration = Duration::from_millis(500);

/// How often a scan on BlueZ restarts discovery, so that every advertiser in range is reported
/// again (`None` where the platform's scan needs no help).
///
/// Why: Linux scans with the controller's duplicate filter on, so an advertiser is reported once
/// per scan enable, and an LE discovery's scan enable lasts 10.24 s. The kernel drops the
/// reports that arrive between the controller enabling its scan and the kernel marking the
/// discovery as running (a controller that reports at once, like BlueZ's emulated one, lands
/// there about half the time). The advertiser is then not reported for the rest of the window:
/// the real-stack test's harness scan listed nothing for 20 s (btmon showed the two reports
/// arriving before "Discovering: Enabled", and no Device Found). A restart opens a new window.
/// It restarts nothing while another program on the machine also scans (BlueZ keeps discovery
/// on for it); the kernel's own 10.24 s restarts still apply then.
const DISCOVERY_RESTART: Option<Duration> = if cfg!(target_os = "linux") { Some(Duration::from_secs(1)) } else { None };

/// How many times a scan subscribes again to an adapter event stream that ended under it.
const EVENT_STREAM_RESUBSCRIBES: u32 = 3;

/// Runs one btleplug operation so that nothing inside it can hang the caller or unwind into it:
/// a panic in btleplug or its BlueZ layer (bluez-async has been seen panicking during connect)
/// becomes [`Error::Backend`], an operation that never completes (a panicked worker task never
/// answers) becomes [`Error::Timeout`] after `limit`.
async fn guarded<T>(what: &'static str, limit: Duration, operation: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(limit, AssertUnwindSafe(operation).catch_unwind()).await {
        Err(_) => Err(Error::Timeout(what)),
        Ok(Err(_panic)) => {
            tracing::error!(operation = what, "the Bluetooth backend panicked");
            Err(Error::Backend(format!("the Bluetooth backend failed during {what}")))
        }
        Ok(Ok(result)) => result,
    }
}

/// The phone's (or desktop's) real Bluetooth adapter.
pub struct BtleplugCentral {
    adapter: Adapter,
    known: Arc<Mutex<HashMap<PeripheralId, btleplug::platform::PeripheralId>>>,
    scan: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for BtleplugCentral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtleplugCentral").finish_non_exhaustive()
    }
}

impl BtleplugCentral {
    /// Opens the first Bluetooth adapter. Fails within [`ADAPTER_TIMEOUT`] with
    /// [`Error::Unavailable`] when there is none (or no Bluetooth service to ask).
    pub async fn new() -> Result<Self> {
        Self::open(None, ADAPTER_TIMEOUT).await
    }

    /// Opens the adapter named `name` (on Linux BlueZ's `hci0`, `hci1`, …): for machines with
    /// several controllers. Fails within `limit` (a slow machine, or a Bluetooth service still
    /// starting, needs more than [`ADAPTER_TIMEOUT`]) with [`Error::Unavailable`], naming the
    /// adapters there are when none has that name.
    pub async fn with_adapter(name: &str, limit: Duration) -> Result<Self> {
        Self::open(Some(name), limit).await
    }

    async fn open(name: Option<&str>, limit: Duration) -> Result<Self> {
        let adapter = match guarded("opening the adapter", limit, find_adapter(name)).await {
            Err(Error::Timeout(_)) => Err(Error::Unavailable("the Bluetooth service did not answer".to_owned())),
            other => other,
        }?;
        Ok(Self { adapter, known: Arc::default(), scan: Mutex::new(None) })
    }

    fn platform_id(&self, peripheral: &PeripheralId) -> Result<btleplug::platform::PeripheralId> {
        let known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.get(peripheral).cloned().ok_or_else(|| Error::NotFound(peripheral.clone()))
    }

    fn stop_scan_task(&self) {
        if let Some(task) = self.scan.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

/// The adapter named `name`, or the first one.
async fn find_adapter(name: Option<&str>) -> Result<Adapter> {
    let unavailable = |e: btleplug::Error| Error::Unavailable(e.to_string());
    let manager = Manager::new().await.map_err(unavailable)?;
    let adapters = manager.adapters().await.map_err(unavailable)?;
    let Some(name) = name else {
        return adapters.into_iter().next().ok_or_else(|| Error::Unavailable("no Bluetooth adapter".to_owned()));
    };
    let mut seen = Vec::new();
    for adapter in adapters {
        // BlueZ describes an adapter as "hci0 (usb:v1D6Bp0246d0540)".
        let info = adapter.adapter_info().await.map_err(unavailable)?;
        if adapter_named(&info, name) {
            return Ok(adapter);
        }
        seen.push(info);
    }
    Err(Error::Unavailable(format!("no Bluetooth adapter named {name} (there are: {})", seen.join(", "))))
}

/// True if btleplug's description of an adapter names `name`.
fn adapter_named(info: &str, name: &str) -> bool {
    info.split(|c: char| c.is_whitespace() || c == '(').next() == Some(name)
}

#[async_trait]
impl Central for BtleplugCentral {
    async fn adapter_state(&self) -> AdapterState {
        match self.adapter.adapter_state().await {
            Ok(state) => map_state(&state),
            Err(e) => match map_error(e, None) {
                Error::Unauthorized => AdapterState::Unauthorized,
                Error::AdapterOff => AdapterState::PoweredOff,
                _ => AdapterState::Unavailable,
            },
        }
    }

    async fn scan(&self, filter: ScanFilter) -> Result<ScanStream> {
        self.adapter_state().await.ready()?;
        self.stop_scan_task();
        let mut events = guarded("scanning", OPERATION_TIMEOUT, async {
            self.adapter.events().await.map_err(|e| map_error(e, None))
        })
        .await?;
        // What BlueZ holds now may be from before this scan: held back until heard (see News).
        let mut stale = HashMap::new();
        if let Ok(cached) = guarded("scanning", OPERATION_TIMEOUT, async {
            self.adapter.peripherals().await.map_err(|e| map_error(e, None))
        })
        .await
        {
            for peripheral in cached {
                if let Ok(Some(properties)) = peripheral.properties().await
                    && let Some(data) = properties.service_data.get(&Uuid::from_u128(SERVICE_UUID))
                {
                    stale.insert(peripheral.id(), data.clone());
                }
            }
        }
        let services = api::ScanFilter { services: filter.services.iter().map(|s| Uuid::from_u128(*s)).collect() };
        guarded("scanning", OPERATION_TIMEOUT, async {
            self.adapter.start_scan(services.clone()).await.map_err(|e| map_error(e, None))
        })
        .await?;
        let (sender, receiver) = mpsc::channel(ScanStream::CAPACITY);
        let mut heard = Heard {
            adapter: self.adapter.clone(),
            filter,
            news: News { stale, last: HashMap::new() },
            known: self.known.clone(),
            sender,
        };
        let task = tokio::spawn(async move {
            let adapter = heard.adapter.clone();
            // BlueZ updates a device's properties with every advertisement it hears, but the
            // D-Bus signals saying so can go missing: bluez-async removes match rules from a
            // spawned task when a stream is dropped (it panics there now and then, "No match
            // with that id found"). So the scan also reads the devices' properties twice a
            // second, and reports what changed whichever way it learned of it.
            let mut poll = tokio::time::interval(PROPERTY_POLL);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let restart_every = DISCOVERY_RESTART.unwrap_or(Duration::from_secs(3600));
            let mut restart = tokio::time::interval_at(Instant::now() + restart_every, restart_every);
            restart.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut resubscribed = 0;
            loop {
                tokio::select! {
                    event = events.next() => match event {
                        Some(event) => {
                            let Some((platform_id, source)) = advertisement_of(&event) else { continue };
                            if !heard.report(platform_id, source).await {
                                return;
                            }
                        }
                        // The adapter's event stream ended under a live scan (the same bug can
                        // take it down): subscribe again rather than end the caller's scan.
                        None => {
                            if heard.sender.is_closed() || resubscribed == EVENT_STREAM_RESUBSCRIBES {
                                tracing::warn!("the Bluetooth event stream ended; the scan ends");
                                return;
                            }
                            resubscribed += 1;
                            tracing::warn!(attempt = resubscribed, "the Bluetooth event stream ended during a scan; subscribing again");
                            match guarded("scanning", OPERATION_TIMEOUT, async {
                                adapter.events().await.map_err(|e| map_error(e, None))
                            })
                            .await
                            {
                                Ok(again) => events = again,
                                Err(error) => {
                                    tracing::warn!(%error, "the Bluetooth event stream could not be opened again; the scan ends");
                                    return;
                                }
                            }
                        }
                    },
                    _ = poll.tick() => {
                        let Ok(Ok(peripherals)) = tokio::time::timeout(OPERATION_TIMEOUT, adapter.peripherals()).await else { continue };
                        for peripheral in peripherals {
                            if !heard.report(&peripheral.id(), Source::Cached).await {
                                return;
                            }
                        }
                    }
                    _ = restart.tick(), if DISCOVERY_RESTART.is_some() => {
                        if heard.sender.is_closed() {
                            return;
                        }
                        // A failed restart leaves the scan running on the kernel's own windows;
                        // the next tick tries again.
                        let restarted = guarded("scanning", OPERATION_TIMEOUT, async {
                            adapter.stop_scan().await.map_err(|e| map_error(e, None))?;
                            adapter.start_scan(services.clone()).await.map_err(|e| map_error(e, None))
                        })
                        .await;
                        if let Err(error) = restarted {
                            tracing::debug!(%error, "restarting discovery failed; scanning on");
                        }
                    }
                }
            }
        });
        *self.scan.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        Ok(ScanStream::new(receiver))
    }

    async fn stop_scan(&self) -> Result<()> {
        self.stop_scan_task();
        guarded("stopping the scan", OPERATION_TIMEOUT, async {
            self.adapter.stop_scan().await.map_err(|e| map_error(e, None))
        })
        .await
    }

    async fn connect(&self, peripheral: &PeripheralId) -> Result<Box<dyn Link>> {
        self.adapter_state().await.ready()?;
        let platform_id = self.platform_id(peripheral)?;
        let device = guarded("connect", OPERATION_TIMEOUT, async {
            self.adapter.peripheral(&platform_id).await.map_err(|e| map_error(e, Some(peripheral)))
        })
        .await?;
        let connected = guarded("connect", CONNECT_TIMEOUT, async {
            device.connect().await.map_err(|e| map_error(e, Some(peripheral)))
        })
        .await;
        if let Err(error) = connected {
            // BlueZ keeps trying to connect after the caller gave up, and refuses the next
            // attempt while it does: cancel it.
            let _ = guarded("disconnect", OPERATION_TIMEOUT, async {
                device.disconnect().await.map_err(|e| map_error(e, Some(peripheral)))
            })
            .await;
            return Err(error);
        }
        // CoreBluetooth discovers every service, characteristic and descriptor here on each
        // connection; see ARCHITECTURE.md.
        guarded("service discovery", OPERATION_TIMEOUT, async {
            device.discover_services().await.map_err(|e| map_error(e, Some(peripheral)))
        })
        .await?;
        let characteristics: Vec<Characteristic> =
            device.characteristics().into_iter().filter(|c| c.service_uuid == Uuid::from_u128(SERVICE_UUID)).collect();
        Ok(Box::new(BtleplugLink { id: peripheral.clone(), device, characteristics }))
    }
}

/// How a scan learned what a device advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A signal BlueZ sends for an advertisement it just received: service data (btleplug's
    /// discovery filter sets `DuplicateData`, so BlueZ signals it for every advertisement, changed
    /// or not) or a new RSSI.
    Heard,
    /// What BlueZ holds for the device, which may date from before this scan: a read of its
    /// properties, or the `DeviceDiscovered` btleplug makes up for every cached device when an
    /// event stream opens.
    Cached,
}

/// The peripheral an advertisement-carrying central event is about, and how fresh it is.
fn advertisement_of(event: &CentralEvent) -> Option<(&btleplug::platform::PeripheralId, Source)> {
    match event {
        CentralEvent::ServiceDataAdvertisement { id, .. } | CentralEvent::RssiUpdate { id, .. } => {
            Some((id, Source::Heard))
        }
        CentralEvent::DeviceDiscovered(id) | CentralEvent::DeviceUpdated(id) => Some((id, Source::Cached)),
        _ => None,
    }
}

/// Which of what a scan learns is news worth reporting.
///
/// BlueZ keeps what devices advertised before and btleplug reports it when a scan starts as if
/// just received: a reader's nonce from an earlier tap, which it may no longer accept (seen on
/// BlueZ 5.66). So what was cached when the scan started is held back until the device is
/// heard during the scan. Heard means a BlueZ signal, not a changed value: a reader keeps its
/// nonce for up to its nonce window, and another program scanning on the same adapter (or the
/// same app's previous scan) may already have cached the nonce on the air now. Waiting for a
/// *change* then hid a live reader for the whole window (the real-stack test's harness scan
/// listed nothing for 20 s).
#[derive(Debug, Default)]
struct News<K> {
    /// Service data BlueZ had cached before the scan started, held back until heard.
    stale: HashMap<K, Vec<u8>>,
    /// What was last reported per device (service data and RSSI), so a poll or a repeated
    /// signal that brings nothing new reports nothing.
    last: HashMap<K, (Option<Vec<u8>>, Rssi)>,
}

impl<K: std::hash::Hash + Eq + Clone> News<K> {
    /// Whether `event` about device `key`, learned from `source`, is to be reported.
    fn admit(&mut self, key: &K, event: &ScanEvent, source: Source) -> bool {
        if let Some(cached) = self.stale.get(key) {
            if source == Source::Cached && event.service_data.as_ref() == Some(cached) {
                return false;
            }
            self.stale.remove(key);
        }
        let seen = (event.service_data.clone(), event.rssi);
        if self.last.get(key) == Some(&seen) {
            return false;
        }
        self.last.insert(key.clone(), seen);
        true
    }
}

/// What one scan has heard, and where it reports it.
struct Heard {
    adapter: Adapter,
    filter: ScanFilter,
    news: News<btleplug::platform::PeripheralId>,
    known: Arc<Mutex<HashMap<PeripheralId, btleplug::platform::PeripheralId>>>,
    sender: mpsc::Sender<ScanEvent>,
}

impl Heard {
    /// Reports `platform_id`'s advertisement if it is news and passes the filter; false once
    /// nobody listens.
    async fn report(&mut self, platform_id: &btleplug::platform::PeripheralId, source: Source) -> bool {
        let Ok(peripheral) = self.adapter.peripheral(platform_id).await else { return true };
        let Ok(Some(properties)) = peripheral.properties().await else { return true };
        let id = PeripheralId::new(platform_id.to_string());
        // BlueZ merges the scan filters of every client on the system: filter again.
        let Some(event) = scan_event(id.clone(), &properties, &self.filter, Instant::now()) else { return true };
        if !self.news.admit(platform_id, &event, source) {
            return true;
        }
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, platform_id.clone());
        !matches!(self.sender.try_send(event), Err(mpsc::error::TrySendError::Closed(_)))
    }
}

/// One connection through btleplug.
struct BtleplugLink {
    id: PeripheralId,
    device: Peripheral,
    characteristics: Vec<Characteristic>,
}

impl BtleplugLink {
    fn characteristic(&self, uuid: u128) -> Result<&Characteristic> {
        let wanted = Uuid::from_u128(uuid);
        self.characteristics.iter().find(|c| c.uuid == wanted).ok_or(Error::CharacteristicNotFound(uuid))
    }
}

#[async_trait]
impl Link for BtleplugLink {
    fn peripheral(&self) -> &PeripheralId {
        &self.id
    }

    fn mtu(&self) -> u16 {
        self.device.mtu()
    }

    async fn write(&self, characteristic: u128, value: &[u8], kind: WriteType) -> Result<()> {
        let max = usize::from(self.mtu()).saturating_sub(3);
        if value.len() > max {
            return Err(Error::PayloadTooLarge { len: value.len(), max });
        }
        let c = self.characteristic(characteristic)?;
        guarded("write", OPERATION_TIMEOUT, async {
            self.device.write(c, value, write_type(kind)).await.map_err(|e| map_error(e, Some(&self.id)))
        })
        .await
    }

    async fn notifications(&self, characteristic: u128) -> Result<Notifications> {
        let c = self.characteristic(characteristic)?.clone();
        let mut stream = guarded("subscribe", OPERATION_TIMEOUT, async {
            self.device.notifications().await.map_err(|e| map_error(e, Some(&self.id)))
        })
        .await?;
        guarded("subscribe", OPERATION_TIMEOUT, async {
            self.device.subscribe(&c).await.map_err(|e| map_error(e, Some(&self.id)))
        })
        .await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(notification) = stream.next().await {
                if notification.uuid == c.uuid && sender.send(notification.value).is_err() {
                    break;
                }
            }
        });
        Ok(Notifications::new(receiver))
    }

    async fn rssi(&self) -> Result<Rssi> {
        let read = guarded("reading RSSI", OPERATION_TIMEOUT, async {
            self.device.read_rssi().await.map_err(|e| match e {
                btleplug::Error::NotSupported(what) => Error::NotSupported(what),
                other => map_error(other, Some(&self.id)),
            })
        });
        match read.await {
            Ok(rssi) => Ok(Rssi::from_hci(rssi)),
            // Where the platform cannot read a connected peripheral's RSSI, the last one seen
            // advertising stands in; without one it is unknown.
            Err(Error::NotSupported(_)) => {
                let properties = self.device.properties().await.map_err(|e| map_error(e, Some(&self.id)))?;
                Ok(rssi_of(properties.as_ref()))
            }
            Err(e) => Err(e),
        }
    }

    async fn disconnect(&self) -> Result<()> {
        guarded("disconnect", OPERATION_TIMEOUT, async {
            self.device.disconnect().await.map_err(|e| map_error(e, Some(&self.id)))
        })
        .await
    }
}

/// btleplug's adapter state. `Unknown` is what CoreBluetooth reports before it settled and
/// what BlueZ reports without an adapter: either way nothing can be done yet.
pub(crate) fn map_state(state: &CentralState) -> AdapterState {
    match state {
        CentralState::PoweredOn => AdapterState::PoweredOn,
        CentralState::PoweredOff => AdapterState::PoweredOff,
        CentralState::Unknown => AdapterState::Unavailable,
    }
}

/// btleplug's error, with the peripheral it concerned when known.
pub(crate) fn map_error(error: btleplug::Error, peripheral: Option<&PeripheralId>) -> Error {
    let unknown = || PeripheralId::new("unknown");
    match error {
        btleplug::Error::PermissionDenied => Error::Unauthorized,
        btleplug::Error::NoAdapterAvailable => Error::Unavailable("no Bluetooth adapter".to_owned()),
        btleplug::Error::DeviceNotFound => Error::NotFound(peripheral.cloned().unwrap_or_else(unknown)),
        btleplug::Error::NotConnected => Error::Disconnected {
            peripheral: peripheral.cloned().unwrap_or_else(unknown),
            cause: DisconnectCause::Unknown,
        },
        btleplug::Error::TimedOut(_) => Error::Timeout("Bluetooth operation"),
        btleplug::Error::NotSupported(what) => Error::NotSupported(what),
        other => {
            let text = other.to_string();
            // BlueZ answers "org.bluez.Error.NotReady" while the adapter is powered off.
            if text.contains("NotReady") || text.contains("Not Powered") {
                Error::AdapterOff
            } else if text.contains("NotPermitted") || text.contains("NotAuthorized") {
                Error::Unauthorized
            } else {
                Error::Backend(text)
            }
        }
    }
}

pub(crate) fn write_type(kind: WriteType) -> api::WriteType {
    match kind {
        WriteType::WithResponse => api::WriteType::WithResponse,
        WriteType::WithoutResponse => api::WriteType::WithoutResponse,
    }
}

/// The RSSI btleplug knows of a peripheral: none, or 127 (the HCI's "not available", what BlueZ
/// passes on from emulated controllers and some chipsets), is unknown.
pub(crate) fn rssi_of(properties: Option<&PeripheralProperties>) -> Rssi {
    properties.and_then(|p| p.rssi).map_or(Rssi::UNKNOWN, Rssi::from_hci)
}

/// A scan event from what btleplug knows of a peripheral, if it passes `filter`.
///
/// An entry with neither an RSSI nor our service data is skipped (a cached device, not a fresh
/// advertisement). One carrying our service data is a reader and is reported whatever its RSSI:
/// on BlueZ with emulated controllers no advertisement has one, and skipping them would hide
/// every reader.
pub(crate) fn scan_event(
    peripheral: PeripheralId,
    properties: &PeripheralProperties,
    filter: &ScanFilter,
    seen_at: Instant,
) -> Option<ScanEvent> {
    let advertised: Vec<u128> =
        properties.services.iter().chain(properties.service_data.keys()).map(|u| u.as_u128()).collect();
    if !filter.matches(&advertised) {
        return None;
    }
    let service_data = properties.service_data.get(&Uuid::from_u128(SERVICE_UUID)).cloned();
    if properties.rssi.is_none() && service_data.is_none() {
        return None;
    }
    let rssi = rssi_of(Some(properties));
    Some(ScanEvent { peripheral, rssi, service_data, advertising_data: None, seen_at })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn adapter_states_map_to_what_the_app_must_say() {
        assert_eq!(map_state(&CentralState::PoweredOn), AdapterState::PoweredOn);
        assert_eq!(map_state(&CentralState::PoweredOff), AdapterState::PoweredOff);
        assert_eq!(map_state(&CentralState::Unknown), AdapterState::Unavailable);
    }

    #[test]
    fn errors_keep_their_meaning() {
        let id = PeripheralId::new("AA:BB");
        assert_eq!(map_error(btleplug::Error::PermissionDenied, None), Error::Unauthorized);
        assert!(matches!(map_error(btleplug::Error::NoAdapterAvailable, None), Error::Unavailable(_)));
        assert_eq!(map_error(btleplug::Error::DeviceNotFound, Some(&id)), Error::NotFound(id.clone()));
        assert_eq!(
            map_error(btleplug::Error::NotConnected, Some(&id)),
            Error::Disconnected { peripheral: id, cause: DisconnectCause::Unknown }
        );
        assert_eq!(
            map_error(btleplug::Error::TimedOut(Duration::from_secs(1)), None),
            Error::Timeout("Bluetooth operation")
        );
        assert_eq!(
            map_error(btleplug::Error::RuntimeError("org.bluez.Error.NotReady: Resource Not Ready".into()), None),
            Error::AdapterOff
        );
        assert!(
            matches!(map_error(btleplug::Error::RuntimeError("boom".into()), None), Error::Backend(t) if t.contains("boom"))
        );
    }

    #[test]
    fn write_types_map_one_to_one() {
        assert_eq!(write_type(WriteType::WithResponse), api::WriteType::WithResponse);
        assert_eq!(write_type(WriteType::WithoutResponse), api::WriteType::WithoutResponse);
    }

    fn reader_properties(rssi: Option<i16>) -> PeripheralProperties {
        let mut properties = PeripheralProperties { rssi, ..Default::default() };
        properties.services.push(Uuid::from_u128(SERVICE_UUID));
        properties.service_data.insert(Uuid::from_u128(SERVICE_UUID), vec![0x10, 0xC9, 0xC5]);
        properties
    }

    #[tokio::test]
    async fn scan_events_carry_rssi_and_our_service_data_and_respect_the_filter() {
        let now = Instant::now();
        let id = PeripheralId::new("reader");
        let event = scan_event(id.clone(), &reader_properties(Some(-48)), &ScanFilter::readers(), now).unwrap();
        assert_eq!(event.rssi, Rssi::from_dbm(-48));
        assert_eq!(event.service_data.as_deref(), Some(&[0x10, 0xC9, 0xC5][..]));
        let other = ScanFilter { services: vec![0x1234] };
        assert!(scan_event(id.clone(), &reader_properties(Some(-48)), &other, now).is_none());
        let stranger = PeripheralProperties { rssi: Some(-40), ..Default::default() };
        assert!(scan_event(id, &stranger, &ScanFilter::readers(), now).is_none());
    }

    /// BlueZ with emulated controllers (what CI runs) reports 127 or no RSSI for every
    /// advertisement: the reader must still be seen, its RSSI unknown.
    #[tokio::test]
    async fn a_reader_advertising_without_rssi_is_reported_with_an_unknown_rssi() {
        let now = Instant::now();
        let id = PeripheralId::new("reader");
        for rssi in [None, Some(Rssi::HCI_NOT_AVAILABLE)] {
            let event = scan_event(id.clone(), &reader_properties(rssi), &ScanFilter::readers(), now)
                .unwrap_or_else(|| panic!("a reader with RSSI {rssi:?} was dropped"));
            assert_eq!(event.rssi, Rssi::UNKNOWN);
            assert!(event.service_data.is_some());
        }
        // Without our service data and without an RSSI it is a cached entry, not an advertisement.
        let mut cached = reader_properties(None);
        cached.service_data.clear();
        assert!(scan_event(id.clone(), &cached, &ScanFilter::readers(), now).is_none());
        // With an RSSI it is a fresh advertisement (of a reader whose service data is elsewhere).
        cached.rssi = Some(-60);
        assert_eq!(scan_event(id, &cached, &ScanFilter::readers(), now).unwrap().rssi, Rssi::from_dbm(-60));
    }

    fn event_with(nonce: u8) -> ScanEvent {
        let id = PeripheralId::new("reader");
        let mut properties = reader_properties(None);
        properties.service_data.insert(Uuid::from_u128(SERVICE_UUID), vec![0x10, nonce]);
        scan_event(id, &properties, &ScanFilter::readers(), Instant::now()).unwrap()
    }

    /// The real-stack test's harness scan listed nothing for 20 s: an earlier scan on the same
    /// adapter had cached the nonce the reader still advertised, and the scan waited for it to
    /// change. A cached nonce is held back only until a BlueZ signal says it was heard now.
    #[tokio::test]
    async fn a_cached_nonce_is_reported_once_heard_during_the_scan_even_unchanged() {
        let mut news = News { stale: HashMap::from([("reader", vec![0x10, 1])]), last: HashMap::new() };
        let cached = event_with(1);
        assert!(!news.admit(&"reader", &cached, Source::Cached), "the cache alone is not news");
        assert!(!news.admit(&"reader", &cached, Source::Cached), "nor on the next poll");
        assert!(news.admit(&"reader", &cached, Source::Heard), "heard now, the same nonce is live");
        assert!(!news.admit(&"reader", &cached, Source::Heard), "a repeated advertisement is not news");
        assert!(!news.admit(&"reader", &cached, Source::Cached));
        assert!(news.admit(&"reader", &event_with(2), Source::Cached), "a rotated nonce is news however learned");
    }

    #[tokio::test]
    async fn a_changed_nonce_replaces_the_cached_one_and_unknown_devices_report_at_once() {
        let mut news = News { stale: HashMap::from([("reader", vec![0x10, 1])]), last: HashMap::new() };
        assert!(news.admit(&"reader", &event_with(2), Source::Cached), "BlueZ holds a newer nonce than the cache had");
        assert!(news.admit(&"reader", &event_with(1), Source::Cached), "the stale entry is gone once replaced");
        assert!(news.admit(&"other", &event_with(1), Source::Cached), "a device not cached at the start is news");
    }

    #[test]
    fn a_link_rssi_of_127_or_none_is_unknown() {
        let with = |rssi| PeripheralProperties { rssi, ..Default::default() };
        assert_eq!(rssi_of(Some(&with(Some(-70)))), Rssi::from_dbm(-70));
        assert_eq!(rssi_of(Some(&with(Some(127)))), Rssi::UNKNOWN);
        assert_eq!(rssi_of(Some(&with(None))), Rssi::UNKNOWN);
        assert_eq!(rssi_of(None), Rssi::UNKNOWN);
    }

    #[tokio::test]
    async fn a_panic_inside_the_backend_becomes_a_typed_error() {
        let result: Result<()> = guarded("connect", OPERATION_TIMEOUT, async {
            if std::hint::black_box(true) {
                panic!("No match with that id found");
            }
            Ok(())
        })
        .await;
        assert_eq!(result, Err(Error::Backend("the Bluetooth backend failed during connect".to_owned())));
    }

    #[tokio::test(start_paused = true)]
    async fn an_operation_that_never_answers_times_out_typed() {
        let result: Result<()> = guarded("write", Duration::from_secs(3), std::future::pending()).await;
        assert_eq!(result, Err(Error::Timeout("write")));
    }

    #[test]
    fn adapters_are_found_by_their_bluez_name() {
        assert!(adapter_named("hci1 (usb:v1D6Bp0246d0540)", "hci1"));
        assert!(adapter_named("hci1", "hci1"));
        assert!(!adapter_named("hci10 (usb:v1D6Bp0246d0540)", "hci1"));
        assert!(!adapter_named("hci0 (usb:v1D6Bp0246d0540)", "hci1"));
    }

    #[tokio::test]
    async fn no_adapter_fails_fast_with_a_clear_error() {
        let started = std::time::Instant::now();
        let result = BtleplugCentral::new().await;
        let elapsed = started.elapsed();
        assert!(elapsed < ADAPTER_TIMEOUT + Duration::from_millis(500), "took {elapsed:?}");
        // Without a system bus there can be no BlueZ and so no adapter: the error is certain.
        // With one, an adapter may exist and only the bound on time is checked.
        let no_bus = cfg!(target_os = "linux") && !std::path::Path::new("/run/dbus/system_bus_socket").exists();
        if no_bus {
            assert!(result.is_err(), "an adapter without a system bus?");
        }
        if let Err(error) = result {
            assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
        }
    }
}

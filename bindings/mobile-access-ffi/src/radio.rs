//! The phone's own Bluetooth behind the SDK: the core's `Central` and `Link` as foreign traits.
//!
//! btleplug is the default radio and the desktop path, but on a phone it scans in Android's
//! low-power mode, cannot ask for a high connection priority, and on iOS rediscovers every service
//! on each connection and has no state restoration (ARCHITECTURE.md, "btleplug gaps"). So an app
//! can hand `KeyButton.create` a radio of its own, written over `android.bluetooth` or
//! CoreBluetooth: it implements [`BluetoothCentral`] and [`BluetoothLink`] and the SDK drives it
//! exactly as it drives btleplug or the simulated radio.
//!
//! The foreign shape differs from the Rust traits in one way only: uniffi cannot carry a stream,
//! so advertisements and notifications are pushed by the platform into Rust objects the SDK
//! hands it ([`ScanSink`], [`NotificationSink`]), which feed the core's streams. UUIDs cross as
//! the platforms' own text form (`"4d41…-…"`, lowercase), peripheral ids as the platform's
//! string (a MAC address on Android, an `NSUUID` on iOS).
//!
//! App code can fail in two ways and neither crashes: a [`RadioError`] it throws keeps its
//! meaning (off, unauthorized, unavailable… stay distinct, because the member is told different
//! things), and any other exception becomes [`RadioError::Failed`].

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use mobile_access::ble::{
    self, Central, DisconnectCause, Link, Notifications, PeripheralId, Rssi, ScanEvent, ScanFilter, ScanStream,
};
pub use mobile_access::ble::{AdapterState, Requirement, WriteType};
use tokio::sync::mpsc;
use tracing::debug;

#[uniffi::remote(Enum)]
pub enum AdapterState {
    PoweredOn,
    PoweredOff,
    Unauthorized,
    Unavailable,
}

#[uniffi::remote(Enum)]
pub enum Requirement {
    GrantPermissions { permissions: Vec<String> },
    TurnOnBluetooth,
    TurnOnLocationServices,
    UseAnotherPhone,
    UpdateApp,
}

#[uniffi::remote(Enum)]
pub enum WriteType {
    WithResponse,
    WithoutResponse,
}

/// Why the platform's Bluetooth could not do what the SDK asked. Throw the variant that says
/// what happened: the SDK tells the member to switch Bluetooth on for `Off`, to grant the
/// permission for `Unauthorized` (`detail` may name the missing one), and that this phone cannot
/// open doors for `Unavailable`. `detail` is logged: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum RadioError {
    /// Bluetooth is switched off.
    #[error("Bluetooth is turned off: {detail}")]
    Off {
        /// Human message.
        detail: String,
    },
    /// The app lacks a Bluetooth permission (Android 12+ `BLUETOOTH_SCAN`/`BLUETOOTH_CONNECT`,
    /// location before; iOS authorization).
    #[error("the app may not use Bluetooth: {detail}")]
    Unauthorized {
        /// Which permission is missing.
        detail: String,
    },
    /// Location services are off and the platform finds nothing without them (Android 11 and
    /// older).
    #[error("location services are off: {detail}")]
    LocationServicesOff {
        /// Human message.
        detail: String,
    },
    /// No usable Bluetooth LE adapter.
    #[error("no Bluetooth adapter: {detail}")]
    Unavailable {
        /// Human message.
        detail: String,
    },
    /// The peripheral is not known to the platform (never seen, or gone).
    #[error("peripheral not found: {detail}")]
    NotFound {
        /// Human message.
        detail: String,
    },
    /// The connection could not be made (Android's GATT status 133, say). Often transient: the
    /// SDK tries once more.
    #[error("could not connect: {detail}")]
    ConnectionFailed {
        /// Human message.
        detail: String,
    },
    /// An established connection ended.
    #[error("connection lost: {detail}")]
    Disconnected {
        /// Human message.
        detail: String,
    },
    /// The peripheral lacks one of the reader's characteristics.
    #[error("characteristic not found: {detail}")]
    CharacteristicNotFound {
        /// The characteristic's UUID.
        detail: String,
    },
    /// Anything else the platform reported, or an exception the app's code threw.
    #[error("Bluetooth failed: {detail}")]
    Failed {
        /// Human message.
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for RadioError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        RadioError::Failed { detail: format!("unexpected error in the app's radio: {}", error.reason) }
    }
}

impl RadioError {
    fn into_ble(self, peripheral: Option<&PeripheralId>) -> ble::Error {
        let peripheral = || peripheral.cloned().unwrap_or_else(|| PeripheralId::new("?"));
        match self {
            RadioError::Off { .. } => ble::Error::AdapterOff,
            RadioError::Unauthorized { detail } => {
                debug!(%detail, "the app's radio: unauthorized");
                ble::Error::Unauthorized
            }
            RadioError::Unavailable { detail } => ble::Error::Unavailable(detail),
            RadioError::LocationServicesOff { .. } => ble::Error::LocationServicesOff,
            RadioError::NotFound { .. } => ble::Error::NotFound(peripheral()),
            RadioError::ConnectionFailed { detail } => {
                debug!(%detail, "the app's radio: connection failed");
                ble::Error::ConnectionFailed(peripheral())
            }
            RadioError::Disconnected { detail } => {
                debug!(%detail, "the app's radio: disconnected");
                ble::Error::Disconnected { peripheral: peripheral(), cause: DisconnectCause::Unknown }
            }
            RadioError::CharacteristicNotFound { detail } => {
                ble::Error::NotSupported(format!("characteristic {detail}"))
            }
            RadioError::Failed { detail } => ble::Error::Backend(detail),
        }
    }

    #[cfg(feature = "sim")]
    pub(crate) fn from_ble(error: ble::Error) -> Self {
        let detail = error.to_string();
        match error {
            ble::Error::AdapterOff => RadioError::Off { detail },
            ble::Error::Unauthorized => RadioError::Unauthorized { detail },
            ble::Error::Unavailable(_) => RadioError::Unavailable { detail },
            ble::Error::LocationServicesOff => RadioError::LocationServicesOff { detail },
            ble::Error::NotFound(_) => RadioError::NotFound { detail },
            ble::Error::ConnectionFailed(_) => RadioError::ConnectionFailed { detail },
            ble::Error::Disconnected { .. } => RadioError::Disconnected { detail },
            ble::Error::CharacteristicNotFound(_) => RadioError::CharacteristicNotFound { detail },
            _ => RadioError::Failed { detail },
        }
    }
}

/// The phone's Bluetooth LE central, implemented by the app over its platform's API. One
/// instance serves every tap; the SDK runs one scan at a time and holds at most one link.
#[uniffi::export(with_foreign)]
#[async_trait]
pub trait BluetoothCentral: Send + Sync {
    /// The adapter's state now. Report `Unauthorized` when a permission the radio needs is
    /// missing, so the member is asked for it rather than told Bluetooth is off.
    async fn adapter_state(&self) -> AdapterState;

    /// What the member must do before a scan can work, most pressing first; empty when
    /// nothing. Name the missing permissions (Android's `android.permission.…` names; iOS has
    /// one authorization and names none) and say when location services are off where the
    /// platform finds nothing without them (Android 11 and older). The Key Button asks this
    /// whenever the app calls `checkRequirements`, and before every tap.
    async fn requirements(&self) -> Vec<Requirement>;

    /// Starts a foreground scan for peripherals advertising one of `services` (128-bit UUIDs in
    /// text form; the filter is what lets iOS scan in the background and Android deliver
    /// results quickly) and reports each advertisement to `sink` until [`Self::stop_scan`].
    /// Replaces a scan already running.
    async fn start_scan(&self, services: Vec<String>, sink: Arc<ScanSink>) -> Result<(), RadioError>;

    /// Stops the scan and releases what it held.
    async fn stop_scan(&self) -> Result<(), RadioError>;

    /// Connects to `peripheral` (an id a scan reported), asks for the largest ATT MTU (517) and
    /// the fastest connection interval the platform allows, discovers the reader's service and
    /// returns once writes can be sent: `ConnectedLink(yourLink)`.
    async fn connect(&self, peripheral: String) -> Result<Arc<ConnectedLink>, RadioError>;
}

/// A [`BluetoothLink`] handed back from [`BluetoothCentral::connect`]. A wrapper because uniffi
/// 0.32 cannot return a foreign trait object from an async foreign method (its lifting code is
/// not general over the object's lifetime); an object holding one crosses fine.
#[derive(uniffi::Object)]
pub struct ConnectedLink {
    link: Arc<dyn BluetoothLink>,
}

#[uniffi::export]
impl ConnectedLink {
    /// Wraps the app's link.
    #[uniffi::constructor]
    pub fn new(link: Arc<dyn BluetoothLink>) -> Arc<Self> {
        Arc::new(Self { link })
    }

    /// The link it holds (for radios that wrap another, as the JVM tests' relay does).
    pub fn link(&self) -> Arc<dyn BluetoothLink> {
        Arc::clone(&self.link)
    }
}

impl std::fmt::Debug for ConnectedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectedLink").finish_non_exhaustive()
    }
}

/// One connection the app's radio made.
#[uniffi::export(with_foreign)]
#[async_trait]
pub trait BluetoothLink: Send + Sync {
    /// The negotiated ATT MTU (one packet carries `mtu - 3` bytes). Read once, after `connect`.
    fn mtu(&self) -> u16;

    /// Writes `value` (at most `mtu - 3` bytes) to `characteristic`. The SDK sends requests as
    /// back-to-back writes `WithoutResponse`: queue them in order.
    async fn write(&self, characteristic: String, value: Vec<u8>, write_type: WriteType) -> Result<(), RadioError>;

    /// Enables notifications on `characteristic` (the CCCD write) and delivers each value to
    /// `sink`, in order, until the connection ends; then calls `sink.end()`.
    async fn subscribe(&self, characteristic: String, sink: Arc<NotificationSink>) -> Result<(), RadioError>;

    /// The peripheral's signal strength now, `null`/`nil` when the platform reports none.
    async fn rssi(&self) -> Result<Option<i16>, RadioError>;

    /// Ends the connection and releases it.
    async fn disconnect(&self) -> Result<(), RadioError>;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the app's radio reports advertisements during a scan.
#[derive(Debug, uniffi::Object)]
pub struct ScanSink {
    events: Mutex<Option<mpsc::Sender<ScanEvent>>>,
}

#[uniffi::export]
impl ScanSink {
    /// One advertisement from `peripheral`: `rssi` as the platform reports it (`127`, the HCI's
    /// "not available", or `null` mean unknown), the service data of the mobile-access 16-bit
    /// service UUID, and the raw advertising bytes where the platform exposes them. Returns
    /// false once the SDK no longer listens (the scan was stopped): stop the platform's scan.
    pub fn advertisement(
        &self,
        peripheral: String,
        rssi: Option<i16>,
        service_data: Option<Vec<u8>>,
        advertising_data: Option<Vec<u8>>,
    ) -> bool {
        let guard = lock(&self.events);
        let Some(events) = guard.as_ref() else { return false };
        let event = ScanEvent {
            peripheral: PeripheralId::new(peripheral),
            rssi: rssi.map_or(Rssi::UNKNOWN, Rssi::from_hci),
            service_data,
            advertising_data,
            seen_at: tokio::time::Instant::now(),
        };
        // Scan results are lossy by nature: a full channel drops this one (ScanStream's rule).
        match events.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// The platform's scan ended by itself (it failed, or Bluetooth went off): the SDK stops
    /// waiting for readers.
    pub fn finish(&self) {
        lock(&self.events).take();
    }
}

/// Where the app's radio delivers notifications of one characteristic.
#[derive(Debug, uniffi::Object)]
pub struct NotificationSink {
    values: Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>,
}

#[uniffi::export]
impl NotificationSink {
    /// One notified value, in the order received.
    pub fn value(&self, value: Vec<u8>) {
        if let Some(values) = lock(&self.values).as_ref() {
            let _ = values.send(value);
        }
    }

    /// The connection ended: no more values. (Not `close`: that is every generated object's
    /// own release call in Kotlin.)
    pub fn end(&self) {
        lock(&self.values).take();
    }
}

/// 128-bit UUID in the platforms' text form (`8-4-4-4-12` lowercase hex).
pub(crate) fn uuid_text(uuid: u128) -> String {
    let hex = format!("{uuid:032x}");
    let part = |from: usize, to: usize| hex.get(from..to).unwrap_or_default().to_owned();
    format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))
}

/// The inverse of [`uuid_text`], accepting any case and with or without hyphens.
#[cfg(any(feature = "sim", test))]
pub(crate) fn parse_uuid(text: &str) -> Option<u128> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

/// The app's radio as the core's [`Central`].
pub(crate) struct ForeignCentral {
    radio: Arc<dyn BluetoothCentral>,
    /// The running scan's sink, closed when the scan stops or is replaced, so its stream ends
    /// even if the platform never calls `finish`.
    scan: Mutex<Option<Arc<ScanSink>>>,
}

impl ForeignCentral {
    pub(crate) fn new(radio: Arc<dyn BluetoothCentral>) -> Self {
        Self { radio, scan: Mutex::new(None) }
    }
}

#[async_trait]
impl Central for ForeignCentral {
    async fn adapter_state(&self) -> AdapterState {
        self.radio.adapter_state().await
    }

    async fn requirements(&self) -> Vec<Requirement> {
        self.radio.requirements().await
    }

    async fn scan(&self, filter: ScanFilter) -> ble::Result<ScanStream> {
        let (events, stream) = mpsc::channel(ScanStream::CAPACITY);
        let sink = Arc::new(ScanSink { events: Mutex::new(Some(events)) });
        if let Some(previous) = lock(&self.scan).replace(Arc::clone(&sink)) {
            previous.finish();
        }
        let services = filter.services.iter().copied().map(uuid_text).collect();
        self.radio.start_scan(services, sink).await.map_err(|e| e.into_ble(None))?;
        Ok(ScanStream::new(stream))
    }

    async fn stop_scan(&self) -> ble::Result<()> {
        if let Some(sink) = lock(&self.scan).take() {
            sink.finish();
        }
        self.radio.stop_scan().await.map_err(|e| e.into_ble(None))
    }

    async fn connect(&self, peripheral: &PeripheralId) -> ble::Result<Box<dyn Link>> {
        let connected =
            self.radio.connect(peripheral.as_str().to_owned()).await.map_err(|e| e.into_ble(Some(peripheral)))?;
        let link = Arc::clone(&connected.link);
        let mtu = link.mtu();
        Ok(Box::new(ForeignLink { link, peripheral: peripheral.clone(), mtu }))
    }
}

/// The app's link as the core's [`Link`].
struct ForeignLink {
    link: Arc<dyn BluetoothLink>,
    peripheral: PeripheralId,
    mtu: u16,
}

#[async_trait]
impl Link for ForeignLink {
    fn peripheral(&self) -> &PeripheralId {
        &self.peripheral
    }

    fn mtu(&self) -> u16 {
        self.mtu
    }

    async fn write(&self, characteristic: u128, value: &[u8], kind: WriteType) -> ble::Result<()> {
        let max = usize::from(self.mtu.saturating_sub(3));
        if value.len() > max {
            return Err(ble::Error::PayloadTooLarge { len: value.len(), max });
        }
        self.link
            .write(uuid_text(characteristic), value.to_vec(), kind)
            .await
            .map_err(|e| e.into_ble(Some(&self.peripheral)))
    }

    async fn notifications(&self, characteristic: u128) -> ble::Result<Notifications> {
        let (values, stream) = mpsc::unbounded_channel();
        let sink = Arc::new(NotificationSink { values: Mutex::new(Some(values)) });
        self.link.subscribe(uuid_text(characteristic), sink).await.map_err(|e| e.into_ble(Some(&self.peripheral)))?;
        Ok(Notifications::new(stream))
    }

    async fn rssi(&self) -> ble::Result<Rssi> {
        let rssi = self.link.rssi().await.map_err(|e| e.into_ble(Some(&self.peripheral)))?;
        Ok(rssi.map_or(Rssi::UNKNOWN, Rssi::from_hci))
    }

    async fn disconnect(&self) -> ble::Result<()> {
        self.link.disconnect().await.map_err(|e| e.into_ble(Some(&self.peripheral)))
    }
}

/// Feature `sim`: a Rust radio exposed through the same foreign traits, so a test written in
/// Kotlin or Swift can implement [`BluetoothCentral`] by relaying to it, and a whole tap crosses
/// the boundary both ways as it would with a platform radio.
#[cfg(feature = "sim")]
pub(crate) mod native {
    use super::*;
    use crate::runtime;

    /// Any core [`Central`] as a [`BluetoothCentral`].
    pub(crate) struct NativeCentral {
        pub(crate) central: Arc<dyn Central>,
    }

    /// Runs radio work on the library's runtime: a radio error keeps its meaning, the library's
    /// own failure (a panic) becomes `Failed`.
    pub(crate) async fn on_runtime<T: Send + 'static>(
        work: impl Future<Output = ble::Result<T>> + Send + 'static,
    ) -> Result<T, RadioError> {
        match runtime::run(async move { Ok(work.await) }).await {
            Ok(inner) => inner.map_err(RadioError::from_ble),
            Err(error) => Err(RadioError::Failed { detail: error.to_string() }),
        }
    }

    #[async_trait]
    impl BluetoothCentral for NativeCentral {
        async fn adapter_state(&self) -> AdapterState {
            let central = Arc::clone(&self.central);
            runtime::run(async move { Ok(central.adapter_state().await) }).await.unwrap_or(AdapterState::Unavailable)
        }

        async fn requirements(&self) -> Vec<Requirement> {
            let central = Arc::clone(&self.central);
            runtime::run(async move { Ok(central.requirements().await) })
                .await
                .unwrap_or_else(|_| vec![Requirement::UseAnotherPhone])
        }

        async fn start_scan(&self, services: Vec<String>, sink: Arc<ScanSink>) -> Result<(), RadioError> {
            let services = services
                .iter()
                .map(|s| parse_uuid(s).ok_or_else(|| RadioError::Failed { detail: format!("bad UUID {s}") }))
                .collect::<Result<Vec<_>, _>>()?;
            let central = Arc::clone(&self.central);
            on_runtime(async move {
                let mut stream = central.scan(ScanFilter { services }).await?;
                tokio::spawn(async move {
                    while let Some(event) = stream.next().await {
                        let rssi = event.rssi.dbm();
                        if !sink.advertisement(
                            event.peripheral.to_string(),
                            rssi,
                            event.service_data,
                            event.advertising_data,
                        ) {
                            return;
                        }
                    }
                    sink.finish();
                });
                Ok(())
            })
            .await
        }

        async fn stop_scan(&self) -> Result<(), RadioError> {
            let central = Arc::clone(&self.central);
            on_runtime(async move { central.stop_scan().await }).await
        }

        async fn connect(&self, peripheral: String) -> Result<Arc<ConnectedLink>, RadioError> {
            let central = Arc::clone(&self.central);
            let link = on_runtime(async move { central.connect(&PeripheralId::new(peripheral)).await }).await?;
            Ok(ConnectedLink::new(Arc::new(NativeLink { link: Arc::from(link) })))
        }
    }

    struct NativeLink {
        link: Arc<dyn Link>,
    }

    #[async_trait]
    impl BluetoothLink for NativeLink {
        fn mtu(&self) -> u16 {
            self.link.mtu()
        }

        async fn write(&self, characteristic: String, value: Vec<u8>, write_type: WriteType) -> Result<(), RadioError> {
            let uuid = parse_uuid(&characteristic)
                .ok_or_else(|| RadioError::Failed { detail: format!("bad UUID {characteristic}") })?;
            let link = Arc::clone(&self.link);
            on_runtime(async move { link.write(uuid, &value, write_type).await }).await
        }

        async fn subscribe(&self, characteristic: String, sink: Arc<NotificationSink>) -> Result<(), RadioError> {
            let uuid = parse_uuid(&characteristic)
                .ok_or_else(|| RadioError::Failed { detail: format!("bad UUID {characteristic}") })?;
            let link = Arc::clone(&self.link);
            on_runtime(async move {
                let mut values = link.notifications(uuid).await?;
                tokio::spawn(async move {
                    while let Some(value) = values.next().await {
                        sink.value(value);
                    }
                    sink.end();
                });
                Ok(())
            })
            .await
        }

        async fn rssi(&self) -> Result<Option<i16>, RadioError> {
            let link = Arc::clone(&self.link);
            on_runtime(async move { link.rssi().await }).await.map(Rssi::dbm)
        }

        async fn disconnect(&self) -> Result<(), RadioError> {
            let link = Arc::clone(&self.link);
            on_runtime(async move { link.disconnect().await }).await
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn uuids_cross_in_the_platforms_text_form() {
        let service = mobile_access_protocol::SERVICE_UUID;
        let text = uuid_text(service);
        assert_eq!(text.len(), 36);
        assert_eq!(text.matches('-').count(), 4);
        assert_eq!(text, text.to_lowercase());
        assert_eq!(parse_uuid(&text), Some(service));
        assert_eq!(parse_uuid(&text.to_uppercase()), Some(service));
        assert_eq!(parse_uuid("not a uuid"), None);
    }

    #[test]
    fn adapter_conditions_stay_distinct_through_the_app_radio() {
        let id = PeripheralId::new("AA:BB");
        let off = RadioError::Off { detail: "off".into() }.into_ble(Some(&id));
        let unauthorized = RadioError::Unauthorized { detail: "BLUETOOTH_SCAN".into() }.into_ble(Some(&id));
        let unavailable = RadioError::Unavailable { detail: "none".into() }.into_ble(Some(&id));
        assert_eq!(off, ble::Error::AdapterOff);
        assert_eq!(unauthorized, ble::Error::Unauthorized);
        assert!(matches!(unavailable, ble::Error::Unavailable(_)));
        // An exception in app code is a Bluetooth failure, not a crash.
        let thrown = RadioError::from(uniffi::UnexpectedUniFFICallbackError::new("NullPointerException"));
        assert!(matches!(thrown.into_ble(Some(&id)), ble::Error::Backend(detail) if detail.contains("NullPointer")));
    }

    #[test]
    fn a_stopped_scan_tells_the_platform_to_stop() {
        let (events, mut stream) = mpsc::channel(4);
        let sink = ScanSink { events: Mutex::new(Some(events)) };
        assert!(sink.advertisement("AA".into(), Some(-40), Some(vec![1]), None));
        let event = stream.try_recv().unwrap();
        assert_eq!(event.rssi, Rssi::from_dbm(-40));
        assert!(sink.advertisement("AA".into(), Some(127), None, None));
        assert_eq!(stream.try_recv().unwrap().rssi, Rssi::UNKNOWN);
        sink.finish();
        assert!(!sink.advertisement("AA".into(), None, None, None));
    }
}

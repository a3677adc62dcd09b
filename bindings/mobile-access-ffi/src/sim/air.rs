//! The simulated air as a platform's Bluetooth stack meets it: advertisements as they arrive,
//! connections, writes and notifications, one call at a time.
//!
//! [`SimulatedSite::radio`](super::SimulatedSite::radio) hands the SDK a whole radio; this hands
//! the *platform* one, for tests that put the platform's own Bluetooth API between the SDK and the
//! virtual readers. Under Robolectric, `android.bluetooth`'s shadows relay here, so a tap runs
//! SDK → `AndroidBluetoothRadio` → `android.bluetooth` → simulated air → `VirtualReader`, and
//! neither the SDK nor the Android radio can tell it from a phone. Pull-shaped (`next_…`) because
//! a foreign caller cannot hold a Rust stream; each returns `None` once its source ended.

use std::sync::Arc;

use mobile_access::ble::{Central, Link, Notifications, PeripheralId, ScanFilter, ScanStream, sim::SimCentral};
use tokio::sync::Mutex;

use crate::radio::{RadioError, WriteType, native::on_runtime, parse_uuid};

/// One advertising event as the phone's controller heard it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AirAdvertisement {
    /// The advertiser, in the simulator's naming (a platform maps it to its own addresses).
    pub peripheral: String,
    /// dBm, `None` where the phone's controller reports no RSSI.
    pub rssi: Option<i16>,
    /// The raw advertising data (AD structures), as a platform's scan record holds it.
    pub advertising_data: Vec<u8>,
}

/// The phone's side of the simulated air.
#[derive(uniffi::Object)]
pub struct SimulatedAir {
    central: Arc<SimCentral>,
    scan: Arc<Mutex<Option<ScanStream>>>,
}

impl std::fmt::Debug for SimulatedAir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedAir").finish_non_exhaustive()
    }
}

fn uuid(text: &str) -> Result<u128, RadioError> {
    parse_uuid(text).ok_or_else(|| RadioError::Failed { detail: format!("bad UUID {text}") })
}

impl SimulatedAir {
    pub(crate) fn new(central: Arc<SimCentral>) -> Arc<Self> {
        Arc::new(Self { central, scan: Arc::default() })
    }
}

#[uniffi::export]
impl SimulatedAir {
    /// Starts scanning for advertisers of `services` (the platform's UUID text; empty: every
    /// advertiser), replacing a scan in progress.
    pub async fn start_scan(&self, services: Vec<String>) -> Result<(), RadioError> {
        let services = services.iter().map(|s| uuid(s)).collect::<Result<Vec<_>, _>>()?;
        let (central, scan) = (Arc::clone(&self.central), Arc::clone(&self.scan));
        on_runtime(async move {
            let stream = central.scan(ScanFilter { services }).await?;
            *scan.lock().await = Some(stream);
            Ok(())
        })
        .await
    }

    /// The next advertisement heard; `None` once the scan stopped or ended.
    pub async fn next_advertisement(&self) -> Option<AirAdvertisement> {
        let scan = Arc::clone(&self.scan);
        on_runtime(async move {
            let mut scan = scan.lock().await;
            let Some(stream) = scan.as_mut() else { return Ok(None) };
            Ok(stream.next().await.map(|event| AirAdvertisement {
                peripheral: event.peripheral.to_string(),
                rssi: event.rssi.dbm(),
                advertising_data: event.advertising_data.unwrap_or_default(),
            }))
        })
        .await
        .ok()
        .flatten()
    }

    /// Stops the scan; a pending [`SimulatedAir::next_advertisement`] returns `None`.
    pub async fn stop_scan(&self) -> Result<(), RadioError> {
        let (central, scan) = (Arc::clone(&self.central), Arc::clone(&self.scan));
        on_runtime(async move {
            // Stopping closes the stream, which releases a reader waiting on it.
            let stopped = central.stop_scan().await;
            scan.lock().await.take();
            stopped
        })
        .await
    }

    /// Connects to `peripheral` (as named in its advertisements).
    pub async fn connect(&self, peripheral: String) -> Result<Arc<AirConnection>, RadioError> {
        let central = Arc::clone(&self.central);
        let link = on_runtime(async move { central.connect(&PeripheralId::new(peripheral)).await }).await?;
        Ok(Arc::new(AirConnection { link: Arc::from(link), notifications: Arc::default() }))
    }
}

/// One connection on the simulated air.
#[derive(uniffi::Object)]
pub struct AirConnection {
    link: Arc<dyn Link>,
    notifications: Arc<Mutex<Option<Notifications>>>,
}

impl std::fmt::Debug for AirConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AirConnection").field("peripheral", self.link.peripheral()).finish_non_exhaustive()
    }
}

#[uniffi::export]
impl AirConnection {
    /// The ATT MTU both sides agreed on.
    pub fn mtu(&self) -> u16 {
        self.link.mtu()
    }

    /// Writes `value` to `characteristic`; returns once the link layer took it (without response)
    /// or the peripheral acknowledged it (with response).
    pub async fn write(&self, characteristic: String, value: Vec<u8>, write_type: WriteType) -> Result<(), RadioError> {
        let (uuid, link) = (uuid(&characteristic)?, Arc::clone(&self.link));
        on_runtime(async move { link.write(uuid, &value, write_type).await }).await
    }

    /// Enables notifications of `characteristic` (the CCCD write).
    pub async fn subscribe(&self, characteristic: String) -> Result<(), RadioError> {
        let (uuid, link, notifications) =
            (uuid(&characteristic)?, Arc::clone(&self.link), Arc::clone(&self.notifications));
        on_runtime(async move {
            let values = link.notifications(uuid).await?;
            *notifications.lock().await = Some(values);
            Ok(())
        })
        .await
    }

    /// The next notified value; `None` once the connection ended (or nothing was subscribed).
    pub async fn next_notification(&self) -> Option<Vec<u8>> {
        let notifications = Arc::clone(&self.notifications);
        on_runtime(async move {
            let mut notifications = notifications.lock().await;
            let Some(values) = notifications.as_mut() else { return Ok(None) };
            Ok(values.next().await)
        })
        .await
        .ok()
        .flatten()
    }

    /// Disconnects; pending notifications end.
    pub async fn disconnect(&self) -> Result<(), RadioError> {
        let link = Arc::clone(&self.link);
        on_runtime(async move { link.disconnect().await }).await
    }
}

//! Feature `sim`: a site of virtual readers on the simulated radio, inside the library, so the
//! JVM tests and the desktop harness drive the real SDK through the real bindings against
//! readers provisioned by a real cloud. The radio runs on real time here (not a paused clock), so
//! a tap takes as long as it would on that radio profile. Never in app builds.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use mobile_access::ble::sim::{Position, RadioProfile, SimCentral, SimRadio};
use mobile_access_protocol::{Reason, Timestamp};
use mobile_access_reader::{Feedback, Light, Provisioning, VirtualReader, VirtualReaderOptions};
use tokio::sync::broadcast::error::RecvError;

mod air;

pub use air::{AirAdvertisement, AirConnection, SimulatedAir};

use crate::{
    DeviceSigner, KeyButton, KeyButtonConfig, MobileAccessError, SecureStorage,
    radio::{BluetoothCentral, native::NativeCentral},
    runtime,
};

/// Which phone's radio behaviour to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SimulatedPhone {
    /// iOS scan and connection timing.
    Ios,
    /// Android scan and connection timing.
    Android,
}

/// What a reader showed the member: its light, with the reason it decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ReaderSignal {
    /// True for green (unlocked), false for red (refused).
    pub green: bool,
    /// Why.
    pub reason: Reason,
}

struct SiteReader {
    id: String,
    door: String,
    reader: VirtualReader,
    signals: Arc<Mutex<Vec<ReaderSignal>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A simulated site: virtual readers provisioned from the cloud's provisioning JSON, and one
/// phone whose position the test sets.
#[derive(uniffi::Object)]
pub struct SimulatedSite {
    radio: SimRadio,
    phone: Arc<SimCentral>,
    readers: Mutex<Vec<SiteReader>>,
}

impl std::fmt::Debug for SimulatedSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedSite").field("readers", &lock(&self.readers).len()).finish_non_exhaustive()
    }
}

impl SimulatedSite {
    fn with_reader<T>(&self, reader_id: &str, f: impl FnOnce(&SiteReader) -> T) -> Result<T, MobileAccessError> {
        let readers = lock(&self.readers);
        let reader = readers
            .iter()
            .find(|r| r.id == reader_id)
            .ok_or_else(|| MobileAccessError::internal(format!("no simulated reader {reader_id}")))?;
        Ok(f(reader))
    }
}

#[uniffi::export]
impl SimulatedSite {
    /// An empty site with the phone at (`phone_x`, `phone_y`) metres, Bluetooth on. `seed` fixes
    /// the radio's random draws (noise, loss).
    #[uniffi::constructor]
    pub fn new(phone: SimulatedPhone, phone_x: f64, phone_y: f64, seed: u64) -> Result<Arc<Self>, MobileAccessError> {
        let _context = runtime::get()?.enter();
        let profile = match phone {
            SimulatedPhone::Ios => RadioProfile::ios(),
            SimulatedPhone::Android => RadioProfile::android(),
        };
        let radio = SimRadio::new(profile, seed);
        let phone = Arc::new(radio.add_central(Position::new(phone_x, phone_y)));
        Ok(Arc::new(Self { radio, phone, readers: Mutex::new(Vec::new()) }))
    }

    /// Hangs a reader at (`x`, `y`) metres, provisioned with `provisioning_json` exactly as the
    /// cloud returned it (`POST /v1/admin/doors/{id}/readers`, or `readers` of `seed-demo
    /// --json`). Its clock reads the wall clock. Returns its reader id (hex).
    pub fn add_reader(&self, provisioning_json: String, x: f64, y: f64) -> Result<String, MobileAccessError> {
        let runtime = runtime::get()?;
        let _context = runtime.enter();
        let provisioning = Provisioning::from_json(&provisioning_json)
            .map_err(|e| MobileAccessError::internal(format!("reader provisioning: {e}")))?;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let time = Timestamp(u32::try_from(secs).unwrap_or(u32::MAX));
        let reader =
            VirtualReader::spawn(&self.radio, &provisioning, VirtualReaderOptions::at(Position::new(x, y), time))
                .map_err(|e| MobileAccessError::internal(format!("virtual reader: {e}")))?;
        let signals = Arc::new(Mutex::new(Vec::new()));
        let mut feedback = reader.feedback();
        let collected = Arc::downgrade(&signals);
        runtime.spawn(async move {
            loop {
                match feedback.recv().await {
                    Ok(event) => {
                        let Feedback::Signal { light, reason, .. } = event.feedback else { continue };
                        let Some(signals) = collected.upgrade() else { return };
                        lock(&signals).push(ReaderSignal { green: light == Light::Green, reason });
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                }
            }
        });
        let id = provisioning.reader_id.to_string();
        lock(&self.readers).push(SiteReader { id: id.clone(), door: provisioning.door_name, reader, signals });
        Ok(id)
    }

    /// Moves the phone to (`x`, `y`) metres.
    pub fn move_phone(&self, x: f64, y: f64) {
        self.phone.move_to(Position::new(x, y));
    }

    /// Every light the reader showed so far, oldest first.
    pub fn signals(&self, reader_id: String) -> Result<Vec<ReaderSignal>, MobileAccessError> {
        self.with_reader(&reader_id, |r| lock(&r.signals).clone())
    }

    /// True while the reader's relay holds the door open.
    pub fn relay_is_open(&self, reader_id: String) -> Result<bool, MobileAccessError> {
        self.with_reader(&reader_id, |r| r.reader.relay_is_open())
    }

    /// The door a reader is on.
    pub fn door_name(&self, reader_id: String) -> Result<String, MobileAccessError> {
        self.with_reader(&reader_id, |r| r.door.clone())
    }

    /// The site's phone radio as an app-supplied radio would be handed to the SDK: a test in
    /// Kotlin or Swift implements `BluetoothCentral` by relaying to it, so a whole tap goes
    /// through the foreign-radio path (`KeyButton.create(..., radio)`).
    pub fn radio(&self) -> Arc<dyn BluetoothCentral> {
        Arc::new(NativeCentral { central: self.phone.clone() })
    }

    /// The site's phone radio as the phone's own Bluetooth stack meets the air: a test that puts
    /// the platform's Bluetooth API between the SDK and the readers (Robolectric's
    /// `android.bluetooth` shadows) relays it here.
    pub fn air(&self) -> Arc<SimulatedAir> {
        SimulatedAir::new(Arc::clone(&self.phone))
    }

    /// A Key Button on this site's phone; `owner_key` for doors that require owner
    /// verification.
    #[uniffi::method(default(owner_key = None))]
    pub fn key_button(
        &self,
        config: Arc<KeyButtonConfig>,
        storage: Arc<dyn SecureStorage>,
        signer: Option<Arc<dyn DeviceSigner>>,
        owner_key: Option<Arc<dyn crate::OwnerKey>>,
    ) -> Result<Arc<KeyButton>, MobileAccessError> {
        let _context = runtime::get()?.enter();
        Ok(Arc::new(KeyButton::with_central(&config, self.phone.clone(), storage, signer, None, owner_key)?))
    }
}

//! The Key Button as a foreign object: a thin forwarder to [`mobile_access::KeyButton`].

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use mobile_access::{Screen, ble::Central};

use crate::{
    AccessInfo, KeyButtonConfig, KeyButtonState, MobileAccessError, TapReport,
    platform::{DeviceSigner, ForeignListener, ForeignSigner, ForeignStorage, SecureStorage, StateListener},
    runtime,
};

/// The Key Button: one per signed-in member. Show it when [`KeyButton::is_visible`] says so,
/// call [`KeyButton::tap`] when the member taps it, and render the states a [`StateListener`]
/// receives.
#[derive(uniffi::Object)]
pub struct KeyButton {
    inner: Arc<mobile_access::KeyButton>,
}

impl std::fmt::Debug for KeyButton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl KeyButton {
    /// A button unlocking through `central`. `signer` is the app's hardware-backed key; without
    /// one a software key is created once and kept in `storage`.
    pub(crate) fn with_central(
        config: &KeyButtonConfig,
        central: Arc<dyn Central>,
        storage: Arc<dyn SecureStorage>,
        signer: Option<Arc<dyn DeviceSigner>>,
    ) -> Result<Self, MobileAccessError> {
        let signer = match signer {
            Some(signer) => Some(Arc::new(ForeignSigner::new(signer)?) as mobile_access::SharedSigner),
            None => None,
        };
        let storage = Arc::new(ForeignStorage(storage));
        let inner = mobile_access::KeyButton::new(config.to_core(), central, storage, signer)?;
        Ok(Self { inner: Arc::new(inner) })
    }
}

/// The real radio is a feature so that builds without Bluetooth libraries (the JVM tests on a
/// machine without D-Bus) still work; uniffi needs the whole exported block behind the `cfg`.
#[cfg(feature = "btleplug")]
#[uniffi::export]
impl KeyButton {
    /// A Key Button on the phone's Bluetooth adapter. Fails with `BluetoothUnavailable` when
    /// there is none. `signer` is the app's hardware-backed device key (Secure Enclave, Android
    /// Keystore); pass null to use a software key kept in `storage`.
    #[uniffi::constructor]
    pub async fn create(
        config: KeyButtonConfig,
        storage: Arc<dyn SecureStorage>,
        signer: Option<Arc<dyn DeviceSigner>>,
    ) -> Result<Arc<Self>, MobileAccessError> {
        runtime::run(async move {
            let central =
                mobile_access::ble::btleplug::BtleplugCentral::new().await.map_err(mobile_access::Error::from)?;
            Ok(Arc::new(Self::with_central(&config, Arc::new(central), storage, signer)?))
        })
        .await
    }
}

#[uniffi::export]
impl KeyButton {
    /// The tap: validates the member's rights and downloads a key when none is cached, finds the
    /// nearest reader of a door the key opens, waits for the phone to be held on tap-mode
    /// readers, and unlocks. Resolves with the reader's proven answer; throws otherwise. A tap
    /// while another runs throws `Busy`. Cancelling the calling coroutine or task cancels the
    /// tap too (uniffi drops the future); [`KeyButton::cancel`] does it from anywhere.
    pub async fn tap(&self) -> Result<TapReport, MobileAccessError> {
        let button = Arc::clone(&self.inner);
        let mut cancel_if_abandoned = CancelOnDrop(Some(Arc::clone(&self.inner)));
        let report = runtime::run(async move { Ok(button.tap().await?) }).await;
        cancel_if_abandoned.0 = None;
        report.map(TapReport::from)
    }

    /// Cancels the running tap, if any: it throws `Cancelled`.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Fetches the member's access (which decides visibility) and, when missing or due, a key,
    /// off the tap's critical path. Call it when the app comes to the foreground.
    pub async fn refresh(&self) -> Result<AccessInfo, MobileAccessError> {
        let button = Arc::clone(&self.inner);
        runtime::run(async move { Ok(button.refresh().await?) }).await
    }

    /// Tells the button which screen the app shows: it shows on the home screen only.
    pub fn set_screen(&self, screen: Screen) {
        self.inner.set_screen(screen);
    }

    /// True if the button should be shown now.
    pub fn is_visible(&self) -> bool {
        self.inner.is_visible()
    }

    /// The current state.
    pub fn state(&self) -> KeyButtonState {
        self.inner.state().into()
    }

    /// Adds a listener: it receives the current state at once, then every change, in order.
    pub fn add_listener(&self, listener: Arc<dyn StateListener>) {
        self.inner.add_listener(Arc::new(ForeignListener(listener)));
    }

    /// The member's access as last fetched (kept across restarts), if any.
    pub fn access(&self) -> Option<AccessInfo> {
        self.inner.access()
    }

    /// When the cached key stops being valid; until then taps need no network.
    pub fn key_expires_at(&self) -> Option<SystemTime> {
        self.inner.key_expires_at()
    }

    /// How much longer the phone can unlock without network (zero without a valid key).
    pub fn offline_validity(&self) -> Duration {
        self.inner.offline_validity()
    }

    /// HTTP requests sent since this button was created.
    pub fn http_requests(&self) -> u64 {
        self.inner.http_requests()
    }
}

/// Cancels the tap if the foreign caller abandons it (uniffi drops the future when a Kotlin
/// coroutine or Swift task is cancelled); disarmed once the tap completed.
struct CancelOnDrop(Option<Arc<mobile_access::KeyButton>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(button) = self.0.take() {
            button.cancel();
        }
    }
}

//! The Key Button as a foreign object: a thin forwarder to [`mobile_access::KeyButton`].

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use mobile_access::{AccountSummary, KeyDoor, RemoteDoors, Screen, ble::Central};

use crate::{
    Access, KeyButtonConfig, KeyButtonState, MobileAccessError, TapReport,
    owner::{ForeignOwnerKey, OwnerKey},
    platform::{
        DeviceSigner, ForeignListener, ForeignRequirementsListener, ForeignSigner, ForeignStorage,
        RequirementsListener, SecureStorage, StateListener,
    },
    radio::{BluetoothCentral, ForeignCentral, Requirement},
    runtime, startup,
    transport::{self, HttpTransport},
};

/// The Key Button: one per signed-in member. Show it when [`KeyButton::is_visible`] says so,
/// call [`KeyButton::tap`] when the member taps it, and render the states a [`StateListener`]
/// receives.
#[derive(uniffi::Object)]
pub struct KeyButton {
    inner: Arc<mobile_access::KeyButton>,
    /// The app's HTTP stack, for the accounts added later too.
    transport: Option<mobile_access::http::SharedTransport>,
    /// Hands-free unlocking while it runs (`start_hands_free`).
    hands_free: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
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
        transport: Option<Arc<dyn HttpTransport>>,
        owner_key: Option<Arc<dyn OwnerKey>>,
    ) -> Result<Self, MobileAccessError> {
        // Before anything reaches the radio or the TLS verifier (on Android both need start-up).
        startup::require()?;
        let signer = match signer {
            Some(signer) => Some(Arc::new(ForeignSigner::new(signer)?) as mobile_access::SharedSigner),
            None => None,
        };
        let storage = Arc::new(ForeignStorage(storage));
        let owner = match owner_key {
            Some(key) => Some(Arc::new(ForeignOwnerKey::new(key)?) as mobile_access::SharedOwnerKey),
            None => None,
        };
        let transport = transport::shared(transport);
        let config = config.to_core(transport.clone());
        let inner = mobile_access::KeyButton::with_owner_key(config, central, storage, signer, owner)?;
        Ok(Self { inner: Arc::new(inner), transport, hands_free: std::sync::Mutex::new(None) })
    }
}

#[uniffi::export]
impl KeyButton {
    /// A Key Button on the phone's Bluetooth. `radio` is the app's own Bluetooth central
    /// (`android.bluetooth` or CoreBluetooth, see [`BluetoothCentral`]); without one the SDK uses
    /// btleplug, in builds that carry it, and fails with `BluetoothUnavailable` in builds that do
    /// not (a phone build that relies on the app's radio). `signer` is the app's hardware-backed
    /// device key (Secure Enclave, Android Keystore); pass null to use a software key kept in
    /// `storage`. `transport` is the app's HTTP stack (see [`HttpTransport`]): optional where
    /// the build carries its own (desktop, the default features), required in a phone build
    /// without it (`NotInitialized` otherwise). On Android, `MobileAccess.initialize(context)`
    /// must have run first, or this fails with `NotInitialized`.
    #[uniffi::constructor(default(radio = None, transport = None, owner_key = None))]
    pub async fn create(
        config: Arc<KeyButtonConfig>,
        storage: Arc<dyn SecureStorage>,
        signer: Option<Arc<dyn DeviceSigner>>,
        radio: Option<Arc<dyn BluetoothCentral>>,
        transport: Option<Arc<dyn HttpTransport>>,
        owner_key: Option<Arc<dyn OwnerKey>>,
    ) -> Result<Arc<Self>, MobileAccessError> {
        runtime::run(async move {
            let central: Arc<dyn Central> = match radio {
                Some(radio) => Arc::new(ForeignCentral::new(radio)),
                None => default_central().await?,
            };
            Ok(Arc::new(Self::with_central(&config, central, storage, signer, transport, owner_key)?))
        })
        .await
    }
}

/// btleplug: the default radio where no app radio is given, and the desktop path.
#[cfg(feature = "btleplug")]
async fn default_central() -> Result<Arc<dyn Central>, MobileAccessError> {
    let central = mobile_access::ble::btleplug::BtleplugCentral::new().await.map_err(mobile_access::Error::from)?;
    Ok(Arc::new(central))
}

/// A build without btleplug (what a phone ships when the app brings its own radio) has no
/// radio of its own: say so, as the typed error the app already handles for "no Bluetooth".
#[cfg(not(feature = "btleplug"))]
async fn default_central() -> Result<Arc<dyn Central>, MobileAccessError> {
    Err(MobileAccessError::BluetoothUnavailable {
        detail: "this build of the SDK has no built-in Bluetooth: pass the app's radio to KeyButton.create".to_owned(),
    })
}

#[uniffi::export]
impl KeyButton {
    /// The tap: validates the member's rights and downloads a key when none is cached, finds the
    /// nearest reader of a door the key opens, waits for the phone to be held on tap-mode
    /// readers, and unlocks. Resolves with the reader's proven answer; throws otherwise. A tap
    /// while another runs throws `Busy`. Cancelling the calling coroutine or task cancels the
    /// tap too (uniffi drops the future); [`KeyButton::cancel`] does it from anywhere.
    pub async fn tap(&self) -> Result<TapReport, MobileAccessError> {
        self.run_flow(Flow::Tap(None)).await
    }

    /// Cancels the running tap, if any: it throws `Cancelled`.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Fetches the member's access (which decides visibility) and, when missing or due, a key,
    /// off the tap's critical path, in every account at once (each asks its own cloud). Call it
    /// when the app comes to the foreground. Returns the first account's access; another
    /// account's failure leaves its cached keys as they were (`refreshAccount` returns it).
    pub async fn refresh(&self) -> Result<Access, MobileAccessError> {
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

    /// Adds a listener: it receives the current state at once, then every change, in order,
    /// for as long as the returned handle lives (keep it; `remove` it, or close/drop it, to
    /// stop). The button holds listeners weakly, so a listener that refers to the button never
    /// keeps it alive. Kotlin: `button.states` is a `Flow` over this; Swift: `button.states()`
    /// an `AsyncStream`.
    pub fn add_listener(&self, listener: Arc<dyn StateListener>) -> Arc<ListenerHandle> {
        Arc::new(ListenerHandle(self.inner.add_listener(Arc::new(ForeignListener(listener)))))
    }

    /// What the member must do before a tap can work (grant permissions, turn Bluetooth on,
    /// turn location services on), most pressing first, as of the last check; empty when
    /// nothing stands in the way. Show it before the tap: a tap while one is unmet throws that
    /// requirement's error (`BluetoothUnauthorized`, `BluetoothOff`, `LocationServicesOff`,
    /// `BluetoothUnavailable`).
    pub fn requirements(&self) -> Vec<Requirement> {
        self.inner.requirements()
    }

    /// Asks the radio again and tells the requirements listeners if anything changed. Call it
    /// when the phone's state may have changed: a permission dialog answered, the app back in the
    /// foreground. (Kotlin's `button.requirements(context)` flow also calls it when Bluetooth or
    /// location services are switched.)
    pub async fn check_requirements(&self) -> Vec<Requirement> {
        let button = Arc::clone(&self.inner);
        // If the check itself failed (the runtime is gone), what was known stands; never an empty
        // list that would say nothing is in the way.
        runtime::run(async move { Ok(button.check_requirements().await) })
            .await
            .unwrap_or_else(|_| self.inner.requirements())
    }

    /// Adds a requirements listener: the requirements at once, then each change, for as long as
    /// the handle lives (held weakly, as state listeners are).
    pub fn add_requirements_listener(&self, listener: Arc<dyn RequirementsListener>) -> Arc<ListenerHandle> {
        Arc::new(ListenerHandle(self.inner.add_requirements_listener(Arc::new(ForeignRequirementsListener(listener)))))
    }

    /// The doors the cached keys open now, each with its `account` (empty before the first key:
    /// see `refresh`).
    pub fn doors(&self) -> Vec<KeyDoor> {
        self.inner.doors()
    }

    /// A tap at the door the member chose (`KeyDoor.id`): only its readers count, however
    /// near another door is. Otherwise as [`KeyButton::tap`]; a door the key does not open
    /// throws `UnknownDoor`.
    pub async fn tap_door(&self, door_id: String) -> Result<TapReport, MobileAccessError> {
        self.run_flow(Flow::Tap(Some(door_id))).await
    }

    /// The member's doors as each account's cloud lists them (one request each), each with its
    /// `account` and whether a remote unlock can reach it now, and the first account's remote
    /// unlock policy (each account's is in its `Access`).
    pub async fn remote_doors(&self) -> Result<RemoteDoors, MobileAccessError> {
        let button = Arc::clone(&self.inner);
        runtime::run(async move { Ok(button.remote_doors().await?) }).await
    }

    /// Opens the door over the network (`RemoteDoor.id` or `KeyDoor.id`): the cloud tells its
    /// online reader to open. For when Bluetooth is off or the member is not at the door; a tap
    /// falls back to it by itself where the workspace allows. The report's `path` is `REMOTE`.
    /// Throws `RemoteUnlockOff`, `ProximityRequired` (the workspace wants the phone at the
    /// door), `ReaderOffline` (the door stayed shut), or `Busy` while a tap runs.
    pub async fn unlock_remotely(&self, door_id: String) -> Result<TapReport, MobileAccessError> {
        self.run_flow(Flow::Remote(door_id)).await
    }

    /// The member's access as last fetched (kept across restarts), if any: in the account the
    /// button was created with (every account's: [`KeyButton::accounts`]).
    pub fn access(&self) -> Option<Access> {
        self.inner.access()
    }

    /// Signs the member in to another organization (its cloud and the member's token there in
    /// `config`; time limits stay the button's) as `id` (1–64 ASCII letters, digits, `-`, `_`),
    /// or again to one already added, with a new token. One button then holds every account's
    /// keys, is shown when any grants access, and opens the nearest door of any; nothing of one
    /// organization reaches another's cloud or readers. Keys cached under `id` by an earlier run
    /// load at once; `refresh` fetches the rest. Add the accounts each time the button is
    /// created: the SDK keeps no session tokens.
    pub fn add_account(&self, id: String, config: Arc<KeyButtonConfig>) -> Result<(), MobileAccessError> {
        let core = config.to_core(self.transport.clone());
        let account = mobile_access::AccountConfig { cloud: core.cloud, member_token: core.member_token };
        Ok(self.inner.add_account(&id, account)?)
    }

    /// Signs the member out of account `id`: its keys and access are forgotten. False for an
    /// unknown id and for `"primary"`, which lives as long as the button.
    pub fn remove_account(&self, id: String) -> Result<bool, MobileAccessError> {
        Ok(self.inner.remove_account(&id)?)
    }

    /// The member's accounts, `"primary"` first, each with its access and how many doors its
    /// cached key opens.
    pub fn accounts(&self) -> Vec<AccountSummary> {
        self.inner.accounts()
    }

    /// Refreshes account `id` alone and returns its access (null: no such account); `refresh`
    /// does every account and returns the first's.
    pub async fn refresh_account(&self, id: String) -> Result<Option<Access>, MobileAccessError> {
        let button = Arc::clone(&self.inner);
        runtime::run(async move { Ok(button.refresh_account(&id).await.transpose()?) }).await
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

    /// Turns hands-free unlocking on or off for this member (kept across restarts): the phone
    /// opens a door it stays at for a moment, without a tap, where the workspace and the door
    /// allow it, at range readers only. Turning it off ends a running `start_hands_free`.
    pub fn set_hands_free(&self, enabled: bool) -> Result<(), MobileAccessError> {
        Ok(self.inner.set_hands_free(enabled)?)
    }

    /// Whether the member turned hands-free unlocking on.
    pub fn hands_free_enabled(&self) -> bool {
        self.inner.hands_free_enabled()
    }

    /// The doors the cached key opens hands-free (for the settings screen).
    pub fn hands_free_doors(&self) -> Vec<KeyDoor> {
        self.inner.hands_free_doors()
    }

    /// Tells the SDK whether the phone is unlocked: hands-free opens doors only while it is
    /// (assumed locked until told). Android: on `ACTION_USER_PRESENT` and `ACTION_SCREEN_OFF`;
    /// iOS: on protected data becoming available or unavailable.
    pub fn set_phone_unlocked(&self, unlocked: bool) {
        self.inner.set_phone_unlocked(unlocked);
    }

    /// Starts hands-free unlocking on the SDK's runtime, until `stop_hands_free`, the member
    /// turns it off, or no door allows it (Android: from a foreground service of type
    /// `connectedDevice`; iOS: with the `bluetooth-central` background mode). Openings reach the
    /// state listeners like taps. Starting it again while it runs changes nothing.
    pub fn start_hands_free(&self) -> Result<(), MobileAccessError> {
        let mut running = self.hands_free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.as_ref().is_some_and(|task| !task.is_finished()) {
            return Ok(());
        }
        let button = Arc::clone(&self.inner);
        *running = Some(runtime::get()?.spawn(async move {
            if let Err(error) = button.run_hands_free(mobile_access::HandsFreeConfig::default()).await {
                tracing::warn!(%error, "hands-free stopped");
            }
        }));
        Ok(())
    }

    /// Stops hands-free unlocking (an opening under way is abandoned; the button is free at once).
    pub fn stop_hands_free(&self) {
        if let Some(task) = self.hands_free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            task.abort();
        }
    }

    /// Whether hands-free unlocking is running.
    pub fn is_hands_free_running(&self) -> bool {
        self.hands_free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }
}

impl Drop for KeyButton {
    fn drop(&mut self) {
        self.stop_hands_free();
    }
}

/// Keeps a state listener registered: `remove()` (or releasing the handle) removes it.
#[derive(Debug, uniffi::Object)]
pub struct ListenerHandle(mobile_access::ListenerHandle);

#[uniffi::export]
impl ListenerHandle {
    /// Removes the listener now: it receives nothing more. (Not `close`: that is every
    /// generated Kotlin object's own release call, which removes it too.)
    pub fn remove(&self) {
        self.0.remove();
    }
}

/// What the button is asked to do.
enum Flow {
    /// A tap, at the door chosen or the nearest.
    Tap(Option<String>),
    /// A remote unlock of this door.
    Remote(String),
}

impl KeyButton {
    /// One flow on the library's runtime, cancelled in the core if the foreign caller abandons
    /// it.
    async fn run_flow(&self, flow: Flow) -> Result<TapReport, MobileAccessError> {
        let button = Arc::clone(&self.inner);
        let mut cancel_if_abandoned = CancelOnDrop(Some(Arc::clone(&self.inner)));
        let report = runtime::run(async move {
            Ok(match flow {
                Flow::Tap(Some(door)) => button.tap_door(&door).await?,
                Flow::Tap(None) => button.tap().await?,
                Flow::Remote(door) => button.unlock_remotely(&door).await?,
            })
        })
        .await;
        cancel_if_abandoned.0 = None;
        report.map(TapReport::from)
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

//! The Key Button: visibility, the tap flow, its states and its report.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use mobile_access_ble::{Central, Requirement};
use mobile_access_protocol::{ReaderId, Reason, Timestamp};
use tokio::sync::watch;
use tracing::{Instrument, info, info_span, warn};

use crate::{
    Access, CloudConfig, Error, KeyButtonState, PhaseTimings, Result, UploadReport,
    account::{Account, AccountConfig, AccountSummary, Call, PRIMARY_ACCOUNT, each_at_once},
    journal::JournalEntry,
    keyring::{Keys, SharedSigner, software_device_key},
    listeners::Topic,
    owner::SharedOwnerKey,
    storage::SecureStorage,
    unlock::{Door, ExchangeKind, Heard, Held, Timeouts, held_for},
};

/// Receives every state change of the Key Button, each once and in order: on the thread that
/// made it, or on the thread still telling this listener an earlier state. Keep it quick: hand
/// the state to the UI thread and return.
pub trait StateListener: Send + Sync {
    /// The button's new state.
    fn on_state(&self, state: KeyButtonState);
}

/// Receives what the member must do before a tap can work, whenever that changes (see
/// [`KeyButton::requirements`]).
pub trait RequirementsListener: Send + Sync {
    /// The requirements now, most pressing first; empty when nothing stands in the way.
    fn on_requirements(&self, requirements: Vec<Requirement>);
}

/// The error a tap gets at once while `requirement` is unmet; `None` for what does not stop a tap
/// at the door (an app update: the cached key still opens).
fn unmet_error(requirement: &Requirement) -> Option<Error> {
    Some(match requirement {
        Requirement::GrantPermissions { .. } => Error::BluetoothUnauthorized,
        Requirement::TurnOnBluetooth => Error::BluetoothOff,
        Requirement::TurnOnLocationServices => Error::LocationServicesOff,
        Requirement::UseAnotherPhone => Error::BluetoothUnavailable,
        Requirement::UpdateApp => return None,
    })
}

/// How long a tap waits for an account's first keys while another account's keys are on the
/// phone (real time): long enough for a cloud that answers, short enough that one that does not
/// never holds up a door the phone can already open.
const BESIDE_HELD_KEYS: Duration = Duration::from_secs(3);

/// The button's state, and its state listeners.
type States = Topic<dyn StateListener, KeyButtonState>;
/// The requirements the listeners last heard, and the requirements listeners.
type Told = Topic<dyn RequirementsListener, Vec<Requirement>>;

/// Keeps a listener registered with a [`KeyButton`]: dropping it, or [`ListenerHandle::remove`],
/// removes the listener (it receives nothing afterwards).
#[must_use = "the listener is removed when its handle is dropped"]
pub struct ListenerHandle {
    /// Takes the listener off its topic (if the button still lives).
    unsubscribe: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// The one strong reference to the listener (a state or a requirements listener).
    listener: Mutex<Option<Box<dyn std::any::Any + Send + Sync>>>,
}

impl ListenerHandle {
    /// Removes the listener now.
    pub fn remove(&self) {
        if let Some(unsubscribe) = lock(&self.unsubscribe).take() {
            unsubscribe();
        }
        lock(&self.listener).take();
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.remove();
    }
}

impl std::fmt::Debug for ListenerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerHandle").field("active", &lock(&self.listener).is_some()).finish()
    }
}

/// A door the member's cached key opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDoor {
    /// The door's id (for [`KeyButton::tap_door`]).
    pub id: String,
    /// The account (organization) whose key opens it ([`crate::PRIMARY_ACCOUNT`] for the one
    /// the button was created with).
    pub account: String,
    /// Its name, to show.
    pub name: String,
    /// True if every reader on it is a tap reader: the phone must be held against it.
    pub needs_tap: bool,
}

/// Which screen the app shows: the Key Button lives on the home screen only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// The app's home screen.
    Home,
    /// Any other screen.
    Other,
}

/// What a tap ended with, when the reader gave a proven answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapOutcome {
    /// The reader opened the door (green light and sound).
    Unlocked,
    /// The reader refused, and why (red light and sound).
    Denied(Reason),
}

/// How a door was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnlockPath {
    /// Phone to reader, over Bluetooth.
    Bluetooth,
    /// Over the network: the cloud told the door's online reader to open (remote unlock).
    Remote,
}

/// Everything about one tap the app (or an installer's harness) may want to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapReport {
    /// Unlocked or denied.
    pub outcome: TapOutcome,
    /// The door's name.
    pub door: String,
    /// The account (organization) whose door it was.
    pub account: String,
    /// The reader that answered (over the network: the one the cloud commanded).
    pub reader: ReaderId,
    /// How the door was reached: over Bluetooth, or over the network (remote unlock).
    pub path: UnlockPath,
    /// Fast or full exchange over Bluetooth; `None` for a remote unlock.
    pub exchange: Option<ExchangeKind>,
    /// How long each phase took. A remote unlock has `scan` (listening for the door's reader,
    /// where the organization wants proof the phone is there) and `exchange` (the request to the
    /// cloud until the reader confirmed), in real time.
    pub timings: PhaseTimings,
    /// HTTP requests this tap sent (0 with a cached key).
    pub http_requests: u64,
    /// True if the reader refused a stale key and the tap refreshed it and retried.
    pub key_refreshed: bool,
}

/// How a [`KeyButton`] is set up.
#[derive(Debug, Clone)]
pub struct KeyButtonConfig {
    /// The access cloud.
    pub cloud: CloudConfig,
    /// The member's session token for the cloud.
    pub member_token: String,
    /// Per-phase time limits.
    pub timeouts: Timeouts,
}

/// The Key Button. One per signed-in member, however many organizations they belong to
/// ([`KeyButton::add_account`]); cheap to share behind an `Arc`.
pub struct KeyButton {
    pub(crate) central: Arc<dyn Central>,
    /// The app's storage: the phone's own settings here, each account's under its namespace.
    pub(crate) storage: Arc<dyn SecureStorage>,
    /// The member's accounts, the one the button was created with first.
    accounts: Mutex<Vec<Arc<Account>>>,
    /// The account the running flow is for, once known: its result goes to that journal only.
    flow_account: Mutex<Option<Arc<Account>>>,
    signer: SharedSigner,
    /// The phone's owner key, for doors that require owner verification (apps without one
    /// cannot open those).
    owner: Option<SharedOwnerKey>,
    pub(crate) timeouts: Timeouts,
    states: Arc<States>,
    next_listener: std::sync::atomic::AtomicU64,
    /// What the radio last said stands in the way.
    requirements: Mutex<Vec<Requirement>>,
    /// The list the requirements listeners last heard.
    told: Arc<Told>,
    screen: Mutex<Screen>,
    running: Mutex<Option<watch::Sender<bool>>>,
    /// The last of the member's readers heard over the air (a remote unlock's proof).
    pub(crate) heard: Mutex<Option<Heard>>,
    /// Whether the phone is unlocked, as the app last said (hands-free needs it).
    pub(crate) phone_unlocked: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for KeyButton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyButton").field("state", &self.state()).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Now, on the phone's wall clock, as the protocol counts time.
pub(crate) fn now() -> Timestamp {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    Timestamp(u32::try_from(secs).unwrap_or(u32::MAX))
}

impl KeyButton {
    /// A Key Button for the member behind `config.member_token`, unlocking through `central`.
    /// `signer` is the app's hardware-backed device key; without one, a software key is created
    /// once and kept in `storage`.
    pub fn new(
        config: KeyButtonConfig,
        central: Arc<dyn Central>,
        storage: Arc<dyn SecureStorage>,
        signer: Option<SharedSigner>,
    ) -> Result<Self> {
        Self::with_owner_key(config, central, storage, signer, None)
    }

    /// [`KeyButton::new`], with the phone's owner key ([`crate::OwnerKey`]): the key its OS
    /// releases only after biometric or passcode, which doors requiring owner verification
    /// take. Without one, those doors stay shut to this app
    /// ([`Error::OwnerVerificationUnavailable`]).
    pub fn with_owner_key(
        config: KeyButtonConfig,
        central: Arc<dyn Central>,
        storage: Arc<dyn SecureStorage>,
        signer: Option<SharedSigner>,
        owner: Option<SharedOwnerKey>,
    ) -> Result<Self> {
        let signer = match signer {
            Some(signer) => signer,
            None => software_device_key(storage.as_ref())?,
        };
        let owner_public = owner.as_ref().map(|owner| owner.public_key());
        let primary = Account::load(
            PRIMARY_ACCOUNT,
            config.cloud,
            config.member_token,
            &storage,
            &signer.public_key(),
            owner_public.as_ref(),
        )?;
        let button = Self {
            central,
            storage,
            accounts: Mutex::new(vec![Arc::new(primary)]),
            flow_account: Mutex::new(None),
            signer,
            owner,
            timeouts: config.timeouts,
            states: Arc::new(Topic::new(KeyButtonState::Hidden, StateListener::on_state)),
            next_listener: std::sync::atomic::AtomicU64::new(0),
            requirements: Mutex::new(Vec::new()),
            told: Arc::new(Topic::new(Vec::new(), RequirementsListener::on_requirements)),
            screen: Mutex::new(Screen::Other),
            running: Mutex::new(None),
            heard: Mutex::new(None),
            phone_unlocked: std::sync::atomic::AtomicBool::new(false),
        };
        Ok(button)
    }

    /// Signs the member in to another organization's cloud (or again to one already added,
    /// with a new token), as `id` (1–64 ASCII letters, digits, `-`, `_`): its keys sit beside
    /// the others', and a tap opens the nearest door of any account. Keys cached by an earlier
    /// run under this id load at once (they open doors with no network); call
    /// [`KeyButton::refresh`] for the rest. The app adds its accounts each time it creates the
    /// button, as it gives the first one's token: the SDK keeps no session tokens.
    pub fn add_account(&self, id: &str, config: AccountConfig) -> Result<()> {
        let owner = self.owner.as_ref().map(|owner| owner.public_key());
        let account = Account::load(
            id,
            config.cloud,
            config.member_token,
            &self.storage,
            &self.signer.public_key(),
            owner.as_ref(),
        )?;
        {
            let mut accounts = lock(&self.accounts);
            match accounts.iter_mut().find(|held| held.id == id) {
                Some(held) => *held = Arc::new(account),
                None => accounts.push(Arc::new(account)),
            }
        }
        info!(account = id, "account added");
        self.update_visibility();
        Ok(())
    }

    /// Signs the member out of account `id`: its keys, fast secrets and access are forgotten
    /// (tap results not yet uploaded stay, for a later sign-in). Returns false for an unknown id
    /// and for [`PRIMARY_ACCOUNT`], which lives as long as the button.
    pub fn remove_account(&self, id: &str) -> Result<bool> {
        if id == PRIMARY_ACCOUNT {
            return Ok(false);
        }
        let removed = {
            let mut accounts = lock(&self.accounts);
            let position = accounts.iter().position(|held| held.id == id);
            position.map(|index| accounts.remove(index))
        };
        let Some(account) = removed else { return Ok(false) };
        account.forget()?;
        info!(account = id, "account removed");
        self.update_visibility();
        Ok(true)
    }

    /// The member's accounts, the one the button was created with first.
    pub fn accounts(&self) -> Vec<AccountSummary> {
        self.all_accounts().iter().map(|account| account.summary()).collect()
    }

    pub(crate) fn all_accounts(&self) -> Vec<Arc<Account>> {
        lock(&self.accounts).clone()
    }

    /// The account the button was created with (first, and never removed).
    pub(crate) fn primary(&self) -> Option<Arc<Account>> {
        lock(&self.accounts).first().cloned()
    }

    /// The account holding door `door_id` in its cached key, if any.
    pub(crate) fn account_of_door(&self, door_id: &str) -> Option<Arc<Account>> {
        self.all_accounts().into_iter().find(|account| {
            account
                .keyring
                .keys()
                .ok()
                .flatten()
                .is_some_and(|keys| keys.readers().iter().any(|r| r.door_id == door_id))
        })
    }

    /// Adds a listener; it receives the current state at once, then every change, for as long
    /// as the returned handle lives. The button holds it weakly: a listener that refers to the
    /// button (a closure capturing it, a view model) never keeps the button alive.
    pub fn add_listener(&self, listener: Arc<dyn StateListener>) -> ListenerHandle {
        self.register(&self.states, listener)
    }

    /// Adds a requirements listener: it receives the requirements as last told at once, then
    /// each change, for as long as the handle lives (held weakly, as state listeners are).
    pub fn add_requirements_listener(&self, listener: Arc<dyn RequirementsListener>) -> ListenerHandle {
        // Told first, so the new listener starts from the list `requirements()` gives now.
        self.publish_requirements();
        self.register(&self.told, listener)
    }

    /// Subscribes `listener` to `topic` (which holds it weakly) and returns the handle that
    /// holds it strongly.
    fn register<L: ?Sized + Send + Sync + 'static, T: Clone + PartialEq + Send + 'static>(
        &self,
        topic: &Arc<Topic<L, T>>,
        listener: Arc<L>,
    ) -> ListenerHandle {
        let id = self.next_listener.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        topic.subscribe(id, &listener);
        let topic = Arc::downgrade(topic);
        let unsubscribe = move || {
            if let Some(topic) = topic.upgrade() {
                topic.unsubscribe(id);
            }
        };
        ListenerHandle {
            unsubscribe: Mutex::new(Some(Box::new(unsubscribe))),
            listener: Mutex::new(Some(Box::new(listener))),
        }
    }

    /// What the member must do before a tap can work (grant permissions, turn Bluetooth on,
    /// turn location services on, update the app), most pressing first, as of the last check:
    /// the app shows it before the tap rather than letting a tap fail. A tap while a radio
    /// requirement is unmet fails with its error (`BluetoothUnauthorized`, `BluetoothOff`,
    /// `LocationServicesOff`, `BluetoothUnavailable`); `UpdateApp` (the cloud answered 426)
    /// stops only what needs the cloud: a key on the phone still opens doors.
    pub fn requirements(&self) -> Vec<Requirement> {
        let mut requirements = lock(&self.requirements).clone();
        if self.all_accounts().iter().any(|account| account.cloud.update_required()) {
            requirements.push(Requirement::UpdateApp);
        }
        requirements
    }

    /// Tells the requirements listeners if the list changed since they last heard it.
    fn publish_requirements(&self) {
        let now = self.requirements();
        if self.told.publish_if_changed(now.clone()) {
            info!(requirements = ?now, "requirements before a tap changed");
        }
    }

    /// Asks the radio again what stands in the way and tells the requirements listeners if that
    /// changed. Platform code calls it when the phone's state changes (Bluetooth or location
    /// switched, a permission dialog answered, the app back in the foreground); a tap that fails
    /// for one of these reasons calls it too.
    pub async fn check_requirements(&self) -> Vec<Requirement> {
        let radio = self.central.requirements().await;
        *lock(&self.requirements) = radio;
        self.publish_requirements();
        self.requirements()
    }

    /// The current state.
    pub fn state(&self) -> KeyButtonState {
        self.states.current()
    }

    /// Sets the state and tells every state listener (see [`crate::listeners`]).
    pub(crate) fn set_state(&self, state: KeyButtonState) {
        self.states.publish(state);
    }

    /// Tells the button which screen the app shows; it shows only on the home screen.
    ///
    /// Leaving the home screen during a tap cancels it, and the tap ends `Hidden` (never a
    /// `Failed` flash for a member who walked away), whichever comes first of the screen change
    /// and the app cancelling the tap.
    pub fn set_screen(&self, screen: Screen) {
        *lock(&self.screen) = screen;
        if screen != Screen::Home {
            self.cancel();
        }
        self.update_visibility();
    }

    /// True if the button should be shown now: on the home screen, with the module on and at
    /// least one access group in any of the member's organizations (as of the last
    /// [`KeyButton::refresh`], kept across restarts).
    pub fn is_visible(&self) -> bool {
        *lock(&self.screen) == Screen::Home
            && self
                .all_accounts()
                .iter()
                .any(|account| account.access().as_ref().is_some_and(Access::allows_key_button))
    }

    fn update_visibility(&self) {
        if lock(&self.running).is_some() {
            return; // a running tap owns the state
        }
        let state = if self.is_visible() { KeyButtonState::Ready } else { KeyButtonState::Hidden };
        self.states.publish_if_changed(state);
    }

    /// The member's access in the account the button was created with, as last fetched (each
    /// account's: [`KeyButton::accounts`]).
    pub fn access(&self) -> Option<Access> {
        self.primary()?.access()
    }

    /// HTTP requests sent since this button was created, to every account's cloud.
    pub fn http_requests(&self) -> u64 {
        self.all_accounts().iter().map(|account| account.cloud.requests_sent()).sum()
    }

    /// When the first cached key stops being valid: until then the phone unlocks every door with
    /// no network.
    pub fn key_expires_at(&self) -> Option<SystemTime> {
        let expiry =
            self.all_accounts().iter().filter_map(|account| account.keyring.keys().ok()??.expires_at()).min()?;
        Some(UNIX_EPOCH + Duration::from_secs(u64::from(expiry.0)))
    }

    /// How much longer the phone can unlock without network (zero if no valid key).
    pub fn offline_validity(&self) -> Duration {
        self.key_expires_at().and_then(|expiry| expiry.duration_since(SystemTime::now()).ok()).unwrap_or_default()
    }

    /// Refreshes what the button knows, off the tap's critical path, in every account at once
    /// (each asks only its own cloud): the member's access (which decides visibility), the
    /// journal's upload and, when missing or due, the key. Apps call it on coming to the
    /// foreground; [`KeyButton::spawn_background_refresh`] calls it periodically.
    ///
    /// Returns the access of the account the button was created with. Another account's failure
    /// is logged and leaves its cached keys as they were; [`KeyButton::refresh_account`] returns
    /// it.
    pub async fn refresh(&self) -> Result<Access> {
        let accounts = self.all_accounts();
        let results = each_at_once(
            accounts.iter().map(|account| Box::pin(self.refresh_one(account)) as Call<'_, Result<Access>>).collect(),
        )
        .await;
        self.update_visibility();
        let mut results = accounts.iter().zip(results);
        let primary = results.next().map_or(Err(Error::NoAccessGroup), |(_, result)| result);
        for (account, result) in results {
            if let Err(error) = result {
                warn!(account = %account.id, %error, "account not refreshed; its cached keys stay");
            }
        }
        primary
    }

    /// [`KeyButton::refresh`] for account `id` alone, with its own result (`None`: no such
    /// account).
    pub async fn refresh_account(&self, id: &str) -> Option<Result<Access>> {
        let account = self.all_accounts().into_iter().find(|account| account.id == id)?;
        let result = self.refresh_one(&account).await;
        self.update_visibility();
        Some(result)
    }

    async fn refresh_one(&self, account: &Account) -> Result<Access> {
        let access = self.refresh_access_of(account).await?;
        if let Err(error) = upload_journal_of(account).await {
            warn!(account = %account.id, %error, "tap results not uploaded yet; kept for the next refresh");
        }
        if access.allows_key_button() {
            let due = account.keyring.keys()?.is_none_or(|keys| keys.wants_refresh(now()));
            if due {
                self.download_keys(account, None, None).await?;
            }
        } else {
            info!(account = %account.id, "member has no usable access there; forgetting its keys");
            account.keyring.clear()?;
        }
        Ok(access)
    }

    /// Uploads the tap results recorded since the last upload (offline taps included), each
    /// account's to its own cloud, and forgets those acknowledged. [`KeyButton::refresh`] calls
    /// it; failures keep them (the first failure is returned, after every account was tried).
    pub async fn upload_journal(&self) -> Result<UploadReport> {
        let mut report = UploadReport::default();
        let mut failed = None;
        for account in self.all_accounts() {
            match upload_journal_of(&account).await {
                Ok(uploaded) => {
                    report.accepted += uploaded.accepted;
                    report.duplicates += uploaded.duplicates;
                }
                Err(error) => {
                    failed.get_or_insert(error);
                }
            }
        }
        failed.map_or(Ok(report), Err)
    }

    /// Tap results waiting for the cloud, every account's.
    pub fn pending_journal(&self) -> Vec<JournalEntry> {
        self.all_accounts().iter().flat_map(|account| account.journal.pending()).collect()
    }

    /// Refreshes only what decides visibility (`GET /v1/me/access`) in every account, keeping it
    /// across restarts; returns the first account's, as [`KeyButton::refresh`] does.
    pub async fn refresh_access(&self) -> Result<Access> {
        let accounts = self.all_accounts();
        let results = each_at_once(
            accounts
                .iter()
                .map(|account| Box::pin(self.refresh_access_of(account)) as Call<'_, Result<Access>>)
                .collect(),
        )
        .await;
        self.update_visibility();
        results.into_iter().next().unwrap_or(Err(Error::NoAccessGroup))
    }

    async fn refresh_access_of(&self, account: &Account) -> Result<Access> {
        let access = account.cloud.access().instrument(info_span!("refresh_access", account = %account.id)).await;
        self.publish_requirements(); // a 426 asks for an update, a success clears it
        let access = access?;
        account.set_access(&access)?;
        Ok(access)
    }

    /// Refreshes every `period` on the SDK's own runtime, for as long as the button lives.
    pub fn spawn_background_refresh(self: &Arc<Self>, period: Duration) -> tokio::task::JoinHandle<()> {
        let button = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(jittered(period)).await;
                let Some(button) = button.upgrade() else { return };
                if let Err(error) = button.refresh().await {
                    warn!(%error, "background refresh failed");
                }
            }
        })
    }

    /// Validates the member's rights and downloads `account`'s keys in one request; `validated`
    /// hears when the cloud accepted the member (the tap shows "downloading" from then). Within
    /// `limit` (real time) when given, else the cloud client's call timeout.
    async fn download_keys(
        &self,
        account: &Account,
        validated: Option<tokio::sync::oneshot::Sender<()>>,
        limit: Option<Duration>,
    ) -> Result<Keys> {
        let device = self.signer.public_key();
        let owner = self.owner.as_ref().map(|owner| owner.public_key());
        let bundle = account
            .cloud
            .download_keys_within(&device.0, owner.as_ref().map(|key| &key.0[..]), validated, limit)
            .instrument(info_span!("download_keys", account = %account.id))
            .await?;
        let keys = Keys::from_bundle(bundle, &device, owner.as_ref())?;
        account.keyring.store(keys.clone())?;
        info!(account = %account.id, expires_at = keys.expires_at().map(|t| t.0), "key downloaded");
        Ok(keys)
    }

    /// Cancels the running tap, if any; it ends with [`Error::Cancelled`].
    pub fn cancel(&self) {
        if let Some(cancel) = lock(&self.running).as_ref() {
            let _ = cancel.send(true);
        }
    }

    /// The doors the cached keys open now, each once: account by account (the one the button
    /// was created with first), each in its key's order. Empty before the first key download
    /// (call [`KeyButton::refresh`]).
    pub fn doors(&self) -> Vec<KeyDoor> {
        let now = now();
        let mut doors: Vec<KeyDoor> = Vec::new();
        for account in self.all_accounts() {
            let Ok(Some(keys)) = account.keyring.keys() else { continue };
            for reader in keys.readers().iter().filter(|r| keys.credential_for(r.lock, now).is_some()) {
                match doors.iter_mut().find(|door| door.id == reader.door_id && door.account == account.id) {
                    // Any range reader opens the door without a touch.
                    Some(door) => door.needs_tap &= reader.tap,
                    None => doors.push(KeyDoor {
                        id: reader.door_id.clone(),
                        account: account.id.clone(),
                        name: reader.door.clone(),
                        needs_tap: reader.tap,
                    }),
                }
            }
        }
        doors
    }

    /// The tap: one flow at a time (a second tap meanwhile gets [`Error::Busy`] and changes
    /// nothing), each phase bounded by its timeout, every step reported to the listeners. Opens
    /// the nearest door the key opens.
    pub async fn tap(&self) -> Result<TapReport> {
        self.tap_at(None).await
    }

    /// A tap at the door the member chose ([`KeyDoor::id`] from [`KeyButton::doors`]): only its
    /// readers are considered, however near another door's reader is. A door the key does not
    /// open fails with [`Error::UnknownDoor`].
    pub async fn tap_door(&self, door_id: &str) -> Result<TapReport> {
        self.tap_at(Some(door_id)).await
    }

    async fn tap_at(&self, door: Option<&str>) -> Result<TapReport> {
        self.exclusively(async {
            match self.run_tap(door).await {
                Err(error) if crate::remote::may_fall_back(&error) => self.fall_back(door, error).await,
                other => other,
            }
        })
        .await
    }

    /// Runs one flow (a tap, a remote unlock) with the button to itself: a second one meanwhile
    /// gets [`Error::Busy`] and changes nothing, [`KeyButton::cancel`] ends it, and its result
    /// is journalled and shown as the button's state.
    pub(crate) async fn exclusively(&self, flow: impl Future<Output = Result<TapReport>>) -> Result<TapReport> {
        let mut cancelled = {
            let mut running = lock(&self.running);
            if running.is_some() {
                return Err(Error::Busy);
            }
            let (sender, receiver) = watch::channel(false);
            *running = Some(sender);
            receiver
        };
        *lock(&self.flow_account) = None;
        // Frees the button however the flow ends, dropped midway included (an aborted task).
        struct Release<'a>(&'a Mutex<Option<watch::Sender<bool>>>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *lock(self.0) = None;
            }
        }
        let release = Release(&self.running);
        let result = tokio::select! {
            result = flow => result,
            _ = cancelled.wait_for(|cancel| *cancel) => Err(Error::Cancelled),
        };
        drop(release);
        if let Err(error) = &result
            && error.category() == crate::ErrorCategory::Bluetooth
        {
            // The phone's state changed under the member: show what to do before the next tap.
            self.check_requirements().await;
        }
        self.publish_requirements(); // the cloud may have asked for an update
        // The result goes to the journal of the organization whose door it was, and only there;
        // one that never got as far as a door (Bluetooth off, no reader found) to each account's.
        let journals = match lock(&self.flow_account).take() {
            Some(account) => vec![account],
            None => self.all_accounts(),
        };
        let entry = journal_entry(&result);
        for account in journals {
            if let Err(error) = account.journal.record(account.storage.as_ref(), entry.clone()) {
                warn!(account = %account.id, %error, "tap result not recorded");
            }
        }
        self.set_state(match &result {
            Ok(report) => match report.outcome {
                TapOutcome::Unlocked => KeyButtonState::Unlocked,
                TapOutcome::Denied(reason) => KeyButtonState::Denied(reason),
            },
            // A cancelled tap is nobody's error: back to what the screen shows.
            Err(Error::Cancelled) if self.is_visible() => KeyButtonState::Ready,
            Err(Error::Cancelled) => KeyButtonState::Hidden,
            Err(error) => KeyButtonState::Failed(error.clone()),
        });
        result
    }

    pub(crate) async fn run_tap(&self, only: Option<&str>) -> Result<TapReport> {
        // Before the network: a member with Bluetooth off is told so at once, not after a
        // key download. A change during the tap still fails the scan with the radio's error.
        if let Some(error) = self.check_requirements().await.iter().find_map(unmet_error) {
            return Err(error);
        }
        let requests_before = self.http_requests();
        let mut timings = PhaseTimings::default();
        let key_started = std::time::Instant::now();
        let mut held = self.keys_for_tap().await?;
        timings.key = key_started.elapsed();
        if let Some(door) = only
            && !held.iter().any(|held| held.keys.readers().iter().any(|r| r.door_id == door))
        {
            return Err(Error::UnknownDoor(door.to_owned()));
        }
        let report = |state| self.set_state(state);
        let mut key_refreshed = false;
        loop {
            let door = Door {
                central: self.central.as_ref(),
                held: &held,
                signer: &self.signer,
                timeouts: &self.timeouts,
                only,
                heard: &self.heard,
            };
            let scan_started = tokio::time::Instant::now();
            let target = door.find_reader(&report).instrument(info_span!("scan")).await?;
            timings.scan = scan_started.elapsed();
            let Held { account, keys } = held_for(&held, &target)?;
            let account = Arc::clone(account);
            self.set_flow_account(&account);
            let credential = match keys.credential_for(target.reader.lock, now()) {
                Some(credential) => credential.clone(),
                // The cloud gives no key for such a door to a phone without an owner key.
                None if target.reader.owner_verification => return Err(Error::OwnerVerificationUnavailable),
                None => return Err(Error::NoReaderFound),
            };
            let owner = match credential.body().owner_verified {
                true => Some(self.verify_owner(&target.reader.door).await?),
                false => None,
            };
            let (answer, connect, exchange) =
                door.exchange(&target, &credential, owner.as_deref(), &|| report(KeyButtonState::Unlocking)).await?;
            timings.connect = connect;
            timings.exchange = exchange;
            // A door that came to require owner verification after this key was downloaded
            // refuses the everyday key: the next key holds the owner key's credential for it.
            let stale = is_stale_key(answer.reason)
                || (answer.reason == Reason::OwnerNotVerified && !credential.body().owner_verified);
            if stale && !key_refreshed {
                info!(account = %account.id, reason = %answer.reason, "reader refused a stale key; refreshing it once");
                let refresh_started = std::time::Instant::now();
                let keys = self.fetch_keys(&account, None).await?;
                if let Some(refreshed) = held.get_mut(target.held) {
                    refreshed.keys = keys;
                }
                timings.key += refresh_started.elapsed();
                key_refreshed = true;
                continue;
            }
            let outcome =
                if answer.reason.is_granted() { TapOutcome::Unlocked } else { TapOutcome::Denied(answer.reason) };
            info!(?outcome, exchange = ?answer.kind, radio_ms = timings.radio().as_millis() as u64, "tap finished");
            return Ok(TapReport {
                outcome,
                door: target.reader.door.clone(),
                account: account.id.clone(),
                reader: target.reader.id,
                path: UnlockPath::Bluetooth,
                exchange: Some(answer.kind),
                timings,
                http_requests: self.http_requests() - requests_before,
                key_refreshed,
            });
        }
    }

    /// Asks the owner to verify (the OS's biometric or passcode prompt) before a door that
    /// requires it; the state shows [`KeyButtonState::VerifyingOwner`] meanwhile. The prompt
    /// blocks its thread, so it runs off the async runtime.
    async fn verify_owner(&self, door: &str) -> Result<SharedOwnerKey> {
        let owner = self.owner.clone().ok_or(Error::OwnerVerificationUnavailable)?;
        self.set_state(KeyButtonState::VerifyingOwner);
        let prompt = format!("{} ({door})", crate::messages::message(crate::messages::MessageKey::StateVerifyingOwner));
        let asked = Arc::clone(&owner);
        tokio::task::spawn_blocking(move || asked.verify_owner(&prompt))
            .await
            .map_err(|_| Error::OwnerNotVerified)??;
        info!("owner verified");
        Ok(owner)
    }

    /// Says which account the running flow is for (its result goes to that journal only).
    pub(crate) fn set_flow_account(&self, account: &Arc<Account>) {
        *lock(&self.flow_account) = Some(Arc::clone(account));
    }

    /// The keys a tap works with: every account's valid cached keys, and for the accounts that
    /// have none (and may hold some), validating and downloading in one request each, all at once
    /// (time limits are the cloud clients', in real time: see
    /// [`crate::CloudConfig::call_timeout`]). An account whose download fails is left out while
    /// another has keys (one organization's cloud being down never keeps another's door shut);
    /// with none left, the first failure is the tap's. While another account has keys, a
    /// missing one's download gets [`BESIDE_HELD_KEYS`] at most: the member may well be at a door
    /// the keys on the phone open. An account whose cloud refuses the member for their rights,
    /// beside one with keys, has its access fetched, so later taps stop asking it (they need no
    /// network); alone, it is asked again at the next tap, as a single account always was.
    async fn keys_for_tap(&self) -> Result<Vec<Held>> {
        let accounts = self.all_accounts();
        let mut held = Vec::new();
        let mut missing = Vec::new();
        for account in &accounts {
            match account.valid_keys()? {
                Some(keys) => held.push(Held { account: Arc::clone(account), keys }),
                None if account.may_hold_keys() => missing.push(Arc::clone(account)),
                None => {}
            }
        }
        if held.is_empty() && missing.is_empty() {
            // No account says it grants access: ask them all, for the cloud's own refusal.
            missing = accounts;
        }
        if missing.is_empty() {
            return Ok(held);
        }
        let limit = (!held.is_empty()).then_some(BESIDE_HELD_KEYS);
        let fetched = each_at_once(
            missing.iter().map(|account| Box::pin(self.fetch_keys(account, limit)) as Call<'_, Result<Keys>>).collect(),
        )
        .await;
        let mut failed = Vec::new();
        for (account, result) in missing.into_iter().zip(fetched) {
            match result {
                Ok(keys) => held.push(Held { account, keys }),
                Err(error) => {
                    warn!(account = %account.id, %error, "no key from this account for the tap");
                    failed.push((account, error));
                }
            }
        }
        if held.is_empty() {
            return match failed.into_iter().next() {
                Some((account, error)) => {
                    self.set_flow_account(&account);
                    Err(error)
                }
                None => Ok(held),
            };
        }
        for (account, _) in failed.iter().filter(|(_, error)| error.category() == crate::ErrorCategory::Access) {
            if let Err(error) = self.refresh_access_of(account).await {
                info!(account = %account.id, %error, "access not fetched after a refusal");
            }
        }
        Ok(held)
    }

    /// Validating and downloading `account`'s keys in one request, shown as the tap's states.
    /// Several accounts downloading at once show each state once.
    async fn fetch_keys(&self, account: &Account, limit: Option<Duration>) -> Result<Keys> {
        // Set only if not already shown, in one step: two downloads at once show a state once.
        let show = |state: KeyButtonState| {
            self.states.publish_if_changed(state);
        };
        show(KeyButtonState::Validating);
        let (validated, accepted) = tokio::sync::oneshot::channel();
        let (keys, ()) = tokio::join!(self.download_keys(account, Some(validated), limit), async {
            if accepted.await.is_ok() {
                show(KeyButtonState::DownloadingKey);
            }
        });
        keys
    }
}

/// Uploads `account`'s pending tap results to its own cloud, in batches, forgetting each batch
/// once acknowledged.
async fn upload_journal_of(account: &Account) -> Result<UploadReport> {
    let pending = account.journal.pending();
    let mut report = UploadReport::default();
    for batch in pending.chunks(500) {
        let answer = account.cloud.upload_events(batch).await?;
        account.journal.acknowledge(account.storage.as_ref(), batch)?;
        report.accepted += answer.accepted;
        report.duplicates += answer.duplicates;
    }
    if !pending.is_empty() {
        info!(account = %account.id, accepted = report.accepted, duplicates = report.duplicates, "tap results uploaded");
    }
    Ok(report)
}

fn journal_entry(result: &Result<TapReport>) -> JournalEntry {
    let (outcome, reason, exchange, reader_id) = match result {
        Ok(report) => {
            let (outcome, reason) = match report.outcome {
                TapOutcome::Unlocked => ("unlocked", None),
                TapOutcome::Denied(reason) => ("denied", Some(format!("{reason:?}"))),
            };
            let exchange = match report.exchange {
                Some(ExchangeKind::Full) => "full",
                Some(ExchangeKind::Fast) => "fast",
                None => "remote",
            };
            (outcome, reason, Some(exchange.to_owned()), Some(report.reader.to_string()))
        }
        Err(error) => ("failed", Some(error.to_string()), None, None),
    };
    JournalEntry { event_id: String::new(), at: now().0, outcome: outcome.to_owned(), reason, exchange, reader_id }
}

/// Refusals a fresh key may fix: the cloud may have renewed, re-scoped or re-signed it.
fn is_stale_key(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::Expired | Reason::Revoked | Reason::NotYetValid | Reason::WrongLock | Reason::WrongOrganizationKey
    )
}

/// `period` stretched or shrunk by up to a tenth, at random: phones that downloaded keys at the
/// same moment (a switch-over, an epoch rise) drift apart instead of calling the cloud in the
/// same second at every refresh.
fn jittered(period: Duration) -> Duration {
    let mut bytes = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    let unit = f64::from(u16::from_be_bytes(bytes)) / f64::from(u16::MAX); // 0..=1
    period.mul_f64(0.9 + 0.2 * unit)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// A thousand phones on the same refresh period spread over ±10 % of it, not one instant.
    #[test]
    fn background_refreshes_spread_over_a_fifth_of_the_period() {
        let period = Duration::from_secs(3_600);
        let draws: Vec<Duration> = (0..1_000).map(|_| jittered(period)).collect();
        assert!(draws.iter().all(|d| *d >= period.mul_f64(0.9) && *d <= period.mul_f64(1.1)));
        let seconds: HashSet<u64> = draws.iter().map(Duration::as_secs).collect();
        assert!(seconds.len() > 100, "spread over many seconds, got {}", seconds.len());
    }
}

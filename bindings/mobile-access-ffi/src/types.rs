//! The values crossing the boundary: the Key Button's state, a tap's report, the member's
//! access and the button's configuration. Core types with a natural foreign shape are exposed
//! as they are (`uniffi::remote`); the rest are mirrored with named fields, which read better
//! in Swift and Kotlin than the core's tuple variants.

use std::{collections::HashMap, sync::Arc, time::Duration};

use mobile_access::{
    Access, AccountSummary, ErrorCategory, ExchangeKind, KeyDoor, MemberStatus, MessageKey, NextStep, PhaseTimings,
    RemoteDoor, RemoteDoors, RemoteUnlock, Screen, TapOutcome as CoreOutcome, UnlockMethod, UnlockPath,
};
use mobile_access_protocol::Reason;

#[uniffi::remote(Enum)]
pub enum Screen {
    Home,
    Other,
}

#[uniffi::remote(Enum)]
pub enum ExchangeKind {
    Full,
    Fast,
}

#[uniffi::remote(Enum)]
pub enum MessageKey {
    StateReady,
    StateValidating,
    StateDownloadingKey,
    StateSearching,
    StateTapRequired,
    StateVerifyingOwner,
    StateUnlocking,
    StateUnlocked,
    DeniedWrongDoor,
    DeniedKeyNotValid,
    DeniedRevoked,
    DeniedMoveCloser,
    DeniedReaderOutOfOrder,
    DeniedTryAgain,
    DeniedVerifyItsYou,
    OwnerVerificationUnavailable,
    NoAccessGroup,
    NotConfirmed,
    ModuleDisabled,
    CredentialSuspended,
    SignInAgain,
    RequestRefused,
    RateLimited,
    Offline,
    ServiceProblem,
    BluetoothOff,
    BluetoothNotAllowed,
    BluetoothUnavailable,
    BluetoothFailed,
    LocationServicesOff,
    AppOutdated,
    NoReaderFound,
    ReaderNotGenuine,
    ExchangeFailed,
    Busy,
    Cancelled,
    TimedOut,
    PhoneProblem,
    AppSetup,
    RemoteUnlockOff,
    RemoteNeedsProximity,
    DoorOffline,
}

#[uniffi::remote(Enum)]
pub enum NextStep {
    NoAction,
    TryAgain,
    WaitAndTryAgain { seconds: u64 },
    TurnOnBluetooth,
    GrantPermissions,
    TurnOnLocationServices,
    MoveCloser,
    VerifyItsYou,
    SignInAgain,
    ContactCommunityManager,
    UpdateApp,
    UseAnotherPhone,
}

/// Replaces the sentences the SDK shows members (error sentences, state hints) with the app's
/// own wording or translation; keys left out stay English. Call again to change locale; an
/// empty map restores English. `{seconds}` in `RATE_LIMITED` is replaced by the wait.
#[uniffi::export]
pub fn set_messages(messages: HashMap<MessageKey, String>) {
    mobile_access::set_messages(messages);
}

/// The English sentence the SDK ships for `key` (to seed an app's translation table).
#[uniffi::export]
pub fn english_message(key: MessageKey) -> String {
    key.english().to_owned()
}

#[uniffi::remote(Record)]
pub struct KeyDoor {
    pub id: String,
    pub account: String,
    pub name: String,
    pub needs_tap: bool,
}

#[uniffi::remote(Record)]
pub struct PhaseTimings {
    pub key: Duration,
    pub scan: Duration,
    pub connect: Duration,
    pub exchange: Duration,
}

#[uniffi::remote(Enum)]
pub enum MemberStatus {
    Confirmed,
    NotConfirmed,
}

#[uniffi::remote(Enum)]
pub enum UnlockMethod {
    Native,
    BrandedApp,
}

#[uniffi::remote(Record)]
pub struct Access {
    pub member_id: String,
    pub name: String,
    pub mobile_access_enabled: bool,
    pub access_groups: Vec<String>,
    pub has_access_group: bool,
    pub status: MemberStatus,
    pub managed: bool,
    pub unlock_method: UnlockMethod,
    pub key_validity_secs: u32,
    pub remote_unlock: RemoteUnlock,
    pub hands_free: bool,
}

#[uniffi::remote(Enum)]
pub enum RemoteUnlock {
    Off,
    Allowed,
    ProximityRequired,
}

#[uniffi::remote(Enum)]
pub enum UnlockPath {
    Bluetooth,
    Remote,
}

#[uniffi::remote(Record)]
pub struct RemoteDoor {
    pub id: String,
    pub account: String,
    pub name: String,
    pub reader_online: bool,
}

#[uniffi::remote(Record)]
pub struct AccountSummary {
    pub id: String,
    pub access: Option<Access>,
    pub doors: u32,
}

#[uniffi::remote(Record)]
pub struct RemoteDoors {
    pub policy: RemoteUnlock,
    pub doors: Vec<RemoteDoor>,
}

/// What the Key Button shows. Every change reaches the listeners, in order.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum KeyButtonState {
    /// Not on the home screen, module off, or no access group: the button is not shown.
    Hidden,
    /// Shown, waiting for a tap.
    Ready,
    /// Checking the member's rights with the cloud.
    Validating,
    /// Downloading the digital key.
    DownloadingKey,
    /// Looking for the nearest reader.
    Searching,
    /// A tap-mode reader was found but the phone is not close enough.
    TapRequired,
    /// The door requires owner verification: the phone asks its owner (biometric or passcode)
    /// through the app's `OwnerKey`.
    VerifyingOwner,
    /// Connected; exchanging with the reader.
    Unlocking,
    /// The reader proved the door opened.
    Unlocked,
    /// The reader proved it refused, and why.
    Denied {
        /// The reader's reason.
        reason: Reason,
    },
    /// The tap failed before a proven answer.
    Failed {
        /// What kind of problem it is.
        category: ErrorCategory,
        /// The sentence to show the member (the error's `sentence`).
        message: String,
        /// What to offer next.
        next_step: NextStep,
    },
}

#[uniffi::export]
impl KeyButtonState {
    /// A short human hint to show under the button (the core's wording).
    pub fn hint(&self) -> String {
        match self {
            KeyButtonState::Failed { message, .. } => message.clone(),
            other => other.to_core_without_error().map(|state| state.hint()).unwrap_or_default(),
        }
    }

    /// True for the states a tap ends in.
    pub fn is_final(&self) -> bool {
        matches!(self, KeyButtonState::Unlocked | KeyButtonState::Denied { .. } | KeyButtonState::Failed { .. })
    }
}

impl KeyButtonState {
    fn to_core_without_error(&self) -> Option<mobile_access::KeyButtonState> {
        use mobile_access::KeyButtonState as S;
        Some(match self {
            KeyButtonState::Hidden => S::Hidden,
            KeyButtonState::Ready => S::Ready,
            KeyButtonState::Validating => S::Validating,
            KeyButtonState::DownloadingKey => S::DownloadingKey,
            KeyButtonState::Searching => S::Searching,
            KeyButtonState::TapRequired => S::TapRequired,
            KeyButtonState::VerifyingOwner => S::VerifyingOwner,
            KeyButtonState::Unlocking => S::Unlocking,
            KeyButtonState::Unlocked => S::Unlocked,
            KeyButtonState::Denied { reason } => S::Denied(*reason),
            KeyButtonState::Failed { .. } => return None,
        })
    }
}

impl From<mobile_access::KeyButtonState> for KeyButtonState {
    fn from(state: mobile_access::KeyButtonState) -> Self {
        use mobile_access::KeyButtonState as S;
        match state {
            S::Hidden => KeyButtonState::Hidden,
            S::Ready => KeyButtonState::Ready,
            S::Validating => KeyButtonState::Validating,
            S::DownloadingKey => KeyButtonState::DownloadingKey,
            S::Searching => KeyButtonState::Searching,
            S::TapRequired => KeyButtonState::TapRequired,
            S::VerifyingOwner => KeyButtonState::VerifyingOwner,
            S::Unlocking => KeyButtonState::Unlocking,
            S::Unlocked => KeyButtonState::Unlocked,
            S::Denied(reason) => KeyButtonState::Denied { reason },
            S::Failed(error) => KeyButtonState::Failed {
                category: error.category(),
                message: error.sentence(),
                next_step: error.next_step(),
            },
        }
    }
}

/// How a tap ended when the reader gave a proven answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TapOutcome {
    /// The door opened (green light).
    Unlocked,
    /// The reader refused, and why (red light).
    Denied {
        /// The reader's reason.
        reason: Reason,
    },
}

/// Everything about one tap an app may show or log.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TapReport {
    /// Unlocked or denied.
    pub outcome: TapOutcome,
    /// The door's name.
    pub door: String,
    /// The account (organization) whose door it was: `"primary"` for the one the button was
    /// created with, otherwise the id given to `KeyButton.addAccount`.
    pub account: String,
    /// The reader that answered (hex).
    pub reader_id: String,
    /// How the door was reached: over Bluetooth, or over the network (remote unlock).
    pub path: UnlockPath,
    /// Fast or full exchange over Bluetooth; none for a remote unlock.
    pub exchange: Option<ExchangeKind>,
    /// How long each phase took.
    pub timings: PhaseTimings,
    /// HTTP requests this tap sent (0 with a cached key).
    pub http_requests: u64,
    /// True if the reader refused a stale key and the tap refreshed it and retried.
    pub key_refreshed: bool,
}

impl From<mobile_access::TapReport> for TapReport {
    fn from(report: mobile_access::TapReport) -> Self {
        Self {
            outcome: match report.outcome {
                CoreOutcome::Unlocked => TapOutcome::Unlocked,
                CoreOutcome::Denied(reason) => TapOutcome::Denied { reason },
            },
            door: report.door,
            account: report.account,
            reader_id: report.reader.to_string(),
            path: report.path,
            exchange: report.exchange,
            timings: report.timings,
            http_requests: report.http_requests,
            key_refreshed: report.key_refreshed,
        }
    }
}

/// How a Key Button is set up: the cloud's address and the member's token, optionally the time
/// limits. An object rather than a record so that it never prints the token: its `toString` /
/// `description` (and `Debug`) show the cloud and `member_token: <redacted>`.
#[derive(Clone, uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct KeyButtonConfig {
    cloud_url: String,
    member_token: String,
    scan_timeout: Option<Duration>,
    tap_timeout: Option<Duration>,
}

#[uniffi::export]
impl KeyButtonConfig {
    /// `cloud_url`: the access cloud, e.g. `https://access.example.com`; `member_token`: the
    /// member's session token (a secret: never printed or logged); `scan_timeout`: limit for
    /// finding a reader; `tap_timeout`: limit for waiting for the phone on a tap-mode reader.
    #[uniffi::constructor(default(scan_timeout = None, tap_timeout = None))]
    pub fn new(
        cloud_url: String,
        member_token: String,
        scan_timeout: Option<Duration>,
        tap_timeout: Option<Duration>,
    ) -> Arc<Self> {
        Arc::new(Self { cloud_url, member_token, scan_timeout, tap_timeout })
    }

    /// The access cloud's address.
    pub fn cloud_url(&self) -> String {
        self.cloud_url.clone()
    }
}

impl std::fmt::Display for KeyButtonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyButtonConfig(cloud_url: {}, member_token: <redacted>)", self.cloud_url)
    }
}

impl std::fmt::Debug for KeyButtonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyButtonConfig")
            .field("cloud_url", &self.cloud_url)
            .field("member_token", &"<redacted>")
            .field("scan_timeout", &self.scan_timeout)
            .field("tap_timeout", &self.tap_timeout)
            .finish()
    }
}

impl KeyButtonConfig {
    /// The core's configuration, sending through `transport` when the app gave one.
    pub(crate) fn to_core(
        &self,
        transport: Option<mobile_access::http::SharedTransport>,
    ) -> mobile_access::KeyButtonConfig {
        let mut timeouts = mobile_access::Timeouts::default();
        if let Some(scan) = self.scan_timeout {
            timeouts.scan = scan;
        }
        if let Some(tap) = self.tap_timeout {
            timeouts.tap = tap;
        }
        let mut cloud = mobile_access::CloudConfig::new(self.cloud_url.clone());
        cloud.transport = transport;
        mobile_access::KeyButtonConfig { cloud, member_token: self.member_token.clone(), timeouts }
    }
}

#[cfg(test)]
mod tests {
    use mobile_access_protocol::Reason;
    use proptest::prelude::*;

    use super::*;

    fn core_state() -> impl Strategy<Value = mobile_access::KeyButtonState> {
        use mobile_access::KeyButtonState as S;
        prop_oneof![
            Just(S::Hidden),
            Just(S::Ready),
            Just(S::Validating),
            Just(S::DownloadingKey),
            Just(S::Searching),
            Just(S::TapRequired),
            Just(S::VerifyingOwner),
            Just(S::Unlocking),
            Just(S::Unlocked),
            proptest::sample::select(Reason::ALL).prop_map(S::Denied),
            "[a-z ]{0,20}".prop_map(|why| S::Failed(mobile_access::Error::Network(why))),
            Just(S::Failed(mobile_access::Error::NotConfirmed)),
        ]
    }

    proptest! {
        /// Every state reaches the app with the core's hint and finality; a failure carries its
        /// category and message.
        #[test]
        fn every_state_crosses_with_its_hint(state in core_state()) {
            let ffi = KeyButtonState::from(state.clone());
            prop_assert_eq!(ffi.hint(), state.hint());
            prop_assert_eq!(ffi.is_final(), state.is_final());
            if let mobile_access::KeyButtonState::Failed(error) = &state {
                prop_assert_eq!(
                    ffi,
                    KeyButtonState::Failed {
                        category: error.category(),
                        message: error.sentence(),
                        next_step: error.next_step(),
                    }
                );
            } else {
                prop_assert_eq!(ffi.to_core_without_error(), Some(state));
            }
        }
    }

    #[test]
    fn config_timeouts_default_to_the_core_and_can_be_overridden() {
        let config = KeyButtonConfig::new(
            "http://127.0.0.1:1".to_owned(),
            "token-1234".to_owned(),
            Some(Duration::from_secs(3)),
            None,
        );
        let core = config.to_core(None);
        assert!(!config.to_string().contains("token-1234") && !format!("{config:?}").contains("token-1234"));
        assert_eq!(core.timeouts.scan, Duration::from_secs(3));
        assert_eq!(core.timeouts.tap, mobile_access::Timeouts::default().tap);
        assert_eq!(core.cloud.base_url, "http://127.0.0.1:1");
    }
}

//! Every sentence the SDK shows a member, in one table an app can reword or translate.
//!
//! An error has two texts: its `Display` (the detail, for logs: it may name a URL or a
//! platform's error code) and its [`sentence`](crate::Error::sentence), from this table, which
//! never carries internals. State hints come from the same table. English ships; an app replaces
//! any entry with [`set_messages`] (for example from its string resources, per locale) and every
//! later sentence uses it. `{seconds}` in [`MessageKey::RateLimited`] is replaced by the wait.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
};

use mobile_access_protocol::Reason;

/// The name of one sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKey {
    /// Hint on the button, waiting for a tap.
    StateReady,
    /// Hint while the cloud checks the member's rights.
    StateValidating,
    /// Hint while the key downloads.
    StateDownloadingKey,
    /// Hint while looking for a reader.
    StateSearching,
    /// Hint when a tap reader needs the phone held against it.
    StateTapRequired,
    /// Hint while the phone asks its owner to verify (biometric or passcode).
    StateVerifyingOwner,
    /// Hint while the exchange runs.
    StateUnlocking,
    /// The door opened.
    StateUnlocked,
    /// The reader refused: this key does not open this door.
    DeniedWrongDoor,
    /// The reader refused: the key is not valid now (expired, not yet valid).
    DeniedKeyNotValid,
    /// The reader refused: access, key or pass was withdrawn.
    DeniedRevoked,
    /// The reader refused: hold the phone closer.
    DeniedMoveCloser,
    /// The reader refused: it is out of order (tampered, failing).
    DeniedReaderOutOfOrder,
    /// The reader refused for a reason a second try may fix.
    DeniedTryAgain,
    /// The door requires the owner verified: unlock the phone or verify, then tap again.
    DeniedVerifyItsYou,
    /// The door requires owner verification, which this app or phone cannot provide.
    OwnerVerificationUnavailable,
    /// No access group yet.
    NoAccessGroup,
    /// Not confirmed for the branded app.
    NotConfirmed,
    /// Mobile access off for the workspace.
    ModuleDisabled,
    /// The mobile key is suspended.
    CredentialSuspended,
    /// The session ended: sign in again.
    SignInAgain,
    /// The cloud refused the request for another reason.
    RequestRefused,
    /// Too many attempts; `{seconds}` is the wait.
    RateLimited,
    /// The cloud cannot be reached.
    Offline,
    /// The cloud answered with something the SDK could not read.
    ServiceProblem,
    /// Bluetooth is off.
    BluetoothOff,
    /// The app may not use Bluetooth (permission).
    BluetoothNotAllowed,
    /// This phone has no usable Bluetooth LE.
    BluetoothUnavailable,
    /// The Bluetooth connection failed.
    BluetoothFailed,
    /// Location services are off (Android 11 and older find no reader without them).
    LocationServicesOff,
    /// The access cloud no longer serves this version of the app.
    AppOutdated,
    /// No reader of the member's doors nearby.
    NoReaderFound,
    /// The reader could not prove it belongs to the workspace.
    ReaderNotGenuine,
    /// The exchange with the reader failed.
    ExchangeFailed,
    /// A tap is already running.
    Busy,
    /// The tap was cancelled.
    Cancelled,
    /// A step took too long.
    TimedOut,
    /// The phone's secure storage or device key failed.
    PhoneProblem,
    /// The app is not set up correctly for the SDK (a developer's mistake).
    AppSetup,
    /// The workspace does not let doors be opened over the internet.
    RemoteUnlockOff,
    /// The door opens over the internet only with the phone at the door.
    RemoteNeedsProximity,
    /// The door's reader is offline, or did not answer in time: the door stayed shut.
    DoorOffline,
}

impl MessageKey {
    /// Every key, in declaration order (for apps that export their table, and for tests).
    pub const ALL: [MessageKey; 42] = [
        MessageKey::StateReady,
        MessageKey::StateValidating,
        MessageKey::StateDownloadingKey,
        MessageKey::StateSearching,
        MessageKey::StateTapRequired,
        MessageKey::StateVerifyingOwner,
        MessageKey::StateUnlocking,
        MessageKey::StateUnlocked,
        MessageKey::DeniedWrongDoor,
        MessageKey::DeniedKeyNotValid,
        MessageKey::DeniedRevoked,
        MessageKey::DeniedMoveCloser,
        MessageKey::DeniedReaderOutOfOrder,
        MessageKey::DeniedTryAgain,
        MessageKey::DeniedVerifyItsYou,
        MessageKey::OwnerVerificationUnavailable,
        MessageKey::NoAccessGroup,
        MessageKey::NotConfirmed,
        MessageKey::ModuleDisabled,
        MessageKey::CredentialSuspended,
        MessageKey::SignInAgain,
        MessageKey::RequestRefused,
        MessageKey::RateLimited,
        MessageKey::Offline,
        MessageKey::ServiceProblem,
        MessageKey::BluetoothOff,
        MessageKey::BluetoothNotAllowed,
        MessageKey::BluetoothUnavailable,
        MessageKey::BluetoothFailed,
        MessageKey::LocationServicesOff,
        MessageKey::AppOutdated,
        MessageKey::NoReaderFound,
        MessageKey::ReaderNotGenuine,
        MessageKey::ExchangeFailed,
        MessageKey::Busy,
        MessageKey::Cancelled,
        MessageKey::TimedOut,
        MessageKey::PhoneProblem,
        MessageKey::AppSetup,
        MessageKey::RemoteUnlockOff,
        MessageKey::RemoteNeedsProximity,
        MessageKey::DoorOffline,
    ];

    /// The English sentence shipped with the SDK.
    pub fn english(self) -> &'static str {
        match self {
            MessageKey::StateReady => "Tap to open the door",
            MessageKey::StateValidating => "Checking your access…",
            MessageKey::StateDownloadingKey => "Getting your key…",
            MessageKey::StateSearching => "Looking for the door…",
            MessageKey::StateTapRequired => "Hold your phone against the reader",
            MessageKey::StateVerifyingOwner => "Verify it's you to open this door",
            MessageKey::StateUnlocking => "Opening…",
            MessageKey::StateUnlocked => "Door open",
            MessageKey::DeniedWrongDoor => "Your key doesn't open this door.",
            MessageKey::DeniedKeyNotValid => "Your key isn't valid right now. Connect to the internet and try again.",
            MessageKey::DeniedRevoked => "Your access to this door was removed. Ask your community manager.",
            MessageKey::DeniedMoveCloser => "Hold your phone closer to the reader.",
            MessageKey::DeniedReaderOutOfOrder => "This reader is out of order. Please tell your community manager.",
            MessageKey::DeniedTryAgain => "The door didn't open. Please try again.",
            MessageKey::DeniedVerifyItsYou => {
                "This door asks you to verify it's you. Unlock your phone, then try again."
            }
            MessageKey::OwnerVerificationUnavailable => {
                "This door asks you to verify it's you, which this phone can't do. Set up a screen lock, or ask your \
                 community manager."
            }
            MessageKey::NoAccessGroup => {
                "You don't have access to any doors yet. Ask your community manager for access."
            }
            MessageKey::NotConfirmed => "Your account isn't confirmed for this app yet. Ask your community manager.",
            MessageKey::ModuleDisabled => "Mobile access isn't turned on for your workspace.",
            MessageKey::CredentialSuspended => "Your mobile key is suspended. Ask your community manager.",
            MessageKey::SignInAgain => "Your session has ended. Please sign in again.",
            MessageKey::RequestRefused => {
                "The access service couldn't do that. Ask your community manager if it keeps happening."
            }
            MessageKey::RateLimited => "Too many attempts. Try again in {seconds} seconds.",
            MessageKey::Offline => "Can't reach the access service. Check your internet connection and try again.",
            MessageKey::ServiceProblem => "The access service isn't responding properly. Try again in a moment.",
            MessageKey::BluetoothOff => "Bluetooth is off. Turn it on to open doors.",
            MessageKey::BluetoothNotAllowed => {
                "This app isn't allowed to use Bluetooth. Allow it in Settings to open doors."
            }
            MessageKey::BluetoothUnavailable => "This phone can't open doors: Bluetooth isn't available on it.",
            MessageKey::BluetoothFailed => "The connection to the door was lost. Please try again.",
            MessageKey::LocationServicesOff => "Turn on location services so this phone can find the door.",
            MessageKey::AppOutdated => "This version of the app can no longer get new keys. Please update the app.",
            MessageKey::NoReaderFound => "No door found nearby. Move closer to the door and try again.",
            MessageKey::ReaderNotGenuine => {
                "This reader couldn't prove it belongs to your workspace, so your phone didn't use it."
            }
            MessageKey::ExchangeFailed => "Opening the door didn't work. Please try again.",
            MessageKey::Busy => "Already opening a door…",
            MessageKey::Cancelled => "Cancelled.",
            MessageKey::TimedOut => "That took too long. Please try again.",
            MessageKey::PhoneProblem => "Something went wrong on this phone. Restart the app and try again.",
            MessageKey::AppSetup => "This app can't open doors yet. Please update the app.",
            MessageKey::RemoteUnlockOff => "Your workspace doesn't allow opening doors from a distance.",
            MessageKey::RemoteNeedsProximity => {
                "This door opens from the app only when you're at it. Turn on Bluetooth and move closer."
            }
            MessageKey::DoorOffline => "The door can't be reached right now and stayed shut. Please try again.",
        }
    }

    /// The sentence for a reader's refusal.
    pub fn for_reason(reason: Reason) -> MessageKey {
        match reason {
            Reason::Granted => MessageKey::StateUnlocked,
            Reason::WrongLock => MessageKey::DeniedWrongDoor,
            Reason::NotYetValid | Reason::Expired => MessageKey::DeniedKeyNotValid,
            Reason::Revoked | Reason::PassSuspended | Reason::PassDeleted | Reason::PassSuperseded => {
                MessageKey::DeniedRevoked
            }
            Reason::NotCloseEnough => MessageKey::DeniedMoveCloser,
            Reason::OwnerNotVerified => MessageKey::DeniedVerifyItsYou,
            Reason::Tampered | Reason::ReaderError => MessageKey::DeniedReaderOutOfOrder,
            _ => MessageKey::DeniedTryAgain,
        }
    }
}

static OVERRIDES: RwLock<Option<HashMap<MessageKey, String>>> = RwLock::new(None);

/// Replaces the sentences an app rewords or translates (the others stay English). Later calls
/// replace the whole set; an empty map restores English.
pub fn set_messages(overrides: HashMap<MessageKey, String>) {
    *OVERRIDES.write().unwrap_or_else(PoisonError::into_inner) = (!overrides.is_empty()).then_some(overrides);
}

/// The sentence for `key`: the app's, or English.
pub fn message(key: MessageKey) -> String {
    let overrides = OVERRIDES.read().unwrap_or_else(PoisonError::into_inner);
    overrides.as_ref().and_then(|table| table.get(&key).cloned()).unwrap_or_else(|| key.english().to_owned())
}

/// What the member (or the app) can do next about an error: the action the UI offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextStep {
    /// Nothing to offer (a cancelled tap, a tap already running).
    NoAction,
    /// Trying again now may work.
    TryAgain,
    /// Try again once this many seconds have passed.
    WaitAndTryAgain {
        /// The wait.
        seconds: u64,
    },
    /// Turn Bluetooth on (Android: `ACTION_REQUEST_ENABLE`; iOS: Settings).
    TurnOnBluetooth,
    /// Grant the app Bluetooth (Android 12+: nearby devices; older: location; iOS: Bluetooth).
    GrantPermissions,
    /// Turn location services on (Android 11 and older: `ACTION_LOCATION_SOURCE_SETTINGS`).
    TurnOnLocationServices,
    /// Move closer to the door, or hold the phone against a tap reader.
    MoveCloser,
    /// Verify it's you (unlock the phone; biometric or passcode), then tap again.
    VerifyItsYou,
    /// Sign the member in again.
    SignInAgain,
    /// Only the community manager can fix it.
    ContactCommunityManager,
    /// The app itself must change (a developer's mistake, or an outdated app).
    UpdateApp,
    /// This phone cannot do it (no Bluetooth LE).
    UseAnotherPhone,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_key_has_an_english_sentence_without_internals() {
        for key in MessageKey::ALL {
            let text = key.english();
            assert!(!text.is_empty(), "{key:?}");
            assert!(!text.contains("://") && !text.contains("detail") && !text.contains("Error"), "{key:?}: {text}");
        }
    }

    #[test]
    fn an_app_rewords_a_sentence_and_the_rest_stay_english() {
        // The only test in this crate that touches the process-wide table.
        set_messages(HashMap::from([(MessageKey::BluetoothOff, "Bluetooth ist aus.".to_owned())]));
        assert_eq!(message(MessageKey::BluetoothOff), "Bluetooth ist aus.");
        assert_eq!(message(MessageKey::Offline), MessageKey::Offline.english());
        set_messages(HashMap::new());
        assert_eq!(message(MessageKey::BluetoothOff), MessageKey::BluetoothOff.english());
    }
}

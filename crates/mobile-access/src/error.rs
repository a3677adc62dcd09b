//! The SDK's one error type. Apps switch on [`Error::category`] to decide what to show (a
//! settings link for Bluetooth, "contact your community manager" for access, "retry" for network)
//! and show [`Error::sentence`] to the member (its `Display` is the detail, for logs), offering
//! [`Error::next_step`].

use mobile_access_protocol::Reason;

use crate::messages::{MessageKey, NextStep, message};

/// What an app can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The member's rights: no access group, not confirmed, module off, suspended. Only the
    /// operator can fix it.
    Access,
    /// The cloud could not be reached or answered badly; retrying may help.
    Network,
    /// Bluetooth is off, not allowed, or missing; the user can fix the first two in settings.
    Bluetooth,
    /// No reader was found, it refused, or the exchange with it failed.
    Reader,
    /// A tap while another is running, a cancel, or a phase that ran out of time.
    Flow,
    /// Secure storage or the device key failed; a bug or a broken device.
    Internal,
}

/// Everything that can go wrong in the SDK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The member has no access group, so no door to open.
    #[error("you have no access group yet; ask your community manager for access")]
    NoAccessGroup,
    /// The member is not confirmed for the branded app (the integration's unlock method).
    #[error("your account is not confirmed for this app yet; ask your community manager")]
    NotConfirmed,
    /// Mobile access is switched off for the organization.
    #[error("mobile access is not enabled for your workspace")]
    ModuleDisabled,
    /// The member's mobile key was suspended by an administrator.
    #[error("your mobile key is suspended; ask your community manager")]
    CredentialSuspended,
    /// The access cloud no longer serves this version of the SDK (HTTP 426): the app must be
    /// updated. Keys already on the phone keep opening doors until they expire.
    #[error("the access service no longer serves this version of the app: {0}")]
    AppUpdateRequired(String),
    /// The session token was refused: the app must sign the member in again.
    #[error("your session has expired; sign in again")]
    Unauthorized,
    /// Any other refusal from the cloud, with its stable code.
    #[error("the access service refused the request: {message} ({code})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The cloud's stable error code.
        code: String,
        /// The cloud's message.
        message: String,
    },
    /// The cloud is rate limiting this member or device (HTTP 429) and asked for a wait longer
    /// than the client retries within, or kept asking after the client's bounded retries. The app
    /// should try again no sooner than `retry_after_secs`.
    #[error("the access service is busy; try again in {retry_after_secs} s")]
    RateLimited {
        /// The wait the cloud asked for (`Retry-After`), in seconds.
        retry_after_secs: u64,
    },
    /// The cloud could not be reached, or kept failing (after retries).
    #[error("cannot reach the access service: {0}")]
    Network(String),
    /// The cloud's answer could not be understood.
    #[error("unexpected answer from the access service: {0}")]
    InvalidResponse(String),
    /// Bluetooth is switched off.
    #[error("Bluetooth is off; switch it on to open doors")]
    BluetoothOff,
    /// The app is not allowed to use Bluetooth.
    #[error("this app is not allowed to use Bluetooth; allow it in Settings")]
    BluetoothUnauthorized,
    /// This device has no usable Bluetooth LE adapter.
    #[error("Bluetooth LE is not available on this device")]
    BluetoothUnavailable,
    /// Location services are off, and this phone finds no reader without them (Android 11 and
    /// older).
    #[error("location services are off; this phone finds no reader without them")]
    LocationServicesOff,
    /// Another Bluetooth failure (connection lost, write failed).
    #[error("Bluetooth failure: {0}")]
    Bluetooth(String),
    /// No reader of a door this key opens was found nearby.
    #[error("no door reader found nearby")]
    NoReaderFound,
    /// The app asked to open a door the member's key does not open (for example one removed
    /// from their access since the list was shown).
    #[error("the key does not open door {0}")]
    UnknownDoor(String),
    /// The organization does not let members open doors over the network (its remote unlock
    /// setting is off).
    #[error("remote unlock is off for this workspace")]
    RemoteUnlockOff,
    /// The organization opens doors over the network only with proof that the phone is at the
    /// door (a reader's advertisement heard over Bluetooth), and there was none, or a stale one.
    #[error("remote unlock needs the phone at the door: {0}")]
    ProximityRequired(String),
    /// The door's reader is offline, or did not confirm in time: the door stayed shut.
    #[error("the door's reader cannot be reached: {0}")]
    ReaderOffline(String),
    /// The door requires owner verification and the owner did not verify (declined the
    /// biometric or passcode prompt, or the OS withheld the owner key).
    #[error("verify it's you to open this door")]
    OwnerNotVerified,
    /// The door requires owner verification, and this app has no owner key (or the cloud gave
    /// none for this door).
    #[error("this door requires owner verification, which this app cannot provide")]
    OwnerVerificationUnavailable,
    /// The reader refused without proving it (a clear rejection): a hint, not a verdict.
    #[error("the reader refused: {0}")]
    ReaderRefused(Reason),
    /// The reader could not prove it is a genuine reader of the organization.
    #[error("the reader is not genuine: {0}")]
    ReaderNotGenuine(String),
    /// The exchange with the reader failed (bad or unauthentic bytes).
    #[error("the exchange with the reader failed: {0}")]
    Exchange(String),
    /// A tap arrived while another tap was running.
    #[error("already unlocking")]
    Busy,
    /// The app cancelled the tap.
    #[error("cancelled")]
    Cancelled,
    /// A phase ran out of time.
    #[error("{phase} timed out")]
    Timeout {
        /// The phase that timed out.
        phase: crate::Phase,
    },
    /// The app's secure storage failed.
    #[error("secure storage failed: {0}")]
    Storage(String),
    /// The device key could not sign.
    #[error("device key failed: {0}")]
    DeviceKey(String),
    /// This build has no HTTP stack of its own (a phone build without `rust-http`) and the app
    /// handed it none: a set-up mistake, not a network failure, so it is never retried.
    #[error("this build of the SDK sends requests through the app's HTTP stack, and none was given")]
    NoTransport,
}

impl Error {
    /// What kind of problem this is, for the app's UI.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Error::NoAccessGroup
            | Error::NotConfirmed
            | Error::ModuleDisabled
            | Error::CredentialSuspended
            | Error::Unauthorized
            | Error::Refused { .. }
            | Error::AppUpdateRequired(_)
            | Error::UnknownDoor(_)
            | Error::OwnerVerificationUnavailable
            | Error::RemoteUnlockOff => ErrorCategory::Access,
            Error::Network(_) | Error::InvalidResponse(_) | Error::RateLimited { .. } => ErrorCategory::Network,
            Error::BluetoothOff
            | Error::BluetoothUnauthorized
            | Error::BluetoothUnavailable
            | Error::LocationServicesOff
            | Error::Bluetooth(_) => ErrorCategory::Bluetooth,
            Error::NoReaderFound
            | Error::ReaderRefused(_)
            | Error::ReaderNotGenuine(_)
            | Error::Exchange(_)
            | Error::ProximityRequired(_)
            | Error::OwnerNotVerified
            | Error::ReaderOffline(_) => ErrorCategory::Reader,
            Error::Busy | Error::Cancelled | Error::Timeout { .. } => ErrorCategory::Flow,
            Error::Storage(_) | Error::DeviceKey(_) | Error::NoTransport => ErrorCategory::Internal,
        }
    }

    /// The sentence to show the member: from the app's message table (English by default),
    /// never a URL or a platform's internals; those stay in `Display`, for logs.
    pub fn sentence(&self) -> String {
        let key = match self {
            Error::NoAccessGroup => MessageKey::NoAccessGroup,
            Error::NotConfirmed => MessageKey::NotConfirmed,
            Error::ModuleDisabled => MessageKey::ModuleDisabled,
            Error::CredentialSuspended => MessageKey::CredentialSuspended,
            Error::Unauthorized => MessageKey::SignInAgain,
            Error::AppUpdateRequired(_) => MessageKey::AppOutdated,
            Error::Refused { .. } => MessageKey::RequestRefused,
            Error::RateLimited { retry_after_secs } => {
                return message(MessageKey::RateLimited).replace("{seconds}", &retry_after_secs.to_string());
            }
            Error::Network(_) => MessageKey::Offline,
            Error::InvalidResponse(_) => MessageKey::ServiceProblem,
            Error::BluetoothOff => MessageKey::BluetoothOff,
            Error::BluetoothUnauthorized => MessageKey::BluetoothNotAllowed,
            Error::BluetoothUnavailable => MessageKey::BluetoothUnavailable,
            Error::LocationServicesOff => MessageKey::LocationServicesOff,
            Error::Bluetooth(_) => MessageKey::BluetoothFailed,
            Error::NoReaderFound => MessageKey::NoReaderFound,
            Error::UnknownDoor(_) => MessageKey::DeniedWrongDoor,
            Error::ReaderRefused(reason) => MessageKey::for_reason(*reason),
            Error::ReaderNotGenuine(_) => MessageKey::ReaderNotGenuine,
            Error::Exchange(_) => MessageKey::ExchangeFailed,
            Error::Busy => MessageKey::Busy,
            Error::Cancelled => MessageKey::Cancelled,
            Error::Timeout { .. } => MessageKey::TimedOut,
            Error::Storage(_) | Error::DeviceKey(_) => MessageKey::PhoneProblem,
            Error::NoTransport => MessageKey::AppSetup,
            Error::RemoteUnlockOff => MessageKey::RemoteUnlockOff,
            Error::ProximityRequired(_) => MessageKey::RemoteNeedsProximity,
            Error::ReaderOffline(_) => MessageKey::DoorOffline,
            Error::OwnerNotVerified => MessageKey::DeniedVerifyItsYou,
            Error::OwnerVerificationUnavailable => MessageKey::OwnerVerificationUnavailable,
        };
        message(key)
    }

    /// What the UI should offer next.
    pub fn next_step(&self) -> NextStep {
        match self {
            Error::NoAccessGroup
            | Error::NotConfirmed
            | Error::ModuleDisabled
            | Error::CredentialSuspended
            | Error::Refused { .. }
            | Error::ReaderNotGenuine(_)
            | Error::UnknownDoor(_)
            | Error::OwnerVerificationUnavailable
            | Error::RemoteUnlockOff => NextStep::ContactCommunityManager,
            Error::OwnerNotVerified => NextStep::VerifyItsYou,
            Error::ReaderOffline(_) => NextStep::TryAgain,
            Error::ProximityRequired(_) => NextStep::MoveCloser,
            Error::Unauthorized => NextStep::SignInAgain,
            Error::RateLimited { retry_after_secs } => NextStep::WaitAndTryAgain { seconds: *retry_after_secs },
            Error::Network(_)
            | Error::InvalidResponse(_)
            | Error::Bluetooth(_)
            | Error::Exchange(_)
            | Error::Timeout { .. }
            | Error::Storage(_)
            | Error::DeviceKey(_) => NextStep::TryAgain,
            Error::BluetoothOff => NextStep::TurnOnBluetooth,
            Error::BluetoothUnauthorized => NextStep::GrantPermissions,
            Error::BluetoothUnavailable => NextStep::UseAnotherPhone,
            Error::LocationServicesOff => NextStep::TurnOnLocationServices,
            Error::NoReaderFound => NextStep::MoveCloser,
            Error::ReaderRefused(reason) => match MessageKey::for_reason(*reason) {
                MessageKey::DeniedMoveCloser => NextStep::MoveCloser,
                MessageKey::DeniedVerifyItsYou => NextStep::VerifyItsYou,
                MessageKey::DeniedWrongDoor | MessageKey::DeniedRevoked | MessageKey::DeniedReaderOutOfOrder => {
                    NextStep::ContactCommunityManager
                }
                _ => NextStep::TryAgain,
            },
            Error::Busy | Error::Cancelled => NextStep::NoAction,
            Error::NoTransport | Error::AppUpdateRequired(_) => NextStep::UpdateApp,
        }
    }

    /// True if trying again later (without anything else changing) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Network(_)
                | Error::RateLimited { .. }
                | Error::Bluetooth(_)
                | Error::NoReaderFound
                | Error::Exchange(_)
                | Error::Timeout { .. }
                | Error::ReaderRefused(_)
                | Error::ReaderOffline(_)
        )
    }

    /// The cloud's error codes mapped to the errors an app switches on.
    pub(crate) fn from_cloud(status: u16, code: String, message: String) -> Self {
        match (status, code.as_str()) {
            (401, _) => Error::Unauthorized,
            (426, _) | (_, "app_update_required") => Error::AppUpdateRequired(message),
            (_, "no_access_group") => Error::NoAccessGroup,
            (_, "not_confirmed") => Error::NotConfirmed,
            (_, "module_disabled") => Error::ModuleDisabled,
            (_, "credential_suspended") => Error::CredentialSuspended,
            (_, "remote_unlock_off") => Error::RemoteUnlockOff,
            (_, "proximity_required") => Error::ProximityRequired(message),
            // A door that requires owner verification opens only at its reader.
            (_, "owner_verification_required") => Error::ProximityRequired(message),
            (409, "reader_unavailable") => Error::ReaderOffline(message),
            _ => Error::Refused { status, code, message },
        }
    }
}

impl From<mobile_access_protocol::Error> for Error {
    fn from(error: mobile_access_protocol::Error) -> Self {
        use mobile_access_protocol::Error as P;
        match error {
            P::UnverifiedRejection(reason) => Error::ReaderRefused(reason),
            P::ReaderNotGenuine(why) => Error::ReaderNotGenuine(why.to_owned()),
            P::Signer(why) => Error::DeviceKey(why),
            other => Error::Exchange(other.to_string()),
        }
    }
}

/// Radio failures as the app sees them (e.g. opening the adapter for a new Key Button).
impl From<mobile_access_ble::Error> for Error {
    fn from(error: mobile_access_ble::Error) -> Self {
        crate::unlock::ble_error(error)
    }
}

/// Result alias for the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

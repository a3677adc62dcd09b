//! The errors Swift and Kotlin see: one exhaustive enum mirroring the core's, each variant with
//! the detail for logs (`detail`) and the typed facts an app may switch on; its methods give the
//! member's sentence (`sentence`, from the app's message table), what to offer next
//! (`nextStep`) and the category. Kotlin throws them as `MobileAccessException.<Variant>`, whose
//! `message` is the sentence (`cargo xtask bindings` makes it so: uniffi's template would print
//! the fields); Swift as `MobileAccessError.<variant>`, whose `localizedDescription` is the
//! sentence (`LocalizedError`, in the Swift package).

use mobile_access::{Error as CoreError, ErrorCategory, MessageKey, NextStep, Phase, messages::message};
use mobile_access_protocol::Reason;

/// What went wrong. `detail` is for logs (it may name a URL or a platform's error, never a
/// secret); show the member [`MobileAccessError::sentence`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum MobileAccessError {
    /// The member has no access group, so no door to open.
    #[error("{detail}")]
    NoAccessGroup {
        /// Human message.
        detail: String,
    },
    /// The member is not confirmed for the branded app.
    #[error("{detail}")]
    NotConfirmed {
        /// Human message.
        detail: String,
    },
    /// Mobile access is switched off for the organization.
    #[error("{detail}")]
    ModuleDisabled {
        /// Human message.
        detail: String,
    },
    /// The member's mobile key was suspended.
    #[error("{detail}")]
    CredentialSuspended {
        /// Human message.
        detail: String,
    },
    /// The session token was refused: sign the member in again.
    #[error("{detail}")]
    Unauthorized {
        /// Human message.
        detail: String,
    },
    /// Any other refusal from the cloud.
    #[error("{detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The cloud's stable error code.
        code: String,
        /// Human message.
        detail: String,
    },
    /// The cloud is rate limiting: try again no sooner than `retry_after_secs`.
    #[error("{detail}")]
    RateLimited {
        /// The wait the cloud asked for, in seconds.
        retry_after_secs: u64,
        /// Human message.
        detail: String,
    },
    /// The cloud could not be reached (after retries).
    #[error("{detail}")]
    Network {
        /// Human message.
        detail: String,
    },
    /// The cloud's answer could not be understood.
    #[error("{detail}")]
    InvalidResponse {
        /// Human message.
        detail: String,
    },
    /// Bluetooth is switched off.
    #[error("{detail}")]
    BluetoothOff {
        /// Human message.
        detail: String,
    },
    /// The app may not use Bluetooth.
    #[error("{detail}")]
    BluetoothUnauthorized {
        /// Human message.
        detail: String,
    },
    /// No usable Bluetooth LE adapter.
    #[error("{detail}")]
    BluetoothUnavailable {
        /// Human message.
        detail: String,
    },
    /// The access cloud no longer serves this version of the app (HTTP 426): offer the store.
    /// Keys already on the phone keep opening doors.
    #[error("{detail}")]
    AppUpdateRequired {
        /// Human message.
        detail: String,
    },
    /// Location services are off, and this phone finds no reader without them (Android 11 and
    /// older): offer the location settings.
    #[error("{detail}")]
    LocationServicesOff {
        /// Human message.
        detail: String,
    },
    /// Another Bluetooth failure.
    #[error("{detail}")]
    Bluetooth {
        /// Human message.
        detail: String,
    },
    /// No reader of a door this key opens was found nearby.
    #[error("{detail}")]
    NoReaderFound {
        /// Human message.
        detail: String,
    },
    /// The app asked to open a door the member's key does not open.
    #[error("{detail}")]
    UnknownDoor {
        /// The door id asked for.
        door: String,
        /// Detail for logs.
        detail: String,
    },
    /// The door requires owner verification and the owner did not verify (declined the
    /// prompt, or the OS withheld the owner key): offer to try again after verifying.
    #[error("{detail}")]
    OwnerNotVerified {
        /// Human message.
        detail: String,
    },
    /// The door requires owner verification, and this app gave the SDK no owner key (or the
    /// cloud issued none for the door).
    #[error("{detail}")]
    OwnerVerificationUnavailable {
        /// Human message.
        detail: String,
    },
    /// The workspace does not let doors be opened over the network.
    #[error("{detail}")]
    RemoteUnlockOff {
        /// Human message.
        detail: String,
    },
    /// The workspace opens doors over the network only with the phone at the door, and the
    /// phone heard none of its readers (Bluetooth off, or too far).
    #[error("{detail}")]
    ProximityRequired {
        /// Detail for logs.
        detail: String,
    },
    /// The door's reader is offline or did not confirm in time: the door stayed shut.
    #[error("{detail}")]
    ReaderOffline {
        /// Detail for logs.
        detail: String,
    },
    /// The reader refused without proving it: a hint, not a verdict.
    #[error("{detail}")]
    ReaderRefused {
        /// What the reader claimed.
        reason: Reason,
        /// Human message.
        detail: String,
    },
    /// The reader could not prove it is genuine.
    #[error("{detail}")]
    ReaderNotGenuine {
        /// Human message.
        detail: String,
    },
    /// The exchange with the reader failed.
    #[error("{detail}")]
    Exchange {
        /// Human message.
        detail: String,
    },
    /// A tap arrived while another was running.
    #[error("{detail}")]
    Busy {
        /// Human message.
        detail: String,
    },
    /// The app cancelled the tap.
    #[error("{detail}")]
    Cancelled {
        /// Human message.
        detail: String,
    },
    /// A phase ran out of time.
    #[error("{detail}")]
    Timeout {
        /// The phase that timed out.
        phase: Phase,
        /// Human message.
        detail: String,
    },
    /// The app's secure storage failed.
    #[error("{detail}")]
    Storage {
        /// Human message.
        detail: String,
    },
    /// The device key could not sign.
    #[error("{detail}")]
    DeviceKey {
        /// Human message.
        detail: String,
    },
    /// The app did not call `MobileAccess.initialize(context)` before using the SDK on Android
    /// (or that call failed: `detail` says why). A programming error, never retryable.
    #[error("{detail}")]
    NotInitialized {
        /// What to call, or why start-up failed.
        detail: String,
    },
    /// The library itself failed (its runtime could not start, a task panicked, bad input
    /// from the app such as malformed JSON for a simulated reader).
    #[error("{detail}")]
    Internal {
        /// Human message.
        detail: String,
    },
}

#[uniffi::export]
impl MobileAccessError {
    /// What kind of problem this is, for the app's UI.
    pub fn category(&self) -> ErrorCategory {
        match self.to_core() {
            Some(core) => core.category(),
            None => ErrorCategory::Internal,
        }
    }

    /// The sentence to show the member: short, no URLs or internals, from the app's message
    /// table (`setMessages`; English by default).
    pub fn sentence(&self) -> String {
        match (self.to_core(), self) {
            (Some(core), _) => core.sentence(),
            (None, MobileAccessError::NotInitialized { .. }) => message(MessageKey::AppSetup),
            (None, _) => message(MessageKey::PhoneProblem),
        }
    }

    /// What the app should offer next.
    pub fn next_step(&self) -> NextStep {
        match (self.to_core(), self) {
            (Some(core), _) => core.next_step(),
            (None, MobileAccessError::NotInitialized { .. }) => NextStep::UpdateApp,
            (None, _) => NextStep::TryAgain,
        }
    }

    /// The detail for logs (never a secret; may name a URL or a platform's error).
    pub fn detail(&self) -> String {
        self.to_string()
    }

    /// True if trying again later, without anything else changing, may succeed.
    pub fn is_retryable(&self) -> bool {
        self.to_core().is_some_and(|core| core.is_retryable())
    }
}

impl MobileAccessError {
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        MobileAccessError::Internal { detail: detail.into() }
    }

    /// The core error this mirrors, so category and retry policy stay the core's. `None` only
    /// for failures of this library itself.
    fn to_core(&self) -> Option<CoreError> {
        use MobileAccessError as E;
        Some(match self.clone() {
            E::NoAccessGroup { .. } => CoreError::NoAccessGroup,
            E::NotConfirmed { .. } => CoreError::NotConfirmed,
            E::ModuleDisabled { .. } => CoreError::ModuleDisabled,
            E::CredentialSuspended { .. } => CoreError::CredentialSuspended,
            E::Unauthorized { .. } => CoreError::Unauthorized,
            E::Refused { status, code, detail } => CoreError::Refused { status, code, message: detail },
            E::RateLimited { retry_after_secs, .. } => CoreError::RateLimited { retry_after_secs },
            E::Network { detail } => CoreError::Network(detail),
            E::InvalidResponse { detail } => CoreError::InvalidResponse(detail),
            E::BluetoothOff { .. } => CoreError::BluetoothOff,
            E::BluetoothUnauthorized { .. } => CoreError::BluetoothUnauthorized,
            E::BluetoothUnavailable { .. } => CoreError::BluetoothUnavailable,
            E::LocationServicesOff { .. } => CoreError::LocationServicesOff,
            E::AppUpdateRequired { detail } => CoreError::AppUpdateRequired(detail),
            E::Bluetooth { detail } => CoreError::Bluetooth(detail),
            E::NoReaderFound { .. } => CoreError::NoReaderFound,
            E::UnknownDoor { door, .. } => CoreError::UnknownDoor(door),
            E::RemoteUnlockOff { .. } => CoreError::RemoteUnlockOff,
            E::OwnerNotVerified { .. } => CoreError::OwnerNotVerified,
            E::OwnerVerificationUnavailable { .. } => CoreError::OwnerVerificationUnavailable,
            E::ProximityRequired { detail } => CoreError::ProximityRequired(detail),
            E::ReaderOffline { detail } => CoreError::ReaderOffline(detail),
            E::ReaderRefused { reason, .. } => CoreError::ReaderRefused(reason),
            E::ReaderNotGenuine { detail } => CoreError::ReaderNotGenuine(detail),
            E::Exchange { detail } => CoreError::Exchange(detail),
            E::Busy { .. } => CoreError::Busy,
            E::Cancelled { .. } => CoreError::Cancelled,
            E::Timeout { phase, .. } => CoreError::Timeout { phase },
            E::Storage { detail } => CoreError::Storage(detail),
            E::DeviceKey { detail } => CoreError::DeviceKey(detail),
            E::Internal { .. } | E::NotInitialized { .. } => return None,
        })
    }
}

impl From<CoreError> for MobileAccessError {
    fn from(error: CoreError) -> Self {
        use MobileAccessError as E;
        let detail = error.to_string();
        match error {
            CoreError::NoAccessGroup => E::NoAccessGroup { detail },
            CoreError::NotConfirmed => E::NotConfirmed { detail },
            CoreError::ModuleDisabled => E::ModuleDisabled { detail },
            CoreError::CredentialSuspended => E::CredentialSuspended { detail },
            CoreError::Unauthorized => E::Unauthorized { detail },
            CoreError::Refused { status, code, .. } => E::Refused { status, code, detail },
            CoreError::RateLimited { retry_after_secs } => E::RateLimited { retry_after_secs, detail },
            CoreError::Network(_) => E::Network { detail },
            CoreError::InvalidResponse(_) => E::InvalidResponse { detail },
            CoreError::BluetoothOff => E::BluetoothOff { detail },
            CoreError::BluetoothUnauthorized => E::BluetoothUnauthorized { detail },
            CoreError::BluetoothUnavailable => E::BluetoothUnavailable { detail },
            CoreError::LocationServicesOff => E::LocationServicesOff { detail },
            CoreError::AppUpdateRequired(_) => E::AppUpdateRequired { detail },
            CoreError::Bluetooth(_) => E::Bluetooth { detail },
            CoreError::NoReaderFound => E::NoReaderFound { detail },
            CoreError::UnknownDoor(door) => E::UnknownDoor { door, detail },
            CoreError::RemoteUnlockOff => E::RemoteUnlockOff { detail },
            CoreError::OwnerNotVerified => E::OwnerNotVerified { detail },
            CoreError::OwnerVerificationUnavailable => E::OwnerVerificationUnavailable { detail },
            CoreError::ProximityRequired(_) => E::ProximityRequired { detail },
            CoreError::ReaderOffline(_) => E::ReaderOffline { detail },
            CoreError::ReaderRefused(reason) => E::ReaderRefused { reason, detail },
            CoreError::ReaderNotGenuine(_) => E::ReaderNotGenuine { detail },
            CoreError::Exchange(_) => E::Exchange { detail },
            CoreError::Busy => E::Busy { detail },
            CoreError::Cancelled => E::Cancelled { detail },
            CoreError::Timeout { phase } => E::Timeout { phase, detail },
            CoreError::Storage(_) => E::Storage { detail },
            CoreError::DeviceKey(_) => E::DeviceKey { detail },
            CoreError::NoTransport => E::NotInitialized {
                detail: format!("{detail}: pass the app's HttpTransport to KeyButton.create / WalletPasses"),
            },
        }
    }
}

/// What the app's own code (secure storage, device signer) reports when it fails. Kotlin:
/// `throw PlatformException.Failed("Keystore locked")`; Swift: `throw PlatformError.Failed(...)`.
/// Any other exception thrown by app code arrives as `Unexpected` rather than crashing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The operation failed, and why (no secrets, please: it may be logged).
    #[error("{detail}")]
    Failed {
        /// Human message.
        detail: String,
    },
    /// The owner did not verify (declined or failed the biometric or passcode prompt), or the
    /// OS withheld the owner key: what an `OwnerKey` throws.
    #[error("{detail}")]
    NotVerified {
        /// Human message.
        detail: String,
    },
    /// App code threw something that is not a `PlatformError`.
    #[error("unexpected error in app code: {detail}")]
    Unexpected {
        /// The exception's text.
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        PlatformError::Unexpected { detail: error.reason }
    }
}

/// Mirrors of core enums the bindings expose as they are.
#[uniffi::remote(Enum)]
pub enum ErrorCategory {
    Access,
    Network,
    Bluetooth,
    Reader,
    Flow,
    Internal,
}

#[uniffi::remote(Enum)]
pub enum Phase {
    Key,
    Scan,
    Connect,
    Exchange,
}

#[uniffi::remote(Enum)]
pub enum Reason {
    Granted,
    WrongLock,
    NotYetValid,
    Expired,
    Revoked,
    WrongOrganizationKey,
    BadCredentialSignature,
    DeviceProofFailed,
    Malformed,
    UnknownSession,
    StaleNonce,
    Replay,
    UnexpectedMessage,
    Tampered,
    NotCloseEnough,
    ReaderError,
    PassSuspended,
    PassDeleted,
    PassSuperseded,
    PassNotAccepted,
    OwnerNotVerified,
}

#[cfg(test)]
mod tests {
    use mobile_access_protocol::Reason;
    use proptest::prelude::*;

    use super::*;

    fn phase() -> impl Strategy<Value = Phase> {
        prop_oneof![Just(Phase::Key), Just(Phase::Scan), Just(Phase::Connect), Just(Phase::Exchange)]
    }

    fn core_error() -> impl Strategy<Value = CoreError> {
        let text = "[a-z ]{0,20}";
        prop_oneof![
            Just(CoreError::NoAccessGroup),
            Just(CoreError::NotConfirmed),
            Just(CoreError::ModuleDisabled),
            Just(CoreError::CredentialSuspended),
            Just(CoreError::Unauthorized),
            (any::<u16>(), text, text).prop_map(|(status, code, message)| CoreError::Refused { status, code, message }),
            text.prop_map(CoreError::Network),
            any::<u64>().prop_map(|retry_after_secs| CoreError::RateLimited { retry_after_secs }),
            text.prop_map(CoreError::InvalidResponse),
            Just(CoreError::BluetoothOff),
            Just(CoreError::BluetoothUnauthorized),
            Just(CoreError::BluetoothUnavailable),
            Just(CoreError::LocationServicesOff),
            text.prop_map(CoreError::AppUpdateRequired),
            text.prop_map(CoreError::Bluetooth),
            Just(CoreError::NoReaderFound),
            Just(CoreError::RemoteUnlockOff),
            Just(CoreError::OwnerNotVerified),
            Just(CoreError::OwnerVerificationUnavailable),
            text.prop_map(CoreError::ProximityRequired),
            text.prop_map(CoreError::ReaderOffline),
            proptest::sample::select(Reason::ALL).prop_map(CoreError::ReaderRefused),
            text.prop_map(CoreError::ReaderNotGenuine),
            text.prop_map(CoreError::Exchange),
            Just(CoreError::Busy),
            Just(CoreError::Cancelled),
            phase().prop_map(|phase| CoreError::Timeout { phase }),
            text.prop_map(CoreError::Storage),
            text.prop_map(CoreError::DeviceKey),
        ]
    }

    proptest! {
        /// The app sees the core's message, category and retry policy for every error, and the
        /// typed facts survive.
        #[test]
        fn every_core_error_crosses_with_its_message_category_and_facts(error in core_error()) {
            let ffi = MobileAccessError::from(error.clone());
            prop_assert_eq!(ffi.to_string(), error.to_string());
            prop_assert_eq!(ffi.category(), error.category());
            prop_assert_eq!(ffi.is_retryable(), error.is_retryable());
        }
    }

    #[test]
    fn library_failures_are_internal_and_not_retryable() {
        let error = MobileAccessError::internal("runtime");
        assert_eq!(error.category(), ErrorCategory::Internal);
        assert!(!error.is_retryable());
        assert_eq!(error.to_string(), "runtime");
    }

    #[test]
    fn an_unexpected_exception_in_app_code_becomes_a_platform_error() {
        let error = PlatformError::from(uniffi::UnexpectedUniFFICallbackError::new("IllegalStateException: boom"));
        assert_eq!(error, PlatformError::Unexpected { detail: "IllegalStateException: boom".to_owned() });
        assert!(error.to_string().contains("boom"));
    }
}

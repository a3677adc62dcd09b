//! The crate's one error type.

use crate::PeripheralId;

/// Why the radio could not do what was asked. Adapter conditions are distinct variants because
/// the app must react differently to each: ask the user to turn Bluetooth on, ask for the
/// permission, or explain that this device cannot open doors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bluetooth is switched off.
    #[error("Bluetooth is turned off")]
    AdapterOff,
    /// The app lacks the Bluetooth permission (iOS authorization, Android BLUETOOTH_SCAN/CONNECT).
    #[error("the app is not allowed to use Bluetooth")]
    Unauthorized,
    /// Location services are off, and the platform reports no advertisements without them
    /// (Android 11 and older).
    #[error("location services are turned off")]
    LocationServicesOff,
    /// There is no usable Bluetooth adapter (none present, or the system Bluetooth service is
    /// not reachable).
    #[error("no Bluetooth adapter available: {0}")]
    Unavailable(String),
    /// The peripheral is not known to the radio (never seen in a scan, or gone).
    #[error("peripheral {0} not found")]
    NotFound(PeripheralId),
    /// The peripheral did not answer the connection request.
    #[error("could not connect to {0}")]
    ConnectionFailed(PeripheralId),
    /// An established connection ended.
    #[error("connection to {peripheral} lost: {cause}")]
    Disconnected {
        /// The peripheral.
        peripheral: PeripheralId,
        /// Why.
        cause: DisconnectCause,
    },
    /// An operation did not finish in time.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The peripheral has no such characteristic.
    #[error("characteristic {0:032x} not found")]
    CharacteristicNotFound(u128),
    /// A single ATT write or notification larger than the link's MTU allows.
    #[error("{len} bytes exceed the {max} bytes one ATT packet carries at this MTU")]
    PayloadTooLarge {
        /// Bytes given.
        len: usize,
        /// `MTU - 3`.
        max: usize,
    },
    /// Fragmenting or reassembling a protocol message failed.
    #[error("GATT framing: {0}")]
    Framing(#[from] mobile_access_protocol::Error),
    /// The platform's Bluetooth stack does not offer this operation.
    #[error("not supported by this Bluetooth stack: {0}")]
    NotSupported(String),
    /// Any other failure reported by the platform's Bluetooth stack.
    #[error("Bluetooth stack error: {0}")]
    Backend(String),
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectCause {
    /// No packet got through for the supervision timeout (out of range, interference).
    SupervisionTimeout,
    /// The peripheral closed the connection.
    PeerTerminated,
    /// This side closed it.
    LocalTerminated,
    /// A fault injected into the simulated radio.
    Injected,
    /// The platform stack reported a disconnection without a reason.
    Unknown,
}

impl std::fmt::Display for DisconnectCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DisconnectCause::SupervisionTimeout => "supervision timeout (out of range or interference)",
            DisconnectCause::PeerTerminated => "closed by the peripheral",
            DisconnectCause::LocalTerminated => "closed by this device",
            DisconnectCause::Injected => "dropped (injected fault)",
            DisconnectCause::Unknown => "reason unknown",
        })
    }
}

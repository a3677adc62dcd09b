//! The crate's one error type.

/// Why a reader could not be set up or driven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The provisioning JSON does not parse.
    #[error("provisioning JSON: {0}")]
    Json(String),
    /// A hex field is not lowercase hex of the right length.
    #[error("provisioning field {field}: expected {expected} lowercase hex bytes")]
    Hex {
        /// The field.
        field: &'static str,
        /// Bytes expected.
        expected: usize,
    },
    /// The provisioning is internally inconsistent (certificate for another reader, lock or
    /// key; no trust anchor for the certificate's organization; ...).
    #[error("inconsistent provisioning: {0}")]
    Inconsistent(&'static str),
    /// The reader's persisted state is damaged (torn, corrupted, truncated, or of an unknown
    /// format): the reader refuses to start rather than forget revocations. An operator restores
    /// the file from a backup or deletes it knowingly (the reader then re-learns from the cloud).
    #[error("reader state damaged, refusing to start: {0}")]
    StateDamaged(String),
    /// The persisted state belongs to another reader (another id or organization): a data
    /// directory copied between readers, refused rather than mixed.
    #[error("reader state belongs to reader {found}, not {expected}")]
    StateOfAnotherReader {
        /// This reader.
        expected: String,
        /// The reader named in the state.
        found: String,
    },
    /// Reading or writing the state failed (disk full, permissions...).
    #[error("reader state storage: {0}")]
    Storage(String),
    /// The protocol crate refused a value (certificate encoding, key seed, random generator).
    #[error(transparent)]
    Protocol(#[from] mobile_access_protocol::Error),
    /// The access cloud could not be reached or answered with an error (reader link).
    #[cfg(feature = "link")]
    #[error("access cloud: {0}")]
    Cloud(String),
    /// The Bluetooth stack (BlueZ) refused or failed an operation.
    #[cfg(feature = "bluez")]
    #[error("Bluetooth: {0}")]
    Bluetooth(String),
    /// The relay could not be driven (GPIO line, relay file).
    #[error("relay: {0}")]
    Relay(String),
    /// The radio failed (virtual reader only).
    #[cfg(feature = "sim")]
    #[error(transparent)]
    Radio(#[from] mobile_access_ble::Error),
}

//! The door reader's firmware logic, independent of its radio: what it is provisioned with,
//! when it refuses before the protocol even runs (phone too far in tap mode, tamper switch
//! tripped), what it tells the member (lights, sounds), when it drives the relay, and the audit
//! log of every attempt.
//!
//! The exchange itself is the protocol crate's `reader::Responder`; this crate wraps it with the
//! reader's policy. With the `sim` feature, `VirtualReader` runs a reader as a peripheral on
//! the simulated radio of `mobile-access-ble`; with `link`, `ReaderLink` keeps an online reader in
//! step with the access cloud; with `bluez`, `bluez::BluezReader` runs it on a real Linux
//! Bluetooth stack, and the `mobile-access-reader` binary is a reader anyone can put on a door.
//!
//! A reader keeps what must survive a reboot (revocation list, epoch, clock floor, tamper
//! state, audit sequence and unacknowledged events) through a [`ReaderStateStore`]:
//! [`Reader::restore`] with a [`FileStateStore`] in the reader's data directory. See the
//! `state` module docs ([`ReaderState`]) for what is kept and the file format.

mod audit;
#[cfg(all(feature = "bluez", target_os = "linux"))]
pub mod bluez;
mod clock;
mod error;
mod feedback;
mod hex;
#[cfg(feature = "link")]
mod link;
mod nfc;
mod provisioning;
mod reader;
pub mod relay;
mod state;
#[cfg(feature = "sim")]
mod virtual_reader;

pub use audit::{AuditEntry, AuditLog, Outcome};
pub use clock::DriftingClock;
pub use error::Error;
pub use feedback::{Feedback, FeedbackEvent, Light, Sound};
#[cfg(feature = "link")]
pub use link::{ReaderLink, SharedReader};
pub use mobile_access_api::UploadReport;
pub use nfc::{NFC_RANGE_M, PassPresenter, TapResult, WALLET_READER_MODEL};
pub use provisioning::{Mode, Provisioning, ReaderSeed, ReaderToken, TrustAnchor};
pub use reader::{Answer, MAX_SIGNED_TIME_LEAD, PendingDecision, Reader};
pub use state::{FileStateStore, MAX_STATE_LEN, MemoryStateStore, ReaderState, ReaderStateStore};
#[cfg(feature = "sim")]
pub use virtual_reader::{VirtualReader, VirtualReaderOptions};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The mobile-access SDK core: what the iOS and Android apps link (through the uniffi bindings)
//! and what the desktop harness drives.
//!
//! The [`KeyButton`] is the product: one tap validates the member's rights and downloads a key
//! when none is cached, finds the nearest reader of a door the key opens, waits for the phone to
//! be tapped on readers that need it, runs the unlock exchange and reports every step as a
//! [`KeyButtonState`]. Later taps need no network at all.

mod account;
mod button;
mod cloud;
mod error;
mod hands_free;
pub mod http;
mod journal;
mod keyring;
mod listeners;
pub mod messages;
mod owner;
mod remote;
mod revocation;
mod state;
mod storage;
mod unlock;
mod wallet;

pub use account::{AccountConfig, AccountSummary, PRIMARY_ACCOUNT};
pub use button::{
    KeyButton, KeyButtonConfig, KeyDoor, ListenerHandle, RequirementsListener, Screen, StateListener, TapOutcome,
    TapReport, UnlockPath,
};
pub use cloud::{CloudClient, CloudConfig};
pub use error::{Error, ErrorCategory, Result};
pub use hands_free::HandsFreeConfig;
pub use journal::{JOURNAL_CAPACITY, JournalEntry};
pub use keyring::{Keyring, Keys, KnownReader, SharedSigner, software_device_key};
pub use messages::{MessageKey, NextStep, set_messages};
/// The cloud's JSON, from the contract the cloud itself serves ([`mobile_access_api`]).
pub use mobile_access_api::{
    Access, CredentialStatus, Door, IssuedCredential, KeyBundle, MemberStatus, NewWalletPass, ReaderFacts, ReaderMode,
    RemoteUnlock, TrustAnchor, UnlockMethod, UploadReport, WalletDevice, WalletEligibility, WalletPass,
    WalletPassAdded, WalletPassDevices, WalletPrerequisite, WalletProvisioning, WatchBinding,
};
pub use mobile_access_ble::Requirement;
pub use owner::{OwnerKey, SharedOwnerKey, SoftwareOwnerKey};
pub use remote::{RemoteDoor, RemoteDoors};
pub use state::{KeyButtonState, Phase, PhaseTimings};
pub use storage::{FileStorage, MemoryStorage, SecureStorage};
pub use unlock::{ExchangeKind, Timeouts};
pub use wallet::WalletPasses;

/// The BLE layer, re-exported so apps and the harness pick a radio without another dependency.
pub use mobile_access_ble as ble;

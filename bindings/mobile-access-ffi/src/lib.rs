//! The mobile-access SDK for Swift and Kotlin: a thin uniffi wrapper over the `mobile-access`
//! core. Everything an app does goes through [`KeyButton`]; the app plugs in its secure storage
//! ([`SecureStorage`]), optionally its hardware-backed key ([`DeviceSigner`]), a state listener
//! ([`StateListener`]) and, if it wants the SDK's logs, a [`LogSink`].
//!
//! Nothing here decides anything: each export forwards to the core and converts types. The
//! library owns its async runtime; every error crosses as [`MobileAccessError`]; no panic
//! crosses the boundary (uniffi catches them in exported calls, and async work runs in tasks
//! whose panics become `Internal` errors).
//!
//! Feature `sim` adds `SimulatedSite`: virtual readers on the simulated radio, for the JVM tests
//! and the desktop harness.

// Without a radio (neither `btleplug` nor `sim`) nothing can make a Key Button; that build
// exists only to measure what the radio costs in size.
#![cfg_attr(not(any(feature = "btleplug", feature = "sim")), allow(dead_code))]

uniffi::setup_scaffolding!("mobile_access");

mod button;
mod error;
mod logging;
mod owner;
mod platform;
mod radio;
mod runtime;
#[cfg(feature = "sim")]
mod sim;
mod startup;
mod transport;
mod types;
mod wallet;

pub use button::{KeyButton, ListenerHandle};
pub use error::{MobileAccessError, PlatformError};
pub use logging::{LogLevel, LogSink, clear_log_sink, set_log_sink};
pub use owner::{OwnerKey, SoftwareOwnerKey};
pub use platform::{DeviceSigner, RequirementsListener, SecureStorage, StateListener, file_storage, memory_storage};
pub use radio::{
    AdapterState, BluetoothCentral, BluetoothLink, ConnectedLink, NotificationSink, RadioError, ScanSink, WriteType,
};
#[cfg(feature = "sim")]
pub use sim::{AirAdvertisement, AirConnection, ReaderSignal, SimulatedAir, SimulatedPhone, SimulatedSite};
pub use startup::is_initialized;
#[cfg(feature = "sim")]
pub use startup::require_startup_for_tests;
pub use transport::{HttpError, HttpRequest, HttpResponse, HttpTransport};
pub use types::{KeyButtonConfig, KeyButtonState, TapOutcome, TapReport, english_message, set_messages};
pub use wallet::{WalletPassAdded, WalletPasses};

pub use mobile_access::{
    Access, ErrorCategory, ExchangeKind, KeyDoor, MessageKey, NextStep, Phase, PhaseTimings, RemoteDoor, RemoteDoors,
    RemoteUnlock, Screen, UnlockPath,
};
pub use mobile_access_protocol::Reason;

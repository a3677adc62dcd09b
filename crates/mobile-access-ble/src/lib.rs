//! The Bluetooth LE central the mobile-access SDK talks to, and two radios behind it.
//!
//! [`Central`] and [`Link`] are the narrow, object-safe interface the SDK depends on: scan for
//! readers with RSSI, connect, learn the ATT MTU, write with or without response, receive
//! notifications, disconnect. It is shaped after what btleplug offers on every platform so the
//! real backend is a thin mapping, and small enough that a simulated radio can implement it
//! honestly. An RSSI may be unknown ([`Rssi::UNKNOWN`]): BlueZ with emulated controllers and
//! some chipsets never measure one.
//!
//! - feature `btleplug`: `btleplug::BtleplugCentral`, the real radio (BlueZ, CoreBluetooth,
//!   WinRT, Android). Off by default so the core, its property tests and the JVM binding tests
//!   build without D-Bus.
//! - feature `sim`: `sim::SimRadio`, a deterministic model of BLE timing and limits
//!   (advertising, scan windows, path loss, connection events, MTU, link-layer retransmission,
//!   supervision timeout, GATT caching, injected faults) on tokio's clock. Under a paused clock
//!   a latency measured in simulation is "milliseconds on a real radio with this profile".
//!
//! [`channel::MessageChannel`] carries whole protocol messages over a [`Link`] using the
//! protocol crate's GATT framing.

mod central;
pub mod channel;
mod error;

#[cfg(feature = "btleplug")]
pub mod btleplug;
#[cfg(feature = "sim")]
pub mod sim;

pub use central::{
    AdapterState, Central, Link, Notifications, PeripheralId, Requirement, Rssi, ScanEvent, ScanFilter, ScanStream,
    WriteType,
};
pub use error::{DisconnectCause, Error};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

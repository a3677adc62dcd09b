//! The desktop BLE test harness, as a library: the world the demo runs in (embedded cloud,
//! simulated radio, virtual readers, a phone's Key Button), shared with the end-to-end tests.

pub mod console_fixture;
pub mod demo;
pub mod wallet;
pub mod world;

//! `mobile-access-harness`: the desktop BLE test harness.
fn main() {}

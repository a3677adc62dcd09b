//! Placeholder replaced by the exchange benchmark.
fn main() {}

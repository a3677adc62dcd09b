//! Placeholder replaced by the cloud benchmark.
fn main() {}

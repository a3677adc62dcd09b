//! `cargo xtask size`: the FFI library as a phone ships it, measured against its budget, and what
//! each dependency costs in it. `cargo xtask test` runs it and fails above the budget.
//!
//! The proxy for a phone's per-ABI library is the x86_64 Linux build without the BlueZ radio
//! backend (`--no-default-features`: phones bring their own radio through the `BluetoothCentral`
//! foreign trait, and iOS/Android never link BlueZ), in the shipping profile, stripped. It is built
//! once in `release-ffi` (symbols kept, so each symbol can be charged to its crate) and stripped
//! with binutils' `strip`, which gives the same bytes as the `release-ffi-stripped` profile
//! without a second LTO build (minutes on two cores).

use std::{collections::BTreeMap, fs, process::Command};

use crate::{cargo, run, target_dir};

/// The budget for the stripped x86_64 proxy, in bytes (2.5 MB).
pub const BUDGET: u64 = 2_500_000;

/// `cargo xtask size`.
pub fn command(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err("usage: cargo xtask size".to_owned());
    }
    check()
}

/// Builds, measures, prints the per-crate costs, and fails above [`BUDGET`].
pub fn check() -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--locked", "-p", "mobile-access-ffi", "--no-default-features", "--profile", "release-ffi"]);
    run(build)?;
    let target = target_dir()?;
    let library = target.join("release-ffi/libmobile_access_ffi.so");
    let stripped = target.join("size/libmobile_access_ffi.so");
    fs::create_dir_all(target.join("size")).map_err(|e| e.to_string())?;
    let mut strip = Command::new("strip");
    strip.arg("--strip-all").arg(&library).arg("-o").arg(&stripped);
    run(strip).map_err(|e| format!("{e} (the size check needs binutils' strip)"))?;
    let size = fs::metadata(&stripped).map_err(|e| format!("{}: {e}", stripped.display()))?.len();

    print_costs(&library)?;
    let verdict = if size <= BUDGET { "within" } else { "OVER" };
    println!(
        "size: libmobile_access_ffi.so (x86_64, no BlueZ, app radio, stripped): {size} B = {:.2} MB, {verdict} the {:.2} MB budget",
        size as f64 / 1e6,
        BUDGET as f64 / 1e6
    );
    if size > BUDGET {
        return Err(format!(
            "the phone library is {size} B, over its {BUDGET} B budget: see the costs above (bindings/README.md, Size)"
        ));
    }
    Ok(())
}

/// Prints the bytes of code and data each crate contributes, from the symbol table of the
/// unstripped library (what `cargo bloat --crates` prints, without installing it).
fn print_costs(library: &std::path::Path) -> Result<(), String> {
    let output = Command::new("nm")
        .args(["--print-size", "--size-sort", "--demangle"])
        .arg(library)
        .output()
        .map_err(|e| format!("could not run nm: {e}"))?;
    if !output.status.success() {
        return Err(format!("nm failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let mut costs: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut fields = line.splitn(4, ' ');
        let (Some(_address), Some(size), Some(_kind), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(size) = u64::from_str_radix(size, 16) else { continue };
        total += size;
        *costs.entry(crate_of(name)).or_default() += size;
    }
    let mut sorted: Vec<(String, u64)> = costs.into_iter().collect();
    sorted.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    println!("size: bytes of symbols per crate (unstripped release-ffi, {total} B in sized symbols):");
    for (name, bytes) in sorted.iter().take(30) {
        println!("size: {bytes:>9} B {:>5.1} %  {name}", *bytes as f64 * 100.0 / total.max(1) as f64);
    }
    Ok(())
}

/// The crate a demangled symbol belongs to: its first path segment, looking through
/// `<T as Trait>` and references; C and assembly symbols by their known prefixes.
fn crate_of(symbol: &str) -> String {
    let mut name = symbol.trim_start_matches(['<', '&', '*', '(', '[']);
    for prefix in ["mut ", "const ", "dyn ", "impl "] {
        name = name.trim_start_matches(prefix).trim_start_matches(['<', '&']);
    }
    if let Some((first, _)) = name.split_once("::") {
        // `<str as core::fmt::Display>::fmt`: the trait's crate wrote the code.
        return first.rsplit(" as ").next().unwrap_or(first).to_owned();
    }
    for (prefix, owner) in [
        ("ring_core_", "ring"),
        ("UNIFFI_META", "uniffi metadata"),
        ("uniffi_", "uniffi scaffolding"),
        ("ffi_mobile_access", "uniffi scaffolding"),
        ("Java_", "mobile_access_ffi (JNI)"),
    ] {
        if name.starts_with(prefix) {
            return owner.to_owned();
        }
    }
    "[other: C, compiler builtins, anonymous data]".to_owned()
}

#[cfg(test)]
mod tests {
    use super::crate_of;

    #[test]
    fn symbols_are_charged_to_their_crate() {
        assert_eq!(crate_of("tokio::runtime::park::CachedParkThread::block_on"), "tokio");
        assert_eq!(crate_of("<hyper::proto::h1::conn::Conn<I,B,T> as core::fmt::Debug>::fmt"), "hyper");
        assert_eq!(crate_of("<&mut serde_json::de::Deserializer<R>>::parse_any"), "serde_json");
        assert_eq!(crate_of("<str as core::fmt::Display>::fmt"), "core");
        assert_eq!(crate_of("ring_core_0_17_14__x25519_fe_mul"), "ring");
        assert_eq!(crate_of("UNIFFI_META_MOBILE_ACCESS_METHOD_KEYBUTTON_TAP"), "uniffi metadata");
    }
}

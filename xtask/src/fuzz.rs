//! `cargo xtask fuzz`: libFuzzer targets built on stable Rust.
//!
//! cargo-fuzz is not needed: it only adds these flags (coverage instrumentation, the `fuzzing`
//! cfg) and a target triple so build scripts stay uninstrumented. No sanitizer is used, which
//! Rust's memory safety (and `unsafe_code = "forbid"`) makes cheap to give up.

use std::{fs, process::Command};

use crate::{cargo, run, target_dir};

const TARGETS: &[&str] = &[
    "advertisement",
    "certificate",
    "credential",
    "exchange",
    "message",
    "reassembler",
    "revocation_list",
    "reader_state",
];
const RUSTFLAGS: &str = "--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks";

pub(crate) fn run_all(seconds: u64, only: &[String]) -> Result<(), String> {
    let selected: Vec<&str> =
        if only.is_empty() { TARGETS.to_vec() } else { only.iter().map(String::as_str).collect() };
    if let Some(unknown) = selected.iter().find(|t| !TARGETS.contains(t)) {
        return Err(format!("unknown fuzz target {unknown}; known: {}", TARGETS.join(", ")));
    }
    let triple = host_triple()?;
    let target_dir = target_dir()?.join("fuzz");
    let mut build = cargo();
    build
        .env("RUSTFLAGS", RUSTFLAGS)
        .args(["build", "--release", "--bins", "--manifest-path", "fuzz/Cargo.toml", "--target", &triple])
        .arg("--target-dir")
        .arg(&target_dir);
    run(build)?;
    for target in selected {
        let corpus = target_dir.join("corpus").join(target);
        fs::create_dir_all(&corpus).map_err(|e| format!("creating {}: {e}", corpus.display()))?;
        let mut fuzz = Command::new(target_dir.join(&triple).join("release").join(target));
        fuzz.arg(format!("-max_total_time={seconds}")).arg("-print_final_stats=1").arg(&corpus);
        run(fuzz)?;
    }
    Ok(())
}

/// `cargo xtask fuzz [--seconds N] [target...]`.
pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let mut seconds = 60;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            let value = args.next().ok_or("--seconds needs a value")?;
            seconds = value.parse().map_err(|_| format!("--seconds: not a number: {value}"))?;
        } else {
            targets.push(arg.clone());
        }
    }
    run_all(seconds, &targets)
}

fn host_triple() -> Result<String, String> {
    let output = Command::new("rustc").arg("-vV").output().map_err(|e| format!("running rustc -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV printed no host triple".to_owned())
}

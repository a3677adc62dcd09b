//! `cargo xtask <command>`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `test`: every test of the workspace (unit, integration, property and doc tests), the cloud's
//!   OpenAPI document against the server with schemathesis, then each fuzz target briefly. This
//!   is what CI runs.
//! - `fuzz [--seconds N] [target...]`: builds the fuzz targets with libFuzzer instrumentation on
//!   stable Rust and runs each for N seconds (default 60).
//! - `bindings`: generates the Kotlin and Swift bindings from the built FFI library.
//! - `test-bindings`: only the bindings part of `test` (Kotlin JVM tests, Swift API check).
//! - `real-ble [--runs N]`: every unlock path on a real BlueZ stack in a VM (see `real_ble`);
//!   `test` runs it once when the VM's packages are installed, and says loudly when not.
//! - `ble-bench`: phase timings and ATT operation counts on that stack.
//! - `console`: the web console's browser tests (Playwright, Debian's headless Chromium); `test`
//!   runs them when Chromium, node and npm are installed, and says loudly when not.
//! - `android`, `apple`: the Android libraries (cargo-ndk) and the iOS XCFramework (macOS).
//! - `size`: the FFI library as a phone ships it, stripped, against its budget, with the cost of
//!   each dependency; `test` runs it and fails above the budget.
//!
//! `test` also runs the Kotlin bindings' JVM tests (Maven and a JDK 17) and checks the Swift
//! bindings generate with the public API.

mod android;
mod apple;
mod bindings;
mod console;
mod fuzz;
mod real_ble;
mod samples;
mod size;

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    sync::OnceLock,
};

const USAGE: &str = "usage: cargo xtask <test | fuzz [--seconds N] [target...] | bindings | test-bindings | size | real-ble [--runs N] | ble-bench | console | android [--abi host] [--repo DIR] | apple [--url URL]>";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((command, rest)) if command == "test" => test(rest),
        Some((command, rest)) if command == "fuzz" => fuzz::command(rest),
        Some((command, rest)) if command == "bindings" => bindings::command(rest),
        Some((command, [])) if command == "test-bindings" => bindings::test(),
        Some((command, rest)) if command == "real-ble" => real_ble::command(rest),
        Some((command, rest)) if command == "console" => console::command(rest),
        Some((command, rest)) if command == "ble-bench" => real_ble::bench(rest),
        Some((command, rest)) if command == "android" => android::command(rest),
        Some((command, rest)) if command == "apple" => apple::command(rest),
        Some((command, rest)) if command == "size" => size::command(rest),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Where cargo puts build output: `CARGO_TARGET_DIR`, `build.target-dir` in a config file, or
/// `<root>/target`. `cargo metadata` resolves all three the way the builds we start will.
fn target_dir() -> Result<PathBuf, String> {
    static TARGET_DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TARGET_DIR
        .get_or_init(|| {
            let mut metadata = cargo();
            metadata.args(["metadata", "--format-version", "1", "--no-deps", "--locked"]);
            let output = metadata.output().map_err(|e| format!("could not run cargo metadata: {e}"))?;
            if !output.status.success() {
                return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
            }
            let json: serde_json::Value =
                serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
            json.get("target_directory")
                .and_then(serde_json::Value::as_str)
                .map(PathBuf::from)
                .ok_or_else(|| "cargo metadata names no target_directory".to_owned())
        })
        .clone()
}

fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(root());
    command
}

/// Runs `command`, echoing it, and fails with its exit status.
fn run(mut command: Command) -> Result<(), String> {
    eprintln!("xtask: running {command:?}");
    let status = command.status().map_err(|e| format!("could not start {command:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed: {status}")) }
}

fn test(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(USAGE.to_owned());
    }
    let mut all_targets = cargo();
    all_targets.args(["test", "--workspace", "--all-targets", "--locked"]);
    run(all_targets)?;
    let mut docs = cargo();
    docs.args(["test", "--workspace", "--doc", "--locked"]);
    run(docs)?;
    schemathesis()?;
    bindings::test()?;
    size::check()?;
    fuzz::command(&["--seconds".to_owned(), "10".to_owned()])?;
    console::test_if_available()?;
    real_ble::test_if_available()
}

/// The cloud's OpenAPI document against the real server: schemathesis with every check and every
/// token kind, on SQLite and on PostgreSQL when `DATABASE_URL` is set (the test,
/// `crates/mobile-access-cloud/tests/openapi_conformance.rs`, is ignored by plain `cargo test`
/// because it takes minutes). Skipped, loudly, without the `schemathesis` command.
fn schemathesis() -> Result<(), String> {
    if which("schemathesis").is_none() {
        eprintln!(
            "\n==== SKIPPED: the OpenAPI document against the cloud (schemathesis): `schemathesis` is not on PATH. \
             Install with `pip install schemathesis` (.ci/run does). ====\n"
        );
        return Ok(());
    }
    let mut conformance = cargo();
    conformance.args(["test", "-p", "mobile-access-cloud", "--test", "openapi_conformance", "--locked"]);
    conformance.args(["--", "--ignored", "--nocapture"]);
    let started = std::time::Instant::now();
    let result = run(conformance);
    eprintln!("xtask: schemathesis against the cloud took {:.0} s", started.elapsed().as_secs_f64());
    result
}

/// The first `program` on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

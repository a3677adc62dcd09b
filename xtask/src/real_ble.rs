//! `cargo xtask real-ble [--runs N]` and `cargo xtask ble-bench`: the unlock paths on a real
//! Linux Bluetooth stack. A VM boots Debian's kernel under qemu (software emulation: no KVM is
//! needed) with the host's filesystem shared read-only through virtme-ng; inside it,
//! `real-ble/guest.sh` brings up bluetoothd and two controllers emulated by BlueZ's `btvirt`, and
//! runs the end-to-end test `tests/tests/real_ble.rs` (the embedded cloud, the BlueZ reader
//! binary on hci0, the SDK and the desktop harness's `scan`/`unlock` through btleplug on hci1).
//! The VM gets no network device.
//!
//! `cargo xtask test` runs it when the VM's packages are installed and says in one loud line that
//! it skipped it otherwise (`.ci/run` installs them). A boot whose stack never came up (the
//! emulator losing a controller) is tried again; a failed assertion never is.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{cargo, root, run, target_dir};

/// What a VM may take, boot included, before it is stopped (boot alone is 45–110 s).
const VM_LIMIT: Duration = Duration::from_secs(20 * 60);
/// Boots tried when the Bluetooth stack does not come up inside the VM.
const BOOTS: usize = 3;
/// The guest script's exit codes for "the stack did not come up" (see guest.sh).
const SETUP_FAILURES: std::ops::RangeInclusive<i32> = 90..=99;
/// What `.ci/run` installs for this test (Debian packages, and virtme-ng from PyPI).
pub const PACKAGES: &str = "qemu-system-x86 linux-image-amd64 bluez bluez-test-tools busybox-static kmod udev";

struct Tools {
    kernel: PathBuf,
}

/// The tools the VM needs, or what is missing.
fn tools() -> Result<Tools, Vec<String>> {
    let mut missing = Vec::new();
    for program in ["vng", "qemu-system-x86_64", "btvirt", "btmon", "btmgmt", "bluetoothctl", "dbus-daemon", "busybox"]
    {
        if crate::which(program).is_none() {
            missing.push(program.to_owned());
        }
    }
    if !Path::new("/usr/libexec/bluetooth/bluetoothd").exists() {
        missing.push("bluetoothd".to_owned());
    }
    let kernel = newest_kernel_with_vhci();
    if kernel.is_none() {
        missing.push("a kernel with hci_vhci (/boot/vmlinuz-*)".to_owned());
    }
    match kernel {
        Some(kernel) if missing.is_empty() => Ok(Tools { kernel }),
        _ => Err(missing),
    }
}

/// The newest `/boot/vmlinuz-<version>` whose modules include the virtual HCI driver.
fn newest_kernel_with_vhci() -> Option<PathBuf> {
    let mut kernels: Vec<(String, PathBuf)> = fs::read_dir("/boot")
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.strip_prefix("vmlinuz-")?.to_owned();
            let driver = Path::new("/lib/modules").join(&version).join("kernel/drivers/bluetooth");
            let has_vhci = fs::read_dir(driver)
                .ok()?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_str().is_some_and(|name| name.starts_with("hci_vhci.ko")));
            has_vhci.then_some((version, path))
        })
        .collect();
    kernels.sort();
    kernels.pop().map(|(_, path)| path)
}

/// The programs the test drives inside the VM: the BlueZ reader and the desktop harness.
struct Binaries {
    reader: PathBuf,
    harness: PathBuf,
}

/// The part of `cargo xtask test`: runs once and fails the run on a failure, or says loudly why
/// it could not run. (It gated nothing until it had passed 10 runs in a row; see
/// ARCHITECTURE.md for what made it reliable.)
pub fn test_if_available() -> Result<(), String> {
    match tools() {
        Ok(tools) => run_all(&tools, 1, None),
        Err(missing) => {
            eprintln!(
                "\n==== SKIPPED: the real-stack BLE test (BlueZ in a VM): missing {}. \
                 Install with `apt-get install {PACKAGES}` and `pip install virtme-ng` (.ci/run does). ====\n",
                missing.join(", ")
            );
            Ok(())
        }
    }
}

/// `cargo xtask real-ble [--runs N]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let runs = match args {
        [] => 1,
        [flag, n] if flag == "--runs" => n.parse().map_err(|_| format!("--runs: not a number: {n}"))?,
        _ => return Err("usage: cargo xtask real-ble [--runs N]".to_owned()),
    };
    let tools = tools().map_err(|missing| format!("the real-stack BLE test needs {}", missing.join(", ")))?;
    run_all(&tools, runs, None)
}

/// `cargo xtask ble-bench`: the benchmark test in the same VM, printing its figures.
pub fn bench(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err("usage: cargo xtask ble-bench".to_owned());
    }
    let tools = tools().map_err(|missing| format!("the real-stack BLE benchmark needs {}", missing.join(", ")))?;
    run_all(&tools, 1, Some("real_stack_benchmark"))
}

/// Builds the reader binary and the test, then boots the VM `runs` times.
fn run_all(tools: &Tools, runs: usize, only: Option<&str>) -> Result<(), String> {
    let mut reader = cargo();
    reader.args(["build", "--locked", "-p", "mobile-access-reader", "--features", "bluez", "--bin"]);
    reader.arg("mobile-access-reader");
    run(reader)?;
    let mut harness = cargo();
    harness.args(["build", "--locked", "-p", "mobile-access-harness", "--bin", "mobile-access-harness"]);
    run(harness)?;
    let bins = Binaries {
        reader: target_dir()?.join("debug/mobile-access-reader"),
        harness: target_dir()?.join("debug/mobile-access-harness"),
    };
    let test_bin = build_test()?;
    let mut passed = 0;
    for index in 1..=runs {
        let out = target_dir()?.join("real-ble").join(format!("run-{index}"));
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
        let mut test = vec![test_bin.display().to_string(), "--nocapture".to_owned(), "--test-threads=1".to_owned()];
        match only {
            Some(name) => test.extend([name.to_owned(), "--exact".to_owned(), "--ignored".to_owned()]),
            None => test.push("every_unlock_path_on_bluez_with_emulated_controllers".to_owned()),
        }
        let started = Instant::now();
        let code = boot_until_ready(tools, &bins, &out, &test)?;
        eprintln!("xtask: real-stack run {index}/{runs} ended with {code} after {:.0?}", started.elapsed());
        if code != 0 {
            return Err(format!(
                "the real-stack BLE test failed in run {index} (exit {code}); logs in {}\n{passed} passed, 1 failed",
                out.display()
            ));
        }
        passed += 1;
    }
    println!("real-stack BLE test (BlueZ, emulated controllers): {runs} runs");
    println!("{passed} passed, 0 failed");
    Ok(())
}

/// The real_ble test executable, built as `cargo test` would.
fn build_test() -> Result<PathBuf, String> {
    let mut build = cargo();
    build.args(["test", "--locked", "-p", "mobile-access-e2e", "--test", "real_ble", "--no-run"]);
    build.args(["--message-format", "json-render-diagnostics"]);
    build.stdout(Stdio::piped());
    eprintln!("xtask: running {build:?}");
    let output = build.output().map_err(|e| format!("could not start cargo: {e}"))?;
    if !output.status.success() {
        return Err("building the real_ble test failed".to_owned());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message.pointer("/target/name").and_then(serde_json::Value::as_str) == Some("real_ble"))
        .find_map(|message| message.get("executable").and_then(serde_json::Value::as_str).map(PathBuf::from))
        .ok_or_else(|| "cargo built no real_ble test executable".to_owned())
}

/// Boots the VM until the stack comes up (at most [`BOOTS`] times); the test's exit code.
fn boot_until_ready(tools: &Tools, bins: &Binaries, out: &Path, test: &[String]) -> Result<i32, String> {
    for boot in 1..=BOOTS {
        let code = boot_vm(tools, bins, out, test)?;
        if !SETUP_FAILURES.contains(&code) {
            return Ok(code);
        }
        eprintln!("xtask: the Bluetooth stack did not come up in the VM (exit {code}, boot {boot}/{BOOTS})");
    }
    Err(format!("the Bluetooth stack did not come up in {BOOTS} boots; logs in {}", out.display()))
}

/// One boot: runs the guest script with `test`, echoing the VM's console; returns the exit code
/// the guest recorded (or a setup failure when it recorded none).
fn boot_vm(tools: &Tools, bins: &Binaries, out: &Path, test: &[String]) -> Result<i32, String> {
    let exit_file = out.join("exit-code");
    let _ = fs::remove_file(&exit_file);
    let guest = root().join("xtask/real-ble/guest.sh");
    let exec = format!(
        "MOBILE_ACCESS_READER_BIN={} MOBILE_ACCESS_HARNESS_BIN={} MOBILE_ACCESS_REAL_BLE_OUT={} RUST_BACKTRACE=1 sh {} {}",
        bins.reader.display(),
        bins.harness.display(),
        out.display(),
        guest.display(),
        test.join(" ")
    );
    let mut vng = Command::new("vng");
    vng.arg("--run").arg(&tools.kernel);
    // Software emulation (a PVM-only /dev/kvm hangs a stock kernel), 9p for the root filesystem
    // (no virtiofsd in Debian 12), no network device: nothing leaves the VM.
    vng.args(["--force-9p", "--disable-kvm", "--cpus", "2", "--memory", "2G"]);
    vng.arg("--rwdir").arg(out).arg("--exec").arg(&exec);
    vng.current_dir(root()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    eprintln!("xtask: booting the real-stack VM ({})", tools.kernel.display());
    let mut child = vng.spawn().map_err(|e| format!("could not start vng: {e}"))?;
    // virtme reopens its output per virtio port: read it through a pipe, line by line.
    let echo = |stream: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let Some(stream) = stream else { return };
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                println!("vm| {line}");
            }
        })
    };
    let stdout = echo(child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let stderr = echo(child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let started = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().map_err(|e| e.to_string())? {
            break;
        }
        if started.elapsed() > VM_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the real-stack VM ran past {VM_LIMIT:?}; logs in {}", out.display()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = stdout.join();
    let _ = stderr.join();
    let recorded = fs::read_to_string(&exit_file).ok().and_then(|text| text.trim().parse().ok());
    Ok(recorded.unwrap_or(*SETUP_FAILURES.end()))
}

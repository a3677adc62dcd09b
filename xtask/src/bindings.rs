//! The Swift and Kotlin bindings: generating them from the built FFI library, testing the Kotlin
//! on the JVM, checking the Swift, and the platform packaging steps.
//!
//! - `bindings`: builds `mobile-access-ffi` (host, debug: the symbols uniffi reads must be in the
//!   library) and generates Kotlin into the Android module and Swift into the Swift package.
//! - `test` (after the cargo tests): builds the FFI library with the simulator and the cloud,
//!   generates Kotlin and runs the JVM tests with Maven, and checks the Swift bindings generate
//!   and contain the public API.
//! - `android` lives in `android.rs`.
//! - `apple` lives in `apple.rs`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{cargo, root, run, target_dir};

const FFI_CRATE: &str = "mobile-access-ffi";
pub(crate) const LIBRARY: &str = "mobile_access_ffi";

/// What the Swift bindings must offer an app; `cargo xtask test` fails if one is missing.
const SWIFT_API: [&str; 35] = [
    "open class KeyButton",
    "public static func create(config: KeyButtonConfig, storage: SecureStorage, signer: DeviceSigner?, radio: BluetoothCentral? = nil, transport: HttpTransport? = nil, ownerKey: OwnerKey? = nil)",
    "public protocol OwnerKey",
    "case verifyingOwner",
    "public protocol BluetoothCentral",
    "public protocol BluetoothLink",
    "public protocol HttpTransport",
    "public func isInitialized() -> Bool",
    "open func tap()async throws  -> TapReport",
    "open func cancel()",
    "open func setScreen(screen: Screen)",
    "open func isVisible() -> Bool",
    "open func state() -> KeyButtonState",
    "open func addListener(listener: StateListener) -> ListenerHandle",
    "open func remove()",
    "open func doors() -> [KeyDoor]",
    "open func requirements() -> [Requirement]",
    "open func checkRequirements()async  -> [Requirement]",
    "open func addRequirementsListener(listener: RequirementsListener) -> ListenerHandle",
    "open func tapDoor(doorId: String)async throws  -> TapReport",
    "open func addAccount(id: String, config: KeyButtonConfig)throws",
    "open func accounts() -> [AccountSummary]",
    "open func removeAccount(id: String)throws  -> Bool",
    "public func setMessages(messages: [MessageKey: String])",
    "public func sentence() -> String",
    "public func nextStep() -> NextStep",
    "public protocol StateListener",
    "public protocol SecureStorage",
    "public protocol DeviceSigner",
    "public protocol LogSink",
    "public enum MobileAccessError",
    "public func setLogSink(sink: LogSink, level: LogLevel) throws",
    "open class WalletPasses",
    "open func eligibility(device: WalletDevice)async throws  -> WalletEligibility",
    "open func add(pass: NewWalletPass)async throws  -> WalletPassAdded",
];

/// The Kotlin the JVM tests rely on being generated as such (a `suspend` tap, typed exceptions).
const KOTLIN_API: [&str; 8] = [
    "suspend fun `tap`(): TapReport",
    "interface BluetoothCentral",
    "interface HttpTransport",
    "class NotInitialized(",
    "sealed class MobileAccessException",
    "class NotConfirmed(",
    "interface StateListener",
    "fun `sentence`(): kotlin.String",
];

fn host_library(profile_dir: &str) -> Result<PathBuf, String> {
    let file = if cfg!(target_os = "macos") {
        format!("lib{LIBRARY}.dylib")
    } else if cfg!(windows) {
        format!("{LIBRARY}.dll")
    } else {
        format!("lib{LIBRARY}.so")
    };
    Ok(target_dir()?.join(profile_dir).join(file))
}

/// Runs the workspace's own `uniffi-bindgen` on `library`.
pub(crate) fn generate(library: &Path, language: &str, out_dir: &Path) -> Result<(), String> {
    let _ = fs::remove_dir_all(out_dir);
    let mut bindgen = cargo();
    bindgen.args(["run", "--quiet", "--locked", "-p", "uniffi-bindgen", "--", "generate"]);
    bindgen.arg(library).args(["--language", language, "--no-format", "--config"]);
    bindgen.arg(root().join("uniffi.toml")).arg("--out-dir").arg(out_dir);
    run(bindgen)?;
    if language == "kotlin" {
        kotlin_message_is_the_sentence(&out_dir.join("io/mobileaccess/mobile_access.kt"))
    } else {
        Ok(())
    }
}

/// uniffi 0.32's Kotlin template builds each error variant's `message` from its fields
/// (`"detail=…"`), which is what `Log`, crash reporters and `Toast(e.message)` show. The SDK's
/// errors carry the member's sentence in `sentence()` (and the detail for logs in `detail`), so
/// every variant's `message` of `MobileAccessException` becomes `sentence()`. Fails loudly if
/// the generated shape changes, rather than shipping the field dump.
fn kotlin_message_is_the_sentence(file: &Path) -> Result<(), String> {
    let text = fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let start = text.find("sealed class MobileAccessException").ok_or("no MobileAccessException in the Kotlin")?;
    let end =
        start + text.get(start..).and_then(|rest| rest.find("\n}\n")).ok_or("unterminated MobileAccessException")?;
    let (before, class, after) = (&text[..start], &text[start..end], &text[end..]);
    let variants = class.lines().filter(|line| line.trim_start().starts_with("class ")).count();
    let mut patched = Vec::new();
    let mut replaced = 0;
    let mut lines = class.lines().peekable();
    while let Some(line) = lines.next() {
        patched.push(line.to_owned());
        if line.trim() == "override val message"
            && let Some(getter) = lines.next_if(|next| next.trim_start().starts_with("get() = \""))
        {
            let indent = &getter[..getter.len() - getter.trim_start().len()];
            patched.push(format!("{indent}get() = sentence()"));
            replaced += 1;
        }
    }
    if variants == 0 || replaced != variants {
        return Err(format!("MobileAccessException: {variants} variants but {replaced} messages made the sentence"));
    }
    fs::write(file, format!("{before}{}{after}", patched.join("\n")))
        .map_err(|e| format!("writing {}: {e}", file.display()))
}

fn build_ffi(features: &[&str]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--locked", "-p", FFI_CRATE]);
    if !features.is_empty() {
        build.args(["--features", &features.join(",")]);
    }
    run(build)
}

/// The hand-written Swift that conforms to generated protocols: (file in the Swift package,
/// protocol). Not compiled here (no Swift toolchain), so each requirement of the generated
/// protocol must appear in the file as `public func` with exactly the generated signature.
const SWIFT_CONFORMANCES: [(&str, &str); 5] = [
    ("CoreBluetoothRadio.swift", "BluetoothCentral"),
    ("CoreBluetoothRadio.swift", "BluetoothLink"),
    ("URLSessionTransport.swift", "HttpTransport"),
    ("KeyButton+States.swift", "StateListener"),
    ("KeyButton+States.swift", "RequirementsListener"),
];

/// The `func` requirements of `public protocol <name>` in the generated Swift.
fn protocol_requirements(generated: &str, name: &str) -> Result<Vec<String>, String> {
    let start = generated
        .find(&format!("public protocol {name}:"))
        .ok_or_else(|| format!("the generated Swift has no protocol {name}"))?;
    let body = generated.get(start..).unwrap_or_default();
    let end = body.find("\n}").unwrap_or(body.len());
    Ok(body
        .get(..end)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("func "))
        .map(|line| format!("public {line}"))
        .collect())
}

/// Checks the hand-written Swift implements every generated requirement it conforms to.
fn check_swift_conformances(generated: &Path) -> Result<(), String> {
    let text = fs::read_to_string(generated).map_err(|e| format!("reading {}: {e}", generated.display()))?;
    let sources = root().join("bindings/swift/Sources/MobileAccess");
    for (file, protocol) in SWIFT_CONFORMANCES {
        let wanted = protocol_requirements(&text, protocol)?;
        if wanted.is_empty() {
            return Err(format!("no requirements found for protocol {protocol}"));
        }
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        contains_all(&sources.join(file), &wanted)?;
    }
    Ok(())
}

/// Checks `file` declares each of `wanted`, ignoring whitespace (unformatted generated code
/// breaks lines and spaces arbitrarily).
fn contains_all(file: &Path, wanted: &[&str]) -> Result<(), String> {
    let squash = |text: &str| text.split_whitespace().collect::<String>();
    let text = squash(&fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?);
    let missing: Vec<&str> = wanted.iter().copied().filter(|item| !text.contains(&squash(item))).collect();
    if missing.is_empty() { Ok(()) } else { Err(format!("{} lacks {missing:?}", file.display())) }
}

/// `cargo xtask bindings`.
pub fn command(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err("usage: cargo xtask bindings".to_owned());
    }
    build_ffi(&[])?;
    let library = host_library("debug")?;
    generate(&library, "kotlin", &root().join("bindings/kotlin/android/src/main/kotlin"))?;
    let swift = target_dir()?.join("bindings/swift");
    generate(&library, "swift", &swift)?;
    install_swift_sources(&swift)
}

/// Puts the generated Swift where the package expects it: the wrapper in `Sources/MobileAccess`,
/// the C header and module map (what the XCFramework carries) in `target/bindings/swift`.
fn install_swift_sources(generated: &Path) -> Result<(), String> {
    let sources = root().join("bindings/swift/Sources/MobileAccess");
    fs::create_dir_all(&sources).map_err(|e| format!("creating {}: {e}", sources.display()))?;
    let from = generated.join("MobileAccess.swift");
    fs::copy(&from, sources.join("MobileAccess.swift")).map_err(|e| format!("copying {}: {e}", from.display()))?;
    Ok(())
}

/// btleplug's Android bridge (droidplug): the Java classes its Rust side calls through JNI, which
/// btleplug publishes as sources inside its crate. Copied (never committed) to `dest`, so the
/// Android module ships exactly the version Cargo.lock pins, built from source.
pub(crate) fn droidplug_sources(dest: &Path) -> Result<(), String> {
    let mut metadata = cargo();
    metadata.args(["metadata", "--format-version", "1", "--locked"]);
    let output = metadata.output().map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let manifest = json
        .get("packages")
        .and_then(serde_json::Value::as_array)
        .and_then(|packages| {
            packages.iter().find(|p| p.get("name").and_then(serde_json::Value::as_str) == Some("btleplug"))
        })
        .and_then(|p| p.get("manifest_path"))
        .and_then(serde_json::Value::as_str)
        .ok_or("btleplug is not in the dependency graph")?;
    let java = Path::new(manifest).with_file_name("src/droidplug/java/src/main/java");
    let _ = fs::remove_dir_all(dest);
    copy_tree(&java, dest).map_err(|e| format!("copying droidplug from {}: {e}", java.display()))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The bindings part of `cargo xtask test`.
pub fn test() -> Result<(), String> {
    let mut cloud = cargo();
    cloud.args(["build", "--locked", "-p", "mobile-access-cloud", "--bin", "mobile-access-cloud"]);
    run(cloud)?;
    build_ffi(&["sim"])?;
    let library = host_library("debug")?;

    let kotlin = root().join("bindings/kotlin/target/generated-sources/uniffi");
    generate(&library, "kotlin", &kotlin)?;
    contains_all(&kotlin.join("io/mobileaccess/mobile_access.kt"), &KOTLIN_API)?;
    let swift = target_dir()?.join("bindings/swift-check");
    generate(&library, "swift", &swift)?;
    contains_all(&swift.join("MobileAccess.swift"), &SWIFT_API)?;
    contains_all(&swift.join("MobileAccessFFI.h"), &["uniffi_mobile_access_ffi_fn_method_keybutton_tap"])?;
    check_swift_conformances(&swift.join("MobileAccess.swift"))?;

    // The AAR an app would depend on, installed into a local Maven repository; `AarTest` opens it,
    // and the Android sample compiles against it as an app would.
    let repo = target_dir()?.join("maven");
    let aar = crate::android::package_host(&repo)?;
    crate::android::compile_sample(&repo)?;
    crate::samples::check_readmes(&swift.join("MobileAccess.swift"))?;

    // Compiled by Maven against android-all (API 34), as the Android module ships them.
    droidplug_sources(&root().join("bindings/kotlin/target/droidplug-java"))?;

    let mvn = crate::which("mvn")
        .ok_or("Maven (mvn) is not installed: the Kotlin tests need it and a JDK 17 (.ci/run installs both)")?;
    let mut maven = Command::new(mvn);
    maven.current_dir(root().join("bindings/kotlin"));
    maven.args(["-B", "--no-transfer-progress", "test"]);
    let debug = target_dir()?.join("debug");
    maven.arg(format!("-Dmobileaccess.lib.dir={}", debug.display()));
    maven.arg(format!("-Dmobileaccess.cloud.binary={}", debug.join("mobile-access-cloud").display()));
    maven.arg(format!("-Dmobileaccess.aar={}", aar.aar.display()));
    maven.arg(format!("-Dmobileaccess.aar.pom={}", aar.pom.display()));
    run(maven)
}

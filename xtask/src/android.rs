//! `cargo xtask android`: the Android library an app depends on, as an AAR with its POM,
//! installed into a local Maven repository.
//!
//! The AAR holds `classes.jar` (the generated Kotlin, the hand-written start-up, radio, transport
//! and flow code, btleplug's droidplug Java), `AndroidManifest.xml` (the Bluetooth permissions and
//! `minSdkVersion`), `proguard.txt` (the consumer rules), an empty `R.txt` and
//! `jni/<abi>/libmobile_access_ffi.so` for each ABI built. Phone ABIs need the Android NDK and
//! cargo-ndk; without them the command stops before building anything and says so. `--abi host`
//! packages this machine's own build instead (what the tests open and what JVM tests of an app
//! can load), under the ABI directory of the host's architecture.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{bindings, cargo, root, run, target_dir, which};

/// Maven coordinates of the library.
pub const GROUP: &str = "io.mobileaccess";
pub const ARTIFACT: &str = "mobile-access";
/// The lowest Android the public API works on: uniffi maps timestamps and durations to
/// `java.time` (API 26), and desugaring would make every app enable it for us.
pub const MIN_SDK: u32 = 26;
/// What an app gets with the AAR (group, artifact, version, type, scope), as the Gradle module
/// declares them: the public API uses Kotlin's and coroutines' types (compile); JNA's Android
/// flavour carries `libjnidispatch` for each ABI (runtime).
const DEPENDENCIES: [(&str, &str, &str, Option<&str>, &str); 3] = [
    ("org.jetbrains.kotlin", "kotlin-stdlib", "2.1.21", None, "compile"),
    ("org.jetbrains.kotlinx", "kotlinx-coroutines-android", "1.10.2", None, "compile"),
    ("net.java.dev.jna", "jna", "5.17.0", Some("aar"), "runtime"),
];
/// The phone ABIs and their Rust targets.
const PHONE_ABIS: [(&str, &str); 3] = [
    ("arm64-v8a", "aarch64-linux-android"),
    ("armeabi-v7a", "armv7-linux-androideabi"),
    ("x86_64", "x86_64-linux-android"),
];
/// What the library is built with for phones: btleplug (droidplug) and the app's HTTP stack.
const FEATURES: [&str; 2] = ["--no-default-features", "--features=btleplug"];

/// An AAR and its POM, installed.
pub struct Installed {
    pub aar: PathBuf,
    pub pom: PathBuf,
}

/// `cargo xtask android [--abi host | --abi <abi>...] [--repo DIR]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let mut abis = Vec::new();
    let mut repo = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--abi", Some(abi)) => abis.push(abi.clone()),
            ("--repo", Some(dir)) => repo = Some(PathBuf::from(dir)),
            _ => return Err("usage: cargo xtask android [--abi host | --abi <abi>...] [--repo DIR]".to_owned()),
        }
    }
    let repo = match repo {
        Some(repo) => repo,
        None => target_dir()?.join("maven"),
    };
    let installed = if abis == ["host"] {
        package_host(&repo)?
    } else {
        let phone: Vec<&str> = if abis.is_empty() {
            PHONE_ABIS.iter().map(|(abi, _)| *abi).collect()
        } else {
            abis.iter().map(String::as_str).collect()
        };
        package_phone(&phone, &repo)?
    };
    println!("android: {} and {} installed in {}", installed.aar.display(), installed.pom.display(), repo.display());
    println!("android: an app depends on {GROUP}:{ARTIFACT}:{} (with mavenLocal() or this repository)", version()?);
    Ok(())
}

/// The AAR with this machine's own build of the library, installed into `repo`.
pub fn package_host(repo: &Path) -> Result<Installed, String> {
    let abi = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "arm64-v8a",
        other => return Err(format!("no Android ABI matches this machine's architecture ({other})")),
    };
    let library = build_host()?;
    let staging = staging()?;
    copy(&library, &staging.join("jni").join(abi).join(library_name()))?;
    finish(&library, &staging, repo)
}

/// Compiles the Android sample (`bindings/kotlin/sample`: an Activity and a ViewModel) against
/// Android 14, androidx and the SDK's AAR as installed in `repo`, warnings as errors.
pub fn compile_sample(repo: &Path) -> Result<(), String> {
    let build = target_dir()?.join("android/sample");
    let properties = [
        format!("-Dmobileaccess.repo={}", repo.display()),
        format!("-Dmobileaccess.version={}", version()?),
        format!("-Dmobileaccess.build.dir={}", build.display()),
    ];
    // Two runs: Maven checks the unpacked jars' paths before any plugin of a run could unpack them.
    for goals in [&["-P", "fetch", "initialize"][..], &["compile"][..]] {
        let mut maven = maven()?;
        maven.current_dir(root().join("bindings/kotlin/sample"));
        maven.args(["-B", "--no-transfer-progress", "-q"]).args(goals).args(&properties);
        run(maven)?;
    }
    Ok(())
}

/// The AAR with the phone ABIs, built with cargo-ndk; refuses before building anything when the
/// NDK or cargo-ndk is missing.
fn package_phone(abis: &[&str], repo: &Path) -> Result<Installed, String> {
    for abi in abis {
        if !PHONE_ABIS.iter().any(|(known, _)| known == abi) {
            return Err(format!("unknown ABI {abi}: one of arm64-v8a, armeabi-v7a, x86_64, or `host`"));
        }
    }
    let ndk = ["ANDROID_NDK_HOME", "ANDROID_NDK_ROOT"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .find(|dir| dir.is_dir());
    let cargo_ndk = cargo().args(["ndk", "--version"]).output().is_ok_and(|out| out.status.success());
    if ndk.is_none() || !cargo_ndk {
        return Err(format!(
            "the phone ABIs ({}) need the Android NDK (ANDROID_NDK_HOME{}) and cargo-ndk (`cargo install cargo-ndk`{}), \
             and `rustup target add` for each ABI's target; nothing was built. `cargo xtask android --abi host` \
             packages this machine's own ABI only",
            abis.join(", "),
            if ndk.is_none() { ": not set" } else { "" },
            if cargo_ndk { "" } else { ": not installed" },
        ));
    }
    let library = build_host()?;
    let staging = staging()?;
    let mut build = cargo();
    build.arg("ndk");
    for abi in abis {
        build.args(["-t", abi]);
    }
    build.arg("-o").arg(staging.join("jni"));
    build.args(["build", "--locked", "--profile", "release-ffi", "-p", "mobile-access-ffi"]).args(FEATURES);
    run(build)?;
    finish(&library, &staging, repo)
}

/// The host build the Kotlin is generated from (the interface is the same on every target).
fn build_host() -> Result<PathBuf, String> {
    let mut build = cargo();
    build.args(["build", "--locked", "--profile", "release-ffi", "-p", "mobile-access-ffi"]).args(FEATURES);
    run(build)?;
    Ok(target_dir()?.join("release-ffi").join(library_name()))
}

fn library_name() -> String {
    format!("lib{}.so", bindings::LIBRARY)
}

fn staging() -> Result<PathBuf, String> {
    let staging = target_dir()?.join("android/aar");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(|e| format!("creating {}: {e}", staging.display()))?;
    Ok(staging)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    fs::copy(from, to).map(drop).map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

/// Compiles the classes, fills the rest of the AAR next to `jni/`, zips it and installs it.
fn finish(library: &Path, staging: &Path, repo: &Path) -> Result<Installed, String> {
    let module = root().join("bindings/kotlin/android");
    let work = target_dir()?.join("android");
    let generated = work.join("generated-kotlin");
    bindings::generate(library, "kotlin", &generated)?;
    let droidplug = work.join("droidplug-java");
    bindings::droidplug_sources(&droidplug)?;
    let classes = work.join("classes");
    let mut compile = maven()?;
    compile.current_dir(&module).args(["-B", "--no-transfer-progress", "-q", "package"]);
    compile.arg(format!("-Dmobileaccess.generated.dir={}", generated.display()));
    compile.arg(format!("-Dmobileaccess.droidplug.dir={}", droidplug.display()));
    compile.arg(format!("-Dmobileaccess.build.dir={}", classes.display()));
    run(compile)?;
    let version = version()?;
    copy(&classes.join(format!("mobile-access-classes-{version}.jar")), &staging.join("classes.jar"))?;
    let manifest = fs::read_to_string(module.join("src/main/AndroidManifest.xml")).map_err(|e| e.to_string())?;
    fs::write(staging.join("AndroidManifest.xml"), packaged_manifest(&manifest)?).map_err(|e| e.to_string())?;
    copy(&module.join("consumer-rules.pro"), &staging.join("proguard.txt"))?;
    fs::write(staging.join("R.txt"), "").map_err(|e| e.to_string())?;

    let aar = work.join(format!("{ARTIFACT}-{version}.aar"));
    let _ = fs::remove_file(&aar);
    let jar = which("jar").ok_or("the JDK's `jar` is not on PATH (a JDK 17 is needed)")?;
    let mut zip = Command::new(jar);
    zip.arg("--create").arg("--no-manifest").arg("--file").arg(&aar).arg("-C").arg(staging).arg(".");
    run(zip)?;
    let pom = work.join(format!("{ARTIFACT}-{version}.pom"));
    fs::write(&pom, published_pom(&version)).map_err(|e| e.to_string())?;

    fs::create_dir_all(repo).map_err(|e| format!("creating {}: {e}", repo.display()))?;
    let mut install = maven()?;
    install.args(["-B", "--no-transfer-progress", "-q", "install:install-file", "-Dpackaging=aar"]);
    install.arg(format!("-Dfile={}", aar.display()));
    install.arg(format!("-DpomFile={}", pom.display()));
    install.arg(format!("-DlocalRepositoryPath={}", repo.display()));
    run(install)?;
    let installed = repo.join(GROUP.replace('.', "/")).join(ARTIFACT).join(&version);
    Ok(Installed {
        aar: installed.join(format!("{ARTIFACT}-{version}.aar")),
        pom: installed.join(format!("{ARTIFACT}-{version}.pom")),
    })
}

fn maven() -> Result<Command, String> {
    let mvn = which("mvn").ok_or("Maven (mvn) is not installed: the Android library's classes are built with it")?;
    Ok(Command::new(mvn))
}

/// The workspace's version, which the library is published under.
fn version() -> Result<String, String> {
    let manifest = fs::read_to_string(root().join("Cargo.toml")).map_err(|e| e.to_string())?;
    manifest
        .lines()
        .skip_while(|line| line.trim() != "[workspace.package]")
        .find_map(|line| line.trim().strip_prefix("version = \"")?.strip_suffix('"').map(str::to_owned))
        .ok_or_else(|| "no version in [workspace.package]".to_owned())
}

/// The module's manifest as an AAR carries it: with its package and `minSdkVersion` (Gradle
/// would add both from `namespace` and `minSdk`).
fn packaged_manifest(manifest: &str) -> Result<String, String> {
    let open = "<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\">";
    if !manifest.contains(open) {
        return Err(format!("the Android manifest no longer opens with {open}"));
    }
    Ok(manifest.replacen(
        open,
        &format!(
            "<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" package=\"{GROUP}\">\n    \
             <uses-sdk android:minSdkVersion=\"{MIN_SDK}\" />"
        ),
        1,
    ))
}

/// The POM an app's build reads: packaging `aar` and what the library needs at run time.
fn published_pom(version: &str) -> String {
    let dependencies: String = DEPENDENCIES
        .iter()
        .map(|(group, artifact, version, kind, scope)| {
            let kind = kind.map(|kind| format!("\n            <type>{kind}</type>")).unwrap_or_default();
            format!(
                "        <dependency>\n            <groupId>{group}</groupId>\n            <artifactId>{artifact}</artifactId>\n            \
                 <version>{version}</version>{kind}\n            <scope>{scope}</scope>\n        </dependency>\n"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <project xmlns=\"http://maven.apache.org/POM/4.0.0\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd\">\n    \
         <modelVersion>4.0.0</modelVersion>\n    <groupId>{GROUP}</groupId>\n    <artifactId>{ARTIFACT}</artifactId>\n    \
         <version>{version}</version>\n    <packaging>aar</packaging>\n    <name>mobile-access</name>\n    \
         <description>The mobile-access SDK for Android: the Key Button over Bluetooth LE.</description>\n    \
         <licenses>\n        <license>\n            <name>Apache-2.0</name>\n        </license>\n    </licenses>\n    \
         <dependencies>\n{dependencies}    </dependencies>\n</project>\n"
    )
}

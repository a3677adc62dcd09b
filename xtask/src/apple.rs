//! `cargo xtask apple [--url URL]`: the Swift package an iOS app adds.
//!
//! Builds the static library for each iOS slice, merges the simulator slices with `lipo`, wraps
//! them with the generated C header and module map in `MobileAccessFFI.xcframework`, zips it and
//! writes the zip's SwiftPM checksum. `bindings/swift/Package.swift` (local: the XCFramework by
//! path) and, with `--url`, a release manifest (the zip by URL and checksum) are both written by
//! [`manifest`], whose platforms come from the slices built, so the package never declares a
//! platform the XCFramework has no slice for. Needs macOS with Xcode.

use std::{fs, process::Command};

use crate::{bindings, cargo, root, run, target_dir};

/// The slices: iOS devices, and the simulator on both Mac architectures.
pub const TARGETS: [&str; 3] = ["aarch64-apple-ios", "aarch64-apple-ios-sim", "x86_64-apple-ios"];
/// The lowest iOS the library is built for (`IPHONEOS_DEPLOYMENT_TARGET`) and the package declares.
const IOS: &str = "15";
const MACOS: &str = "12";

/// Where the package finds the XCFramework.
pub enum Binary<'a> {
    /// Next to the manifest (a checkout, or a package built on this Mac).
    Path,
    /// A released zip, with the checksum `swift package compute-checksum` gives for it.
    Url { url: &'a str, checksum: &'a str },
}

/// The SwiftPM platforms the slices of `targets` cover.
pub fn platforms(targets: &[&str]) -> Vec<String> {
    let mut platforms = Vec::new();
    if targets.iter().any(|t| t.contains("-apple-ios")) {
        platforms.push(format!(".iOS(.v{IOS})"));
    }
    if targets.iter().any(|t| t.ends_with("-apple-darwin")) {
        platforms.push(format!(".macOS(.v{MACOS})"));
    }
    platforms
}

/// `Package.swift` for the slices of `targets`.
pub fn manifest(targets: &[&str], binary: &Binary<'_>) -> String {
    let binary = match binary {
        Binary::Path => ".binaryTarget(name: \"MobileAccessFFI\", path: \"MobileAccessFFI.xcframework\")".to_owned(),
        Binary::Url { url, checksum } => format!(
            ".binaryTarget(\n            name: \"MobileAccessFFI\",\n            url: \"{url}\",\n            checksum: \"{checksum}\"\n        )"
        ),
    };
    format!(
        "// swift-tools-version:5.9\n\
         // The Swift package an iOS app adds. Written by `cargo xtask apple` (macOS with Xcode), which\n\
         // builds MobileAccessFFI.xcframework (the Rust static library for each slice, with its C header\n\
         // and module map) and puts the generated Swift in Sources/MobileAccess. The platforms are the\n\
         // XCFramework's slices: {}.\n\
         import PackageDescription\n\
         \n\
         let package = Package(\n    \
             name: \"MobileAccess\",\n    \
             platforms: [{}],\n    \
             products: [\n        \
                 .library(name: \"MobileAccess\", targets: [\"MobileAccess\"]),\n    \
             ],\n    \
             targets: [\n        \
                 {binary},\n        \
                 .target(\n            \
                     name: \"MobileAccess\",\n            \
                     dependencies: [\"MobileAccessFFI\"],\n            \
                     path: \"Sources/MobileAccess\",\n            \
                     exclude: [\"README.md\"],\n            \
                     linkerSettings: [.linkedFramework(\"CoreBluetooth\")]\n        \
                 ),\n    \
             ]\n\
         )\n",
        targets.join(", "),
        platforms(targets).join(", "),
    )
}

/// `cargo xtask apple [--url URL]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let url = match args {
        [] => None,
        [flag, url] if flag == "--url" => Some(url.as_str()),
        _ => return Err("usage: cargo xtask apple [--url URL-of-the-released-zip]".to_owned()),
    };
    if !cfg!(target_os = "macos") {
        return Err("cargo xtask apple needs macOS with Xcode (xcodebuild, lipo, swift)".to_owned());
    }
    for target in TARGETS {
        let mut build = cargo();
        build.args(["build", "--locked", "--profile", "release-ffi", "-p", "mobile-access-ffi", "--target", target]);
        build.env("IPHONEOS_DEPLOYMENT_TARGET", format!("{IOS}.0"));
        run(build)?;
    }
    bindings::command(&[])?;
    let target = target_dir()?;
    let out = target.join("bindings");
    let headers = out.join("xcframework-headers");
    let _ = fs::remove_dir_all(&headers);
    fs::create_dir_all(&headers).map_err(|e| e.to_string())?;
    let swift = out.join("swift");
    fs::copy(swift.join("MobileAccessFFI.h"), headers.join("MobileAccessFFI.h")).map_err(|e| e.to_string())?;
    fs::copy(swift.join("MobileAccessFFI.modulemap"), headers.join("module.modulemap")).map_err(|e| e.to_string())?;

    let library = bindings::LIBRARY;
    let archive = |triple: &str| target.join(format!("{triple}/release-ffi/lib{library}.a"));
    let simulator = out.join("ios-simulator");
    fs::create_dir_all(&simulator).map_err(|e| e.to_string())?;
    let mut lipo = Command::new("lipo");
    lipo.arg("-create").arg(archive("aarch64-apple-ios-sim")).arg(archive("x86_64-apple-ios"));
    lipo.arg("-output").arg(simulator.join(format!("lib{library}.a")));
    run(lipo)?;

    let package = root().join("bindings/swift");
    let framework = package.join("MobileAccessFFI.xcframework");
    let _ = fs::remove_dir_all(&framework);
    let mut xcodebuild = Command::new("xcodebuild");
    xcodebuild.arg("-create-xcframework");
    for library in [archive("aarch64-apple-ios"), simulator.join(format!("lib{library}.a"))] {
        xcodebuild.arg("-library").arg(library).arg("-headers").arg(&headers);
    }
    xcodebuild.arg("-output").arg(&framework);
    run(xcodebuild)?;
    fs::write(package.join("Package.swift"), manifest(&TARGETS, &Binary::Path)).map_err(|e| e.to_string())?;

    // The release form: the zipped XCFramework and its checksum.
    let zip = out.join("MobileAccessFFI.xcframework.zip");
    let _ = fs::remove_file(&zip);
    let mut ditto = Command::new("ditto");
    ditto.args(["-c", "-k", "--keepParent"]).arg(&framework).arg(&zip);
    run(ditto)?;
    let checksum = Command::new("swift")
        .args(["package", "compute-checksum"])
        .arg(&zip)
        .current_dir(&package)
        .output()
        .map_err(|e| format!("swift package compute-checksum: {e}"))?;
    if !checksum.status.success() {
        return Err(format!("swift package compute-checksum failed: {}", String::from_utf8_lossy(&checksum.stderr)));
    }
    let checksum = String::from_utf8_lossy(&checksum.stdout).trim().to_owned();
    fs::write(out.join("MobileAccessFFI.xcframework.zip.checksum"), format!("{checksum}\n"))
        .map_err(|e| e.to_string())?;
    println!("apple: {} (checksum {checksum})", zip.display());
    if let Some(url) = url {
        // A complete package to tag and publish: the manifest by URL, and every Swift source
        // (the generated bindings included, which a checkout does not carry).
        let release = out.join("swift-release");
        let _ = fs::remove_dir_all(&release);
        let sources = release.join("Sources/MobileAccess");
        fs::create_dir_all(&sources).map_err(|e| e.to_string())?;
        for entry in fs::read_dir(package.join("Sources/MobileAccess")).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            fs::copy(entry.path(), sources.join(entry.file_name())).map_err(|e| e.to_string())?;
        }
        fs::write(release.join("Package.swift"), manifest(&TARGETS, &Binary::Url { url, checksum: &checksum }))
            .map_err(|e| e.to_string())?;
        println!("apple: release manifest {}", release.join("Package.swift").display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_package_declares_exactly_the_platforms_of_its_slices() {
        assert_eq!(platforms(&TARGETS), [".iOS(.v15)"], "iOS device and simulator slices: iOS only");
        assert_eq!(platforms(&["aarch64-apple-ios", "aarch64-apple-darwin"]), [".iOS(.v15)", ".macOS(.v12)"]);
        let release = manifest(&TARGETS, &Binary::Url { url: "https://example.com/f.zip", checksum: "ab12" });
        assert!(release.contains("checksum: \"ab12\"") && release.contains("url: \"https://example.com/f.zip\""));
        assert!(!release.contains("macOS("), "no macOS slice, no macOS platform");
    }

    #[test]
    fn the_committed_manifest_is_the_one_apple_writes() {
        let committed = fs::read_to_string(root().join("bindings/swift/Package.swift")).unwrap();
        assert_eq!(committed, manifest(&TARGETS, &Binary::Path), "run `cargo xtask apple`, or update apple.rs");
    }
}

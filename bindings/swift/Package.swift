// swift-tools-version:5.9
// The Swift package an iOS app adds. Written by `cargo xtask apple` (macOS with Xcode), which
// builds MobileAccessFFI.xcframework (the Rust static library for each slice, with its C header
// and module map) and puts the generated Swift in Sources/MobileAccess. The platforms are the
// XCFramework's slices: aarch64-apple-ios, aarch64-apple-ios-sim, x86_64-apple-ios.
import PackageDescription

let package = Package(
    name: "MobileAccess",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "MobileAccess", targets: ["MobileAccess"]),
    ],
    targets: [
        .binaryTarget(name: "MobileAccessFFI", path: "MobileAccessFFI.xcframework"),
        .target(
            name: "MobileAccess",
            dependencies: ["MobileAccessFFI"],
            path: "Sources/MobileAccess",
            exclude: ["README.md"],
            linkerSettings: [.linkedFramework("CoreBluetooth")]
        ),
    ]
)

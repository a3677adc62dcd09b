// swift-tools-version:5.9
// The Swift package an iOS app adds. `cargo xtask apple` (macOS with Xcode) builds
// MobileAccessFFI.xcframework (the Rust static library for device and simulator, with its C
// header and module map) and puts the generated Swift in Sources/MobileAccess.
import PackageDescription

let package = Package(
    name: "MobileAccess",
    platforms: [.iOS(.v15), .macOS(.v12)],
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

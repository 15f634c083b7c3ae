// swift-tools-version:6.0
//
// Shaddock's benchmark: the load generator, the reference servers it is
// compared with, and `bench/run`, which measures them side by side.
// A package of its own, so that the gateway's users never build any of it.
import PackageDescription

let package = Package(
    name: "ShaddockBench",
    dependencies: [
        .package(name: "Shaddock", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // wrk-style load over the gateway's own C event-loop shim (client side).
        .executableTarget(
            name: "shaddock-load",
            dependencies: [
                .product(name: "ShaddockLoop", package: "Shaddock"),
                .product(name: "ShaddockProtocol", package: "Shaddock"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ShaddockLoad"),
    ]
)

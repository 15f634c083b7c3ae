// swift-tools-version:6.0
//
// Shaddock's benchmark: a package of its own, so that the gateway never
// depends on what only the benchmark needs (SwiftNIO for a reference server).
//   shaddock-load  the load generator, on the gateway's own C shim (and the
//                  NATS floor, on the gateway's own NATS client)
//   nio-reference  the same service written the usual SwiftNIO way
//   hb-reference   the same on Hummingbird's WebSocket server (its
//                  permessage-deflate: the compression reference)
//   shaddock-profile  Shaddock embedded with a handler of its own (a
//                  300-byte profile answer)
//   uv-floor       the smallest C libuv WebSocket echo: the floor
// bench/run builds it and measures them side by side.
import PackageDescription

let package = Package(
    name: "ShaddockBench",
    dependencies: [
        // The gateway under measurement.
        .package(name: "Shaddock", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The reference with permessage-deflate: Hummingbird's WebSocket server.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
    ],
    targets: [
        // wrk-style load over the gateway's C event-loop shim (client side).
        .executableTarget(
            name: "shaddock-load",
            dependencies: [
                .product(name: "ShaddockLoop", package: "Shaddock"),
                .product(name: "ShaddockProtocol", package: "Shaddock"),
                // The NATS floor drives the gateway's own NATS client.
                .product(name: "Shaddock", package: "Shaddock"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ShaddockLoad"),
        // The Pomelo session both references serve (wire, JSON, replies).
        .target(
            name: "PomeloReference",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "nio-reference",
            dependencies: [
                "PomeloReference",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "hb-reference",
            dependencies: [
                "PomeloReference",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSCompression", package: "hummingbird-websocket"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Shaddock with a handler of the user's own (the profile route).
        .executableTarget(
            name: "shaddock-profile",
            dependencies: [
                .product(name: "Shaddock", package: "Shaddock"),
                .product(name: "ShaddockProtocol", package: "Shaddock"),
            ]),
        // Links the system's libuv and OpenSSL (Debian: libuv1-dev, libssl-dev),
        // the same libraries the gateway uses.
        .executableTarget(
            name: "uv-floor",
            linkerSettings: [.linkedLibrary("uv"), .linkedLibrary("crypto")]),
    ]
)

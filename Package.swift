// swift-tools-version:6.0
//
// Layers, bottom up (see docs/design.md):
//   CSupport/  C shim over libuv, OpenSSL, zlib: bytes and syscalls only
//   ShaddockProtocol  Pomelo, WebSocket and HTTP-upgrade codecs: pure, no I/O
//   Shaddock          the gateway: loops, connections, sessions, handlers
//   ShaddockExample   the example application served by `shaddock serve`
//   ShaddockCLI       the `shaddock` executable
import PackageDescription

let package = Package(
    name: "Shaddock",
    products: [
        .library(name: "Shaddock", targets: ["Shaddock"]),
        .library(name: "ShaddockProtocol", targets: ["ShaddockProtocol"]),
        // The C event-loop shim, for tools that drive it directly (bench/'s
        // load generator uses its client side).
        .library(name: "ShaddockLoop", targets: ["CShaddockLoop"]),
        .executable(name: "shaddock", targets: ["ShaddockCLI"]),
    ],
    dependencies: [
        // Logging that an embedding application routes into its own backend.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The CLI's options and --help.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries (Debian: libuv1-dev, libssl-dev, zlib1g-dev).
        .systemLibrary(
            name: "CLibUV", path: "CSupport/CLibUV", pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(
            name: "COpenSSL", path: "CSupport/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "CSupport/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // The C shim: event loops, sockets, write batching, deadlines, TLS.
        .target(
            name: "CShaddockLoop", dependencies: ["CLibUV", "COpenSSL"], path: "CSupport/CShaddockLoop",
            cSettings: [.define("_GNU_SOURCE")]),
        // Digests and base64 for the handshake paths (SHA-1, MD5).
        .target(name: "CShaddockDigest", dependencies: ["COpenSSL"], path: "CSupport/CShaddockDigest"),

        // zlib: Pomelo's gzip flag on client bodies (Compression/).
        .target(name: "ShaddockProtocol", dependencies: ["CShaddockDigest", "CZlib"]),
        .target(
            name: "Shaddock",
            dependencies: ["ShaddockProtocol", "CShaddockLoop", .product(name: "Logging", package: "swift-log")]),
        .target(name: "ShaddockExample", dependencies: ["Shaddock"]),
        .executableTarget(
            name: "ShaddockCLI",
            dependencies: ["Shaddock", "ShaddockExample", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Tests only: replaces malloc in the test executable to count one
        // thread's allocations (the allocation tests). No product uses it.
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),

        .testTarget(name: "ShaddockProtocolTests", dependencies: ["ShaddockProtocol"]),
        .testTarget(
            name: "ShaddockTests",
            dependencies: ["Shaddock", "ShaddockExample", "ShaddockCLI", "CMallocCounter"],
            // Scripts run by the tests with other clients, not Swift sources.
            exclude: ["Clients"]),
    ]
)

// swift-tools-version:6.0
//
// Shaddock's fuzz targets: a package of its own, so the gateway's targets
// never carry fuzzer flags; they come from the command line (fuzz/run):
//
//   swift build -c release --package-path fuzz --sanitize fuzzer --sanitize address \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -assert-config -Xswiftc Debug -Xswiftc -use-ld=lld
//
// (-assert-config Debug keeps the standard library's bounds checks on unsafe
// buffers in the optimized build: a read past a slice of a larger buffer
// traps, where AddressSanitizer sees only the ends of allocations.)
//
// One libFuzzer executable per parser of ShaddockProtocol:
//   fuzz-upgrade    the HTTP upgrade request head, fed in pieces
//   fuzz-frame      WebSocket frames, unmasking and the message rules
//   fuzz-package    Pomelo packages over a stream cut anywhere
//   fuzz-message    Pomelo messages, varints and the route dictionary
//   fuzz-handshake  the handshake JSON, the JSON parser, validator and writer
//   fuzz-nats       NATS server ops over a stream cut anywhere, the encoder
//   fuzz-tls        the TLS listener's sniffing and record path, over loopback
//   fuzz-proxy      the PROXY protocol header parser, fed in reads cut anywhere
//   fuzz-inflate    permessage-deflate and gzip-flag inflating, the deflate offers
//   fuzz-protobuf   pomelo-protobuf bodies decoded, encoded again, decoded
// Each also writes its seed corpus from the recorded vectors
// (`fuzz-NAME --write-seeds DIR Tests/Vectors/pomelo-wire.json`).
import PackageDescription

func fuzzTarget(_ product: String, _ module: String, _ more: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: product,
        dependencies: ["FuzzSupport", .product(name: "ShaddockProtocol", package: "Shaddock")] + more,
        path: "Sources/\(module)")
}

let package = Package(
    name: "ShaddockFuzz",
    dependencies: [
        // The parsers under test.
        .package(name: "Shaddock", path: ".."),
    ],
    targets: [
        // What the targets share: invariants, input cuts, vectors and seeds.
        .target(name: "FuzzSupport", dependencies: [.product(name: "ShaddockProtocol", package: "Shaddock")]),
        fuzzTarget("fuzz-upgrade", "FuzzUpgrade"),
        fuzzTarget("fuzz-frame", "FuzzFrame"),
        fuzzTarget("fuzz-package", "FuzzPackage"),
        fuzzTarget("fuzz-message", "FuzzMessage"),
        fuzzTarget("fuzz-handshake", "FuzzHandshake"),
        fuzzTarget("fuzz-nats", "FuzzNATS"),
        fuzzTarget("fuzz-tls", "FuzzTLS", [.product(name: "ShaddockLoop", package: "Shaddock")]),
        fuzzTarget("fuzz-proxy", "FuzzProxy", [.product(name: "ShaddockLoop", package: "Shaddock")]),
        fuzzTarget("fuzz-inflate", "FuzzInflate"),
        fuzzTarget("fuzz-protobuf", "FuzzProtobuf"),
    ]
)

import Foundation
@testable import ShaddockProtocol

/// One recorded exchange from `Tests/Vectors/pomelo-wire.json` (see its README).
struct WireVector: Decodable, Sendable {
    var name: String
    var direction: String
    var transport: String
    var hex: String
    var ws_frame_hex: String?
    var note: String
    var t_ms: Double?

    var bytes: [UInt8] { fromHex(hex) }
    var frameBytes: [UInt8]? { ws_frame_hex.map(fromHex) }
}

enum Vectors {
    /// Found from this file's place, so the tests run from any working directory.
    static let url: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // ShaddockProtocolTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the repository
        .appendingPathComponent("Tests/Vectors/pomelo-wire.json")

    static let all: [WireVector] = {
        do {
            return try JSONDecoder().decode([WireVector].self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot load \(url.path): \(error)")
        }
    }()

    static func named(_ name: String) -> WireVector {
        guard let v = all.first(where: { $0.name == name }) else { fatalError("no vector named \(name)") }
        return v
    }
}

func fromHex(_ s: String) -> [UInt8] {
    let digits = Array(s.utf8).filter { $0 != UInt8(ascii: " ") }
    precondition(digits.count % 2 == 0, "odd hex length")
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: preconditionFailure("not a hex digit: \(c)")
        }
    }
    return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

func toHex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// The chat demo's routes, handler routes deliberately not sorted so the
/// dictionary has to sort them itself.
enum ChatDemo {
    static let handlerRoutes = [
        "connector.entryHandler.entry", "connector.entryHandler.login", "connector.entryHandler.kickme",
        "connector.entryHandler.ping", "chat.chatHandler.send", "chat.chatHandler.notify",
    ]
    static let userRoutes = ["onChat", "onAdd", "onLeave"]
    static let dictVersion = "mIB6v2eCbQn0Hg+L7w0WrQ=="
    /// Codes as the recorded Pomelo server assigned them.
    static let codes: [(String, UInt16)] = [
        ("chat.chatHandler.notify", 1), ("chat.chatHandler.send", 2), ("connector.entryHandler.entry", 3),
        ("connector.entryHandler.kickme", 4), ("connector.entryHandler.login", 5), ("connector.entryHandler.ping", 6),
        ("onChat", 7), ("onAdd", 8), ("onLeave", 9),
    ]

    static func dictionary() throws -> RouteDictionary {
        try RouteDictionary(handlerRoutes: handlerRoutes, userRoutes: userRoutes)
    }
}

/// A small deterministic generator (SplitMix64) so random tests repeat.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    /// The bytes as an ASCII/UTF-8 string, for readable expectations.
    var text: String { String(decoding: self, as: UTF8.self) }
}

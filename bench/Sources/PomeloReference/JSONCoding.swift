import Foundation
import NIOCore
import NIOFoundationCompat

/// How the reference turns bodies into values and back.
public enum JSONMode: String, CaseIterable, Sendable {
    /// `Codable` types with `JSONDecoder`/`JSONEncoder`: what a Swift
    /// developer writes by default.
    case codable
    /// Foundation's `JSONSerialization` into `[String: Any]`.
    case serialization
}

/// A request body of `connector.entryHandler.entry`: any object (its fields
/// are optional, as a game's would be).
struct EntryRequest: Decodable {
    var uid: String?
}

struct EntryReply: Encodable {
    var code: Int
    var msg: String
}

/// What every route answers.
public enum ReplyKind: String, CaseIterable, Sendable {
    /// `{"code":200,"msg":"game server is ok."}`, the chat example's entry.
    case entry
    /// A player's profile, about 300 bytes of JSON: what a game answers.
    case profile
}

/// The profile answer: the same fields and values as the `profile` route
/// of bench's Shaddock server (Sources/shaddock-profile).
struct ProfileReply: Encodable {
    struct Player: Encodable {
        struct Stats: Encodable { var atk, def, hp, mp, spd: Int }
        struct Item: Encodable { var count: Int; var item: String }
        var guild: String
        var id: String
        var inventory: [Item]
        var lastSeen: String
        var level: Int
        var name: String
        var quests: [String]
        var stats: Stats
    }
    var code: Int
    var player: Player

    static let example = ProfileReply(code: 200, player: Player(
        guild: "Night Owls", id: "p-1042",
        inventory: [Player.Item(count: 1, item: "sword"), Player.Item(count: 12, item: "potion"),
                    Player.Item(count: 3, item: "elixir")],
        lastSeen: "2026-12-06T21:14:03Z", level: 37, name: "Aria Stormwind",
        quests: ["q-101", "q-117", "q-130"], stats: Player.Stats(atk: 212, def: 174, hp: 1840, mp: 620, spd: 98)))

    /// The same as a `[String: Any]`, for `JSONSerialization`.
    nonisolated(unsafe) static let exampleObject: [String: Any] = [
        "code": 200,
        "player": [
            "guild": "Night Owls", "id": "p-1042",
            "inventory": [["count": 1, "item": "sword"], ["count": 12, "item": "potion"], ["count": 3, "item": "elixir"]],
            "lastSeen": "2026-12-06T21:14:03Z", "level": 37, "name": "Aria Stormwind",
            "quests": ["q-101", "q-117", "q-130"], "stats": ["atk": 212, "def": 174, "hp": 1840, "mp": 620, "spd": 98],
        ] as [String: Any],
    ]
}

/// The client's handshake: only `sys` matters here.
struct Handshake: Decodable {
    struct Sys: Decodable {
        var type: String?
        var version: String?
    }
    var sys: Sys?
}

struct HandshakeReply: Encodable {
    struct Sys: Encodable {
        var heartbeat: Int?
        var dict: [String: Int] = [:]
        var protos: [String: String] = [:]
    }
    var code: Int
    var sys: Sys?
}

/// One per connection; the coders are made once and reused, as a careful
/// developer would.
struct JSONCoding: @unchecked Sendable {
    private let mode: JSONMode
    private let decoder = JSONDecoder()
    private let encoder: JSONEncoder

    init(_ mode: JSONMode) {
        self.mode = mode
        encoder = JSONEncoder()
        // Sorted keys, so that replies are the same bytes from run to run.
        encoder.outputFormatting = .sortedKeys
    }

    /// A body that is not a JSON object counts as `{}`, as in Pomelo.
    func decodeRequest(_ buffer: ByteBuffer) -> EntryRequest {
        switch mode {
        case .codable:
            return (try? decoder.decode(EntryRequest.self, from: buffer)) ?? EntryRequest()
        case .serialization:
            let object = (try? JSONSerialization.jsonObject(with: buffer)) as? [String: Any] ?? [:]
            return EntryRequest(uid: object["uid"] as? String)
        }
    }

    /// Whether a handshake body is an object with a `sys` object.
    func isHandshake(_ buffer: ByteBuffer) -> Bool {
        switch mode {
        case .codable:
            return (try? decoder.decode(Handshake.self, from: buffer))?.sys != nil
        case .serialization:
            let object = (try? JSONSerialization.jsonObject(with: buffer)) as? [String: Any]
            return object?["sys"] is [String: Any]
        }
    }

    func write(_ reply: EntryReply, into out: inout ByteBuffer) {
        switch mode {
        case .codable:
            // Only fails for values JSON cannot hold, which never occur here.
            try! out.writeJSONEncodable(reply, encoder: encoder)
        case .serialization:
            Self.writeObject(["code": reply.code, "msg": reply.msg], into: &out)
        }
    }

    func write(_ reply: ProfileReply, into out: inout ByteBuffer) {
        switch mode {
        case .codable:
            try! out.writeJSONEncodable(reply, encoder: encoder)
        case .serialization:
            Self.writeObject(ProfileReply.exampleObject, into: &out)
        }
    }

    func write(_ reply: HandshakeReply, into out: inout ByteBuffer) {
        switch mode {
        case .codable:
            try! out.writeJSONEncodable(reply, encoder: encoder)
        case .serialization:
            var object: [String: Any] = ["code": reply.code]
            if let sys = reply.sys {
                var fields: [String: Any] = ["dict": [String: Any](), "protos": [String: Any]()]
                if let heartbeat = sys.heartbeat { fields["heartbeat"] = heartbeat }
                object["sys"] = fields
            }
            Self.writeObject(object, into: &out)
        }
    }

    private static func writeObject(_ object: [String: Any], into out: inout ByteBuffer) {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        out.writeData(data)
    }
}

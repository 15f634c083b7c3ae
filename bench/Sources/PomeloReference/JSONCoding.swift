import ArgumentParser
import Foundation
import NIOCore
import NIOFoundationCompat

/// How the reference turns bodies into values and back.
enum JSONMode: String, CaseIterable, ExpressibleByArgument, Sendable {
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
struct JSONCoding {
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

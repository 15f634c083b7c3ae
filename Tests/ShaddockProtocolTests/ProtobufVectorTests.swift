import Foundation
import Testing
@testable import ShaddockProtocol

/// `Tests/Vectors/pomelo-protobuf.json` (see PROTOBUF.md beside it): the
/// bytes the real pomelo-protobuf 0.4.0 wrote, the parsed forms and
/// versions Pomelo 2.2.7 sends in its handshake, and the bytes its
/// decoders mishandle.
@Suite struct ProtobufVectorTests {
    static let file: JSONValue = {
        let url = Vectors.url.deletingLastPathComponent().appendingPathComponent("pomelo-protobuf.json")
        return try! JSON.parse(Array(try! Data(contentsOf: url)))
    }()

    static func schema(_ name: String, _ direction: String) throws -> ProtoSchema {
        let protos = file["schemas"]?[name]?[direction == "client" ? "clientProtos" : "serverProtos"]
        return try ProtoSchema.parse(try #require(protos))
    }

    static func hex(_ s: String) -> [UInt8] { fromHex(s) }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    /// Member order aside: the decoder's objects follow the wire.
    static func canonical(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            return .object(JSONObject(o.members.sorted { $0.key < $1.key }.map { ($0.key, canonical($0.value)) }))
        case .array(let a): return .array(a.map(canonical))
        default: return v
        }
    }

    static var messages: [JSONValue] { file["messages"]?.arrayValue ?? [] }

    @Test func everySchemaParsesToPomelosFormAndVersion() throws {
        for name in ["chat", "game", "types"] {
            let client = try Self.schema(name, "client"), server = try Self.schema(name, "server")
            let recorded = try #require(Self.file["schemas"]?[name])
            #expect(client.parsed == recorded["parsed"]?["client"], "\(name) client")
            #expect(server.parsed == recorded["parsed"]?["server"], "\(name) server")
            var input: [UInt8] = []
            client.parsed.write(into: &input)
            server.parsed.write(into: &input)
            #expect(String(decoding: input, as: UTF8.self) == recorded["version_input"]?.stringValue, "\(name)")
            #expect(ProtoSchema.version(client: client, server: server) == recorded["version"]?.stringValue, "\(name)")
        }
    }

    /// The five live handshakes of a Pomelo 2.2.7 chat server with
    /// useProtobuf: no protoVersion, 0, the current one (with and without
    /// the current dictVersion) and a stale one; every reply byte for byte.
    @Test func theHandshakeOffersTheProtosAsPomeloDoes() throws {
        let live = try #require(Self.file["handshake"])
        let protos = HandshakeProtos(client: try Self.schema("chat", "client"), server: try Self.schema("chat", "server"))
        #expect(protos.version == live["protoVersion"]?.stringValue)
        let handlers = ["chat.chatHandler.notify", "chat.chatHandler.send", "connector.entryHandler.entry",
                        "connector.entryHandler.kickme", "connector.entryHandler.login", "connector.entryHandler.ping"]
        let dictionary = try RouteDictionary(handlerRoutes: handlers, userRoutes: ["onChat", "onAdd", "onLeave"])
        #expect(dictionary.version == live["dictVersion"]?.stringValue)
        let responder = HandshakeResponder(heartbeatSeconds: 3, dictionary: dictionary, protos: protos)
        let shakes = live["handshakes"]?.arrayValue ?? []
        #expect(shakes.count == 5)
        for shake in shakes {
            let request = Self.hex(shake["request_hex"]!.stringValue!)
            let client = try #require(request.withUnsafeBytes { ClientHandshake(body: UnsafeRawBufferPointer(rebasing: $0[4...])) })
            #expect(Self.hex(responder.package(for: client)) == shake["reply_hex"]!.stringValue!, "\(shake["name"]!)")
        }
    }

    @Test func everyMessageEncodesToPomelosBytes() throws {
        #expect(Self.messages.count == 81)
        for m in Self.messages {
            let name = m["name"]!.stringValue!
            let schema = try Self.schema(m["schema"]!.stringValue!, m["direction"]!.stringValue!)
            let message = try #require(schema.message(forRoute: m["route"]!.stringValue!), "\(name)")
            let bytes = try ProtoEncoder.encode(m["value"]!, as: message)
            #expect(Self.hex(bytes) == m["hex"]!.stringValue!, "\(name)")
        }
    }

    @Test func everyMessageDecodesBackFromEveryLibrarysBytes() throws {
        for m in Self.messages {
            let name = m["name"]!.stringValue!
            let schema = try Self.schema(m["schema"]!.stringValue!, m["direction"]!.stringValue!)
            let message = try #require(schema.message(forRoute: m["route"]!.stringValue!))
            let expected = Self.canonical(m["decoded"] ?? m["value"]!)
            var forms = [m["hex"]!.stringValue!]
            if let tagOrder = m["hex_tag_order"]?.stringValue { forms.append(tagOrder) }
            // The browser library's bytes (varint keys with wire type 2,
            // CESU-8 strings) read as what it meant; those it cut short
            // (its buffer too small for doubles) are refused.
            if let client = m["client_lib"]?["hex"]?.stringValue {
                if m["client_lib"]?["hex_decoded_by_server_lib"]?["throws"] != nil {
                    #expect(throws: ProtoError.truncated) { try ProtoDecoder.decode(Self.hex(client), as: message) }
                } else {
                    forms.append(client)
                }
            }
            for form in forms {
                do {
                    let decoded = try ProtoDecoder.decode(Self.hex(form), as: message)
                    #expect(Self.canonical(decoded) == expected, "\(name) \(form)")
                } catch {
                    Issue.record("\(name) \(form): \(error)")
                }
            }
        }
    }

    @Test func malformedBytesAreRefusedAndTheRestReadAsProtobufWould() throws {
        for v in Self.file["invalid"]?.arrayValue ?? [] {
            let name = v["name"]!.stringValue!
            let schema = try Self.schema(v["schema"]!.stringValue!, v["direction"]!.stringValue!)
            let message = try #require(schema.message(forRoute: v["route"]!.stringValue!))
            let expected = v["expected"]!.stringValue!
            let accepts = expected.hasPrefix("ACCEPT") || expected.contains("accepting is fine")
            let outcome = Result { () throws(ProtoError) -> JSONValue in try ProtoDecoder.decode(Self.hex(v["hex"]!.stringValue!), as: message) }
            switch outcome {
            case .success(let value):
                #expect(accepts, "\(name): accepted as \(value), expected: \(expected)")
                if let returned = v["server_lib"]?["returns"] { #expect(Self.canonical(value) == Self.canonical(returned), "\(name)") }
            case .failure(let error):
                #expect(!accepts, "\(name): refused (\(error)), expected: \(expected)")
            }
        }
    }

    /// A nested message of 128 bytes or more has a longer length prefix.
    @Test func longNestedMessagesRoundTrip() throws {
        let game = try Self.schema("game", "server")
        let scene = try #require(game.message(forRoute: "area.playerHandler.enterScene"))
        for n in [0, 100, 127, 128, 300, 20_000] {
            let name = String(repeating: "n", count: n)
            let value = try JSON.parse(Array(#"{"code":200,"curPlayer":{"entityId":1,"name":"\#(name)","bag":{"capacity":3}}}"#.utf8))
            let bytes = try ProtoEncoder.encode(value, as: scene)
            #expect(Self.canonical(try ProtoDecoder.decode(bytes, as: scene)) == Self.canonical(value), "\(n)")
        }
    }

    /// JSON has no NaN or infinity, so a handler could not be given them.
    @Test func nonFiniteFloatsAreRefused() throws {
        let scalars = try #require(try Self.schema("types", "client").message(forRoute: "test.scalars"))
        for bytes in ["2d0000807f", "2d0000c07f", "21000000000000f07f"] {
            #expect(throws: ProtoError.self, "\(bytes)") { try ProtoDecoder.decode(Self.hex(bytes), as: scalars) }
        }
    }

    @Test func valuesPomeloMishandlesAreRefusedWithTheFieldNamed() throws {
        let types = try Self.schema("types", "client")
        let scalars = try #require(types.message(forRoute: "test.scalars"))
        for (value, field) in [(#"{"u":-1}"#, "u"), (#"{"u":3.7}"#, "u"), (#"{"u":4294967296}"#, "u"), (#"{"u":"42"}"#, "u"),
                               (#"{"s":4294967296}"#, "s"), (#"{"f":3.5e38}"#, "f"), (#"{"str":42}"#, "str")] {
            #expect(throws: ProtoError.self) { try ProtoEncoder.encode(try JSON.parse(Array(value.utf8)), as: scalars) }
            do {
                _ = try ProtoEncoder.encode(try JSON.parse(Array(value.utf8)), as: scalars)
            } catch {
                #expect("\(error)".contains("field \(field)"), "\(value): \(error)")
            }
        }
        // null means absent; members the schema does not name are left out.
        #expect(try ProtoEncoder.encode(try JSON.parse(Array(#"{"u":null,"str":"a","x":1}"#.utf8)), as: scalars)
                == Self.hex("320161"))
        let game = try Self.schema("game", "server")
        let onMove = try #require(game.message(forRoute: "onMove"))
        #expect(throws: ProtoError.missingRequired(field: "speed")) {
            try ProtoEncoder.encode(try JSON.parse(Array(#"{"entityId":1}"#.utf8)), as: onMove)
        }
        #expect(throws: ProtoError.missingRequired(field: "path.y")) {
            try ProtoEncoder.encode(try JSON.parse(Array(#"{"entityId":1,"path":[{"x":1}],"speed":1}"#.utf8)), as: onMove)
        }
    }

    @Test func schemasPomeloWouldMisreadAreRefused() {
        func parse(_ json: String) -> ProtoSchemaError? {
            do {
                _ = try ProtoSchema.parse(try JSON.parse(Array(json.utf8)))
                return nil
            } catch let error as ProtoSchemaError {
                return error
            } catch {
                return nil
            }
        }
        #expect(parse(#"{"r": {"required uInt32 a": 1, "optional string b": 1}}"#) == .duplicateTag(path: "r.optional string b", tag: 1))
        #expect(parse(#"{"r": {"required  uInt32 a": 1}}"#) == .malformedKey(path: "r.required  uInt32 a"))
        #expect(parse(#"{"r": {"required uInt32": 1}}"#) == .malformedKey(path: "r.required uInt32"))
        #expect(parse(#"{"r": {"required String a": 1}}"#) == .unknownType(path: "r.required String a", type: "String"))
        #expect(parse(#"{"r": {"optional bool a": 1}}"#) == .unknownType(path: "r.optional bool a", type: "bool"))
        #expect(parse(#"{"r": {"required uInt32 a": 0}}"#) == .badTag(path: "r.required uInt32 a"))
        #expect(parse(#"{"r": {"required uInt32 a": 536870912}}"#) == .badTag(path: "r.required uInt32 a"))
        // A type nested in an enclosing message is not in scope (Pomelo's rule).
        #expect(parse(#"{"r": {"message Item": {"required uInt32 id": 1}, "message Bag": {"repeated Item items": 1}, "optional Bag bag": 1}}"#)
                == .unknownType(path: "r.message Bag.repeated Item items", type: "Item"))
        // Pinus's types, when asked for.
        let pinus = try? ProtoSchema.parse(try! JSON.parse(Array(#"{"r": {"optional bool a": 1, "optional uInt64 b": 2, "optional sInt64 c": 3}}"#.utf8)),
                                           pinusTypes: true)
        #expect(pinus != nil)
        if let r = pinus?.message(forRoute: "r") {
            let value = try! JSON.parse(Array(#"{"a":true,"b":9007199254740991,"c":-5}"#.utf8))
            let bytes = try! ProtoEncoder.encode(value, as: r)
            #expect(try! ProtoDecoder.decode(bytes, as: r) == value)
        }
    }

    /// Every split of every recorded message: a decoder given a prefix
    /// refuses it (or reads a shorter message) and never reads past it.
    @Test func prefixesNeverReadPastTheirEnd() throws {
        for m in Self.messages {
            let schema = try Self.schema(m["schema"]!.stringValue!, m["direction"]!.stringValue!)
            let message = try #require(schema.message(forRoute: m["route"]!.stringValue!))
            let bytes = Self.hex(m["hex"]!.stringValue!)
            for cut in 0..<bytes.count {
                let prefix = Array(bytes[..<cut])
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: cut, alignment: 1)
                defer { buffer.deallocate() }
                buffer.copyBytes(from: prefix)
                _ = try? ProtoDecoder.decode(UnsafeRawBufferPointer(buffer), as: message)
            }
        }
    }
}

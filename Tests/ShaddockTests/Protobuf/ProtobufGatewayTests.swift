import Foundation
import Shaddock
import ShaddockProtocol
import Testing

/// pomelo-protobuf over real sockets: the recorded exchanges of a Pomelo
/// 2.2.7 chat server with `useProtobuf` (Tests/Vectors/pomelo-protobuf.json)
/// replayed against the example chat with the same protos, byte for byte,
/// on both transports; bodies that do not decode; typed handlers over
/// either encoding; the protos files in the configuration and a reload.
@Suite struct ProtobufGatewayTests {
    static let vectors: JSONValue = {
        let url = repositoryRoot.appendingPathComponent("Tests/Vectors/pomelo-protobuf.json")
        return try! JSON.parse(Array(try! Data(contentsOf: url)))
    }()

    static let chatSchemas: ProtobufSchemas = {
        let chat = vectors["schemas"]!["chat"]!
        return try! ProtobufSchemas(client: chat["clientProtos"]!, server: chat["serverProtos"]!)
    }()

    /// deploy/chat-protobuf: the chat's protos as Pomelo's two files beside
    /// a configuration that names them.
    static let shippedConfig = repositoryRoot.appendingPathComponent("deploy/chat-protobuf/servers.json").path

    static func hex(_ s: String) -> [UInt8] { fromHex(s) }

    /// The example chat (with the recording's dictionary) on the shipped
    /// configuration's protos files.
    static func chatServer() throws -> TestServer {
        let shipped = try GatewayConfiguration.load(path: shippedConfig)
        return try TestServer(app: TestApp.chatDemo()) { $0.protobuf = shipped.protobuf }
    }

    /// The shipped files are the recording's protos: the same version.
    @Test func theShippedProtosAreTheRecordedOnes() throws {
        let shipped = try #require(try GatewayConfiguration.load(path: Self.shippedConfig).protobuf)
        let client = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: shipped.clientFile))))
        let server = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: shipped.serverFile))))
        #expect(try ProtobufSchemas(client: client, server: server).version == Self.chatSchemas.version)
        #expect(Self.chatSchemas.version == Self.vectors["handshake"]!["protoVersion"]!.stringValue)
    }

    /// The next package that is not a heartbeat, as it was on the wire.
    static func nextPackage(_ client: PomeloTestClient) throws -> [UInt8] {
        while true {
            let p = try client.readPackage()
            if p.type == PomeloPackageType.heartbeat { continue }
            let n = p.body.count
            return [p.type, UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + p.body
        }
    }

    static func exchange(_ name: String) -> [JSONValue] {
        vectors["handshake"]!["exchanges"]!.arrayValue!.first { $0["name"]?.stringValue == name }!["packages"]!.arrayValue!
    }

    /// Sends the exchange's client packages on their connections and reads
    /// every server package it recorded, on each connection in order.
    static func replay(_ name: String, _ connections: [String: PomeloTestClient]) throws {
        for p in exchange(name) where p["direction"]?.stringValue == "c2s" {
            try connections[p["connection"]!.stringValue!]!.sendRaw(hex(p["hex"]!.stringValue!))
        }
        for p in exchange(name) where p["direction"]?.stringValue == "s2c" {
            let client = connections[p["connection"]!.stringValue!]!
            let want = hex(p["hex"]!.stringValue!)
            let got = try nextPackage(client)
            #expect(got == want, "\(name) on \(p["connection"]!.stringValue!): \(got.map { String($0, radix: 16) })")
        }
    }

    static func handshake(_ name: String) -> JSONValue {
        vectors["handshake"]!["handshakes"]!.arrayValue!.first { $0["name"]?.stringValue == name }!
    }

    static func connectRecorded(_ kind: TransportKind, port: Int, handshake name: String = "a_no_protoVersion") throws -> PomeloTestClient {
        let client = try PomeloTestClient.connect(kind, port: port)
        let h = handshake(name)
        try client.sendRaw(hex(h["request_hex"]!.stringValue!))
        #expect(try nextPackage(client) == hex(h["reply_hex"]!.stringValue!), "handshake \(name)")
        try client.ack()
        return client
    }

    /// Every live handshake: the protos are offered unless the client has
    /// the current version, and `useProto` is always set.
    @Test(arguments: TransportKind.allCases)
    func handshakesOfferTheProtosAsPomeloDoes(_ kind: TransportKind) throws {
        let server = try Self.chatServer()
        for h in Self.vectors["handshake"]!["handshakes"]!.arrayValue! {
            let client = try PomeloTestClient.connect(kind, port: server.port)
            try client.sendRaw(Self.hex(h["request_hex"]!.stringValue!))
            #expect(try Self.nextPackage(client) == Self.hex(h["reply_hex"]!.stringValue!), "\(h["name"]!.stringValue!)")
            client.close()
        }
    }

    /// The chat over protobuf as Pomelo 2.2.7 recorded it: entry (a JSON
    /// request, a protobuf answer), two logins, the onAdd, onChat and
    /// onLeave pushes (a channel's, to members on one loop), a chat sent and
    /// a notify.
    @Test(arguments: TransportKind.allCases)
    func theRecordedProtobufChatComesOutByteForByte(_ kind: TransportKind) throws {
        let server = try Self.chatServer()
        let alice = try Self.connectRecorded(kind, port: server.port)
        let bob = try Self.connectRecorded(kind, port: server.port)
        let clients = ["A": alice, "F": bob]
        try Self.replay("entry_request_json_response_protobuf", clients)
        try Self.replay("login_request_and_response_protobuf", clients)
        try Self.replay("onAdd_push_protobuf", clients)
        try Self.replay("send_request_onChat_push_and_response_protobuf", clients)
        try Self.replay("notify_onChat_push_protobuf", clients)
        bob.close()
        try Self.replay("onLeave_push_protobuf", clients)
        #expect(server.counter(.protobufBodiesIn) >= 4)
        #expect(server.counter(.badProtobufBodies) == 0)
    }

    /// Where Pomelo's decoder throws and the connection wedges until the
    /// heartbeat times out, Shaddock answers a request 500 (the answer
    /// schema's code field alone: the client sees it, although the schema
    /// requires more), drops a notify, counts both, and goes on.
    @Test(arguments: TransportKind.allCases)
    func bodiesThatDoNotDecodeAreAnswered500AndCounted(_ kind: TransportKind) throws {
        let server = try Self.chatServer()
        let client = try Self.connectRecorded(kind, port: server.port)
        var bad: UInt64 = 0
        for name in ["invalid_unknown_tag", "invalid_json_body_on_protobuf_route", "invalid_truncated_string"] {
            let sent = try #require(Self.exchange(name).first)
            let bytes = Self.hex(sent["hex"]!.stringValue!)
            try client.sendRaw(bytes)
            // The request's id is the recorded one (1); code 500 is f4 03.
            #expect(try Self.nextPackage(client) == [4, 0, 0, 5, 4, 1, 0x08, 0xF4, 0x03], "\(name)")
            bad += 1
            #expect(server.waitFor(.badProtobufBodies, atLeast: bad))
        }
        try client.sendRaw(Self.hex(Self.exchange("invalid_truncated_varint_notify")[0]["hex"]!.stringValue!))
        #expect(server.waitFor(.badProtobufBodies, atLeast: bad + 1))
        // Still served: the entry answer, encoded.
        try Self.replay("entry_request_json_response_protobuf", ["A": client])
        #expect(server.counter(.handlerErrors) == 0)
    }

    // MARK: typed handlers

    struct Hello: Codable, Sendable {
        var name: String
        var level: Int
        var tags: [String]
    }

    struct Welcome: Codable, Sendable {
        var code: Int
        var greeting: String
        var level: Int
        var tags: [String]
    }

    static let typedClient: JSONValue = [
        "connector.typed.hello": ["required string name": 1, "optional sInt32 level": 2, "repeated string tags": 3],
    ]
    static let typedServer: JSONValue = [
        "connector.typed.hello": ["required uInt32 code": 1, "required string greeting": 2, "optional sInt32 level": 3,
                                  "repeated string tags": 4],
    ]

    static func typedApp(protobuf: Bool) throws -> Application {
        let app = TestApp.make()
        if protobuf { app.protobuf = try ProtobufSchemas(client: typedClient, server: typedServer) }
        let handler: @Sendable (Hello, Session) throws -> Welcome = { hello, _ in
            Welcome(code: 200, greeting: "hello, " + hello.name, level: hello.level + 1, tags: hello.tags.reversed())
        }
        app.handle("connector.typed.hello", handler)
        app.handle("connector.typed.plain", handler)
        return app
    }

    /// The same typed handler answers a protobuf request in protobuf, and
    /// JSON on a route without protos and on a server without protobuf.
    @Test(arguments: TransportKind.allCases)
    func typedHandlersWorkOverEitherEncoding(_ kind: TransportKind) throws {
        let schemas = try ProtobufSchemas(client: Self.typedClient, server: Self.typedServer)
        let request = schemas.client.message(forRoute: "connector.typed.hello")!
        let answer = schemas.server.message(forRoute: "connector.typed.hello")!
        let hello: JSONValue = ["name": "ann", "level": -3, "tags": ["a", "ü", "😀"]]
        let expected: JSONValue = ["code": 200, "greeting": "hello, ann", "level": -2, "tags": ["😀", "ü", "a"]]

        let server = try TestServer(app: try Self.typedApp(protobuf: true))
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.sendMessage(type: .request, id: 1, route: .name("connector.typed.hello"),
                               body: try ProtoEncoder.encode(hello, as: request))
        let m = try client.readMessage(skipHeartbeats: true)
        #expect(m.id == 1)
        #expect(try ProtoDecoder.decode(m.body, as: answer) == expected)
        // No protos for this route: JSON both ways, same handler.
        try client.request(route: "connector.typed.plain", id: 2, body: hello.jsonString)
        let plain = try client.readMessage(skipHeartbeats: true)
        #expect(try JSON.parse(plain.body) == expected)

        let jsonServer = try TestServer(app: try Self.typedApp(protobuf: false))
        let jsonClient = try PomeloTestClient.ready(kind, port: jsonServer.port)
        try jsonClient.request(route: "connector.typed.hello", id: 3, body: hello.jsonString)
        #expect(try JSON.parse(try jsonClient.readMessage(skipHeartbeats: true).body) == expected)
        // A body that is not the route's message: read only by the typed
        // handler (no filter wants its JSON), refused there, counted as such.
        try client.sendMessage(type: .request, id: 4, route: .name("connector.typed.hello"), body: [0x0A, 0x05, 0x61])
        let bad = try client.readMessage(skipHeartbeats: true)
        #expect(bad.id == 4)
        #expect(bad.body == [0x08, 0xF4, 0x03], "code 500 alone")
        #expect(server.counter(.protobufBodiesIn) == 2)
        #expect(server.waitFor(.badProtobufBodies, atLeast: 1))
        #expect(server.counter(.handlerErrors) == 0)
        #expect(server.counter(.protobufBodiesOut) >= 1)
    }

    /// A raw handler gets the protobuf body as JSON (`request.json`, and
    /// members in place); an answer that does not fit the schema is logged,
    /// counted and answered 500 with the schema's code field.
    @Test func rawHandlersSeeJSONAndUnfitAnswersAre500() throws {
        let app = TestApp.make()
        app.protobuf = try ProtobufSchemas(
            client: ["connector.raw.see": ["required string name": 1, "repeated uInt32 ns": 2]],
            server: ["connector.raw.see": ["required uInt32 code": 1, "optional string echo": 2],
                     "connector.raw.unfit": ["required uInt32 code": 1, "optional uInt32 n": 2],
                     "connector.raw.fail": ["required uInt32 code": 1, "required string uid": 2],
                     "connector.raw.nocode": ["required string uid": 1]])
        app.handle("connector.raw.see") { request, _ in
            .json(["code": 200, "echo": .string(request.json.jsonString + " " + (request["name"]?.stringValue ?? "-"))])
        }
        app.handle("connector.raw.unfit") { _, _ in .json(["code": 200, "n": "not a number"]) }
        app.handle("connector.raw.fail") { _, _ in throw TestApp.Refused(code: 503) }
        app.handle("connector.raw.nocode") { _, _ in throw TestApp.Broken() }
        let server = try TestServer(app: app)
        let schemas = try #require(app.protobuf)
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.sendMessage(type: .request, id: 1, route: .name("connector.raw.see"),
                               body: try ProtoEncoder.encode(["name": "x\"y", "ns": [1, 2, 300]],
                                                             as: schemas.client.message(forRoute: "connector.raw.see")!))
        let seen = try ProtoDecoder.decode(try client.readMessage(skipHeartbeats: true).body,
                                           as: schemas.server.message(forRoute: "connector.raw.see")!)
        #expect(seen == ["code": 200, "echo": #"{"name":"x\"y","ns":[1,2,300]} x"y"#])
        try client.request(route: "connector.raw.unfit", id: 2)
        let unfit = try client.readMessage(skipHeartbeats: true)
        #expect(unfit.id == 2)
        #expect(try ProtoDecoder.decode(unfit.body, as: schemas.server.message(forRoute: "connector.raw.unfit")!) == ["code": 500])
        #expect(server.waitFor(.protobufEncodeFailures, atLeast: 1))
        // An error's code goes alone, although uid is required (503 is f7 03);
        // without a code field, the body is empty, as Pomelo sends.
        try client.request(route: "connector.raw.fail", id: 3)
        #expect(try client.readMessage(skipHeartbeats: true).body == [0x08, 0xF7, 0x03])
        try client.request(route: "connector.raw.nocode", id: 4)
        let empty = try client.readMessage(skipHeartbeats: true)
        #expect(empty.id == 4 && empty.body.isEmpty)
    }

    // MARK: configuration

    static func writeConfig(_ dir: URL, client: String, server: String, protobuf: String = #"{"client": "clientProtos.json", "server": "serverProtos.json"}"#) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try client.write(to: dir.appendingPathComponent("clientProtos.json"), atomically: true, encoding: .utf8)
        try server.write(to: dir.appendingPathComponent("serverProtos.json"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("servers.json").path
        try #"{"connector": {"host": "127.0.0.1", "threads": 1, "heartbeat": 3, "logLevel": "critical", "protobuf": \#(protobuf)}, "development": {"connector": [{"id": "connector-server-1", "host": "127.0.0.1", "clientPort": 0, "frontend": true}]}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("shaddock-protobuf-\(UUID().uuidString)")
    }

    @Test func aSchemaMistakeStopsStartUpNamingIt() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            (#"{"r.a.b": {"required strin name": 1}}"#, "strin"),
            (#"{"r.a.b": {"required string a": 1, "optional uInt32 b": 1}}"#, "tag 1 is used twice"),
            (#"{"r.a.b": {"required  string a": 1}}"#, "required  string a"),
            (#"{"r.a.b": {"optional bool b": 1}}"#, "bool"),
        ]
        for (client, named) in cases {
            let path = try Self.writeConfig(dir, client: client, server: "{}")
            let config = try GatewayConfiguration.load(path: path)
            do {
                _ = try Server(application: TestApp.make(), configuration: config)
                Issue.record("\(client) was accepted")
            } catch {
                let text = "\(error)"
                #expect(text.contains("connector.protobuf.client") && text.contains(named), "\(text)")
            }
        }
        // Pinus's types behind the option.
        let path = try Self.writeConfig(dir, client: #"{"r.a.b": {"optional bool b": 1, "optional uInt64 n": 2}}"#, server: "{}",
                                        protobuf: #"{"client": "clientProtos.json", "server": "serverProtos.json", "pinusTypes": true}"#)
        _ = try Server(application: TestApp.make(), configuration: try GatewayConfiguration.load(path: path))
    }

    /// A room whose members use different forms: a client that handshook
    /// before a reload turned protobuf on gets JSON pushes, one after it gets
    /// protobuf, compressed when it agreed on permessage-deflate; each form
    /// is made once per push.
    @Test func eachMemberHearsAPushInItsOwnForm() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chat = Self.vectors["schemas"]!["chat"]!
        let path = try Self.writeConfig(dir, client: chat["clientProtos"]!.jsonString, server: chat["serverProtos"]!.jsonString,
                                        protobuf: "false")
        var config = try GatewayConfiguration.load(path: path)
        config.port = 0
        config.compression.deflate = true
        config.compression.threshold = 8
        let server = try Server(application: TestApp.make(), configuration: config)
        try server.start()
        defer {
            server.stop()
            server.wait()
        }
        let json = try PomeloTestClient.tcp(port: server.port)
        _ = try json.connectAndHandshake()
        try json.request(route: "connector.entryHandler.login", id: 1, body: #"{"uid":"jo","rid":"mixed"}"#)
        #expect(try json.expectResponse(id: 1)["code"] as? Int == 200)

        var reloaded = try GatewayConfiguration.load(path: try Self.writeConfig(
            dir, client: chat["clientProtos"]!.jsonString, server: chat["serverProtos"]!.jsonString))
        reloaded.port = 0
        reloaded.compression = config.compression
        try server.reload(reloaded)
        var members: [PomeloTestClient] = []
        for (i, deflate) in [false, true].enumerated() {
            let client = deflate ? try PomeloTestClient.websocketDeflate(port: server.port).client
                : try PomeloTestClient.websocket(port: server.port)
            let shake = try client.connectAndHandshake()
            #expect((shake["sys"] as? [String: Any])?["useProto"] as? Bool == true)
            let uid = "p\(i)"
            try client.sendMessage(type: .request, id: 1, route: .name("connector.entryHandler.login"),
                                   body: try ProtobufClusterTests.encode(["uid": .string(uid), "rid": "mixed"], "connector.entryHandler.login"))
            while true {
                let m = try client.readMessage(skipHeartbeats: true)
                if m.type == .response {
                    #expect(try ProtobufClusterTests.decode(m.body, "connector.entryHandler.login")["code"] == 200)
                    break
                }
            }
            members.append(client)
        }
        // Drain the onAdd pushes so far.
        for _ in 0..<2 { #expect(try json.readMessage(skipHeartbeats: true).type == .push) }
        #expect(try members[0].readMessage(skipHeartbeats: true).type == .push)

        let before = server.counter(.protobufBodiesOut)
        try json.request(route: "chat.chatHandler.send", id: 2, body: #"{"content":"hello, everyone in the room","target":"*"}"#)
        let line: JSONValue = ["msg": "hello, everyone in the room", "from": "jo", "target": "*"]
        var heard = try json.readMessage(skipHeartbeats: true)
        if heard.type == .response { heard = try json.readMessage(skipHeartbeats: true) }
        #expect(heard.type == .push)
        #expect(try JSON.parse(heard.body) == line)
        for member in members {
            let m = try member.readMessage(skipHeartbeats: true)
            #expect(m.type == .push)
            #expect(try ProtobufClusterTests.decode(m.body, "onChat") == line)
        }
        // One protobuf form for the two protobuf members.
        #expect(server.counter(.protobufBodiesOut) - before == 1)
        #expect(server.counter(.deflateMessagesOut) >= 1)
    }

    /// SIGHUP's reload reads the files again: new handshakes get the new
    /// protos and encoding, a session handshaken before keeps its own.
    @Test func aReloadGivesNewSessionsTheNewProtos() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = #"{"connector.entryHandler.entry": {"required uInt32 code": 1, "optional string msg": 2}}"#
        let new = #"{"connector.entryHandler.entry": {"required uInt32 code": 3, "optional string msg": 4}}"#
        let path = try Self.writeConfig(dir, client: "{}", server: old)
        var config = try GatewayConfiguration.load(path: path)
        config.port = 0
        let server = try Server(application: TestApp.make(), configuration: config)
        try server.start()
        defer {
            server.stop()
            server.wait()
        }
        let before = try PomeloTestClient.tcp(port: server.port)
        let first = try before.connectAndHandshake()
        let oldVersion = ((first["sys"] as? [String: Any])?["protos"] as? [String: Any])?["version"] as? String
        _ = try Self.writeConfig(dir, client: "{}", server: new)
        var reloaded = try GatewayConfiguration.load(path: path)
        reloaded.port = 0
        try server.reload(reloaded)
        let after = try PomeloTestClient.tcp(port: server.port)
        let second = try after.connectAndHandshake()
        let newVersion = ((second["sys"] as? [String: Any])?["protos"] as? [String: Any])?["version"] as? String
        #expect(oldVersion != nil && newVersion != nil && oldVersion != newVersion)
        let msg = Array("game server is ok.".utf8)
        try before.request(route: "connector.entryHandler.entry", id: 1)
        #expect(try before.readMessage(skipHeartbeats: true).body == [0x08, 0xC8, 0x01, 0x12, 0x12] + msg)
        try after.request(route: "connector.entryHandler.entry", id: 2)
        #expect(try after.readMessage(skipHeartbeats: true).body == [0x18, 0xC8, 0x01, 0x22, 0x12] + msg)
    }
}

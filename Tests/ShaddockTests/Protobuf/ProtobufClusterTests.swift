import Foundation
import ShaddockProtocol
import Testing

/// pomelo-protobuf in the chat cluster: a request forwarded to a chat
/// server travels as the client sent it and is decoded there with that
/// server's schemas, which announces their version; the answer comes back
/// encoded, and the room's pushes reach players on both connectors in
/// protobuf. A server whose protos differ is refused.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled, "nats-server is not installed (./run test installs it)"))
struct ProtobufClusterTests {
    static let chat = ProtobufGatewayTests.vectors["schemas"]!["chat"]!

    /// The chat's protos files in a folder of their own; the connector
    /// section that names them.
    static func protosSection() throws -> (section: String, dir: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shaddock-protos-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try chat["clientProtos"]!.jsonString.write(to: dir.appendingPathComponent("clientProtos.json"), atomically: true, encoding: .utf8)
        try chat["serverProtos"]!.jsonString.write(to: dir.appendingPathComponent("serverProtos.json"), atomically: true, encoding: .utf8)
        let section = #"{"protobuf": {"client": "\#(dir.path)/clientProtos.json", "server": "\#(dir.path)/serverProtos.json"}}"#
        return (section, dir)
    }

    static func encode(_ value: JSONValue, _ route: String, client: Bool = true) throws -> [UInt8] {
        let schemas = ProtobufGatewayTests.chatSchemas
        return try ProtoEncoder.encode(value, as: (client ? schemas.client : schemas.server).message(forRoute: route)!)
    }

    static func decode(_ body: [UInt8], _ route: String) throws -> JSONValue {
        try ProtoDecoder.decode(body, as: ProtobufGatewayTests.chatSchemas.server.message(forRoute: route)!)
    }

    /// The next push: its route and body, decoded.
    static func push(_ client: PomeloTestClient, _ dictionary: [Int: String]) throws -> (String, JSONValue) {
        let m = try client.readMessage(skipHeartbeats: true)
        guard m.type == .push else { throw TestFailure("expected a push, got \(m)") }
        let route = m.route ?? m.routeCode.flatMap { dictionary[Int($0)] } ?? "?"
        return (route, try decode(m.body, route))
    }

    static func response(_ client: PomeloTestClient, id: Int, _ route: String) throws -> JSONValue {
        let m = try client.readMessage(skipHeartbeats: true)
        guard m.type == .response, m.id == id else { throw TestFailure("expected response \(id), got \(m)") }
        return try decode(m.body, route)
    }

    @Test func forwardedBodiesAreDecodedByTheServerThatHandlesThem() throws {
        let (section, dir) = try Self.protosSection()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try ChatCluster(connectorSection: section)
        let (alice, dict) = try ChatClusterTests.client(.websocket, port: cluster.clientPort("connector-server-1"))
        let (bob, _) = try ChatClusterTests.client(.tcp, port: cluster.clientPort("connector-server-2"))
        let login = "connector.entryHandler.login"
        try alice.sendMessage(type: .request, id: 1, route: .name(login), body: try Self.encode(["uid": "alice", "rid": "den"], login))
        #expect(try Self.response(alice, id: 1, login) == ["code": 200, "uid": "alice", "rid": "den", "users": ["alice"]])
        try bob.sendMessage(type: .request, id: 1, route: .name(login), body: try Self.encode(["uid": "bob", "rid": "den"], login))
        #expect(try Self.response(bob, id: 1, login) == ["code": 200, "uid": "bob", "rid": "den", "users": ["alice", "bob"]])
        #expect(try Self.push(alice, dict) == ("onAdd", ["route": "onAdd", "user": "bob"]))

        // Forwarded to a chat server as protobuf; its pushes and answer too.
        let send = "chat.chatHandler.send"
        try alice.sendMessage(type: .request, id: 2, route: .name(send), body: try Self.encode(["content": "hi 😀", "target": "*"], send))
        let chat: JSONValue = ["msg": "hi 😀", "from": "alice", "target": "*"]
        #expect(try Self.push(alice, dict) == ("onChat", chat))
        #expect(try Self.response(alice, id: 2, send) == ["code": 200])
        #expect(try Self.push(bob, dict) == ("onChat", chat))

        // A body that does not decode is refused by the chat server that
        // decodes it: 500, as the answer schema's code field.
        try bob.sendMessage(type: .request, id: 3, route: .name(send), body: [0x0A, 0x05, 0x61])
        #expect(try Self.response(bob, id: 3, send) == ["code": 500])
        // A notify, forwarded as it came.
        let notify = "chat.chatHandler.notify"
        try bob.sendMessage(type: .notify, route: .name(notify), body: try Self.encode(["content": "note"], notify))
        let note: JSONValue = ["msg": "note", "from": "bob", "target": "*", "via": "notify"]
        #expect(try Self.push(alice, dict) == ("onChat", note))
        #expect(try Self.push(bob, dict) == ("onChat", note))

        // The chat servers decoded the bodies and encoded the answers.
        // The connectors sent the bodies on without reading them (no global
        // filter needs them as JSON).
        var received = 0.0, encoded = 0.0, refused = 0.0
        for id in ["chat-server-1", "chat-server-2"] {
            received += try cluster.metric(id, "shaddock_protobuf_bodies_total", ["direction": "in"]) ?? 0
            encoded += try cluster.metric(id, "shaddock_protobuf_bodies_total", ["direction": "out"]) ?? 0
            refused += try cluster.metric(id, "shaddock_errors_total", ["kind": "bad_protobuf_body"]) ?? 0
        }
        #expect(received == 3 && encoded == 1 && refused == 1)
        #expect(try cluster.metric("connector-server-2", "shaddock_errors_total", ["kind": "bad_protobuf_body"]) ?? 0 == 0)
    }

    /// A chat server started on other protos is refused by the connector:
    /// it would decode the bodies forwarded to it with the wrong schemas.
    @Test func aServerWithOtherProtosIsRefused() throws {
        let (section, dir) = try Self.protosSection()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try ChatCluster(servers: ["chat-server-1", "connector-server-1"], connectorSection: section)
        var other = Self.chat["serverProtos"]!.objectValue!
        other["onChat"] = ["required string msg": 1, "required string from": 2, "required string target": 3, "optional uInt32 at": 5]
        try JSONValue.object(other).jsonString.write(to: dir.appendingPathComponent("serverProtos.json"), atomically: true, encoding: .utf8)
        try cluster.start("chat-server-2")
        // Announcements go every second; three of them and it is still one.
        Thread.sleep(forTimeInterval: 3.5)
        #expect(cluster.chatServers("connector-server-1") == 1)
        let logs = cluster.stopAll()
        #expect(logs.contains("refusing server chat-server-2"), "\(logs)")
    }
}

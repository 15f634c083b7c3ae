import Shaddock
import ShaddockProtocol
import Testing

extension AllocationTests {
    static let protoRoute = "connector.allocHandler.proto"

    /// A steady flow of protobuf requests (a string, a signed and an
    /// unsigned number, a repeated scalar) and protobuf answers allocates
    /// nothing on the loop, as JSON does: the body is read into JSON text
    /// in the loop's reused buffer, the handler reads members in place, and
    /// the answer is encoded with the schema into the scratch.
    @Test(arguments: TransportKind.allCases)
    func protobufRequestsAllocateNothingPerMessage(_ kind: TransportKind) throws {
        let app = Self.app()
        app.protobuf = try ProtobufSchemas(
            client: [Self.protoRoute: ["required string name": 1, "optional sInt32 delta": 2, "optional uInt32 n": 3,
                                                "repeated uInt32 ns": 4]],
            server: [Self.protoRoute: ["required uInt32 code": 1, "optional string msg": 2, "optional uInt32 n": 3]])
        let reply: JSONValue = ["code": 200, "msg": "encoded per request", "n": 7]
        app.handle(Self.protoRoute) { request, _ in
            guard request["name"]?.isString("ann") == true, request["n"]?.kind == .number else { return .json(["code": 500]) }
            return .json(reply)
        }
        let schemas = try #require(app.protobuf)
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let body = try ProtoEncoder.encode(["name": "ann", "delta": -5, "n": 300, "ns": [1, 2, 3]],
                                           as: schemas.client.message(forRoute: Self.protoRoute)!)
        let want = try ProtoEncoder.encode(reply, as: schemas.server.message(forRoute: Self.protoRoute)!)
        var id = 0
        func run(_ n: Int) throws {
            for _ in 0..<n {
                id += 1
                try client.sendMessage(type: .request, id: id, route: .name(Self.protoRoute), body: body)
                let m = try client.readMessage(skipHeartbeats: true)
                guard m.type == .response, m.id == id, m.body == want else {
                    throw TestClientError.protocolViolation("request \(id) answered \(m.body)")
                }
                if id % 100 == 99 { try client.heartbeat() }
            }
        }
        try run(200)
        let once = try server.loopAllocations { try run(Self.requests) }
        let twice = try server.loopAllocations { try run(2 * Self.requests) }
        Self.expectFlat(once, twice, "\(kind) protobuf: ", per: { "\($0) requests" }, of: "requests")
        #expect(server.counter(.protobufBodiesIn) == UInt64(id))
        #expect(server.counter(.protobufBodiesOut) == UInt64(id))
    }
}

extension AllocationTests {
    /// The example's chat send over protobuf, in a room of three on one
    /// loop: the request is read by the handler in place, its `.encoded`
    /// answer and the onChat push are encoded from their JSON text with the
    /// server schema (the push once, for every member), and nothing is
    /// allocated.
    @Test func aProtobufChatSendAllocatesNothing() throws {
        let app = Self.app()
        app.protobuf = ProtobufGatewayTests.chatSchemas
        let server = try TestServer(app: app)
        let login = "connector.entryHandler.login", send = "chat.chatHandler.send"
        let members = try ["ann", "bob", "cy"].enumerated().map { i, uid in
            let client = i == 1 ? try PomeloTestClient.tcp(port: server.port) : try PomeloTestClient.websocket(port: server.port)
            _ = try client.connectAndHandshake()
            try client.sendMessage(type: .request, id: 1, route: .name(login),
                                   body: try ProtobufClusterTests.encode(["uid": .string(uid), "rid": "trio"], login))
            while try client.readMessage(skipHeartbeats: true).type != .response {}
            return client
        }
        for (client, added) in zip(members, [2, 1]) {
            for _ in 0..<added { #expect(try client.readMessage(skipHeartbeats: true).type == .push) }
        }
        let line = "hi, " + String(repeating: "hello ", count: 10)
        let body = try ProtobufClusterTests.encode(["content": .string(line), "target": "*"], send)
        let push = try ProtobufClusterTests.encode(["msg": .string(line), "from": "ann", "target": "*"], "onChat", client: false)
        let sender = members[0]
        var id = 1
        func chat(_ n: Int) throws {
            for _ in 0..<n {
                id += 1
                try sender.sendMessage(type: .request, id: id, route: .name(send), body: body)
                var answered = false, pushed = false
                while !(answered && pushed) {
                    let m = try sender.readMessage(skipHeartbeats: true)
                    if m.type == .push {
                        #expect(m.body == push)
                        pushed = true
                    } else if m.type == .response, m.id == id {
                        #expect(m.body == [0x08, 0xC8, 0x01])
                        answered = true
                    }
                }
                for other in members.dropFirst() {
                    while try other.readMessage(skipHeartbeats: true).type != .push {}
                }
                if id % 100 == 0 { for m in members { try m.heartbeat() } }
            }
        }
        try chat(100)
        let once = try server.loopAllocations { try chat(Self.requests / 5) }
        let twice = try server.loopAllocations { try chat(2 * Self.requests / 5) }
        Self.expectFlat(once, twice, "protobuf chat: ", per: { "\($0 / 5) sends" }, of: "sends")
    }
}

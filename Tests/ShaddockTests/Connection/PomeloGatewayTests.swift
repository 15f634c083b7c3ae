import Foundation
import Shaddock
import Testing

/// The Pomelo protocol over a real server and real sockets, on both
/// transports of the one port (PROTOCOL.md §2-8).
@Suite struct PomeloGatewayTests {
    static let transports = TransportKind.allCases

    @Test(arguments: transports)
    func handshakeOffersTheDictionaryAndHeartbeat(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.connect(kind, port: server.port)
        let reply = try client.handshake()
        #expect((reply["code"] as? Int) == 200)
        let sys = try #require(reply["sys"] as? [String: Any])
        #expect((sys["heartbeat"] as? Int) == 3)
        #expect((sys["useDict"] as? Bool) == true)
        let dict = try #require(sys["dict"] as? [String: Int])
        #expect(dict["connector.entryHandler.entry"] != nil)
        #expect((sys["dictVersion"] as? String) == server.server.dictionary.version)
        #expect(reply["user"] == nil)
    }

    @Test(arguments: transports)
    func currentDictVersionGetsNoDictionary(_ kind: TransportKind) throws {
        let server = try TestServer()
        let version = server.server.dictionary.version
        let client = try PomeloTestClient.connect(kind, port: server.port)
        let reply = try client.handshake(sys: #"{"type":"t","version":"1","dictVersion":"\#(version)"}"#)
        let sys = try #require(reply["sys"] as? [String: Any])
        #expect(sys["dict"] == nil)
        #expect((sys["useDict"] as? Bool) == true)
    }

    @Test(arguments: transports)
    func requestGetsTheExampleReply(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let code = try #require(server.server.dictionary.code(for: "connector.entryHandler.entry"))
        try client.request(code: code, id: 1)
        let reply = try client.expectResponse(id: 1)
        #expect((reply["code"] as? Int) == 200)
        #expect((reply["msg"] as? String) == "game server is ok.")
        // The same route as a string, and a multi-byte id.
        try client.request(route: "connector.entryHandler.entry", id: 300)
        #expect((try client.expectResponse(id: 300)["msg"] as? String) == "game server is ok.")
    }

    @Test(arguments: transports)
    func handlerSeesTheJSONBody(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.testHandler.echo", id: 7, body: #"{"a":[1,2.5,"x"],"b":{"c":null}}"#)
        let reply = try client.expectResponse(id: 7)
        #expect((reply["a"] as? [Any])?.count == 3)
        #expect(((reply["b"] as? [String: Any])?["c"]) is NSNull)
    }

    @Test(arguments: transports)
    func invalidJSONBodyReachesTheHandlerAsEmptyObject(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.testHandler.echo", id: 2, body: "not json")
        let reply = try client.expectResponse(id: 2)
        #expect(reply.isEmpty)
        #expect(server.waitFor(.invalidJSONBodies, atLeast: 1))
    }

    @Test(arguments: transports)
    func notifyGetsNoResponse(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        // The ping handler returns a body; a notify must still go unanswered.
        try client.notify(route: "connector.entryHandler.ping", body: #"{"n":1}"#)
        try client.expectNoPackage(within: 0.3)
        #expect(server.waitFor(.notifies, atLeast: 1))
        #expect(server.counter(.responses) == 0)
    }

    @Test(arguments: transports)
    func unknownRoutesAnswer500ForRequestsAndNothingForNotifies(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(code: 999, id: 1)
        #expect((try client.expectResponse(id: 1)["code"] as? Int) == 500)
        try client.request(route: "connector.entryHandler.nope", id: 2)
        #expect((try client.expectResponse(id: 2)["code"] as? Int) == 500)
        // A code in the dictionary with no handler here (a push route).
        let onChat = try #require(server.server.dictionary.code(for: "onChat"))
        try client.request(code: onChat, id: 3)
        #expect((try client.expectResponse(id: 3)["code"] as? Int) == 500)
        try client.notify(code: 999)
        try client.expectNoPackage(within: 0.2)
        #expect(server.waitFor(.unknownRoutes, atLeast: 4))
        // The connection stays usable.
        try client.request(route: "connector.entryHandler.entry", id: 4)
        #expect((try client.expectResponse(id: 4)["code"] as? Int) == 200)
    }

    @Test(arguments: transports)
    func thrownErrorsAnswerACodeAndKeepTheConnection(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.testHandler.fail", id: 1)
        #expect((try client.expectResponse(id: 1)["code"] as? Int) == 500)
        try client.request(route: "connector.testHandler.refuse", id: 2)
        #expect((try client.expectResponse(id: 2)["code"] as? Int) == 503)
        try client.request(route: "connector.entryHandler.entry", id: 3)
        #expect((try client.expectResponse(id: 3)["code"] as? Int) == 200)
        #expect(server.counter(.handlerErrors) == 2)
    }

    @Test(arguments: transports)
    func packagesBeforeTheAckAreIgnored(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.connect(kind, port: server.port)
        // Data before the handshake, then after the handshake but before the ack.
        try client.request(route: "connector.entryHandler.entry", id: 1)
        _ = try client.handshake()
        try client.request(route: "connector.entryHandler.entry", id: 2)
        try client.heartbeat()
        try client.expectNoPackage(within: 0.3)
        #expect(server.waitFor(.ignoredBeforeAck, atLeast: 3))
        // A second handshake after the first is ignored too.
        try client.sendPackage(type: PomeloPackageType.handshake, body: PomeloTestClient.handshakeBody())
        try client.ack()
        #expect(try client.readPackage().type == PomeloPackageType.heartbeat)
        try client.request(route: "connector.entryHandler.entry", id: 3)
        #expect((try client.expectResponse(id: 3)["code"] as? Int) == 200)
        #expect(server.counter(.ignoredPackages) == 1)
    }

    @Test(arguments: transports)
    func pipelinedHandshakeAckRequestAndHeartbeatAreAllAnswered(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.connect(kind, port: server.port)
        let code = try #require(server.server.dictionary.code(for: "connector.entryHandler.entry"))
        try client.sendPackages([
            (PomeloPackageType.handshake, PomeloTestClient.handshakeBody()),
            (PomeloPackageType.handshakeAck, []),
            (PomeloPackageType.data, PomeloWire.encodeMessage(type: .request, id: 1, route: .code(code), body: Array("{}".utf8))),
            (PomeloPackageType.heartbeat, []),
        ])
        #expect(try client.readPackage().type == PomeloPackageType.handshake)
        #expect(try client.readPackage().type == PomeloPackageType.heartbeat)
        let response = try client.readMessage()
        #expect(response.type == .response && response.id == 1)
        #expect(try client.readPackage().type == PomeloPackageType.heartbeat)
    }

    @Test(arguments: transports)
    func heartbeatsAreAnsweredAtOnce(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        for _ in 0..<3 {
            try client.heartbeat()
            #expect(try client.readPackage(timeout: 1).type == PomeloPackageType.heartbeat)
        }
        #expect(server.waitFor(.heartbeatsReceived, atLeast: 3))
    }

    @Test(arguments: transports)
    func silentConnectionIsClosedAfterTheHeartbeatTimeout(_ kind: TransportKind) throws {
        let server = try TestServer { $0.heartbeatSeconds = 1; $0.heartbeatTimeoutSeconds = 0.4 }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        // Heartbeats keep it open past the timeout...
        for _ in 0..<3 {
            usleep(200_000)
            try client.heartbeat()
            _ = try client.readPackage(timeout: 1)
        }
        // ...silence closes it.
        #expect(client.waitForClose(timeout: 3))
        #expect(server.counter(.heartbeatTimeouts) == 1)
    }

    @Test(arguments: transports)
    func badHandshakeAnswers500AndCloses(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.connect(kind, port: server.port)
        try client.sendPackage(type: PomeloPackageType.handshake, body: Array("xyz".utf8))
        let reply = try client.readPackage()
        #expect(reply.type == PomeloPackageType.handshake)
        #expect(reply.bodyString == #"{"code":500}"#)
        #expect(client.waitForClose())
    }

    @Test(arguments: transports)
    func clientCheckRefusesOldClientsWith501(_ kind: TransportKind) throws {
        let app = TestApp.make()
        app.checkClient = { type, version in !(type == "old" && version == "0.1") }
        let server = try TestServer(app: app)
        let old = try PomeloTestClient.connect(kind, port: server.port)
        let reply = try old.handshake(sys: #"{"type":"old","version":"0.1"}"#)
        #expect((reply["code"] as? Int) == 501)
        #expect(old.waitForClose())
        let current = try PomeloTestClient.connect(kind, port: server.port)
        #expect((try current.handshake(sys: #"{"type":"old","version":"0.2"}"#)["code"] as? Int) == 200)
    }

    @Test(arguments: transports)
    func handshakeHookAddsUserAndCanRefuse(_ kind: TransportKind) throws {
        struct NotWelcome: Error {}
        let app = TestApp.make()
        app.handshakeHook = { handshake in
            if handshake.user?["token"]?.stringValue == "bad" { throw NotWelcome() }
            return ["welcome": .string(handshake.user?["name"]?.stringValue ?? "?")]
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.connect(kind, port: server.port)
        let reply = try client.handshake(user: #"{"name":"ann"}"#)
        #expect((reply["user"] as? [String: Any])?["welcome"] as? String == "ann")
        let refused = try PomeloTestClient.connect(kind, port: server.port)
        #expect((try refused.handshake(user: #"{"token":"bad"}"#)["code"] as? Int) == 500)
        #expect(refused.waitForClose())
    }

    @Test(arguments: transports)
    func kickSendsTheReasonThenCloses(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.testHandler.kick", id: 1, body: #"{"reason":"bye now"}"#)
        let kick = try client.readPackage()
        #expect(kick.type == PomeloPackageType.kick)
        #expect(kick.bodyString == #"{"reason":"bye now"}"#)
        if kind == .websocket, case .websocket(let ws) = client.transport {
            #expect(try ws.readClose().code == 1000)
        }
        #expect(client.waitForClose())
        #expect(server.counter(.kicks) == 1)
    }

    @Test(arguments: transports)
    func pushUsesTheDictionaryCode(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.testHandler.push", id: 1, body: #"{"route":"onChat","msg":"hi"}"#)
        let push = try client.readMessage()
        #expect(push.type == .push)
        #expect(push.flag == 0x07)
        #expect(push.routeCode == server.server.dictionary.code(for: "onChat"))
        #expect(push.bodyString == #"{"route":"onChat","msg":"hi"}"#)
        #expect((try client.expectResponse(id: 1)["code"] as? Int) == 200)
        // A route outside the dictionary goes as a string.
        try client.request(route: "connector.testHandler.push", id: 2, body: #"{"route":"onOther"}"#)
        let other = try client.readMessage()
        #expect(other.flag == 0x06 && other.route == "onOther")
    }

    @Test(arguments: transports)
    func requestDeliveredOneBytePerRead(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.connect(kind, port: server.port)
        let handshake = PomeloWire.encodePackage(type: PomeloPackageType.handshake, body: PomeloTestClient.handshakeBody())
        let ack = PomeloWire.encodePackage(type: PomeloPackageType.handshakeAck, body: [])
        let request = PomeloWire.encodePackage(type: PomeloPackageType.data, body: PomeloWire.encodeMessage(
            type: .request, id: 5, route: .name("connector.entryHandler.entry"), body: Array("{}".utf8)))
        switch client.transport {
        case .tcp(let socket):
            try socket.sendByteByByte(handshake + ack + request, pause: 500)
        case .websocket(let ws):
            let frames = WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: handshake)
                + WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: ack + request)
            try ws.sendRawByteByByte(frames, pause: 500)
        }
        #expect(try client.readPackage().type == PomeloPackageType.handshake)
        #expect(try client.readPackage().type == PomeloPackageType.heartbeat)
        #expect((try client.expectResponse(id: 5)["msg"] as? String) == "game server is ok.")
    }

    @Test(arguments: transports)
    func oversizePackageClosesTheConnection(_ kind: TransportKind) throws {
        let server = try TestServer { $0.maxPackageBytes = 1024 }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let body = PomeloWire.encodeMessage(type: .request, id: 1, route: .name("connector.testHandler.echo"),
                                            body: Array(repeating: UInt8(ascii: " "), count: 2000))
        try client.sendPackage(type: PomeloPackageType.data, body: body)
        switch client.transport {
        case .websocket(let ws): #expect(try ws.readClose().code == 1009)
        case .tcp: try client.expectKicked(reason: "package too large")
        }
        #expect(client.waitForClose())
        #expect(server.counter(.oversizePackages) == 1)
    }

    @Test(arguments: transports)
    func largeResponsesArriveWhole(_ kind: TransportKind) throws {
        let server = try TestServer { $0.maxMessageBytes = 1 << 20 }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        // Larger than a write chunk and than the socket buffer.
        try client.request(route: "connector.testHandler.big", id: 1, body: #"{"size":600000}"#)
        let reply = try client.expectResponse(id: 1, timeout: 10)
        #expect((reply["data"] as? String)?.count == 600_000)
    }

    @Test(arguments: transports)
    func slowConsumerIsClosedAtItsBound(_ kind: TransportKind) throws {
        let server = try TestServer {
            $0.maxMessageBytes = 1 << 20
            $0.maxPendingBytes = 64 * 1024
        }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        // The client stops reading; the server's unsent bytes pass the bound.
        for id in 1...300 {
            // The server may close while we are still sending.
            do { try client.request(route: "connector.testHandler.big", id: id, body: #"{"size":60000}"#) } catch { break }
        }
        #expect(server.waitFor(.slowConsumerCloses, atLeast: 1, timeout: 10))
        #expect(client.waitForClose(timeout: 10))
    }

    @Test func countersPrintTheirNames() throws {
        let server = try TestServer()
        let names = server.server.counters().keys.map { "\($0)" }
        #expect(names.contains("unknownRoutes"))
        #expect(names.count == GatewayCounter.allCases.count)
    }

    @Test func manyClientsOnSeveralLoops() throws {
        let server = try TestServer(threads: 2)
        var clients: [PomeloTestClient] = []
        for i in 0..<20 {
            clients.append(try PomeloTestClient.ready(i % 2 == 0 ? .tcp : .websocket, port: server.port))
        }
        for (i, c) in clients.enumerated() { try c.request(route: "connector.entryHandler.entry", id: i + 1) }
        for (i, c) in clients.enumerated() { #expect((try c.expectResponse(id: i + 1)["code"] as? Int) == 200) }
        #expect(server.counter(.connectionsAccepted) == 20)
    }
}

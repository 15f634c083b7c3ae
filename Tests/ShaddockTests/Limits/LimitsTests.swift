import Foundation
import Shaddock
import Testing

/// Every limit over real sockets: what the client gets and what is counted.
@Suite struct LimitsTests {
    static let transports = TransportKind.allCases

    // MARK: deadlines

    @Test func silentConnectionIsClosedAtTheFirstByteDeadline() throws {
        let server = try TestServer { $0.firstByteTimeoutSeconds = 0.2 }
        let socket = try TestSocket(port: server.port)
        #expect(socket.waitForClose(timeout: 3))
        #expect(server.waitFor(.firstByteTimeouts, atLeast: 1))
        #expect(server.counter(.handshakeTimeouts) == 0)
    }

    @Test func unfinishedRequestHeadGets408() throws {
        let server = try TestServer { $0.requestHeadTimeoutSeconds = 0.3 }
        let socket = try TestSocket(port: server.port)
        // A slow sender: the head never ends.
        try socket.send(Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8))
        let head = try WebSocketTestClient.readResponseHead(from: socket)
        #expect(head.statusCode == 408)
        #expect(socket.waitForClose(timeout: 3))
        #expect(server.counter(.requestHeadTimeouts) == 1)
    }

    /// Upgraded (or TCP) but no Pomelo handshake: closed with 1008 over
    /// WebSocket when the handshake deadline passes.
    @Test(arguments: transports)
    func missingPomeloHandshakeCloses1008(_ kind: TransportKind) throws {
        let server = try TestServer { $0.handshakeTimeoutSeconds = 0.3 }
        let client = try PomeloTestClient.connect(kind, port: server.port)
        if case .tcp = client.transport {
            // A first byte that is not yet a whole package decides the transport.
            try client.sendRaw([PomeloPackageType.handshake])
        }
        if case .websocket(let ws) = client.transport { #expect(try ws.readClose().code == 1008) }
        #expect(client.waitForClose(timeout: 3))
        #expect(server.waitFor(.handshakeTimeouts, atLeast: 1))
        #expect(server.counter(.firstByteTimeouts) == 0)
    }

    // MARK: sizes

    /// Frames and messages have limits of their own: a fragmented message
    /// may be larger than a frame, and no message larger than its limit.
    @Test func framesAndMessagesHaveTheirOwnLimits() throws {
        let server = try TestServer(mode: .echo) { $0.maxFrameBytes = 1024; $0.maxMessageBytes = 4096 }
        let piece = [UInt8](repeating: 7, count: 1000)

        let (fragmented, _) = try WebSocketTestClient.connect(port: server.port)
        try fragmented.sendFrame(opcode: 0x2, payload: piece, fin: false)
        try fragmented.sendFrame(opcode: 0x0, payload: piece, fin: false)
        try fragmented.sendFrame(opcode: 0x0, payload: piece)
        #expect(try fragmented.readMessage().payload == piece + piece + piece)

        let (bigFrame, _) = try WebSocketTestClient.connect(port: server.port)
        try bigFrame.sendFrame(opcode: 0x2, payload: piece + piece)
        #expect(try bigFrame.readClose().code == 1009)
        #expect(server.waitFor(.oversizeFrames, atLeast: 1))

        let (bigMessage, _) = try WebSocketTestClient.connect(port: server.port)
        try bigMessage.sendFrame(opcode: 0x2, payload: piece, fin: false)
        for _ in 0..<3 { try bigMessage.sendFrame(opcode: 0x0, payload: piece, fin: false) }
        try bigMessage.sendFrame(opcode: 0x0, payload: piece)
        #expect(try bigMessage.readClose().code == 1009)
        #expect(server.waitFor(.oversizeMessages, atLeast: 1))
        #expect(server.counter(.oversizeFrames) == 1)
    }

    // MARK: connections per address

    @Test func connectionsPerAddressAreBounded() throws {
        let server = try TestServer { $0.maxConnectionsPerAddress = 2 }
        let first = try PomeloTestClient.ready(.tcp, port: server.port)
        let second = try PomeloTestClient.ready(.websocket, port: server.port)
        // The third is closed before a byte is read: no upgrade, no handshake.
        let third = try TestSocket(port: server.port)
        #expect(third.waitForClose(timeout: 3))
        #expect(server.counter(.addressLimitRefused) == 1)
        // A slot freed is a slot for the next one.
        first.close()
        #expect(eventually { server.server.transportStats().open == 1 })
        let fourth = try PomeloTestClient.ready(.tcp, port: server.port)
        try fourth.request(route: "connector.entryHandler.entry", id: 1)
        #expect(try fourth.expectResponse(id: 1)["code"] as? Int == 200)
        try second.request(route: "connector.entryHandler.entry", id: 1)
        #expect(try second.expectResponse(id: 1)["code"] as? Int == 200)
    }

    // MARK: request rate

    static func burst(_ n: Int, from id: Int = 1, notify: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        for i in id..<(id + n) {
            let message = PomeloWire.encodeMessage(type: notify ? .notify : .request, id: notify ? nil : i,
                                                   route: .name("connector.entryHandler.entry"), body: Array("{}".utf8))
            bytes += PomeloWire.encodePackage(type: PomeloPackageType.data, body: message)
        }
        return bytes
    }

    /// One read holds the whole burst, so the bucket sees one instant: the
    /// outcome does not depend on the machine's speed.
    @Test(arguments: transports)
    func overTheRateRequestsGet429AndAbusersAreKicked(_ kind: TransportKind) throws {
        let server = try TestServer { $0.requestRate = RequestRateLimit(perSecond: 1, burst: 3, kickAfter: 2) }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.sendRaw(Self.burst(6))
        for id in 1...3 { #expect(try client.expectResponse(id: id)["code"] as? Int == 200) }
        for id in 4...5 { #expect(try client.expectResponse(id: id)["code"] as? Int == 429) }
        // A third refusal within the second is one too many: answered, then kicked.
        #expect(try client.expectResponse(id: 6)["code"] as? Int == 429)
        try client.expectKicked(reason: "request rate")
        #expect(server.counter(.rateLimited) == 3)
        #expect(server.counter(.rateLimitKicks) == 1)
    }

    @Test func notifiesOverTheRateAreDroppedAndTheBucketRefills() throws {
        let server = try TestServer { $0.requestRate = RequestRateLimit(perSecond: 20, burst: 1, kickAfter: 100) }
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.sendRaw(Self.burst(3, notify: true) + Self.burst(1, from: 1))
        // The first notify took the token: the rest, and the request, are refused.
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 429)
        #expect(server.counter(.rateLimited) == 3)
        #expect(server.counter(.notifies) == 3)
        // 20 a second: a token is back after 50 ms.
        usleep(200_000)
        try client.request(route: "connector.entryHandler.entry", id: 2)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 200)
    }
}

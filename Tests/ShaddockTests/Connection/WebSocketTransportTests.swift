import Foundation
import Shaddock
import Testing

/// RFC 6455 on the Pomelo port and in echo mode: the upgrade, frame rules,
/// control frames and the close handshake.
@Suite struct WebSocketTransportTests {
    func pomeloSocket(_ server: TestServer) throws -> WebSocketTestClient {
        let (ws, head) = try WebSocketTestClient.connect(port: server.port)
        #expect(head.statusCode == 101)
        return ws
    }

    static func package(_ type: UInt8, _ body: [UInt8] = []) -> [UInt8] {
        PomeloWire.encodePackage(type: type, body: body)
    }

    @Test func upgradeHeadBytesAreNotLost() throws {
        let server = try TestServer()
        let socket = try TestSocket(port: server.port)
        // The request and the first frames in one write.
        let key = WebSocketTestClient.randomKey()
        let hs = Self.package(1, PomeloTestClient.handshakeBody())
        let bytes = Array(WebSocketTestClient.upgradeRequest(host: "127.0.0.1:\(server.port)", key: key).utf8)
            + WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: hs)
            + WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: Self.package(2))
        try socket.send(bytes)
        let head = try WebSocketTestClient.readResponseHead(from: socket)
        #expect(head.statusCode == 101)
        try WebSocketTestClient.verifyAcceptance(head, key: key)
        let client = PomeloTestClient(transport: .websocket(WebSocketTestClient(socket: socket)))
        #expect(try client.readPackage().type == PomeloPackageType.handshake)
        #expect(try client.readPackage().type == PomeloPackageType.heartbeat)
    }

    @Test func twoPackagesInOneFrame() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.websocket, port: server.port)
        let r1 = PomeloWire.encodeMessage(type: .request, id: 1, route: .name("connector.entryHandler.entry"), body: Array("{}".utf8))
        let r2 = PomeloWire.encodeMessage(type: .request, id: 2, route: .name("connector.entryHandler.entry"), body: Array("{}".utf8))
        try client.sendPackages([(PomeloPackageType.data, r1), (PomeloPackageType.data, r2)])
        #expect((try client.expectResponse(id: 1)["code"] as? Int) == 200)
        #expect((try client.expectResponse(id: 2)["code"] as? Int) == 200)
    }

    @Test func fragmentedMessageWithInterleavedPing() throws {
        let server = try TestServer()
        let ws = try pomeloSocket(server)
        let bytes = Self.package(1, PomeloTestClient.handshakeBody()) + Self.package(2)
        try ws.sendFrame(opcode: 0x2, payload: Array(bytes[..<5]), fin: false)
        try ws.sendFrame(opcode: 0x9, payload: Array("p".utf8))
        try ws.sendFrame(opcode: 0x0, payload: Array(bytes[5..<20]), fin: false)
        try ws.sendFrame(opcode: 0x0, payload: Array(bytes[20...]), fin: true)
        let pong = try ws.readFrame()
        #expect(pong.opcode == 0xA && pong.payload == Array("p".utf8))
        let client = PomeloTestClient(transport: .websocket(ws))
        #expect(try client.readPackage().type == PomeloPackageType.handshake)
        #expect(try client.readPackage().type == PomeloPackageType.heartbeat)
    }

    @Test func pingIsAnsweredWithPong() throws {
        let server = try TestServer()
        let ws = try pomeloSocket(server)
        try ws.sendPing(Array("hello".utf8))
        let pong = try ws.readFrame()
        #expect(pong.opcode == 0xA)
        #expect(pong.payload == Array("hello".utf8))
    }

    @Test func closeHandshakeEchoesTheCode() throws {
        let server = try TestServer()
        let ws = try pomeloSocket(server)
        try ws.sendClose(code: 1001, reason: "leaving")
        #expect(try ws.readClose().code == 1001)
        #expect(ws.waitForClose())
        // An empty close is answered with 1000.
        let ws2 = try pomeloSocket(server)
        try ws2.sendClose(code: nil)
        #expect(try ws2.readClose().code == 1000)
    }

    @Test(arguments: [
        ("unmasked frame", WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: [1, 2], masked: false), UInt16(1002)),
        ("reserved bits", WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: [1], rsv: 0x4), UInt16(1002)),
        ("unknown opcode", WebSocketTestClient.rawFrameBytes(opcode: 0x3, payload: []), UInt16(1002)),
        ("fragmented ping", WebSocketTestClient.rawFrameBytes(opcode: 0x9, payload: [], fin: false), UInt16(1002)),
        ("long ping", WebSocketTestClient.rawFrameBytes(opcode: 0x9, payload: [UInt8](repeating: 0, count: 126)), UInt16(1002)),
        ("stray continuation", WebSocketTestClient.rawFrameBytes(opcode: 0x0, payload: [1]), UInt16(1002)),
        ("text on the Pomelo port", WebSocketTestClient.rawFrameBytes(opcode: 0x1, payload: Array("hi".utf8)), UInt16(1003)),
        ("bad close code", WebSocketTestClient.rawFrameBytes(opcode: 0x8, payload: [0x03, 0xED]), UInt16(1002)),
        ("truncated package", WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: [4, 0, 0, 9, 1]), UInt16(1002)),
        ("bad package type", WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: [9, 0, 0, 0]), UInt16(1002)),
    ])
    func badFramesCloseWithTheRightCode(_ name: String, _ frame: [UInt8], _ code: UInt16) throws {
        let server = try TestServer()
        let ws = try pomeloSocket(server)
        try ws.sendRaw(frame)
        let close = try ws.readClose()
        #expect(close.code == code, "\(name)")
        #expect(ws.waitForClose(), "\(name)")
    }

    @Test func messageOverTheLimitCloses1009BeforeItArrives() throws {
        let server = try TestServer { $0.maxMessageBytes = 1000 }
        let ws = try pomeloSocket(server)
        // Only the header of a 1 MB frame is sent: the limit is checked on it.
        let frame = WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: [UInt8](repeating: 0, count: 1 << 20))
        try ws.sendRaw(Array(frame[..<14]))
        #expect(try ws.readClose().code == 1009)
    }

    @Test func fragmentsOverTheLimitClose1009() throws {
        let server = try TestServer { $0.maxMessageBytes = 1000 }
        let ws = try pomeloSocket(server)
        try ws.sendFrame(opcode: 0x2, payload: [UInt8](repeating: 4, count: 600), fin: false)
        try ws.sendFrame(opcode: 0x0, payload: [UInt8](repeating: 0, count: 600), fin: true)
        #expect(try ws.readClose().code == 1009)
    }

    @Test func echoServerEchoesBinaryAndValidText() throws {
        let server = try TestServer(mode: .echo) { $0.maxMessageBytes = 1 << 20 }
        let (ws, head) = try WebSocketTestClient.connect(port: server.port)
        #expect(head.statusCode == 101)
        try ws.sendBinary([0, 1, 2, 255])
        #expect(try ws.readMessage() == WSMessage(opcode: 0x2, payload: [0, 1, 2, 255]))
        try ws.sendText("héllo ✓")
        #expect(try ws.readMessage().text == "héllo ✓")
        let big = [UInt8](repeating: 7, count: 70_000)
        try ws.sendFrame(opcode: 0x2, payload: Array(big[..<30_000]), fin: false)
        try ws.sendFrame(opcode: 0x0, payload: Array(big[30_000...]), fin: true)
        #expect(try ws.readMessage(timeout: 5).payload == big)
        try ws.sendFrame(opcode: 0x1, payload: [0xC0, 0x80])
        #expect(try ws.readClose().code == 1007)
    }

    @Test func echoServerFailsInvalidTextInTheFragmentThatHoldsIt() throws {
        let server = try TestServer(mode: .echo)
        let (ws, _) = try WebSocketTestClient.connect(port: server.port)
        // U+110000 in the second fragment; the message never ends.
        try ws.sendFrame(opcode: 0x1, payload: Array("κόσμε".utf8), fin: false)
        try ws.sendFrame(opcode: 0x0, payload: [0xF4, 0x90, 0x80, 0x80], fin: false)
        #expect(try ws.readClose().code == 1007)
        // A code point whose first byte ends a fragment: refused with the next.
        let (ws2, _) = try WebSocketTestClient.connect(port: server.port)
        try ws2.sendFrame(opcode: 0x1, payload: Array("κόσμε".utf8) + [0xF4], fin: false)
        try ws2.sendFrame(opcode: 0x0, payload: [0x90], fin: false)
        #expect(try ws2.readClose().code == 1007)
        // A message that ends inside a character.
        let (ws3, _) = try WebSocketTestClient.connect(port: server.port)
        try ws3.sendFrame(opcode: 0x1, payload: [0x61, 0xE2], fin: false)
        try ws3.sendFrame(opcode: 0x0, payload: [0x82], fin: true)
        #expect(try ws3.readClose().code == 1007)
    }

    @Test func echoServerJoinsACharacterSplitAcrossFragments() throws {
        let server = try TestServer(mode: .echo)
        let (ws, _) = try WebSocketTestClient.connect(port: server.port)
        let text = Array("a😀b€".utf8)
        try ws.sendFrame(opcode: 0x1, payload: Array(text[..<2]), fin: false)
        try ws.sendPing([1])
        try ws.sendFrame(opcode: 0x0, payload: Array(text[2..<4]), fin: false)
        try ws.sendFrame(opcode: 0x0, payload: [], fin: false)
        try ws.sendFrame(opcode: 0x0, payload: Array(text[4..<7]), fin: false)
        try ws.sendFrame(opcode: 0x0, payload: Array(text[7...]), fin: true)
        #expect(try ws.readFrame().opcode == 0xA)
        #expect(try ws.readMessage().text == "a😀b€")
    }

    /// The echo of an echo server's largest message fits in what a connection
    /// may leave unsent (Autobahn's case 9 sends up to 16 MiB).
    @Test func echoServerTakesMessagesPastThePendingBound() throws {
        var config = GatewayConfiguration()
        config.maxMessageBytes = 16 << 20
        #expect(try Server.echo(configuration: config).configuration.maxPendingBytes >= (16 << 20) + 10)

        let server = try TestServer(mode: .echo) {
            $0.maxMessageBytes = 3 << 20
            $0.maxFrameBytes = 3 << 20
            $0.maxPendingBytes = 1 << 20
        }
        let (ws, _) = try WebSocketTestClient.connect(port: server.port)
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try ws.sendBinary(big)
        #expect(try ws.readMessage(timeout: 10).payload == big)
        #expect(server.counter(.slowConsumerCloses) == 0)
    }

    @Test func echoServerRefusesRawTCP() throws {
        let server = try TestServer(mode: .echo)
        let socket = try TestSocket(port: server.port)
        try socket.send(Self.package(1, PomeloTestClient.handshakeBody()))
        #expect(socket.waitForClose(timeout: 3))
        #expect(server.counter(.unknownTransport) == 1)
    }
}

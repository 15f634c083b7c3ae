import Foundation
import Shaddock
import Testing

/// What a request that is not an acceptable WebSocket upgrade gets.
@Suite struct HTTPUpgradeTests {
    static func request(_ lines: [String]) -> [UInt8] {
        Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    static let good = [
        "GET /ws HTTP/1.1", "Host: localhost", "Upgrade: websocket", "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
    ]

    func answer(_ bytes: [UInt8], server: TestServer) throws -> (HTTPResponseHead, TestSocket) {
        let socket = try TestSocket(port: server.port)
        try socket.send(bytes)
        return (try WebSocketTestClient.readResponseHead(from: socket), socket)
    }

    @Test func acceptsAGoodRequestWithTheRFCAcceptKey() throws {
        let server = try TestServer()
        let (head, _) = try answer(Self.request(Self.good), server: server)
        #expect(head.statusCode == 101)
        #expect(head.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test(arguments: [
        ("missing key", good.filter { !$0.hasPrefix("Sec-WebSocket-Key") }, 400),
        ("bad key", good.map { $0.hasPrefix("Sec-WebSocket-Key") ? "Sec-WebSocket-Key: short" : $0 }, 400),
        ("no upgrade", good.filter { !$0.hasPrefix("Upgrade") }, 400),
        ("no connection", good.filter { !$0.hasPrefix("Connection") }, 400),
        ("no host", good.filter { !$0.hasPrefix("Host") }, 400),
        ("HTTP/1.0", ["GET / HTTP/1.0"] + good.dropFirst(), 400),
        ("header without colon", good + ["Broken header"], 400),
        ("POST", ["POST / HTTP/1.1"] + good.dropFirst(), 405),
        ("version 8", good.map { $0.hasPrefix("Sec-WebSocket-Version") ? "Sec-WebSocket-Version: 8" : $0 }, 426),
        ("no version", good.filter { !$0.hasPrefix("Sec-WebSocket-Version") }, 426),
    ])
    func refusals(_ name: String, _ lines: [String], _ status: Int) throws {
        let server = try TestServer()
        let (head, socket) = try answer(Self.request(lines), server: server)
        #expect(head.statusCode == status, "\(name)")
        if status == 426 { #expect(head.headers["sec-websocket-version"] == "13") }
        #expect(socket.waitForClose(timeout: 3), "\(name)")
        #expect(server.counter(.httpRejected) == 1)
    }

    @Test func oversizeHeadGets431() throws {
        let server = try TestServer { $0.maxRequestHeadBytes = 1024 }
        let lines = Self.good + ["X-Filler: " + String(repeating: "a", count: 2000)]
        let (head, socket) = try answer(Self.request(lines), server: server)
        #expect(head.statusCode == 431)
        #expect(socket.waitForClose(timeout: 3))
    }

    @Test func requestOneBytePerRead() throws {
        let server = try TestServer()
        let socket = try TestSocket(port: server.port)
        try socket.sendByteByByte(Self.request(Self.good), pause: 300)
        #expect(try WebSocketTestClient.readResponseHead(from: socket).statusCode == 101)
    }

    @Test func garbageFirstByteIsClosed() throws {
        let server = try TestServer()
        let socket = try TestSocket(port: server.port)
        try socket.send([0x16, 0x03, 0x01, 0x00])  // a TLS ClientHello on the plain port
        #expect(socket.waitForClose(timeout: 3))
        #expect(server.counter(.unknownTransport) == 1)
    }
}

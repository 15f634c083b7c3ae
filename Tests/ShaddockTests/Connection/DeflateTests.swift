import Foundation
import ShaddockExample
import ShaddockProtocol
@testable import Shaddock
import Testing

/// permessage-deflate over real sockets (docs/compression.md): what the
/// upgrade agrees on, messages compressed both ways above the threshold,
/// a channel push compressed once for all its receivers, inflating bounded
/// and checked, and client context takeover within its bound.
@Suite struct DeflateTests {
    static func server(mode: TestServer.Mode = .pomelo, threshold: Int = 64,
                       configure: @escaping (inout GatewayConfiguration) -> Void = { _ in }) throws -> TestServer {
        try TestServer(mode: mode) {
            $0.compression.deflate = true
            $0.compression.threshold = threshold
            configure(&$0)
        }
    }

    static func echoClient(_ server: TestServer, offer: String = "permessage-deflate; client_max_window_bits")
        throws -> (WebSocketTestClient, [String]?) {
        let (ws, head) = try WebSocketTestClient.connect(port: server.port, extraHeaders: [("Sec-WebSocket-Extensions", offer)])
        return (ws, try ws.agreeDeflate(head))
    }

    static let longText = String(repeating: "a chat line that says the same thing again; ", count: 20)

    @Test func requestsAndResponsesAreCompressedAboveTheThreshold() throws {
        let server = try Self.server()
        let (client, agreed) = try PomeloTestClient.websocketDeflate(port: server.port)
        #expect(agreed == ["server_no_context_takeover", "client_no_context_takeover"])
        _ = try client.connectAndHandshake()
        guard case .websocket(let ws) = client.transport else { return }
        let before = ws.compressedMessagesReceived
        try client.request(route: "connector.testHandler.echo", id: 1, body: #"{"text":"\#(Self.longText)"}"#)
        #expect(try client.expectResponse(id: 1)["text"] as? String == Self.longText)
        #expect(ws.compressedMessagesReceived == before + 1)
        // A small answer goes as it is (RSV1 clear).
        try client.request(route: "connector.testHandler.echo", id: 2, body: #"{"n":2}"#)
        #expect(try client.expectResponse(id: 2)["n"] as? Int == 2)
        #expect(ws.compressedMessagesReceived == before + 1)
        // A push for this session alone, and many in one flush.
        try client.request(route: "connector.testHandler.push", id: 3, body: #"{"route":"onChat","text":"\#(Self.longText)"}"#)
        #expect(try client.readMessage().bodyJSON()["text"] as? String == Self.longText)
        #expect(try client.expectResponse(id: 3)["code"] as? Int == 200)
        #expect(ws.compressedMessagesReceived == before + 2)
        #expect(server.counter(.deflateMessagesIn) >= 3)
        #expect(server.counter(.deflateMessagesOut) >= 2)
        #expect(server.counter(.compressedBytesOut) < server.counter(.uncompressedBytesOut) / 4)
        #expect(server.counter(.badDeflateMessages) == 0)
    }

    /// Pushes flushed together are one compressed message, as plain ones are
    /// one binary message: pieces compressed alone, joined by their sync
    /// flushes, which the client inflates as one stream.
    @Test func pushesFlushedTogetherShareOneCompressedMessage() throws {
        let server = try Self.server()
        let (client, _) = try PomeloTestClient.websocketDeflate(port: server.port)
        _ = try client.connectAndHandshake()
        guard case .websocket(let ws) = client.transport else { return }
        let before = ws.compressedMessagesReceived
        // Five notifies in one message: five pushes staged in one loop turn.
        let notifies = (0..<5).map { i in
            (PomeloPackageType.data, PomeloWire.encodeMessage(type: .notify, route: .name("connector.testHandler.push"),
                                                             body: Array(#"{"route":"onChat","n":\#(i),"text":"\#(Self.longText)"}"#.utf8)))
        }
        try client.sendPackages(notifies)
        for i in 0..<5 {
            let push = try client.readMessage().bodyJSON()
            #expect(push["n"] as? Int == i && push["text"] as? String == Self.longText)
        }
        #expect(ws.compressedMessagesReceived == before + 1)
        #expect(client.mostPackagesInOneMessage == 5)
        // A plain package after compressed ones goes in a message of its own.
        try client.request(route: "connector.testHandler.echo", id: 9, body: #"{"n":9}"#)
        #expect(try client.expectResponse(id: 9)["n"] as? Int == 9)
    }

    @Test func withoutTheOptionTheOfferIsDeclinedAndRSV1Refused() throws {
        let server = try TestServer()
        let (ws, head) = try WebSocketTestClient.connect(port: server.port,
                                                         extraHeaders: [("Sec-WebSocket-Extensions", "permessage-deflate")])
        #expect(head.statusCode == 101 && head["sec-websocket-extensions"] == nil)
        try ws.sendFrame(opcode: WSOpcode.binary, payload: [0x01, 0x00, 0x00, 0x00], rsv: 4)
        #expect(try ws.readClose().code == 1002)
    }

    /// Every member's copy of a channel push is the same compressed frame,
    /// compressed once on the loop; a member without deflate gets it plain.
    @Test(arguments: [1, 2])
    func aChannelPushIsCompressedOncePerLoop(threads: Int) throws {
        let server = try Self.server { $0.threads = threads }
        var compressed: [PomeloTestClient] = []
        for _ in 0..<12 { compressed.append(try PomeloTestClient.websocketDeflate(port: server.port).client) }
        let plain = try PomeloTestClient.websocket(port: server.port)
        let everyone = compressed + [plain]
        for (i, c) in everyone.enumerated() {
            _ = try c.connectAndHandshake()
            try c.request(route: "connector.entryHandler.login", id: 1, body: #"{"uid":"u\#(i)","rid":"room"}"#)
            #expect(try c.expectResponse(id: 1)["code"] as? Int == 200)
        }
        // The onAdd pushes of the logins have been read or are queued; wait
        // for the counter to settle, then one chat push.
        Thread.sleep(forTimeInterval: 0.2)
        let before = server.counter(.deflateMessagesOut)
        try plain.request(route: "chat.chatHandler.send", id: 2, body: #"{"content":"\#(Self.longText)","target":"*"}"#)
        for c in everyone {
            var got = false
            while !got {
                let m = try c.readMessage()
                got = try m.bodyJSON()["msg"] as? String == Self.longText
            }
        }
        #expect(try plain.expectResponse(id: 2)["code"] as? Int == 200)
        // Once per loop holding members (over two loops, a push encoded once
        // for the server is compressed once on each).
        #expect((1...UInt64(threads)).contains(server.counter(.deflateMessagesOut) - before))
        for c in compressed {
            guard case .websocket(let ws) = c.transport else { continue }
            #expect(ws.compressedMessagesReceived >= 1)
        }
    }

    @Test func inflatingIsBoundedAndChecked() throws {
        let server = try Self.server(mode: .echo) { $0.maxMessageBytes = 4096; $0.maxFrameBytes = 4096 }
        // A zip bomb: 1 MiB of zeros in about 1 KB, closed at 4096 bytes out.
        var (ws, _) = try Self.echoClient(server)
        try ws.sendBinary([UInt8](repeating: 0, count: 1 << 20))
        #expect(try ws.readClose().code == 1009)
        #expect(server.counter(.oversizeMessages) == 1)
        // Not a DEFLATE stream.
        (ws, _) = try Self.echoClient(server)
        try ws.sendFrame(opcode: WSOpcode.binary, payload: [0xFF, 0xFF, 0xFF, 0xFF], rsv: 4)
        #expect(try ws.readClose().code == 1007)
        #expect(server.counter(.badDeflateMessages) == 1)
        // Text that is not UTF-8 once inflated.
        (ws, _) = try Self.echoClient(server)
        try ws.sendFrame(opcode: WSOpcode.text, payload: TestDeflate().compress([0x61, 0xC3, 0x28, 0x62]), rsv: 4)
        #expect(try ws.readClose().code == 1007)
        // RSV1 on a control frame and on a continuation frame.
        (ws, _) = try Self.echoClient(server)
        try ws.sendFrame(opcode: WSOpcode.ping, payload: [1], rsv: 4)
        #expect(try ws.readClose().code == 1002)
        (ws, _) = try Self.echoClient(server)
        try ws.sendFrame(opcode: WSOpcode.binary, payload: [0x01], fin: false)
        try ws.sendFrame(opcode: WSOpcode.continuation, payload: [0x01], rsv: 4)
        #expect(try ws.readClose().code == 1002)
    }

    @Test func echoesCompressedFragmentedAndPlainMessages() throws {
        let server = try Self.server(mode: .echo)
        let (ws, agreed) = try Self.echoClient(server, offer: "permessage-deflate; server_max_window_bits=10")
        #expect(agreed == ["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits=10"])
        try ws.sendText(Self.longText)
        #expect(try ws.readMessage().text == Self.longText)
        // Fragmented: the compressed payload in three frames, RSV1 on the
        // first; a ping between them.
        let packed = TestDeflate().compress(Array(Self.longText.utf8))
        let third = packed.count / 3
        try ws.sendFrame(opcode: WSOpcode.text, payload: Array(packed[..<third]), fin: false, rsv: 4)
        try ws.sendFrame(opcode: WSOpcode.continuation, payload: Array(packed[third..<2 * third]), fin: false)
        try ws.sendPing([7])
        try ws.sendFrame(opcode: WSOpcode.continuation, payload: Array(packed[(2 * third)...]))
        #expect(try ws.readMessage().opcode == WSOpcode.pong)
        #expect(try ws.readMessage().text == Self.longText)
        // An uncompressed message on the same connection.
        try ws.sendFrame(opcode: WSOpcode.binary, payload: [1, 2, 3])
        #expect(try ws.readMessage().payload == [1, 2, 3])
        #expect(ws.compressedMessagesReceived == 2)
        #expect(server.counter(.deflateMessagesIn) == 2)
    }

    /// Client context takeover: granted while the loop holds fewer than
    /// maxTakeoverSessions such connections, with the configured window.
    @Test func clientTakeoverIsGrantedWithinItsBound() throws {
        let server = try Self.server(mode: .echo) {
            $0.compression.clientTakeoverWindowBits = 10
            $0.compression.maxTakeoverSessions = 1
        }
        let (first, agreed) = try Self.echoClient(server)
        #expect(agreed == ["server_no_context_takeover", "client_max_window_bits=10"])
        #expect(first.deflater?.keepsContext == true)
        // The client's second and third messages refer back to the first.
        for _ in 0..<3 {
            try first.sendText(Self.longText)
            #expect(try first.readMessage().text == Self.longText)
        }
        let (second, refused) = try Self.echoClient(server)
        #expect(refused == ["server_no_context_takeover", "client_no_context_takeover"])
        try second.sendText(Self.longText)
        #expect(try second.readMessage().text == Self.longText)
        #expect(server.counter(.takeoverGranted) == 1 && server.counter(.takeoverRefused) == 1)
        // Its stream is given back at close.
        try first.sendClose()
        _ = try first.readClose()
        #expect(server.waitFor(.websocketClosed, atLeast: 1))
        let (third, granted) = try Self.echoClient(server)
        #expect(granted == ["server_no_context_takeover", "client_max_window_bits=10"])
        try third.sendText(Self.longText)
        #expect(try third.readMessage().text == Self.longText)
    }

    /// A browser-style client (Node's built-in WebSocket, which offers
    /// permessage-deflate as browsers do) asking for a subprotocol: the
    /// chat example over wss:// and ws://, its pushes compressed.
    @Test(.enabled(if: TLSTests.nodeWebSocket, "needs Node 20 or later (its built-in WebSocket)"))
    func aBrowserStyleClientChatsWithCompressedFrames() throws {
        let files = try TLSTestFiles.get()
        let server = try TestServer(app: ExampleApp.make()) {
            $0.tls = TLSTests.tls(files)
            $0.compression.deflate = true
        }
        let script = repositoryRoot.appendingPathComponent("Tests/ShaddockTests/Clients/wss_chat.mjs").path
        let (status, output) = try UnmodifiedClientTests.run("/usr/bin/env", [
            "NODE_EXTRA_CA_CERTS=\(files.ca)", "node", "--experimental-websocket", script, "\(server.port)",
            "pomelo,chat", Self.longText])
        #expect(status == 0, "\(output)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: Any]], "\(output)")
        for name in ["alice", "bob"] {
            let who = try #require(seen[name])
            #expect(who["protocol"] as? String == "pomelo")
            #expect((who["extensions"] as? String)?.hasPrefix("permessage-deflate") == true, "\(who)")
            let pushes = who["pushes"] as? [[String: Any]] ?? []
            let onChat = pushes.first { $0["route"] as? String == "onChat" }?["body"] as? [String: Any]
            #expect(onChat?["msg"] as? String == Self.longText, "\(pushes)")
        }
        // The chat push, compressed once for both; the handshake answers.
        #expect(server.counter(.deflateMessagesOut) >= 2)
        #expect(server.counter(.badDeflateMessages) == 0)
    }

    @Test func theConfigurationFileSetsCompression() throws {
        func load(_ section: String) throws(ConfigurationError) -> GatewayConfiguration {
            let json = #"{"connector": {"compression": "# + section
                + #"}, "development": {"connector": [{"id": "c1", "clientPort": 3010, "frontend": true}]}}"#
            return try GatewayConfiguration(file: try! JSON.parse(json), directory: "", environment: "development", serverID: nil)
        }
        let config = try load(#"{"deflate": true, "threshold": 128, "level": 6, "clientTakeover": 11, "maxTakeoverSessions": 50, "messageFlag": true}"#)
        #expect(config.compression == CompressionOptions(deflate: true, threshold: 128, level: 6, clientTakeoverWindowBits: 11,
                                                         maxTakeoverSessions: 50, messageFlag: true))
        #expect(try load(#"{"clientTakeover": false}"#).compression == CompressionOptions())
        for (bad, key) in [(#"{"level": 10}"#, "connector.compression.level"), (#"{"clientTakeover": 8}"#, "connector.compression.clientTakeover"),
                           (#"{"deflat": true}"#, "connector.compression.deflat"), (#"{"threshold": -1}"#, "connector.compression.threshold")] {
            do {
                _ = try load(bad)
                Issue.record("\(bad) accepted")
            } catch {
                #expect("\(error)".contains(key), "\(error)")
            }
        }
    }
}

import Foundation
import ShaddockProtocol
@testable import Shaddock
import Testing

/// Pomelo's gzip flag (message flag bit 4, pomelo-protocol 0.1.6) on client
/// messages: a zlib or a gzip body is inflated within maxMessageBytes and
/// handled as if it had come plain; a body that does not inflate is
/// answered 500 and counted, and the session goes on.
@Suite struct GzipFlagTests {
    static func deflated(_ text: String, windowBits: Int32) -> [UInt8] {
        deflateBody(Array(text.utf8), format: windowBits == 31 ? .gzip : .zlib)!
    }

    @Test(arguments: [TransportKind.websocket, .tcp])
    func zlibAndGzipBodiesReachTheHandler(_ kind: TransportKind) throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(kind, port: server.port)
        for (id, bits) in [(1, Int32(15)), (2, Int32(31))] {
            try client.sendMessage(type: .request, id: id, route: .name("connector.testHandler.echo"),
                                   body: Self.deflated(#"{"hello":"world","n":\#(id)}"#, windowBits: bits), gzip: true)
            let reply = try client.expectResponse(id: id)
            #expect(reply["hello"] as? String == "world" && reply["n"] as? Int == id, "\(reply)")
        }
        #expect(server.counter(.badGzipBodies) == 0)
    }

    @Test func badBodiesAnswer500AndTheSessionGoesOn() throws {
        let server = try TestServer { $0.maxMessageBytes = 4096 }
        let client = try PomeloTestClient.ready(.websocket, port: server.port)
        let route = PomeloRoute.name("connector.testHandler.echo")
        // Not compressed at all; a zip bomb past maxMessageBytes; truncated.
        let good = Self.deflated(#"{"a":1}"#, windowBits: 15)
        let bomb = Self.deflated("[" + String(repeating: "0,", count: 100_000) + "0]", windowBits: 31)
        for (id, body) in [(1, Array(#"{"a":1}"#.utf8)), (2, bomb), (3, Array(good.dropLast(2)))] {
            try client.sendMessage(type: .request, id: id, route: route, body: body, gzip: true)
            #expect(try client.expectResponse(id: id)["code"] as? Int == 500)
        }
        // A notify with a bad body has no answer; it is counted.
        try client.sendMessage(type: .notify, route: route, body: bomb, gzip: true)
        try client.sendMessage(type: .request, id: 4, route: route, body: good, gzip: true)
        #expect(try client.expectResponse(id: 4)["a"] as? Int == 1)
        #expect(server.counter(.badGzipBodies) == 4)
    }

    // MARK: toward clients (compression.messageFlag)

    static let longText = String(repeating: "the same words again and again, ", count: 12)

    @Test func bodiesToClientsWithoutDeflateAreFlaggedWhenConfigured() throws {
        let server = try TestServer {
            $0.compression.messageFlag = true
            $0.compression.deflate = true
            $0.compression.threshold = 64
        }
        let tcp = try PomeloTestClient.ready(.tcp, port: server.port)
        let plain = try PomeloTestClient.ready(.websocket, port: server.port)
        let (deflate, _) = try PomeloTestClient.websocketDeflate(port: server.port)
        _ = try deflate.connectAndHandshake()
        for client in [tcp, plain, deflate] {
            try client.request(route: "connector.testHandler.echo", id: 1, body: #"{"text":"\#(Self.longText)"}"#)
            let m = try client.readMessage()
            let text = try m.bodyJSON()["text"] as? String
            #expect(m.id == 1 && text == Self.longText)
            // Never on top of permessage-deflate.
            #expect(m.isGzipped == (client !== deflate), "\(client.kind)")
            // Small bodies go as they are.
            try client.request(route: "connector.testHandler.echo", id: 2, body: #"{"n":2}"#)
            let small = try client.readMessage()
            #expect(small.id == 2 && !small.isGzipped)
        }
        #expect(server.counter(.gzipFlagMessagesOut) == 2)
        #expect(server.counter(.compressedBytesOut) < server.counter(.uncompressedBytesOut))
    }

    @Test func aChannelPushIsGzippedOncePerLoop() throws {
        let server = try TestServer {
            $0.compression.messageFlag = true
            $0.compression.threshold = 64
        }
        let members = try (0..<6).map { i in
            let c = try PomeloTestClient.ready(i % 2 == 0 ? .tcp : .websocket, port: server.port)
            try c.request(route: "connector.entryHandler.login", id: 1, body: #"{"uid":"m\#(i)","rid":"flagged"}"#)
            #expect(try c.expectResponse(id: 1)["code"] as? Int == 200)
            return c
        }
        Thread.sleep(forTimeInterval: 0.2)
        let before = server.counter(.gzipFlagMessagesOut)
        try members[0].request(route: "chat.chatHandler.send", id: 2, body: #"{"content":"\#(Self.longText)","target":"*"}"#)
        for c in members {
            while true {
                let m = try c.readMessage()
                if try m.type == .push && m.bodyJSON()["msg"] as? String == Self.longText {
                    #expect(m.isGzipped)
                    break
                }
            }
        }
        #expect(server.counter(.gzipFlagMessagesOut) - before == 1)
    }

    @Test func offByDefault() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.request(route: "connector.testHandler.echo", id: 1, body: #"{"text":"\#(Self.longText)"}"#)
        #expect(try client.readMessage().isGzipped == false)
        #expect(server.counter(.gzipFlagMessagesOut) == 0)
    }
}

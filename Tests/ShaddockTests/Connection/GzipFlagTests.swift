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
}


import Foundation
@testable import Shaddock
import ShaddockProtocol
import Testing

/// The subprotocol a WebSocket client offered, answered as configured:
/// the first one by default (Pomelo's `ws` does so), one of a list, or
/// none; a browser-like client (Node's WebSocket) that asks for one
/// connects.
@Suite struct SubprotocolTests {
    static func answer(_ policy: SubprotocolPolicy?, offering: String?) throws -> String? {
        let server = try TestServer { if let policy { $0.subprotocols = policy } }
        let headers = offering.map { [("Sec-WebSocket-Protocol", $0)] } ?? []
        let (client, response) = try WebSocketTestClient.connect(port: server.port, extraHeaders: headers)
        #expect(response.statusCode == 101)
        // The session works either way.
        let pomelo = PomeloTestClient(transport: .websocket(client))
        _ = try pomelo.connectAndHandshake()
        return response["sec-websocket-protocol"]
    }

    @Test func theFirstOfferedByDefault() throws {
        #expect(try Self.answer(nil, offering: "pomelo, chat") == "pomelo")
        #expect(try Self.answer(nil, offering: nil) == nil)
    }

    @Test func oneOfAList() throws {
        #expect(try Self.answer(.only(["chat", "pomelo"]), offering: "v1.game, chat, pomelo") == "chat")
        #expect(try Self.answer(.only(["Pomelo"]), offering: "pomelo") == nil, "names are compared exactly")
    }

    @Test func none() throws {
        #expect(try Self.answer(SubprotocolPolicy.none, offering: "pomelo") == nil)
    }

    @Test func aBadListIsRefused() throws {
        let server = try TestServer()
        let (_, response) = try WebSocketTestClient.connect(port: server.port, extraHeaders: [("Sec-WebSocket-Protocol", "a,,b")])
        #expect(response.statusCode == 400)
    }

    @Test func theFileSection() throws {
        func read(_ value: JSONValue) throws -> SubprotocolPolicy {
            try GatewayConfiguration(file: ["connector": ["subprotocols": value]], directory: "",
                                     environment: "development", serverID: nil).subprotocols
        }
        #expect(try read("first-offered") == .firstOffered)
        #expect(try read("none") == SubprotocolPolicy.none)
        #expect(try read(["pomelo", "chat"]) == .only(["pomelo", "chat"]))
        #expect(throws: ConfigurationError.self) { try read("all") }
    }

    /// Node's WebSocket fails a connection whose answer names no protocol
    /// when it asked for one, as browsers do.
    @Test(.enabled(if: TLSTests.nodeWebSocket, "needs Node 20 or later (its built-in WebSocket)"))
    func aBrowserLikeClientThatAsksForOneConnects() throws {
        let server = try TestServer()
        let script = """
        const ws = new WebSocket('ws://127.0.0.1:\(server.port)/', ['pomelo', 'chat']);
        ws.onopen = () => { console.log('open ' + ws.protocol); ws.close(); };
        ws.onerror = () => { console.log('error'); process.exit(0); };
        setTimeout(() => { console.log('timeout'); process.exit(0); }, 5000);
        """
        let (status, output) = try UnmodifiedClientTests.run("/usr/bin/env", ["node", "--experimental-websocket", "-e", script])
        #expect(status == 0 && output.hasPrefix("open pomelo"), "\(output)")
    }
}

import Foundation
import Shaddock
import Testing

/// Replays the bytes recorded between real Pomelo clients and a real Pomelo
/// server (Tests/Vectors) against Shaddock serving the same dictionary with
/// a 3 s heartbeat: every reply determined by the client's bytes must come
/// out byte for byte, the chat demo's login, chat and kick included.
@Suite struct VectorsReplayTests {
    struct Vector: Decodable {
        let name: String
        let direction: String
        let transport: String
        let hex: String
        var bytes: [UInt8] {
            var out: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                out.append(UInt8(hex[i..<j], radix: 16)!)
                i = j
            }
            return out
        }
    }

    static let vectors: [String: Vector] = {
        let url = repositoryRoot.appendingPathComponent("Tests/Vectors/pomelo-wire.json")
        let list = try! JSONDecoder().decode([Vector].self, from: Data(contentsOf: url))
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }()

    static func v(_ name: String) -> [UInt8] { vectors[name]!.bytes }

    /// One exchange: what the client sends, and what must come back (nil:
    /// nothing).
    typealias Step = (send: String, expect: [String])

    /// Sends the client's bytes and reads exactly the recorded replies.
    func replay(_ steps: [Step], websocket: Bool) throws {
        let server = try TestServer(app: TestApp.chatDemo())
        let socket = try TestSocket(port: server.port)
        var ws: WebSocketTestClient?
        if websocket {
            let key = WebSocketTestClient.randomKey()
            try socket.send(Array(WebSocketTestClient.upgradeRequest(host: "127.0.0.1:\(server.port)", key: key).utf8))
            let head = try WebSocketTestClient.readResponseHead(from: socket)
            try WebSocketTestClient.verifyAcceptance(head, key: key)
            ws = WebSocketTestClient(socket: socket)
        }
        for step in steps {
            if let ws { try ws.sendBinary(Self.v(step.send)) } else { try socket.send(Self.v(step.send)) }
            for expected in step.expect {
                let want = Self.v(expected)
                let got = try ws.map { try $0.readFrame().payload } ?? socket.read(exactly: want.count)
                #expect(got == want, "\(step.send) → \(expected): got \(String(decoding: got, as: UTF8.self))")
            }
            if step.expect.isEmpty {
                #expect(throws: TestClientError.timeout) { _ = try socket.readSome(timeout: 0.2) }
            }
        }
    }

    @Test func pypomeloSession() throws {
        try replay([
            ("tcp.handshake_request", ["tcp.handshake_response"]),
            ("tcp.handshake_ack", ["tcp.heartbeat_s2c_after_ack"]),
            ("tcp.heartbeat_c2s", ["tcp.heartbeat_s2c_reply"]),
            ("tcp.request_entry_compressed_route", ["tcp.response_entry"]),
            ("tcp.request_entry_uncompressed_route", ["tcp.response_entry_2"]),
            ("tcp.notify_ping_compressed_route", []),
            ("tcp.request_login", ["tcp.response_login"]),
            // The push is sent before the response (Pomelo's order varies).
            ("tcp.request_chat_send", ["tcp.push_onChat_compressed_route", "tcp.response_chat_send"]),
            ("tcp.request_kickme", ["tcp.response_kickme", "tcp.kick"]),
        ], websocket: false)
    }

    @Test func libpomelo2Session() throws {
        try replay([
            ("lp2.handshake_request", ["lp2.handshake_response"]),
            ("lp2.handshake_ack", ["lp2.heartbeat_s2c_after_ack"]),
            ("lp2.heartbeat_c2s", ["lp2.heartbeat_s2c_reply"]),
            ("lp2.request_entry_compressed_route", ["lp2.response_entry"]),
            ("lp2.notify_ping_compressed_route", []),
            ("lp2.request_login", ["lp2.response_login"]),
            ("lp2.request_chat_send", ["lp2.push_onChat_compressed_route", "lp2.response_chat_send"]),
            ("lp2.request_kickme", ["lp2.response_kickme", "lp2.kick"]),
        ], websocket: false)
    }

    @Test func jsWebSocketSession() throws {
        try replay([
            ("ws.handshake_request", ["ws.handshake_response"]),
            ("ws.handshake_ack", ["ws.heartbeat_s2c_after_ack"]),
            ("ws.heartbeat_c2s", ["ws.heartbeat_s2c_reply"]),
            ("ws.request_entry_compressed_route", ["ws.response_entry"]),
            ("ws.notify_ping_compressed_route", []),
            ("ws.request_unknown_route_uncompressed", ["ws.response_unknown_route"]),
            ("ws.request_login", ["ws.response_login"]),
            ("ws.request_chat_send", ["ws.push_onChat_compressed_route", "ws.response_chat_send"]),
            ("ws.request_kickme", ["ws.response_kickme", "ws.kick"]),
        ], websocket: true)
    }

    @Test func jsWebSocketCloseHandshake() throws {
        let server = try TestServer(app: TestApp.chatDemo())
        let (ws, _) = try WebSocketTestClient.connect(port: server.port)
        try ws.sendRaw(Self.v("ws.client_close_frame"))
        let reply = try ws.socket.read(exactly: 4)
        #expect(reply == Self.v("ws.server_close_frame_reply"))
        #expect(ws.waitForClose())
    }

    @Test func probes() throws {
        try replay([("probe.handshake_bad_json_request", ["probe.handshake_bad_json_response"])], websocket: false)
        try replay([
            ("probe.handshake_known_dictVersion_request", ["probe.handshake_known_dictVersion_response"]),
            ("tcp.handshake_ack", ["tcp.heartbeat_s2c_after_ack"]),
            ("probe.request_id_300_request", ["probe.request_id_300_response"]),
            ("probe.request_non_json_body_request", ["probe.request_non_json_body_response"]),
        ], websocket: false)
    }

    /// Pomelo loses the ack, the request and the heartbeat that arrive in
    /// the handshake's segment; Shaddock answers all four, in order.
    @Test func pipelinedProbeIsAnsweredInFull() throws {
        let server = try TestServer(app: TestApp.chatDemo())
        let socket = try TestSocket(port: server.port)
        try socket.send(Self.v("probe.pipelined_handshake_ack_request"))
        let handshake = Self.v("probe.pipelined_handshake_ack_request_reply")
        #expect(try socket.read(exactly: handshake.count) == handshake)
        #expect(try socket.read(exactly: 4) == Self.v("tcp.heartbeat_s2c_after_ack"))
        let response = Self.v("tcp.response_entry")
        #expect(try socket.read(exactly: response.count) == response)
        #expect(try socket.read(exactly: 4) == Self.v("tcp.heartbeat_s2c_reply"))
    }
}

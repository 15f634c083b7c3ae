import NIOCore

/// One client's Pomelo session over WebSocket binary messages
/// (shared/design/PROTOCOL.md): the handshake, heartbeats, and one handler
/// that answers every request with the same reply. Shared by the SwiftNIO
/// and the Hummingbird references, which only move the messages.
public struct PomeloSession: Sendable {
    public enum Verdict: Sendable {
        case open
        /// Close with 1000 (after a refused handshake's answer).
        case closeNormally
        /// Close with 1002: bytes that are not Pomelo.
        case protocolError
    }

    private enum Phase {
        case awaitingHandshake
        case awaitingAck
        case working
        case closing
    }

    private let heartbeatSeconds: Int
    private let json: JSONCoding
    private let reply: ReplyKind
    private var phase = Phase.awaitingHandshake

    public init(heartbeatSeconds: Int, json: JSONMode, reply: ReplyKind = .entry) {
        self.heartbeatSeconds = heartbeatSeconds
        self.json = JSONCoding(json)
        self.reply = reply
    }

    public var isClosing: Bool { phase == .closing }

    /// Handles every package of one WebSocket message in order, appending
    /// the replies to `replies` (they travel together in one message).
    /// Packages before a bad one are answered all the same.
    public mutating func onMessage(_ message: ByteBuffer, replies: inout ByteBuffer) -> Verdict {
        var message = message
        do {
            while phase != .closing, let (type, body) = try message.readPomeloPackage() {
                try onPackage(type, body, replies: &replies)
            }
            // Only a refused handshake gets here closing; its answer goes first.
            return phase == .closing ? .closeNormally : .open
        } catch {
            phase = .closing
            return .protocolError
        }
    }

    /// A text message, or the peer's close: nothing more is handled.
    public mutating func close() { phase = .closing }

    private mutating func onPackage(_ type: PomeloPackageType, _ body: ByteBuffer, replies: inout ByteBuffer) throws(PomeloWireError) {
        switch (type, phase) {
        case (.handshake, .awaitingHandshake):
            onHandshake(body, replies: &replies)
        case (.handshakeAck, .awaitingAck):
            phase = .working
            // Pomelo starts the heartbeat exchange on the ack when it has one.
            if heartbeatSeconds > 0 { replies.writePomeloPackage(.heartbeat) }
        case (.heartbeat, .working):
            replies.writePomeloPackage(.heartbeat)
        case (.data, .working):
            var body = body
            let message = try body.readPomeloMessage()
            _ = json.decodeRequest(message.body)
            // A notify never gets an answer.
            if let id = message.id { writeResponse(id: id, into: &replies) }
        default:
            // Out of turn (data before the ack, a second handshake) or a kick
            // from a client: ignored, as Pomelo does.
            break
        }
    }

    private mutating func onHandshake(_ body: ByteBuffer, replies: inout ByteBuffer) {
        guard json.isHandshake(body) else {
            phase = .closing
            replies.writePomeloPackage(.handshake) { json.write(HandshakeReply(code: 500), into: &$0) }
            return
        }
        // Pomelo leaves the heartbeat out when it has none.
        let sys = HandshakeReply.Sys(heartbeat: heartbeatSeconds > 0 ? heartbeatSeconds : nil)
        replies.writePomeloPackage(.handshake) { json.write(HandshakeReply(code: 200, sys: sys), into: &$0) }
        phase = .awaitingAck
    }

    /// The application: every route is answered the same, encoded per request.
    private func writeResponse(id: UInt32, into replies: inout ByteBuffer) {
        replies.writePomeloPackage(.data) { out in
            out.writeInteger(PomeloMessageType.response.rawValue << 1)
            out.writePomeloVarint(id)
            switch reply {
            case .entry: json.write(EntryReply(code: 200, msg: "game server is ok."), into: &out)
            case .profile: json.write(ProfileReply.example, into: &out)
            }
        }
    }
}

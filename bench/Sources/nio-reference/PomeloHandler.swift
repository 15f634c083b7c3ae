import Foundation
import NIOCore
import NIOFoundationCompat
import NIOWebSocket

/// Pomelo over WebSocket binary messages (shared/design/PROTOCOL.md): the
/// handshake, heartbeats, and one handler that answers every request. JSON
/// bodies go through `JSONCoding`: `Codable` types by default, as a Swift
/// developer would write them, or Foundation's `JSONSerialization`.
final class PomeloHandler: FlushesOncePerRead {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Phase {
        case awaitingHandshake
        case awaitingAck
        case working
        case closing
    }

    private let heartbeatSeconds: Int
    private let json: JSONCoding
    private var phase = Phase.awaitingHandshake
    var unflushed = false

    init(heartbeatSeconds: Int, json: JSONMode) {
        self.heartbeatSeconds = heartbeatSeconds
        self.json = JSONCoding(json)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard phase != .closing else { return }
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            onMessage(frame.unmaskedData, context: context)
        case .text:
            phase = .closing
            context.closeWebSocket(code: .unacceptableData)
        case .ping:
            context.writePong(for: frame)
            unflushed = true
        case .connectionClose:
            phase = .closing
            context.answerClose(frame)
        default:
            break
        }
    }

    /// Handles every package of one WebSocket message in order; the replies
    /// travel together in one binary message.
    private func onMessage(_ message: ByteBuffer, context: ChannelHandlerContext) {
        var message = message
        var replies = context.channel.allocator.buffer(capacity: 0)
        var closeCode: WebSocketErrorCode?
        do {
            while phase != .closing, let (type, body) = try message.readPomeloPackage() {
                try onPackage(type, body, replies: &replies)
            }
            // Only a refused handshake gets here closing; its answer goes first.
            if phase == .closing { closeCode = .normalClosure }
        } catch {
            phase = .closing
            closeCode = .protocolError
        }
        // Packages before a bad one are answered all the same.
        if replies.readableBytes > 0 {
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: replies)), promise: nil)
            unflushed = true
        }
        if let closeCode {
            context.closeWebSocket(code: closeCode)
        }
    }

    private func onPackage(_ type: PomeloPackageType, _ body: ByteBuffer, replies: inout ByteBuffer) throws(PomeloWireError) {
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
            let reply = handle(route: message.route, body: json.decodeRequest(message.body))
            // A notify never gets an answer.
            if let id = message.id {
                writeResponse(id: id, body: reply, into: &replies)
            }
        default:
            // Out of turn (data before the ack, a second handshake) or a kick
            // from a client: ignored, as Pomelo does.
            break
        }
    }

    private func onHandshake(_ body: ByteBuffer, replies: inout ByteBuffer) {
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

    /// The application: every route is answered the same.
    private func handle(route: String, body: EntryRequest) -> EntryReply {
        EntryReply(code: 200, msg: "game server is ok.")
    }

    private func writeResponse(id: UInt32, body: EntryReply, into replies: inout ByteBuffer) {
        replies.writePomeloPackage(.data) { out in
            out.writeInteger(PomeloMessageType.response.rawValue << 1)
            out.writePomeloVarint(id)
            json.write(body, into: &out)
        }
    }
}

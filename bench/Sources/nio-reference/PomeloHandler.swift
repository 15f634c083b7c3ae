import NIOCore
import NIOWebSocket
import PomeloReference

/// Pomelo over WebSocket binary messages: the session (handshake,
/// heartbeats, one handler answering every request) is `PomeloSession`;
/// JSON bodies go through `Codable` types by default, as a Swift developer
/// would write them, or Foundation's `JSONSerialization`.
final class PomeloHandler: FlushesOncePerRead {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var session: PomeloSession
    var unflushed = false

    init(heartbeatSeconds: Int, json: JSONMode, reply: ReplyKind) {
        session = PomeloSession(heartbeatSeconds: heartbeatSeconds, json: json, reply: reply)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !session.isClosing else { return }
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary:
            onMessage(frame.unmaskedData, context: context)
        case .text:
            session.close()
            context.closeWebSocket(code: .unacceptableData)
        case .ping:
            context.writePong(for: frame)
            unflushed = true
        case .connectionClose:
            session.close()
            context.answerClose(frame)
        default:
            break
        }
    }

    /// The replies to one message's packages travel together in one binary
    /// message.
    private func onMessage(_ message: ByteBuffer, context: ChannelHandlerContext) {
        var replies = context.channel.allocator.buffer(capacity: 0)
        let verdict = session.onMessage(message, replies: &replies)
        if replies.readableBytes > 0 {
            context.write(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: replies)), promise: nil)
            unflushed = true
        }
        switch verdict {
        case .open: break
        case .closeNormally: context.closeWebSocket(code: .normalClosure)
        case .protocolError: context.closeWebSocket(code: .protocolError)
        }
    }
}

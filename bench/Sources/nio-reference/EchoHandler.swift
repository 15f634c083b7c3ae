import NIOCore
import NIOWebSocket

/// Sends every text or binary message back as it came.
final class EchoHandler: FlushesOncePerRead {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var closing = false
    var unflushed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .text:
            // A server's frames are never masked.
            let reply = WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData)
            context.write(Self.wrapOutboundOut(reply), promise: nil)
            unflushed = true
        case .ping:
            context.writePong(for: frame)
            unflushed = true
        case .connectionClose:
            closing = true
            context.answerClose(frame)
        default:
            // Pongs; continuations never get here, the aggregator joins them.
            break
        }
    }
}

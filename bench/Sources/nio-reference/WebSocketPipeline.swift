import NIOCore
import NIOHTTP1
import NIOWebSocket
import PomeloReference

/// HTTP/1.1 that upgrades to WebSocket on any path, then the mode's handler.
enum WebSocketPipeline {
    /// Large enough for the biggest Pomelo package (a 24-bit length).
    static let maxMessageBytes = 1 << 24

    /// Must be called on the channel's event loop.
    static func configure(_ channel: Channel, mode: ServerMode, json: JSONMode, reply: ReplyKind, heartbeatSeconds: Int) throws {
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxMessageBytes,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, _ in
                // No extra headers: in particular no Sec-WebSocket-Protocol,
                // which Pomelo clients do not ask for.
                channel.eventLoop.makeSucceededFuture(HTTPHeaders())
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0,
                            maxAccumulatedFrameCount: 4096,
                            maxAccumulatedFrameSize: maxMessageBytes))
                    switch mode {
                    case .echo:
                        try pipeline.addHandler(EchoHandler())
                    case .pomelo:
                        try pipeline.addHandler(PomeloHandler(heartbeatSeconds: heartbeatSeconds, json: json, reply: reply))
                    }
                }
            })

        let pipeline = channel.pipeline.syncOperations
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // Frames must not pass through the handler for plain HTTP.
                    context.pipeline.syncOperations.removeHandler(name: UpgradeRequiredHandler.name, promise: nil)
                }
            ))
        try pipeline.addHandler(UpgradeRequiredHandler(), name: UpgradeRequiredHandler.name)
    }
}

/// Answers a request that did not upgrade with 426 and closes.
final class UpgradeRequiredHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "upgrade-required"

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Answer once the whole request, body included, has been read.
        guard case .end = Self.unwrapInboundIn(data) else { return }
        var head = HTTPResponseHead(version: .http1_1, status: .upgradeRequired)
        head.headers.add(name: "Upgrade", value: "websocket")
        head.headers.add(name: "Sec-WebSocket-Version", value: "13")
        head.headers.add(name: "Connection", value: "close")
        head.headers.add(name: "Content-Length", value: "0")
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
            .assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }
}

extension ChannelHandlerContext {
    /// Sends a close frame, then closes the connection once it is written
    /// (with anything written before it).
    func closeWebSocket(code: WebSocketErrorCode?) {
        var payload = channel.allocator.buffer(capacity: 2)
        if let code { payload.write(webSocketErrorCode: code) }
        writeAndFlush(NIOAny(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)))
            .assumeIsolated()
            .whenComplete { _ in self.close(promise: nil) }
    }

    /// The answer to a ping; flushed with the rest of the read batch.
    func writePong(for ping: WebSocketFrame) {
        write(NIOAny(WebSocketFrame(fin: true, opcode: .pong, data: ping.unmaskedData)), promise: nil)
    }

    /// The answer to the peer's close: its status code back (1000 when it
    /// gave none, as Pomelo's `ws` does), then close.
    func answerClose(_ frame: WebSocketFrame) {
        var data = frame.unmaskedData
        closeWebSocket(code: data.readWebSocketErrorCode() ?? .normalClosure)
    }
}

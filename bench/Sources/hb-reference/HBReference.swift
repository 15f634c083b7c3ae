import ArgumentParser
import Hummingbird
import HummingbirdWebSocket
import HummingbirdWSCompression
import Logging
import NIOCore
import PomeloReference

/// The Pomelo service written the way a Swift developer would with
/// Hummingbird's WebSocket server, the framework a user would otherwise
/// pick: an upgrade handler per connection looping over its messages, and
/// its permessage-deflate extension with Hummingbird's defaults (context
/// kept both ways: a zlib stream pair per connection).
@main
struct HBReference: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hb-reference",
        abstract: "A Pomelo WebSocket server on Hummingbird, with permessage-deflate on request.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on.")
    var port: Int

    @Option(help: "The heartbeat interval announced in the Pomelo handshake, in seconds (0: none).")
    var heartbeat = 0

    @Option(help: "What every request is answered (entry, profile).")
    var reply: ReplyKind = .entry

    @Flag(help: "Negotiate permessage-deflate (Hummingbird's extension, its defaults).")
    var deflate = false

    func run() async throws {
        let heartbeat = self.heartbeat, reply = self.reply
        let ws = WebSocketServerConfiguration(
            maxFrameSize: 1 << 24,
            extensions: deflate ? [.perMessageDeflate()] : [],
            // Pomelo has its own heartbeat.
            autoPing: .disabled)
        var logger = Logger(label: "hb-reference")
        logger.logLevel = .error
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(configuration: .init(ws: ws)) { _, _, _ in
                .upgrade([:]) { inbound, outbound, _ in
                    var session = PomeloSession(heartbeatSeconds: heartbeat, json: .codable, reply: reply)
                    for try await message in inbound.messages(maxSize: 1 << 24) {
                        guard case .binary(let buffer) = message else {
                            try await outbound.close(.unacceptableData, reason: nil)
                            return
                        }
                        var replies = ByteBuffer()
                        let verdict = session.onMessage(buffer, replies: &replies)
                        if replies.readableBytes > 0 { try await outbound.write(.binary(replies)) }
                        switch verdict {
                        case .open: continue
                        case .closeNormally: try await outbound.close(.normalClosure, reason: nil)
                        case .protocolError: try await outbound.close(.protocolError, reason: nil)
                        }
                        return
                    }
                }
            },
            configuration: .init(address: .hostname(host, port: port)),
            logger: logger)
        try await app.runService()
    }
}

extension ReplyKind: ExpressibleByArgument {}

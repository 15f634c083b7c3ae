import ArgumentParser
import Dispatch
import NIOCore
import NIOPosix
import PomeloReference

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The service Shaddock is measured against, written as a Swift developer
/// would write it with SwiftNIO if there were no Shaddock.
@main
struct NIOReference: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nio-reference",
        abstract: "A Pomelo (or echo) WebSocket server written the usual SwiftNIO way.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port).")
    var port: Int

    @Option(help: "The number of event loop threads.")
    var threads = 1

    @Option(help: "pomelo: answer Pomelo requests; echo: send every message back.")
    var mode: ServerMode = .pomelo

    @Option(help: "pomelo: how bodies are decoded and replies encoded (codable: JSONDecoder/JSONEncoder; serialization: JSONSerialization).")
    var json: JSONMode = .codable

    @Option(help: "The heartbeat interval announced in the Pomelo handshake, in seconds (0: none).")
    var heartbeat = 0

    @Option(help: "pomelo: what every request is answered (entry: the chat example's entry; profile: a player's profile, about 300 bytes).")
    var reply: ReplyKind = .entry

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard heartbeat >= 0 else { throw ValidationError("--heartbeat must not be negative") }
    }

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let mode = self.mode
        let heartbeat = self.heartbeat
        let json = self.json
        let reply = self.reply
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try WebSocketPipeline.configure(channel, mode: mode, json: json, reply: reply, heartbeatSeconds: heartbeat)
                }
            }
        let server = try bootstrap.bind(host: host, port: port).wait()
        print("listening on \(host):\(server.localAddress?.port ?? port)")
        // The benchmark reads this line through a pipe, where stdout is fully buffered.
        fflush(nil)

        let signals = [SIGINT, SIGTERM].map { number in
            // Ignored so that the dispatch source, not the default action, sees it.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { server.close(promise: nil) }
            source.resume()
            return source
        }
        try server.closeFuture.wait()
        for source in signals { source.cancel() }
        try group.syncShutdownGracefully()
    }
}

enum ServerMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    case pomelo
    case echo
}

extension JSONMode: ExpressibleByArgument {}
extension ReplyKind: ExpressibleByArgument {}

import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shaddock-load",
        abstract: "wrk-style load for Pomelo gateways and WebSocket servers.",
        discussion: """
            Modes: ws-echo (masked binary frames, echo checked byte for byte), pomelo (requests \
            over WebSocket), pomelo-tcp (requests over raw TCP), connect (connect, upgrade, \
            handshake, ack, close: setups per second), hold (open --connections sessions and \
            keep them with heartbeats; prints "up N" once all are), broadcast (--connections \
            receivers log into one room of the chat example; one sender chats with --depth \
            sends outstanding; pushes delivered per second), soak (hold --connections sessions \
            with heartbeats; each sends one request every --interval, --tcp-share of them over \
            raw TCP, --chat-share of them logged into rooms of --room-size and chatting there), \
            nats-floor (request/reply with --depth outstanding over the nats-server on --port, with \
            Shaddock's own NATS client; CPU of this process and the --server-pid ones), nats-responder \
            (answers nats-floor's requests until SIGINT/SIGTERM).
            Prints a summary, then one JSON line. Stops by itself after warm-up plus duration \
            (hold, broadcast and soak: after set-up plus those), or on SIGINT/SIGTERM.
            """)

    @Argument(help: "ws-echo | pomelo | pomelo-tcp | connect | hold | broadcast | soak | nats-floor | nats-responder")
    var mode: String

    @Option var host = "127.0.0.1"
    @Option var port: Int
    @Option(help: "Connections (hold, soak: sessions; broadcast: receivers).")
    var connections = 100
    @Option var threads = 1
    @Option(help: "Seconds measured.")
    var duration = 10.0
    @Option(help: "Seconds of load before measuring.")
    var warmup = 2.0
    @Option(help: "Messages outstanding per connection.")
    var depth = 1
    @Option(help: "ws-echo payload bytes.")
    var size = 64
    @Option var route = "connector.entryHandler.entry"
    @Option(help: "The request body (JSON).")
    var body = "{}"
    @Option(help: "Source addresses, e.g. 127.0.0.1-127.0.0.9 or a comma list; used in turn.")
    var source: String?
    @Option(help: "Seconds before an unanswered request or a set-up counts as a timeout.")
    var timeout = 10.0
    @Option(help: "Seconds allowed for every hold session or broadcast receiver to be set up.")
    var setupTimeout = 300.0
    @Option(help: "Set-ups in progress at once (hold, broadcast, soak).")
    var setupConcurrency = 256
    @Option(help: "The broadcast's chat room (soak: the prefix of its rooms' names).")
    var channel = "bench"
    @Option(help: "Soak: seconds between two requests of one session.")
    var interval = 10.0
    @Option(help: "Soak: the share of sessions over raw TCP (0...1).")
    var tcpShare = 0.0
    @Option(help: "Soak: the share of sessions that log into a chat room and chat instead of asking --route (0...1).")
    var chatShare = 0.0
    @Option(help: "Soak: members of each chat room.")
    var roomSize = 50
    @Option(help: "Seconds between progress lines (0: none).")
    var progress = 0.0
    @Option(help: "A server process to measure over the window: CPU time (all threads) and RSS, from /proc; repeated, their sum.")
    var serverPid: [Int32] = []
    @Option(help: "Another port of the same service (another frontend of a cluster; repeatable): connections are spread over --port and these.")
    var alsoPort: [Int] = []
    @Flag(help: "pomelo, pomelo-tcp: each connection logs into a chat room of its own, then sends chat.chatHandler.send there (one push per request) instead of asking --route.")
    var chatAlone = false
    @Flag(help: "Every connection over TLS (wss; Pomelo over TLS for pomelo-tcp). The server's certificate is not verified.")
    var tls = false
    @Flag(help: "With --tls: a reconnecting slot offers its last session (connect: resumed handshakes).")
    var tlsResume = false
    @Flag(help: "Each connection starts with a PROXY protocol v2 header naming a client of its own, as a balancer sends (the server must trust this machine).")
    var proxyV2 = false
    @Flag(help: "Over WebSocket: offer permessage-deflate as a browser does (the server must agree), compress what is sent and inflate what comes compressed.")
    var deflate = false
    @Option(help: "The chat line a chat request sends, in bytes (0: \"hello\").")
    var chatBytes = 0
    @Option(help: "pomelo: the request body in hex, sent instead of --body when the handshake says useProto (pomelo-protobuf).")
    var protoBody: String?

    /// The NATS floor's modes, which drive a nats-server instead of a gateway.
    static let natsModes = ["nats-floor", "nats-responder"]

    func validate() throws {
        guard Plan.Mode(rawValue: mode) != nil || Self.natsModes.contains(mode) else {
            let modes = Plan.Mode.allCases.map(\.rawValue) + Self.natsModes
            throw ValidationError("mode must be one of \(modes.joined(separator: ", "))")
        }
        guard connections > 0, threads > 0, depth > 0, duration > 0, warmup >= 0 else {
            throw ValidationError("connections, threads, depth and duration must be positive")
        }
        guard route.utf8.count <= 255 else { throw ValidationError("a route is at most 255 bytes") }
        guard tls || !tlsResume else { throw ValidationError("--tls-resume needs --tls") }
        guard interval > 0, roomSize > 0, progress >= 0, (0...1).contains(tcpShare), (0...1).contains(chatShare) else {
            throw ValidationError("interval and room-size must be positive, progress 0 or more, shares in 0...1")
        }
    }

    func run() throws {
        let natsURL = "nats://\(host):\(port)"
        if mode == "nats-responder" { return try NATSFloorMode.respond(natsURL: natsURL) }
        if mode == "nats-floor" {
            return try NATSFloorMode.request(natsURL: natsURL, depth: depth, warmup: warmup, seconds: duration,
                                             serverPids: serverPid)
        }
        let plan = Plan(
            mode: Plan.Mode(rawValue: mode)!, host: host, port: port, connections: connections,
            threads: min(threads, connections), durationNanos: UInt64(duration * 1e9), warmupNanos: UInt64(warmup * 1e9),
            depth: depth, size: size, route: route, body: Array(body.utf8), sources: try Self.sources(source),
            timeoutNanos: UInt64(timeout * 1e9), setupConcurrency: setupConcurrency, channel: channel,
            intervalNanos: UInt64(interval * 1e9), tcpShare: tcpShare, chatShare: chatShare, roomSize: roomSize,
            progressNanos: UInt64(progress * 1e9), chatAlone: chatAlone, otherPorts: alsoPort,
            tls: tls, tlsResume: tlsResume, proxyV2: proxyV2, deflate: deflate, chatBytes: chatBytes,
            protoBody: try protoBody.map(Self.hex))
        let outcome = Runner(plan: plan, setupTimeoutNanos: UInt64(setupTimeout * 1e9), probe: serverPid.isEmpty ? nil : ServerProbe(pids: serverPid)).run()
        print(outcome.summary())
        print(outcome.json())
        if outcome.errors.total > 0 { throw ExitCode(1) }
    }

    /// `a-b` (the last octet of IPv4 addresses counts up) or `a,b,c`.
    static func hex(_ text: String) throws -> [UInt8] {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { throw ValidationError("--proto-body: an even number of hex digits") }
        return try stride(from: 0, to: digits.count, by: 2).map { i in
            guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw ValidationError("--proto-body: not hex")
            }
            return byte
        }
    }

    static func sources(_ text: String?) throws -> [String] {
        guard let text else { return [] }
        if text.contains(",") { return text.split(separator: ",").map(String.init) }
        let ends = text.split(separator: "-").map(String.init)
        guard ends.count == 2 else { return [text] }
        let a = ends[0].split(separator: "."), b = ends[1].split(separator: ".")
        guard a.count == 4, b.count == 4, a[0..<3] == b[0..<3], let lo = Int(a[3]), let hi = Int(b[3]), lo <= hi, hi < 256 else {
            throw ValidationError("--source ranges look like 127.0.0.1-127.0.0.9")
        }
        return (lo...hi).map { a[0..<3].joined(separator: ".") + ".\($0)" }
    }
}

Load.main()

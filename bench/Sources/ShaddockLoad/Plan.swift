/// What one run does: parsed from the command line, shared read-only by the
/// worker threads.
struct Plan: Sendable {
    enum Mode: String, Sendable, CaseIterable {
        /// Masked binary frames echoed back, checked byte for byte.
        case wsEcho = "ws-echo"
        /// Pomelo requests over WebSocket.
        case pomelo
        /// Pomelo requests over raw TCP.
        case pomeloTCP = "pomelo-tcp"
        /// Setups per second: connect, upgrade, handshake, ack, close.
        case connect
        /// Open sessions and keep them idle with heartbeats.
        case hold
        /// Receivers in one chat channel, one sender: pushes delivered per second.
        case broadcast
        /// Held sessions with light traffic: heartbeats, one request per
        /// session every `interval`, a share over raw TCP, a share chatting.
        case soak

        var overWebSocket: Bool { self != .pomeloTCP }
        var speaksPomelo: Bool { self != .wsEcho }
        /// Sets every session up first and measures from then on; a lost
        /// session is counted, not replaced.
        var holdsSessions: Bool { self == .hold || self == .broadcast || self == .soak }
    }

    var mode: Mode
    var host: String
    var port: Int
    /// Connections (ws-echo, pomelo, connect), sessions (hold) or receivers (broadcast).
    var connections: Int
    var threads: Int
    var durationNanos: UInt64
    var warmupNanos: UInt64
    /// Messages outstanding per connection (the broadcast sender's sends).
    var depth: Int
    /// ws-echo payload bytes.
    var size: Int
    var route: String
    var body: [UInt8]
    /// Source addresses, used in turn by successive connections.
    var sources: [String]
    var timeoutNanos: UInt64
    /// Connections being set up at once (hold, broadcast logins).
    var setupConcurrency: Int
    /// The chat room the broadcast receivers and sender log into (soak: the
    /// prefix of the rooms' names).
    var channel: String
    /// Soak: time between two requests of one session.
    var intervalNanos: UInt64 = 10_000_000_000
    /// Soak: the share of sessions over raw TCP, and of sessions that log
    /// into a chat room of `roomSize` and chat instead of asking `route`.
    var tcpShare = 0.0
    var chatShare = 0.0
    var roomSize = 50
    /// A progress line this often; 0: none.
    var progressNanos: UInt64 = 0
    /// pomelo, pomelo-tcp: each connection logs into a room of its own and
    /// chats there (a forwarded request and one push each, in a cluster).
    var chatAlone = false
    /// More ports of the same service (other frontends of a cluster):
    /// connections are spread over `port` and these.
    var otherPorts: [Int] = []
    /// Every connection over TLS (wss, or Pomelo over TLS for pomelo-tcp).
    var tls = false
    /// With `tls`: each reconnect offers its slot's last session (connect
    /// mode: resumed handshakes).
    var tlsResume = false
    /// Each connection starts with a PROXY protocol v2 header naming a
    /// client of its own (198.18.0.0/15, the range set aside for
    /// benchmarks), as from a balancer.
    var proxyV2 = false
    /// Over WebSocket: offer permessage-deflate (as a browser does), compress
    /// what is sent, inflate what comes compressed; a server that does not
    /// agree fails the upgrade.
    var deflate = false
    /// The chat line's length in bytes (broadcast, chat-alone, soak); 0: "hello".
    var chatBytes = 0
    /// The request body sent when the server's handshake says `useProto`
    /// (pomelo-protobuf); an answer must then hold 08 c8 01 (code 200 as
    /// field 1) instead of `"code":200`.
    var protoBody: [UInt8]?

    func port(of n: Int) -> Int {
        guard !otherPorts.isEmpty else { return port }
        // Hashed rather than in turn: soak picks its TCP and chat shares at
        // regular steps, which would otherwise all land on one port. n is
        // negative for the broadcast's sender.
        let spread = Int((UInt32(truncatingIfNeeded: n.magnitude) &* 2_654_435_761) >> 16)
        return ([port] + otherPorts)[spread % (otherPorts.count + 1)]
    }

    /// Whether connection `n` is over WebSocket: soak spreads its TCP share
    /// evenly over the connections (0.25: every fourth).
    func overWebSocket(_ n: Int) -> Bool {
        mode == .soak ? !Self.picked(n, share: tcpShare) : mode.overWebSocket
    }

    /// Soak: the chat room of connection `n`, if it is one of the chatters
    /// (chatAlone: a room of its own).
    func room(of n: Int) -> Int? {
        if chatAlone && (mode == .pomelo || mode == .pomeloTCP) { return n }
        guard mode == .soak, Self.picked(n, share: chatShare) else { return nil }
        return (Self.picks(below: n + 1, share: chatShare) - 1) / roomSize
    }

    /// Soak: how many connections are in `room`; each gets every chat sent there.
    func members(of room: Int) -> Int {
        min(roomSize, Self.picks(below: connections, share: chatShare) - room * roomSize)
    }

    /// How many of the connections below `n` a share picks.
    private static func picks(below n: Int, share: Double) -> Int { Int(Double(n) * share) }

    private static func picked(_ n: Int, share: Double) -> Bool {
        picks(below: n + 1, share: share) > picks(below: n, share: share)
    }
}

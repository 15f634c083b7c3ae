import ShaddockProtocol
import Logging

/// How a gateway listens and what it allows. Every limit has a default that
/// a production edge can run with.
public struct GatewayConfiguration: Sendable {
    /// Numeric IPv4 or IPv6 address to listen on.
    public var host = "0.0.0.0"
    /// 0 picks a free port (see `Server.port`).
    public var port = 3010
    /// Event loops, each a thread with its own listening socket on the port.
    public var threads = System.coreCount
    /// Heartbeat interval sent to clients, in seconds; 0 turns heartbeats off.
    public var heartbeatSeconds = 10
    /// Silence after which a working connection is closed; nil means twice
    /// the heartbeat interval. The file's `timeout`, Pomelo's name for it.
    public var heartbeatTimeoutSeconds: Double?
    /// Time from accept to a completed handshake (ack received); a connection
    /// that has not got there, silent or not, is closed. Pomelo: 90 s.
    public var handshakeTimeoutSeconds: Double = 90
    /// Time from accept to the first byte; a silent connection is closed.
    public var firstByteTimeoutSeconds: Double = 10
    /// Time from accept to a complete HTTP upgrade head; past it the client
    /// gets 408 and the connection closes.
    public var requestHeadTimeoutSeconds: Double = 10
    /// Whether the route dictionary is offered to clients.
    public var useDictionary = true
    /// Largest WebSocket frame payload accepted (close 1009 past it).
    public var maxFrameBytes = 64 * 1024
    /// Largest WebSocket message, its fragments joined (close 1009).
    public var maxMessageBytes = 64 * 1024
    /// Largest Pomelo package body (WebSocket: close 1009; TCP: a kick with
    /// the reason "package too large").
    public var maxPackageBytes = 64 * 1024
    /// Largest HTTP upgrade request head (431 past it).
    public var maxRequestHeadBytes = 8 * 1024
    /// Bound on a connection's unsent bytes; a connection that would pass it
    /// is closed as a slow consumer.
    public var maxPendingBytes = 1024 * 1024
    /// Resolution of the timeouts above, in milliseconds.
    public var timerTickMilliseconds = 100
    /// Longest wait for the peer's EOF after we close gracefully.
    public var lingerMilliseconds = 2000
    public var logLevel: Logger.Level = .info
    /// Log lines as text, or one JSON object per line (`LogFormat`); the
    /// `shaddock` command bootstraps logging with it.
    public var logFormat: LogFormat = .text

    /// Numeric IPv4 or IPv6 address of the admin listener (`/metrics`,
    /// `/healthz`); loopback by default, as it is not meant for clients.
    public var adminHost = "127.0.0.1"
    /// Port of the admin listener: nil turns it off, 0 picks a free one
    /// (see `Server.adminPort`).
    public var adminPort: Int?
    /// TLS on the client port (and the admin listener, if it says so); nil:
    /// plaintext only. See docs/tls.md.
    public var tls: TLSOptions?
    /// PROXY headers from the balancers in front (docs/deploy.md); nil:
    /// every connection's address is its peer's.
    public var proxyProtocol: ProxyProtocolOptions?

    /// This server's `id` in servers.json.
    public var serverID = "connector-server-1"
    /// This server's type: the servers.json key its entry is under.
    public var serverType = "connector"
    /// Every server of the chosen environment, this one included, in file
    /// order: what the backend router will pick from.
    public var cluster: [ServerEntry] = []
    /// How this server reaches the others over NATS (the file's `cluster`
    /// section; docs/cluster.md). nil: one process, every handler here, no
    /// broker.
    public var clusterOptions: ClusterOptions?
    /// Whether this server takes clients (a frontend); a backend has no
    /// client listener.
    public var isFrontend = true
    /// Open client connections allowed (Pomelo's `max-connections`); nil
    /// means no limit.
    public var maxConnections: Int?
    /// Open connections allowed from one client address; nil means no
    /// limit. Refused connections are closed before any byte is read.
    public var maxConnectionsPerAddress: Int?
    /// Each connection's request rate (requests and notifies); nil means no
    /// limit.
    public var requestRate: RequestRateLimit?
    /// On SIGTERM (`Server.drain`): the reason every session is kicked with,
    /// and how long requests in flight may take to finish first.
    public var drainKickReason = "server shutting down"
    public var drainTimeoutSeconds: Double = 10
    /// Peers refused at accept: addresses, CIDR blocks or regular
    /// expressions (see `HostBlacklist`).
    public var blacklist: [String] = []
    /// Push routes added to the route dictionary after the application's
    /// (Pomelo's dictionary.json).
    public var userDictionary: [String] = []
    /// Whether pushes leave at once or are batched per flush interval.
    public var scheduler: PushSchedulerMode = .direct
    /// Which offered WebSocket subprotocol the upgrade's answer names.
    public var subprotocols: SubprotocolPolicy = .firstOffered
    /// permessage-deflate and Pomelo's gzip flag toward clients.
    public var compression = CompressionOptions()
    /// pomelo-protobuf bodies (Pomelo's protos files); nil: JSON only.
    public var protobuf: ProtobufOptions?
    /// What a second login of a bound user does.
    public var multiLogin: MultiLoginPolicy = .kickOld
    /// What happens to a connection that passes `maxPendingBytes`.
    public var slowConsumer: SlowConsumerPolicy = .kick
    /// Pomelo's serial filter: longest wait of a request behind the previous
    /// one of its session; nil turns the filter off.
    public var serialFilterTimeoutMilliseconds: Int?
    /// Pomelo's time filter: handlers slower than this are logged; nil off.
    public var slowHandlerMilliseconds: Int?
    /// Pomelo's timeout filter: a request unanswered by then gets an error;
    /// nil off.
    public var requestTimeoutMilliseconds: Int?
    /// Pomelo's toobusy filter: requests are refused while the loop lags
    /// more than this; nil off.
    public var maxLoopLagMilliseconds: Int?

    public init() {}

    var heartbeatTimeoutMilliseconds: UInt64 {
        UInt64(((heartbeatTimeoutSeconds ?? Double(2 * heartbeatSeconds)) * 1000).rounded())
    }

    /// The largest `maxFrameBytes` and `maxMessageBytes`. A Pomelo package
    /// is bound by its 3-byte length (`maxPackageBytes`), not a WebSocket
    /// message, which may hold several packages or, for the echo server
    /// (Autobahn's largest messages are 16 MiB), none.
    public static let maxWebSocketMessageBytes = 64 << 20

    /// Checks every value; the error names the first bad one.
    public func validate() throws(ConfigurationError) {
        if !(0...65535).contains(port) { throw .invalid("port", "\(port) is not in 0...65535") }
        if !(1...256).contains(threads) { throw .invalid("threads", "\(threads) is not in 1...256") }
        if heartbeatSeconds < 0 { throw .invalid("heartbeat", "must be 0 (off) or positive") }
        if let t = heartbeatTimeoutSeconds, t <= 0 { throw .invalid("heartbeatTimeout", "must be positive") }
        for (key, seconds) in [("handshakeTimeout", handshakeTimeoutSeconds), ("firstByteTimeout", firstByteTimeoutSeconds),
                               ("requestHeadTimeout", requestHeadTimeoutSeconds)] where !(seconds > 0) {
            throw .invalid(key, "must be a positive number of seconds")
        }
        if !(drainTimeoutSeconds >= 0) { throw .invalid("drainTimeout", "must be 0 or more seconds") }
        if drainKickReason.utf8.count > 1000 { throw .invalid("drainKickReason", "longer than 1000 bytes") }
        for (key, bytes, limit) in [("maxMessageBytes", maxMessageBytes, Self.maxWebSocketMessageBytes),
                                    ("maxFrameBytes", maxFrameBytes, Self.maxWebSocketMessageBytes),
                                    ("maxPackageBytes", maxPackageBytes, (1 << 24) - 1)] where !(16...limit).contains(bytes) {
            throw .invalid(key, "\(bytes) is not in 16...\(limit)")
        }
        if maxRequestHeadBytes < 256 { throw .invalid("maxRequestHeadBytes", "must be at least 256") }
        if maxPendingBytes < 4096 { throw .invalid("maxPendingBytes", "must be at least 4096") }
        if !(1...10_000).contains(timerTickMilliseconds) { throw .invalid("timerTickMilliseconds", "not in 1...10000") }
        if lingerMilliseconds < 1 { throw .invalid("lingerMilliseconds", "must be positive") }
        if IPAddress(host) == nil { throw .invalid("host", "\"\(host)\" is not a numeric IPv4 or IPv6 address") }
        if IPAddress(adminHost) == nil {
            throw .invalid("adminHost", "\"\(adminHost)\" is not a numeric IPv4 or IPv6 address")
        }
        if let p = adminPort, !(0...65535).contains(p) { throw .invalid("adminPort", "\(p) is not in 0...65535") }
        if let p = adminPort, p != 0, p == port { throw .invalid("adminPort", "\(p) is the port clients connect to") }
        if serverID.isEmpty { throw .invalid("serverID", "must not be empty") }
        if serverType.isEmpty { throw .invalid("serverType", "must not be empty") }
        if let m = maxConnections, m < 1 { throw .invalid("maxConnections", "must be positive") }
        if let m = maxConnectionsPerAddress, m < 1 { throw .invalid("maxConnectionsPerAddress", "must be positive") }
        if let rate = requestRate { try rate.validate() }
        if let tls { try tls.validate() }
        if let proxyProtocol { try proxyProtocol.validate() }
        try compression.validate()
        try validateCluster()
        if let options = clusterOptions { try validate(options) }
        _ = try HostBlacklist(blacklist)
        var routes = Set<String>()
        for (i, route) in userDictionary.enumerated() {
            let key = "userDictionary[\(i)]"
            if route.isEmpty { throw .invalid(key, "must not be empty") }
            if route.utf8.count > 255 { throw .invalid(key, "longer than 255 bytes") }
            if !routes.insert(route).inserted { throw .invalid(key, "\"\(route)\" appears twice") }
        }
        if case .buffered(let ms) = scheduler, !(1...10_000).contains(ms) {
            throw .invalid("scheduler.flushInterval", "\(ms) is not in 1...10000")
        }
        for (key, ms) in [("filters.serial", serialFilterTimeoutMilliseconds), ("filters.time", slowHandlerMilliseconds),
                          ("filters.timeout", requestTimeoutMilliseconds), ("filters.toobusy", maxLoopLagMilliseconds)] {
            if let ms, ms < 1 { throw .invalid(key, "must be a positive number of milliseconds") }
        }
    }

    /// Keys are `cluster[i].<servers.json key>`, so a loader can say which
    /// entry of its file is wrong.
    private func validate(_ options: ClusterOptions) throws(ConfigurationError) {
        if options.nats.servers.isEmpty { throw .invalid("cluster.nats", "names no NATS server (nats://host:port)") }
        if !NATSEncoder.isValidSubject(options.name.utf8, wildcards: false) {
            throw .invalid("cluster.name", "\"\(options.name)\" is not a NATS subject token list")
        }
        for (key, ms) in [("requestTimeout", options.requestTimeoutMilliseconds),
                          ("announceInterval", options.announceIntervalMilliseconds),
                          ("pingInterval", options.nats.pingIntervalMilliseconds)] where !(1...3_600_000).contains(ms) {
            throw .invalid("cluster." + key, "\(ms) ms is not in 1...3600000")
        }
        if options.maxInFlightPerLoop < 1 { throw .invalid("cluster.maxInFlight", "must be positive") }
        // Ids are subject tokens: a dot or a blank would split them.
        for id in [serverID] + cluster.map(\.id) {
            if !NATSEncoder.isValidSubject(id.utf8, wildcards: false) || id.contains(".") || id.utf8.count > 200 {
                throw .invalid("serverID", "\"\(id)\" cannot name a server in a cluster (no dots, blanks or wildcards; at most 200 bytes)")
            }
        }
    }

    private func validateCluster() throws(ConfigurationError) {
        var ids = Set<String>()
        for (i, server) in cluster.enumerated() {
            let key = "cluster[\(i)]"
            if server.id.isEmpty { throw .invalid(key + ".id", "must not be empty") }
            if !ids.insert(server.id).inserted {
                throw .invalid(key + ".id", "\"\(server.id)\" is the id of an earlier server")
            }
            for (name, port) in [("port", server.port), ("clientPort", server.clientPort)] {
                if let port, !(0...65535).contains(port) { throw .invalid("\(key).\(name)", "\(port) is not in 0...65535") }
            }
            if let m = server.maxConnections, m < 1 { throw .invalid(key + ".max-connections", "must be positive") }
        }
    }
}

public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    case invalid(String, String)
    case unknownKey(String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .invalid(let key, let why): return "configuration: \(key): \(why)"
        case .unknownKey(let key): return "configuration: unknown key \"\(key)\""
        case .unreadable(let path, let why): return "configuration: \(path): \(why)"
        }
    }
}

public enum System {
    /// Cores this process may run on.
    public static var coreCount: Int {
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return n > 0 ? n : 1
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif


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
    /// Whether the route dictionary is offered to clients.
    public var useDictionary = true
    /// Largest Pomelo package body and largest WebSocket message accepted.
    public var maxMessageBytes = 64 * 1024
    /// Largest HTTP upgrade request head.
    public var maxRequestHeadBytes = 8 * 1024
    /// Bound on a connection's unsent bytes; a connection that would pass it
    /// is closed as a slow consumer.
    public var maxPendingBytes = 1024 * 1024
    /// Resolution of the timeouts above, in milliseconds.
    public var timerTickMilliseconds = 100
    /// Longest wait for the peer's EOF after we close gracefully.
    public var lingerMilliseconds = 2000
    public var logLevel: Logger.Level = .info

    /// This server's `id` in servers.json.
    public var serverID = "connector-server-1"
    /// This server's type: the servers.json key its entry is under.
    public var serverType = "connector"
    /// Every server of the chosen environment, this one included, in file
    /// order: what the backend router will pick from.
    public var cluster: [ServerEntry] = []
    /// Open client connections allowed (Pomelo's `max-connections`); nil
    /// means no limit.
    public var maxConnections: Int?
    /// Peers refused at accept: addresses, CIDR blocks or regular
    /// expressions (see `HostBlacklist`).
    public var blacklist: [String] = []
    /// Push routes added to the route dictionary after the application's
    /// (Pomelo's dictionary.json).
    public var userDictionary: [String] = []
    /// Whether pushes leave at once or are batched per flush interval.
    public var scheduler: PushSchedulerMode = .direct
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

    /// The largest `maxMessageBytes` of an echo server, whose messages hold
    /// no Pomelo packages and so are not bound by a package's 3-byte length.
    public static let maxEchoMessageBytes = 64 << 20

    /// Checks every value; the error names the first bad one. `echo`: the
    /// values are for an echo server (`Server.echo`).
    public func validate(echo: Bool = false) throws(ConfigurationError) {
        if !(0...65535).contains(port) { throw .invalid("port", "\(port) is not in 0...65535") }
        if !(1...256).contains(threads) { throw .invalid("threads", "\(threads) is not in 1...256") }
        if heartbeatSeconds < 0 { throw .invalid("heartbeat", "must be 0 (off) or positive") }
        if let t = heartbeatTimeoutSeconds, t <= 0 { throw .invalid("heartbeatTimeout", "must be positive") }
        if handshakeTimeoutSeconds <= 0 { throw .invalid("handshakeTimeout", "must be positive") }
        let maxMessage = echo ? Self.maxEchoMessageBytes : (1 << 24) - 1
        if !(16...maxMessage).contains(maxMessageBytes) {
            throw .invalid("maxMessageBytes", "\(maxMessageBytes) is not in 16...\(maxMessage)")
        }
        if maxRequestHeadBytes < 256 { throw .invalid("maxRequestHeadBytes", "must be at least 256") }
        if maxPendingBytes < 4096 { throw .invalid("maxPendingBytes", "must be at least 4096") }
        if !(1...10_000).contains(timerTickMilliseconds) { throw .invalid("timerTickMilliseconds", "not in 1...10000") }
        if lingerMilliseconds < 1 { throw .invalid("lingerMilliseconds", "must be positive") }
        if IPAddress(host) == nil { throw .invalid("host", "\"\(host)\" is not a numeric IPv4 or IPv6 address") }
        if serverID.isEmpty { throw .invalid("serverID", "must not be empty") }
        if serverType.isEmpty { throw .invalid("serverType", "must not be empty") }
        if let m = maxConnections, m < 1 { throw .invalid("maxConnections", "must be positive") }
        try validateCluster()
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


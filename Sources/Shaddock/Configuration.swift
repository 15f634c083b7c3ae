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
    /// the heartbeat interval.
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
    // -- Interim fields (replaced by the servers.json loader's definitions).
    public var serverID = "connector-server-1"
    public var serverType = "connector"
    public var maxConnections: Int?
    public var blacklist: [String] = []
    public var userDictionary: [String] = []
    public var scheduler = PushSchedulerMode.direct
    public var multiLogin = MultiLoginPolicy.kickOld
    public var slowConsumer = SlowConsumerPolicy.kick
    public var serialFilterTimeoutMilliseconds: Int?
    public var slowHandlerMilliseconds: Int?
    public var requestTimeoutMilliseconds: Int?
    public var maxLoopLagMilliseconds: Int?

    public init() {}

    var heartbeatTimeoutMilliseconds: UInt64 {
        UInt64(((heartbeatTimeoutSeconds ?? Double(2 * heartbeatSeconds)) * 1000).rounded())
    }

    /// Checks every value; the error names the first bad one.
    public func validate() throws(ConfigurationError) {
        if !(0...65535).contains(port) { throw .invalid("port", "\(port) is not in 0...65535") }
        if !(1...256).contains(threads) { throw .invalid("threads", "\(threads) is not in 1...256") }
        if heartbeatSeconds < 0 { throw .invalid("heartbeat", "must be 0 (off) or positive") }
        if let t = heartbeatTimeoutSeconds, t <= 0 { throw .invalid("heartbeatTimeout", "must be positive") }
        if handshakeTimeoutSeconds <= 0 { throw .invalid("handshakeTimeout", "must be positive") }
        if !(16...((1 << 24) - 1)).contains(maxMessageBytes) {
            throw .invalid("maxMessageBytes", "\(maxMessageBytes) is not in 16...16777215")
        }
        if maxRequestHeadBytes < 256 { throw .invalid("maxRequestHeadBytes", "must be at least 256") }
        if maxPendingBytes < 4096 { throw .invalid("maxPendingBytes", "must be at least 4096") }
        if !(1...10_000).contains(timerTickMilliseconds) { throw .invalid("timerTickMilliseconds", "not in 1...10000") }
        if lingerMilliseconds < 1 { throw .invalid("lingerMilliseconds", "must be positive") }
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

public enum PushSchedulerMode: Sendable, Equatable { case direct; case buffered(flushIntervalMilliseconds: Int) }
public enum MultiLoginPolicy: String, Sendable { case allow, reject, kickOld = "kick" }
public enum SlowConsumerPolicy: String, Sendable { case dropPushes = "drop", kick }

// The value types of GatewayConfiguration that are not plain numbers.

/// One server of a Pomelo cluster, as servers.json describes it.
public struct ServerEntry: Sendable, Equatable {
    public var id: String
    /// The servers.json key the entry is under ("connector", "chat", ...).
    public var serverType: String
    /// Where the server's RPC listener is.
    public var host: String?
    public var port: Int?
    /// Where clients reach a frontend server.
    public var clientHost: String?
    public var clientPort: Int?
    public var frontend: Bool
    public var maxConnections: Int?

    public init(id: String, serverType: String, host: String? = nil, port: Int? = nil, clientHost: String? = nil,
                clientPort: Int? = nil, frontend: Bool = false, maxConnections: Int? = nil) {
        self.id = id
        self.serverType = serverType
        self.host = host
        self.port = port
        self.clientHost = clientHost
        self.clientPort = clientPort
        self.frontend = frontend
        self.maxConnections = maxConnections
    }
}

/// How pushes reach the socket (Pomelo's pushScheduler).
public enum PushSchedulerMode: Sendable, Equatable {
    /// Each push is queued at once and leaves with the loop's next flush.
    case direct
    /// Pushes are held per session and flushed together every interval.
    case buffered(flushIntervalMilliseconds: Int)
}

/// What a login of a user that is already bound to a session does.
public enum MultiLoginPolicy: String, Sendable {
    /// Both sessions stay.
    case allow
    /// The new login fails; the old session stays.
    case reject
    /// The old session is kicked with the reason "logged in elsewhere";
    /// the new one stays.
    case kickOld = "kick"
}

/// What is done to a client that stops reading.
public enum SlowConsumerPolicy: String, Sendable {
    /// Pushes that would pass the bound are dropped and counted
    /// (`pushesDropped`); the connection stays. A response, which cannot be
    /// dropped, that does not fit closes it (`slowConsumerCloses`).
    case dropPushes = "drop"
    /// The session is kicked with the reason "slow consumer" and closed
    /// (`slowConsumerKicks`).
    case kick
}

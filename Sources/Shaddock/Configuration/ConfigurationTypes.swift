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

/// Which of the subprotocols a WebSocket client offers
/// (`Sec-WebSocket-Protocol`) the 101 answer names. A browser fails the
/// connection when it offered some and the answer names none.
public enum SubprotocolPolicy: Sendable, Equatable {
    /// The first one offered, as Pomelo's `ws` server answers.
    case firstOffered
    /// The first offered that is in the list (names compared exactly);
    /// none otherwise, and the connection goes on without one.
    case only([String])
    /// Never one.
    case none
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

/// A token bucket per connection: `perSecond` requests a second on average,
/// up to `burst` at once. A request over the limit is answered with
/// `PomeloCode.rateLimited` (429) and a notify is dropped; a connection with
/// more than `kickAfter` of those within one second is kicked with the
/// reason "request rate".
public struct RequestRateLimit: Sendable, Equatable {
    public var perSecond: Int
    public var burst: Int
    public var kickAfter: Int

    /// `burst` defaults to one second's worth; `kickAfter` to one second's
    /// worth of refusals (a client sending at twice the rate is kicked).
    public init(perSecond: Int, burst: Int? = nil, kickAfter: Int? = nil) {
        self.perSecond = perSecond
        self.burst = burst ?? perSecond
        self.kickAfter = kickAfter ?? perSecond
    }

    func validate() throws(ConfigurationError) {
        if !(1...1_000_000).contains(perSecond) { throw .invalid("requestRate.perSecond", "\(perSecond) is not in 1...1000000") }
        if !(1...1_000_000).contains(burst) { throw .invalid("requestRate.burst", "\(burst) is not in 1...1000000") }
        if kickAfter < 1 { throw .invalid("requestRate.kickAfter", "must be positive") }
    }
}

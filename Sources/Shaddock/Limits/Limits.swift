/// The limits a reload (SIGHUP) may change, as plain values. Each loop reads
/// its own copy (`EventLoop.limits`) and is handed a new one through its
/// mailbox, so the hot path reads them without a lock.
struct Limits {
    var maxFrameBytes: Int
    var maxMessageBytes: Int
    var maxPackageBytes: Int
    var maxRequestHeadBytes: Int
    /// In milliseconds, from accept.
    var firstByteTimeout: UInt64
    var requestHeadTimeout: UInt64
    var handshakeTimeout: UInt64
    /// Silence allowed once working, in milliseconds; 0 when heartbeats are off.
    var heartbeatTimeout: UInt64
    var maxPendingBytes: Int
    var slowConsumer: SlowConsumerPolicy
    var rate: RequestRateLimit?

    init(_ config: GatewayConfiguration) {
        maxFrameBytes = config.maxFrameBytes
        maxMessageBytes = config.maxMessageBytes
        maxPackageBytes = config.maxPackageBytes
        maxRequestHeadBytes = config.maxRequestHeadBytes
        firstByteTimeout = Self.milliseconds(config.firstByteTimeoutSeconds)
        requestHeadTimeout = Self.milliseconds(config.requestHeadTimeoutSeconds)
        handshakeTimeout = Self.milliseconds(config.handshakeTimeoutSeconds)
        heartbeatTimeout = config.heartbeatSeconds > 0 ? config.heartbeatTimeoutMilliseconds : 0
        maxPendingBytes = config.maxPendingBytes
        slowConsumer = config.slowConsumer
        rate = config.requestRate
    }

    /// Most unconsumed bytes the shim keeps for a connection: a frame, a TCP
    /// package or a request head is parsed whole where it lies, with room
    /// for what follows it in the same read.
    var maxBuffered: Int {
        max(maxFrameBytes + 14, maxPackageBytes + 4, maxRequestHeadBytes) + 64 * 1024
    }

    private static func milliseconds(_ seconds: Double) -> UInt64 { UInt64((seconds * 1000).rounded(.up)) }
}

extension GatewayConfiguration {
    /// This configuration with the settings of `file` that a running server
    /// can take (limits, timeouts, blacklist); also the names of the
    /// settings that differ but take effect only on a restart.
    func reloaded(from file: GatewayConfiguration) -> (GatewayConfiguration, needRestart: [String]) {
        var next = self
        next.blacklist = file.blacklist
        next.maxConnections = file.maxConnections
        next.maxConnectionsPerAddress = file.maxConnectionsPerAddress
        next.requestRate = file.requestRate
        next.maxFrameBytes = file.maxFrameBytes
        next.maxMessageBytes = file.maxMessageBytes
        next.maxPackageBytes = file.maxPackageBytes
        next.maxRequestHeadBytes = file.maxRequestHeadBytes
        next.firstByteTimeoutSeconds = file.firstByteTimeoutSeconds
        next.requestHeadTimeoutSeconds = file.requestHeadTimeoutSeconds
        next.handshakeTimeoutSeconds = file.handshakeTimeoutSeconds
        next.heartbeatTimeoutSeconds = file.heartbeatTimeoutSeconds
        next.maxPendingBytes = file.maxPendingBytes
        next.slowConsumer = file.slowConsumer
        next.drainKickReason = file.drainKickReason
        next.drainTimeoutSeconds = file.drainTimeoutSeconds
        // Certificates are read again whatever changed (a renewed one keeps
        // its file name); see Server.reload.
        next.tls = file.tls
        // The balancers in front may change (new connections read headers
        // from the new list).
        next.proxyProtocol = file.proxyProtocol
        // The protos files are read again (see Server.reload); new
        // handshakes get them. A cluster's servers announce their version,
        // so there a change takes a restart.
        if clusterOptions == nil { next.protobuf = file.protobuf }
        var differ: [String] = []
        func check<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { differ.append(name) } }
        check("host", host, file.host)
        check("port", port, file.port)
        check("threads", threads, file.threads)
        check("heartbeat", heartbeatSeconds, file.heartbeatSeconds)
        check("useDict", useDictionary, file.useDictionary)
        check("dictionary", userDictionary, file.userDictionary)
        check("scheduler", scheduler, file.scheduler)
        check("multiLogin", multiLogin, file.multiLogin)
        check("subprotocols", subprotocols, file.subprotocols)
        check("serverID", serverID, file.serverID)
        check("servers", cluster, file.cluster)
        check("cluster", clusterOptions, file.clusterOptions)
        if clusterOptions != nil { check("protobuf", protobuf, file.protobuf) }
        check("filters.serial", serialFilterTimeoutMilliseconds, file.serialFilterTimeoutMilliseconds)
        check("filters.time", slowHandlerMilliseconds, file.slowHandlerMilliseconds)
        check("filters.timeout", requestTimeoutMilliseconds, file.requestTimeoutMilliseconds)
        check("filters.toobusy", maxLoopLagMilliseconds, file.maxLoopLagMilliseconds)
        check("timerTickMilliseconds", timerTickMilliseconds, file.timerTickMilliseconds)
        check("lingerMilliseconds", lingerMilliseconds, file.lingerMilliseconds)
        check("logLevel", logLevel, file.logLevel)
        check("logFormat", logFormat, file.logFormat)
        check("adminHost", adminHost, file.adminHost)
        check("adminPort", adminPort, file.adminPort)
        return (next, differ)
    }
}

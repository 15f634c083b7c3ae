import CShaddockLoop
import Logging
import ShaddockProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One libuv loop on its own thread, with its listening socket and its
/// connections. Everything here except `requestStop` runs on that thread.
final class EventLoop: @unchecked Sendable {
    let index: Int
    let core: GatewayCore
    let counters = LoopCounters()
    private(set) var raw: OpaquePointer!
    var logger: Logger
    /// Set from any thread by requestStop; read on the loop.
    private let stopFlag = Atomic<Bool>(false)
    private var nextSession: UInt64 = 0
    /// Reused for encoding JSON responses, so a steady flow allocates nothing.
    var scratch: [UInt8] = []
    /// A protobuf request's body read into JSON, during its dispatch.
    var requestJSON: [UInt8] = []
    /// The pomelo-protobuf schemas new handshakes get (nil: off); replaced
    /// through the mailbox on a reload.
    var protobuf: ProtobufCodec?
    /// This loop's open connections by session id.
    var connections: [UInt64: Connection] = [:]
    private(set) var scheduler: PushScheduler!
    /// Requests waiting on async work, checked each tick for their deadline.
    var inFlight: [UInt64: InFlightRequest] = [:]
    var nextInFlight: UInt64 = 0
    /// This loop's copy of the blacklist (replaced through the mailbox on a
    /// reload, so an accept reads it without a lock).
    var blacklist: HostBlacklist
    /// The balancers and HTTP proxies trusted to name the client
    /// (`proxyProtocol.trusted`), for a WebSocket upgrade's forwarded
    /// headers; replaced with the PROXY settings on a reload.
    var trustedProxies = HostBlacklist.none
    /// Inflates gzip-flagged client bodies; made at the first one (nil if
    /// zlib had no memory for it).
    private(set) lazy var bodyInflater: BodyInflater? = BodyInflater()
    /// permessage-deflate's streams; made at the first connection that
    /// agrees on it (every connection with `deflateWindow` set finds it).
    private(set) var compression: LoopCompression?
    /// This loop's copy of the reloadable limits, in raw memory so reading
    /// one on the hot path costs a load (replaced on this thread by `apply`).
    private let limitsStorage: UnsafeMutablePointer<Limits>
    var limits: Limits {
        @inline(__always) get { limitsStorage.pointee }
    }
    /// Set once a drain has begun (see Server.drain).
    var draining: Drain?
    /// In a cluster: this loop's NATS link and what waits on it.
    var cluster: ClusterEndpoint?
    /// The channels this loop's handlers looked up (see LoopChannelCache).
    var channels: LoopChannelCache?
    /// Loop 0, with TLS tickets and no key file: when the key rotates.
    var ticketRotation: TicketRotation?
    /// Whether the NATS link is up (nil: no cluster); read by /metrics
    /// from the admin thread.
    var natsUp: Bool? { core.cluster == nil ? nil : natsConnected.load(ordering: .relaxed) }
    let natsConnected = Atomic<Bool>(false)

    init(index: Int, core: GatewayCore) throws {
        self.index = index
        self.core = core
        var logger = core.logger
        logger[metadataKey: "loop"] = "\(index)"
        self.logger = logger
        blacklist = core.blacklist
        protobuf = core.protobuf.withLock { $0 }
        limitsStorage = .allocate(capacity: 1)
        limitsStorage.initialize(to: Limits(core.config))
        var callbacks = shd_callbacks_t()
        // A NATS link's user pointer has its low bit set (see NATSLink): an
        // outgoing connection is told from a client's by one test.
        callbacks.on_open = { ctx, conn in
            if let user = shd_conn_user(conn!), UInt(bitPattern: user) & 1 != 0 { return NATSLink.from(user).onOpen() }
            EventLoop.from(ctx).open(conn!)
        }
        callbacks.on_data = { ctx, conn, data, len in
            let user = shd_conn_user(conn!)!
            if UInt(bitPattern: user) & 1 != 0 {
                return NATSLink.from(user).onData(conn!, UnsafeRawBufferPointer(start: data, count: len))
            }
            return Unmanaged<Connection>.fromOpaque(user).takeUnretainedValue()
                .onData(UnsafeMutableRawBufferPointer(start: data, count: len))
        }
        callbacks.on_close = { ctx, conn, reason in
            let user = shd_conn_user(conn!)!
            if UInt(bitPattern: user) & 1 != 0 { return NATSLink.from(user).onClosed(conn!) }
            Connection.from(conn!).onClosed(reason: reason)
            Unmanaged<Connection>.fromOpaque(user).release()
        }
        callbacks.on_deadline = { _, conn in
            let user = shd_conn_user(conn!)!
            if UInt(bitPattern: user) & 1 != 0 { return NATSLink.from(user).onDeadline(conn!) }
            Connection.from(conn!).onDeadline()
        }
        callbacks.on_wake = { ctx in EventLoop.from(ctx).onWake() }
        callbacks.on_post = { ctx, item in EventLoop.from(ctx).onPost(item!) }
        callbacks.before_flush = { ctx in
            let loop = EventLoop.from(ctx)
            if !loop.scheduler.buffered && loop.scheduler.hasStaged { loop.scheduler.flushAll() }
        }
        callbacks.on_interval = { ctx in EventLoop.from(ctx).scheduler.flushAll() }
        callbacks.on_tick = { ctx in EventLoop.from(ctx).onTick() }
        var options = shd_loop_options_t()
        options.max_buffered = limitsStorage.pointee.maxBuffered
        options.max_pending = limitsStorage.pointee.maxPendingBytes
        options.tick_ms = UInt32(core.config.timerTickMilliseconds)
        options.linger_ms = UInt32(core.config.lingerMilliseconds)
        guard let loop = shd_loop_new(&callbacks, Unmanaged.passUnretained(self).toOpaque(), &options) else {
            throw ServerError.loopCreation
        }
        raw = loop
        scratch.reserveCapacity(4096)
        if case .buffered(let ms) = core.config.scheduler {
            scheduler = PushScheduler(loop: self, buffered: true)
            shd_loop_set_interval(loop, UInt32(ms))
        } else {
            scheduler = PushScheduler(loop: self, buffered: false)
        }
    }

    deinit {
        shd_loop_free(raw)
        limitsStorage.deinitialize(count: 1)
        limitsStorage.deallocate()
    }

    /// New limits from a reload; on the loop's thread.
    func apply(_ limits: Limits, blacklist: HostBlacklist) {
        limitsStorage.pointee = limits
        self.blacklist = blacklist
        shd_loop_set_limits(raw, limits.maxBuffered, limits.maxPendingBytes)
        for connection in connections.values where !connection.isGone {
            shd_conn_set_max_pending(connection.raw, limits.maxPendingBytes)
        }
    }

    @inline(__always)
    static func from(_ ctx: UnsafeMutableRawPointer?) -> EventLoop {
        Unmanaged<EventLoop>.fromOpaque(ctx!).takeUnretainedValue()
    }

    func listen(host: String, port: Int) throws -> Int { try listenOn(raw, host: host, port: port) }

    /// Runs until stopped; called on the loop's own thread.
    func run() { shd_loop_run(raw) }

    /// Asks the loop to stop; safe from any thread.
    func requestStop() {
        stopFlag.store(true, ordering: .releasing)
        shd_loop_wake(raw)
    }

    private func onWake() {
        if stopFlag.load(ordering: .acquiring) {
            shd_loop_shutdown(raw)
        }
    }

    private func open(_ conn: OpaquePointer) {
        counters.add(.connectionsAccepted)
        nextSession &+= 1
        // Ids are unique per process: the loop index in the low byte.
        let id = nextSession << 8 | UInt64(index)
        let connection = Connection(raw: conn, loop: self, sessionID: id)
        shd_conn_set_user(conn, Unmanaged.passRetained(connection).toOpaque())
        // The host filter runs before any byte is read.
        if !blacklist.isEmpty && blacklist.contains(connection.session.remoteAddress) {
            counters.add(.blacklistRefused)
            logger.info("refused \(connection.session.remoteAddress): blacklisted")
            connection.refuse()
            return
        }
        if let max = core.addressLimit.max {
            guard core.addressLimit.acquire(connection.session.remoteAddress, max: max) else {
                counters.add(.addressLimitRefused)
                logger.warning("refused \(connection.session.remoteAddress): it has \(max) connections open (maxConnectionsPerAddress)")
                connection.refuse()
                return
            }
            connection.countedByAddress = true
        }
        if !core.connectionLimit.acquire() {
            counters.add(.connectionLimitRefused)
            logger.warning("refused \(connection.session.remoteAddress): max-connections (\(core.connectionLimit.max ?? 0)) reached")
            releaseAddress(of: connection)
            connection.refuse()
            return
        }
        connections[id] = connection
        core.sessions.add(connection.session)
        connection.start()
    }

    /// The connection is gone: the last thing the loop does with it.
    func closed(_ connection: Connection) {
        guard connections.removeValue(forKey: connection.sessionID) != nil else {
            // Refused at accept. Its session, made to read the peer's address,
            // holds the connection, which holds it: break that cycle here as
            // didClose does for the others, or each refusal leaks both.
            connection.session.connection = nil
            return
        }
        core.connectionLimit.release()
        releaseAddress(of: connection)
        scheduler.dropStaged(connection)
        connection.session.didClose()
        noteIfDrained()
    }

    private func releaseAddress(of connection: Connection) {
        guard connection.countedByAddress else { return }
        connection.countedByAddress = false
        core.addressLimit.release(connection.session.remoteAddress)
    }

    /// Whether the calling thread runs this loop.
    var isCurrent: Bool { shd_loop_on_thread(raw) != 0 }

    /// Posts a message to the loop (any thread). A full mailbox refuses it:
    /// counted in `TransportStats.postRefused` and false is returned.
    @discardableResult
    func post(_ message: LoopMessage) -> Bool {
        let item = Unmanaged.passRetained(message).toOpaque()
        if shd_loop_post(raw, item, 1) == 0 { return true }
        Unmanaged<LoopMessage>.fromOpaque(item).release()
        return false
    }

    /// Runs `body` on the loop after `milliseconds` (at the latest when the
    /// loop shuts down). Any thread.
    func execute(afterMilliseconds milliseconds: Int, _ body: @escaping (EventLoop) -> Void) {
        execute { loop in
            let item = Unmanaged.passRetained(ClosureMessage(body) as LoopMessage).toOpaque()
            if shd_loop_post_after(loop.raw, UInt32(clamping: max(milliseconds, 0)), item) != 0 {
                Unmanaged<LoopMessage>.fromOpaque(item).release()
            }
        }
    }

    /// Runs `body` on the loop: now if this is its thread, else posted.
    func execute(_ body: @escaping (EventLoop) -> Void) {
        if isCurrent { body(self) } else { post(ClosureMessage(body)) }
    }

    private func onPost(_ item: UnsafeMutableRawPointer) {
        let bits = UInt(bitPattern: item)
        if bits & 1 != 0 {
            // A task job (see EventLoop+Executor): tagged in the low bit.
            let job = unsafeBitCast(bits & ~1, to: UnownedJob.self)
            job.runSynchronously(on: asUnownedTaskExecutor())
        } else {
            Unmanaged<LoopMessage>.fromOpaque(item).takeRetainedValue().deliver(on: self)
        }
    }

    private func onTick() {
        if !inFlight.isEmpty { expireInFlight() }
        cluster?.tick(now: now)
        if ticketRotation != nil { rotateTicketKeyIfDue() }
        compression?.trim(now: now)
    }

    /// The compression state, made at its first use.
    func compressionState() -> LoopCompression {
        if let c = compression { return c }
        let c = LoopCompression(options: core.config.compression)
        compression = c
        return c
    }

    /// How late the loop's timers run now, in milliseconds.
    var lagMilliseconds: UInt64 { shd_loop_lag_ms(raw) }

    var now: UInt64 { shd_loop_now(raw) }

    func stats() -> shd_loop_stats_t {
        var s = shd_loop_stats_t()
        shd_loop_get_stats(raw, &s)
        return s
    }
}

/// Opens a C loop's listening socket; returns its port (the one picked, for
/// port 0).
func listenOn(_ loop: OpaquePointer, host: String, port: Int) throws -> Int {
    var bound: Int32 = 0
    let rc = shd_loop_listen(loop, host, Int32(port), &bound)
    if Int(rc) == SHD_EADDR { throw ServerError.badAddress(host) }
    if rc != 0 { throw ServerError.listen(host: host, port: port, errno: errno) }
    return Int(bound)
}

public enum ServerError: Error, CustomStringConvertible {
    case loopCreation
    case badAddress(String)
    case listen(host: String, port: Int, errno: Int32)
    case threadCreation
    case alreadyStarted

    public var description: String {
        switch self {
        case .loopCreation: return "cannot create an event loop"
        case .badAddress(let h): return "\(h) is not a numeric IPv4 or IPv6 address"
        case .listen(let h, let p, let e): return "cannot listen on \(h):\(p): \(String(cString: strerror(e)))"
        case .threadCreation: return "cannot start a loop thread"
        case .alreadyStarted: return "the server was already started"
        }
    }
}

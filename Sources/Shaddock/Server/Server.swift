import CShaddockLoop
import Dispatch
import Logging
import ShaddockProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A gateway: `threads` event loops, each on its own thread with its own
/// listening socket on the same port (SO_REUSEPORT), so the kernel spreads
/// connections and no lock is taken on accept.
public final class Server: @unchecked Sendable {
    /// The configuration in force: the one the server started with, with
    /// what reloads have changed.
    public var configuration: GatewayConfiguration { live.withLock { $0 } }
    private let live: Locked<GatewayConfiguration>
    let core: GatewayCore
    /// Readable in the module so tests can run code on a loop's thread.
    private(set) var loops: [EventLoop] = []
    private var threads: [pthread_t] = []
    private var started = false
    /// The port the server listens on (useful when configured with port 0).
    public private(set) var port = 0
    /// The admin listener's port (`/metrics`, `/healthz`); nil when it is off.
    public private(set) var adminPort: Int?
    private var admin: AdminServer?
    private let health = HealthState()
    private let leftCluster = Atomic<Bool>(false)
    /// The TLS contexts and ticket keys in use (see ServerTLS).
    private let tls = Locked(ServerTLS())

    /// A Pomelo gateway serving `application`.
    public convenience init(application: Application, configuration: GatewayConfiguration,
                            logger: Logger = Logger(label: "shaddock")) throws {
        try self.init(mode: .pomelo, application: application, configuration: configuration, logger: logger)
    }

    /// A plain WebSocket echo server on the same transport (binary and text
    /// echoed, text checked as UTF-8), for transport benchmarks and
    /// conformance runs. `maxPendingBytes` is raised to hold the echo of the
    /// largest message.
    public static func echo(configuration: GatewayConfiguration, logger: Logger = Logger(label: "shaddock")) throws -> Server {
        var configuration = configuration
        configuration.maxPendingBytes = max(configuration.maxPendingBytes,
                                            configuration.maxMessageBytes + WebSocketFrameEncoder.maxHeaderLength)
        return try Server(mode: .echo, application: Application(), configuration: configuration, logger: logger)
    }

    init(mode: GatewayCore.Mode, application: Application, configuration: GatewayConfiguration, logger: Logger) throws {
        try configuration.validate()
        var logger = logger
        logger.logLevel = configuration.logLevel
        // Several servers of a cluster often log to one terminal or journal.
        if configuration.clusterOptions != nil { logger[metadataKey: "server"] = "\(configuration.serverID)" }
        live = Locked(configuration)
        core = try GatewayCore(mode: mode, application: application, config: configuration, logger: logger)
    }

    /// Binds every loop and starts their threads; returns once all listen.
    public func start() throws {
        guard !started else { throw ServerError.alreadyStarted }
        started = true
        let configuration = core.config
        // Certificates first: a bad one stops the start before anything listens.
        let tls = try ServerTLS.make(configuration.tls, keeping: ServerTLS())
        self.tls.withLock { $0 = tls }
        if let adminPort = configuration.adminPort {
            // Bound first: a port in use stops the start before clients can connect.
            let admin = try AdminServer(logger: core.logger)
            if let context = tls.adminContext { admin.use(context) }
            self.adminPort = try admin.listen(host: configuration.adminHost, port: adminPort)
            self.admin = admin
            core.logger.info("admin listening on \(configuration.adminHost):\(self.adminPort!)")
        }
        var port = configuration.port
        for i in 0..<configuration.threads {
            let loop = try EventLoop(index: i, core: core)
            loops.append(loop)
            if configuration.tls != nil { loop.use(tls, configuration.tls) }
            loop.use(configuration.proxyProtocol)
            // A backend takes no clients.
            guard configuration.isFrontend else { continue }
            // The first loop may pick the port; the others join it.
            port = try loop.listen(host: configuration.host, port: port)
            loop.logger.info("listening on \(configuration.host):\(port)")
        }
        self.port = configuration.isFrontend ? port : 0
        if let cluster = core.cluster {
            let endpoints = loops.map { ClusterEndpoint(loop: $0, cluster: cluster) }
            for (loop, endpoint) in zip(loops, endpoints) {
                loop.cluster = endpoint
                loop.execute { _ in endpoint.start() }
            }
            cluster.attach(endpoints)
            core.sessions.cluster.withLock { $0.set(cluster) }
            core.logger.info("cluster \(cluster.options.name): \(cluster.me.id) (\(cluster.me.serverType), \(cluster.me.frontend ? "frontend" : "backend")) over NATS \(cluster.options.nats.urls.joined(separator: ", "))")
        }
        core.application.runningCore.withLock { $0.set(core) }
        core.channels.attach(loops: loops, core: core)
        for loop in loops {
            guard let tid = startThread({ loop.run() }) else {
                stop()
                throw ServerError.threadCreation
            }
            threads.append(tid)
        }
        if let cluster = core.cluster {
            let loops = self.loops
            health.setClusterCheck {
                if !loops.allSatisfy({ $0.natsUp == true }) { return "NATS not connected" }
                return cluster.announced ? nil : "not announced yet"
            }
        }
        health.isListening = true
        if let admin {
            let source = MetricsSource(loops: loops, sessions: core.sessions, health: health)
            do { try admin.start(metrics: source.render, health: health) } catch {
                stop()
                throw error
            }
        }
    }

    /// Asks every loop to stop: listeners close and connections are closed.
    /// Safe from any thread; returns at once (see `wait`).
    deinit {
        // The application and its services outlive the server: they must
        // not refer to its parts past this point (see ServerReference).
        core.application.runningCore.withLock { $0.clear(ifItIs: core) }
        if let cluster = core.cluster { core.sessions.cluster.withLock { $0.clear(ifItIs: cluster) } }
    }

    public func stop() {
        leaveCluster()
        for loop in loops { loop.requestStop() }
        admin?.requestStop()
    }

    /// Starts the server and runs until a signal ends it. SIGTERM drains
    /// (see `drain`), SIGINT stops at once, and SIGHUP reloads: `reload`
    /// reads the configuration again and what a running server can change
    /// is applied (see `reload(_:)`); without it SIGHUP is logged and
    /// ignored. The signals are blocked before any loop thread starts, so
    /// only the calling thread sees them. For a program's main thread.
    public func runUntilSignalled(reload: (() throws -> GatewayConfiguration)? = nil) throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)
        try start()
        while true {
            var received: Int32 = 0
            sigwait(&signals, &received)
            switch received {
            case SIGHUP:
                guard let reload else {
                    core.logger.warning("SIGHUP: no configuration file to reload")
                    continue
                }
                do {
                    let changed = try self.reload(try reload())
                    core.logger.notice("SIGHUP: configuration reloaded")
                    if !changed.isEmpty {
                        core.logger.warning("SIGHUP: \(changed.joined(separator: ", ")) changed; that takes a restart")
                    }
                } catch {
                    core.logger.error("SIGHUP: reload refused, nothing changed: \(error)")
                }
            case SIGTERM:
                core.logger.notice("SIGTERM: draining")
                drain()
                core.logger.notice("drained and stopped")
                return
            default:
                core.logger.notice("signal \(received): stopping")
                stop()
                wait()
                core.logger.notice("stopped")
                return
            }
        }
    }

    /// A graceful shutdown: stop accepting, kick every session with
    /// `reason` once its running requests have answered, answer whatever
    /// still runs after `timeoutSeconds` with 504 and kick the rest, wait
    /// for the connections to flush and close (at most the linger time
    /// more), then stop the loops. Blocks until the loops have stopped.
    /// From its start `/healthz` answers 503 `draining`.
    /// Defaults come from the configuration (`drainKickReason`,
    /// `drainTimeoutSeconds`).
    public func drain(reason: String? = nil, timeoutSeconds: Double? = nil) {
        // The admin listener serves until the loops stop: /healthz says 503.
        setHealth(draining: true)
        // The cluster's other servers stop sending new work here (the next
        // announcement says so); what is running finishes.
        core.cluster?.draining.store(true, ordering: .relaxed)
        // Now, not at the next interval: new work stops coming at once.
        loops.first?.execute { $0.cluster?.announceDraining() }
        let config = configuration
        let timeout = Int(((timeoutSeconds ?? config.drainTimeoutSeconds) * 1000).rounded())
        let drain = Drain(reason: reason ?? config.drainKickReason, timeoutMilliseconds: timeout, loops: loops.count)
        for loop in loops { loop.execute { $0.begin(drain) } }
        if !drain.wait(milliseconds: timeout + config.lingerMilliseconds + 1000) {
            core.logger.warning("drain: connections still open after the deadline and the linger time; closing them")
        }
        stop()
        wait()
    }

    /// Applies the settings of `file` that a running server can change
    /// without dropping a session: the blacklist, `maxConnections`,
    /// `maxConnectionsPerAddress`, `requestRate`, the size limits, the
    /// timeouts, the slow-consumer bound and policy, and the drain settings.
    /// New limits hold for every message from now on; the size limits of
    /// a connection's HTTP and WebSocket parsers are those at its accept.
    /// Returns, once every running loop has taken them, the names of other
    /// settings that differ (they take a restart). Throws, changing nothing,
    /// if `file` is invalid. Any thread.
    @discardableResult
    public func reload(_ file: GatewayConfiguration) throws(ConfigurationError) -> [String] {
        try file.validate()
        let blacklist = try HostBlacklist(file.blacklist)
        // The protos files are read again, as Pomelo's watcher does.
        let configured = live.withLock { $0 }
        let protobuf = configured.clusterOptions == nil
            ? try GatewayCore.protobufCodec(file.protobuf, application: core.application, dictionary: core.dictionary,
                                            config: configured)
            : core.protobuf.withLock { $0 }
        // The certificates are read again (a renewed one keeps its name):
        // new connections get them, open ones keep theirs.
        let tlsNow = try ServerTLS.make(file.tls, keeping: tls.withLock { $0 })
        tls.withLock { $0 = tlsNow }
        if let context = tlsNow.adminContext { admin?.use(context) }
        let (next, needRestart) = live.withLock { current in
            let (next, needRestart) = current.reloaded(from: file)
            current = next
            return (next, needRestart)
        }
        core.protobuf.withLock { $0 = protobuf }
        core.connectionLimit.max = next.maxConnections
        core.addressLimit.max = next.maxConnectionsPerAddress
        let limits = Limits(next)
        // Returns once the loops have them, so what the caller does next
        // meets the new limits.
        let applied = DispatchGroup()
        for loop in loops {
            applied.enter()
            loop.execute {
                $0.apply(limits, blacklist: blacklist)
                $0.use(tlsNow, file.tls)
                $0.use(file.proxyProtocol)
                $0.protobuf = protobuf
                applied.leave()
            }
        }
        if applied.wait(timeout: .now() + .seconds(5)) == .timedOut {
            core.logger.warning("reload: a loop did not take the new limits within 5 s (stopped?)")
        }
        return needRestart
    }

    /// Announces a clean stop, so that the others stop routing here at once,
    /// and fails what still waits for an answer (503). Once.
    private func leaveCluster() {
        guard core.cluster != nil, let first = loops.first, !leftCluster.exchange(true, ordering: .relaxed) else { return }
        let done = DispatchGroup()
        for loop in loops {
            done.enter()
            loop.execute { loop in
                loop.cluster?.leave()
                done.leave()
            }
        }
        _ = done.wait(timeout: .now() + .seconds(2))
        _ = first
    }

    /// Servers of the cluster alive now, this one included (empty without
    /// a cluster).
    public var liveServers: [ClusterServer] {
        core.liveServerSnapshot.withLock { $0 }
    }

    /// Blocks until every loop thread has finished.
    public func wait() {
        for tid in threads { pthread_join(tid, nil) }
        if !threads.isEmpty { core.channels.detach() }
        threads.removeAll()
        admin?.wait()
    }

    /// A counter summed over the loops.
    public func counter(_ c: GatewayCounter) -> UInt64 {
        loops.reduce(0) { $0 + $1.counters.load(c) }
    }

    /// Every counter, summed over the loops.
    public func counters() -> [GatewayCounter: UInt64] {
        Dictionary(uniqueKeysWithValues: GatewayCounter.allCases.map { ($0, counter($0)) })
    }

    /// The transport's counters, summed over the loops.
    public func transportStats() -> TransportStats {
        var total = TransportStats()
        for loop in loops { total.add(loop.stats()) }
        return total
    }

    /// Every counter in the Prometheus text format (0.0.4), as the admin
    /// listener's `/metrics` serves it (docs/metrics.md). Any thread.
    public func metrics() -> String {
        MetricsSource(loops: loops, sessions: core.sessions, health: health).render()
    }

    /// Whether `/healthz` answers 503 `draining` (true) or 200 `ok`: set
    /// while the server drains so a load balancer stops sending clients.
    /// Any thread.
    public func setHealth(draining: Bool) { health.isDraining = draining }

    /// Whether `/healthz` answers 503 `draining`.
    public var isDraining: Bool { health.isDraining }

    /// Replaces the blacklist (exact addresses, CIDR ranges, regular
    /// expressions) without touching open sessions; new connections are
    /// checked against it. Any thread. Throws (and changes nothing) if an
    /// entry is invalid.
    public func reloadBlacklist(_ entries: [String]) throws(ConfigurationError) {
        var file = configuration
        file.blacklist = entries
        try reload(file)
    }

    /// Sessions by id and uid.
    public var sessions: SessionService { core.sessions }

    /// Channels, and pushes to uids and to everyone.
    public var channels: ChannelService { core.channels }

    /// The route dictionary the server sends to clients.
    public var dictionary: RouteDictionary { core.dictionary }
}

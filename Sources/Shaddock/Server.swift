import CShaddockLoop
import Logging
import ShaddockProtocol

#if canImport(Glibc)
import Glibc
#endif

/// A gateway: `threads` event loops, each on its own thread with its own
/// listening socket on the same port (SO_REUSEPORT), so the kernel spreads
/// connections and no lock is taken on accept.
public final class Server: @unchecked Sendable {
    public let configuration: GatewayConfiguration
    let core: GatewayCore
    /// Readable in the module so tests can run code on a loop's thread.
    private(set) var loops: [EventLoop] = []
    private var threads: [pthread_t] = []
    private var started = false
    /// The port the server listens on (useful when configured with port 0).
    public private(set) var port = 0

    /// A Pomelo gateway serving `application`.
    public convenience init(application: Application, configuration: GatewayConfiguration,
                            logger: Logger = Logger(label: "shaddock")) throws {
        try self.init(mode: .pomelo, application: application, configuration: configuration, logger: logger)
    }

    /// A plain WebSocket echo server on the same transport (binary and text
    /// echoed, text checked as UTF-8), for transport benchmarks and
    /// conformance runs. `maxMessageBytes` may go up to
    /// `GatewayConfiguration.maxEchoMessageBytes`, and `maxPendingBytes` is
    /// raised to hold the echo of the largest message.
    public static func echo(configuration: GatewayConfiguration, logger: Logger = Logger(label: "shaddock")) throws -> Server {
        var configuration = configuration
        configuration.maxPendingBytes = max(configuration.maxPendingBytes,
                                            configuration.maxMessageBytes + WebSocketFrameEncoder.maxHeaderLength)
        return try Server(mode: .echo, application: Application(), configuration: configuration, logger: logger)
    }

    init(mode: GatewayCore.Mode, application: Application, configuration: GatewayConfiguration, logger: Logger) throws {
        try configuration.validate(echo: mode == .echo)
        var logger = logger
        logger.logLevel = configuration.logLevel
        self.configuration = configuration
        core = try GatewayCore(mode: mode, application: application, config: configuration, logger: logger)
    }

    /// Binds every loop and starts their threads; returns once all listen.
    public func start() throws {
        guard !started else { throw ServerError.alreadyStarted }
        started = true
        var port = configuration.port
        for i in 0..<configuration.threads {
            let loop = try EventLoop(index: i, core: core)
            // The first loop may pick the port; the others join it.
            port = try loop.listen(host: configuration.host, port: port)
            loops.append(loop)
            loop.logger.info("listening on \(configuration.host):\(port)")
        }
        self.port = port
        core.channels.attach(loops: loops, core: core)
        for loop in loops {
            var tid = pthread_t()
            let arg = Unmanaged.passRetained(loop).toOpaque()
            let rc = pthread_create(&tid, nil, { arg in
                let loop = Unmanaged<EventLoop>.fromOpaque(arg!).takeRetainedValue()
                loop.run()
                return nil
            }, arg)
            if rc != 0 {
                Unmanaged<EventLoop>.fromOpaque(arg).release()
                stop()
                throw ServerError.threadCreation
            }
            threads.append(tid)
        }
    }

    /// Asks every loop to stop: listeners close and connections are closed.
    /// Safe from any thread; returns at once (see `wait`).
    public func stop() {
        for loop in loops { loop.requestStop() }
    }

    /// Starts the server and runs until SIGINT or SIGTERM, then stops it
    /// cleanly. The signals are blocked before any loop thread starts, so
    /// only the calling thread sees them. For a program's main thread.
    public func runUntilSignalled() throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)
        try start()
        var received: Int32 = 0
        sigwait(&signals, &received)
        core.logger.info("signal \(received): stopping")
        stop()
        wait()
        core.logger.info("stopped")
    }

    /// Blocks until every loop thread has finished.
    public func wait() {
        for tid in threads { pthread_join(tid, nil) }
        threads.removeAll()
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

    /// Replaces the blacklist (exact addresses, CIDR ranges, regular
    /// expressions) without touching open sessions; new connections are
    /// checked against it. Any thread. Throws (and changes nothing) if an
    /// entry is invalid.
    public func reloadBlacklist(_ entries: [String]) throws(ConfigurationError) {
        let list = try HostBlacklist(entries)
        for loop in loops { loop.execute { $0.blacklist = list } }
    }

    /// Sessions by id and uid.
    public var sessions: SessionService { core.sessions }

    /// Channels, and pushes to uids and to everyone.
    public var channels: ChannelService { core.channels }

    /// The route dictionary the server sends to clients.
    public var dictionary: RouteDictionary { core.dictionary }
}

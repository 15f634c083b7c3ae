import CShaddockLoop
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Whether the server is draining (`/healthz`), and whether it is ready
/// for clients (`/readyz`). Any thread.
final class HealthState: Sendable {
    private let draining = Atomic<Bool>(false)
    private let listening = Atomic<Bool>(false)
    /// With a cluster: why the server cannot serve yet (nil: it can).
    private let clusterCheck = Locked<(@Sendable () -> String?)?>(nil)

    var isDraining: Bool {
        get { draining.load(ordering: .relaxed) }
        set { draining.store(newValue, ordering: .relaxed) }
    }

    /// Set once every loop listens and runs.
    var isListening: Bool {
        get { listening.load(ordering: .relaxed) }
        set { listening.store(newValue, ordering: .relaxed) }
    }

    func setClusterCheck(_ check: @escaping @Sendable () -> String?) { clusterCheck.withLock { $0 = check } }

    /// Nil when ready; otherwise why not: starting, draining, or the
    /// cluster's (NATS not connected, not announced yet).
    var notReady: String? {
        if isDraining { return "draining" }
        if !isListening { return "starting" }
        return clusterCheck.withLock { $0 }?()
    }
}

/// The admin listener: `GET /metrics` and `GET /healthz` over HTTP/1.1, on
/// a thread and a libuv loop of its own (the C shim's, listening without
/// SO_REUSEPORT). A scrape reads the gateway loops' counters from here and
/// never runs on a gateway loop. One request per connection: the answer
/// carries `Connection: close` and the connection is closed after it.
final class AdminServer: @unchecked Sendable {
    /// Connections served at once; more are closed on accept, unanswered.
    static let maxConnections = 16
    static let maxHeadBytes = 8192
    /// From accept to a complete request head.
    static let requestTimeoutMilliseconds: UInt64 = 5000

    private var raw: OpaquePointer!
    /// A TLS context to take on the admin loop's thread (see `use`).
    private let nextTLS = Locked<TLSContext?>(nil)
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private var thread: pthread_t?
    /// Set before the thread starts; used on it.
    private var metrics: (() -> String)?
    private var health: HealthState?
    /// Connections counted against `maxConnections`; loop thread only.
    private var active = 0

    init(logger: Logger) throws {
        self.logger = logger
        var callbacks = shd_callbacks_t()
        callbacks.on_open = { ctx, conn in AdminServer.from(ctx).open(conn!) }
        callbacks.on_data = { ctx, conn, data, len in
            AdminServer.from(ctx).onData(conn!, UnsafeRawBufferPointer(start: data, count: len))
        }
        callbacks.on_close = { ctx, conn, _ in AdminServer.from(ctx).closed(conn!) }
        callbacks.on_deadline = { _, conn in shd_conn_close(conn, Int32(SHD_CLOSE_ABORT)) }
        callbacks.on_wake = { ctx in AdminServer.from(ctx).onWake() }
        var options = shd_loop_options_t()
        options.read_buffer_size = 16 * 1024
        options.max_buffered = Self.maxHeadBytes
        options.tick_ms = 250
        options.linger_ms = 1000
        options.backlog = 64
        options.exclusive_port = 1
        guard let loop = shd_loop_new(&callbacks, Unmanaged.passUnretained(self).toOpaque(), &options) else {
            throw ServerError.loopCreation
        }
        raw = loop
    }

    deinit { shd_loop_free(raw) }

    private static func from(_ ctx: UnsafeMutableRawPointer?) -> AdminServer {
        Unmanaged<AdminServer>.fromOpaque(ctx!).takeUnretainedValue()
    }

    /// TLS for connections accepted from now on (required: the admin
    /// listener serves no plaintext once it has TLS). Any thread.
    func use(_ context: TLSContext) {
        nextTLS.withLock { $0 = context }
        if thread == nil { applyTLS() } else { shd_loop_wake(raw) }
    }

    private func applyTLS() {
        guard let context = nextTLS.withLock({ c -> TLSContext? in defer { c = nil }; return c }) else { return }
        shd_loop_set_tls(raw, context.raw, 1)
    }

    /// Binds the listener; returns the port (the one picked, for port 0).
    func listen(host: String, port: Int) throws -> Int { try listenOn(raw, host: host, port: port) }

    /// Starts serving on its own thread: `metrics` renders `/metrics` there.
    func start(metrics: @escaping () -> String, health: HealthState) throws {
        self.metrics = metrics
        self.health = health
        guard let tid = startThread({ _ = shd_loop_run(self.raw) }) else { throw ServerError.threadCreation }
        thread = tid
    }

    /// Closes the listener and every admin connection; any thread.
    func requestStop() {
        stopping.store(true, ordering: .releasing)
        shd_loop_wake(raw)
    }

    /// Blocks until the thread has finished.
    func wait() {
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    private func onWake() {
        applyTLS()
        if stopping.load(ordering: .acquiring) { shd_loop_shutdown(raw) }
    }

    private func open(_ conn: OpaquePointer) {
        guard active < Self.maxConnections else {
            logger.debug("admin: refused a connection, \(Self.maxConnections) already open")
            shd_conn_close(conn, Int32(SHD_CLOSE_ABORT))
            return
        }
        active += 1
        // A user pointer marks the connection as counted.
        shd_conn_set_user(conn, Unmanaged.passUnretained(self).toOpaque())
        shd_conn_set_deadline(conn, shd_loop_now(raw) + Self.requestTimeoutMilliseconds)
    }

    private func closed(_ conn: OpaquePointer) {
        if shd_conn_user(conn) != nil { active -= 1 }
    }

    private func onData(_ conn: OpaquePointer, _ data: UnsafeRawBufferPointer) -> Int {
        guard let request = AdminRequest.scan(data, maxHeadBytes: Self.maxHeadBytes) else { return 0 }
        if request == .badRequest { logger.debug("admin: bad request") }
        let answer = respond(to: request)
        _ = answer.withUnsafeBytes { shd_conn_write(conn, $0.baseAddress, $0.count) }
        shd_conn_close(conn, Int32(SHD_CLOSE_GRACEFUL))
        return data.count
    }

    /// The whole response, head and body.
    func respond(to request: AdminRequest) -> [UInt8] {
        let text = "text/plain; charset=utf-8"
        switch request {
        case .metrics(let headOnly):
            return Self.response("200 OK", MetricsExposition.contentType, metrics?() ?? "", headOnly: headOnly)
        case .health(let headOnly):
            if health?.isDraining == true {
                return Self.response("503 Service Unavailable", text, "draining\n", headOnly: headOnly)
            }
            return Self.response("200 OK", text, "ok\n", headOnly: headOnly)
        case .ready(let headOnly):
            if let why = health?.notReady ?? (health == nil ? "starting" : nil) {
                return Self.response("503 Service Unavailable", text, why + "\n", headOnly: headOnly)
            }
            return Self.response("200 OK", text, "ready\n", headOnly: headOnly)
        case .notFound:
            return Self.response("404 Not Found", text, "not found\n")
        case .methodNotAllowed:
            return Self.response("405 Method Not Allowed", text, "only GET and HEAD\n", extra: "Allow: GET, HEAD\r\n")
        case .badRequest:
            return Self.response("400 Bad Request", text, "bad request\n")
        }
    }

    private static func response(_ status: String, _ type: String, _ body: String, headOnly: Bool = false,
                                 extra: String = "") -> [UInt8] {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\(extra)\r\n"
        var bytes = Array(head.utf8)
        if !headOnly { bytes += body.utf8 }
        return bytes
    }
}

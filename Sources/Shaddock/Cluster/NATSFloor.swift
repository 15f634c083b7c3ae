import Logging
import ShaddockProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The floor under a forwarded request, for `bench/`: one loop with one
/// NATS link (the cluster's own client, exactly as a server uses it) that
/// either answers every message on a subject with its own payload (the
/// responder) or keeps `depth` requests to that subject outstanding (the
/// requester). Nothing else runs, so what it costs is what NATS and the
/// client cost; a forwarded request costs that plus Shaddock's work.
@_spi(Bench)
public final class NATSFloor: @unchecked Sendable, NATSLinkDelegate {
    public enum Role: Sendable {
        case responder
        case requester(depth: Int)
    }

    /// What the requester counted in its measured window.
    public struct Result: Sendable {
        public var requests: UInt64
        public var seconds: Double
        /// Request-to-answer times in microseconds, by percentile.
        public var latencyMicroseconds: [Double: Double]
    }

    private let role: Role
    private let subject: [UInt8]
    private let inbox: [UInt8]
    private let loop: EventLoop
    private let link: NATSLink
    /// Loop-thread state of the requester: each slot's send time (ns).
    private var sentAt: [UInt64] = []
    private var counting = false
    /// Set once the loop is asked to stop: the link closing then is expected.
    private let stopping = Atomic<Bool>(false)
    private var completed: UInt64 = 0
    private var windowStart: UInt64 = 0
    private var windowEnd: UInt64 = 0
    /// Latencies in 1 µs buckets up to 100 ms (the last one holds the rest).
    private var histogram = [UInt32](repeating: 0, count: 100_001)
    private let failure = Mutex<String?>(nil)

    public init(url: String, role: Role, subject: String = "shaddock.floor") throws {
        var options = NATSOptions()
        guard options.add(url: url) else { throw ConfigurationError.invalid("nats", "not a NATS URL: \(url)") }
        options.clientName = "shaddock-floor"
        var config = GatewayConfiguration()
        config.threads = 1
        let core = try GatewayCore(mode: .pomelo, application: Application(), config: config,
                                   logger: Logger(label: "shaddock.floor"))
        self.role = role
        self.subject = Array(subject.utf8)
        inbox = Array("\(subject).reply.\(getpid())".utf8)
        loop = try EventLoop(index: 0, core: core)
        link = NATSLink(loop: loop, options: options)
        link.delegate = self
        switch role {
        case .responder:
            link.subscribe(subject, queue: "floor")
        case .requester(let depth):
            sentAt = [UInt64](repeating: 0, count: max(depth, 1))
            link.subscribe(String(decoding: inbox, as: UTF8.self))
        }
    }

    /// Runs on the calling thread until `stop()` (the responder) or the end
    /// of the window (the requester: `warmup` seconds, then `seconds`
    /// measured). `onWindow(true)` and `onWindow(false)` run on the loop at
    /// the window's edges (to sample other processes' CPU time there).
    public func run(warmup: Double = 0, seconds: Double = 0, onWindow: @escaping (Bool) -> Void = { _ in }) throws -> Result {
        loop.execute { [self] _ in link.start() }
        if case .requester = role {
            loop.execute(afterMilliseconds: Int(warmup * 1000)) { [self] _ in
                onWindow(true)
                counting = true
                windowStart = Self.nanoseconds()
            }
            loop.execute(afterMilliseconds: Int((warmup + seconds) * 1000)) { [self] loop in
                windowEnd = Self.nanoseconds()
                counting = false
                onWindow(false)
                stop()
            }
        }
        loop.run()
        if let message = failure.withLock({ $0 }) { throw ConfigurationError.invalid("nats", message) }
        return result()
    }

    /// Stops the loop; from any thread.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        loop.requestStop()
    }

    private func result() -> Result {
        var latency: [Double: Double] = [:]
        let total = histogram.reduce(0) { $0 + UInt64($1) }
        for p in [50.0, 90.0, 99.0, 99.9] {
            let rank = UInt64((Double(total) * p / 100).rounded(.up))
            var seen: UInt64 = 0
            for (us, n) in histogram.enumerated() {
                seen += UInt64(n)
                if seen >= max(rank, 1) { latency[p] = Double(us); break }
            }
        }
        return Result(requests: completed, seconds: Double(windowEnd &- windowStart) / 1e9, latencyMicroseconds: latency)
    }

    private static func nanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    private func send(slot: Int) {
        sentAt[slot] = Self.nanoseconds()
        var index = UInt64(slot).littleEndian
        withUnsafeBytes(of: &index) { payload in
            subject.withUnsafeBytes { subject in
                inbox.withUnsafeBytes { inbox in
                    _ = link.publish(subject: subject, replyTo: inbox, payload)
                }
            }
        }
    }

    // MARK: NATSLinkDelegate

    func link(_ link: NATSLink, message: NATSMessage, sid: UInt64, in bytes: UnsafeRawBufferPointer) {
        let payload = UnsafeRawBufferPointer(rebasing: bytes[message.payload])
        switch role {
        case .responder:
            guard let reply = message.replyTo else { return }
            _ = link.publish(subject: UnsafeRawBufferPointer(rebasing: bytes[reply]), payload)
        case .requester:
            guard payload.count == 8 else { return }
            let slot = Int(payload.loadUnaligned(as: UInt64.self).littleEndian)
            guard slot < sentAt.count else { return }
            if counting {
                completed += 1
                let us = Int((Self.nanoseconds() &- sentAt[slot]) / 1000)
                histogram[min(us, histogram.count - 1)] += 1
            }
            send(slot: slot)
        }
    }

    func linkUp(_ link: NATSLink) {
        // The responder's subscription is written before the requester
        // starts (the bench starts it first); requests then flow at once.
        if case .requester = role {
            for slot in sentAt.indices { send(slot: slot) }
        }
    }

    func linkDown(_ link: NATSLink) {
        guard !stopping.load(ordering: .relaxed) else { return }
        failure.withLock { $0 = "the NATS connection was lost" }
        loop.requestStop()
    }
}

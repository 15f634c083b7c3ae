import CShaddockLoop
import ShaddockProtocol

#if canImport(Glibc)
import Glibc
#endif

/// What a NATS link tells its owner (the loop's cluster endpoint).
protocol NATSLinkDelegate: AnyObject {
    /// A message on subscription `sid`; `bytes` holds the ranges of `message`
    /// and is valid only during the call.
    func link(_ link: NATSLink, message: NATSMessage, sid: UInt64, in bytes: UnsafeRawBufferPointer)
    /// Connected (CONNECT and the subscriptions are written).
    func linkUp(_ link: NATSLink)
    /// The connection is gone; a reconnect is scheduled.
    func linkDown(_ link: NATSLink)
}

/// One loop's connection to NATS, on the C shim's outgoing connections: a
/// message published from the loop leaves on it, and the answers come back
/// to the same loop, so the forward path takes no lock and no mailbox hop.
/// What the loop publishes in one iteration is written in one call, like
/// client writes. Reconnects to any known server with backoff and jitter,
/// and re-subscribes. While down, messages wait in a bounded buffer (a full
/// buffer drops them, counted); requests are refused by the caller, which
/// checks `isUp`. Everything here runs on the loop's thread.
final class NATSLink {
    enum State { case down, connecting, up, closed }

    struct Subscription {
        let subject: String
        let queue: String?
    }

    unowned(unsafe) let loop: EventLoop
    /// Its owner (the loop's cluster endpoint), which keeps the link and
    /// outlives its callbacks. Not weak: a weak reference gives the owner a
    /// side table, and every retain of it on the message path would take the
    /// runtime's slow path.
    unowned(unsafe) var delegate: (any NATSLinkDelegate)?
    let options: NATSOptions
    private(set) var state = State.down
    private var raw: OpaquePointer?
    private var subscriptions: [UInt64: Subscription] = [:]
    private var nextSID: UInt64 = 0
    /// The servers to try: the configured ones, then those INFO names.
    private var servers: [NATSServerAddress]
    private var serverIndex = 0
    private var attempts = 0
    /// Loop time of the next connect attempt while down.
    private var reconnectAt: UInt64 = 0
    private var lastPing: UInt64 = 0
    private var pingsOut = 0
    /// Bytes waiting for the connection, bounded by `options.pendingBytes`.
    private var pending: [UInt8] = []
    /// Control lines composed here (PUB headers): reused, never shrinks.
    private var scratch: [UInt8] = []
    private(set) var maxPayload = 1 << 20
    private var parser = NATSParser(maxControlLine: 4096, maxPayload: 1 << 20)
    /// The connection to a server in lame-duck mode, kept open while the
    /// link connects elsewhere: answers to what was sent on it still arrive
    /// there. Closed by that server, or at `closeAt`.
    private var retiring: (raw: OpaquePointer, closeAt: UInt64)?
    /// How long a retiring connection may stay open: past the longest
    /// request timeout anyone uses, answers on it are late anyway.
    static let retireMilliseconds: UInt64 = 30_000
    /// The server is in lame-duck mode: move away at the next chance.
    private(set) var lameDuck = false
    /// The connection the current server reported (INFO `server_id`), for logs.
    private(set) var serverName = ""

    init(loop: EventLoop, options: NATSOptions) {
        self.loop = loop
        self.options = options
        servers = options.servers
        // Loops start on different servers of a NATS cluster.
        serverIndex = servers.isEmpty ? 0 : loop.index % servers.count
        scratch.reserveCapacity(256)
    }

    /// Whether requests may be sent: connected, or moving off a server in
    /// lame-duck mode (messages wait in the buffer until the new connection
    /// is up, moments later).
    var isUp: Bool { state == .up || retiring != nil }
    /// Moving off a server in lame-duck mode (its connection still open).
    var isMoving: Bool { retiring != nil }

    // MARK: Subscriptions and publishing

    /// Subscribes now and after every reconnect; returns the sid.
    @discardableResult
    func subscribe(_ subject: String, queue: String? = nil) -> UInt64 {
        nextSID += 1
        subscriptions[nextSID] = Subscription(subject: subject, queue: queue)
        if state == .up {
            scratch.removeAll(keepingCapacity: true)
            NATSEncoder.subscribe(subject: subject, queue: queue, sid: nextSID, into: &scratch)
            write(scratch)
        }
        return nextSID
    }

    enum PublishResult { case sent, buffered, refusedTooLarge, droppedBufferFull }

    /// Publishes `payload` (which may be split in two parts, written as one).
    /// Over the server's `max_payload` it is refused, never sent; while down
    /// it waits in the bounded buffer.
    @discardableResult
    func publish(subject: UnsafeRawBufferPointer, replyTo: UnsafeRawBufferPointer? = nil,
                 _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) -> PublishResult {
        let count = a.count + b.count
        if count > maxPayload {
            loop.counters.add(.natsPayloadRefused)
            loop.logger.warning("NATS: a \(count)-byte message is over the server's max_payload (\(maxPayload)); not sent")
            return .refusedTooLarge
        }
        scratch.removeAll(keepingCapacity: true)
        NATSEncoder.publishHeader(subject: subject, replyTo: replyTo, payloadCount: count, into: &scratch)
        loop.counters.add(.natsMessagesOut)
        if state == .up, let raw {
            let crlf: (UInt8, UInt8) = (13, 10)
            return withUnsafeBytes(of: crlf) { crlf in
                scratch.withUnsafeBytes { head in
                    withUnsafeTemporaryAllocation(of: shd_slice_t.self, capacity: 4) { parts in
                        parts[0] = shd_slice_t(base: head.baseAddress, len: head.count)
                        parts[1] = shd_slice_t(base: a.baseAddress, len: a.count)
                        parts[2] = shd_slice_t(base: b.baseAddress, len: b.count)
                        parts[3] = shd_slice_t(base: crlf.baseAddress, len: 2)
                        let rc = shd_conn_writev(raw, parts.baseAddress, 4)
                        if rc != 0 {
                            // Past the link's own bound: NATS is not reading.
                            loop.counters.add(.natsBufferDropped)
                            return PublishResult.droppedBufferFull
                        }
                        loop.counters.add(.natsBytesOut, UInt64(head.count + count + 2))
                        return PublishResult.sent
                    }
                }
            }
        }
        guard pending.count + scratch.count + count + 2 <= options.pendingBytes else {
            loop.counters.add(.natsBufferDropped)
            return .droppedBufferFull
        }
        pending.append(contentsOf: scratch)
        pending.append(contentsOf: a)
        pending.append(contentsOf: b)
        pending.append(contentsOf: [13, 10])
        return .buffered
    }

    private func write(_ bytes: [UInt8], to conn: OpaquePointer? = nil) {
        guard let raw = conn ?? raw else { return }
        bytes.withUnsafeBytes { b in
            _ = shd_conn_write(raw, b.baseAddress, b.count)
            loop.counters.add(.natsBytesOut, UInt64(b.count))
        }
    }

    // MARK: Connecting

    /// Starts the first connect; reconnects follow by themselves.
    func start() { connect() }

    /// Closes for good (the server stops).
    func close() {
        state = .closed
        if let raw { shd_conn_close(raw, Int32(SHD_CLOSE_GRACEFUL)) }
        if let retiring { shd_conn_close(retiring.raw, Int32(SHD_CLOSE_GRACEFUL)) }
    }

    private func connect() {
        guard state != .closed, !servers.isEmpty else { return }
        let server = servers[serverIndex % servers.count]
        state = .connecting
        var err: Int32 = 0
        let tagged = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()) | 1)
        guard let conn = shd_loop_connect(loop.raw, server.host, Int32(server.port), nil, tagged, &err) else {
            loop.logger.warning("NATS: cannot connect to \(server): error \(err)")
            if !fallBackToRetiring() { scheduleReconnect() }
            return
        }
        raw = conn
        // Input can be as large as the server's biggest message.
        shd_conn_set_max_buffered(conn, 64 << 20)
        shd_conn_set_max_pending(conn, max(options.pendingBytes, 1 << 20))
        shd_conn_set_deadline(conn, loop.now + UInt64(options.connectTimeoutMilliseconds))
    }

    private func scheduleReconnect() {
        guard state != .closed else { return }
        state = .down
        attempts += 1
        serverIndex += 1
        // Exponential backoff from reconnectWait up to its maximum; the wait
        // is drawn from its upper half, so that many loops and servers do
        // not all reconnect in the same instant and none waits longer than
        // the maximum (a NATS server back is found within it).
        let base = options.reconnectWaitMilliseconds << min(attempts - 1, 10)
        let wait = UInt64(max(min(base, options.maxReconnectWaitMilliseconds), 1))
        reconnectAt = loop.now + wait / 2 + UInt64.random(in: 0...(wait - wait / 2))
    }

    /// The loop's timer tick: reconnects when due, pings the server, and
    /// treats a server that stopped answering pings as gone.
    func tick(now: UInt64) {
        if let retiring, now >= retiring.closeAt { shd_conn_close(retiring.raw, Int32(SHD_CLOSE_GRACEFUL)) }
        switch state {
        case .down:
            if now >= reconnectAt { connect() }
        case .up:
            guard now - lastPing >= UInt64(options.pingIntervalMilliseconds) else { return }
            if pingsOut >= options.maxPingsOut {
                loop.logger.warning("NATS: \(pingsOut) pings unanswered; reconnecting")
                if let raw { shd_conn_close(raw, Int32(SHD_CLOSE_ABORT)) }
                return
            }
            lastPing = now
            pingsOut += 1
            scratch.removeAll(keepingCapacity: true)
            NATSEncoder.ping(into: &scratch)
            write(scratch)
        case .connecting, .closed:
            break
        }
    }

    // MARK: The shim's callbacks

    static func from(_ user: UnsafeMutableRawPointer) -> NATSLink {
        Unmanaged<NATSLink>.fromOpaque(UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: user) & ~1)!)
            .takeUnretainedValue()
    }

    func onOpen() {
        // Nothing to write until INFO arrives; it must come within the
        // connect timeout.
    }

    /// Input on the current connection or on a retiring one (the scan keeps
    /// no state between calls, so one parser reads both).
    func onData(_ conn: OpaquePointer, _ data: UnsafeRawBufferPointer) -> Int {
        loop.counters.add(.natsBytesIn, UInt64(data.count))
        let isRetiring = conn == retiring?.raw
        var offset = 0
        while offset < data.count, shd_conn_is_closing(conn) == 0 {
            switch parser.scan(data, at: offset) {
            case .needMore:
                return offset
            case .failure(let error):
                loop.counters.add(.natsProtocolErrors)
                loop.logger.error("NATS: unreadable input from \(serverName): \(error); reconnecting")
                shd_conn_close(conn, Int32(SHD_CLOSE_ABORT))
                return data.count
            case .op(let op, let end):
                handle(op, data, on: conn, retiring: isRetiring)
                offset = end
            }
        }
        return data.count
    }

    private func handle(_ op: NATSServerOp, _ data: UnsafeRawBufferPointer, on conn: OpaquePointer, retiring: Bool) {
        switch op {
        case .msg(let message):
            loop.counters.add(.natsMessagesIn)
            delegate?.link(self, message: message, sid: message.sid, in: data)
        case .ping:
            scratch.removeAll(keepingCapacity: true)
            NATSEncoder.pong(into: &scratch)
            write(scratch, to: conn)
        case .pong:
            if !retiring { pingsOut = 0 }
        case .ok:
            break
        case .info(let json):
            if !retiring { info(UnsafeRawBufferPointer(rebasing: data[json])) }
        case .err(let message):
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: data[message]), as: UTF8.self)
            loop.counters.add(.natsErrors)
            loop.logger.error("NATS: -ERR '\(text)' from \(serverName)")
            // Some errors (authorization, a stale connection) are followed
            // by the server closing; those that are not need nothing here.
        }
    }

    /// INFO: the first one starts the session; later ones update the list
    /// of servers and may announce lame-duck mode.
    private func info(_ json: UnsafeRawBufferPointer) {
        guard let info = (try? JSON.parse(json))?.objectValue else {
            loop.logger.error("NATS: INFO is not a JSON object")
            return
        }
        if let max = info["max_payload"]?.intValue, max > 0 {
            maxPayload = max
            parser.maxPayload = max
        }
        if let urls = info["connect_urls"]?.arrayValue {
            for url in urls.compactMap(\.stringValue) {
                if let s = NATSServerAddress(url), !servers.contains(s) { servers.append(s) }
            }
        }
        if info["ldm"]?.boolValue == true && !lameDuck {
            lameDuck = true
            guard let raw, state == .up, retiring == nil, servers.count > 1 else {
                loop.logger.notice("NATS: \(serverName) entered lame-duck mode and there is no other server; staying until it closes")
                return
            }
            // Move elsewhere now, without failing anything: this connection
            // stays open for the answers to what was sent on it, and what is
            // sent from now on waits for the new one.
            loop.logger.notice("NATS: \(serverName) entered lame-duck mode; moving to another server")
            retiring = (raw, loop.now + Self.retireMilliseconds)
            self.raw = nil
            state = .down
            serverIndex += 1
            connect()
            return
        }
        guard state == .connecting, let raw else { return }
        serverName = info["server_id"]?.stringValue ?? "nats"
        shd_conn_set_deadline(raw, 0)
        var out: [UInt8] = []
        NATSEncoder.connect(connectJSON(), into: &out)
        for (sid, s) in subscriptions.sorted(by: { $0.key < $1.key }) {
            NATSEncoder.subscribe(subject: s.subject, queue: s.queue, sid: sid, into: &out)
        }
        out.append(contentsOf: pending)
        pending = []
        write(out)
        state = .up
        loop.natsConnected.store(true, ordering: .relaxed)
        lameDuck = false
        attempts = 0
        pingsOut = 0
        lastPing = loop.now
        loop.counters.add(.natsConnects)
        loop.logger.info("NATS: connected to \(servers[serverIndex % servers.count]) (\(serverName))")
        delegate?.linkUp(self)
    }

    private func connectJSON() -> [UInt8] {
        var fields: [(String, JSONValue)] = [
            ("verbose", false), ("pedantic", false), ("headers", true), ("no_responders", true),
            ("protocol", 1), ("lang", "swift"), ("version", "shaddock"),
            ("name", .string(options.clientName)),
        ]
        let server = servers[serverIndex % servers.count]
        if let user = server.user ?? options.user { fields.append(("user", .string(user))) }
        if let pass = server.password ?? options.password { fields.append(("pass", .string(pass))) }
        if let token = server.token ?? options.token { fields.append(("auth_token", .string(token))) }
        return JSONValue.object(JSONObject(fields.map { (key: $0.0, value: $0.1) })).serialized
    }

    func onDeadline(_ conn: OpaquePointer) {
        // Only armed while connecting: no INFO in time.
        loop.logger.warning("NATS: no INFO from \(servers[serverIndex % servers.count]) within \(options.connectTimeoutMilliseconds) ms")
        shd_conn_close(conn, Int32(SHD_CLOSE_ABORT))
    }

    func onClosed(_ conn: OpaquePointer) {
        if conn == retiring?.raw {
            // The lame-duck server let it go (or its time was up).
            retiring = nil
            if state != .up && state != .closed {
                // The new connection is not up yet: now requests fail at once.
                loop.natsConnected.store(false, ordering: .relaxed)
                delegate?.linkDown(self)
            }
            return
        }
        let wasUp = state == .up
        raw = nil
        if state == .closed { return }
        if !wasUp && fallBackToRetiring() { return }
        loop.natsConnected.store(false, ordering: .relaxed)
        if wasUp {
            loop.counters.add(.natsDisconnects)
            loop.logger.warning("NATS: disconnected from \(serverName); reconnecting")
        } else if loop.index == 0 && attempts % 60 == 0 {
            // The first failed attempt of a streak, then about every minute
            // at the longest backoff: enough to see why nothing forwards.
            loop.logger.warning("NATS: cannot reach \(servers[serverIndex % servers.count]) (attempt \(attempts + 1)); retrying")
        }
        scheduleReconnect()
        if wasUp { delegate?.linkDown(self) }
    }
}

extension NATSLink {
    /// Moving off a lame-duck server failed (the other server could not be
    /// reached): the old connection still works, so it serves again, with
    /// what waited in the buffer, until its server closes it. Then the
    /// link reconnects as after any loss.
    fileprivate func fallBackToRetiring() -> Bool {
        guard let retiring, state != .closed else { return false }
        self.retiring = nil
        raw = retiring.raw
        state = .up
        lastPing = loop.now
        pingsOut = 0
        if !pending.isEmpty {
            write(pending)
            pending = []
        }
        loop.logger.warning("NATS: no other server reachable; staying on \(serverName) (lame duck) until it closes")
        return true
    }
}

/// Where a NATS server is: from `nats://[user:pass@|token@]host:port`,
/// `host:port` or a bare host (port 4222).
struct NATSServerAddress: Equatable, Sendable, CustomStringConvertible {
    var host: String
    var port: Int
    var user: String?
    var password: String?
    var token: String?

    init?(_ url: String) {
        var rest = Substring(url)
        if rest.hasPrefix("nats://") {
            rest = rest.dropFirst(7)
        } else if rest.contains("://") {
            return nil
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                token = String(credentials)
            }
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = rest
        port = 4222
        if rest.hasPrefix("[") {
            // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
        } else if let colon = rest.lastIndex(of: ":"), rest.filter({ $0 == ":" }).count == 1 {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        guard let numeric = NATSServerAddress.numeric(String(host)) else { return nil }
        self.host = numeric
    }

    /// A numeric address for the shim: numeric hosts as they are, names
    /// resolved once (at start-up, from the configuration).
    static func numeric(_ host: String) -> String? {
        var probe = in6_addr()
        if inet_pton(AF_INET, host, &probe) == 1 || inet_pton(AF_INET6, host, &probe) == 1 { return host }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok: Bool
        if first.pointee.ai_family == AF_INET {
            var a = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            ok = inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count)) != nil
        } else {
            var a = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            ok = inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil
        }
        return ok ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How a server reaches NATS (the configuration's `cluster` section).
public struct NATSOptions: Sendable, Equatable {
    var servers: [NATSServerAddress] = []
    public var user: String?
    public var password: String?
    public var token: String?
    public var clientName = "shaddock"
    public var pingIntervalMilliseconds = 2000
    public var maxPingsOut = 2
    public var reconnectWaitMilliseconds = 100
    public var maxReconnectWaitMilliseconds = 2000
    public var connectTimeoutMilliseconds = 2000
    /// Bytes that may wait while the link is down.
    public var pendingBytes = 8 << 20

    public init() {}

    /// The NATS URLs, in order of preference.
    public var urls: [String] {
        get { servers.map { "nats://\($0)" } }
        set { servers = newValue.compactMap(NATSServerAddress.init) }
    }

    /// Adds a URL; false if it is not `nats://host:port` (or a name that
    /// does not resolve).
    public mutating func add(url: String) -> Bool {
        guard let s = NATSServerAddress(url) else { return false }
        servers.append(s)
        return true
    }
}

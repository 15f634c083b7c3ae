import CShaddockLoop
import ShaddockProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One load thread: a client-side loop of the shim and its share of the
/// connections. Everything here runs on that thread; the main thread reads
/// the results once the thread has ended.
final class Worker: @unchecked Sendable {
    let plan: Plan
    let shared: Shared
    let index: Int
    private(set) var loop: OpaquePointer!
    /// The client TLS context (--tls).
    private var tls: OpaquePointer?
    var slots: [Slot] = []
    /// Slots waiting to be (re)started on the next tick.
    var startQueue: [Slot] = []
    var settingUp = 0
    let scratch: UnsafeMutableRawBufferPointer

    // Results.
    var histogram = Histogram()
    var errors = ErrorCounts()
    /// Answers (requests, echoes, setups) completed inside the window.
    var completed: UInt64 = 0
    /// Broadcast: onChat pushes received inside the window, and other pushes.
    var pushes: UInt64 = 0
    var otherPushes: UInt64 = 0
    /// WebSocket bytes received inside the window (frame headers included):
    /// the bytes on the wire per message.
    var wireBytesIn: UInt64 = 0
    /// With `plan.deflate`: this worker's streams (the server keeps no
    /// context, so one each serves every connection).
    let deflater: MessageDeflater?
    let inflater: MessageInflater?
    /// Soak: requests sent inside the window, and the onChat pushes the
    /// chats answered inside it should have brought (one per room member).
    var requested: UInt64 = 0
    var expectedPushes: UInt64 = 0
    /// Soak: the requests due so far, counted from the window's start.
    var scheduled: UInt64 = 0
    /// The results so far, for the main thread's progress lines.
    let progress = Progress()

    // Read from `shared` on every tick.
    var windowStart: UInt64 = .max
    var windowEnd: UInt64 = .max
    var stopping = false

    var heartbeatNanos: UInt64 = 0
    var lastHeartbeat: UInt64 = 0
    var lastTimeoutCheck: UInt64 = 0

    let upgrade: [UInt8]
    let route: [UInt8]
    let echoPayload: [UInt8]
    static let ok = Array(#""code":200"#.utf8)
    /// `{"code": 200}` in pomelo-protobuf: field 1, varint 200.
    static let okProto: [UInt8] = [0x08, 0xC8, 0x01]
    static let onChat = Array("onChat".utf8)

    init(index: Int, plan: Plan, shared: Shared) {
        self.index = index
        self.plan = plan
        self.shared = shared
        upgrade = ClientWire.upgradeRequest(host: plan.host, port: plan.port, deflate: plan.deflate)
        deflater = plan.deflate ? MessageDeflater(level: 1) : nil
        chatBody = Array(#"{"content":"\#(Self.chatLine(plan.chatBytes))","target":"*"}"#.utf8)
        inflater = plan.deflate ? MessageInflater() : nil
        route = Array(plan.route.utf8)
        echoPayload = (0..<plan.size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        scratch = .allocate(byteCount: max(1 << 20, plan.size * plan.depth + 64 * plan.depth + 4096), alignment: 16)
        var n = index
        while n < plan.connections {
            let source = plan.sources.isEmpty ? nil : plan.sources[n % plan.sources.count]
            // Soak: room for a few late answers; a request that late times out anyway.
            slots.append(Slot(number: n, source: source, capacity: plan.mode == .soak ? max(plan.depth, 4) : plan.depth,
                              overWebSocket: plan.overWebSocket(n), room: plan.room(of: n)))
            n += plan.threads
        }
    }

    deinit { scratch.deallocate() }

    // MARK: - The loop

    func run() {
        var callbacks = shd_callbacks_t()
        callbacks.on_open = { ctx, conn in Worker.from(ctx).opened(Worker.slot(conn!)) }
        callbacks.on_data = { ctx, conn, data, len in
            Worker.from(ctx).received(Worker.slot(conn!), UnsafeMutableRawBufferPointer(start: data, count: len))
        }
        callbacks.on_close = { ctx, conn, _ in Worker.from(ctx).closed(Worker.slot(conn!)) }
        callbacks.on_deadline = { _, _ in }
        callbacks.on_wake = { _ in }
        callbacks.on_post = { _, _ in }
        callbacks.before_flush = { _ in }
        callbacks.on_interval = { _ in }
        callbacks.on_tick = { ctx in Worker.from(ctx).tick() }
        var options = shd_loop_options_t()
        options.read_buffer_size = 256 * 1024
        options.max_buffered = 64 << 20
        options.max_pending = 64 << 20
        options.tick_ms = 10
        options.backlog = 16
        guard let raw = shd_loop_new(&callbacks, Unmanaged.passUnretained(self).toOpaque(), &options) else {
            fatalError("shaddock-load: cannot create a loop")
        }
        loop = raw
        if plan.tls {
            var config = shd_tls_config_t()
            config.client = 1
            var error = [CChar](repeating: 0, count: 256)
            guard let ctx = shd_tls_ctx_new(&config, &error, error.count) else {
                fatalError("shaddock-load: no TLS context: \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
            }
            tls = ctx
        }
        startQueue = slots
        tick()
        shd_loop_run(raw)
        shd_loop_free(raw)
        if let tls { shd_tls_ctx_free(tls) }
        for s in slots { if let session = s.tlsSession { shd_tls_session_free(session) } }
    }

    @inline(__always)
    static func from(_ ctx: UnsafeMutableRawPointer?) -> Worker {
        Unmanaged<Worker>.fromOpaque(ctx!).takeUnretainedValue()
    }

    @inline(__always)
    static func slot(_ conn: OpaquePointer) -> Slot {
        Unmanaged<Slot>.fromOpaque(shd_conn_user(conn)!).takeUnretainedValue()
    }

    /// How many slots may be between connect and set-up at once.
    var setupLimit: Int {
        plan.mode.holdsSessions ? max(1, plan.setupConcurrency / plan.threads) : .max
    }

    private func tick() {
        if stopping { return }
        windowStart = shared.windowStart.load(ordering: .relaxed)
        windowEnd = shared.windowEnd.load(ordering: .relaxed)
        let now = monotonicNanos()
        if shared.stop.load(ordering: .relaxed) || now >= windowEnd {
            stopping = true
            shd_loop_shutdown(loop)
            return
        }
        if plan.mode == .broadcast && index == 0 && shared.startSender.load(ordering: .relaxed)
            && !slots.contains(where: { $0.isSender }) {
            let sender = Slot(number: -1, source: plan.sources.first, capacity: plan.depth)
            sender.isSender = true
            slots.append(sender)
            connect(sender, now: now)
        }
        while let slot = startQueue.last, settingUp < setupLimit {
            startQueue.removeLast()
            connect(slot, now: now)
        }
        if heartbeatNanos > 0 && now - lastHeartbeat >= heartbeatNanos {
            lastHeartbeat = now
            for s in slots where s.phase == .running || s.phase == .holding || s.phase == .loggingIn {
                sendPackage(s, .heartbeat, body: [])
            }
        }
        if plan.mode == .soak && now >= windowStart { sendDue(now: now) }
        if now - lastTimeoutCheck >= 100_000_000 {
            lastTimeoutCheck = now
            checkTimeouts(now: now)
        }
        if plan.progressNanos > 0 { publishProgress() }
    }

    /// Soak: every session sends one request per interval. The sessions take
    /// turns, so the requests are spread evenly over the interval.
    private func sendDue(now: UInt64) {
        let due = UInt64(Double(now - windowStart) / Double(plan.intervalNanos) * Double(slots.count))
        while scheduled < due {
            let s = slots[Int(scheduled % UInt64(slots.count))]
            scheduled += 1
            // A lost session was counted when it closed; a full ring means
            // answers later than the timeout, which counts them.
            guard s.phase == .holding, s.outstanding < s.sentAt.count else { continue }
            requested += 1
            sendRequest(s, body: s.room == nil ? routeBody(s) : chatBody, now: now)
        }
    }

    private func publishProgress() {
        progress.completed.store(completed, ordering: .relaxed)
        progress.requested.store(requested, ordering: .relaxed)
        progress.pushes.store(pushes, ordering: .relaxed)
        progress.errors.store(errors.total, ordering: .relaxed)
    }

    private func checkTimeouts(now: UInt64) {
        for s in slots where s.isLive {
            let inSetup = s.phase != .running && s.phase != .holding
            let since = inSetup ? s.setupStartedAt : s.lastProgressAt
            if (inSetup || s.outstanding > 0) && now - since > plan.timeoutNanos {
                fail(s, .timeout)
            }
        }
    }

    // MARK: - Connections

    private func connect(_ s: Slot, now: UInt64) {
        s.reset()
        s.setupStartedAt = now
        s.phase = .connecting
        settingUp += 1
        var err: Int32 = 0
        let user = Unmanaged.passUnretained(s).toOpaque()
        let port = Int32(plan.port(of: s.number))
        let conn: OpaquePointer? = s.source.map { shd_loop_connect(loop, plan.host, port, $0, user, &err) }
            ?? shd_loop_connect(loop, plan.host, port, nil, user, &err)
        guard let conn else {
            errors.add(.connect)
            s.phase = .idle
            settingUp -= 1
            if plan.mode.restarts { startQueue.insert(s, at: 0) }
            return
        }
        s.conn = conn
    }

    private func opened(_ s: Slot) {
        if plan.proxyV2 {
            // Before anything else, TLS included: what a balancer sends.
            let client = UInt32(0xC612_0000) | UInt32(truncatingIfNeeded: s.number & 0x1_FFFF)
            var header: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C]
            header += [UInt8(client >> 24), UInt8(client >> 16 & 0xFF), UInt8(client >> 8 & 0xFF), UInt8(client & 0xFF)]
            header += [127, 0, 0, 1, 0xC3, 0x50, UInt8(plan.port >> 8 & 0xFF), UInt8(plan.port & 0xFF)]
            header.withUnsafeBytes { _ = shd_conn_write(s.conn, $0.baseAddress, $0.count) }
        }
        if let tls {
            // What is written next waits for the handshake.
            let session = plan.tlsResume ? s.tlsSession : nil
            guard shd_conn_tls_connect(s.conn, tls, "localhost", session) == 0 else { return fail(s, .closed) }
        }
        if s.overWebSocket {
            s.phase = .upgrading
            upgrade.withUnsafeBytes { _ = shd_conn_write(s.conn, $0.baseAddress, $0.count) }
        } else {
            startPomelo(s)
        }
    }

    private func startPomelo(_ s: Slot) {
        s.phase = .handshaking
        sendPackage(s, .handshake, body: ClientWire.handshakeBody)
    }

    /// The slot's set-up phase ended (well or not): another may start.
    private func setupEnded(_ s: Slot) {
        if s.phase == .connecting || s.phase == .upgrading || s.phase == .handshaking || s.phase == .loggingIn {
            settingUp -= 1
        }
    }

    /// Counts the error and aborts the connection.
    func fail(_ s: Slot, _ kind: ErrorKind) {
        errors.add(kind)
        guard let conn = s.conn, s.phase != .closing else { return }
        setupEnded(s)
        s.phase = .closing
        shd_conn_close(conn, Int32(SHD_CLOSE_ABORT))
    }

    private func closed(_ s: Slot) {
        let was = s.phase
        if plan.tlsResume, let conn = s.conn, let session = shd_conn_tls_session(conn) {
            if let old = s.tlsSession { shd_tls_session_free(old) }
            s.tlsSession = session
        }
        if was != .closing { setupEnded(s) }
        // At the end the count stays as it was: the sessions that were held.
        if s.countedUp && !stopping {
            s.countedUp = false
            shared.sessionsUp.subtract(1, ordering: .relaxed)
        }
        let done = s.setupDone
        s.reset()
        if stopping { return }
        if was == .connecting {
            errors.add(.connect)
        } else if was != .closing {
            errors.add(.closed)
        }
        if plan.mode == .connect && done {
            let now = monotonicNanos()
            if now >= windowStart && now < windowEnd {
                completed += 1
                histogram.record(now - s.setupStartedAt)
            }
            connect(s, now: now)
            return
        }
        if plan.mode.restarts && !s.isSender { startQueue.insert(s, at: 0) }
    }

    // MARK: - Sending

    /// Sends the bytes the caller wrote at `ClientWire.frameRoom..<end` of the
    /// scratch buffer, framed for the transport.
    private func sendScratch(_ s: Slot, end: Int) {
        var start = ClientWire.frameRoom
        var end = end
        if s.overWebSocket {
            var compressed = false
            if let deflater {
                // As a browser does: every message compressed when that makes
                // it smaller, each on its own (the server asks for no
                // context takeover).
                let plain = UnsafeRawBufferPointer(rebasing: scratch[start..<end])
                if let packed = deflater.compress(plain) {
                    UnsafeMutableRawBufferPointer(rebasing: scratch[start...]).copyMemory(from: packed)
                    end = start + packed.count
                    compressed = true
                }
            }
            start = ClientWire.maskInPlace(scratch, payloadAt: start, length: end - start, mask: s.mask, compressed: compressed)
        }
        let rc = shd_conn_write(s.conn, scratch.baseAddress! + start, end - start)
        if Int(rc) == SHD_EFULL { fail(s, .backlog) }
    }

    func sendPackage(_ s: Slot, _ type: PackageType, body: [UInt8]) {
        sendScratch(s, end: ClientWire.writePackage(type, body: body, into: scratch, at: ClientWire.frameRoom))
    }

    private func sendRequest(_ s: Slot, body: [UInt8], now: UInt64) {
        let id = s.nextID
        s.nextID = id == UInt32.max >> 4 ? 1 : id + 1
        let k = Int(id) & s.ring
        s.sentAt[k] = now
        s.sentID[k] = id
        if s.outstanding == 0 { s.lastProgressAt = now }
        s.outstanding += 1
        let end = ClientWire.writeRequest(id: id, route: requestRoute(s), body: body, into: scratch, at: ClientWire.frameRoom)
        sendScratch(s, end: end)
    }

    private func sendEcho(_ s: Slot, now: UInt64) {
        s.sentAt[(s.fifoHead + s.outstanding) & s.ring] = now
        if s.outstanding == 0 { s.lastProgressAt = now }
        s.outstanding += 1
        let p = ClientWire.frameRoom
        echoPayload.withUnsafeBytes { scratch.baseAddress!.advanced(by: p).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        sendScratch(s, end: p + echoPayload.count)
    }

    static let deflateAgreed = Array("permessage-deflate".utf8)
    static let serverResets = Array("server_no_context_takeover".utf8)
    static let loginRoute = Array("connector.entryHandler.login".utf8)
    static let sendRoute = Array("chat.chatHandler.send".utf8)
    /// A chat line of about `bytes` bytes (words from a small vocabulary, as
    /// players write); "hello" for 0.
    static func chatLine(_ bytes: Int) -> String {
        guard bytes > 0 else { return "hello" }
        let words = ["gg", "anyone", "up", "for", "the", "raid", "tonight", "need", "a", "healer", "and", "two", "dps",
                     "meet", "at", "north", "gate", "bring", "potions", "boss", "drops", "rare", "loot", "lol", "ok"]
        var line = ""
        var i = 0
        while line.utf8.count < bytes {
            line += (line.isEmpty ? "" : " ") + words[(i &* 7 &+ i / 5) % words.count]
            i += 1
        }
        return line
    }

    /// What a chat request says: "hello", or a chat line of `plan.chatBytes`.
    let chatBody: [UInt8]

    /// A chat member logs in, then chats (the broadcast sender, soak's
    /// chatters); every other session asks `--route`.
    private func requestRoute(_ s: Slot) -> [UInt8] {
        if s.phase == .loggingIn { return Self.loginRoute }
        return s.isSender || s.room != nil ? Self.sendRoute : route
    }

    private func loginBody(_ s: Slot) -> [UInt8] {
        let room = s.room.map { "\(plan.channel)-\($0)" } ?? plan.channel
        return Array(#"{"uid":"\#(s.isSender ? "sender" : "r\(s.number)")","rid":"\#(room)"}"#.utf8)
    }

    // MARK: - Receiving

    private func received(_ s: Slot, _ buf: UnsafeMutableRawBufferPointer) -> Int {
        let bytes = UnsafeRawBufferPointer(buf)
        var o = 0
        if s.phase == .upgrading {
            guard let end = ServerWire.headEnd(bytes) else {
                if bytes.count > 16 * 1024 { fail(s, .upgrade) }
                return 0
            }
            guard ServerWire.contains(UnsafeRawBufferPointer(rebasing: bytes[0..<min(end, 16)]), Array("HTTP/1.1 101".utf8)),
                  !plan.deflate || ServerWire.contains(UnsafeRawBufferPointer(rebasing: bytes[0..<end]), Self.deflateAgreed) else {
                fail(s, .upgrade)
                return bytes.count
            }
            o = end + 4
            if plan.deflate && !ServerWire.contains(UnsafeRawBufferPointer(rebasing: bytes[0..<end]), Self.serverResets) {
                // The server keeps its window between messages: so must we.
                s.ownInflater = MessageInflater(windowBits: 15, resetsPerMessage: false)
            }
            if plan.mode == .wsEcho {
                settingUp -= 1
                s.phase = .running
                let now = monotonicNanos()
                for _ in 0..<plan.depth { sendEcho(s, now: now) }
            } else {
                startPomelo(s)
            }
        }
        let now = monotonicNanos()
        if !s.overWebSocket {
            while o < bytes.count && s.isLive {
                switch Package.scan(bytes, at: o, maxBody: Package.maxBodyLength) {
                case .needMore: return o
                case .failure: fail(s, .protocolError); return bytes.count
                case .package(let type, let body, let end):
                    o = end
                    package(s, type, UnsafeRawBufferPointer(rebasing: bytes[body]), now: now)
                }
            }
            return s.isLive ? o : bytes.count
        }
        let inWindow = now >= windowStart && now < windowEnd
        while o < bytes.count && s.isLive {
            switch ServerWire.scanFrame(bytes, at: o, deflate: plan.deflate) {
            case .needMore: return o
            case .invalid: fail(s, .protocolError); return bytes.count
            case .frame(let opcode, let payload, let end, let compressed):
                if inWindow { wireBytesIn += UInt64(end - o) }
                o = end
                var data = UnsafeRawBufferPointer(rebasing: bytes[payload])
                if compressed {
                    guard let inflater = s.ownInflater ?? inflater,
                          case .bytes(let inflated) = inflater.inflate(data, limit: 64 << 20) else {
                        fail(s, .protocolError)
                        return bytes.count
                    }
                    data = inflated
                }
                switch opcode {
                case 0x1, 0x2:
                    if plan.mode == .wsEcho { echoed(s, data, now: now) } else { packages(s, data, now: now) }
                case 0x8: fail(s, .closed)
                case 0x9, 0xA: break
                default: fail(s, .protocolError)
                }
            }
        }
        return s.isLive ? o : bytes.count
    }

    private func echoed(_ s: Slot, _ data: UnsafeRawBufferPointer, now: UInt64) {
        guard s.outstanding > 0, data.count == echoPayload.count,
              (data.isEmpty || echoPayload.withUnsafeBytes({ memcmp($0.baseAddress!, data.baseAddress!, data.count) }) == 0) else {
            fail(s, .mismatch)
            return
        }
        answered(s, sentAt: s.sentAt[s.fifoHead], now: now)
        s.fifoHead = (s.fifoHead + 1) & s.ring
        sendEcho(s, now: now)
    }

    /// The packages of one WebSocket message.
    private func packages(_ s: Slot, _ data: UnsafeRawBufferPointer, now: UInt64) {
        var o = 0
        while o < data.count && s.isLive {
            guard case .package(let type, let body, let end) = Package.scan(data, at: o, maxBody: Package.maxBodyLength) else {
                fail(s, .protocolError)
                return
            }
            o = end
            package(s, type, UnsafeRawBufferPointer(rebasing: data[body]), now: now)
        }
    }

    private func package(_ s: Slot, _ type: PackageType, _ body: UnsafeRawBufferPointer, now: UInt64) {
        switch type {
        case .handshake: handshakeAnswered(s, body, now: now)
        case .heartbeat, .handshakeAck: break
        case .kick: fail(s, .kicked)
        case .data:
            guard let message = try? Message.decode(body) else {
                fail(s, .protocolError)
                return
            }
            if message.type == .push {
                pushed(s, message, body, now: now)
            } else if message.type == .response {
                responded(s, message.id, UnsafeRawBufferPointer(rebasing: body[message.body]), now: now)
            } else {
                fail(s, .protocolError)
            }
        }
    }

    private func handshakeAnswered(_ s: Slot, _ body: UnsafeRawBufferPointer, now: UInt64) {
        guard s.phase == .handshaking else { return fail(s, .protocolError) }
        if plan.mode == .connect {
            // Setups per second: the client does no more than it must.
            guard ServerWire.contains(body, Self.ok) else { return fail(s, .handshake) }
        } else {
            guard let reply = try? JSON.parse(body), reply["code"]?.intValue == 200 else { return fail(s, .handshake) }
            if let seconds = reply["sys"]?["heartbeat"]?.intValue, seconds > 0 {
                heartbeatNanos = UInt64(seconds) * 1_000_000_000
                if lastHeartbeat == 0 { lastHeartbeat = now }
            }
            if let code = reply["sys"]?["dict"]?["onChat"]?.intValue { s.onChatCode = UInt16(code) }
            s.useProto = plan.protoBody != nil && reply["sys"]?["useProto"]?.boolValue == true
        }
        sendPackage(s, .handshakeAck, body: [])
        switch plan.mode {
        case .connect:
            s.setupDone = true
            settingUp -= 1
            s.phase = .closing
            shd_conn_close(s.conn, Int32(SHD_CLOSE_GRACEFUL))
        case .hold, .broadcast, .soak:
            // Channel members (broadcast receivers, soak's chatters) log in first.
            if plan.mode == .broadcast || s.room != nil {
                s.phase = .loggingIn
                sendRequest(s, body: loginBody(s), now: now)
            } else {
                settingUp -= 1
                s.phase = .holding
                s.countedUp = true
                shared.sessionsUp.add(1, ordering: .relaxed)
            }
        default:
            if s.room != nil {
                // chatAlone: into its room first.
                s.phase = .loggingIn
                sendRequest(s, body: loginBody(s), now: now)
                return
            }
            settingUp -= 1
            s.phase = .running
            for _ in 0..<plan.depth { sendRequest(s, body: routeBody(s), now: now) }
        }
    }

    /// What a request to `--route` carries: JSON, or protobuf for a server
    /// that said useProto.
    @inline(__always)
    private func routeBody(_ s: Slot) -> [UInt8] { s.useProto ? plan.protoBody! : plan.body }

    private func responded(_ s: Slot, _ id: UInt32, _ body: UnsafeRawBufferPointer, now: UInt64) {
        let k = Int(id) & s.ring
        guard s.outstanding > 0, s.sentID[k] == id, ServerWire.contains(body, s.useProto ? Self.okProto : Self.ok) else {
            fail(s, .mismatch)
            return
        }
        s.sentID[k] = 0
        if s.phase == .loggingIn {
            s.outstanding -= 1
            settingUp -= 1
            if s.isSender || plan.chatAlone {
                s.phase = .running
                for _ in 0..<plan.depth { sendRequest(s, body: chatBody, now: now) }
            } else {
                s.phase = .holding
                s.countedUp = true
                shared.sessionsUp.add(1, ordering: .relaxed)
            }
            return
        }
        let counted = answered(s, sentAt: s.sentAt[k], now: now)
        guard plan.mode != .soak else {
            if counted, let room = s.room { expectedPushes += UInt64(plan.members(of: room)) }
            return
        }
        sendRequest(s, body: s.isSender || s.room != nil ? chatBody : routeBody(s), now: now)
    }

    /// Returns whether the answer was inside the window (and counted).
    @discardableResult
    private func answered(_ s: Slot, sentAt: UInt64, now: UInt64) -> Bool {
        s.outstanding -= 1
        s.lastProgressAt = now
        guard sentAt >= windowStart && now < windowEnd else { return false }
        completed += 1
        histogram.record(now - sentAt)
        return true
    }

    private func pushed(_ s: Slot, _ message: MessageView, _ body: UnsafeRawBufferPointer, now: UInt64) {
        let isChat: Bool
        if let code = message.routeCode {
            isChat = code == s.onChatCode
        } else if let name = message.routeName {
            isChat = name.count == Self.onChat.count && Self.onChat.withUnsafeBytes {
                memcmp($0.baseAddress!, body.baseAddress! + name.lowerBound, name.count) == 0
            }
        } else {
            isChat = false
        }
        if isChat && !s.isSender && now >= windowStart && now < windowEnd {
            pushes += 1
        } else if !isChat {
            otherPushes += 1
        }
    }
}

extension Plan.Mode {
    /// Whether a lost connection is replaced (load modes) or only counted
    /// (held sessions, channel members).
    var restarts: Bool { !holdsSessions }
}

/// A worker's counts, copied on each tick for the main thread's progress lines.
final class Progress: Sendable {
    let completed = Atomic<UInt64>(0)
    let requested = Atomic<UInt64>(0)
    let pushes = Atomic<UInt64>(0)
    let errors = Atomic<UInt64>(0)
}

import CShaddockLoop
import ShaddockProtocol

/// One loop's place in the cluster: its NATS link, the requests and calls
/// it waits answers for, and the work other servers send to it. Messages
/// for this loop arrive on `<name>.to.<server id>.<loop index>`; answers on
/// one wildcard inbox subscription. Everything here runs on the loop.
final class ClusterEndpoint: NATSLinkDelegate, @unchecked Sendable {
    unowned(unsafe) let loop: EventLoop
    /// Unowned: the cluster keeps its endpoints, and outlives them (the
    /// loops keep the core, which keeps the cluster).
    unowned let cluster: Cluster
    let link: NATSLink
    /// The live servers, as loop 0's table last said.
    var live = LiveServers.empty {
        didSet { subjects.removeAll(keepingCapacity: true) }
    }
    /// `<name>.to.<id>.<loop>` by server id, composed once per table: a
    /// forward or a push looks its subject up instead of building it.
    private var subjects: [String: [String]] = [:]
    private var inboxSID: UInt64 = 0
    private var directSID: UInt64 = 0
    private var announceSID: UInt64 = 0
    /// `_INBOX.<random>.`: a reply subject is this and a token.
    let inboxPrefix: [UInt8]
    private var nextToken: UInt64 = 0
    var forwards: [UInt64: PendingForward] = [:]
    /// Forward tokens in deadline order (they all have the same timeout).
    var forwardDeadlines: [(token: UInt64, at: UInt64)] = []
    var forwardDeadlineHead = 0
    var calls: [UInt64: PendingCall] = [:]
    /// Reused to compose outgoing payloads.
    var writer = ClusterWriter()
    /// Loop 0 keeps the table of servers.
    var table: ServerTable?
    private var nextAnnounce: UInt64 = 0
    /// Forwarded requests and calls running here (a backend's queue).
    var running = 0
    /// The client whose forwarded request a synchronous handler is serving
    /// now (an async one has it in `servingTask`): see `pushLoop`.
    var serving: RemoteSessionKey?
    /// Pushes for `serving`'s frontend that ride in the answer.
    var riders = PushRiders()
    /// A push's body for other frontends, written here by a handler on this
    /// loop and reused (see Cluster.push(route:to:json:)).
    var pushBody: [UInt8] = []
    /// Forwarded sessions' settings, parsed once per change.
    var exportSettings = ExportSettingsCache()
    /// Backend sessions' close callbacks, until their frontend says they closed.
    var closedCallbacks: [RemoteSessionKey: [(Session) -> Void]] = [:]

    init(loop: EventLoop, cluster: Cluster) {
        self.loop = loop
        self.cluster = cluster
        link = NATSLink(loop: loop, options: cluster.options.nats)
        var random = ""
        for _ in 0..<2 { random += String(UInt64.random(in: 0...UInt64.max), radix: 36) }
        inboxPrefix = Array("_INBOX.\(random).".utf8)
        if loop.index == 0 { table = ServerTable(dictionaryVersion: cluster.dictionaryVersion) }
        link.delegate = self
    }

    /// On the loop's thread, as it starts.
    func start() {
        // While the link moves off a server in lame-duck mode, both of its
        // connections subscribe. The direct subject is in a queue group, so
        // that each request still reaches one of them only. The inbox is
        // not: NATS sends no no-responders status to a queue subscriber, so
        // an answer may come twice then (the second is ignored).
        inboxSID = link.subscribe(String(decoding: inboxPrefix, as: UTF8.self) + "*")
        directSID = link.subscribe(cluster.subject(server: cluster.me.id, loop: loop.index), queue: "q")
        if table != nil {
            announceSID = link.subscribe(cluster.announceSubject)
            _ = table!.apply(Announcement(server: cluster.me, dictionaryVersion: cluster.dictionaryVersion, stopping: false),
                             now: loop.now) { _ in }
            publishLive()
        }
        link.start()
    }

    func newToken() -> UInt64 {
        nextToken &+= 1
        return nextToken
    }

    /// Composes `inboxPrefix + token` in a stack buffer for `body`.
    func withReplySubject<R>(_ token: UInt64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: inboxPrefix.count + 20, alignment: 1) { buf in
            var n = inboxPrefix.withUnsafeBytes { p in
                buf.copyMemory(from: p)
                return p.count
            }
            var digits = token
            let start = n
            repeat {
                buf[n] = UInt8(ascii: "0") + UInt8(digits % 10)
                digits /= 10
                n += 1
            } while digits > 0
            var lo = start, hi = n - 1
            while lo < hi {
                buf.swapAt(lo, hi)
                lo += 1
                hi -= 1
            }
            return body(UnsafeRawBufferPointer(rebasing: buf[..<n]))
        }
    }

    /// The subject of loop `index` of server `id`.
    func subject(_ id: String, loop index: Int) -> String {
        if let list = subjects[id], index < list.count { return list[index] }
        let count = max(live.byID[id]?.loops ?? 0, index + 1)
        let list = (0..<count).map { cluster.subject(server: id, loop: $0) }
        subjects[id] = list
        return list[index]
    }

    /// Publishes the writer's bytes to `subject`.
    @discardableResult
    func send(to subject: String, replyTo: UnsafeRawBufferPointer? = nil) -> NATSLink.PublishResult {
        var subject = subject
        return subject.withUTF8 { s in
            writer.bytes.withUnsafeBytes { link.publish(subject: UnsafeRawBufferPointer(s), replyTo: replyTo, $0) }
        }
    }

    // MARK: Timers

    func tick(now: UInt64) {
        link.tick(now: now)
        expireForwards(now: now)
        if !calls.isEmpty { expireCalls(now: now) }
        if table != nil, link.isUp, now >= nextAnnounce { announce(stopping: false) }
    }

    /// Announces this server (loop 0), then drops the servers that went
    /// silent.
    func announce(stopping: Bool) {
        nextAnnounce = loop.now + UInt64(cluster.options.announceIntervalMilliseconds)
        var me = cluster.me
        if cluster.draining.load(ordering: .relaxed) {
            me = ClusterServer(id: me.id, serverType: me.serverType, frontend: me.frontend, clientHost: me.clientHost,
                               clientPort: me.clientPort, started: me.started, nonce: me.nonce, loops: me.loops,
                               intervalMilliseconds: me.intervalMilliseconds, draining: true)
        }
        let a = Announcement(server: me, dictionaryVersion: cluster.dictionaryVersion, stopping: stopping)
        writer = ClusterWriter(reusing: writer.bytes)
        writer.bytes.append(contentsOf: a.json)
        send(to: cluster.announceSubject)
        if !stopping { cluster.announced = true }
        guard var table else { return }
        _ = table.apply(a, now: loop.now) { _ in }
        let dead = table.expire(now: loop.now, except: cluster.me.id)
        self.table = table
        for id in dead { loop.logger.warning("cluster: \(id) is gone (3 announcements missed)") }
        if !dead.isEmpty { serversLeft(dead) }
        if !dead.isEmpty || live.byID[me.id] != me { publishLive() }
    }

    /// Hands every loop the new live table.
    private func publishLive() {
        guard let table else { return }
        let live = table.live
        loop.loop0Counters(liveServers: live)
        for endpoint in cluster.endpoints {
            if endpoint === self { endpoint.live = live } else { endpoint.loop.execute { _ in endpoint.live = live } }
        }
    }

    private func onAnnouncement(_ payload: UnsafeRawBufferPointer) {
        guard var table, let a = Announcement(json: payload) else {
            loop.counters.add(.clusterBadMessages)
            return
        }
        if a.server.id == cluster.me.id && a.server.nonce == cluster.me.nonce { return }
        let change = table.apply(a, now: loop.now) { loop.logger.error("cluster: \($0)") }
        self.table = table
        switch change {
        case .none: return
        case .joined(let id):
            loop.logger.notice("cluster: \(id) (\(a.server.serverType)) joined")
            // Tell the newcomer about us now rather than at our next interval.
            announce(stopping: false)
        case .left(let id):
            loop.logger.notice("cluster: \(id) stopped")
            serversLeft([id])
        case .updated:
            if a.server.draining { loop.logger.notice("cluster: \(a.server.id) drains: no new work goes to it") }
        }
        publishLive()
    }

    /// Servers that left: a backend forgets the sessions of a frontend that
    /// is gone (their close callbacks run: those sessions are gone too).
    private func serversLeft(_ ids: [String]) {
        for endpoint in cluster.endpoints {
            endpoint.loop.execute { _ in endpoint.forgetSessions(of: Set(ids)) }
        }
    }

    // MARK: Link events

    func linkUp(_ link: NATSLink) {
        guard table != nil else { return }
        table!.restartClocks(now: loop.now)
        announce(stopping: false)
    }

    func linkDown(_ link: NATSLink) {
        failAllPending(code: PomeloCode.busy, why: "NATS disconnected")
    }

    func link(_ link: NATSLink, message: NATSMessage, sid: UInt64, in bytes: UnsafeRawBufferPointer) {
        let payload = UnsafeRawBufferPointer(rebasing: bytes[message.payload])
        if sid == inboxSID {
            onReply(message, payload, bytes)
        } else if sid == directSID {
            onDirect(payload, replyTo: message.replyTo.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) })
        } else if sid == announceSID {
            onAnnouncement(payload)
        }
    }

    private func onReply(_ message: NATSMessage, _ payload: UnsafeRawBufferPointer, _ bytes: UnsafeRawBufferPointer) {
        // The token is the subject's last token.
        var token: UInt64 = 0
        for i in message.subject.lowerBound + inboxPrefix.count..<message.subject.upperBound {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d < 10 else { break }
            token = token &* 10 &+ UInt64(d)
        }
        if let headers = message.headers,
           NATSHeaders.status(UnsafeRawBufferPointer(rebasing: bytes[headers])) == 503 {
            // No responders: the server picked is gone.
            noResponders(token)
            return
        }
        var reader = ClusterReader(payload)
        do {
            switch try reader.kind() {
            case .response: try onResponse(token, &reader)
            case .result: try onResult(token, &reader)
            case .pushesThenResponse: try onPushesThenResponse(token, &reader)
            default: throw ClusterWireError.badValue
            }
        } catch {
            loop.counters.add(.clusterBadMessages)
            loop.logger.error("cluster: unreadable answer: \(error)")
        }
    }

    private func onDirect(_ payload: UnsafeRawBufferPointer, replyTo: UnsafeRawBufferPointer?) {
        var reader = ClusterReader(payload)
        do {
            switch try reader.kind() {
            case .request: try serveRequest(&reader, replyTo: replyTo)
            case .call: try serveCall(&reader, replyTo: replyTo)
            case .session: try applySessionOp(&reader)
            case .push: try deliverPush(&reader)
            case .broadcast: try deliverBroadcast(&reader)
            case .closed: try sessionClosed(&reader)
            case .kickUID: try kickUID(&reader)
            case .response, .result, .pushesThenResponse: throw ClusterWireError.badValue
            }
        } catch {
            loop.counters.add(.clusterBadMessages)
            loop.logger.error("cluster: unreadable message: \(error)")
        }
    }

    /// The server stops: loop 0 announces it (and the bytes are written
    /// now), the rest fails with 503, the link closes.
    /// Loop 0: tells the others at once that this server drains.
    func announceDraining() {
        if table != nil && link.isUp { announce(stopping: false) }
    }

    func leave() {
        if table != nil && link.isUp {
            announce(stopping: true)
            shd_loop_flush(loop.raw)
        }
        failAllPending(code: PomeloCode.busy, why: "the server stops")
        link.close()
    }

    /// Answers `code` to everything waiting (the link went down, the server
    /// stops).
    func failAllPending(code: Int, why: String) {
        let waiting = forwards
        forwards = [:]
        forwardDeadlines = []
        forwardDeadlineHead = 0
        for (_, f) in waiting.sorted(by: { $0.key < $1.key }) {
            loop.counters.add(.forwardDisconnected)
            f.finish(.error(code: code), endpoint: self)
        }
        let waitingCalls = calls
        calls = [:]
        for (_, c) in waitingCalls {
            c.completion(.failure(RemoteError(code: code, message: why)))
        }
    }
}

/// A session of another server, as a backend knows it.
struct RemoteSessionKey: Hashable, Sendable {
    let frontendID: String
    let sessionID: UInt64
}

extension EventLoop {
    /// Gauges loop 0 keeps for /metrics: live servers by type.
    func loop0Counters(liveServers: LiveServers) {
        core.liveServerCounts.withLock { counts in
            // A type whose last server left stays, at 0: a series that
            // vanished would hide the outage it shows.
            for type in counts.keys { counts[type] = 0 }
            for (type, servers) in liveServers.byType { counts[type] = servers.count }
        }
        core.liveServerSnapshot.withLock { $0 = liveServers.byID.values.sorted { $0.id < $1.id } }
    }
}

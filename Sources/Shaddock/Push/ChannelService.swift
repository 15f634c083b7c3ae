import ShaddockProtocol

/// Channels by name, and pushes to uids and to everyone (Pomelo's
/// ChannelService). Every method works from any thread.
///
/// A push is encoded once; each loop that holds receivers gets the same bytes
/// (directly when the caller runs on that loop, otherwise through the loop's
/// mailbox), and its scheduler batches them per session.
public final class ChannelService: Sendable {
    let sessions: SessionService
    private let table = Locked<[String: Channel]>([:])
    /// The running server's loops and core; nil until it starts.
    private let attached = Locked<(loops: [EventLoop], core: GatewayCore)?>(nil)

    init(sessions: SessionService) { self.sessions = sessions }

    func attach(loops: [EventLoop], core: GatewayCore) { attached.withLock { $0 = (loops, core) } }

    /// The server has stopped: pushes have nowhere to go, and the loops
    /// (which hold the core, which holds this) are let go.
    func detach() { attached.withLock { $0 = nil } }

    /// The channel named `name`, created if it does not exist.
    public func create(_ name: String) -> Channel {
        table.withLock { t in
            if let c = t[name] { return c }
            let c = Channel(name: name, service: self)
            t[name] = c
            return c
        }
    }

    /// The channel named `name`, if it exists.
    public func get(_ name: String) -> Channel? { table.withLock { $0[name] } }

    /// Removes a channel; it keeps working for whoever still holds it.
    public func destroy(_ name: String) { table.withLock { _ = $0.removeValue(forKey: name) } }

    /// Channels that exist.
    public var count: Int { table.withLock { $0.count } }

    /// Pushes to every session bound to one of `uids` (Pomelo's
    /// `pushMessageByUids`).
    public func push(route: String, body: JSONValue, toUids uids: [String]) {
        deliver(route: route, body: body, to: uids.flatMap { sessions.getByUid($0) })
    }

    /// Pushes to every session that completed its handshake (only bound ones
    /// if `boundOnly`), on every loop (Pomelo's `broadcast`).
    public func broadcast(route: String, body: JSONValue, boundOnly: Bool = false) {
        guard let (loops, core) = running(), let push = core.encodePush(route: route, body: body) else { return }
        for loop in loops { hand(PushMessage(broadcast: push, boundOnly: boundOnly), to: loop) }
    }

    /// Encodes once and hands each loop its receivers.
    func deliver(route: String, body: JSONValue, to targets: [Session]) {
        guard !targets.isEmpty, let (loops, core) = running(),
              let push = core.encodePush(route: route, body: body) else { return }
        var byLoop = [[Session]](repeating: [], count: loops.count)
        for s in targets { byLoop[s.loop.index].append(s) }
        deliver(push, byLoop: byLoop, loops: loops)
    }

    func deliver(_ push: EncodedPush, byLoop: [[Session]], loops: [EventLoop]) {
        for (i, targets) in byLoop.enumerated() where !targets.isEmpty {
            hand(PushMessage(push, to: targets), to: loops[i])
        }
    }

    /// Delivers now when the caller runs on that loop, else through its
    /// mailbox.
    private func hand(_ message: PushMessage, to loop: EventLoop) {
        if loop.isCurrent { message.deliver(on: loop) } else { loop.post(message) }
    }

    func running() -> (loops: [EventLoop], core: GatewayCore)? { attached.withLock { $0 } }
}

/// A named group of members, each a uid and the session that joined with it
/// (Pomelo's Channel). Pushes go to the members' sessions.
public final class Channel: Sendable {
    public let name: String
    private let service: ChannelService

    private struct State {
        var order: [String] = []
        var sessionOf: [String: Session] = [:]
        /// The members grouped by loop, rebuilt after a change: pushes to a
        /// big, stable channel reuse it.
        var byLoop: [[Session]]?
    }

    private let state = Locked(State())

    init(name: String, service: ChannelService) {
        self.name = name
        self.service = service
    }

    /// Adds (or re-adds) `uid` with the session it pushes to.
    public func add(uid: String, session: Session) {
        state.withLock { s in
            if s.sessionOf.updateValue(session, forKey: uid) == nil { s.order.append(uid) }
            s.byLoop = nil
        }
    }

    /// Removes `uid`; with `session`, only if that is the session it joined
    /// with (so a login that replaced an older one is not removed when the
    /// older one closes). Returns whether it was removed.
    @discardableResult
    public func leave(uid: String, session: Session? = nil) -> Bool {
        state.withLock { s in
            guard let current = s.sessionOf[uid], session == nil || current === session else { return false }
            s.sessionOf[uid] = nil
            s.order.removeAll { $0 == uid }
            s.byLoop = nil
            return true
        }
    }

    /// The members' uids, in the order they joined.
    public var members: [String] { state.withLock { $0.order } }
    public var count: Int { state.withLock { $0.order.count } }
    public func contains(uid: String) -> Bool { state.withLock { $0.sessionOf[uid] != nil } }

    /// Pushes to every member.
    public func push(route: String, body: JSONValue) {
        guard let (loops, core) = service.running() else { return }
        let byLoop: [[Session]] = state.withLock { s in
            if let cached = s.byLoop, cached.count == loops.count { return cached }
            var groups = [[Session]](repeating: [], count: loops.count)
            for uid in s.order { let session = s.sessionOf[uid]!; groups[session.loop.index].append(session) }
            s.byLoop = groups
            return groups
        }
        guard byLoop.contains(where: { !$0.isEmpty }), let push = core.encodePush(route: route, body: body) else { return }
        service.deliver(push, byLoop: byLoop, loops: loops)
    }

    /// Pushes to the members among `uids`.
    public func push(route: String, body: JSONValue, toUids uids: [String]) {
        let targets: [Session] = state.withLock { s in uids.compactMap { s.sessionOf[$0] } }
        service.deliver(route: route, body: body, to: targets)
    }
}

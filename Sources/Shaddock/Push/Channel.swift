import ShaddockProtocol

/// A named group of members (Pomelo's Channel), each a uid and where its
/// client is: a session (of this server, or a backend session naming its
/// frontend), or a frontend id and, optionally, a session id there.
/// A push encodes once for this server's members and sends one message to
/// each other frontend that holds members.
public final class Channel: Sendable {
    public let name: String
    /// Weak: the service keeps its channels; a channel kept by its user
    /// after the service is gone pushes nowhere.
    private weak let service: ChannelService?

    private struct State {
        var order: [String] = []
        var members: [String: ChannelMember] = [:]
        /// The members grouped for a push, rebuilt after a change: pushes to
        /// a big, stable channel reuse it.
        var targets: PushTargets?
    }

    private let state = Locked(State())

    init(name: String, service: ChannelService) {
        self.name = name
        self.service = service
    }

    /// Adds (or re-adds) `uid` with the session it pushes to: a session of
    /// this server, or a handler's backend session (the push then goes to
    /// its frontend).
    public func add(uid: String, session: Session) {
        add(uid, ChannelMember(session: session))
    }

    /// Adds (or re-adds) `uid` held by the frontend `frontendID`: pushes go
    /// to session `sessionID` there, or to every session bound to `uid`
    /// there when it is nil (Pomelo's `channel.add(uid, sid)`). What a
    /// remote call from a frontend carries.
    public func add(uid: String, frontendID: String, sessionID: UInt64? = nil) {
        add(uid, ChannelMember(frontendID: frontendID, sessionID: sessionID))
    }

    private func add(_ uid: String, _ member: ChannelMember) {
        state.withLock { s in
            if s.members.updateValue(member, forKey: uid) == nil { s.order.append(uid) }
            s.targets = nil
        }
    }

    /// Removes `uid`; with `session`, only if that is the session it joined
    /// with (so a login that replaced an older one is not removed when the
    /// older one closes). Returns whether it was removed.
    @discardableResult
    public func leave(uid: String, session: Session? = nil) -> Bool {
        leave(uid) { member in session.map { member.matches($0) } ?? true }
    }

    /// Removes `uid` if it joined from `frontendID` (and with `sessionID`,
    /// when given). Returns whether it was removed.
    @discardableResult
    public func leave(uid: String, frontendID: String, sessionID: UInt64? = nil) -> Bool {
        leave(uid) { member in
            member.frontendID == frontendID && (sessionID == nil || member.sessionID == nil || member.sessionID == sessionID)
        }
    }

    private func leave(_ uid: String, if matches: (ChannelMember) -> Bool) -> Bool {
        state.withLock { s in
            guard let current = s.members[uid], matches(current) else { return false }
            s.members[uid] = nil
            s.order.removeAll { $0 == uid }
            s.targets = nil
            return true
        }
    }

    /// The members' uids, in the order they joined.
    public var members: [String] { state.withLock { $0.order } }
    public var count: Int { state.withLock { $0.order.count } }
    public func contains(uid: String) -> Bool { state.withLock { $0.members[uid] != nil } }

    /// Pushes to every member.
    public func push(route: String, body: JSONValue) {
        guard let service, let (loops, core) = service.running() else { return }
        let targets: PushTargets = state.withLock { s in
            if let cached = s.targets, cached.byLoop.count == loops.count { return cached }
            var t = PushTargets(loops: loops.count)
            for uid in s.order { t.add(uid: uid, s.members[uid]!, me: core.config.serverID, sessions: service.sessions) }
            s.targets = t
            return t
        }
        service.deliver(route: route, body: body, to: targets, loops: loops, core: core)
    }

    /// Pushes to the members among `uids`.
    public func push(route: String, body: JSONValue, toUids uids: [String]) {
        guard let service, let (loops, core) = service.running() else { return }
        let targets: PushTargets = state.withLock { s in
            var t = PushTargets(loops: loops.count)
            for uid in uids {
                if let m = s.members[uid] { t.add(uid: uid, m, me: core.config.serverID, sessions: service.sessions) }
            }
            return t
        }
        service.deliver(route: route, body: body, to: targets, loops: loops, core: core)
    }
}

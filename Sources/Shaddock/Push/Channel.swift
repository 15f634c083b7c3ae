import ShaddockProtocol
import Synchronization

/// A named group of members (Pomelo's Channel), each a uid and where its
/// client is: a session (of this server, or a backend session naming its
/// frontend), or a frontend id and, optionally, a session id there.
/// A push encodes once for this server's members and sends one message to
/// each other frontend that holds members.
public final class Channel: Sendable {
    public let name: String
    /// Where pushes go (shared with the service).
    private let delivery: PushDelivery

    private struct State {
        var order: [String] = []
        var members: [String: ChannelMember] = [:]
        /// The members grouped for a push, rebuilt after a change: pushes to
        /// a big, stable channel reuse it.
        var targets: PushTargets?
    }

    private let state = Locked(State())
    /// Set when the service destroys it: loops' caches drop it then.
    let destroyed = Atomic<Bool>(false)

    init(name: String, delivery: PushDelivery) {
        self.name = name
        self.delivery = delivery
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
        push(route: route, json: { body.write(into: &$0) })
    }

    /// Pushes the object `fill` writes to every member. When the members are
    /// all on the calling loop (a handler pushing to its room), the members
    /// are written straight into the loop's output: no tree, no copy.
    public func push(route: String, object fill: (inout JSONObjectWriter) -> Void) {
        push(route: route, json: { JSONObjectWriter.write(into: &$0, fill) })
    }

    /// Pushes to the members among `uids`.
    public func push(route: String, body: JSONValue, toUids uids: [String]) {
        push(route: route, toUids: uids, json: { body.write(into: &$0) })
    }

    /// Pushes the object `fill` writes to the members among `uids`.
    public func push(route: String, toUids uids: [String], object fill: (inout JSONObjectWriter) -> Void) {
        push(route: route, toUids: uids, json: { JSONObjectWriter.write(into: &$0, fill) })
    }

    private func push(route: String, json: (inout [UInt8]) -> Void) {
        guard let (loops, core) = delivery.running() else { return }
        let targets: PushTargets = state.withLock { s in
            if let cached = s.targets, cached.byLoop.count == loops.count { return cached }
            var t = PushTargets(loops: loops.count)
            for uid in s.order { t.add(uid: uid, s.members[uid]!, me: core.config.serverID, sessions: delivery.sessions) }
            s.targets = t
            return t
        }
        delivery.deliver(route: route, to: targets, loops: loops, core: core, json: json)
    }

    private func push(route: String, toUids uids: [String], json: (inout [UInt8]) -> Void) {
        guard let (loops, core) = delivery.running() else { return }
        let targets: PushTargets = state.withLock { s in
            var t = PushTargets(loops: loops.count)
            for uid in uids {
                if let m = s.members[uid] { t.add(uid: uid, m, me: core.config.serverID, sessions: delivery.sessions) }
            }
            return t
        }
        delivery.deliver(route: route, to: targets, loops: loops, core: core, json: json)
    }
}

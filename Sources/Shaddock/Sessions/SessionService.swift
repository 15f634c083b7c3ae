import Synchronization
import ShaddockProtocol

/// Every session of the server, by id and by uid (Pomelo's SessionService).
/// Lookups work from any thread. The tables are split into shards, each with
/// its own short lock held only for a table operation (open, close, bind,
/// lookup): never while a handler runs, and never per message.
public final class SessionService: Sendable {
    private final class Shard: Sendable {
        let byID = Locked<[UInt64: Session]>([:])
        let byUID = Locked<[String: [Session]]>([:])
        let published = Locked<[UInt64: [String: JSONValue]]>([:])
    }

    private static let shardCount = 16
    private let shards: [Shard] = (0..<SessionService.shardCount).map { _ in Shard() }
    private let policy: Locked<MultiLoginPolicy>
    private let counts = Atomic<Int>(0)
    private let closedCallbacks = Locked<[@Sendable (Session) -> Void]>([])
    /// The cluster, once the server runs in one: kicks by uid reach every
    /// frontend. Not a strong reference: the cluster keeps the remote
    /// methods, which may keep the application's services, this one among them.
    let cluster = Locked(ServerReference<Cluster>())
    private let bound = Atomic<Int>(0)

    init(policy: MultiLoginPolicy = .kickOld) { self.policy = Locked(policy) }

    func setPolicy(_ p: MultiLoginPolicy) { policy.withLock { $0 = p } }

    private func shard(_ id: UInt64) -> Shard { shards[Int((id >> 8) ^ id) & (Self.shardCount - 1)] }
    private func shard(_ uid: String) -> Shard {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in uid.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return shards[Int(h & UInt64(Self.shardCount - 1))]
    }

    /// Sessions open now.
    public var count: Int { counts.load(ordering: .relaxed) }

    /// Open sessions bound to a uid.
    public var boundCount: Int { bound.load(ordering: .relaxed) }

    /// The session with this id, if it is open.
    public func get(_ id: UInt64) -> Session? { shard(id).byID.withLock { $0[id] } }

    /// The sessions bound to `uid` (several only with the `allow` policy).
    public func getByUid(_ uid: String) -> [Session] { shard(uid).byUID.withLock { $0[uid] ?? [] } }

    /// A setting published with `Session.pushSetting`.
    public func setting(_ key: String, of id: UInt64) -> JSONValue? {
        shard(id).published.withLock { $0[id]?[key] }
    }

    /// Kicks every session bound to `uid`: a kick package with the reason,
    /// then close. Returns how many sessions were kicked.
    /// In a cluster the other frontends are told as well (the count is of
    /// this server's sessions).
    @discardableResult
    public func kick(uid: String, reason: String) -> Int {
        if let cluster = cluster.withLock({ $0.object }) { cluster.kickEverywhere(uid: uid, reason: reason) }
        return kick(uid: uid, reason: reason, here: true)
    }

    @discardableResult
    func kick(uid: String, reason: String, here: Bool) -> Int {
        let sessions = getByUid(uid)
        for s in sessions { s.kick(reason: reason) }
        return sessions.count
    }

    /// Runs `callback` whenever a session closes: on a frontend, every one
    /// of its sessions; on a backend, every session it served requests of,
    /// when its frontend says it closed (a backend session, with the uid and
    /// settings it had). On the loop that learns of it; register before the
    /// server starts.
    public func onClosed(_ callback: @escaping @Sendable (Session) -> Void) {
        closedCallbacks.withLock { $0.append(callback) }
    }

    func notifyClosed(_ session: Session) {
        let callbacks = closedCallbacks.withLock { $0 }
        for callback in callbacks { callback(session) }
    }

    /// Kicks one session by id; false if there is no such session.
    @discardableResult
    public func kick(sessionID: UInt64, reason: String) -> Bool {
        guard let s = get(sessionID) else { return false }
        s.kick(reason: reason)
        return true
    }

    func add(_ session: Session) {
        shard(session.id).byID.withLock { $0[session.id] = session }
        counts.add(1, ordering: .relaxed)
    }

    func remove(_ session: Session) {
        let s = shard(session.id)
        s.byID.withLock { _ = $0.removeValue(forKey: session.id) }
        s.published.withLock { _ = $0.removeValue(forKey: session.id) }
        counts.subtract(1, ordering: .relaxed)
    }

    func publish(_ key: String, _ value: JSONValue?, of id: UInt64) {
        shard(id).published.withLock { $0[id, default: [:]][key] = value }
    }

    func bind(_ session: Session, uid: String) throws(SessionError) {
        let policy = self.policy.withLock { $0 }
        let displaced: [Session] = try shard(uid).byUID.withLock { (table) throws(SessionError) -> [Session] in
            let others = table[uid] ?? []
            switch policy {
            case .allow:
                table[uid] = others + [session]
                return []
            case .reject:
                if !others.isEmpty { throw .uidInUse(uid) }
                table[uid] = [session]
                return []
            case .kickOld:
                table[uid] = [session]
                return others
            }
        }
        bound.add(1, ordering: .relaxed)
        for old in displaced {
            session.loop.counters.add(.multiLoginKicks)
            // Its close unbinds only itself: the uid stays with the new one.
            old.kick(reason: "logged in elsewhere")
        }
    }

    func unbind(_ session: Session, uid: String) {
        bound.subtract(1, ordering: .relaxed)
        shard(uid).byUID.withLock { table in
            guard var list = table[uid] else { return }
            list.removeAll { $0 === session }
            table[uid] = list.isEmpty ? nil : list
        }
    }
}

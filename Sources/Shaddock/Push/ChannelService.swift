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
    /// `pushMessageByUids`): here, and in a cluster on every other frontend
    /// (one message each, which looks the uids up).
    public func push(route: String, body: JSONValue, toUids uids: [String]) {
        guard !uids.isEmpty, let (loops, core) = running() else { return }
        var targets = PushTargets(loops: loops.count)
        targets.localUids = uids
        deliver(route: route, body: body, to: targets, loops: loops, core: core)
        core.cluster?.push(route: route, body: body, toUidsOnOtherFrontends: uids)
    }

    /// Pushes to every session that completed its handshake (only bound ones
    /// if `boundOnly`), on every loop (Pomelo's `broadcast`); in a cluster,
    /// one message to every other frontend.
    public func broadcast(route: String, body: JSONValue, boundOnly: Bool = false) {
        guard let (loops, core) = running() else { return }
        if let push = core.encodePush(route: route, body: body) {
            for loop in loops { hand(PushMessage(broadcast: push, boundOnly: boundOnly), to: loop) }
        }
        core.cluster?.broadcast(route: route, body: body, boundOnly: boundOnly)
    }

    /// Encodes once for this server's receivers and hands each loop its
    /// share; the members on other frontends get one message per frontend.
    func deliver(route: String, body: JSONValue, to targets: PushTargets, loops: [EventLoop], core: GatewayCore) {
        if targets.hasLocal {
            let byLoop = targets.localSessions(sessions)
            // The one loop that holds receivers, if only one does (-2: several).
            var only = -1
            for i in byLoop.indices where !byLoop[i].isEmpty { only = only == -1 ? i : -2 }
            if only >= 0, loops[only].isCurrent {
                // Every receiver here is on the calling loop (a handler
                // pushing to its room, say): encoded into that loop's
                // arena, nothing shared, nothing posted.
                loops[only].scheduler.stage(route: route, body: body, forSessions: byLoop[only])
            } else if only != -1, let push = core.encodePush(route: route, body: body) {
                for (i, sessions) in byLoop.enumerated() where !sessions.isEmpty {
                    hand(PushMessage(push, to: sessions), to: loops[i])
                }
            }
        }
        guard !targets.remote.isEmpty else { return }
        if let cluster = core.cluster {
            cluster.push(route: route, body: body, to: targets.remote)
        } else {
            let n = UInt64(targets.remote.reduce(0) { $0 + $1.count })
            loops[0].execute { $0.counters.add(.pushesUndeliverable, n) }
        }
    }

    /// Delivers now when the caller runs on that loop, else through its
    /// mailbox.
    private func hand(_ message: PushMessage, to loop: EventLoop) {
        if loop.isCurrent { message.deliver(on: loop) } else { loop.post(message) }
    }

    func running() -> (loops: [EventLoop], core: GatewayCore)? { attached.withLock { $0 } }
}

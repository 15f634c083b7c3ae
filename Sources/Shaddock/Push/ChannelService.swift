import ShaddockProtocol
import Synchronization

/// Channels by name, and pushes to uids and to everyone (Pomelo's
/// ChannelService). Every method works from any thread.
///
/// A push is encoded once; each loop that holds receivers gets the same bytes
/// (directly when the caller runs on that loop, otherwise through the loop's
/// mailbox), and its scheduler batches them per session.
public final class ChannelService: Sendable {
    /// Where pushes go; the channels share it.
    let delivery: PushDelivery
    private let table = Locked<[String: Channel]>([:])
    /// How many channels exist: bounds what the loops' caches keep.
    private let live = Atomic<Int>(0)

    init(sessions: SessionService) { delivery = PushDelivery(sessions: sessions) }

    var sessions: SessionService { delivery.sessions }

    func attach(loops: [EventLoop], core: GatewayCore) { delivery.attach(loops: loops, core: core) }

    /// The server has stopped: pushes have nowhere to go, and the loops
    /// (which hold the core, which holds this) are let go.
    func detach() { delivery.detach() }

    /// The channel named `name`, created if it does not exist.
    public func create(_ name: String) -> Channel {
        if let c = get(name) { return c }
        return table.withLock { t in
            if let c = t[name] { return c }
            let c = Channel(name: name, delivery: delivery)
            t[name] = c
            live.add(1, ordering: .relaxed)
            return c
        }
    }

    /// The channel named `name`, if it exists. On a loop thread (a handler)
    /// it is read from the loop's own cache: no lock.
    public func get(_ name: String) -> Channel? {
        guard let loop = EventLoop.current else { return table.withLock { $0[name] } }
        let cache = loop.channelCache(of: self)
        if let c = cache.table[name] {
            if !c.destroyed.load(ordering: .acquiring) { return c }
            cache.table[name] = nil
        }
        guard let c = table.withLock({ $0[name] }) else { return nil }
        cache.remember(c, name: name, live: live.load(ordering: .relaxed))
        return c
    }

    /// Removes a channel; it keeps working for whoever still holds it.
    public func destroy(_ name: String) {
        table.withLock { t in
            guard let c = t.removeValue(forKey: name) else { return }
            // Under the lock: a loop that reads the table after this finds
            // it gone, and one that cached it sees the flag.
            c.destroyed.store(true, ordering: .releasing)
            live.subtract(1, ordering: .relaxed)
        }
    }

    /// Channels that exist.
    public var count: Int { table.withLock { $0.count } }

    /// Pushes to every session bound to one of `uids` (Pomelo's
    /// `pushMessageByUids`): here, and in a cluster on every other frontend
    /// (one message each, which looks the uids up).
    public func push(route: String, body: JSONValue, toUids uids: [String]) {
        push(route: route, toUids: uids, json: { body.write(into: &$0) })
    }

    /// The same with the object `fill` writes.
    public func push(route: String, toUids uids: [String], object fill: (inout JSONObjectWriter) -> Void) {
        push(route: route, toUids: uids, json: { JSONObjectWriter.write(into: &$0, fill) })
    }

    private func push(route: String, toUids uids: [String], json: (inout [UInt8]) -> Void) {
        guard !uids.isEmpty, let (loops, core) = delivery.running() else { return }
        var targets = PushTargets(loops: loops.count)
        targets.localUids = uids
        delivery.deliver(route: route, to: targets, loops: loops, core: core, json: json)
        if let cluster = core.cluster {
            var bytes: [UInt8] = []
            json(&bytes)
            cluster.push(route: route, body: bytes, toUidsOnOtherFrontends: uids)
        }
    }

    /// Pushes to every session that completed its handshake (only bound ones
    /// if `boundOnly`), on every loop (Pomelo's `broadcast`); in a cluster,
    /// one message to every other frontend.
    public func broadcast(route: String, body: JSONValue, boundOnly: Bool = false) {
        broadcast(route: route, boundOnly: boundOnly, json: { body.write(into: &$0) })
    }

    /// The same with the object `fill` writes.
    public func broadcast(route: String, boundOnly: Bool = false, object fill: (inout JSONObjectWriter) -> Void) {
        broadcast(route: route, boundOnly: boundOnly, json: { JSONObjectWriter.write(into: &$0, fill) })
    }

    private func broadcast(route: String, boundOnly: Bool, json: (inout [UInt8]) -> Void) {
        guard let (loops, core) = delivery.running() else { return }
        var bytes: [UInt8] = []
        json(&bytes)
        if let push = core.encodePush(route: route, body: { $0.append(contentsOf: bytes) }) {
            for loop in loops { delivery.hand(PushMessage(broadcast: push, boundOnly: boundOnly), to: loop) }
        }
        core.cluster?.broadcast(route: route, body: bytes, boundOnly: boundOnly)
    }
}

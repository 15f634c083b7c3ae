import ShaddockProtocol

/// Where a server's pushes go: its loops and core once it runs, and its
/// sessions. The channel service and every channel hold it strongly (a weak
/// reference would give the service a side table, and every retain and
/// release of it would take the runtime's slow path); a channel kept after
/// its server stopped pushes nowhere.
final class PushDelivery: Sendable {
    let sessions: SessionService
    /// The running server's loops and core; nil until it starts and after
    /// it stops (which breaks the cycle through the core).
    private let attached = Locked<(loops: [EventLoop], core: GatewayCore)?>(nil)

    init(sessions: SessionService) { self.sessions = sessions }

    func attach(loops: [EventLoop], core: GatewayCore) { attached.withLock { $0 = (loops, core) } }

    func detach() { attached.withLock { $0 = nil } }

    func running() -> (loops: [EventLoop], core: GatewayCore)? { attached.withLock { $0 } }

    /// Encodes once for this server's receivers and hands each loop its
    /// share; the members on other frontends get one message per frontend.
    /// `json` appends the body's JSON text; it runs once for the receivers
    /// here and once for the other frontends.
    func deliver(route: String, to targets: PushTargets, loops: [EventLoop], core: GatewayCore,
                 json: (inout [UInt8]) -> Void) {
        if targets.hasLocal {
            let byLoop = targets.localSessions(sessions)
            // The one loop that holds receivers, if only one does (-2: several).
            var only = -1
            for i in byLoop.indices where !byLoop[i].isEmpty { only = only == -1 ? i : -2 }
            if only >= 0, loops[only].isCurrent {
                // Every receiver here is on the calling loop (a handler
                // pushing to its room, say): encoded into that loop's
                // arena, nothing shared, nothing posted.
                loops[only].scheduler.stage(route: route, forSessions: byLoop[only], body: json)
            } else if only != -1, let push = core.encodePush(route: route, body: json) {
                for (i, sessions) in byLoop.enumerated() where !sessions.isEmpty {
                    hand(PushMessage(push, to: sessions), to: loops[i])
                }
            }
        }
        guard !targets.remote.isEmpty else { return }
        if let cluster = core.cluster {
            cluster.push(route: route, to: targets.remote, json: json)
        } else {
            let n = UInt64(targets.remote.reduce(0) { $0 + $1.count })
            loops[0].execute { $0.counters.add(.pushesUndeliverable, n) }
        }
    }

    /// Delivers now when the caller runs on that loop, else through its
    /// mailbox.
    func hand(_ message: PushMessage, to loop: EventLoop) {
        if loop.isCurrent { message.deliver(on: loop) } else { loop.post(message) }
    }
}

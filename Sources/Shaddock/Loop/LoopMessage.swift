/// Work posted to a loop from another thread through its mailbox (a
/// lock-free queue and a wake-up; see shd_mailbox.c).
class LoopMessage {
    /// Runs on the loop's thread.
    func deliver(on loop: EventLoop) {}
}

final class ClosureMessage: LoopMessage {
    let body: (EventLoop) -> Void
    init(_ body: @escaping (EventLoop) -> Void) { self.body = body }
    override func deliver(on loop: EventLoop) { body(loop) }
}

/// One encoded push for some sessions of the loop, or for all of them.
final class PushMessage: LoopMessage {
    let push: EncodedPush
    let targets: [Session]?
    /// Sessions by id, looked up on the loop (a push from another server).
    let ids: [UInt64]?
    let boundOnly: Bool

    init(_ push: EncodedPush, to targets: [Session]) {
        self.push = push
        self.targets = targets
        ids = nil
        boundOnly = false
    }

    init(_ push: EncodedPush, toSessionIDs ids: [UInt64]) {
        self.push = push
        targets = nil
        self.ids = ids
        boundOnly = false
    }

    /// To every working session of the loop (bound ones only if `boundOnly`).
    init(broadcast push: EncodedPush, boundOnly: Bool) {
        self.push = push
        targets = nil
        ids = nil
        self.boundOnly = boundOnly
    }

    override func deliver(on loop: EventLoop) {
        if let targets {
            let scheduler = loop.scheduler!
            // Borrowed references: the message keeps the sessions, and a
            // session keeps its connection, for the whole loop.
            targets.withUnsafeBufferPointer { sessions in
                for i in sessions.indices {
                    guard let c = sessions[i].connection else {
                        loop.counters.add(.pushesUndeliverable)
                        continue
                    }
                    scheduler.stage(push, for: c)
                }
            }
        } else if let ids {
            for id in ids {
                guard let c = loop.connections[id] else {
                    loop.counters.add(.pushesUndeliverable)
                    continue
                }
                loop.scheduler.stage(push, for: c)
            }
        } else {
            for c in loop.connections.values where c.phase == .working && !c.isClosing {
                if boundOnly && c.session.uid == nil { continue }
                loop.scheduler.stage(push, for: c)
            }
        }
    }
}

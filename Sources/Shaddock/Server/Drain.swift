import CShaddockLoop
import Dispatch
import ShaddockProtocol

/// A graceful shutdown (SIGTERM): every loop stops accepting, kicks each
/// session once it has no request running, and at the deadline answers
/// what still runs with an error and kicks the rest. The drain is over when
/// every loop's connections have closed (their bytes flushed).
final class Drain: Sendable {
    let reason: String
    let timeoutMilliseconds: Int
    private let emptied = Locked<Set<Int>>([])
    private let loops: Int
    private let finished = DispatchSemaphore(value: 0)

    init(reason: String, timeoutMilliseconds: Int, loops: Int) {
        self.reason = reason
        self.timeoutMilliseconds = timeoutMilliseconds
        self.loops = loops
    }

    /// A loop has no connection left; the last one ends the drain.
    func loopEmptied(_ loop: EventLoop) {
        let all = emptied.withLock { set in
            set.insert(loop.index)
            return set.count == loops
        }
        if all { finished.signal() }
    }

    /// Waits until every loop is empty or `milliseconds` have passed;
    /// whether it was the former.
    func wait(milliseconds: Int) -> Bool {
        finished.wait(timeout: .now() + .milliseconds(milliseconds)) == .success
    }
}

extension EventLoop {
    /// The drain reached this loop: no more accepts; idle sessions are
    /// kicked now, busy ones when their requests finish or at the deadline.
    func begin(_ drain: Drain) {
        guard draining == nil else { return }
        draining = drain
        shd_loop_stop_listening(raw)
        let busy = connectionsWithRequests()
        for connection in Array(connections.values) where !busy.contains(connection.sessionID) {
            connection.drainKick(drain)
        }
        execute(afterMilliseconds: drain.timeoutMilliseconds) { $0.drainDeadline(drain) }
        noteIfDrained()
    }

    /// Tells the drain this loop is done once it has no connection left,
    /// and, in a cluster, no forwarded request waiting for its answer and
    /// no forwarded request or remote call of other servers running.
    func noteIfDrained() {
        guard let draining, connections.isEmpty else { return }
        if let endpoint = cluster, endpoint.running > 0 || !endpoint.forwards.isEmpty { return }
        draining.loopEmptied(self)
    }

    /// The deadline: whatever still runs is answered with an error (its
    /// late answer is then dropped, as after the timeout filter), and every
    /// session left is kicked.
    private func drainDeadline(_ drain: Drain) {
        for flight in inFlight.values where !flight.answered {
            counters.add(.drainAbandoned)
            flight.abandon()
        }
        for connection in Array(connections.values) { connection.drainKick(drain) }
    }

    /// Sessions with a request running, forwarded and not answered yet, or
    /// waiting behind one (serial filter).
    private func connectionsWithRequests() -> Set<UInt64> {
        var busy = Set<UInt64>()
        for flight in inFlight.values where !flight.answered { busy.insert(flight.connection.sessionID) }
        if let forwards = cluster?.forwards {
            for forward in forwards.values { if let c = forward.connection { busy.insert(c.sessionID) } }
        }
        for connection in connections.values where connection.session.serial.busy {
            busy.insert(connection.sessionID)
        }
        return busy
    }

    /// A request finished during a drain: its session is kicked if that
    /// was its last one.
    func requestFinished(on connection: Connection) {
        guard let draining, !connection.isClosing, !connection.session.serial.busy else { return }
        if inFlight.values.contains(where: { $0.connection === connection && !$0.answered }) { return }
        if let forwards = cluster?.forwards.values, forwards.contains(where: { $0.connection === connection }) { return }
        connection.drainKick(draining)
    }
}

extension Connection {
    /// Kicks a working session with the drain's reason; closes a connection
    /// that has not got that far.
    func drainKick(_ drain: Drain) {
        guard !isClosing else { return }
        if phase == .working {
            counters.add(.drainKicks)
            kick(reason: drain.reason, code: .goingAway)
        } else {
            close(.code(WebSocketCloseCode.goingAway.rawValue))
        }
    }
}

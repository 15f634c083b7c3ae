import Synchronization

/// The server's `max-connections`: one counter shared by the loops, taken on
/// accept (before any byte is read) and given back on close.
final class ConnectionLimit: Sendable {
    let max: Int?
    private let open = Atomic<Int>(0)

    init(max: Int?) { self.max = max }

    func acquire() -> Bool {
        let now = open.add(1, ordering: .relaxed).newValue
        guard let max, now > max else { return true }
        open.subtract(1, ordering: .relaxed)
        return false
    }

    func release() { open.subtract(1, ordering: .relaxed) }
}

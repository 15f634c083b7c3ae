import Synchronization

/// A bound on open connections that a reload may change; connections over
/// a lowered bound stay.
class ReloadableLimit: @unchecked Sendable {
    private let bound: Atomic<Int>

    init(max: Int?) { bound = Atomic(max ?? 0) }

    /// nil: no limit.
    final var max: Int? {
        get { let m = bound.load(ordering: .relaxed); return m > 0 ? m : nil }
        set { bound.store(newValue ?? 0, ordering: .relaxed) }
    }
}

/// The server's `max-connections`: one counter shared by the loops, taken on
/// accept (before any byte is read) and given back on close.
final class ConnectionLimit: ReloadableLimit, @unchecked Sendable {
    private let open = Atomic<Int>(0)

    func acquire() -> Bool {
        let now = open.add(1, ordering: .relaxed).newValue
        guard let max, now > max else { return true }
        open.subtract(1, ordering: .relaxed)
        return false
    }

    func release() { open.subtract(1, ordering: .relaxed) }
}

/// `maxConnectionsPerAddress`: open connections by client address, shared by
/// the loops. The table is touched on accept and close only (never per
/// message), and only while the limit is on; a connection remembers whether
/// it was counted, so turning the limit on or off by a reload stays exact.
final class AddressLimit: ReloadableLimit, @unchecked Sendable {
    private let open = Locked<[String: Int]>([:])

    /// Counts a connection from `address`; false (nothing counted) if the
    /// address already has `max`.
    func acquire(_ address: String, max: Int) -> Bool {
        open.withLock { table in
            let n = table[address, default: 0]
            guard n < max else { return false }
            table[address] = n + 1
            return true
        }
    }

    func release(_ address: String) {
        open.withLock { table in
            guard let n = table[address] else { return }
            table[address] = n > 1 ? n - 1 : nil
        }
    }
}

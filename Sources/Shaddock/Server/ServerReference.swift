/// A reference from an application's service back to the running server's
/// parts (its core, its cluster) that neither keeps them alive (they keep
/// the application, so a strong one would be a cycle) nor gives them a side
/// table, as a weak reference would: every retain and release of an object
/// with a side table takes the runtime's slow path, and the core and the
/// cluster are retained on every request. `Server.deinit` clears it before
/// it lets them go; it is read and written under a lock.
struct ServerReference<Object: AnyObject> {
    private unowned(unsafe) var stored: Object?

    var object: Object? { stored }

    mutating func set(_ object: Object?) { stored = object }

    /// Clears it if it still refers to `object` (another server may have
    /// started the same application since).
    mutating func clear(ifItIs object: Object) {
        if stored === object { stored = nil }
    }
}

import Synchronization

#if canImport(Glibc)
import Glibc
#endif

@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// What the main thread and the workers tell each other while a run goes on.
final class Shared: Sendable {
    /// Set by the main thread: every worker shuts its loop down.
    let stop = Atomic<Bool>(false)
    /// The measured window, in monotonic ns; counting happens only inside it.
    let windowStart = Atomic<UInt64>(.max)
    let windowEnd = Atomic<UInt64>(.max)
    /// Sessions set up and held (hold), or receivers logged in (broadcast).
    let sessionsUp = Atomic<Int>(0)
    /// Broadcast: set once every receiver is in; worker 0 then starts the sender.
    let startSender = Atomic<Bool>(false)
}

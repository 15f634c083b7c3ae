import CShaddockLoop

/// A loop is a task executor: `async` handlers and filters run with the loop
/// as their executor preference, so their code (and the session it touches)
/// stays on the loop's thread, and whatever they awaited elsewhere comes back
/// through the mailbox. Jobs are posted unbounded: refusing one would lose a
/// task; the number of tasks is bounded by the requests in flight.
extension EventLoop: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        // Jobs are heap objects, so bit 0 is free to tell them from messages.
        let bits = unsafeBitCast(unowned, to: UInt.self) | 1
        shd_loop_post(raw, UnsafeMutableRawPointer(bitPattern: bits), 0)
    }
}

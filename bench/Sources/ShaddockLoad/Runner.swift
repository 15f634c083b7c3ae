import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Starts the workers, keeps the time, and gathers what they measured.
struct Runner {
    let plan: Plan
    let setupTimeoutNanos: UInt64
    let probe: ServerProbe?

    func run() -> Outcome {
        // Signals are taken by this thread only (sigtimedwait below).
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGPIPE, SIG_IGN)

        let shared = Shared()
        let t0 = monotonicNanos()
        let timed = !plan.mode.holdsSessions
        if timed { openWindow(shared, at: t0 + plan.warmupNanos) }
        let finished = Atomic<Int>(0)
        let workers = (0..<plan.threads).map { Worker(index: $0, plan: plan, shared: shared) }
        var threads: [pthread_t] = []
        for worker in workers {
            let box = Unmanaged.passRetained(ThreadBody { worker.run(); finished.add(1, ordering: .releasing) })
            var tid = pthread_t()
            pthread_create(&tid, nil, { arg in
                let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
                body.run()
                return nil
            }, box.toOpaque())
            threads.append(tid)
        }

        var setupSeconds: Double?
        var setupIncomplete = false
        var atStart: ServerProbe.Sample?, atEnd: ServerProbe.Sample?
        var lastProgress = t0
        var wait = timespec(tv_sec: 0, tv_nsec: 2_000_000)
        while finished.load(ordering: .acquiring) < workers.count {
            if sigtimedwait(&stopSignals, nil, &wait) > 0 { shared.stop.store(true, ordering: .relaxed) }
            let now = monotonicNanos()
            if plan.progressNanos > 0 && now - lastProgress >= plan.progressNanos {
                lastProgress = now
                printProgress(shared, workers, since: t0, now: now)
            }
            if let probe {
                if atStart == nil && now >= shared.windowStart.load(ordering: .relaxed) { atStart = probe.sample() }
                if atEnd == nil && (now >= shared.windowEnd.load(ordering: .relaxed) || shared.stop.load(ordering: .relaxed)) {
                    atEnd = probe.sample()
                }
            }
            guard !timed, setupSeconds == nil, !shared.stop.load(ordering: .relaxed) else { continue }
            if shared.sessionsUp.load(ordering: .relaxed) >= plan.connections {
                setupSeconds = Double(now - t0) / 1e9
                if plan.mode != .broadcast {
                    print("up \(plan.connections) sessions in \(format(setupSeconds!, digits: 1)) s")
                    fflush(nil)
                    openWindow(shared, at: now)
                } else {
                    shared.startSender.store(true, ordering: .relaxed)
                    openWindow(shared, at: now + plan.warmupNanos)
                }
            } else if now - t0 > setupTimeoutNanos {
                setupIncomplete = true
                shared.stop.store(true, ordering: .relaxed)
            }
        }
        let ended = monotonicNanos()
        for tid in threads { pthread_join(tid, nil) }

        var outcome = Outcome(plan: plan)
        for w in workers {
            outcome.histogram.merge(w.histogram)
            outcome.errors.merge(w.errors)
            outcome.completed += w.completed
            outcome.pushes += w.pushes
            outcome.wireBytesIn += w.wireBytesIn
            outcome.requested += w.requested
            outcome.expectedPushes += w.expectedPushes
        }
        if setupIncomplete { outcome.errors.add(.timeout) }
        outcome.sessionsUp = shared.sessionsUp.load(ordering: .relaxed)
        outcome.setupSeconds = setupSeconds
        let start = shared.windowStart.load(ordering: .relaxed)
        let end = min(shared.windowEnd.load(ordering: .relaxed), ended)
        outcome.seconds = start < end ? Double(end - start) / 1e9 : 0
        if let atStart, let atEnd { outcome.server = (atStart, atEnd) }
        return outcome
    }

    /// One line: the time since the window opened (or since the start, while
    /// setting up), the sessions up, requests answered of those sent, pushes,
    /// errors, and the server's RSS and CPU time with --server-pid.
    private func printProgress(_ shared: Shared, _ workers: [Worker], since t0: UInt64, now: UInt64) {
        let start = shared.windowStart.load(ordering: .relaxed)
        let clock = now >= start ? "\(format(Double(now - start) / 1e9, digits: 1)) s"
            : "set-up \(format(Double(now - t0) / 1e9, digits: 1)) s"
        func sum(_ counter: (Progress) -> UInt64) -> UInt64 { workers.reduce(0) { $0 + counter($1.progress) } }
        var line = "progress \(clock): sessions \(shared.sessionsUp.load(ordering: .relaxed)), "
            + "requests \(sum { $0.completed.load(ordering: .relaxed) })/\(sum { $0.requested.load(ordering: .relaxed) }), "
            + "pushes \(sum { $0.pushes.load(ordering: .relaxed) }), errors \(sum { $0.errors.load(ordering: .relaxed) })"
        if let sample = probe?.sample() {
            line += ", server RSS \(sample.rssKiB) KiB, CPU \(format(Double(sample.cpuNanos) / 1e9, digits: 2)) s"
        }
        print(line)
        fflush(nil)
    }

    private func openWindow(_ shared: Shared, at start: UInt64) {
        shared.windowEnd.store(start + plan.durationNanos, ordering: .relaxed)
        shared.windowStart.store(start, ordering: .relaxed)
    }
}

final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// A non-negative number with a fixed count of decimals.
func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "0" }
    var scale: UInt64 = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = UInt64((max(0, value) * Double(scale)).rounded())
    guard digits > 0 else { return String(scaled) }
    let fraction = String(scaled % scale)
    return "\(scaled / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
}

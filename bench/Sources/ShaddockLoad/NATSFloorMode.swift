@_spi(Bench) import Shaddock

#if canImport(Glibc)
import Glibc
#endif

/// The NATS floor: request/reply over a `nats-server` with Shaddock's own
/// NATS client and nothing else. `nats-responder` answers every request
/// with its payload until SIGINT/SIGTERM; `nats-floor` is the requester,
/// keeping --depth requests outstanding, and measures itself plus the
/// --server-pid processes (the responder and nats-server) over its window:
/// what a forwarded request would cost if Shaddock added nothing.
enum NATSFloorMode {
    static func respond(natsURL: String) throws {
        let floor = try NATSFloor(url: natsURL, role: .responder)
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        // A thread of its own waits for the signal; the loop runs here.
        let box = Unmanaged.passRetained(ThreadBody {
            var signals = stopSignals
            var number: Int32 = 0
            sigwait(&signals, &number)
            floor.stop()
        })
        var tid = pthread_t()
        pthread_create(&tid, nil, { arg in
            Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        print("responding on \(natsURL)")
        _ = try floor.run()
    }

    /// Prints a summary and the JSON line that bench/driver.py reads.
    static func request(natsURL: String, depth: Int, warmup: Double, seconds: Double, serverPids: [Int32]) throws {
        let floor = try NATSFloor(url: natsURL, role: .requester(depth: depth))
        let probe = ServerProbe(pids: [getpid()] + serverPids)
        var start: ServerProbe.Sample?, end: ServerProbe.Sample?
        let result = try floor.run(warmup: warmup, seconds: seconds) { opening in
            if opening { start = probe.sample() } else { end = probe.sample() }
        }
        let throughput = result.seconds > 0 ? Double(result.requests) / result.seconds : 0
        let cpuNanos = start.flatMap { s in end.map { $0.cpuNanos - s.cpuNanos } }
        let perRequest = cpuNanos.map { result.requests > 0 ? Double($0) / 1000 / Double(result.requests) : 0 }
        let p = { (q: Double) in format(result.latencyMicroseconds[q] ?? 0, digits: 1) }
        print("shaddock-load nats-floor \(natsURL): depth \(depth), requester + responder + nats-server")
        print("  requests   \(result.requests) in \(format(result.seconds, digits: 2)) s = \(format(throughput, digits: 0))/s")
        print("  latency µs p50 \(p(50))  p99 \(p(99))")
        if let perRequest { print("  CPU        \(format(perRequest, digits: 3)) µs per request (requester + --server-pid)") }
        var fields = [
            #""tool":"shaddock-load""#, #""mode":"nats-floor""#, #""depth":\#(depth)"#,
            #""seconds":\#(format(result.seconds, digits: 3))"#, #""completed":\#(result.requests)"#,
            #""throughput":\#(format(throughput, digits: 1))"#,
            #""latency_us":{"p50":\#(p(50)),"p90":\#(p(90)),"p99":\#(p(99)),"p999":\#(p(99.9))}"#,
            #""errors_total":\#(result.requests == 0 ? 1 : 0)"#,
        ]
        if let start, let end, let perRequest {
            fields.append(#""server":{"cpu_s":\#(format(Double(end.cpuNanos - start.cpuNanos) / 1e9, digits: 4)),"#
                + #""cpu_us_per_op":\#(format(perRequest, digits: 4)),"#
                + #""rss_start_kib":\#(start.rssKiB),"rss_end_kib":\#(end.rssKiB)}"#)
        }
        print("{" + fields.joined(separator: ",") + "}")
    }
}

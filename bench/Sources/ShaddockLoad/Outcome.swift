/// What a run measured, as a summary for people and one JSON line for tools.
struct Outcome {
    let plan: Plan
    var histogram = Histogram()
    var errors = ErrorCounts()
    /// Answers (requests, echoes, set-ups, broadcast sends) inside the window.
    var completed: UInt64 = 0
    /// Broadcast: onChat pushes the receivers got inside the window.
    var pushes: UInt64 = 0
    /// WebSocket bytes received in the window, frame headers included.
    var wireBytesIn: UInt64 = 0
    /// Soak: requests sent inside the window, and the onChat pushes that the
    /// chats answered inside it should have brought.
    var requested: UInt64 = 0
    var expectedPushes: UInt64 = 0
    var sessionsUp = 0
    var setupSeconds: Double?
    /// The measured window's length.
    var seconds = 0.0
    /// The server process at the window's start and end (with --server-pid).
    var server: (start: ServerProbe.Sample, end: ServerProbe.Sample)?

    /// Server CPU µs per headline unit (request, echo, set-up, push).
    var serverMicrosPerOp: Double? {
        guard let server else { return nil }
        let ops = plan.mode == .broadcast ? pushes : completed
        guard ops > 0 else { return nil }
        return Double(server.end.cpuNanos - server.start.cpuNanos) / 1000 / Double(ops)
    }

    /// The mode's headline figure per second: requests, echoes, set-ups or pushes.
    var throughput: Double {
        guard seconds > 0 else { return 0 }
        return Double(plan.mode == .broadcast ? pushes : completed) / seconds
    }

    /// What the headline figure counts, one and many.
    var units: (one: String, many: String) {
        switch plan.mode {
        case .wsEcho: ("echo", "echoes")
        case .pomelo, .pomeloTCP, .soak: ("request", "requests")
        case .connect: ("setup", "setups")
        case .hold: ("session", "sessions")
        case .broadcast: ("push", "pushes")
        }
    }

    private static let quantiles: [(String, Double)] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)]

    private func micros(_ ns: UInt64) -> Double { Double(ns) / 1000 }

    func summary() -> String {
        var lines = ["shaddock-load \(plan.mode.rawValue) \(plan.host):\(plan.port): \(plan.connections) connections, "
            + "\(plan.threads) thread\(plan.threads == 1 ? "" : "s"), depth \(plan.depth)"]
        if let setupSeconds { lines.append("  set-up     \(sessionsUp) sessions in \(format(setupSeconds, digits: 2)) s") }
        if plan.mode == .hold || plan.mode == .soak {
            lines.append("  held       \(sessionsUp) sessions for \(format(seconds, digits: 1)) s")
        }
        if plan.mode == .soak {
            lines.append("  requests   \(completed) answered of \(requested) sent = \(format(throughput, digits: 1))/s")
            lines.append("  pushes     \(pushes) onChat (\(expectedPushes) expected from the chats answered)")
        }
        if plan.mode != .hold {
            if plan.mode != .soak {
                lines.append("  \(units.many.padding(9))  \(plan.mode == .broadcast ? pushes : completed)"
                    + " in \(format(seconds, digits: 2)) s = \(format(throughput, digits: 0))/s")
            }
            if plan.mode == .broadcast { lines.append("  sends      \(completed) (\(format(Double(completed) / max(seconds, 1e-9), digits: 0))/s)") }
            let q = Self.quantiles.map { "\($0.0) \(format(micros(histogram.quantile($0.1)), digits: 0))" }
            lines.append("  latency µs " + (q + ["max \(format(micros(histogram.max), digits: 0))"]).joined(separator: "  "))
        }
        if let server {
            let cpu = Double(server.end.cpuNanos - server.start.cpuNanos) / 1e9
            lines.append("  server     CPU \(format(cpu, digits: 2)) s"
                + (serverMicrosPerOp.map { " = \(format($0, digits: 3)) µs per \(units.one)" } ?? "")
                + ", RSS \(server.start.rssKiB) → \(server.end.rssKiB) KiB")
        }
        let errorText = ErrorKind.allCases.filter { errors[$0] > 0 }.map { "\($0.name) \(errors[$0])" }
        lines.append("  errors     " + (errorText.isEmpty ? "none" : errorText.joined(separator: ", ")))
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        var fields: [String] = [
            #""tool":"shaddock-load""#, #""mode":"\#(plan.mode.rawValue)""#, #""target":"\#(plan.host):\#(plan.port)""#,
            #""connections":\#(plan.connections)"#, #""threads":\#(plan.threads)"#, #""depth":\#(plan.depth)"#,
            #""size":\#(plan.size)"#, #""seconds":\#(format(seconds, digits: 3))"#,
            #""completed":\#(completed)"#, #""throughput":\#(format(throughput, digits: 1))"#,
        ]
        let latency = Self.quantiles.map { #""\#($0.0)":\#(format(micros(histogram.quantile($0.1)), digits: 1))"# }
            + [#""max":\#(format(micros(histogram.max), digits: 1))"#]
        fields.append(#""latency_us":{\#(latency.joined(separator: ","))}"#)
        let errorFields = ErrorKind.allCases.map { #""\#($0.name)":\#(errors[$0])"# }
        fields.append(#""errors":{\#(errorFields.joined(separator: ","))}"#)
        fields.append(#""errors_total":\#(errors.total)"#)
        if plan.mode.holdsSessions {
            fields.append(#""sessions_up":\#(sessionsUp)"#)
            fields.append(#""setup_s":\#(setupSeconds.map { format($0, digits: 3) } ?? "null")"#)
        }
        if plan.mode == .broadcast || plan.mode == .soak { fields.append(#""pushes":\#(pushes)"#) }
        // Bytes on the wire per message received (answer or push).
        let messages = plan.mode == .broadcast ? pushes : completed
        if plan.mode.overWebSocket, messages > 0 {
            fields.append(#""wire_bytes_per_message":\#(format(Double(wireBytesIn) / Double(messages), digits: 1))"#)
        }
        if plan.mode == .soak {
            let tcp = (0..<plan.connections).filter { !plan.overWebSocket($0) }.count
            let chatters = (0..<plan.connections).filter { plan.room(of: $0) != nil }.count
            fields.append(#""requested":\#(requested)"#)
            fields.append(#""expected_pushes":\#(expectedPushes)"#)
            fields.append(#""interval_s":\#(format(Double(plan.intervalNanos) / 1e9, digits: 3))"#)
            fields.append(#""sessions_tcp":\#(tcp),"sessions_chat":\#(chatters),"room_size":\#(plan.roomSize)"#)
        }
        if let server {
            fields.append(#""server":{"cpu_s":\#(format(Double(server.end.cpuNanos - server.start.cpuNanos) / 1e9, digits: 4)),"#
                + #""cpu_us_per_op":\#(serverMicrosPerOp.map { format($0, digits: 4) } ?? "null"),"#
                + #""rss_start_kib":\#(server.start.rssKiB),"rss_end_kib":\#(server.end.rssKiB)}"#)
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

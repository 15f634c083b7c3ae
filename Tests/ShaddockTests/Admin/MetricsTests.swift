@testable import Shaddock
import Testing

/// The exposition rendered from a snapshot, without a server: every counter
/// has a place in it, and it is valid Prometheus text.
@Suite struct MetricsTests {
    /// A snapshot of `loops` loops where every counter and transport field
    /// holds a value no other one holds.
    static func distinctSnapshot(loops: Int = 1) -> MetricsSnapshot {
        var s = MetricsSnapshot()
        for loop in 0..<loops {
            s.counters.append(GatewayCounter.allCases.map { UInt64(1_000_000 * (loop + 1) + 1000 * ($0.rawValue + 1)) })
            s.lagMilliseconds.append(UInt64(loop * 250))
        }
        s.transport = TransportStats(
            accepted: 1, closed: 2, open: 3, reads: 4, bytesIn: 5, bytesOut: 6, writeCalls: 7, flushes: 8,
            overflows: 9, oversize: 10, chunksAllocated: 11, posted: 12, postRefused: 13)
        s.sessions = 14
        s.boundSessions = 15
        // As in a cluster: every loop's NATS link, the live servers by type.
        s.natsUp = (0..<loops).map { $0 % 2 == 0 }
        s.liveServers = ["connector": 2, "chat": 3]
        s.process = ProcessSample(cpuSeconds: 1.5, residentBytes: 16, virtualBytes: 17, openFDs: 18, maxFDs: 19,
                                  startTimeSeconds: 20)
        return s
    }

    static func parse(_ s: MetricsSnapshot) -> PrometheusText {
        PrometheusText(MetricsExposition.render(s))
    }

    /// A counter added to `GatewayCounter` must show up in `/metrics`: each
    /// one's value is found in exactly one counter series.
    @Test func everyGatewayCounterIsExposed() {
        let s = Self.distinctSnapshot(loops: 2)
        let text = Self.parse(s)
        let counterSamples = text.samples.filter { text.types[$0.name] == "counter" }
        for c in GatewayCounter.allCases {
            let matches = counterSamples.filter { $0.value == Double(s.total(c)) }
            #expect(matches.count == 1, "\(c) appears in \(matches.count) counter series")
            #expect(matches.first?.name == c.exposition.family.name, "\(c)")
        }
    }

    @Test func transportCountersAndGaugesAreExposed() {
        let text = Self.parse(Self.distinctSnapshot(loops: 2))
        let expected: [(String, Double)] = [
            ("shaddock_reads_total", 4), ("shaddock_received_bytes_total", 5), ("shaddock_sent_bytes_total", 6),
            ("shaddock_write_calls_total", 7), ("shaddock_flushes_total", 8), ("shaddock_write_overflows_total", 9),
            ("shaddock_write_chunks_allocated_total", 11), ("shaddock_mailbox_posted_total", 12),
            ("shaddock_mailbox_refused_total", 13), ("shaddock_sessions", 14), ("shaddock_sessions_bound", 15),
            ("shaddock_draining", 0),
        ]
        for (name, value) in expected { #expect(text.value(name) == value, "\(name)") }
        #expect(text.value("shaddock_loop_lag_seconds", ["loop": "0"]) == 0)
        #expect(text.value("shaddock_loop_lag_seconds", ["loop": "1"]) == 0.25)
    }

    @Test func errorsAreOneFamilyWithAKindPerRefusal() {
        let text = Self.parse(Self.distinctSnapshot())
        let kinds = text.samples.filter { $0.name == "shaddock_errors_total" }.compactMap { $0.labels["kind"] }
        let errorCounters = GatewayCounter.allCases.filter { $0.exposition.family == .errors }
        #expect(kinds.count == errorCounters.count)
        #expect(Set(kinds).count == kinds.count)
        for c in [GatewayCounter.handlerErrors, .badPackages, .oversizeMessages, .websocketProtocolErrors, .handshakeTimeouts,
                  .heartbeatTimeouts, .requestTimeouts, .blacklistRefused, .connectionLimitRefused, .tooBusyRefusals] {
            #expect(errorCounters.contains(c), "\(c) is not an error kind")
        }
    }

    /// Open connections by transport, per loop; a close counted after its
    /// open was read does not wrap around.
    @Test func openConnectionsByTransport() {
        var s = MetricsSnapshot()
        func loop(_ values: [GatewayCounter: UInt64]) -> [UInt64] {
            GatewayCounter.allCases.map { values[$0] ?? 0 }
        }
        s.counters = [
            loop([.connectionsAccepted: 10, .connectionsClosed: 3, .websocketUpgrades: 4, .websocketClosed: 1,
                  .tcpConnections: 2, .tcpClosed: 1]),
            loop([.connectionsAccepted: 1, .connectionsClosed: 2, .websocketUpgrades: 0, .websocketClosed: 1]),
        ]
        let text = Self.parse(s)
        #expect(text.value("shaddock_connections_open", ["transport": "websocket"]) == 3)
        #expect(text.value("shaddock_connections_open", ["transport": "tcp"]) == 1)
        #expect(text.value("shaddock_connections_open", ["transport": "unknown"]) == 3)
    }

    @Test func expositionIsValidPrometheusText() {
        let rendered = MetricsExposition.render(Self.distinctSnapshot(loops: 3))
        let text = PrometheusText(rendered)
        #expect(text.problems == [])
        #expect(text.types.count == MetricFamily.allCases.count)
        for (name, type) in text.types {
            // Prometheus' process collector's names, and ours.
            #expect(name.hasPrefix("shaddock_") || name.hasPrefix("process_"))
            #expect(type == (MetricFamily.allCases.first { $0.name == name }!.isCounter ? "counter" : "gauge"))
            #expect(!text.help[name, default: ""].isEmpty)
        }
        // HELP text needs no escaping.
        for family in MetricFamily.allCases {
            #expect(!family.help.contains("\\") && !family.help.contains("\n"), "\(family)")
        }
    }

    /// The linter itself catches what it should.
    @Test func lintFindsBrokenExpositions() {
        let broken = [
            "# TYPE a_total counter\na_total 1\n",                                  // no HELP
            "# HELP a x\n# TYPE a counter\na 1\n",                                  // counter without _total
            "# HELP a_total x\n# TYPE a_total counter\n# TYPE a_total counter\na_total 1\n",
            "# HELP b x\n# TYPE b gauge\nb 1\n# HELP c x\n# TYPE c gauge\nc 1\nb{l=\"v\"} 2\n",
            "# HELP 1b x\n# TYPE 1b gauge\n1b 1\n",
            "# HELP b x\n# TYPE b gauge\nb{l-l=\"v\"} 1\n",
            "# HELP b x\n# TYPE b gauge\nb 1\nb 2\n",
            "# HELP b x\n# TYPE b gauge\nb one\n",
            "# HELP b x\n# TYPE b gauge\nb 1",
        ]
        for text in broken { #expect(!PrometheusText(text).problems.isEmpty, "\(text)") }
    }
}

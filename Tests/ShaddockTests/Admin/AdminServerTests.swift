import Foundation
@testable import Shaddock
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The admin listener over real sockets: `/metrics` after real traffic,
/// `/healthz` and its draining state, refusals, and how it is configured.
@Suite struct AdminServerTests {
    static func server(threads: Int = 1) throws -> TestServer {
        let app = TestApp.make()
        app.handle("connector.adminTest.bind") { request, session in
            try session.bind(request.json["uid"]?.stringValue ?? "u")
            return .json(["code": 200])
        }
        return try TestServer(app: app, threads: threads) {
            $0.adminPort = 0
            $0.heartbeatSeconds = 0
        }
    }

    static func scrape(_ server: TestServer) throws -> PrometheusText {
        let reply = try AdminReply.get("/metrics", port: try #require(server.server.adminPort))
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(reply.headers["content-length"] == String(reply.body.utf8.count))
        return PrometheusText(reply.body)
    }

    /// WebSocket and TCP sessions, requests, a notify, a push, a bind and a
    /// bad package, then one scrape whose numbers are all known.
    @Test func metricsCountRealTraffic() throws {
        let server = try Self.server(threads: 2)
        let ws = try PomeloTestClient.ready(.websocket, port: server.port)
        try ws.request(route: "connector.entryHandler.entry", id: 1)
        #expect(try ws.expectResponse(id: 1)["code"] as? Int == 200)
        try ws.request(route: "connector.adminTest.bind", id: 2, body: #"{"uid":"alice"}"#)
        #expect(try ws.expectResponse(id: 2)["code"] as? Int == 200)

        let tcp = try PomeloTestClient.ready(.tcp, port: server.port)
        try tcp.request(route: "connector.entryHandler.entry", id: 1)
        #expect(try tcp.expectResponse(id: 1)["code"] as? Int == 200)
        try tcp.request(route: "connector.testHandler.push", id: 2, body: #"{"route":"onChat","n":1}"#)
        #expect(try tcp.expectResponse(id: 2)["code"] as? Int == 200)
        #expect(try tcp.readMessage().type == .push)
        try tcp.notify(route: "connector.entryHandler.ping")
        #expect(server.waitFor(.notifies, atLeast: 1))

        let bad = try PomeloTestClient.ready(.tcp, port: server.port)
        try bad.sendRaw([9, 0, 0, 0])
        #expect(bad.waitForClose())
        bad.close()
        #expect(server.waitFor(.connectionsClosed, atLeast: 1))

        let text = try Self.scrape(server)
        #expect(text.problems == [])
        let expected: [(String, [String: String], Double)] = [
            ("shaddock_connections_accepted_total", [:], 3),
            ("shaddock_connections_closed_total", [:], 1),
            ("shaddock_connections_open", ["transport": "websocket"], 1),
            ("shaddock_connections_open", ["transport": "tcp"], 1),
            ("shaddock_connections_open", ["transport": "unknown"], 0),
            ("shaddock_transport_connections_total", ["transport": "websocket"], 1),
            ("shaddock_transport_connections_total", ["transport": "tcp"], 2),
            ("shaddock_transport_connections_closed_total", ["transport": "websocket"], 0),
            ("shaddock_transport_connections_closed_total", ["transport": "tcp"], 1),
            ("shaddock_sessions", [:], 2),
            ("shaddock_sessions_bound", [:], 1),
            ("shaddock_handshakes_total", [:], 3),
            ("shaddock_requests_total", [:], 4),
            ("shaddock_responses_total", [:], 4),
            ("shaddock_notifies_total", [:], 1),
            ("shaddock_pushes_total", [:], 1),
            ("shaddock_push_batches_total", [:], 1),
            ("shaddock_pushes_not_delivered_total", ["reason": "dropped"], 0),
            ("shaddock_errors_total", ["kind": "bad_package"], 1),
            ("shaddock_kicks_total", [:], 0),
            ("shaddock_slow_consumers_total", ["action": "kick"], 0),
            ("shaddock_draining", [:], 0),
        ]
        for (name, labels, value) in expected {
            #expect(text.value(name, labels) == value, "\(name)\(labels)")
        }
        // Every other error kind is there, at zero.
        let errors = text.samples.filter { $0.name == "shaddock_errors_total" }
        #expect(errors.count == GatewayCounter.allCases.filter { $0.exposition.family == .errors }.count)
        #expect(errors.filter { $0.value != 0 }.map { $0.labels["kind"] } == ["bad_package"])
        // Nothing moves now: the bytes are the transport's own counts.
        let stats = server.server.transportStats()
        #expect(stats.bytesIn > 0 && stats.bytesOut > 0)
        #expect(text.value("shaddock_received_bytes_total") == Double(stats.bytesIn))
        #expect(text.value("shaddock_sent_bytes_total") == Double(stats.bytesOut))
        #expect(text.value("shaddock_write_calls_total") == Double(stats.writeCalls))
        #expect(text.value("shaddock_mailbox_posted_total") == Double(stats.posted))
        for loop in ["0", "1"] {
            #expect((text.value("shaddock_loop_lag_seconds", ["loop": loop]) ?? -1) >= 0, "loop \(loop)")
        }
        // The library call renders the same families.
        #expect(Set(PrometheusText(server.server.metrics()).types.keys) == Set(text.types.keys))
        _ = (ws, tcp)
    }

    @Test func healthzAnswersOkThenDrainingThenOk() throws {
        let server = try Self.server()
        let port = try #require(server.server.adminPort)
        var reply = try AdminReply.get("/healthz", port: port)
        #expect(reply.status == 200 && reply.body == "ok\n")
        #expect(reply.headers["connection"] == "close")

        server.server.setHealth(draining: true)
        #expect(server.server.isDraining)
        reply = try AdminReply.get("/healthz", port: port)
        #expect(reply.status == 503 && reply.body == "draining\n")
        #expect(try Self.scrape(server).value("shaddock_draining") == 1)

        server.server.setHealth(draining: false)
        reply = try AdminReply.get("/healthz", port: port)
        #expect(reply.status == 200 && reply.body == "ok\n")
    }

    /// /readyz: ready once listening, 503 while draining; /healthz stays
    /// the liveness check.
    @Test func readyzAnswersReadyThenDrainingThenReady() throws {
        let server = try Self.server()
        let port = try #require(server.server.adminPort)
        var reply = try AdminReply.get("/readyz", port: port)
        #expect(reply.status == 200 && reply.body == "ready\n")
        server.server.setHealth(draining: true)
        reply = try AdminReply.get("/readyz", port: port)
        #expect(reply.status == 503 && reply.body == "draining\n")
        server.server.setHealth(draining: false)
        #expect(try AdminReply.get("/readyz", port: port).status == 200)
        let head = try AdminReply.get("/readyz", port: port, method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
    }

    /// With a cluster, ready only while every loop's NATS link is up and
    /// the server has announced itself.
    @Test(.enabled(if: NATSTestServer.isInstalled)) func readyzWaitsForNATS() throws {
        let natsPort = try freeLoopbackPort()
        let server = try ClusterTestServer(id: "connector-ready", frontend: true, nats: ["nats://127.0.0.1:\(natsPort)"],
                                           servers: ClusterTestApp.servers(frontends: ["connector-ready"], backends: [])) {
            $0.adminPort = 0
        }
        let port = try #require(server.server.adminPort)
        var reply = try AdminReply.get("/readyz", port: port)
        #expect(reply.status == 503 && reply.body == "NATS not connected\n")
        #expect(try AdminReply.get("/healthz", port: port).status == 200, "alive all the same")
        let nats = try NATSTestServer(port: natsPort)
        for _ in 0..<300 {
            reply = try AdminReply.get("/readyz", port: port)
            if reply.status == 200 { break }
            usleep(20_000)
        }
        #expect(reply.status == 200 && reply.body == "ready\n")
        nats.kill()
        for _ in 0..<300 {
            reply = try AdminReply.get("/readyz", port: port)
            if reply.status == 503 { break }
            usleep(20_000)
        }
        #expect(reply.status == 503 && reply.body == "NATS not connected\n")
    }

    /// Prometheus' process series, as its own process collector names them.
    @Test func processSeries() throws {
        let server = try Self.server()
        let text = try Self.scrape(server)
        let fds = try #require(text.value("process_open_fds")), max = try #require(text.value("process_max_fds"))
        #expect(fds > 3 && fds < max)
        #expect(try #require(text.value("process_resident_memory_bytes")) > 1_000_000)
        #expect(try #require(text.value("process_virtual_memory_bytes")) > text.value("process_resident_memory_bytes")!)
        #expect(try #require(text.value("process_cpu_seconds_total")) > 0)
        let started = try #require(text.value("process_start_time_seconds"))
        let now = Date().timeIntervalSince1970
        #expect(started > now - 24 * 3600 && started <= now + 1)
        #expect(text.types["process_cpu_seconds_total"] == "counter" && text.types["process_open_fds"] == "gauge")
    }

    /// A drain flips /healthz to 503 while requests in flight finish.
    @Test func drainAnswers503UntilItStops() throws {
        let app = DrainAndReloadTests.app()
        let server = try TestServer(app: app) { $0.adminPort = 0 }
        let port = try #require(server.server.adminPort)
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.request(route: "connector.t.slow", id: 1, body: #"{"ms":1000}"#)
        #expect(eventually { server.counter(.asyncRequests) == 1 })
        let drain = DrainAndReloadTests.drainInBackground(server, reason: "bye", timeout: 5)
        #expect(eventually { (try? AdminReply.get("/healthz", port: port))?.status == 503 })
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        drain.join()
        #expect(server.server.isDraining)
        #expect((try? TestSocket(port: port)) == nil, "the listener stops with the loops")
    }

    @Test func unknownPathsAndMethodsAreRefused() throws {
        let server = try Self.server()
        let port = try #require(server.server.adminPort)
        #expect(try AdminReply.get("/", port: port).status == 404)
        #expect(try AdminReply.get("/metricsx", port: port).status == 404)
        let post = try AdminReply.get("/metrics", port: port, method: "POST")
        #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD")
        let head = try AdminReply.get("/metrics", port: port, method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && Int(head.headers["content-length"] ?? "") ?? 0 > 0)
    }

    @Test(arguments: [
        "\u{16}\u{3}\u{1}\u{0}\u{a5}\u{1}\u{0}\u{0}\u{a1}",
        "GET /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", count: 200),
    ])
    func garbageAndOversizedRequestsGet400AndAClose(_ request: String) throws {
        let server = try Self.server()
        let reply = try AdminReply.send(request, port: try #require(server.server.adminPort))
        #expect(reply.status == 400)
        // The listener still serves.
        #expect(try AdminReply.get("/healthz", port: server.server.adminPort!).status == 200)
    }

    /// Past `maxConnections` open admin connections a new one is reset on
    /// accept; once one closes, scrapes are served again.
    @Test func adminConnectionsAreBounded() throws {
        let server = try Self.server()
        let port = try #require(server.server.adminPort)
        var idle = try (0..<AdminServer.maxConnections).map { _ in try TestSocket(port: port) }
        let refused = try TestSocket(port: port)
        #expect(refused.waitForClose())
        idle.removeLast().close()
        #expect(eventually { (try? AdminReply.get("/healthz", port: port).status) == 200 })
        _ = idle
    }

    @Test func adminIsOffUnlessConfigured() throws {
        let server = try TestServer()
        #expect(server.server.adminPort == nil)
    }

    @Test func anAdminPortInUseStopsTheStart() throws {
        let taken = try TestSocketListener()
        defer { taken.close() }
        var config = GatewayConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.threads = 1
        config.logLevel = .critical
        config.adminPort = taken.port
        let server = try Server(application: TestApp.make(), configuration: config)
        #expect(throws: ServerError.self) { try server.start() }
    }

    // MARK: configuration

    @Test func configurationFileAndValidation() throws {
        let config = try ConfigurationTests.load(ConfigurationTests.withConnector(#""adminHost": "::1", "adminPort": 9100"#))
        #expect(config.adminHost == "::1" && config.adminPort == 9100)
        let defaults = try ConfigurationTests.load(ConfigurationTests.withConnector(""))
        #expect(defaults.adminHost == "127.0.0.1" && defaults.adminPort == nil)

        for (section, key) in [(#""adminPort": "9100""#, "connector.adminPort"), (#""adminPort": 70000"#, "connector.adminPort"),
                               (#""adminPort": 3010"#, "connector.adminPort"), (#""adminHost": "localhost""#, "connector.adminHost"),
                               (#""adminHost": 1"#, "connector.adminHost")] {
            let error = ConfigurationTests.error(ConfigurationTests.withConnector(section))
            #expect(error?.description.contains(key) == true, "\(section): \(String(describing: error))")
        }
    }

    @Test func cliOptionsTurnTheListenerOn() throws {
        let cli = CLITests()
        for command in ["serve", "echo"] {
            let (port, admin) = (try CLITests.freePort(), try CLITests.freePort())
            let (process, _) = try cli.start([command, "--host", "127.0.0.1", "--port", "\(port)", "--threads", "1",
                                              "--admin-host", "127.0.0.1", "--admin-port", "\(admin)"])
            defer { process.terminate(); process.waitUntilExit() }
            var reply: AdminReply?
            for _ in 0..<100 where reply == nil {
                reply = try? AdminReply.get("/healthz", port: admin)
                if reply == nil { usleep(50_000) }
            }
            #expect(reply?.status == 200, "\(command)")
            let metrics = try AdminReply.get("/metrics", port: admin)
            #expect(PrometheusText(metrics.body).value("shaddock_connections_accepted_total") == 0, "\(command)")
        }
        let help = Process()
        help.executableURL = ShaddockProcess.binary
        help.arguments = ["echo", "--help"]
        let out = Pipe()
        help.standardOutput = out
        try help.run()
        help.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("--admin-host") && text.contains("--admin-port"))
    }
}

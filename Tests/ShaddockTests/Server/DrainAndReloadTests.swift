import Foundation
import Shaddock
import Synchronization
import Testing

/// A draining shutdown and a reload, over real sockets.
@Suite struct DrainAndReloadTests {
    /// `connector.t.slow` answers after `{"ms": n}` milliseconds.
    static func app() -> Application {
        let app = TestApp.make()
        app.handle("connector.t.slow") { (request: Request, _: Session) async throws -> Response in
            await ApplicationLayerTests.pause(request.json["ms"]?.intValue ?? 0)
            return .json(["code": 200, "slept": .number(Double(request.json["ms"]?.intValue ?? 0))])
        }
        return app
    }

    /// Runs `server.drain` on a thread of its own; `join` waits for it.
    static func drainInBackground(_ server: TestServer, reason: String, timeout: Double) -> TestThread {
        TestThread { server.server.drain(reason: reason, timeoutSeconds: timeout) }
    }

    @Test func drainKicksIdleSessionsAtOnceAndBusyOnesOnceAnswered() throws {
        let server = try TestServer(app: Self.app(), threads: 2)
        let idle = try PomeloTestClient.ready(.websocket, port: server.port)
        let busy = try PomeloTestClient.ready(.tcp, port: server.port)
        let upgradedOnly = try PomeloTestClient.connect(.websocket, port: server.port)
        try busy.request(route: "connector.t.slow", id: 1, body: #"{"ms":400}"#)
        #expect(eventually { server.counter(.asyncRequests) == 1 })

        let drain = Self.drainInBackground(server, reason: "maintenance", timeout: 5)
        try idle.expectKicked(reason: "maintenance", closeCode: 1001)
        if case .websocket(let ws) = upgradedOnly.transport { #expect(try ws.readClose().code == 1001) }
        // No one new gets in.
        #expect(eventually { (try? TestSocket(port: server.port)) == nil })
        // The busy session gets its answer first, then the kick.
        #expect(try busy.expectResponse(id: 1)["slept"] as? Int == 400)
        try busy.expectKicked(reason: "maintenance")
        drain.join()
        #expect(server.counter(.drainKicks) == 2)
        #expect(server.counter(.drainAbandoned) == 0)
        #expect(server.server.transportStats().open == 0)
    }

    @Test(arguments: TransportKind.allCases)
    func drainDeadlineAnswersWhatStillRuns(_ kind: TransportKind) throws {
        let server = try TestServer(app: Self.app())
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.t.slow", id: 7, body: #"{"ms":1500}"#)
        #expect(eventually { server.counter(.asyncRequests) == 1 })
        let drain = Self.drainInBackground(server, reason: "bye", timeout: 0.2)
        // Exactly one answer: the drain's 504; the handler's own is dropped.
        #expect(try client.expectResponse(id: 7)["code"] as? Int == 504)
        try client.expectKicked(reason: "bye", closeCode: kind == .websocket ? 1001 : 1000)
        drain.join()
        #expect(server.counter(.drainAbandoned) == 1)
        #expect(server.counter(.drainKicks) == 1)
    }

    @Test func reloadChangesLimitsWithoutDroppingSessions() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        var file = server.server.configuration
        file.requestRate = RequestRateLimit(perSecond: 1, burst: 1)
        file.blacklist = ["127.0.0.0/8"]
        file.maxFrameBytes = 2048
        #expect(try server.server.reload(file) == [])
        #expect(server.server.configuration.requestRate == RequestRateLimit(perSecond: 1, burst: 1))
        // The session is still there, and under the new rate.
        try client.sendRaw(LimitsTests.burst(2))
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 429)
        // New connections meet the new blacklist.
        #expect(eventually {
            guard let socket = try? TestSocket(port: server.port) else { return false }
            return socket.waitForClose(timeout: 1)
        })
        #expect(server.counter(.blacklistRefused) >= 1)
        #expect(eventually { server.server.transportStats().open == 1 })
    }

    @Test func reloadNamesWhatTakesARestartAndRefusesBadValues() throws {
        let server = try TestServer()
        var file = server.server.configuration
        file.port = 1
        file.heartbeatSeconds = 99
        file.maxConnections = 5
        #expect(try server.server.reload(file) == ["port", "heartbeat"])
        // What a restart needs is left as it was; the rest is taken.
        #expect(server.server.configuration.port == 0 && server.server.configuration.heartbeatSeconds == 3)
        #expect(server.server.configuration.maxConnections == 5)
        var bad = server.server.configuration
        bad.maxPackageBytes = 1
        #expect(throws: ConfigurationError.invalid("maxPackageBytes", "1 is not in 16...16777215")) {
            try server.server.reload(bad)
        }
        #expect(server.server.configuration.maxPackageBytes == 64 * 1024)
    }
}

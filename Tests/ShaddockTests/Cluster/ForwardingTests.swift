import Foundation
import Shaddock
import Synchronization
import Testing

/// Frontends and backends over a real nats-server: doForward, backend
/// sessions, filters on both sides, route functions, remote calls and every
/// failure answered once.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled, "nats-server is not installed (./run test installs it)"))
struct ForwardingTests {
    /// A connector and an area server on one NATS.
    struct Pair {
        let nats: NATSTestServer
        let frontend: ClusterTestServer
        let backend: ClusterTestServer
        init(configure: @escaping (inout GatewayConfiguration) -> Void = { _ in }) throws {
            nats = try NATSTestServer()
            let servers = ClusterTestApp.servers(frontends: ["connector-1"], backends: ["area-1"])
            frontend = try ClusterTestServer(id: "connector-1", frontend: true, nats: [nats.url], servers: servers, configure: configure)
            backend = try ClusterTestServer(id: "area-1", frontend: false, nats: [nats.url], servers: servers, configure: configure)
            guard frontend.waitForLive(["connector-1", "area-1"]), backend.waitForLive(["connector-1", "area-1"]) else {
                throw TestFailure("the servers did not find each other")
            }
        }
    }

    static func login(_ client: PomeloTestClient, uid: String, rid: String = "r1") throws {
        try client.request(route: "connector.entryHandler.login", id: 1, body: #"{"uid":"\#(uid)","rid":"\#(rid)"}"#)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
    }

    @Test(arguments: TransportKind.allCases)
    func requestsAreForwardedWithTheSessionExport(_ kind: TransportKind) throws {
        let pair = try Pair()
        let client = try PomeloTestClient.ready(kind, port: pair.frontend.port)
        try Self.login(client, uid: "alice")
        try client.request(route: "area.areaHandler.echo", id: 2, body: #"{"x":[1,2,3]}"#)
        let reply = try client.expectResponse(id: 2)
        #expect(reply["server"] as? String == "area-1")
        #expect(reply["uid"] as? String == "alice")
        #expect(reply["frontend"] as? String == "connector-1")
        #expect((reply["body"] as? [String: Any])?["x"] as? [Int] == [1, 2, 3])
        // Notifies are forwarded too and get nothing back.
        try client.notify(route: "area.areaHandler.echo", body: "{}")
        #expect(pair.frontend.server.counter(.forwardedNotifies) >= 0)
        try client.expectNoPackage(within: 0.2)
        #expect(pair.frontend.server.counter(.forwardedRequests) == 1)
        #expect(pair.backend.server.counter(.backendRequests) >= 1)
    }

    /// Behind a balancer: the client a PROXY header named is the address
    /// the backend's session sees too.
    @Test func theBackendSeesTheClientABalancerNamed() throws {
        let pair = try Pair { $0.proxyProtocol = ProxyProtocolOptions(trusted: ["127.0.0.1"], required: true) }
        let socket = try TestSocket(port: pair.frontend.port)
        try socket.send(Array("PROXY TCP6 2001:db8::77 ::1 40000 3010\r\n".utf8))
        let client = PomeloTestClient(transport: .tcp(socket))
        _ = try client.connectAndHandshake()
        try client.request(route: "area.areaHandler.echo", id: 2)
        let reply = try client.expectResponse(id: 2)
        #expect(reply["server"] as? String == "area-1" && reply["address"] as? String == "2001:db8::77", "\(reply)")
    }

    @Test func aBackendSessionBindsSetsPushesAndKicks() throws {
        let pair = try Pair()
        let client = try PomeloTestClient.ready(.websocket, port: pair.frontend.port)
        try client.request(route: "area.areaHandler.bind", id: 1, body: #"{"uid":"bob","level":7}"#)
        // The push is sent before the answer, on the same path: it comes first.
        let push = try client.readMessage()
        #expect(push.route == "onArea" || push.routeCode != nil)
        #expect(try push.bodyJSON()["hello"] as? String == "area-1")
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        // The frontend's session now has the uid and the setting.
        #expect(pair.frontend.server.sessions.getByUid("bob").count == 1)
        let id = pair.frontend.server.sessions.getByUid("bob").first!.id
        #expect(pair.frontend.server.sessions.setting("level", of: id) == 7)
        // The next forward carries them.
        try client.request(route: "area.areaHandler.echo", id: 2)
        #expect(try client.expectResponse(id: 2)["uid"] as? String == "bob")
        // A setting changed on the frontend reaches the next forward, and
        // again (the backend reuses parsed settings only while they match).
        for (n, rid) in ["r1", "r2", "r1"].enumerated() {
            try client.request(route: "connector.entryHandler.login", id: 10 + 2 * n, body: #"{"rid":"\#(rid)"}"#)
            #expect(try client.expectResponse(id: 10 + 2 * n)["code"] as? Int == 200)
            try client.request(route: "area.areaHandler.echo", id: 11 + 2 * n)
            #expect(try client.expectResponse(id: 11 + 2 * n)["rid"] as? String == rid)
        }
        // The kick is sent during the handler, before its answer: as with a
        // local session, the client gets the kick and the connection closes.
        try client.request(route: "area.areaHandler.kick", id: 3)
        let kick = try client.expectPackage(type: 5)
        #expect(try kick.bodyJSON()["reason"] as? String == "area says bye")
    }

    @Test func globalFiltersRunOnTheFrontendAndTypeFiltersOnTheBackend() throws {
        let pair = try Pair()
        let client = try PomeloTestClient.ready(.tcp, port: pair.frontend.port)
        try client.request(route: "area.areaHandler.echo", id: 1, body: #"{"globalBlock":true}"#)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 403)
        #expect(pair.frontend.server.counter(.forwardedRequests) == 0)
        try client.request(route: "area.areaHandler.echo", id: 2, body: #"{"areaBlock":true}"#)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 409)
        #expect(pair.frontend.server.counter(.forwardedRequests) == 1)
    }

    @Test func remoteCallsCarryTypedArgumentsResultsAndErrors() throws {
        let pair = try Pair()
        let client = try PomeloTestClient.ready(.websocket, port: pair.frontend.port)
        try client.request(route: "connector.entryHandler.sum", id: 1, body: #"{"a":2,"b":40}"#)
        let reply = try client.expectResponse(id: 1)
        #expect(reply["total"] as? Int == 42)
        #expect(reply["server"] as? String == "area-1")
        // The remote method's CodedError reaches the caller with its code.
        try client.request(route: "connector.entryHandler.sum", id: 2, body: #"{"a":-1,"b":1}"#)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 422)
        #expect(pair.frontend.server.counter(.remoteCalls) == 2)
        #expect(pair.backend.server.counter(.remoteCallsServed) == 2)
    }

    @Test func aBackendHearsWhenASessionItServedCloses() throws {
        let nats = try NATSTestServer()
        let servers = ClusterTestApp.servers(frontends: ["connector-1"], backends: ["area-1"])
        let closed = Recorder()
        let frontend = try ClusterTestServer(id: "connector-1", frontend: true, nats: [nats.url], servers: servers)
        let backend = try ClusterTestServer(id: "area-1", frontend: false, nats: [nats.url], servers: servers, closed: closed)
        #expect(frontend.waitForLive(["connector-1", "area-1"]))
        #expect(backend.waitForLive(["connector-1", "area-1"]))
        let client = try PomeloTestClient.ready(.websocket, port: frontend.port)
        try Self.login(client, uid: "carol")
        try client.request(route: "area.areaHandler.watch", id: 2)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 200)
        client.close()
        var waited = 0
        while closed.all.isEmpty && waited < 500 { usleep(10_000); waited += 1 }
        #expect(closed.all == ["area-1:carol"])
    }

    @Test func noLiveServerOfTheTypeAnswers500() throws {
        let nats = try NATSTestServer()
        let servers = ClusterTestApp.servers(frontends: ["connector-1"], backends: ["area-1"])
        let frontend = try ClusterTestServer(id: "connector-1", frontend: true, nats: [nats.url], servers: servers)
        #expect(frontend.waitForLive(["connector-1"]))
        let client = try PomeloTestClient.ready(.tcp, port: frontend.port)
        try client.request(route: "area.areaHandler.echo", id: 1)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 500)
        #expect(frontend.server.counter(.forwardNoServer) == 1)
    }

    @Test func noAnswerBeforeTheDeadlineAnswers504AndTheLateAnswerIsDropped() throws {
        let pair = try Pair { $0.clusterOptions?.requestTimeoutMilliseconds = 150 }
        let client = try PomeloTestClient.ready(.websocket, port: pair.frontend.port)
        try client.request(route: "area.areaHandler.slow", id: 1, body: #"{"ms":400}"#)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 504)
        #expect(pair.frontend.server.counter(.forwardTimeouts) == 1)
        // The backend finds its deadline passed and does not answer.
        var waited = 0
        while pair.backend.server.counter(.backendExpired) == 0 && waited < 300 { usleep(10_000); waited += 1 }
        #expect(pair.backend.server.counter(.backendExpired) == 1)
        try client.expectNoPackage(within: 0.3)
    }

    @Test func aStoppedBackendLeavesAtOnce() throws {
        let nats = try NATSTestServer()
        let servers = ClusterTestApp.servers(frontends: ["connector-1"], backends: ["area-1"])
        let frontend = try ClusterTestServer(id: "connector-1", frontend: true, nats: [nats.url], servers: servers)
        var backend: ClusterTestServer? = try ClusterTestServer(id: "area-1", frontend: false, nats: [nats.url], servers: servers)
        #expect(frontend.waitForLive(["connector-1", "area-1"]))
        _ = backend
        backend = nil
        // Removed on its stop announcement, well before three intervals.
        #expect(frontend.waitForLive(["connector-1"], timeout: 0.25))
    }

    @Test func natsGoneAnswers503AtOnceAndTheLinkComesBack() throws {
        let pair = try Pair()
        let client = try PomeloTestClient.ready(.websocket, port: pair.frontend.port)
        pair.nats.stop()
        var waited = 0
        while pair.frontend.server.counter(.natsDisconnects) == 0 && waited < 500 { usleep(10_000); waited += 1 }
        try client.request(route: "area.areaHandler.echo", id: 1)
        #expect(try client.expectResponse(id: 1, timeout: 1)["code"] as? Int == 503)
        #expect(pair.frontend.server.counter(.forwardDisconnected) == 1)
        try pair.nats.start()
        waited = 0
        while (pair.frontend.server.counter(.natsConnects) < 2 || pair.backend.server.counter(.natsConnects) < 2)
                && waited < 500 { usleep(10_000); waited += 1 }
        #expect(pair.frontend.waitForLive(["connector-1", "area-1"]))
        try client.request(route: "area.areaHandler.echo", id: 2)
        #expect(try client.expectResponse(id: 2)["server"] as? String == "area-1")
    }

    @Test func theDefaultRouteIsTheSameOnEveryFrontend() throws {
        let nats = try NATSTestServer()
        let servers = ClusterTestApp.servers(frontends: ["connector-1", "connector-2"], backends: ["area-1", "area-2", "area-3"])
        let all: Set = ["connector-1", "connector-2", "area-1", "area-2", "area-3"]
        let f1 = try ClusterTestServer(id: "connector-1", frontend: true, nats: [nats.url], servers: servers)
        let f2 = try ClusterTestServer(id: "connector-2", frontend: true, nats: [nats.url], servers: servers)
        let backends = try ["area-1", "area-2", "area-3"].map {
            try ClusterTestServer(id: $0, frontend: false, nats: [nats.url], servers: servers)
        }
        #expect(f1.waitForLive(all) && f2.waitForLive(all))
        _ = backends
        var seen = Set<String>()
        for uid in ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"] {
            var picked: [String] = []
            for frontend in [f1, f2] {
                let client = try PomeloTestClient.ready(.tcp, port: frontend.port)
                try Self.login(client, uid: uid)
                try client.request(route: "area.areaHandler.echo", id: 2)
                picked.append(try client.expectResponse(id: 2)["server"] as? String ?? "?")
            }
            #expect(picked[0] == picked[1], "uid \(uid)")
            seen.insert(picked[0])
        }
        #expect(seen.count > 1)
    }
}

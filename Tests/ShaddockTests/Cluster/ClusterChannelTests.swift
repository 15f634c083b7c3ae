import Foundation
import Shaddock
import Testing

/// Channels, pushes to uids and broadcasts made on a backend reach clients
/// on two frontends: one NATS message per frontend per push, one push per
/// member.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled, "nats-server is not installed (./run test installs it)"))
struct ClusterChannelTests {
    /// Two connectors of two loops each and one area server.
    struct Trio {
        let nats: NATSTestServer
        let f1: ClusterTestServer
        let f2: ClusterTestServer
        let backend: ClusterTestServer

        init() throws {
            nats = try NATSTestServer()
            let servers = ClusterTestApp.servers(frontends: ["connector-1", "connector-2"], backends: ["area-1"])
            f1 = try ClusterTestServer(id: "connector-1", frontend: true, nats: [nats.url], servers: servers, threads: 2)
            f2 = try ClusterTestServer(id: "connector-2", frontend: true, nats: [nats.url], servers: servers, threads: 2)
            backend = try ClusterTestServer(id: "area-1", frontend: false, nats: [nats.url], servers: servers)
            let all: Set = ["connector-1", "connector-2", "area-1"]
            guard f1.waitForLive(all), f2.waitForLive(all), backend.waitForLive(all) else {
                throw TestFailure("the servers did not find each other")
            }
        }
    }

    /// A logged-in client (the login runs on the connector, which binds).
    static func player(_ uid: String?, on server: ClusterTestServer, _ kind: TransportKind) throws -> PomeloTestClient {
        let client = try PomeloTestClient.ready(kind, port: server.port)
        if let uid { try ForwardingTests.login(client, uid: uid) }
        return client
    }

    static func join(_ client: PomeloTestClient, _ room: String, id: Int = 10) throws -> [String] {
        try client.request(route: "area.areaHandler.join", id: id, body: #"{"room":"\#(room)"}"#)
        let reply = try client.expectResponse(id: id)
        #expect(reply["code"] as? Int == 200)
        return reply["members"] as? [String] ?? []
    }

    /// The next push's body; then nothing more for a moment (exactly once).
    static func expectOnePush(_ client: PomeloTestClient) throws -> [String: Any] {
        let message = try client.readMessage(skipHeartbeats: true)
        #expect(message.type == .push)
        let body = try message.bodyJSON()
        try client.expectNoPackage(within: 0.15)
        return body
    }

    static func waitFor(_ condition: () -> Bool) {
        var waited = 0
        while !condition() && waited < 300 { usleep(10_000); waited += 1 }
    }

    @Test func aChannelSpanningTwoFrontendsGetsEachPushOncePerMember() throws {
        let trio = try Trio()
        // Four sessions per connector, so both loops of each hold members.
        let onF1 = try (0..<4).map { try Self.player("a\($0)", on: trio.f1, $0 % 2 == 0 ? .websocket : .tcp) }
        let onF2 = try (0..<4).map { try Self.player("b\($0)", on: trio.f2, $0 % 2 == 0 ? .tcp : .websocket) }
        let outsider = try Self.player("x", on: trio.f2, .websocket)
        var members: [String] = []
        for client in onF1 + onF2 { members = try Self.join(client, "hall") }
        #expect(members == ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3"])

        let before = trio.backend.server.counter(.clusterPushesOut)
        try onF2[0].request(route: "area.areaHandler.say", id: 20, body: #"{"room":"hall","say":"hi"}"#)
        #expect(try onF2[0].expectResponse(id: 20)["code"] as? Int == 200)
        for client in onF1 + onF2 {
            let body = try Self.expectOnePush(client)
            #expect(body["say"] as? String == "hi")
            #expect(body["from"] as? String == "b0")
        }
        try outsider.expectNoPackage(within: 0.1)
        // One message per frontend, not one per member; the one for the
        // requester's frontend rode inside the answer.
        #expect(trio.backend.server.counter(.clusterPushesOut) - before == 2)
        #expect(trio.backend.server.counter(.clusterPushesInAnswers) == 1)
        #expect(trio.f1.server.counter(.clusterPushesIn) == 1)
        #expect(trio.f2.server.counter(.clusterPushesIn) == 1)

        // To some members: only they hear it.
        try onF1[1].request(route: "area.areaHandler.say", id: 21, body: #"{"room":"hall","say":"psst","to":["a3","b2","x"]}"#)
        #expect(try onF1[1].expectResponse(id: 21)["code"] as? Int == 200)
        #expect(try Self.expectOnePush(onF1[3])["say"] as? String == "psst")
        #expect(try Self.expectOnePush(onF2[2])["say"] as? String == "psst")
        for client in [onF1[0], onF1[1], onF1[2], onF2[0], onF2[1], onF2[3], outsider] { try client.expectNoPackage(within: 0.05) }

        // A member that leaves, and one whose client goes away, hear no more;
        // the others still do.
        try onF1[0].request(route: "area.areaHandler.leave", id: 22, body: #"{"room":"hall"}"#)
        #expect(try onF1[0].expectResponse(id: 22)["left"] as? Bool == true)
        onF2[3].close()
        try onF1[2].request(route: "area.areaHandler.say", id: 23, body: #"{"room":"hall","say":"still here?"}"#)
        #expect(try onF1[2].expectResponse(id: 23)["code"] as? Int == 200)
        for client in [onF1[1], onF1[2], onF1[3], onF2[0], onF2[1], onF2[2]] {
            #expect(try Self.expectOnePush(client)["say"] as? String == "still here?")
        }
        try onF1[0].expectNoPackage(within: 0.05)
        Self.waitFor { trio.f2.server.counter(.pushesUndeliverable) >= 1 }
        #expect(trio.f2.server.counter(.pushesUndeliverable) == 1)
    }

    @Test func pushesToUidsAndBroadcastsReachEveryFrontend() throws {
        let trio = try Trio()
        let alice = try Self.player("alice", on: trio.f1, .websocket)
        let carol = try Self.player("carol", on: trio.f2, .tcp)
        let anonymous = try Self.player(nil, on: trio.f2, .websocket)

        // The backend knows no sessions: each frontend looks the uids up.
        try alice.request(route: "area.areaHandler.tell", id: 2, body: #"{"to":["alice","carol","nobody"],"say":"psst"}"#)
        #expect(try alice.expectResponse(id: 2)["code"] as? Int == 200)
        #expect(try Self.expectOnePush(alice)["told"] as? String == "psst")
        #expect(try Self.expectOnePush(carol)["told"] as? String == "psst")
        try anonymous.expectNoPackage(within: 0.05)

        let before = trio.backend.server.counter(.clusterPushesOut)
        try carol.request(route: "area.areaHandler.shout", id: 3, body: #"{"say":"all"}"#)
        #expect(try carol.expectResponse(id: 3)["code"] as? Int == 200)
        for client in [alice, carol, anonymous] { #expect(try Self.expectOnePush(client)["shout"] as? String == "all") }
        #expect(trio.backend.server.counter(.clusterPushesOut) - before == 2)

        try carol.request(route: "area.areaHandler.shout", id: 4, body: #"{"say":"bound","boundOnly":true}"#)
        #expect(try carol.expectResponse(id: 4)["code"] as? Int == 200)
        for client in [alice, carol] { #expect(try Self.expectOnePush(client)["shout"] as? String == "bound") }
        try anonymous.expectNoPackage(within: 0.1)
    }
}

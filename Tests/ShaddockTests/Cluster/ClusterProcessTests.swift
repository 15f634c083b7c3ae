import Foundation
import Testing

/// Failures only separate processes show: a backend killed with SIGKILL
/// (no stop announcement), its silence, and a fast restart with the same id.
/// The chat example's connector and chat server (see ChatCluster), one each.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled, "nats-server is not installed (./run test installs it)"))
struct ClusterProcessTests {
    static let connector = "connector-server-1"

    static func send(_ client: PomeloTestClient, id: Int) throws -> Int? {
        try client.request(route: "chat.chatHandler.send", id: id, body: #"{"content":"x","target":"*"}"#)
        while true {
            let m = try client.readMessage(skipHeartbeats: true)
            if m.type == .response && m.id == id { return try m.bodyJSON()["code"] as? Int }
        }
    }

    @Test func aKilledBackendIsAnswered503AtOnceThenForgottenAfterThreeSilentIntervals() throws {
        let cluster = try ChatCluster(servers: ["chat-server-1", Self.connector])
        let (alice, _) = try ChatClusterTests.client(.websocket, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(alice, "alice", "lobby") == ["alice"])
        #expect(try Self.send(alice, id: 2) == 200)

        cluster.processes["chat-server-1"]!.kill()
        // Still listed: the forward goes out and NATS answers that nobody
        // listens (no responders), well before the 10 s request timeout.
        #expect(try Self.send(alice, id: 3) == 503)
        #expect(try cluster.metric(Self.connector, "shaddock_forward_outcomes_total", ["outcome": "no_responders"]) == 1)
        #expect(try cluster.metric(Self.connector, "shaddock_forward_outcomes_total", ["outcome": "timeout"]) ?? 0 == 0)

        // Three missed announcements later it is gone: no chat server, 500.
        #expect(cluster.waitForChatServers(Self.connector, count: 0, timeout: 10))
        #expect(try Self.send(alice, id: 4) == 500)
        #expect(try cluster.metric(Self.connector, "shaddock_forward_outcomes_total", ["outcome": "no_server"]) == 1)

        // It comes back: a new login works through it.
        try cluster.start("chat-server-1")
        #expect(cluster.waitForChatServers(Self.connector, count: 1))
        let (bob, _) = try ChatClusterTests.client(.tcp, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(bob, "bob", "lobby") == ["bob"])
        #expect(try Self.send(bob, id: 2) == 200)
    }

    @Test func aFastRestartWithTheSameIDIsNotRemovedByItsOldRun() throws {
        let cluster = try ChatCluster(servers: ["chat-server-1", Self.connector])
        cluster.processes["chat-server-1"]!.kill()
        try cluster.start("chat-server-1")
        // Past the old run's three intervals (3 s), the table has listed one
        // chat server all along: the new run replaced the old one.
        let until = Date().addingTimeInterval(4.5)
        var seen = Set<Int>()
        while Date() < until {
            if let n = cluster.chatServers(Self.connector) { seen.insert(n) }
            usleep(100_000)
        }
        #expect(seen == [1])
        let (carol, _) = try ChatClusterTests.client(.websocket, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(carol, "carol", "lobby") == ["carol"])
        #expect(try Self.send(carol, id: 2) == 200)
        #expect(try cluster.metric(Self.connector, "shaddock_forward_outcomes_total", ["outcome": "no_server"]) ?? 0 == 0)
    }
}

import Foundation
import Testing

/// NATS going away under traffic, over real processes (the chat example's
/// connector and chat server, see ChatCluster): every request is answered
/// once, local routes keep working, and everything comes back by itself.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled, "nats-server is not installed (./run test installs it)"))
struct ClusterFaultTests {
    static let connector = "connector-server-1"
    static let servers = ["chat-server-1", connector]

    static func entry(_ client: PomeloTestClient, id: Int) throws -> Int? {
        try client.request(route: "connector.entryHandler.entry", id: id)
        return try client.expectResponse(id: id)["code"] as? Int
    }

    /// Sends until one is answered 200 or `seconds` pass; the codes seen.
    static func sendUntilOK(_ client: PomeloTestClient, from id: inout Int, seconds: Double) throws -> [Int] {
        var codes: [Int] = []
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            id += 1
            let code = try ClusterProcessTests.send(client, id: id) ?? -1
            codes.append(code)
            if code == 200 { break }
            usleep(20_000)
        } while Date() < deadline
        return codes
    }

    @Test func natsStoppedAnswers503AtOnceKeepsLocalRoutesAndEverythingComesBack() throws {
        let cluster = try ChatCluster(servers: Self.servers)
        let (alice, _) = try ChatClusterTests.client(.websocket, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(alice, "alice", "lobby") == ["alice"])
        var id = 1
        id += 1; #expect(try ClusterProcessTests.send(alice, id: id) == 200)

        cluster.nats[0].stop()
        let downUntil = Date().addingTimeInterval(5)
        var answers: [Int] = []
        while Date() < downUntil {
            // Each forward is answered (503, not a timeout: the 10 s
            // request timeout would outlast this loop), and local routes work.
            id += 1; answers.append(try ClusterProcessTests.send(alice, id: id) ?? -1)
            id += 1; #expect(try Self.entry(alice, id: id) == 200)
            usleep(50_000)
        }
        #expect(!answers.isEmpty && answers.allSatisfy { $0 == 503 }, "\(answers)")

        try cluster.nats[0].start()
        // Reconnected, re-subscribed and re-announced within 2 s (the longest
        // reconnect wait), and the chat server still in the table: the
        // outage did not count as missed announcements.
        let back = try Self.sendUntilOK(alice, from: &id, seconds: 2.5)
        #expect(back.last == 200, "\(back)")
        // Every loop of every process: each reconnects on its own.
        let deadline = Date().addingTimeInterval(2.5)
        var connected = false
        while !connected && Date() < deadline {
            connected = try cluster.processes.keys.allSatisfy { name in
                try (0..<2).allSatisfy { try cluster.metric(name, "shaddock_nats_connected", ["loop": "\($0)"]) == 1 }
            }
            if !connected { usleep(50_000) }
        }
        #expect(connected)
        #expect(back.allSatisfy { $0 == 200 || $0 == 503 }, "\(back)")
        #expect(try cluster.metric(Self.connector, "shaddock_forward_outcomes_total", ["outcome": "no_server"]) ?? 0 == 0)
        for (name, p) in cluster.processes { #expect(p.isRunning, "\(name) exited") }
        // The room kept on the chat server is still there.
        let (bob, _) = try ChatClusterTests.client(.tcp, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(bob, "bob", "lobby") == ["alice", "bob"])
    }

    @Test func aKilledNATSServerOfAClusterIsLeftWithinTwoSecondsAndNothingIsUnanswered() throws {
        let nats = try NATSTestServer.cluster(3)
        // Every server knows all three; each loop starts on a different one.
        let cluster = try ChatCluster(servers: Self.servers, nats: nats)
        let (alice, _) = try ChatClusterTests.client(.websocket, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(alice, "alice", "lobby") == ["alice"])
        var id = 1
        id += 1; #expect(try ClusterProcessTests.send(alice, id: id) == 200)
        nats[0].kill()
        // Requests go on: each answered, 200 again within 2 s.
        var codes: [Int] = []
        let until = Date().addingTimeInterval(2)
        while Date() < until {
            id += 1
            codes.append(try ClusterProcessTests.send(alice, id: id) ?? -1)
            usleep(20_000)
        }
        #expect(codes.allSatisfy { $0 == 200 || $0 == 503 }, "\(codes)")
        #expect(codes.suffix(5).allSatisfy { $0 == 200 }, "\(codes)")
        for (name, p) in cluster.processes { #expect(p.isRunning, "\(name) exited") }
    }

    @Test func roomsOfAKilledChatServerMoveToTheOtherWithinThreeIntervals() throws {
        let cluster = try ChatCluster(servers: ["chat-server-1", "chat-server-2", Self.connector])
        let port = cluster.clientPort(Self.connector)
        // Rooms until one lives on chat-server-1 (its backend count moves).
        var rid = ""
        for n in 0..<16 {
            let before = try cluster.metric("chat-server-1", "shaddock_remote_calls_total", ["side": "callee"]) ?? 0
            let (probe, _) = try ChatClusterTests.client(.tcp, port: port)
            _ = try ChatClusterTests.login(probe, "p\(n)", "room\(n)")
            if try cluster.metric("chat-server-1", "shaddock_remote_calls_total", ["side": "callee"]) ?? 0 > before {
                rid = "room\(n)"
                break
            }
        }
        try #require(!rid.isEmpty, "no room of 16 landed on chat-server-1")
        let (alice, _) = try ChatClusterTests.client(.websocket, port: port)
        _ = try ChatClusterTests.login(alice, "alice", rid)
        cluster.processes["chat-server-1"]!.kill()
        // Answered at once while the table still lists it, then moved: a new
        // login to the room lands on chat-server-2 (a fresh room there).
        var id = 1
        id += 1; #expect(try ClusterProcessTests.send(alice, id: id) == 503)
        #expect(cluster.waitForChatServers(Self.connector, count: 1, timeout: 3.5))
        let (bob, _) = try ChatClusterTests.client(.tcp, port: port)
        #expect(try ChatClusterTests.login(bob, "bob", rid) == ["bob"])
        #expect(try ClusterProcessTests.send(bob, id: 2) == 200)
        // The killed one comes back without a connector restart.
        try cluster.start("chat-server-1")
        #expect(cluster.waitForChatServers(Self.connector, count: 2))
    }

    @Test func aNATSServerInLameDuckModeIsLeftWithoutAFailedRequest() throws {
        let nats = try NATSTestServer.cluster(3)
        let cluster = try ChatCluster(servers: Self.servers, nats: nats)
        let (alice, _) = try ChatClusterTests.client(.websocket, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(alice, "alice", "lobby") == ["alice"])
        // Loop 0 of every process started on nats[0]: that one goes lame duck
        // (SIGUSR2) while requests keep coming, several in flight at a time.
        let pid = try #require(nats[0].pid)
        var codes: [Int] = []
        var id = 1
        let until = Date().addingTimeInterval(2.5)
        var signalled = false
        while Date() < until {
            for _ in 0..<4 {
                id += 1
                try alice.request(route: "chat.chatHandler.send", id: id, body: #"{"content":"x","target":"*"}"#)
            }
            if !signalled {
                kill(pid, SIGUSR2)
                signalled = true
            }
            var answered = 0
            while answered < 4 {
                let m = try alice.readMessage(skipHeartbeats: true)
                if m.type == .response {
                    codes.append(try m.bodyJSON()["code"] as? Int ?? -1)
                    answered += 1
                }
            }
            usleep(10_000)
        }
        #expect(codes.count > 20 && codes.allSatisfy { $0 == 200 }, "\(codes)")
        // Everyone moved off it.
        #expect(try cluster.metric(Self.connector, "shaddock_nats_connected", ["loop": "0"]) == 1)
        for (name, p) in cluster.processes { #expect(p.isRunning, "\(name) exited") }
        // A lame-duck server takes its grace period to exit: not waited for.
        nats[0].kill()
    }

    @Test func aLameDuckServerKeepsServingWhenNoOtherIsReachable() throws {
        let nats = try NATSTestServer.cluster(3)
        let cluster = try ChatCluster(servers: Self.servers, nats: nats)
        let (alice, _) = try ChatClusterTests.client(.tcp, port: cluster.clientPort(Self.connector))
        #expect(try ChatClusterTests.login(alice, "alice", "lobby") == ["alice"])
        // Only nats[0] is left, and every link ends up on it.
        nats[1].kill()
        nats[2].kill()
        var id = 1
        let settled = Date().addingTimeInterval(5)
        var ok = 0
        while ok < 10 && Date() < settled {
            id += 1
            ok = try ClusterProcessTests.send(alice, id: id) == 200 ? ok + 1 : 0
        }
        try #require(ok == 10, "the links did not settle on the last NATS server")
        // It goes lame duck: there is nowhere to move, so the links stay and
        // every request is still answered 200 (until its grace period ends).
        kill(try #require(nats[0].pid), SIGUSR2)
        var codes: [Int] = []
        let until = Date().addingTimeInterval(1.5)
        while Date() < until {
            id += 1
            codes.append(try ClusterProcessTests.send(alice, id: id) ?? -1)
            usleep(10_000)
        }
        #expect(codes.count > 10 && codes.allSatisfy { $0 == 200 }, "\(codes)")
        nats[0].kill()
    }
}

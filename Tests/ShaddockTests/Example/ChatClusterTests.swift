import Foundation
import Testing

/// The chat example as a cluster, as `./run cluster` runs it (see
/// ChatCluster): players on two connectors, rooms on two chat servers,
/// unmodified clients.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled, "nats-server is not installed (./run test installs it)"))
struct ChatClusterTests {
    static func login(_ client: PomeloTestClient, _ uid: String, _ rid: String, id: Int = 1) throws -> [String] {
        try client.request(route: "connector.entryHandler.login", id: id, body: #"{"uid":"\#(uid)","rid":"\#(rid)"}"#)
        let reply = try client.expectResponse(id: id)
        #expect(reply["code"] as? Int == 200, "login \(uid): \(reply)")
        return reply["users"] as? [String] ?? []
    }

    /// The next push's route (from the dictionary) and body text.
    static func push(_ client: PomeloTestClient, _ dictionary: [Int: String]) throws -> (route: String, body: String) {
        let m = try client.readMessage(skipHeartbeats: true)
        guard m.type == .push else { throw TestFailure("expected a push, got \(m)") }
        return (m.route ?? m.routeCode.flatMap { dictionary[Int($0)] } ?? "?", m.bodyString ?? "")
    }

    /// A client that shook hands by hand, to keep the route dictionary.
    static func client(_ kind: TransportKind, port: Int) throws -> (PomeloTestClient, [Int: String]) {
        let client = try PomeloTestClient.connect(kind, port: port)
        let reply = try client.handshake()
        try client.ack()
        var dictionary: [Int: String] = [:]
        let routes = ((reply["sys"] as? [String: Any])?["dict"] as? [String: Int]) ?? [:]
        for (route, code) in routes { dictionary[code] = route }
        return (client, dictionary)
    }

    @Test func playersOnTwoConnectorsShareARoom() throws {
        let cluster = try ChatCluster()
        let (alice, dict) = try Self.client(.websocket, port: cluster.clientPort("connector-server-1"))
        let (bob, _) = try Self.client(.tcp, port: cluster.clientPort("connector-server-2"))
        #expect(try Self.login(alice, "alice", "lobby") == ["alice"])
        #expect(try Self.login(bob, "bob", "lobby") == ["alice", "bob"])
        #expect(try Self.push(alice, dict) == ("onAdd", #"{"route":"onAdd","user":"bob"}"#))

        // To everyone: each member once, the sender included.
        try alice.request(route: "chat.chatHandler.send", id: 2, body: #"{"content":"hi","target":"*"}"#)
        let chat = #"{"msg":"hi","from":"alice","target":"*"}"#
        #expect(try Self.push(alice, dict) == ("onChat", chat))
        #expect(try alice.expectResponse(id: 2)["code"] as? Int == 200)
        #expect(try Self.push(bob, dict) == ("onChat", chat))
        try bob.expectNoPackage(within: 0.1)

        // To one uid, across connectors.
        try bob.request(route: "chat.chatHandler.send", id: 3, body: #"{"content":"psst","target":"alice"}"#)
        #expect(try bob.expectResponse(id: 3)["code"] as? Int == 200)
        #expect(try Self.push(alice, dict) == ("onChat", #"{"msg":"psst","from":"bob","target":"alice"}"#))
        try bob.expectNoPackage(within: 0.1)

        // A notify is forwarded too and pushes without an answer.
        try bob.notify(route: "chat.chatHandler.notify", body: #"{"content":"note"}"#)
        let note = #"{"msg":"note","from":"bob","target":"*","via":"notify"}"#
        #expect(try Self.push(alice, dict) == ("onChat", note))
        #expect(try Self.push(bob, dict) == ("onChat", note))

        // kickme on the second connector; alice hears that bob left.
        try bob.request(route: "connector.entryHandler.kickme", id: 4, body: #"{"reason":"enough"}"#)
        #expect(try bob.expectResponse(id: 4)["msg"] as? String == "bye")
        let kick = try bob.expectPackage(type: PomeloPackageType.kick)
        #expect(kick.bodyString == #"{"reason":"enough"}"#)
        #expect(try Self.push(alice, dict) == ("onLeave", #"{"route":"onLeave","user":"bob"}"#))

        // A fresh login sees the room as it is now.
        let (carol, _) = try Self.client(.websocket, port: cluster.clientPort("connector-server-2"))
        #expect(try Self.login(carol, "carol", "lobby") == ["alice", "carol"])
        #expect(try Self.push(alice, dict) == ("onAdd", #"{"route":"onAdd","user":"carol"}"#))
    }

    @Test func roomsSpreadOverBothChatServersAndDisconnectsLeave() throws {
        let cluster = try ChatCluster()
        let rooms = ["r1", "r2", "r3", "r4"]
        var players: [(PomeloTestClient, [Int: String])] = []
        for (i, rid) in rooms.enumerated() {
            let a = try Self.client(.tcp, port: cluster.clientPort("connector-server-1"))
            let b = try Self.client(.websocket, port: cluster.clientPort("connector-server-2"))
            #expect(try Self.login(a.0, "a\(i)", rid) == ["a\(i)"])
            #expect(try Self.login(b.0, "b\(i)", rid) == ["a\(i)", "b\(i)"])
            #expect(try Self.push(a.0, a.1).route == "onAdd")
            players += [a, b]
        }
        // Each room's chat reaches its two members and nobody else.
        for (i, rid) in rooms.enumerated() {
            let (a, b) = (players[2 * i], players[2 * i + 1])
            try b.0.request(route: "chat.chatHandler.send", id: 5, body: #"{"content":"in \#(rid)","target":"*"}"#)
            let chat = #"{"msg":"in \#(rid)","from":"b\#(i)","target":"*"}"#
            #expect(try Self.push(b.0, b.1) == ("onChat", chat))
            #expect(try b.0.expectResponse(id: 5)["code"] as? Int == 200)
            #expect(try Self.push(a.0, a.1) == ("onChat", chat))
        }
        for (client, _) in players { try client.expectNoPackage(within: 0.05) }
        // A client that just goes away leaves its room.
        players[1].0.close()
        #expect(try Self.push(players[0].0, players[0].1) == ("onLeave", #"{"route":"onLeave","user":"b0"}"#))
        // Both chat servers keep rooms: the room id picks the server.
        for id in ["chat-server-1", "chat-server-2"] {
            #expect(try cluster.metric(id, "shaddock_backend_requests_total", ["state": "received"]) ?? 0 > 0, "\(id)")
        }
        let logs = cluster.stopAll()
        #expect(logs.components(separatedBy: "(exit 0)").count == 5, "every server drains cleanly: \(logs)")
    }

    /// Unmodified pypomelo clients on the two connectors (pypomelo needs
    /// routes as strings: `useDict` off).
    @Test func pypomeloClientsOnTwoConnectorsChat() throws {
        let cluster = try ChatCluster(connectorSection: #"{"useDict": false}"#)
        try UnmodifiedClientTests.runChat(ports: cluster.clientPorts)
    }
}

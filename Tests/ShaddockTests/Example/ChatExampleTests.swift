import Foundation
import Shaddock
import ShaddockExample
import Testing

/// The chat example (`shaddock serve`) over real sockets, on both transports
/// and across them: login, rooms, chat pushes, notify, kick, leave.
@Suite struct ChatExampleTests {
    static let transports = TransportKind.allCases
    static let pairs: [(TransportKind, TransportKind)] = [(.tcp, .tcp), (.websocket, .websocket), (.websocket, .tcp)]

    @Test(arguments: transports)
    func loginAnswersWithTheRoomsUsers(_ kind: TransportKind) throws {
        let server = try TestServer(app: ExampleApp.make())
        let alice = try PomeloTestClient.ready(kind, port: server.port)
        try alice.request(route: "connector.entryHandler.login", id: 1, body: #"{"uid":"alice","rid":"r1"}"#)
        let reply = try alice.readMessage(skipHeartbeats: true)
        #expect(reply.type == .response && reply.id == 1)
        #expect(reply.bodyString == #"{"code":200,"uid":"alice","rid":"r1","users":["alice"]}"#)
        #expect(server.server.sessions.getByUid("alice").count == 1)
        #expect(server.server.channels.get("r1")?.members == ["alice"])
    }

    @Test(arguments: pairs)
    func membersHearOfNewcomersAndChat(_ kinds: (TransportKind, TransportKind)) throws {
        let server = try TestServer(app: ExampleApp.make(), threads: 2)
        let alice = try PomeloTestClient.ready(kinds.0, port: server.port)
        let bob = try PomeloTestClient.ready(kinds.1, port: server.port)
        _ = try login(alice, "alice", "room", id: 1)
        let users = try login(bob, "bob", "room", id: 1)["users"] as? [String]
        #expect(users == ["alice", "bob"])
        let added = try push(alice, server)
        #expect(added.route == "onAdd" && added.body == #"{"route":"onAdd","user":"bob"}"#)

        try alice.request(route: "chat.chatHandler.send", id: 2, body: #"{"content":"hi","target":"*"}"#)
        let chat = #"{"msg":"hi","from":"alice","target":"*"}"#
        #expect(try push(alice, server) == ("onChat", chat))
        #expect(try alice.expectResponse(id: 2)["code"] as? Int == 200)
        #expect(try push(bob, server) == ("onChat", chat))

        // To one uid only.
        try bob.request(route: "chat.chatHandler.send", id: 3, body: #"{"content":"psst","target":"alice"}"#)
        #expect(try bob.expectResponse(id: 3)["code"] as? Int == 200)
        #expect(try push(alice, server) == ("onChat", #"{"msg":"psst","from":"bob","target":"alice"}"#))
        try bob.expectNoPackage(within: 0.2)

        // A notify pushes too, and is not answered.
        try alice.notify(route: "chat.chatHandler.notify", body: #"{"content":"note"}"#)
        let note = #"{"msg":"note","from":"alice","target":"*","via":"notify"}"#
        #expect(try push(bob, server) == ("onChat", note))
        #expect(try push(alice, server) == ("onChat", note))
        try alice.expectNoPackage(within: 0.2)
    }

    @Test(arguments: pairs)
    func aClosedSessionLeavesItsRoom(_ kinds: (TransportKind, TransportKind)) throws {
        let server = try TestServer(app: ExampleApp.make(), threads: 2)
        let alice = try PomeloTestClient.ready(kinds.0, port: server.port)
        let bob = try PomeloTestClient.ready(kinds.1, port: server.port)
        _ = try login(alice, "alice", "room", id: 1)
        _ = try login(bob, "bob", "room", id: 1)
        _ = try push(alice, server)
        bob.close()
        #expect(try push(alice, server) == ("onLeave", #"{"route":"onLeave","user":"bob"}"#))
        #expect(server.server.channels.get("room")?.members == ["alice"])
        #expect(server.server.sessions.getByUid("bob").isEmpty)
        alice.close()
        // The last one out removes the room.
        for _ in 0..<200 where server.server.channels.get("room") != nil { usleep(5_000) }
        #expect(server.server.channels.get("room") == nil)
    }

    @Test(arguments: transports)
    func kickmeAnswersThenKicksWithTheReason(_ kind: TransportKind) throws {
        let server = try TestServer(app: ExampleApp.make())
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.entryHandler.kickme", id: 4, body: #"{"reason":"enough"}"#)
        let started = Date()
        let reply = try client.readMessage(skipHeartbeats: true)
        #expect(reply.id == 4 && reply.bodyString == #"{"code":200,"msg":"bye"}"#)
        let kick = try client.expectPackage(type: PomeloPackageType.kick)
        #expect(kick.bodyString == #"{"reason":"enough"}"#)
        #expect(Date().timeIntervalSince(started) >= 0.04)
        #expect(client.waitForClose())
        #expect(server.waitFor(.kicks, atLeast: 1))
    }

    @Test(arguments: transports)
    func pingIsANotifyWithNoAnswer(_ kind: TransportKind) throws {
        let server = try TestServer(app: ExampleApp.make())
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.notify(route: "connector.entryHandler.ping", body: #"{"n":1}"#)
        try client.expectNoPackage(within: 0.2)
        #expect(server.counter(.notifies) == 1)
    }

    @Test(arguments: transports)
    func chatBeforeLoginIsRefused(_ kind: TransportKind) throws {
        let server = try TestServer(app: ExampleApp.make())
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "chat.chatHandler.send", id: 1, body: #"{"content":"x","target":"*"}"#)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 500)
        try client.request(route: "connector.entryHandler.login", id: 2, body: #"{"uid":""}"#)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 500)
    }

    // MARK: helpers

    func login(_ c: PomeloTestClient, _ uid: String, _ rid: String, id: Int) throws -> [String: Any] {
        try c.request(route: "connector.entryHandler.login", id: id, body: #"{"uid":"\#(uid)","rid":"\#(rid)"}"#)
        let reply = try c.expectResponse(id: id)
        #expect(reply["code"] as? Int == 200, "login \(uid): \(reply)")
        return reply
    }

    /// The next push: its route (from the dictionary code) and body text.
    func push(_ c: PomeloTestClient, _ server: TestServer) throws -> (route: String, body: String) {
        let m = try c.readMessage(skipHeartbeats: true)
        guard m.type == .push else { throw TestClientError.protocolViolation("expected a push, got \(m)") }
        let route = m.route ?? m.routeCode.map { server.server.dictionary.routes[Int($0)] } ?? "?"
        return (route, m.bodyString ?? "")
    }
}

import Foundation
@testable import Shaddock
import ShaddockProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Channels and the channel service's pushes (to uids, to everyone) over
/// real sockets, with members spread over two loops.
@Suite struct ChannelServiceTests {
    static let transports = TransportKind.allCases

    @Test func createGetAndDestroy() throws {
        let channels = TestApp.make().channels
        let room = channels.create("room")
        #expect(channels.create("room") === room)
        #expect(channels.get("room") === room)
        #expect(channels.get("other") == nil)
        _ = channels.create("other")
        #expect(channels.count == 2)
        #expect(room.members.isEmpty && room.count == 0)
        channels.destroy("room")
        #expect(channels.get("room") == nil)
        #expect(channels.count == 1)
        channels.destroy("room")
        #expect(channels.count == 1)
        // A new channel of the same name is another channel.
        #expect(channels.create("room") !== room)
        // Before the server runs, pushes go nowhere (and do not crash).
        room.push(route: "onChat", body: ["x": 1])
        channels.broadcast(route: "onChat", body: ["x": 1])
        channels.push(route: "onChat", body: ["x": 1], toUids: ["u"])
    }

    /// A handler's lookups read the loop's cache without a lock, and still
    /// see every create and destroy made anywhere; the cache stays bounded
    /// by the channels that exist when it misses.
    @Test func loopLookupsSeeCreatesAndDestroys() throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 1)
        let channels = server.server.channels
        let loop = server.server.loops[0]
        func onLoop(_ name: String) -> Channel? {
            let found = Locked<Channel?>(nil)
            server.onLoop { found.withLock { $0 = channels.get(name) } }
            return found.withLock { $0 }
        }
        #expect(onLoop("a") == nil)
        let a = channels.create("a")
        #expect(onLoop("a") === a)
        #expect(onLoop("a") === a)
        channels.destroy("a")
        #expect(onLoop("a") == nil)
        let again = channels.create("a")
        #expect(again !== a && onLoop("a") === again)
        channels.destroy("a")
        let newer = channels.create("a")
        #expect(onLoop("a") === newer)

        // Many rooms come and go; those never looked up again are swept.
        for round in 0..<10 {
            for i in 0..<100 { _ = channels.create("r\(round)-\(i)") }
            for i in 0..<100 { #expect(onLoop("r\(round)-\(i)") != nil) }
            for i in 0..<100 { channels.destroy("r\(round)-\(i)") }
        }
        let cached = Locked(0)
        server.onLoop { cached.withLock { $0 = loop.channels?.table.count ?? -1 } }
        // At most twice the channels that existed at its last miss (101
        // here) and 64; without the sweep it would hold all 1,001.
        #expect(cached.withLock { $0 } <= 2 * 101 + 64 + 1)
        #expect(onLoop("r0-0") == nil && onLoop("a") === newer)
    }

    /// A push written member by member reaches every member, on the
    /// calling loop and on the other, to all, to some uids and to everyone
    /// connected, with the bytes a JSONValue body would have made.
    @Test(arguments: transports)
    func pushesWrittenInPlace(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2)
        let peers = try server.peersOnBothLoops(kind, perLoop: 1)
        let room = server.server.channels.create("room")
        for (i, (uid, peer)) in zip(["w0", "w1"], peers).enumerated() {
            room.add(uid: uid, session: peer.session)
            #expect(try peer.client.bind(uid, requestID: 10 + i) == 200)
        }
        let expected = #"{"msg":"hi","n":1,"nested":{"ok":true}}"#
        @Sendable func body(_ o: inout JSONObjectWriter) {
            o.add("msg", "hi")
            o.add("n", 1)
            o.addObject("nested") { $0.add("ok", true) }
        }
        // From a handler's loop (loop 0): its member's share goes through
        // the arena, the other loop's through the mailbox.
        server.onLoop { room.push(route: "onChat", object: body) }
        for peer in peers { #expect(try peer.client.readPush().bodyString == expected) }
        room.push(route: "onChat", toUids: ["w1"], object: body)
        #expect(try peers[1].client.readPush().bodyString == expected)
        try peers[0].client.expectNoPackage(within: 0.2)
        server.server.channels.push(route: "onChat", toUids: ["w0"], object: body)
        #expect(try peers[0].client.readPush().bodyString == expected)
        server.server.channels.broadcast(route: "onChat", object: body)
        for peer in peers { #expect(try peer.client.readPush().bodyString == expected) }
        peers[1].session.push(route: "onChat", object: body)
        #expect(try peers[1].client.readPush().bodyString == expected)
        #expect(server.counter(.pushesUndeliverable) == 0)
    }

    /// Members on both loops: join order, push to all and to some, leave
    /// (only with the matching session), and a destroyed channel still
    /// pushes for whoever holds it.
    @Test(arguments: transports)
    func membersOnTwoLoops(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2)
        let peers = try server.peersOnBothLoops(kind, perLoop: 2)
        let uids = ["m0", "m1", "m2", "m3"]
        let room = server.server.channels.create("room")
        for (uid, peer) in zip(uids, peers) { room.add(uid: uid, session: peer.session) }
        #expect(room.members == uids)
        // Re-adding keeps the member's place.
        room.add(uid: "m1", session: peers[1].session)
        #expect(room.members == uids)
        #expect(room.contains(uid: "m2") && !room.contains(uid: "nobody"))

        room.push(route: "onChat", body: ["to": "all"])
        let all = try peers.map { try $0.client.readPush() }
        #expect(all.allSatisfy { $0 == all[0] }, "the same bytes for everyone")
        #expect(all[0].routeCode == server.onChat && all[0].bodyString == #"{"to":"all"}"#)
        #expect(server.counter(.pushes) == 4)

        room.push(route: "onChat", body: ["to": "some"], toUids: ["m0", "m3", "nobody"])
        for i in [0, 3] { #expect(try peers[i].client.readPush().bodyString == #"{"to":"some"}"#) }
        for i in [1, 2] { try peers[i].client.expectNoPackage(within: 0.2) }
        #expect(server.counter(.pushes) == 6)

        // Not with another member's session.
        #expect(!room.leave(uid: "m2", session: peers[1].session))
        #expect(room.members == uids)
        #expect(room.leave(uid: "m2", session: peers[2].session))
        #expect(room.leave(uid: "m1"))
        #expect(!room.leave(uid: "m1"))
        #expect(room.members == ["m0", "m3"])

        server.server.channels.destroy("room")
        #expect(server.server.channels.get("room") == nil)
        room.push(route: "onChat", body: ["to": "left"])
        for i in [0, 3] { #expect(try peers[i].client.readPush().bodyString == #"{"to":"left"}"#) }
        for i in [1, 2] { try peers[i].client.expectNoPackage(within: 0.2) }
        #expect(server.counter(.pushes) == 8)
        #expect(server.counter(.pushesUndeliverable) == 0)
    }

    /// A member whose client went away is still in the channel until it
    /// leaves: pushes to it are counted as undeliverable and the others get
    /// theirs.
    @Test(arguments: transports)
    func pushesToClosedMembersAreUndeliverable(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2)
        let peers = try server.peersOnBothLoops(kind, perLoop: 2)
        let room = server.server.channels.create("room")
        for (i, peer) in peers.enumerated() { room.add(uid: "m\(i)", session: peer.session) }
        peers[1].client.close()
        #expect(eventually { server.server.sessions.get(peers[1].session.id) == nil })

        room.push(route: "onChat", body: ["n": 1])
        for i in [0, 2, 3] { #expect(try peers[i].client.readPush().bodyString == #"{"n":1}"#) }
        #expect(server.waitFor(.pushesUndeliverable, atLeast: 1))
        room.push(route: "onChat", body: ["n": 2], toUids: ["m1", "m2"])
        #expect(try peers[2].client.readPush().bodyString == #"{"n":2}"#)
        #expect(server.waitFor(.pushesUndeliverable, atLeast: 2))
        #expect(server.counter(.pushesUndeliverable) == 2)
        #expect(server.counter(.pushes) == 4)
        // The server carries on.
        try peers[0].client.request(route: "connector.entryHandler.entry", id: 1)
        #expect(try peers[0].client.expectResponse(id: 1)["code"] as? Int == 200)
    }

    /// Pushes by uid and to everyone, with clients on both loops: bound ones
    /// (one per loop) and unbound ones.
    @Test(arguments: transports)
    func pushToUidsAndBroadcastAcrossLoops(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2)
        let peers = try server.peersOnBothLoops(kind, perLoop: 2)
        // peers alternate loops: 0 and 1 are bound, 2 and 3 are not.
        let bound = Array(peers[0..<2]), unbound = Array(peers[2..<4])
        for (i, peer) in bound.enumerated() { #expect(try peer.client.bind("b\(i)", requestID: 10 + i) == 200) }
        let channels = server.server.channels

        channels.push(route: "onChat", body: ["to": "uids"], toUids: ["b0", "b1", "nobody"])
        try expectSamePush(bound, #"{"to":"uids"}"#)
        for peer in unbound { try peer.client.expectNoPackage(within: 0.2) }

        channels.broadcast(route: "onChat", body: ["to": "everyone"])
        try expectSamePush(peers, #"{"to":"everyone"}"#)

        channels.broadcast(route: "onChat", body: ["to": "bound"], boundOnly: true)
        try expectSamePush(bound, #"{"to":"bound"}"#)
        for peer in unbound { try peer.client.expectNoPackage(within: 0.2) }
        #expect(server.counter(.pushes) == 8)
    }

    /// The next push of every peer is the same message with this body.
    private func expectSamePush(_ peers: [Peer], _ body: String) throws {
        let pushes = try peers.map { try $0.client.readPush() }
        #expect(pushes.allSatisfy { $0 == pushes[0] })
        #expect(pushes[0].bodyString == body)
    }
}

/// The session service from outside the loops: lookups, kicks and the
/// multi-login policies.
@Suite struct SessionServiceTests {
    static let transports = TransportKind.allCases

    @Test(arguments: transports)
    func lookupsByIdAndUid(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make())
        let sessions = server.server.sessions
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let id = try client.sessionID()
        let session = try #require(sessions.get(id))
        #expect(session.id == id)
        #expect(sessions.getByUid("ann").isEmpty)
        #expect(sessions.count == 1)
        #expect(try client.bind("ann") == 200)
        #expect(sessions.getByUid("ann").map(\.id) == [id])
        try client.request(route: "connector.pushTest.whoami", id: 1)
        #expect(try client.expectResponse(id: 1)["uid"] as? String == "ann")
        client.close()
        #expect(eventually { sessions.get(id) == nil })
        #expect(sessions.getByUid("ann").isEmpty)
        #expect(sessions.count == 0)
    }

    @Test(arguments: transports)
    func kickByUidFromAnotherThread(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2)
        let ann = try PomeloTestClient.ready(kind, port: server.port)
        let bob = try PomeloTestClient.ready(kind, port: server.port)
        #expect(try ann.bind("ann") == 200)
        #expect(try bob.bind("bob") == 200)
        #expect(server.server.sessions.kick(uid: "nobody", reason: "x") == 0)
        #expect(server.server.sessions.kick(uid: "ann", reason: "maintenance") == 1)
        try ann.expectKicked(reason: "maintenance")
        #expect(server.waitFor(.kicks, atLeast: 1))
        #expect(eventually { server.server.sessions.getByUid("ann").isEmpty })
        // Only ann.
        try bob.expectNoPackage(within: 0.2)
        #expect(server.server.sessions.getByUid("bob").count == 1)
    }

    @Test(arguments: transports)
    func kickBySessionID(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let id = try client.sessionID()
        #expect(!server.server.sessions.kick(sessionID: id ^ 0xFFFF_FF00, reason: "x"))
        #expect(server.server.sessions.kick(sessionID: id, reason: "bye"))
        try client.expectKicked(reason: "bye")
        #expect(eventually { server.server.sessions.get(id) == nil })
        #expect(server.counter(.kicks) == 1)
        // The session is gone: there is nothing left to kick.
        #expect(!server.server.sessions.kick(sessionID: id, reason: "again"))
    }

    /// `reject`: the second login of a uid fails and the first keeps it.
    @Test(arguments: transports)
    func multiLoginRejectRefusesTheSecondLogin(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2) { $0.multiLogin = .reject }
        let first = try PomeloTestClient.ready(kind, port: server.port)
        let second = try PomeloTestClient.ready(kind, port: server.port)
        #expect(try login(first, "ann", id: 1)["code"] as? Int == 200)
        let firstID = try first.sessionID()
        #expect(try login(second, "ann", id: 1)["code"] as? Int == 500)
        #expect(server.server.sessions.getByUid("ann").map(\.id) == [firstID])
        try first.expectNoPackage(within: 0.2)
        // The refused one stays connected and unbound.
        try second.request(route: "connector.pushTest.whoami", id: 2)
        #expect(try second.expectResponse(id: 2)["uid"] is NSNull)
        #expect(server.counter(.multiLoginKicks) == 0)
    }

    /// `kick` (the default): the older session is kicked and the newer one
    /// keeps the uid, in the session service and in the room.
    @Test(arguments: transports)
    func multiLoginKickKicksTheOlderSession(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2)
        let old = try PomeloTestClient.ready(kind, port: server.port)
        let new = try PomeloTestClient.ready(kind, port: server.port)
        #expect(try login(old, "ann", id: 1)["code"] as? Int == 200)
        let oldID = try old.sessionID()
        let newID = try new.sessionID()
        #expect(try login(new, "ann", id: 1)["code"] as? Int == 200)
        try old.expectKicked(reason: "logged in elsewhere")
        #expect(server.counter(.multiLoginKicks) == 1)
        #expect(eventually { server.server.sessions.get(oldID) == nil })
        // The old session's close did not take the uid or the room seat.
        #expect(server.server.sessions.getByUid("ann").map(\.id) == [newID])
        #expect(server.server.channels.get("r")?.members == ["ann"])
        try new.request(route: "chat.chatHandler.send", id: 2, body: #"{"content":"hi","target":"*"}"#)
        #expect(try new.expectResponse(id: 2)["code"] as? Int == 200)
        #expect(try new.readPush().bodyString == #"{"msg":"hi","from":"ann","target":"*"}"#)
    }

    /// A push to a session that has closed is counted, whether it is made on
    /// the session's loop (a handler holding it) or from another thread.
    @Test(arguments: transports)
    func pushToAClosedSessionIsCounted(_ kind: TransportKind) throws {
        final class Held: Sendable { let session = Locked<Session?>(nil) }
        let held = Held()
        let app = PushTestApp.make()
        app.handle("connector.pushTest.pushHeld") { _, _ in
            held.session.withLock { $0 }?.push(route: "onChat", body: ["held": true])
            return .json(["code": 200])
        }
        // One loop: the handler runs on the held session's loop.
        let server = try TestServer(app: app)
        let gone = try PomeloTestClient.ready(kind, port: server.port)
        let session = try server.session(of: gone)
        held.session.withLock { $0 = session }
        gone.close()
        #expect(eventually { server.server.sessions.get(session.id) == nil })

        session.push(route: "onChat", body: ["from": "test thread"])
        #expect(server.waitFor(.pushesUndeliverable, atLeast: 1))
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.pushTest.pushHeld", id: 1)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        #expect(server.waitFor(.pushesUndeliverable, atLeast: 2))
        #expect(server.counter(.pushes) == 0)
        try client.expectNoPackage(within: 0.1)
    }

    // MARK: helpers

    /// The chat example's login into room "r".
    private func login(_ client: PomeloTestClient, _ uid: String, id: Int) throws -> [String: Any] {
        try client.request(route: "connector.entryHandler.login", id: id, body: #"{"uid":"\#(uid)","rid":"r"}"#)
        return try client.expectResponse(id: id)
    }

    /// A kick package with `{"reason": reason}` (only heartbeats before it),
    /// then the close.
}

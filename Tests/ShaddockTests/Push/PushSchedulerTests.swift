import Foundation
import Shaddock
import ShaddockProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The push scheduler over real sockets: per-session batching, the buffered
/// mode's flush interval, pushes from other threads, and slow consumers.
@Suite struct PushSchedulerTests {
    static let transports = TransportKind.allCases
    static let modes: [PushSchedulerMode] = [.direct, .buffered(flushIntervalMilliseconds: 20)]

    // MARK: batching

    /// A handler's pushes are staged, then flushed before its response: over
    /// WebSocket one binary message with all the pushes and one with the
    /// response; on both transports one write call for the lot.
    @Test(arguments: transports)
    func pushesOfOneHandlerCallLeaveInOneWrite(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make())
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let messagesBefore = client.binaryMessages
        let before = server.server.transportStats()
        try client.request(route: "connector.pushTest.many", id: 1, body: #"{"n":50}"#)
        for i in 0..<50 {
            let push = try client.readPush()
            #expect(push.routeCode == server.onChat)
            #expect(try push.index() == i)
        }
        let reply = try client.readMessage(skipHeartbeats: true)
        #expect(reply.type == .response && reply.id == 1)
        let after = server.server.transportStats()
        #expect(after.writeCalls - before.writeCalls == 1)
        if kind == .websocket {
            #expect(client.binaryMessages - messagesBefore == 2)
            #expect(client.mostPackagesInOneMessage == 50)
        }
        #expect(server.counter(.pushes) == 50)
        #expect(server.counter(.pushBatches) == 1)
    }

    // MARK: buffered mode

    /// Pushes and broadcasts from another thread wait for the flush timer,
    /// then leave together, in the order they were made.
    @Test(arguments: transports)
    func bufferedPushesWaitForTheIntervalAndLeaveTogether(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make()) { $0.scheduler = .buffered(flushIntervalMilliseconds: 200) }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let session = try server.session(of: client)
        try syncWithFlush(session, client)

        // The test thread is not the loop's: these go through the mailbox.
        let pushedAt = testMonotonicNow()
        for i in 0..<5 { session.push(route: "onChat", body: PushTestApp.pushBody(i)) }
        server.server.channels.broadcast(route: "onChat", body: PushTestApp.pushBody(5))
        for i in 6..<10 { session.push(route: "onChat", body: PushTestApp.pushBody(i)) }
        try client.expectNoPackage(within: 0.1)
        let messagesBefore = client.binaryMessages
        for i in 0..<10 { #expect(try client.readPush(timeout: 2).index() == i) }
        let waited = testMonotonicNow() - pushedAt
        #expect(waited >= 0.1 && waited < 2, "arrived after \(waited) s")
        if kind == .websocket {
            #expect(client.binaryMessages - messagesBefore == 1)
            #expect(client.mostPackagesInOneMessage == 10)
        }
        // The sync push, then the ten.
        #expect(server.counter(.pushBatches) == 2)
    }

    /// A broadcast alone waits for the interval too.
    @Test(arguments: transports)
    func bufferedBroadcastWaitsForTheInterval(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make()) { $0.scheduler = .buffered(flushIntervalMilliseconds: 200) }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try syncWithFlush(try server.session(of: client), client)
        server.server.channels.broadcast(route: "onChat", body: PushTestApp.pushBody(42))
        try client.expectNoPackage(within: 0.1)
        #expect(try client.readPush(timeout: 2).index() == 42)
    }

    /// In buffered mode a response first flushes the session's staged pushes:
    /// they come before it, at once, not an interval later after it.
    @Test(arguments: transports)
    func bufferedResponseFlushesTheSessionsPushesFirst(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make()) { $0.scheduler = .buffered(flushIntervalMilliseconds: 2000) }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let messagesBefore = client.binaryMessages
        try client.request(route: "connector.pushTest.many", id: 1, body: #"{"n":3}"#)
        // Well inside the 2 s interval: only the response can have sent them.
        for i in 0..<3 { #expect(try client.readPush(timeout: 1).index() == i) }
        let reply = try client.readMessage(timeout: 1)
        #expect(reply.type == .response && reply.id == 1)
        if kind == .websocket {
            #expect(client.binaryMessages - messagesBefore == 2)
            #expect(client.mostPackagesInOneMessage == 3)
        }
    }

    // MARK: other threads

    /// Two threads push 500 each, one through the session and one through the
    /// channel service by uid: all arrive, each thread's in its order.
    @Test(arguments: transports, modes)
    func pushesFromTwoThreadsAllArriveInEachThreadsOrder(_ kind: TransportKind, _ mode: PushSchedulerMode) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2) { $0.scheduler = mode }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        #expect(try client.bind("pusher") == 200)
        let session = try #require(server.server.sessions.getByUid("pusher").first)
        let channels = server.server.channels
        let count = 500
        let bySession = TestThread {
            for i in 0..<count { session.push(route: "onChat", body: PushTestApp.pushBody(i, thread: 0)) }
        }
        let byUid = TestThread {
            for i in 0..<count {
                channels.push(route: "onChat", body: PushTestApp.pushBody(i, thread: 1), toUids: ["pusher"])
            }
        }
        defer { bySession.join(); byUid.join() }
        var next = [0, 0]
        for _ in 0..<(2 * count) {
            let body = try client.readPush().bodyJSON()
            let t = try #require(body["t"] as? Int), i = try #require(body["i"] as? Int)
            #expect(i == next[t], "thread \(t): got \(i), expected \(next[t])")
            next[t] = i + 1
        }
        #expect(next == [count, count])
        try client.expectNoPackage(within: 0.1)
        #expect(server.counter(.pushes) == UInt64(2 * count))
        #expect(server.counter(.pushesDropped) == 0)
    }

    // MARK: slow consumers

    /// A client that stops reading while another thread pushes 64 KiB bodies
    /// is kicked once its unsent bytes would pass the bound; the server holds
    /// no more than that for it, and a client that reads keeps getting its
    /// pushes.
    @Test(arguments: transports)
    func slowConsumerIsKickedAndOthersKeepTheirPushes(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make()) {
            $0.maxPendingBytes = Self.maxPending
            $0.slowConsumer = .kick
            $0.heartbeatSeconds = 0
        }
        let slow = try PomeloTestClient.ready(kind, port: server.port)
        let good = try PomeloTestClient.ready(kind, port: server.port)
        let slowSession = try server.session(of: slow)
        let goodSession = try server.session(of: good, requestID: 9_002)
        let count = 400
        let pusher = TestThread {
            for i in 0..<count {
                slowSession.push(route: "onChat", body: PushTestApp.pushBody(i, padding: 64 * 1024))
                goodSession.push(route: "onChat", body: PushTestApp.pushBody(i))
                usleep(200)
            }
        }
        defer { pusher.join() }
        // `slow` never reads; `good` does.
        for i in 0..<count { #expect(try good.readPush().index() == i) }
        #expect(server.waitFor(.slowConsumerKicks, atLeast: 1))
        #expect(slow.waitForClose(timeout: 10))
        #expect(server.counter(.slowConsumerKicks) == 1)
        // Pushes after the kick were refused, not queued.
        #expect(server.counter(.pushesUndeliverable) > 0)
        #expect(server.counter(.pushesDropped) == 0)
        // No more write memory than the bound allows (4 KiB chunks): queuing
        // the 25 MiB pushed would have taken thousands.
        let stats = server.server.transportStats()
        #expect(stats.chunksAllocated < UInt64(Self.chunkBound), "\(stats.chunksAllocated) chunks")
        // The other client is unaffected.
        goodSession.push(route: "onChat", body: PushTestApp.pushBody(count))
        #expect(try good.readPush().index() == count)
        #expect(eventually { server.server.sessions.count == 1 })
    }

    /// With `dropPushes` the client stays connected: pushes past the bound
    /// are dropped and counted, and once it reads again it gets the ones
    /// that were kept, whole and in order, starting with the first, and new
    /// pushes flow again.
    @Test(arguments: transports)
    func slowConsumerLosesPushesButStaysConnected(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make()) {
            $0.maxPendingBytes = Self.maxPending
            $0.slowConsumer = .dropPushes
            $0.heartbeatSeconds = 0
        }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let session = try server.session(of: client)
        let count = 400
        let padding = 64 * 1024
        // Pushed from the test thread while the client does not read.
        for i in 0..<count { session.push(route: "onChat", body: PushTestApp.pushBody(i, padding: padding)) }
        #expect(eventually(timeout: 10) {
            server.counter(.pushes) + server.counter(.pushesDropped) == UInt64(count)
        })
        let kept = Int(server.counter(.pushes))
        #expect(server.counter(.pushesDropped) > 0)
        #expect(kept >= 3, "the first pushes fit in the bound")
        let stats = server.server.transportStats()
        #expect(stats.chunksAllocated < UInt64(Self.chunkBound), "\(stats.chunksAllocated) chunks")

        // Reading again: every kept push arrives intact, in order.
        let pad = String(repeating: "x", count: padding)
        var received: [Int] = []
        for _ in 0..<kept {
            let push = try client.readPush(timeout: 10)
            let body = try push.bodyJSON()
            #expect(push.routeCode == server.onChat)
            #expect(body["pad"] as? String == pad)
            received.append(try #require(body["i"] as? Int))
        }
        #expect(Array(received.prefix(3)) == [0, 1, 2])
        #expect(zip(received, received.dropFirst()).allSatisfy { $0 < $1 }, "out of order: \(received)")
        try client.expectNoPackage(within: 0.2)
        // Later pushes work again, and the connection was never closed.
        session.push(route: "onChat", body: PushTestApp.pushBody(count))
        #expect(try client.readPush().index() == count)
        try client.request(route: "connector.entryHandler.entry", id: 1)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        #expect(server.counter(.slowConsumerKicks) == 0)
        #expect(server.counter(.slowConsumerCloses) == 0)
        #expect(server.counter(.pushesDropped) == UInt64(count - kept))
    }

    // MARK: helpers

    static let maxPending = 256 * 1024
    /// The write chunks a server may take with one connection at its bound,
    /// with room for the others' small writes.
    static let chunkBound = 2 * maxPending / 4096 + 32

    /// Waits for one push made from this (non-loop) thread: in buffered mode
    /// it arrives at a flush, so the next flush is a whole interval away.
    private func syncWithFlush(_ session: Session, _ client: PomeloTestClient) throws {
        session.push(route: "onChat", body: PushTestApp.pushBody(-1))
        #expect(try client.readPush(timeout: 2).index() == -1)
    }
}

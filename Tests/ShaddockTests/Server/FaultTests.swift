import Foundation
@testable import Shaddock
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults: every request gets exactly one answer whatever its handler does,
/// and a client may vanish at any byte without a crash or a leak.
/// Continuations of requests that never end (see `connector.t.never`).
private let parked = Locked<[UnsafeContinuation<Void, Never>]>([])

@Suite struct FaultTests {
    static func app() -> Application {
        let app = TestApp.make()
        app.handle("connector.t.throwAsync") { (_: Request, _: Session) async throws -> Response in
            await ApplicationLayerTests.pause(20)
            throw TestApp.Broken()
        }
        app.handle("connector.t.never") { (_: Request, _: Session) async throws -> Response in
            // Suspends for good: only the timeout filter answers. The
            // continuation is kept, so the leak checker sees it is held.
            await withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in parked.withLock { $0.append(c) } }
            return .json(["never": true])
        }
        app.handle("connector.t.slow") { (_: Request, _: Session) async throws -> Response in
            await ApplicationLayerTests.pause(200)
            return .json(["code": 200])
        }
        return app
    }

    /// Requests of every kind of failure, sent together: one answer each,
    /// with the right code, and nothing more.
    @Test(arguments: TransportKind.allCases)
    func everyRequestGetsExactlyOneAnswer(_ kind: TransportKind) throws {
        let server = try TestServer(app: Self.app()) { $0.requestTimeoutMilliseconds = 300 }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let cases: [(route: String, body: String, code: Int)] = [
            ("connector.entryHandler.entry", "{}", 200),
            ("connector.testHandler.fail", "{}", 500),
            ("connector.testHandler.refuse", "{}", 503),
            ("connector.t.throwAsync", "{}", 500),
            ("connector.t.never", "{}", 504),
            ("connector.no.such", "{}", 500),
            ("connector.testHandler.echo", "not json", 200),
        ]
        var burst: [UInt8] = []
        for (i, c) in cases.enumerated() {
            let message = PomeloWire.encodeMessage(type: .request, id: i + 1, route: .name(c.route), body: Array(c.body.utf8))
            burst += PomeloWire.encodePackage(type: PomeloPackageType.data, body: message)
        }
        try client.sendRaw(burst)
        var codes: [Int: Int] = [:]
        for _ in cases {
            let message = try client.readMessage(timeout: 5, skipHeartbeats: true)
            let id = try #require(message.id)
            #expect(codes[id] == nil, "a second answer to request \(id)")
            codes[id] = (try message.bodyJSON()["code"] as? Int) ?? 200
        }
        for (i, c) in cases.enumerated() { #expect(codes[i + 1] == c.code, "\(c.route)") }
        try client.expectNoPackage(within: 0.3)
        #expect(server.counter(.requestTimeouts) == 1)
    }

    /// The client goes while its request runs: the late answer goes nowhere,
    /// and the connection, its session and the request are all released.
    @Test(arguments: TransportKind.allCases)
    func clientVanishingMidRequestLeavesNothingBehind(_ kind: TransportKind) throws {
        let server = try TestServer(app: Self.app())
        for id in 1...5 {
            let client = try PomeloTestClient.ready(kind, port: server.port)
            try client.request(route: "connector.t.slow", id: id)
            client.close()
        }
        #expect(server.waitFor(.asyncRequests, atLeast: 5))
        #expect(eventually { Self.inFlight(server) == 0 })
        Self.expectNothingLeft(server)
        // The server still serves.
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.t.slow", id: 9)
        #expect(try client.expectResponse(id: 9)["code"] as? Int == 200)
    }

    /// A whole session's bytes (upgrade, handshake, ack, requests, a
    /// notify, a heartbeat), cut at every byte; half the cuts with a FIN,
    /// half with a reset.
    @Test(arguments: TransportKind.allCases)
    func disconnectingAtAnyByteLeavesNothingBehind(_ kind: TransportKind) throws {
        let server = try TestServer(app: Self.app())
        let script = Self.sessionBytes(kind, port: server.port)
        for cut in 0...script.count {
            let socket = try TestSocket(port: server.port)
            if cut > 0 { try socket.send(Array(script[..<cut])) }
            if cut % 2 == 1 { socket.resetOnClose() }
            socket.close()
        }
        #expect(eventually(timeout: 10) { server.server.transportStats().open == 0 })
        #expect(eventually { Self.inFlight(server) == 0 })
        Self.expectNothingLeft(server)
        #expect(server.server.transportStats().accepted == UInt64(script.count + 1))
    }

    static func sessionBytes(_ kind: TransportKind, port: Int) -> [UInt8] {
        func message(_ type: PomeloMessageType, _ id: Int?, _ route: String, _ body: String) -> (UInt8, [UInt8]) {
            (PomeloPackageType.data, PomeloWire.encodeMessage(type: type, id: id, route: .name(route), body: Array(body.utf8)))
        }
        let packages: [(UInt8, [UInt8])] = [
            (PomeloPackageType.handshake, PomeloTestClient.handshakeBody()),
            (PomeloPackageType.handshakeAck, []),
            message(.request, 1, "connector.entryHandler.entry", "{}"),
            message(.request, 2, "connector.t.slow", "{}"),
            message(.notify, nil, "connector.testHandler.echo", #"{"a":1}"#),
            (PomeloPackageType.heartbeat, []),
        ]
        switch kind {
        case .tcp:
            return PomeloWire.encodePackages(packages)
        case .websocket:
            var bytes = WebSocketTestClient.upgradeRequest(port: port, key: WebSocketTestClient.randomKey())
            for (type, body) in packages {
                bytes += WebSocketTestClient.rawFrameBytes(opcode: 0x2, payload: PomeloWire.encodePackage(type: type, body: body))
            }
            return bytes
        }
    }

    static func inFlight(_ server: TestServer) -> Int {
        let count = Locked(-1)
        let done = DispatchSemaphore(value: 0)
        server.server.loops[0].execute { loop in
            count.withLock { $0 = loop.inFlight.count }
            done.signal()
        }
        done.wait()
        return count.withLock { $0 }
    }

    static func expectNothingLeft(_ server: TestServer) {
        let core = server.server.core
        #expect(eventually { core.liveConnections.load(ordering: .relaxed) == 0 })
        #expect(eventually { core.liveSessions.load(ordering: .relaxed) == 0 })
        #expect(server.server.sessions.count == 0)
        #expect(server.server.transportStats().open == 0)
    }
}

// Helpers shared by the push, channel, session and host filter tests: an
// application with a few extra routes, plain threads that push while the
// test reads, and client shortcuts.

import Foundation
import Shaddock
import ShaddockProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `TestApp.make()` plus routes that expose a session and push from a handler.
enum PushTestApp {
    /// - `connector.pushTest.whoami`: `{"id":"<session id>","uid":...}`.
    /// - `connector.pushTest.bind` `{"uid"}`: binds the session (500 if it cannot).
    /// - `connector.pushTest.many` `{"n"}`: pushes `onChat` `{"i":k}` for k in
    ///   0..<n, then answers `{"code":200}`.
    static func make() -> Application {
        let app = TestApp.make()
        app.handle("connector.pushTest.whoami") { _, session in
            .json(["id": .string(String(session.id)), "uid": session.uid.map { .string($0) } ?? .null])
        }
        app.handle("connector.pushTest.bind") { request, session in
            try session.bind(request.json["uid"]?.stringValue ?? "")
            return .json(["code": 200])
        }
        app.handle("connector.pushTest.many") { request, session in
            let n = request.json["n"]?.intValue ?? 0
            for i in 0..<n { session.push(route: "onChat", body: pushBody(i)) }
            return .json(["code": 200])
        }
        return app
    }

    /// `{"i":i}`, after `"t":thread` if given, with `"pad":"xxx…"` of
    /// `padding` bytes when it is not 0.
    static func pushBody(_ i: Int, padding: Int = 0, thread: Int? = nil) -> JSONValue {
        var object = JSONObject()
        if let thread { object["t"] = .number(Double(thread)) }
        object["i"] = .number(Double(i))
        if padding > 0 { object["pad"] = .string(String(repeating: "x", count: padding)) }
        return .object(object)
    }
}

/// A plain POSIX thread (not the cooperative pool), joined by the test.
final class TestThread: @unchecked Sendable {
    private var tid = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let arg = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, arg)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(tid, nil) }
}

final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Polls `condition` every 5 ms for up to `timeout` seconds.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = testMonotonicNow() + timeout
    while !condition() {
        if testMonotonicNow() > deadline { return false }
        usleep(5_000)
    }
    return true
}

extension PomeloTestClient {
    /// This connection's session id, from the server.
    /// A kick package with `reason`, then (over WebSocket, with `closeCode`)
    /// the close.
    func expectKicked(reason: String, closeCode: UInt16 = 1000) throws {
        let kick = try expectPackage(type: PomeloPackageType.kick)
        #expect(try kick.bodyJSON() as? [String: String] == ["reason": reason])
        if case .websocket(let ws) = transport {
            #expect(try ws.readClose().code == closeCode)
        }
        #expect(waitForClose())
    }

    func sessionID(requestID: Int = 9_000) throws -> UInt64 {
        try request(route: "connector.pushTest.whoami", id: requestID)
        let reply = try expectResponse(id: requestID)
        guard let text = reply["id"] as? String, let id = UInt64(text) else {
            throw TestClientError.protocolViolation("whoami answered \(reply)")
        }
        return id
    }

    /// Binds the session to `uid`; returns the response's code.
    func bind(_ uid: String, requestID: Int = 9_001) throws -> Int? {
        try request(route: "connector.pushTest.bind", id: requestID, body: #"{"uid":"\#(uid)"}"#)
        return try expectResponse(id: requestID)["code"] as? Int
    }

    /// The next push (heartbeats skipped); anything else throws.
    func readPush(timeout: Double = 5) throws -> PomeloMessage {
        let m = try readMessage(timeout: timeout, skipHeartbeats: true)
        guard m.type == .push else { throw TestClientError.protocolViolation("expected a push, got \(m)") }
        return m
    }
}

extension PomeloMessage {
    /// The push's `"i"` field.
    func index() throws -> Int? { try bodyJSON()["i"] as? Int }
}

extension TestServer {
    /// The session a client's connection has on the server.
    func session(of client: PomeloTestClient, requestID: Int = 9_000) throws -> Session {
        let id = try client.sessionID(requestID: requestID)
        return try #require(server.sessions.get(id), "no session \(id)")
    }

    var onChat: UInt16? { server.dictionary.code(for: "onChat") }
}

/// Session ids carry their loop's index in the low byte (see EventLoop.open).
func loopIndex(of sessionID: UInt64) -> Int { Int(sessionID & 0xff) }

/// A connection the host filter refuses is closed without a byte: connects,
/// sends the start of a handshake (a Pomelo handshake package over TCP, an
/// upgrade request for WebSocket) and returns what came back before the close,
/// or nil if the connection stayed open for `timeout` seconds.
func bytesBeforeClose(_ kind: TransportKind, port: Int, timeout: Double = 5) throws -> [UInt8]? {
    let socket = try TestSocket(port: port)
    let hello: [UInt8] = switch kind {
    case .tcp: PomeloWire.encodePackage(type: PomeloPackageType.handshake, body: PomeloTestClient.handshakeBody())
    case .websocket: WebSocketTestClient.upgradeRequest(port: port, key: WebSocketTestClient.randomKey())
    }
    // A refused connection may already be gone: the send can fail.
    try? socket.send(hello)
    var received: [UInt8] = []
    let deadline = testMonotonicNow() + timeout
    while true {
        do {
            received += try socket.readSome(timeout: max(deadline - testMonotonicNow(), 0.001))
        } catch TestClientError.closed {
            return received
        } catch TestClientError.timeout {
            return nil
        }
    }
}

/// A client and its session on the server.
struct Peer {
    let client: PomeloTestClient
    let session: Session
    var loop: Int { loopIndex(of: session.id) }
}

extension TestServer {
    /// `perLoop` ready clients on each of the server's two loops, alternating
    /// loop 0, loop 1, loop 0, ... (the kernel picks the loop, so clients are
    /// connected until both have enough; the extra ones are closed).
    func peersOnBothLoops(_ kind: TransportKind, perLoop: Int) throws -> [Peer] {
        var byLoop: [[Peer]] = [[], []]
        var attempts = 0
        while byLoop.contains(where: { $0.count < perLoop }) && attempts < 64 {
            attempts += 1
            let client = try PomeloTestClient.ready(kind, port: port)
            let peer = Peer(client: client, session: try session(of: client))
            if byLoop[peer.loop].count < perLoop { byLoop[peer.loop].append(peer) } else { client.close() }
        }
        try #require(byLoop.allSatisfy { $0.count == perLoop }, "clients per loop: \(byLoop.map(\.count))")
        let peers = (0..<perLoop).flatMap { [byLoop[0][$0], byLoop[1][$0]] }
        // The extra clients are gone before the test counts anything.
        try #require(eventually { server.sessions.count == peers.count })
        return peers
    }
}

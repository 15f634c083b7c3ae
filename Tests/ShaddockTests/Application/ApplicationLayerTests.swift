import Foundation
@testable import Shaddock
import ShaddockProtocol
import Testing

/// Handlers (sync, async, typed), sessions and filters over real sockets, on
/// both transports.
@Suite struct ApplicationLayerTests {
    static let transports = TransportKind.allCases

    struct Coded: CodedError { var code: Int }

    /// Awaits `ms` milliseconds on a thread of its own, not the cooperative
    /// pool (which the tests themselves keep busy).
    static func pause(_ ms: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            detachThread {
                usleep(UInt32(ms * 1000))
                c.resume()
            }
        }
    }

    // MARK: handlers

    @Test(arguments: transports)
    func asyncHandlerAnswersFromItsLoop(_ kind: TransportKind) throws {
        let app = TestApp.make()
        app.handle("connector.t.async") { (request: Request, session: Session) async throws -> Response in
            let before = pthread_self()
            await Self.pause(30)
            // Back on the session's loop thread after the await.
            let same = pthread_equal(before, pthread_self()) != 0
            session.set("seen", .bool(true))
            return .json(["code": 200, "sameThread": .bool(same), "echo": request.json])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.t.async", id: 9, body: #"{"n":1}"#)
        let reply = try client.readMessage(skipHeartbeats: true)
        #expect(reply.id == 9 && reply.bodyString == #"{"code":200,"sameThread":true,"echo":{"n":1}}"#)
        #expect(server.counter(.asyncRequests) == 1)
    }

    struct Move: Decodable { let x: Int; let y: Int; let note: String? }
    struct Moved: Encodable { let code = 200; let at: [Int]; let note: String? }

    @Test(arguments: transports)
    func typedHandlersDecodeAndEncode(_ kind: TransportKind) throws {
        let app = TestApp.make()
        app.handle("connector.t.move") { (move: Move, _: Session) in Moved(at: [move.x, move.y], note: move.note) }
        app.handle("connector.t.moveLater") { (move: Move, _: Session) async throws -> Moved in
            await Self.pause(5)
            guard move.x >= 0 else { throw Coded(code: 422) }
            return Moved(at: [move.x], note: nil)
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.t.move", id: 1, body: #"{"x":3,"y":-4,"note":"hi"}"#)
        #expect(try client.readMessage(skipHeartbeats: true).bodyString == #"{"code":200,"at":[3,-4],"note":"hi"}"#)
        // A body that does not decode is a 500; nil optionals are left out.
        try client.request(route: "connector.t.move", id: 2, body: #"{"x":"three"}"#)
        #expect(try client.readMessage(skipHeartbeats: true).bodyString == #"{"code":500}"#)
        try client.request(route: "connector.t.moveLater", id: 3, body: #"{"x":1,"y":0}"#)
        #expect(try client.readMessage(skipHeartbeats: true).bodyString == #"{"code":200,"at":[1]}"#)
        try client.request(route: "connector.t.moveLater", id: 4, body: #"{"x":-1,"y":0}"#)
        #expect(try client.readMessage(skipHeartbeats: true).bodyString == #"{"code":422}"#)
        #expect(server.counter(.handlerErrors) == 2)
    }

    @Test func requestsForAnotherServerTypeGoThroughTheForwardSeam() throws {
        let app = TestApp.make()
        app.declaredRoutes.append("area.playerHandler.move")
        app.forward = { request, _ in .json(["forwarded": .string(request.route)]) }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.request(route: "area.playerHandler.move", id: 1)
        #expect(try client.readMessage(skipHeartbeats: true).bodyString == #"{"forwarded":"area.playerHandler.move"}"#)
        // Routes handled here do not go there.
        try client.request(route: "connector.entryHandler.entry", id: 2)
        #expect(try client.expectResponse(id: 2)["msg"] as? String == "game server is ok.")
    }

    // MARK: sessions

    @Test(arguments: transports)
    func sessionBindSettingsAndClosedCallbacks(_ kind: TransportKind) throws {
        let app = TestApp.make()
        let closed = Locked<[String]>([])
        app.handle("connector.t.bind") { request, session in
            try session.bind(request.json["uid"]?.stringValue ?? "")
            session.set("level", 7)
            session.set("gone", true)
            session.remove("gone")
            session.pushSetting("level")
            if session.uid == "u2" {
                session.onClosed { s in closed.withLock { $0.append("first:\(s.uid ?? "unbound")") } }
                session.onClosed { _ in closed.withLock { $0.append("second") } }
            }
            return .json(["id": .number(Double(session.id)), "level": session.get("level") ?? .null,
                          "gone": session.get("gone") ?? .null])
        }
        app.handle("connector.t.unbind") { _, session in
            session.unbind()
            return .json(["uid": session.uid.map { .string($0) } ?? .null])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.t.bind", id: 1, body: #"{"uid":"u1"}"#)
        let reply = try client.expectResponse(id: 1)
        #expect(reply["level"] as? Int == 7)
        #expect(reply["gone"] is NSNull)
        let id = UInt64(try #require(reply["id"] as? Int))
        let session = try #require(server.server.sessions.get(id))
        #expect(session.id == id)
        #expect(server.server.sessions.getByUid("u1").map(\.id) == [id])
        #expect(server.server.sessions.setting("level", of: id) == 7)
        #expect(server.server.sessions.count == 1)
        try client.request(route: "connector.t.unbind", id: 2)
        #expect(try client.expectResponse(id: 2)["uid"] is NSNull)
        #expect(server.server.sessions.getByUid("u1").isEmpty)
        try client.request(route: "connector.t.bind", id: 3, body: #"{"uid":"u2"}"#)
        _ = try client.expectResponse(id: 3)
        client.close()
        for _ in 0..<400 where closed.withLock({ $0.count }) < 2 { usleep(5_000) }
        // The callbacks in order, with the uid still on the session.
        #expect(closed.withLock { $0 } == ["first:u2", "second"])
        #expect(server.server.sessions.get(id) == nil)
        #expect(server.server.sessions.getByUid("u2").isEmpty)
        #expect(server.server.sessions.count == 0)
    }

    @Test(arguments: transports)
    func rebindingToAnotherUidIsRefused(_ kind: TransportKind) throws {
        let app = TestApp.make()
        app.handle("connector.t.bind") { request, session in
            try session.bind(request.json["uid"]?.stringValue ?? "")
            return .json(["code": 200])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.t.bind", id: 1, body: #"{"uid":"a"}"#)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        try client.request(route: "connector.t.bind", id: 2, body: #"{"uid":"a"}"#)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 200)
        try client.request(route: "connector.t.bind", id: 3, body: #"{"uid":"b"}"#)
        #expect(try client.expectResponse(id: 3)["code"] as? Int == 500)
    }

    // MARK: filters

    @Test(arguments: transports)
    func filtersRunInOrderAndBeforeFiltersCanRefuse(_ kind: TransportKind) throws {
        let app = TestApp.make()
        let trail = Locked<[String]>([])
        let seen = Locked<[String]>([])
        app.before { request, _ in
            trail.withLock { $0.append("global:\(request.route)") }
            if request.json["deny"] != nil { throw Coded(code: 403) }
        }
        app.before(serverType: "chat") { _, _ in trail.withLock { $0.append("chat") } }
        app.before { (_: Request, _: Session) async throws in
            await Self.pause(1)
            trail.withLock { $0.append("async") }
        }
        app.after { request, _, outcome in
            switch outcome {
            case .response(.json(let v)): seen.withLock { $0.append("\(request.id):\(v.jsonString)") }
            case .response(.encoded(let e)): seen.withLock { $0.append("\(request.id):\(String(decoding: e.bytes, as: UTF8.self))") }
            case .response(.protobuf(let b)): seen.withLock { $0.append("\(request.id):protobuf \(b)") }
            case .error(let code): seen.withLock { $0.append("\(request.id):error \(code)") }
            case .none: seen.withLock { $0.append("notify") }
            }
        }
        app.handle("chat.t.say") { _, _ in
            trail.withLock { $0.append("handler") }
            return .json(["code": 200])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "chat.t.say", id: 1)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        #expect(trail.withLock { $0 } == ["global:chat.t.say", "async", "chat", "handler"])
        trail.withLock { $0 = [] }
        try client.request(route: "chat.t.say", id: 2, body: #"{"deny":1}"#)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 403)
        #expect(trail.withLock { $0 } == ["global:chat.t.say"])
        // Connector routes do not run the chat filter.
        trail.withLock { $0 = [] }
        try client.request(route: "connector.entryHandler.entry", id: 3)
        _ = try client.expectResponse(id: 3)
        #expect(trail.withLock { $0 } == ["global:connector.entryHandler.entry", "async"])
        for _ in 0..<200 where seen.withLock({ $0.count }) < 3 { usleep(5_000) }
        #expect(seen.withLock { $0 } == [#"1:{"code":200}"#, "2:error 403",
                                         #"3:{"code":200,"msg":"game server is ok."}"#])
        #expect(server.counter(.filterRejections) == 1)
    }

    /// Five requests sent at once to a handler whose later calls finish
    /// sooner: with the serial filter they run one by one and are answered
    /// in order; without it the answers come back reversed.
    @Test(arguments: [true, false])
    func serialFilterRunsASessionsRequestsOneByOne(_ serial: Bool) throws {
        let app = TestApp.make()
        if serial { app.use(.serial(timeoutMilliseconds: 5000)) }
        let running = Locked((now: 0, most: 0))
        app.handle("connector.t.slow") { (request: Request, _: Session) async throws -> Response in
            let i = request.json["i"]?.intValue ?? 0
            running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            await Self.pause((6 - i) * 40)
            running.withLock { $0.now -= 1 }
            return .json(["i": .number(Double(i))])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        var burst: [UInt8] = []
        for i in 1...5 {
            let message = PomeloWire.encodeMessage(type: .request, id: i, route: .name("connector.t.slow"),
                                                   body: Array(#"{"i":\#(i)}"#.utf8))
            burst += PomeloWire.encodePackage(type: PomeloPackageType.data, body: message)
        }
        try client.sendRaw(burst)
        var order: [Int] = []
        for _ in 1...5 { order.append(try client.readMessage(skipHeartbeats: true).id ?? 0) }
        if serial {
            #expect(order == [1, 2, 3, 4, 5])
            #expect(running.withLock { $0.most } == 1)
        } else {
            #expect(order == [5, 4, 3, 2, 1])
            #expect(running.withLock { $0.most } == 5)
        }
    }

    @Test func serialTimeoutLetsTheNextRequestStart() throws {
        let app = TestApp.make()
        app.use(.serial(timeoutMilliseconds: 100))
        app.handle("connector.t.stuck") { (_: Request, _: Session) async throws -> Response in
            await Self.pause(600)
            return .json(["stuck": true])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(.websocket, port: server.port)
        try client.request(route: "connector.t.stuck", id: 1)
        try client.request(route: "connector.entryHandler.entry", id: 2)
        // The second is answered first: the stuck one let it go after 100 ms.
        #expect(try client.readMessage(skipHeartbeats: true).id == 2)
        #expect(try client.readMessage(skipHeartbeats: true).id == 1)
        #expect(server.counter(.serialTimeouts) == 1)
    }

    @Test(arguments: transports)
    func timeoutFilterAnswers504Once(_ kind: TransportKind) throws {
        let app = TestApp.make()
        app.use(.timeout(milliseconds: 100))
        app.handle("connector.t.late") { (_: Request, _: Session) async throws -> Response in
            await Self.pause(500)
            return .json(["late": true])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try client.request(route: "connector.t.late", id: 1)
        #expect(try client.readMessage(skipHeartbeats: true).bodyString == #"{"code":504}"#)
        #expect(server.waitFor(.lateAnswers, atLeast: 1))
        try client.expectNoPackage(within: 0.1)
        #expect(server.counter(.requestTimeouts) == 1)
        // Quick answers are untouched.
        try client.request(route: "connector.entryHandler.entry", id: 2)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 200)
    }

    @Test func timeFilterCountsSlowHandlers() throws {
        let app = TestApp.make()
        app.use(.time(thresholdMilliseconds: 30))
        app.handle("connector.t.block") { _, _ in
            usleep(60_000)
            return .json(["code": 200])
        }
        let server = try TestServer(app: app)
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.request(route: "connector.entryHandler.entry", id: 1)
        _ = try client.expectResponse(id: 1)
        #expect(server.counter(.slowHandlers) == 0)
        try client.request(route: "connector.t.block", id: 2)
        _ = try client.expectResponse(id: 2)
        #expect(server.counter(.slowHandlers) == 1)
    }

    @Test func tooBusyRefusesWhileTheLoopLags() throws {
        let app = TestApp.make()
        app.use(.tooBusy(maxLagMilliseconds: 50))
        app.handle("connector.t.block") { _, _ in
            usleep(300_000)
            return .json(["code": 200])
        }
        // A tick falls due while the handler blocks, runs about 200 ms late,
        // and its lag stands until the next tick 100 ms later.
        let server = try TestServer(app: app) { $0.timerTickMilliseconds = 100 }
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.request(route: "connector.t.block", id: 1)
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        try client.request(route: "connector.entryHandler.entry", id: 2)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 503)
        #expect(server.counter(.tooBusyRefusals) == 1)
        // Once a tick runs on time again, requests pass.
        usleep(500_000)
        try client.request(route: "connector.entryHandler.entry", id: 3)
        #expect(try client.expectResponse(id: 3)["code"] as? Int == 200)
    }
}

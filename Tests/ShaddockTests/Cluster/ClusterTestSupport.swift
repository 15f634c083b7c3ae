import Logging
import Shaddock
import ShaddockProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One application for every server of the test cluster, as a Pomelo game
/// has: `connector` (the frontends) and `area` (the backends). Each server
/// gets its own instance, built by the same function, so a handler can say
/// which server ran it.
enum ClusterTestApp {
    struct Refused: CodedError { var code: Int }

    struct Sum: Codable, Equatable { var a: Int; var b: Int }
    struct Total: Codable, Equatable { var total: Int; var server: String }

    static func make(serverID: String, closed: Recorder? = nil) -> Application {
        let app = Application(serverType: "connector")
        app.userDictionary = ["onArea"]
        // Global: runs on the frontend, before the forward.
        app.before { request, _ in
            if request.json["globalBlock"]?.boolValue == true { throw Refused(code: 403) }
        }
        // The area type's own filter: runs on the backend.
        app.before(serverType: "area") { request, _ in
            if request.json["areaBlock"]?.boolValue == true { throw Refused(code: 409) }
        }
        app.handle("connector.entryHandler.login") { request, session in
            let body = request.json
            if let uid = body["uid"]?.stringValue { try session.bind(uid) }
            if let rid = body["rid"] { session.set("rid", rid) }
            return .json(["code": 200, "server": .string(serverID)])
        }
        app.handle("connector.entryHandler.sum") { (body: Sum, session: Session) async throws -> Total in
            try await app.rpc("area", "areaRemote.add", body, session: session)
        }
        app.handle("area.areaHandler.echo") { request, session in
            .json(["code": 200, "server": .string(serverID), "uid": session.uid.map { .string($0) } ?? .null,
                   "rid": session.get("rid") ?? .null, "frontend": .string(session.frontendID),
                   "address": .string(session.remoteAddress),
                   "body": request.json])
        }
        app.handle("area.areaHandler.bind") { request, session in
            let body = request.json
            try session.bind(body["uid"]?.stringValue ?? "")
            session.set("level", body["level"] ?? .null)
            session.pushSetting("level")
            session.push(route: "onArea", body: ["hello": .string(serverID)])
            return .json(["code": 200])
        }
        app.handle("area.areaHandler.kick") { _, session in
            session.kick(reason: "area says bye")
            return .json(["code": 200])
        }
        app.handle("area.areaHandler.slow") { (request: Request, session: Session) async throws -> Response in
            try await Task.sleep(for: .milliseconds(request.json["ms"]?.intValue ?? 300))
            return .json(["code": 200])
        }
        app.handle("area.areaHandler.watch") { _, session in
            session.onClosed { s in closed?.append("\(serverID):\(s.uid ?? "-")") }
            return .json(["code": 200])
        }
        // Channels on the area servers; their members sit on the frontends.
        app.handle("area.areaHandler.join") { request, session in
            guard let uid = session.uid, let room = request.json["room"]?.stringValue else { throw Refused(code: 400) }
            let channel = app.channels.create(room)
            channel.add(uid: uid, session: session)
            return .json(["code": 200, "members": .array(channel.members.map { .string($0) })])
        }
        app.handle("area.areaHandler.say") { request, session in
            let body = request.json
            guard let room = body["room"]?.stringValue, let channel = app.channels.get(room) else { throw Refused(code: 404) }
            let message: JSONValue = ["say": body["say"] ?? .null, "from": .string(session.uid ?? "-")]
            if let to = body["to"]?.arrayValue {
                channel.push(route: "onArea", body: message, toUids: to.compactMap(\.stringValue))
            } else {
                channel.push(route: "onArea", body: message)
            }
            return .json(["code": 200])
        }
        app.handle("area.areaHandler.tell") { request, _ in
            let body = request.json
            let uids = body["to"]?.arrayValue?.compactMap(\.stringValue) ?? []
            app.channels.push(route: "onArea", body: ["told": body["say"] ?? .null], toUids: uids)
            return .json(["code": 200])
        }
        app.handle("area.areaHandler.shout") { request, _ in
            app.channels.broadcast(route: "onArea", body: ["shout": request.json["say"] ?? .null],
                                   boundOnly: request.json["boundOnly"]?.boolValue ?? false)
            return .json(["code": 200])
        }
        app.handle("area.areaHandler.leave") { request, session in
            guard let uid = session.uid, let room = request.json["room"]?.stringValue,
                  let channel = app.channels.get(room) else { throw Refused(code: 404) }
            return .json(["code": 200, "left": .bool(channel.leave(uid: uid, session: session))])
        }
        app.remote("areaRemote.add") { (sum: Sum) async throws -> Total in
            guard sum.a >= 0 else { throw Refused(code: 422) }
            return Total(total: sum.a + sum.b, server: serverID)
        }
        return app
    }

    /// servers.json for the test cluster: `frontends` connectors and
    /// `backends` area servers.
    static func servers(frontends: [String], backends: [String]) -> [ServerEntry] {
        var list: [ServerEntry] = []
        for id in frontends {
            var e = ServerEntry(id: id, serverType: "connector")
            e.frontend = true
            e.clientPort = 0
            list.append(e)
        }
        for id in backends { list.append(ServerEntry(id: id, serverType: "area")) }
        return list
    }
}

/// A server of the test cluster, in this process, on its own loops and NATS
/// connections: exactly what a separate process would do, but for the
/// address space.
final class ClusterTestServer: @unchecked Sendable {
    let server: Server
    let id: String

    init(id: String, frontend: Bool, nats: [String], servers: [ServerEntry], threads: Int = 1,
         closed: Recorder? = nil, configure: (inout GatewayConfiguration) -> Void = { _ in }) throws {
        self.id = id
        var config = GatewayConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.threads = threads
        config.logLevel = .critical
        config.timerTickMilliseconds = 20
        config.lingerMilliseconds = 500
        config.serverID = id
        config.serverType = frontend ? "connector" : "area"
        config.isFrontend = frontend
        config.cluster = servers
        var options = ClusterOptions()
        options.name = "test"
        options.announceIntervalMilliseconds = 100
        options.requestTimeoutMilliseconds = 2000
        options.nats.urls = nats
        options.nats.reconnectWaitMilliseconds = 50
        options.nats.maxReconnectWaitMilliseconds = 200
        config.clusterOptions = options
        configure(&config)
        server = try Server(application: ClusterTestApp.make(serverID: id, closed: closed), configuration: config)
        try server.start()
    }

    var port: Int { server.port }

    /// Waits until this server sees `ids` live (and no others of their types).
    func waitForLive(_ ids: Set<String>, timeout: Double = 10) -> Bool {
        let deadline = Double(clock()) / Double(CLOCKS_PER_SEC)
        var waited = 0.0
        _ = deadline
        while waited < timeout {
            if Set(server.liveServers.map(\.id)) == ids { return true }
            usleep(10_000)
            waited += 0.01
        }
        return false
    }

    deinit {
        server.stop()
        server.wait()
    }
}

/// Strings noted from any thread.
final class Recorder: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ s: String) { list.withLock { $0.append(s) } }
    var all: [String] { list.withLock { $0 } }
}

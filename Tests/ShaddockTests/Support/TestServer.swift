import Logging
import Shaddock
import ShaddockExample
import ShaddockProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real server on a free loopback port, stopped when the test ends.
final class TestServer: @unchecked Sendable {
    let server: Server
    var port: Int { server.port }

    init(mode: Mode = .pomelo, app: Application = TestApp.make(), threads: Int = 1,
         configure: (inout GatewayConfiguration) -> Void = { _ in }) throws {
        var config = GatewayConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.threads = threads
        config.heartbeatSeconds = 3
        config.logLevel = .critical
        config.timerTickMilliseconds = 20
        config.lingerMilliseconds = 500
        configure(&config)
        server = mode == .echo ? try Server.echo(configuration: config) : try Server(application: app, configuration: config)
        try server.start()
    }

    enum Mode { case pomelo, echo }

    func counter(_ c: GatewayCounter) -> UInt64 { server.counter(c) }

    /// Waits until a counter reaches a value (counters are updated on the
    /// loop thread, a moment after the client saw the effect).
    func waitFor(_ c: GatewayCounter, atLeast n: UInt64, timeout: Double = 5) -> Bool {
        var waited = 0.0
        while server.counter(c) < n {
            if waited > timeout { return false }
            usleep(5_000)
            waited += 0.005
        }
        return true
    }

    deinit {
        server.stop()
        server.wait()
    }
}

/// The chat demo's dictionary (handler routes plus the user dictionary), so
/// the recorded handshake replies come out byte for byte, with the example
/// handler and a few for tests.
enum TestApp {
    static let chatRoutes = [
        "chat.chatHandler.notify", "chat.chatHandler.send",
        "connector.entryHandler.kickme", "connector.entryHandler.login", "connector.entryHandler.ping",
    ]
    static let userDictionary = ["onChat", "onAdd", "onLeave"]

    struct Refused: CodedError { var code: Int }
    struct Broken: Error {}

    /// Counts notifies seen by `test.testHandler.note`.
    static let notes = Atomic<Int>(0)

    /// Exactly the chat demo's routes: the recorded dictionary comes out.
    static func chatDemo() -> Application {
        let app = ExampleApp.make()
        app.declaredRoutes = chatRoutes
        app.userDictionary = userDictionary
        app.handle("connector.entryHandler.ping") { _, _ in .json(["code": 200]) }
        return app
    }

    static func make() -> Application {
        let app = chatDemo()
        app.handle("connector.testHandler.echo") { request, _ in .json(request.json) }
        app.handle("connector.testHandler.whoami") { _, session in .json(["address": .string(session.remoteAddress)]) }
        app.handle("connector.testHandler.fail") { _, _ in throw Broken() }
        app.handle("connector.testHandler.refuse") { _, _ in throw Refused(code: 503) }
        app.handle("connector.testHandler.kick") { request, session in
            session.kick(reason: request.json["reason"]?.stringValue ?? "kicked")
            return .json(["code": 200])
        }
        app.handle("connector.testHandler.push") { request, session in
            session.push(route: request.json["route"]?.stringValue ?? "onChat", body: request.json)
            return .json(["code": 200])
        }
        app.handle("connector.testHandler.big") { request, _ in
            let n = request.json["size"]?.intValue ?? 0
            return .json(["data": .string(String(repeating: "x", count: n))])
        }
        return app
    }
}

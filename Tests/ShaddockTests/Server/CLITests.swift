import Foundation
import Synchronization
import Testing

/// The `shaddock` executable as a user runs it.
@Suite struct CLITests {
    static func freePort() throws -> Int {
        let s = try TestSocketListener()
        defer { s.close() }
        return s.port
    }

    func start(_ args: [String]) throws -> (Process, CapturedOutput) {
        try ShaddockProcess.launch(args)
    }

    func connect(port: Int) throws -> PomeloTestClient {
        var lastError: Error?
        for _ in 0..<100 {
            do { return try PomeloTestClient.ready(.websocket, port: port) } catch {
                lastError = error
                usleep(50_000)
            }
        }
        throw lastError!
    }

    @Test func serveAnswersTheExampleAndStopsOnSIGTERM() throws {
        let port = try Self.freePort()
        let (process, err) = try start(["serve", "--host", "127.0.0.1", "--port", "\(port)", "--threads", "2", "--heartbeat", "5"])
        let client = try connect(port: port)
        try client.request(route: "connector.entryHandler.entry", id: 1)
        #expect((try client.expectResponse(id: 1)["msg"] as? String) == "game server is ok.")
        // SIGTERM drains: the session is told why it goes.
        process.terminate()
        try client.expectKicked(reason: "server shutting down", closeCode: 1001)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let log = err.text
        #expect(log.components(separatedBy: "listening on 127.0.0.1:\(port)").count == 3, "one line per loop")
        #expect(log.contains("stopped"))
    }

    /// SIGHUP reads the file again: a new blacklist and request rate apply
    /// while the open session stays; a bad file changes nothing.
    @Test func sighupReloadsTheFileWithoutDroppingSessions() throws {
        let port = try Self.freePort()
        func file(_ extra: String) -> String {
            #"""
            {"connector": {"host": "127.0.0.1", "threads": 1, "heartbeat": 5\#(extra)},
             "development": {"connector": [{"id": "c1", "clientPort": \#(port), "frontend": true}]}}
            """#
        }
        let path = try writeTemporary("reload", file(""))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (process, err) = try start(["serve", "--config", path])
        let client = try connect(port: port)
        try Data(file(#", "blacklist": ["127.0.0.1"], "requestRate": {"perSecond": 1, "burst": 1}"#).utf8)
            .write(to: URL(fileURLWithPath: path))
        kill(process.processIdentifier, SIGHUP)
        // New connections are refused before a byte is read...
        #expect(eventually {
            guard let socket = try? TestSocket(port: port) else { return false }
            return socket.waitForClose(timeout: 1)
        })
        // ...and the open session stays, under the new rate.
        try client.sendRaw(LimitsTests.burst(2))
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        #expect(try client.expectResponse(id: 2)["code"] as? Int == 429)
        try Data(file(#", "heartbeat": "x""#).utf8).write(to: URL(fileURLWithPath: path))
        kill(process.processIdentifier, SIGHUP)
        usleep(300_000)
        process.terminate()
        try client.expectKicked(reason: "server shutting down", closeCode: 1001)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let log = err.text
        #expect(log.contains("configuration reloaded"))
        #expect(log.contains("reload refused, nothing changed"))
    }

    @Test func helpDocumentsEveryOption() throws {
        for (command, options) in [("serve", ["--host", "--port", "--threads", "--heartbeat", "--config", "--env", "--server-id"]),
                                   ("echo", ["--host", "--port", "--threads", "--max-message-bytes"])] {
            let p = Process()
            p.executableURL = ShaddockProcess.binary
            p.arguments = [command, "--help"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for o in options { #expect(text.contains(o), "\(command) --help lacks \(o)") }
        }
    }

    @Test func echoTakesALargerMessageLimit() throws {
        let port = try Self.freePort()
        let (process, _) = try start(["echo", "--host", "127.0.0.1", "--port", "\(port)", "--threads", "1",
                                      "--max-message-bytes", "\(16 << 20)"])
        defer { process.terminate(); process.waitUntilExit() }
        var socket: WebSocketTestClient?
        for _ in 0..<100 where socket == nil {
            socket = try? WebSocketTestClient.connect(port: port).0
            if socket == nil { usleep(50_000) }
        }
        let ws = try #require(socket)
        // Past the default limit of 64 KiB.
        let message = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        try ws.sendBinary(message)
        #expect(try ws.readMessage().payload == message)
        #expect(try refused(["echo", "--max-message-bytes", "\((64 << 20) + 1)"]).contains("maxMessageBytes"))
    }

    func writeTemporary(_ name: String, _ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "shaddock-\(name)-\(getpid()).json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs `serve` with arguments that must not start it; returns its log.
    func refused(_ args: [String]) throws -> String {
        let (process, err) = try start(args)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        return err.text
    }

    /// The handshake reply of a server starting on `port`, once it answers.
    func handshake(port: Int) -> [String: Any] {
        for _ in 0..<100 {
            if let client = try? PomeloTestClient.connect(.tcp, port: port), let r = try? client.handshake() { return r }
            usleep(50_000)
        }
        return [:]
    }

    @Test func badConfigurationStopsStartUpNamingTheKey() throws {
        let path = try writeTemporary("bad", #"{"connector": {"heartbeat": 3, "heartbeet": 4}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try refused(["serve", "--config", path, "--port", "0"]).contains("connector.heartbeet"))
    }

    @Test func configFileIsApplied() throws {
        let port = try Self.freePort()
        let path = try writeTemporary("good", #"""
            {"connector": {"host": "127.0.0.1", "threads": 1, "heartbeat": 7},
             "development": {"connector": [{"id": "c1", "clientPort": \#(port), "frontend": true}]}}
            """#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (process, _) = try start(["serve", "--config", path])
        defer { process.terminate(); process.waitUntilExit() }
        #expect(((handshake(port: port)["sys"] as? [String: Any])?["heartbeat"] as? Int) == 7)
    }

    /// Pomelo's servers.json as a Pomelo project has it: no connector section.
    static func pomeloServers(development: Int, production: Int, extra: String = "") -> String {
        #"""
        {
          "development": {
            "connector": [{"id": "connector-server-1", "host": "127.0.0.1", "port": 3150, "clientHost": "127.0.0.1",
                           "clientPort": \#(development), "frontend": true}],
            "chat": [{"id": "chat-server-1", "host": "127.0.0.1", "port": 6050\#(extra)}]
          },
          "production": {
            "connector": [{"id": "connector-server-1", "host": "127.0.0.1", "port": 3150, "clientPort": 1, "frontend": true},
                          {"id": "connector-server-2", "host": "127.0.0.1", "port": 3151, "clientPort": \#(production),
                           "frontend": true, "max-connections": 100}]
          }
        }
        """#
    }

    @Test func plainServersJSONLoads() throws {
        let (development, production) = (try Self.freePort(), try Self.freePort())
        let path = try writeTemporary("servers", Self.pomeloServers(development: development, production: production))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for (args, port) in [([String](), development), (["--env", "production", "--server-id", "connector-server-2"], production)] {
            let (process, _) = try start(["serve", "--config", path, "--threads", "1"] + args)
            #expect((handshake(port: port)["code"] as? Int) == 200, "\(args)")
            process.terminate()
            process.waitUntilExit()
        }
    }

    @Test func anUnknownKeyAnywhereStopsStartUpNamingItsPath() throws {
        let path = try writeTemporary("unknown", Self.pomeloServers(development: 1, production: 2, extra: #", "bogus": 1"#))
        defer { try? FileManager.default.removeItem(atPath: path) }
        // The key is in a server this one does not run as, in either environment.
        #expect(try refused(["serve", "--config", path]).contains("development.chat[0].bogus"))
        #expect(try refused(["serve", "--config", path, "--env", "production"]).contains("development.chat[0].bogus"))
    }

    @Test func selectionErrorsStopStartUp() throws {
        let path = try writeTemporary("select", Self.pomeloServers(development: 1, production: 2))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let noEnv = try refused(["serve", "--config", path, "--env", "staging"])
        #expect(noEnv.contains("staging") && noEnv.contains("\"development\", \"production\""))
        #expect(try refused(["serve", "--config", path, "--server-id", "chat-server-1"]).contains("development.chat[0]"))
        #expect(try refused(["serve", "--config", path, "--server-id", "nobody"]).contains("nobody"))
    }
}

/// A listening socket on a free loopback port, to find one for a child process.
final class TestSocketListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    func close() { Glibc.close(fd) }
}

/// A child's output, read as it comes on a thread of its own, so a chatty
/// child (a sanitizer's report at exit, say) never blocks on a full pipe.
final class CapturedOutput: @unchecked Sendable {
    private let data = Mutex(Data())
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        detachThread {
            while case let chunk = pipe.fileHandleForReading.availableData, !chunk.isEmpty {
                self.data.withLock { $0.append(chunk) }
            }
            self.done.signal()
        }
    }

    /// Everything the child wrote; waits for it to close its end.
    var text: String {
        done.wait()
        done.signal()
        return soFar
    }

    /// What the child has written until now (it may still be running).
    var soFar: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}

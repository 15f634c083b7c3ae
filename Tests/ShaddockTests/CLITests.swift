import Foundation
import Testing

/// The `shaddock` executable as a user runs it.
@Suite struct CLITests {
    static var binary: URL {
        // Tests run from the build folder that holds the executable.
        let bundle = Bundle.main.bundleURL
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("shaddock")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/shaddock")
    }

    static func freePort() throws -> Int {
        let s = try TestSocketListener()
        defer { s.close() }
        return s.port
    }

    func start(_ args: [String]) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return (p, err)
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
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.components(separatedBy: "listening on 127.0.0.1:\(port)").count == 3, "one line per loop")
        #expect(log.contains("stopped"))
    }

    @Test func helpDocumentsEveryOption() throws {
        for (command, options) in [("serve", ["--host", "--port", "--threads", "--heartbeat", "--config"]),
                                   ("echo", ["--host", "--port", "--threads"])] {
            let p = Process()
            p.executableURL = Self.binary
            p.arguments = [command, "--help"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for o in options { #expect(text.contains(o), "\(command) --help lacks \(o)") }
        }
    }

    @Test func badConfigurationStopsStartUpNamingTheKey() throws {
        let path = NSTemporaryDirectory() + "shaddock-bad-\(getpid()).json"
        try Data(#"{"heartbeat": 3, "heartbeet": 4}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (process, err) = try start(["serve", "--config", path, "--port", "0"])
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("heartbeet"))
    }

    @Test func configFileIsApplied() throws {
        let port = try Self.freePort()
        let path = NSTemporaryDirectory() + "shaddock-good-\(getpid()).json"
        try Data(#"{"host":"127.0.0.1","port":\#(port),"threads":1,"heartbeat":7}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (process, _) = try start(["serve", "--config", path])
        defer { process.terminate(); process.waitUntilExit() }
        var reply: [String: Any] = [:]
        for _ in 0..<100 {
            if let client = try? PomeloTestClient.connect(.tcp, port: port), let r = try? client.handshake() {
                reply = r
                break
            }
            usleep(50_000)
        }
        #expect(((reply["sys"] as? [String: Any])?["heartbeat"] as? Int) == 7)
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

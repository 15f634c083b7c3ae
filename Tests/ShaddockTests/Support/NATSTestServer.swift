import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `nats-server` (Debian's, installed by `./run test`) on a free
/// loopback port, stopped when the test ends.
final class NATSTestServer: @unchecked Sendable {
    let port: Int
    /// The address it listens on (loopback, or a NetworkNamespace's pair).
    let host: String
    private var process: Process?

    var url: String { "nats://\(host):\(port)" }

    /// More `nats-server` options (cluster routes, say).
    private let extraArguments: [String]

    init(port: Int? = nil, host: String = "127.0.0.1", arguments: [String] = []) throws {
        self.port = try port ?? freeLoopbackPort()
        self.host = host
        extraArguments = arguments
        try start()
    }

    /// `count` servers joined by routes into one NATS cluster.
    static func cluster(_ count: Int) throws -> [NATSTestServer] {
        let routePorts = try (0..<count).map { _ in try freeLoopbackPort() }
        return try routePorts.map { own in
            let routes = routePorts.filter { $0 != own }.map { "nats://127.0.0.1:\($0)" }.joined(separator: ",")
            return try NATSTestServer(arguments: ["--cluster_name", "test", "--cluster", "nats://127.0.0.1:\(own)",
                                                  "--routes", routes])
        }
    }

    var pid: pid_t? { process?.processIdentifier }

    static var isInstalled: Bool { executable != nil }

    private static let executable: String? = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Starts it (again, on the same port) and waits until it takes connections.
    func start() throws {
        guard let path = Self.executable else { throw TestFailure("nats-server is not installed (./run test installs it)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["-a", host, "-p", String(port)] + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if canConnect(port: port, host: host) { return }
            usleep(20_000)
        }
        throw TestFailure("nats-server did not start on port \(port)")
    }

    /// Kills it (SIGKILL): its clients see the connection drop.
    func kill() {
        guard let p = process, p.isRunning else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    /// Stops it (SIGTERM) and waits for it to exit.
    func stop() {
        guard let p = process, p.isRunning else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    deinit { stop() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A port nobody listens on now (bound then released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { throw TestFailure("bind failed") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func canConnect(port: Int, host: String = "127.0.0.1") -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr(host)
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

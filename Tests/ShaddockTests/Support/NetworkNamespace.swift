import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A network namespace joined to this one by a veth pair: a process started
/// in it (`prefix`) reaches `hostAddress` over the pair, and `cut()` drops
/// the pair's link on the namespace's side, so that nothing passes and
/// neither end is told (a half-open TCP connection, as a broken switch or
/// a lost route makes). Needs root and `ip` (iproute2, installed by
/// `./run test`); removed when the test ends.
final class NetworkNamespace: @unchecked Sendable {
    let name: String
    /// This side's address on the pair, and the namespace's.
    let hostAddress: String
    let innerAddress: String
    private let inner: String

    /// Root and `ip`.
    static var isAvailable: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: ip)
    }
    private static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"]
        .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"

    init() throws {
        // Unique per process and instance: tests of several runs may overlap.
        let tag = UInt32(getpid() & 0xffff) << 8 | UInt32.random(in: 0...255)
        name = "shd\(tag)"
        let host = "shdh\(tag)", inner = "shdn\(tag)"
        self.inner = inner
        // A /30 of 10.211.0.0/16 from the tag: 16,384 of them.
        let net = Int(tag % 16_384) * 4
        hostAddress = "10.211.\(net / 256).\(net % 256 + 1)"
        innerAddress = "10.211.\(net / 256).\(net % 256 + 2)"
        try Self.run(["netns", "add", name])
        do {
            try Self.run(["link", "add", host, "type", "veth", "peer", "name", inner, "netns", name])
            try Self.run(["addr", "add", "\(hostAddress)/30", "dev", host])
            try Self.run(["link", "set", host, "up"])
            try Self.run(["-n", name, "addr", "add", "\(innerAddress)/30", "dev", inner])
            try Self.run(["-n", name, "link", "set", inner, "up"])
            try Self.run(["-n", name, "link", "set", "lo", "up"])
        } catch {
            try? Self.run(["netns", "del", name])
            throw error
        }
    }

    /// What runs a command inside the namespace (`ip netns exec` execs it,
    /// so the pid is the command's own).
    var prefix: [String] { [Self.ip, "netns", "exec", name] }

    /// Drops the link: packets both ways are lost, and no one is told.
    func cut() throws { try Self.run(["-n", name, "link", "set", inner, "down"]) }

    /// Brings it back.
    func restore() throws { try Self.run(["-n", name, "link", "set", inner, "up"]) }

    deinit {
        // Deleting the namespace also deletes the pair.
        try? Self.run(["netns", "del", name])
    }

    private static func run(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ip)
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw TestFailure("ip \(arguments.joined(separator: " ")): \(text)")
        }
    }
}

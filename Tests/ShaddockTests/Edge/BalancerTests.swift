import Foundation
@testable import Shaddock
import Testing

/// deploy/'s balancer configurations, as shipped but for addresses and
/// sizes, in front of two gateways that require the PROXY protocol: the
/// player's address reaches the gateway, and (HAProxy) a gateway that
/// drains gets no new players while its own keep being served.
@Suite(.serialized) struct BalancerTests {
    static let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let nginx = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")
        && FileManager.default.fileExists(atPath: "/usr/lib/nginx/modules/ngx_stream_module.so")

    static func gateway() throws -> TestServer {
        try TestServer { config in
            config.adminPort = 0
            config.proxyProtocol = ProxyProtocolOptions(trusted: ["127.0.0.1"], required: true)
        }
    }

    /// The shipped file with each `(from, to)` replaced; every `from` must
    /// be there, so that a change to the file shows up here.
    static func config(_ path: String, _ replacements: [(String, String)]) throws -> String {
        var text = try String(contentsOfFile: repositoryRoot.appendingPathComponent(path).path, encoding: .utf8)
        for (from, to) in replacements {
            guard text.contains(from) else { throw TestFailure("\(path) no longer has \"\(from)\"") }
            text = text.replacingOccurrences(of: from, with: to)
        }
        return text
    }

    static func start(_ executable: String, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// A player from 127.0.0.9 through the balancer: the address its
    /// gateway sees.
    static func player(_ port: Int, id: Int = 1) throws -> (PomeloTestClient, String?) {
        var last: Error?
        for _ in 0..<100 {
            do {
                let client = PomeloTestClient(transport: .tcp(try TestSocket(port: port, source: "127.0.0.9")))
                return (client, try ProxyProtocolTests.whoami(client, id: id))
            } catch {
                last = error
                usleep(50_000)
            }
        }
        throw last!
    }

    /// `count` players held at once, each checked to be seen as itself.
    static func players(_ count: Int, _ port: Int, firstID: Int) throws -> [PomeloTestClient] {
        try (0..<count).map { i in
            let (client, address) = try player(port, id: firstID + i)
            #expect(address == "127.0.0.9", "the player's address, not the balancer's")
            return client
        }
    }

    @Test(.enabled(if: haproxy != nil, "haproxy is not installed (./run test installs it)"))
    func haproxySendsThePlayerAndDrainsAGateway() throws {
        let gateways = [try Self.gateway(), try Self.gateway()]
        let port = try freeLoopbackPort()
        let text = try Self.config("deploy/haproxy/haproxy.cfg", [
            ("maxconn 1000000", "maxconn 2000"),
            ("bind :3010", "bind 127.0.0.1:\(port)"),
            ("10.0.0.11:3010 send-proxy-v2 check port 9100", "127.0.0.1:\(gateways[0].port) send-proxy-v2 check port \(gateways[0].server.adminPort!)"),
            ("10.0.0.12:3010 send-proxy-v2 check port 9100", "127.0.0.1:\(gateways[1].port) send-proxy-v2 check port \(gateways[1].server.adminPort!)"),
        ])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("haproxy-\(port).cfg").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let balancer = try Self.start(Self.haproxy!, ["-db", "-f", file])
        defer { balancer.terminate(); balancer.waitUntilExit() }
        // Players held at once: least connections spreads them over both.
        var players = try Self.players(4, port, firstID: 1)
        #expect(gateways.allSatisfy { $0.counter(.connectionsAccepted) == 2 }, "\(gateways.map { $0.counter(.connectionsAccepted) })")
        // Draining: /healthz answers 503, and after two checks (1 s apart)
        // the balancer sends new players to the other gateway only.
        gateways[0].server.setHealth(draining: true)
        Thread.sleep(forTimeInterval: 3)
        players += try Self.players(4, port, firstID: 10)
        #expect(gateways[0].counter(.connectionsAccepted) == 2 && gateways[1].counter(.connectionsAccepted) == 6)
        // The drained gateway's players are still served.
        for (i, client) in players.prefix(4).enumerated() {
            try client.request(route: "connector.testHandler.whoami", id: 100 + i)
            #expect(try client.expectResponse(id: 100 + i)["address"] as? String == "127.0.0.9")
        }
        #expect(gateways.allSatisfy { $0.server.transportStats().proxyHeadersV2 == $0.counter(.connectionsAccepted) })
    }

    @Test(.enabled(if: nginx, "nginx with its stream module is not installed (./run test installs it)"))
    func nginxSendsThePlayer() throws {
        let gateways = [try Self.gateway(), try Self.gateway()]
        let port = try freeLoopbackPort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nginx-\(port)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = try Self.config("deploy/nginx/nginx.conf", [
            ("worker_processes auto;", "worker_processes 1;\npid \(dir)/nginx.pid;\nerror_log \(dir)/error.log;"),
            ("worker_rlimit_nofile 1048576;", "worker_rlimit_nofile 4096;"),
            ("worker_connections 524288;", "worker_connections 1024;"),
            ("/var/log/nginx/players.log", "\(dir)/players.log"),
            ("listen 3010 reuseport;", "listen 127.0.0.1:\(port);"),
            ("server 10.0.0.11:3010", "server 127.0.0.1:\(gateways[0].port)"),
            ("server 10.0.0.12:3010", "server 127.0.0.1:\(gateways[1].port)"),
        ])
        try text.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
        let balancer = try Self.start("/usr/sbin/nginx", ["-p", dir, "-c", dir + "/nginx.conf", "-g", "daemon off;"])
        defer { balancer.terminate(); balancer.waitUntilExit() }
        let players = try Self.players(4, port, firstID: 1)
        #expect(gateways.allSatisfy { $0.server.transportStats().proxyHeadersV1 == 2 })
        _ = players
    }
}

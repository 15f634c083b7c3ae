import Foundation
@testable import Shaddock
import Testing

/// HTTP reverse proxies in front of the WebSocket endpoint: from a trusted
/// one, the right-most untrusted address of `Forwarded` or
/// `X-Forwarded-For` is the session's address, judged again by the
/// blacklist; from anyone else, the headers are ignored.
@Suite struct ForwardedUpgradeTests {
    static func server(trusted: [String] = ["127.0.0.1"], _ configure: (inout GatewayConfiguration) -> Void = { _ in }) throws -> TestServer {
        try TestServer { config in
            config.proxyProtocol = ProxyProtocolOptions(trusted: trusted)
            configure(&config)
        }
    }

    /// Upgrades with `headers` (from `source`), then asks who it is; nil
    /// when the upgrade was refused or the connection closed.
    static func whoami(_ server: TestServer, _ headers: [(String, String)], source: String? = nil) throws -> String? {
        let socket = try TestSocket(port: server.port, source: source)
        try socket.send(Self.request(headers))
        guard let head = try? WebSocketTestClient.readResponseHead(from: socket, timeout: 5), head.statusCode == 101 else {
            return nil
        }
        let client = PomeloTestClient(transport: .websocket(WebSocketTestClient(socket: socket)))
        return try ProxyProtocolTests.whoami(client)
    }

    /// An upgrade request with `headers` after the usual ones, repeated
    /// names kept.
    static func request(_ headers: [(String, String)]) -> [UInt8] {
        var text = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    @Test func theRightMostUntrustedAddressOfATrustedProxy() throws {
        let server = try Self.server()
        #expect(try Self.whoami(server, [("X-Forwarded-For", "203.0.113.5")]) == "203.0.113.5")
        // 10.0.0.1 is not trusted: it is the client, whatever it claims before it.
        #expect(try Self.whoami(server, [("X-Forwarded-For", "203.0.113.5, 10.0.0.1")]) == "10.0.0.1")
        #expect(try Self.whoami(server, [("Forwarded", #"for="[2001:db8::9]:4711";proto=https"#)]) == "2001:db8::9")
        // An entry that is no address makes the header worthless.
        #expect(try Self.whoami(server, [("X-Forwarded-For", "unknown")]) == "127.0.0.1")
        #expect(try Self.whoami(server, []) == "127.0.0.1")
        #expect(server.counter(.forwardedClients) == 3)
    }

    @Test func aChainOfTrustedProxies() throws {
        let server = try Self.server(trusted: ["127.0.0.1", "10.0.0.0/8"])
        #expect(try Self.whoami(server, [("X-Forwarded-For", "198.51.100.7, 10.1.2.3"), ("X-Forwarded-For", "10.0.0.1")])
                == "198.51.100.7")
        // Every hop trusted: the left-most.
        #expect(try Self.whoami(server, [("X-Forwarded-For", "10.9.9.9, 10.0.0.1")]) == "10.9.9.9")
    }

    @Test func fromAnyoneElseTheHeadersAreIgnored() throws {
        let server = try Self.server(trusted: ["127.0.0.1"])
        #expect(try Self.whoami(server, [("X-Forwarded-For", "203.0.113.5")], source: "127.0.0.2") == "127.0.0.2")
        let untrusting = try TestServer()
        #expect(try Self.whoami(untrusting, [("X-Forwarded-For", "203.0.113.5")]) == "127.0.0.1")
        #expect(server.counter(.forwardedClients) == 0)
    }

    @Test func theBlacklistAndThePerAddressLimitJudgeTheForwardedClient() throws {
        let server = try Self.server { config in
            config.blacklist = ["203.0.113.0/24"]
            config.maxConnectionsPerAddress = 1
        }
        #expect(try Self.whoami(server, [("X-Forwarded-For", "203.0.113.5")]) == nil)
        #expect(server.counter(.blacklistRefused) == 1)
        let first = try TestSocket(port: server.port)
        try first.send(Self.request([("X-Forwarded-For", "198.51.100.1")]))
        #expect(try WebSocketTestClient.readResponseHead(from: first, timeout: 5).statusCode == 101)
        // The proxy's own address is free again: a second player through it is let in...
        #expect(try Self.whoami(server, [("X-Forwarded-For", "198.51.100.2")]) == "198.51.100.2")
        // ...but not a second connection of the same player.
        #expect(try Self.whoami(server, [("X-Forwarded-For", "198.51.100.1")]) == nil)
        #expect(server.counter(.addressLimitRefused) == 1)
    }
}

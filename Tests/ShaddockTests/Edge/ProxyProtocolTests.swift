import Foundation
import ShaddockProtocol
@testable import Shaddock
import Testing

/// The PROXY protocol on the client port over real sockets: the client a
/// trusted balancer names is the connection's address everywhere (the
/// session, the blacklist, the per-address limit); headers from anyone
/// else, malformed, truncated, late or missing ones are closed and counted
/// before a byte of the connection is processed.
@Suite struct ProxyProtocolTests {
    static func server(trusted: [String] = ["127.0.0.1"], required: Bool = false,
                       _ configure: (inout GatewayConfiguration) -> Void = { _ in }) throws -> TestServer {
        try TestServer { config in
            // Generous: a header sent a byte at a time on a loaded machine
            // (sanitizers) must not meet the deadline, which a test of its
            // own sets short.
            config.proxyProtocol = ProxyProtocolOptions(trusted: trusted, required: required, timeoutSeconds: 60)
            configure(&config)
        }
    }

    static func v1(_ client: String, family: String = "TCP4", port: Int = 40000) -> [UInt8] {
        let server = family == "TCP4" ? "127.0.0.1" : "::1"
        return Array("PROXY \(family) \(client) \(server) \(port) 3010\r\n".utf8)
    }

    /// A Pomelo-over-TCP client whose connection starts with `header`.
    static func client(_ server: TestServer, header: [UInt8], source: String? = nil) throws -> PomeloTestClient {
        let socket = try TestSocket(port: server.port, source: source)
        try socket.send(header)
        return PomeloTestClient(transport: .tcp(socket))
    }

    static func whoami(_ client: PomeloTestClient, id: Int = 1) throws -> String? {
        _ = try client.connectAndHandshake()
        try client.request(route: "connector.testHandler.whoami", id: id)
        return try client.expectResponse(id: id)["address"] as? String
    }

    static func waitForStats(_ server: TestServer, _ done: (TransportStats) -> Bool) -> Bool {
        for _ in 0..<2000 {
            if done(server.server.transportStats()) { return true }
            usleep(10_000)
        }
        return false
    }

    @Test func aTrustedBalancersHeaderNamesTheClient() throws {
        let server = try Self.server()
        #expect(try Self.whoami(try Self.client(server, header: Self.v1("203.0.113.7"))) == "203.0.113.7")
        #expect(try Self.whoami(try Self.client(server, header: Self.v1("2001:db8::7", family: "TCP6"))) == "2001:db8::7")
        // Version 2 with TLVs, and the header sent one byte at a time.
        let v2 = ProxyHeaderParserTests.v2(0x21, 0x11, [198, 51, 100, 9, 127, 0, 0, 1, 0xC3, 0x50, 0x0B, 0xC2,
                                                        0x01, 0x00, 0x02, 0x68, 0x32])
        let socket = try TestSocket(port: server.port)
        try socket.sendByteByByte(v2, pause: 500)
        let got = Result { try Self.whoami(PomeloTestClient(transport: .tcp(socket))) }
        #expect((try? got.get()) == "198.51.100.9", "\(got) \(server.server.transportStats())")
        // LOCAL, a balancer's health check: the balancer's own address.
        let local = try Self.client(server, header: ProxyHeaderParserTests.v2(0x20, 0x00, []))
        #expect(try Self.whoami(local) == "127.0.0.1")
        // Not required: a trusted peer may also come without a header.
        #expect(try Self.whoami(try PomeloTestClient.tcp(port: server.port)) == "127.0.0.1")
        #expect(Self.waitForStats(server) {
            $0.proxyHeadersV1 == 2 && $0.proxyHeadersV2 == 1 && $0.proxyHeadersLocal == 1 && $0.proxyBad == 0
        })
    }

    @Test func theHeaderComesInTheSameWriteAsWhatFollows() throws {
        let server = try Self.server()
        let socket = try TestSocket(port: server.port)
        let client = PomeloTestClient(transport: .tcp(socket))
        try socket.send(Self.v1("192.0.2.55") + PomeloWire.encodePackage(type: 1, body: Array(#"{"sys":{"type":"t","version":"1"}}"#.utf8)))
        let reply = try client.readPackage()
        #expect(reply.type == 1)
        try client.ack()
        _ = try client.readPackage()
        try client.request(route: "connector.testHandler.whoami", id: 3)
        #expect(try client.expectResponse(id: 3)["address"] as? String == "192.0.2.55")
    }

    @Test func theBlacklistAndThePerAddressLimitSeeTheClient() throws {
        let server = try Self.server { config in
            config.blacklist = ["203.0.113.0/24"]
            config.maxConnectionsPerAddress = 1
        }
        let banned = try Self.client(server, header: Self.v1("203.0.113.99"))
        #expect(banned.socket.waitForClose())
        #expect(server.waitFor(.blacklistRefused, atLeast: 1))
        let first = try Self.client(server, header: Self.v1("198.51.100.1"))
        #expect(try Self.whoami(first) == "198.51.100.1")
        let second = try Self.client(server, header: Self.v1("198.51.100.1"))
        #expect(second.socket.waitForClose(), "one connection per client address, though all come from 127.0.0.1")
        #expect(server.waitFor(.addressLimitRefused, atLeast: 1))
        #expect(try Self.whoami(try Self.client(server, header: Self.v1("198.51.100.2"))) == "198.51.100.2")
    }

    @Test func aHeaderFromAnUntrustedPeerIsRefused() throws {
        let server = try Self.server(trusted: ["127.0.0.1"])
        let forged = try Self.client(server, header: Self.v1("10.9.9.9"), source: "127.0.0.2")
        #expect(forged.socket.waitForClose())
        #expect(Self.waitForStats(server) { $0.proxyUntrusted == 1 })
        // The same peer without a header is served with its own address.
        let direct = PomeloTestClient(transport: .tcp(try TestSocket(port: server.port, source: "127.0.0.2")))
        #expect(try Self.whoami(direct) == "127.0.0.2")
    }

    @Test func requiredRefusesUntrustedPeersAndMissingHeaders() throws {
        let server = try Self.server(trusted: ["127.0.0.1"], required: true)
        let stranger = PomeloTestClient(transport: .tcp(try TestSocket(port: server.port, source: "127.0.0.2")))
        #expect(stranger.socket.waitForClose())
        let bare = try PomeloTestClient.tcp(port: server.port)
        try bare.sendPackage(type: 1, body: Array("{}".utf8))
        #expect(bare.socket.waitForClose())
        #expect(Self.waitForStats(server) { $0.proxyUntrusted == 1 && $0.proxyMissing == 1 })
        #expect(try Self.whoami(try Self.client(server, header: Self.v1("192.0.2.1"))) == "192.0.2.1")
        #expect(server.counter(.handshakes) == 1, "nothing of the refused connections was processed")
    }

    @Test func malformedTruncatedAndLateHeadersAreClosedAndCounted() throws {
        let server = try Self.server { $0.proxyProtocol?.timeoutSeconds = 0.3 }
        let malformed = try Self.client(server, header: Array("PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n".utf8))
        #expect(malformed.socket.waitForClose())
        let truncated = try TestSocket(port: server.port)
        try truncated.send(Array("PROXY TCP4 192.0.2".utf8))
        shutdown(truncated.fd, Int32(SHUT_WR))
        #expect(truncated.waitForClose())
        let late = try TestSocket(port: server.port)
        try late.send(Array(ProxyHeaderParserTests.signature.prefix(8)))
        #expect(late.waitForClose(timeout: 3))
        #expect(Self.waitForStats(server) { $0.proxyBad == 2 && $0.proxyTimeouts == 1 })
        #expect(server.counter(.handshakes) == 0 && server.counter(.connectionsAccepted) == 0,
                "the layers above never heard of them")
    }

    /// HAProxy's `send-proxy-v2` in front of TLS: the header in plaintext,
    /// then the ClientHello.
    @Test func aHeaderBeforeTLS() throws {
        let files = try TLSTestFiles.get()
        let server = try Self.server { $0.tls = TLSTests.tls(files) }
        let header = ProxyHeaderParserTests.v2(0x21, 0x11, [198, 51, 100, 77, 127, 0, 0, 1, 0x9C, 0x40, 0x0B, 0xC2])
        let hex = header.map { String(format: "%02x", $0) }.joined()
        let result = try TLSTests.client("whoami", server.port, files, [hex])
        #expect((result["answer"] as? [String: Any])?["address"] as? String == "198.51.100.77", "\(result)")
        #expect(result["version"] as? String == "TLSv1.3")
        #expect(Self.waitForStats(server) { $0.proxyHeadersV2 == 1 && $0.tlsFullHandshakes == 1 })
    }

    @Test func theTrustListFollowsAReload() throws {
        let server = try Self.server(trusted: ["127.0.0.2"])
        let before = try Self.client(server, header: Self.v1("192.0.2.8"))
        #expect(before.socket.waitForClose(), "127.0.0.1 is not trusted yet")
        var file = GatewayConfiguration()
        file.host = "127.0.0.1"
        file.proxyProtocol = ProxyProtocolOptions(trusted: ["127.0.0.0/8"])
        _ = try server.server.reload(file)
        #expect(try Self.whoami(try Self.client(server, header: Self.v1("192.0.2.8"))) == "192.0.2.8")
    }

    @Test func theFileSectionIsReadAndCheckedEntryByEntry() throws {
        func read(_ section: JSONValue) throws -> GatewayConfiguration {
            try GatewayConfiguration(file: ["connector": ["proxyProtocol": section]], directory: "",
                                     environment: "development", serverID: nil)
        }
        let config = try read(["trusted": ["10.0.0.0/8", "::1"], "required": true, "timeout": 2])
        #expect(config.proxyProtocol == ProxyProtocolOptions(trusted: ["10.0.0.0/8", "::1"], required: true, timeoutSeconds: 2))
        #expect(throws: ConfigurationError.invalid("connector.proxyProtocol.trusted[1]", "\"10.0.0.0/33\" is not an address or a CIDR block")) {
            try read(["trusted": ["127.0.0.1", "10.0.0.0/33"]]).validate()
        }
        #expect(throws: ConfigurationError.invalid("connector.proxyProtocol.trusted", "is required")) {
            try read(["required": true])
        }
        #expect(throws: ConfigurationError.unknownKey("connector.proxyProtocol.bogus")) {
            try read(["trusted": ["127.0.0.1"], "bogus": 1])
        }
    }
}

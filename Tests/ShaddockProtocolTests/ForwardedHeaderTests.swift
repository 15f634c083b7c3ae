import Testing
@testable import ShaddockProtocol

/// The clients named by `Forwarded` and `X-Forwarded-For` in an upgrade
/// request: every header line in order, ports and brackets taken off,
/// quotes honoured; `Forwarded` first when both are there.
@Suite struct ForwardedHeaderTests {
    static func clients(_ extra: [String]) -> [String] {
        let bytes = UpgradeRequestParserTests.head(UpgradeRequestParserTests.goodHeaders + extra)
        return bytes.withUnsafeBytes { b -> [String] in
            guard case .request(let request) = UpgradeRequestParser.parseHead(b, length: bytes.count) else { return ["refused"] }
            return ForwardedHeader.clients(b, request).map(String.init)
        }
    }

    @Test func xForwardedFor() {
        #expect(Self.clients([]) == [])
        #expect(Self.clients(["X-Forwarded-For: 203.0.113.5"]) == ["203.0.113.5"])
        #expect(Self.clients(["X-Forwarded-For: 203.0.113.5, 10.0.0.1 ,10.0.0.2"]) == ["203.0.113.5", "10.0.0.1", "10.0.0.2"])
        // Several lines make one list, in order.
        #expect(Self.clients(["x-forwarded-for: 203.0.113.5", "X-Forwarded-For: 10.0.0.1"]) == ["203.0.113.5", "10.0.0.1"])
        #expect(Self.clients(["X-Forwarded-For: 192.0.2.1:4711, [2001:db8::1]:443, 2001:db8::2"])
                == ["192.0.2.1", "2001:db8::1", "2001:db8::2"])
        #expect(Self.clients(["X-Forwarded-For: unknown, "]) == ["unknown", ""])
    }

    @Test func forwarded() {
        #expect(Self.clients(["Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43"]) == ["192.0.2.60"])
        #expect(Self.clients(["Forwarded: For=\"[2001:db8:cafe::17]:4711\", for=198.51.100.17"])
                == ["2001:db8:cafe::17", "198.51.100.17"])
        #expect(Self.clients(["Forwarded: proto=https;for=\"198.51.100.9\";host=game.example", "Forwarded: for=_hidden"])
                == ["198.51.100.9", "_hidden"])
        // A comma inside quotes does not split.
        #expect(Self.clients(["Forwarded: for=\"a,b\";by=x, for=192.0.2.1"]) == ["a,b", "192.0.2.1"])
        // Forwarded wins over X-Forwarded-For.
        #expect(Self.clients(["X-Forwarded-For: 203.0.113.5", "Forwarded: for=192.0.2.60"]) == ["192.0.2.60"])
    }
}

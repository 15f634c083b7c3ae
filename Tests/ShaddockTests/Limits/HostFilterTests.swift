import Foundation
import Shaddock
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The host filter at accept: the blacklist (addresses, CIDR blocks,
/// patterns; reloadable) and max-connections. A refused connection is closed
/// before any byte is read, so it gets no answer at all.
@Suite struct HostFilterTests {
    static let transports = TransportKind.allCases
    /// Each matches the test clients' 127.0.0.1: as an address, a block, a pattern.
    static let matching = ["127.0.0.1", "127.0.0.0/8", #"^127\."#]

    @Test(arguments: matching, transports)
    func blacklistedPeerIsClosedWithoutAByte(_ entry: String, _ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make()) { $0.blacklist = [entry] }
        #expect(try bytesBeforeClose(kind, port: server.port) == [])
        #expect(server.waitFor(.blacklistRefused, atLeast: 1))
        #expect(try bytesBeforeClose(kind, port: server.port) == [])
        #expect(server.waitFor(.blacklistRefused, atLeast: 2))
        #expect(server.counter(.blacklistRefused) == 2)
        #expect(server.counter(.handshakes) == 0)
        #expect(server.counter(.websocketUpgrades) == 0)
        #expect(server.server.sessions.count == 0)
    }

    @Test(arguments: transports)
    func nonMatchingBlacklistLetsClientsIn(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make()) {
            // Near misses: another address, the block next door, a pattern
            // that would match only unanchored, an IPv6 loopback.
            $0.blacklist = ["127.0.0.2", "10.0.0.1", "126.0.0.0/8", "128.0.0.0/1", #"^27\."#, "::1"]
        }
        let client = try PomeloTestClient.ready(kind, port: server.port)
        try roundTrip(client, id: 1)
        #expect(server.counter(.blacklistRefused) == 0)
    }

    /// A reload applies to new connections only; an open session stays.
    @Test(arguments: transports)
    func reloadTurnsTheBlacklistOnAndOff(_ kind: TransportKind) throws {
        // One loop: a round trip on `open` shows the loop has taken the new list.
        let server = try TestServer(app: PushTestApp.make())
        let open = try PomeloTestClient.ready(kind, port: server.port)

        try server.server.reloadBlacklist(["127.0.0.0/8"])
        try roundTrip(open, id: 1)
        #expect(try bytesBeforeClose(kind, port: server.port) == [])
        #expect(server.waitFor(.blacklistRefused, atLeast: 1))
        try roundTrip(open, id: 2)

        // A list with a bad entry changes nothing.
        #expect(throws: ConfigurationError.self) { try server.server.reloadBlacklist(["10.0.0.0/99"]) }
        try roundTrip(open, id: 3)
        #expect(try bytesBeforeClose(kind, port: server.port) == [])

        try server.server.reloadBlacklist([])
        try roundTrip(open, id: 4)
        let later = try PomeloTestClient.ready(kind, port: server.port)
        try roundTrip(later, id: 1)
        try roundTrip(open, id: 5)
        #expect(server.counter(.blacklistRefused) == 2)
        #expect(server.server.sessions.count == 2)
    }

    /// `maxConnections = 2`: a third connection is closed without a byte
    /// until one of the two has closed.
    @Test(arguments: transports)
    func connectionLimitRefusesUntilOneCloses(_ kind: TransportKind) throws {
        let server = try TestServer(app: PushTestApp.make(), threads: 2) { $0.maxConnections = 2 }
        let first = try PomeloTestClient.ready(kind, port: server.port)
        let second = try PomeloTestClient.ready(kind, port: server.port)
        #expect(try bytesBeforeClose(kind, port: server.port) == [])
        #expect(server.waitFor(.connectionLimitRefused, atLeast: 1))

        first.close()
        #expect(eventually { server.server.sessions.count == 1 })
        let third = try PomeloTestClient.ready(kind, port: server.port)
        try roundTrip(third, id: 1)
        #expect(try bytesBeforeClose(kind, port: server.port) == [])
        #expect(server.waitFor(.connectionLimitRefused, atLeast: 2))
        try roundTrip(second, id: 1)
        #expect(server.counter(.connectionLimitRefused) == 2)
        #expect(server.counter(.blacklistRefused) == 0)
    }

    /// A request answered: the connection is open and served.
    private func roundTrip(_ client: PomeloTestClient, id: Int) throws {
        try client.request(route: "connector.entryHandler.entry", id: id)
        #expect(try client.expectResponse(id: id)["code"] as? Int == 200)
    }
}

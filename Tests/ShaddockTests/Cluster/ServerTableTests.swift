@testable import Shaddock
import Testing

/// Discovery's rules, without NATS: joins, the three-missed rule, a fast
/// restart with the same id, a clean stop, and a dictionary mismatch.
@Suite struct ServerTableTests {
    static func server(_ id: String, type: String = "area", started: UInt64 = 1000, nonce: UInt64 = 1,
                       interval: Int = 100, draining: Bool = false) -> ClusterServer {
        ClusterServer(id: id, serverType: type, frontend: false, clientHost: nil, clientPort: nil, started: started,
                      nonce: nonce, loops: 2, intervalMilliseconds: interval, draining: draining)
    }

    static func announce(_ s: ClusterServer, stopping: Bool = false, dictionary: String = "v1") -> Announcement {
        Announcement(server: s, dictionaryVersion: dictionary, stopping: stopping)
    }

    @Test func joinsAndSilenceForThreeIntervals() {
        var table = ServerTable(dictionaryVersion: "v1")
        #expect(table.apply(Self.announce(Self.server("a1")), now: 0) { _ in } == .joined("a1"))
        #expect(table.apply(Self.announce(Self.server("a1")), now: 100) { _ in } == .none)
        // Three intervals (300 ms) after the last announcement it is still there; past them it is gone.
        #expect(table.expire(now: 400, except: "me") == [])
        #expect(table.expire(now: 401, except: "me") == ["a1"])
        #expect(table.live.byType["area"] == nil)
    }

    @Test func aNATSOutageDoesNotRemoveServersWhenTheLinkComesBack() {
        var table = ServerTable(dictionaryVersion: "v1")
        _ = table.apply(Self.announce(Self.server("a1")), now: 0) { _ in }
        // Down from 50 to 1,000: nothing heard. Back at 1,000.
        table.restartClocks(now: 1000)
        #expect(table.expire(now: 1300, except: "me") == [])
        #expect(table.expire(now: 1301, except: "me") == ["a1"])
    }

    @Test func aNewerRunReplacesTheOlderAndTheOlderCannotComeBack() {
        var table = ServerTable(dictionaryVersion: "v1")
        let old = Self.server("a1", started: 1000)
        let new = Self.server("a1", started: 2000, nonce: 7)
        _ = table.apply(Self.announce(old), now: 0) { _ in }
        #expect(table.apply(Self.announce(new), now: 10) { _ in } == .updated)
        // The old run's late announcement and its stop change nothing.
        #expect(table.apply(Self.announce(old), now: 20) { _ in } == .none)
        #expect(table.apply(Self.announce(old, stopping: true), now: 30) { _ in } == .none)
        #expect(table.live.byID["a1"] == new)
        #expect(table.apply(Self.announce(new, stopping: true), now: 40) { _ in } == .left("a1"))
        #expect(table.live.byID["a1"] == nil)
    }

    @Test func aDrainingServerGetsNoNewWorkAndLiveServersAreSortedByID() {
        var table = ServerTable(dictionaryVersion: "v1")
        for id in ["a3", "a1", "a2"] { _ = table.apply(Self.announce(Self.server(id)), now: 0) { _ in } }
        #expect(table.live.byType["area"]?.map(\.id) == ["a1", "a2", "a3"])
        _ = table.apply(Self.announce(Self.server("a2", draining: true)), now: 1) { _ in }
        #expect(table.live.byType["area"]?.map(\.id) == ["a1", "a3"])
        #expect(table.live.byID["a2"]?.draining == true)
        // Its stop (which does not repeat the drain) removes it.
        #expect(table.apply(Self.announce(Self.server("a2"), stopping: true), now: 2) { _ in } == .left("a2"))
    }

    @Test func anotherDictionaryIsRefusedAndLoggedOnce() {
        var table = ServerTable(dictionaryVersion: "v1")
        var logged: [String] = []
        for _ in 0..<3 {
            #expect(table.apply(Self.announce(Self.server("a1"), dictionary: "v2"), now: 0) { logged.append($0) } == .none)
        }
        #expect(logged.count == 1)
        #expect(table.live.byID.isEmpty)
    }

    @Test func announcementsRoundTripThroughJSON() throws {
        let a = Self.announce(Self.server("a1", started: 1_765_000_000_123, nonce: 0xDEAD_BEEF_0000_0001))
        let back = try #require(a.json.withUnsafeBytes { Announcement(json: $0) })
        #expect(back == a)
    }

    /// Pomelo's default route: crc32 as node's `crc` package computes it.
    @Test func theDefaultRouteUsesCRC32OfTheUID() {
        #expect(CRC32.checksum("123456789".utf8) == 0xCBF4_3926)
        #expect(Cluster.defaultIndex(uid: nil, count: 3) == 0)
        let picks = (0..<100).map { Cluster.defaultIndex(uid: "user\($0)", count: 4) }
        #expect(Set(picks) == [0, 1, 2, 3])
        #expect(picks == (0..<100).map { Cluster.defaultIndex(uid: "user\($0)", count: 4) })
    }
}

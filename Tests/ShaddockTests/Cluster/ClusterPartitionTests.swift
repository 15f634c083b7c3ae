import Foundation
import Testing

/// A chat server cut off from NATS by a broken link (a network namespace
/// whose veth link is dropped): its connection is half-open, nobody is told.
/// The chat server finds out by PING/PONG, the connector by the missing
/// announcements; every request is answered meanwhile, and the link's return
/// brings the chat server back by itself.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled && NetworkNamespace.isAvailable,
                             "needs nats-server, root and ip (./run test installs them)"))
struct ClusterPartitionTests {
    static let connector = "connector-server-1"
    /// Short, so that the test is: 2 s to answer, a ping every 500 ms.
    static var clusterKeys: [String: Any] { ["requestTimeout": 2000, "pingInterval": 500] }

    @Test func aChatServerCutOffFromNATSIsDetectedByPingsAndEveryRequestIsAnswered() throws {
        let net = try NetworkNamespace()
        let nats = try NATSTestServer(host: net.hostAddress)
        let cluster = try ChatCluster(servers: ["chat-server-1", "chat-server-2", Self.connector],
                                      clusterKeys: Self.clusterKeys, nats: [nats], namespaces: ["chat-server-1": net])
        let port = cluster.clientPort(Self.connector)
        // A room on chat-server-1: one whose login did not reach chat-server-2
        // (chat-server-1's admin port is inside the namespace).
        var rid = ""
        for n in 0..<16 {
            let before = try cluster.metric("chat-server-2", "shaddock_remote_calls_total", ["side": "callee"]) ?? 0
            let (probe, _) = try ChatClusterTests.client(.tcp, port: port)
            _ = try ChatClusterTests.login(probe, "p\(n)", "room\(n)")
            if try cluster.metric("chat-server-2", "shaddock_remote_calls_total", ["side": "callee"]) ?? 0 == before {
                rid = "room\(n)"
                break
            }
        }
        try #require(!rid.isEmpty, "no room of 16 landed on chat-server-1")
        let (alice, _) = try ChatClusterTests.client(.websocket, port: port)
        _ = try ChatClusterTests.login(alice, "alice", rid)
        var id = 1
        // The path works before the cut. A first forward can time out while
        // the processes are still warming up (under AddressSanitizer, on a
        // busy machine): up to five tries.
        var before: Int?
        for _ in 0..<5 where before != 200 {
            id += 1
            before = try ClusterProcessTests.send(alice, id: id)
        }
        try #require(before == 200, "the chat server never answered before the cut: \(String(describing: before))")

        try net.cut()
        let cutAt = Date()
        // Requests go on, one at a time: each is answered (a 504 at its
        // deadline while NATS still delivers into the dead connection), and
        // local routes do not wait.
        var codes: [Int] = []
        var detectedAfter: Double?
        var movedAfter: Double?
        while Date().timeIntervalSince(cutAt) < 6 {
            id += 1; codes.append(try ClusterProcessTests.send(alice, id: id) ?? -1)
            id += 1; #expect(try ClusterFaultTests.entry(alice, id: id) == 200)
            if detectedAfter == nil && cluster.processes["chat-server-1"]!.output.soFar.contains("pings unanswered") {
                detectedAfter = Date().timeIntervalSince(cutAt)
            }
            if movedAfter == nil && cluster.chatServers(Self.connector) == 1 { movedAfter = Date().timeIntervalSince(cutAt) }
        }
        #expect(!codes.isEmpty && codes.allSatisfy { [200, 500, 503, 504].contains($0) }, "\(codes)")
        #expect(codes.contains(504), "\(codes)")
        // Found out by its pings: two unanswered, then the next tick (3 ×
        // 500 ms, and the tick and the test's own pace on top).
        let detected = try #require(detectedAfter, "the chat server did not notice:\n\(cluster.processes["chat-server-1"]!.output.soFar)")
        #expect(detected < 3.5)
        // The connector forgets it after three missed announcements (1 s each).
        let moved = try #require(movedAfter)
        #expect(moved < 5)
        // Its rooms are placed on chat-server-2 now: a fresh login works.
        let (bob, _) = try ChatClusterTests.client(.tcp, port: port)
        #expect(try ChatClusterTests.login(bob, "bob", rid) == ["bob"])
        #expect(try ClusterProcessTests.send(bob, id: 2) == 200)
        // Nothing answered twice, nothing left over.
        try alice.expectNoPackage(within: 0.3)

        // The link comes back: the chat server reconnects (it has been
        // retrying, at most 2 s apart), re-subscribes and re-announces.
        try net.restore()
        #expect(cluster.waitForChatServers(Self.connector, count: 2, timeout: 5))
        for (name, p) in cluster.processes { #expect(p.isRunning, "\(name) exited") }
    }
}

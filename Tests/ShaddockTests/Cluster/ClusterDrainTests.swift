import Foundation
import Shaddock
import Testing

/// A backend's full queue, and drains on either side of a forward: what
/// runs finishes and is answered, new work is refused or goes elsewhere.
@Suite(.serialized, .enabled(if: NATSTestServer.isInstalled, "nats-server is not installed (./run test installs it)"))
struct ClusterDrainTests {
    typealias Pair = ForwardingTests.Pair

    /// Runs `body` on a thread of its own; `join` waits for it.
    final class Background: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping @Sendable () -> Void) {
            detachThread {
                body()
                self.done.signal()
            }
        }
        func join() { done.wait() }
    }

    @Test func aFullBackendQueueAnswers503() throws {
        let pair = try Pair { $0.clusterOptions?.maxInFlightPerLoop = 1 }
        let first = try PomeloTestClient.ready(.websocket, port: pair.frontend.port)
        let second = try PomeloTestClient.ready(.tcp, port: pair.frontend.port)
        try first.request(route: "area.areaHandler.slow", id: 1, body: #"{"ms":500}"#)
        ClusterChannelTests.waitFor { pair.backend.server.counter(.backendRequests) == 1 }
        try second.request(route: "area.areaHandler.slow", id: 1, body: #"{"ms":10}"#)
        #expect(try second.expectResponse(id: 1)["code"] as? Int == 503)
        // The frontend's own routes do not wait for the busy backend.
        try second.request(route: "connector.entryHandler.login", id: 5, body: #"{"uid":"zed"}"#)
        #expect(try second.expectResponse(id: 5)["code"] as? Int == 200)
        #expect(try first.expectResponse(id: 1)["code"] as? Int == 200)
        #expect(pair.backend.server.counter(.backendBusy) == 1)
        #expect(pair.frontend.server.counter(.forwardBusy) == 1)
        // The queue has room again.
        try second.request(route: "area.areaHandler.slow", id: 2, body: #"{"ms":10}"#)
        #expect(try second.expectResponse(id: 2)["code"] as? Int == 200)
    }

    @Test func aDrainingBackendFinishesItsWorkThenLeaves() throws {
        let pair = try Pair()
        let client = try PomeloTestClient.ready(.websocket, port: pair.frontend.port)
        try client.request(route: "area.areaHandler.slow", id: 1, body: #"{"ms":400}"#)
        ClusterChannelTests.waitFor { pair.backend.server.counter(.backendRequests) == 1 }
        let drain = Background { pair.backend.server.drain(timeoutSeconds: 5) }
        // The frontend hears of the drain at once and sends nothing new there.
        ClusterChannelTests.waitFor { pair.frontend.server.liveServers.contains { $0.id == "area-1" && $0.draining } }
        #expect(pair.frontend.server.liveServers.contains { $0.id == "area-1" && $0.draining })
        let late = try PomeloTestClient.ready(.tcp, port: pair.frontend.port)
        try late.request(route: "area.areaHandler.echo", id: 1)
        #expect(try late.expectResponse(id: 1)["code"] as? Int == 500)
        // The request it was running is answered; then it stops.
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        drain.join()
        // Its stop announcement removes it at once.
        #expect(pair.frontend.waitForLive(["connector-1"], timeout: 0.3))
        #expect(pair.frontend.server.counter(.forwardAnswered) == 1)
        #expect(pair.backend.server.counter(.backendBusy) == 0)
    }

    @Test func aDrainingFrontendWaitsForForwardedAnswers() throws {
        let pair = try Pair()
        let client = try PomeloTestClient.ready(.websocket, port: pair.frontend.port)
        let idle = try PomeloTestClient.ready(.tcp, port: pair.frontend.port)
        try client.request(route: "area.areaHandler.slow", id: 1, body: #"{"ms":300}"#)
        ClusterChannelTests.waitFor { pair.backend.server.counter(.backendRequests) == 1 }
        let drain = Background { pair.frontend.server.drain(reason: "bye", timeoutSeconds: 5) }
        // The idle session goes at once; the busy one gets its answer first.
        try idle.expectKicked(reason: "bye")
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        try client.expectKicked(reason: "bye", closeCode: 1001)
        drain.join()
    }
}

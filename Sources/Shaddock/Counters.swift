import CShaddockLoop

/// What the gateway counts. Every refusal and every dropped input has a
/// counter, so nothing bad happens silently.
public enum GatewayCounter: Int, CaseIterable, Sendable, CustomStringConvertible {
    case connectionsAccepted
    case connectionsClosed
    case websocketUpgrades
    case httpRejected
    case tcpConnections
    case unknownTransport
    case handshakes
    case handshakeRefused
    case handshakeTimeouts
    case heartbeatTimeouts
    case heartbeatsReceived
    case ignoredBeforeAck
    case ignoredPackages
    case requests
    case notifies
    case responses
    case unknownRoutes
    case handlerErrors
    case invalidJSONBodies
    case badMessages
    case badPackages
    case oversizeMessages
    case websocketProtocolErrors
    case websocketTextRefused
    case websocketPings
    case websocketCloses
    case slowConsumerCloses
    case kicks

    public var description: String {
        let s = String(describing: self)
        return s
    }
}

/// One loop's counters, written only by that loop's thread.
final class LoopCounters: @unchecked Sendable {
    let values: UnsafeMutablePointer<UInt64>

    init() {
        values = .allocate(capacity: GatewayCounter.allCases.count)
        values.initialize(repeating: 0, count: GatewayCounter.allCases.count)
    }

    deinit { values.deallocate() }

    @inline(__always) func add(_ c: GatewayCounter, _ n: UInt64 = 1) { shd_counter_add(values + c.rawValue, n) }

    func load(_ c: GatewayCounter) -> UInt64 { shd_counter_load(values + c.rawValue) }
}

/// What one run does: parsed from the command line, shared read-only by the
/// worker threads.
struct Plan: Sendable {
    enum Mode: String, Sendable, CaseIterable {
        /// Masked binary frames echoed back, checked byte for byte.
        case wsEcho = "ws-echo"
        /// Pomelo requests over WebSocket.
        case pomelo
        /// Pomelo requests over raw TCP.
        case pomeloTCP = "pomelo-tcp"
        /// Setups per second: connect, upgrade, handshake, ack, close.
        case connect
        /// Open sessions and keep them idle with heartbeats.
        case hold
        /// Receivers in one chat channel, one sender: pushes delivered per second.
        case broadcast

        var overWebSocket: Bool { self != .pomeloTCP }
        var speaksPomelo: Bool { self != .wsEcho }
    }

    var mode: Mode
    var host: String
    var port: Int
    /// Connections (ws-echo, pomelo, connect), sessions (hold) or receivers (broadcast).
    var connections: Int
    var threads: Int
    var durationNanos: UInt64
    var warmupNanos: UInt64
    /// Messages outstanding per connection (the broadcast sender's sends).
    var depth: Int
    /// ws-echo payload bytes.
    var size: Int
    var route: String
    var body: [UInt8]
    /// Source addresses, used in turn by successive connections.
    var sources: [String]
    var timeoutNanos: UInt64
    /// Connections being set up at once (hold, broadcast logins).
    var setupConcurrency: Int
    /// The chat room the broadcast receivers and sender log into.
    var channel: String
}

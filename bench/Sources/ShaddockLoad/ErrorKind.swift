/// Every way a connection or a message can go wrong; each one is counted.
enum ErrorKind: Int, CaseIterable {
    /// The TCP connection could not be established.
    case connect
    /// No `101 Switching Protocols`, or a malformed reply head.
    case upgrade
    /// The Pomelo handshake was refused (code other than 200) or malformed.
    case handshake
    /// The server closed (or reset) a connection the load still used.
    case closed
    /// The server sent a kick package.
    case kicked
    /// Bytes that break WebSocket or Pomelo framing.
    case protocolError
    /// An echo that differs from what was sent, a response to an id never
    /// sent, or a response without `"code":200`.
    case mismatch
    /// A request or setup outstanding longer than the timeout.
    case timeout
    /// The client's own bound on unsent bytes refused a write.
    case backlog

    var name: String {
        switch self {
        case .connect: "connect"
        case .upgrade: "upgrade"
        case .handshake: "handshake"
        case .closed: "closed"
        case .kicked: "kicked"
        case .protocolError: "protocol"
        case .mismatch: "mismatch"
        case .timeout: "timeout"
        case .backlog: "backlog"
        }
    }
}

struct ErrorCounts {
    private(set) var counts = [UInt64](repeating: 0, count: ErrorKind.allCases.count)

    mutating func add(_ kind: ErrorKind) { counts[kind.rawValue] += 1 }
    mutating func merge(_ other: ErrorCounts) {
        for i in counts.indices { counts[i] += other.counts[i] }
    }
    subscript(kind: ErrorKind) -> UInt64 { counts[kind.rawValue] }
    var total: UInt64 { counts.reduce(0, +) }
}

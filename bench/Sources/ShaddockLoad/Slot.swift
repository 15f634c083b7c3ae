import ShaddockProtocol
/// One client connection of the load, reused across reconnects.
final class Slot {
    /// permessage-deflate with a server that keeps its context (no
    /// server_no_context_takeover): this connection's own inflate stream.
    var ownInflater: MessageInflater?
    enum Phase {
        case idle
        case connecting
        case upgrading
        case handshaking
        /// Broadcast: the login request is out.
        case loggingIn
        /// Sending requests or frames and reading the answers.
        case running
        /// Set up, idle but for heartbeats (hold) and pushes (broadcast).
        case holding
        /// We are closing it: its close is not an error.
        case closing
    }

    /// The connection's number across all threads.
    let number: Int
    let source: String?
    /// WebSocket or raw TCP (soak mixes them).
    let overWebSocket: Bool
    /// Soak: the chat room this session logs into and chats in.
    let room: Int?
    var conn: OpaquePointer?
    var phase = Phase.idle
    var isSender = false
    /// Connect mode: the setup reached the handshake ack.
    var setupDone = false
    /// Counted in `Shared.sessionsUp`.
    var countedUp = false
    var setupStartedAt: UInt64 = 0
    var mask: UInt32
    /// The dictionary code of `onChat` from the handshake, if it has one.
    var onChatCode: UInt16?
    /// The server's handshake said `useProto`, and the plan has a protobuf body.
    var useProto = false
    /// With --tls-resume: the last connection's TLS session.
    var tlsSession: UnsafeMutableRawPointer?

    var nextID: UInt32 = 1
    var outstanding = 0
    /// When the last answer came (or the first message after an idle spell).
    var lastProgressAt: UInt64 = 0
    /// Send times: a ring indexed by request id (Pomelo) or a FIFO (echo).
    var sentAt: [UInt64]
    var sentID: [UInt32]
    var fifoHead = 0

    init(number: Int, source: String?, capacity: Int, overWebSocket: Bool = true, room: Int? = nil) {
        self.number = number
        self.source = source
        self.overWebSocket = overWebSocket
        self.room = room
        var cap = 1
        while cap < capacity { cap <<= 1 }
        sentAt = [UInt64](repeating: 0, count: cap)
        sentID = [UInt32](repeating: 0, count: cap)
        // A fixed, distinct mask per connection (any value is valid; servers
        // must unmask whatever they get).
        var x = UInt32(truncatingIfNeeded: number &* 2_654_435_761) | 1
        x ^= x << 13
        x ^= x >> 17
        mask = x ^ (x << 5)
    }

    func reset() {
        conn = nil
        ownInflater = nil
        phase = .idle
        setupDone = false
        nextID = 1
        outstanding = 0
        fifoHead = 0
    }

    var ring: Int { sentAt.count - 1 }
    var isLive: Bool { phase != .closing && phase != .idle && conn != nil }
}

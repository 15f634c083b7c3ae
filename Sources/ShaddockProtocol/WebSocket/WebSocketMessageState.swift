/// The message-level rules of a WebSocket connection (RFC 6455 §5.4-5.5):
/// fragments, continuations and the total size of a fragmented message. A
/// step takes a frame and says what to do with it; the bytes stay with the
/// caller.
public struct WebSocketMessageState: Sendable {
    public enum Action: Equatable, Sendable {
        /// A whole data message in one frame: deliver the payload where it lies.
        case message(WebSocketOpcode)
        /// The first fragment of a message: start collecting.
        case begin(WebSocketOpcode)
        /// A middle fragment of a message of this opcode: append it.
        case append(WebSocketOpcode)
        /// The last fragment: append it, then deliver the collected message.
        case finish(WebSocketOpcode)
        case ping
        case pong
        case close
        case failure(WebSocketCloseCode, String)
    }

    public let maxMessage: Int
    private var fragmented: WebSocketOpcode?
    private var collected = 0

    public init(maxMessage: Int) { self.maxMessage = maxMessage }

    /// Whether a fragmented message is being collected.
    public var inMessage: Bool { fragmented != nil }
    /// Whether the fragmented message being collected is compressed (its
    /// first frame had RSV1).
    public private(set) var compressed = false

    public mutating func step(_ frame: WebSocketFrame) -> Action {
        switch frame.opcode {
        case .ping: return .ping
        case .pong: return .pong
        case .close: return .close
        case .text, .binary:
            if fragmented != nil { return .failure(.protocolError, "new message inside a fragmented one") }
            if frame.fin { return .message(frame.opcode) }
            fragmented = frame.opcode
            compressed = frame.compressed
            collected = frame.payload.count
            return .begin(frame.opcode)
        case .continuation:
            guard let opcode = fragmented else { return .failure(.protocolError, "continuation without a message") }
            collected += frame.payload.count
            if collected > maxMessage { return .failure(.messageTooBig, "message over \(maxMessage) bytes") }
            if !frame.fin { return .append(opcode) }
            fragmented = nil
            collected = 0
            return .finish(opcode)
        }
    }

    /// Checks a close frame's payload. Returns the code to answer with, or a
    /// failure for a payload the peer may not send.
    public static func closeReply(_ payload: UnsafeRawBufferPointer) -> Result<UInt16, CloseError> {
        if payload.count == 0 { return .success(WebSocketCloseCode.normal.rawValue) }
        if payload.count == 1 { return .failure(CloseError(code: .protocolError, reason: "one-byte close payload")) }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard WebSocketCloseCode.isValidOnWire(code) else {
            return .failure(CloseError(code: .protocolError, reason: "close code \(code) not allowed"))
        }
        guard UTF8Validation.isValid(UnsafeRawBufferPointer(rebasing: payload[2...])) else {
            return .failure(CloseError(code: .invalidPayload, reason: "close reason not UTF-8"))
        }
        return .success(code)
    }

    public struct CloseError: Error, Equatable, Sendable {
        public var code: WebSocketCloseCode
        public var reason: String
    }
}

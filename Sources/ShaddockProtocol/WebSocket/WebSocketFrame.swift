/// WebSocket frames (RFC 6455 §5), server side: client frames are scanned
/// and unmasked where they lie; server frames get a header written in front
/// of a payload the caller already has.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    @inlinable public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// Close codes we send, and the ones a peer may send (§7.4).
public enum WebSocketCloseCode: UInt16, Sendable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case unsupportedData = 1003
    case invalidPayload = 1007
    case policyViolation = 1008
    case messageTooBig = 1009
    case internalError = 1011

    /// Whether a peer may put `code` in a close frame.
    public static func isValidOnWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
    }
}

public struct WebSocketFrame: Equatable, Sendable {
    public var fin: Bool
    public var opcode: WebSocketOpcode
    /// The unmasked payload, as indexes of the scanned buffer.
    public var payload: Range<Int>
    /// Where the next frame starts.
    public var end: Int
    /// RSV1: the first frame of a message compressed with permessage-deflate.
    public var compressed: Bool

    @inlinable
    public init(fin: Bool, opcode: WebSocketOpcode, payload: Range<Int>, end: Int, compressed: Bool = false) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
        self.end = end
        self.compressed = compressed
    }
}

public enum WebSocketFrameScan: Equatable, Sendable {
    case needMore
    case frame(WebSocketFrame)
    /// The frame breaks the protocol: close with this code.
    case failure(WebSocketCloseCode, String)
}

public enum WebSocketFrameParser {
    /// Scans one client frame at `offset`. Every rule that the header alone
    /// decides (reserved bits, opcodes, masking, control-frame limits, the
    /// size limit) is checked before the payload is waited for. A complete
    /// frame's payload is unmasked in place. `deflate`: permessage-deflate
    /// was agreed, so RSV1 may mark a data message's first frame.
    @inlinable
    public static func scan(_ bytes: UnsafeMutableRawBufferPointer, at offset: Int, maxPayload: Int,
                            deflate: Bool = false) -> WebSocketFrameScan {
        let available = bytes.count - offset
        if available < 2 { return .needMore }
        let b0 = bytes[offset], b1 = bytes[offset + 1]
        let compressed = b0 & 0x40 != 0
        if b0 & 0x30 != 0 || (compressed && !deflate) {
            return .failure(.protocolError, "reserved bits set without an extension")
        }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else { return .failure(.protocolError, "unknown opcode") }
        if compressed && (opcode.isControl || opcode == .continuation) {
            return .failure(.protocolError, "RSV1 on a control or continuation frame")
        }
        let fin = b0 & 0x80 != 0
        if b1 & 0x80 == 0 { return .failure(.protocolError, "client frame not masked") }
        var length = UInt64(b1 & 0x7F)
        var header = 2
        if opcode.isControl {
            if !fin { return .failure(.protocolError, "fragmented control frame") }
            if length > 125 { return .failure(.protocolError, "control frame over 125 bytes") }
        }
        if length == 126 {
            if available < 4 { return .needMore }
            length = UInt64(bytes[offset + 2]) << 8 | UInt64(bytes[offset + 3])
            header = 4
        } else if length == 127 {
            if available < 10 { return .needMore }
            length = 0
            for k in 2..<10 { length = length << 8 | UInt64(bytes[offset + k]) }
            if length >> 63 != 0 { return .failure(.protocolError, "payload length with the top bit set") }
            header = 10
        }
        if length > UInt64(maxPayload) { return .failure(.messageTooBig, "message over \(maxPayload) bytes") }
        let start = offset + header + 4
        let n = Int(length)
        if available < header + 4 + n { return .needMore }
        unmask(bytes, maskAt: offset + header, payload: start..<start + n)
        return .frame(WebSocketFrame(fin: fin, opcode: opcode, payload: start..<start + n, end: start + n,
                                     compressed: compressed))
    }

    /// XORs `payload` with the 4-byte key at `maskAt`, in place: it unmasks
    /// a client frame, and masks one (clients and load generators).
    @inlinable
    public static func unmask(_ bytes: UnsafeMutableRawBufferPointer, maskAt m: Int, payload: Range<Int>) {
        guard !payload.isEmpty else { return }
        let key = bytes.loadUnaligned(fromByteOffset: m, as: UInt32.self)
        let base = bytes.baseAddress! + payload.lowerBound
        let n = payload.count
        var i = 0
        // Eight bytes at a time with the key repeated, then the rest.
        let key64 = UInt64(key) | UInt64(key) << 32
        while i + 8 <= n {
            let v = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            base.storeBytes(of: v ^ key64, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        withUnsafeBytes(of: key) { k in
            while i < n {
                base.storeBytes(of: base.load(fromByteOffset: i, as: UInt8.self) ^ k[i & 3], toByteOffset: i, as: UInt8.self)
                i += 1
            }
        }
    }
}

public enum WebSocketFrameEncoder {
    public static let maxHeaderLength = 10

    @inlinable
    public static func headerLength(payloadLength n: Int) -> Int { n < 126 ? 2 : n <= 0xFFFF ? 4 : 10 }

    /// Writes an unmasked server frame header at `offset`; returns the offset
    /// after it. `compressed` sets RSV1 (a permessage-deflate message).
    @inlinable
    public static func writeHeader(_ opcode: WebSocketOpcode, payloadLength n: Int, fin: Bool = true,
                                   compressed: Bool = false,
                                   into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        out[offset] = (fin ? 0x80 : 0) | (compressed ? 0x40 : 0) | opcode.rawValue
        if n < 126 {
            out[offset + 1] = UInt8(n)
            return offset + 2
        }
        if n <= 0xFFFF {
            out[offset + 1] = 126
            out[offset + 2] = UInt8(n >> 8)
            out[offset + 3] = UInt8(truncatingIfNeeded: n)
            return offset + 4
        }
        out[offset + 1] = 127
        for k in 0..<8 { out[offset + 2 + k] = UInt8(truncatingIfNeeded: UInt64(n) >> (56 - 8 * UInt64(k))) }
        return offset + 10
    }

    /// A whole frame as bytes (cold paths and tests).
    public static func frame(_ opcode: WebSocketOpcode, payload: some Collection<UInt8>, fin: Bool = true,
                             compressed: Bool = false) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: maxHeaderLength)
        let h = out.withUnsafeMutableBytes {
            writeHeader(opcode, payloadLength: payload.count, fin: fin, compressed: compressed, into: $0, at: 0)
        }
        out.removeLast(maxHeaderLength - h)
        out.append(contentsOf: payload)
        return out
    }

    /// A close frame with a code (and no reason).
    public static func close(_ code: UInt16) -> [UInt8] {
        frame(.close, payload: [UInt8(code >> 8), UInt8(truncatingIfNeeded: code)])
    }
}

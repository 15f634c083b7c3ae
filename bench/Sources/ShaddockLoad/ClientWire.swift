import ShaddockProtocol

/// The bytes a client sends: the upgrade request, masked WebSocket frames,
/// Pomelo packages. Everything is written into a caller's scratch buffer, so
/// the steady state allocates nothing.
enum ClientWire {
    static func upgradeRequest(host: String, port: Int, deflate: Bool = false) -> [UInt8] {
        // A browser's offer, when asked for.
        let offer = deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : ""
        return Array(("GET / HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: c2hhZGRvY2stbG9hZC0xMg==\r\nSec-WebSocket-Version: 13\r\n\(offer)\r\n").utf8)
    }

    static let handshakeBody = Array(#"{"sys":{"type":"shaddock-load","version":"0.1.0","rsa":{}},"user":{}}"#.utf8)

    /// Room in front of a payload for the largest masked frame header.
    static let frameRoom = WebSocketFrameEncoder.maxHeaderLength + 4

    /// Turns the `length` bytes at `payloadAt` into a masked client frame by
    /// writing its header just before them; returns where the frame starts.
    /// `payloadAt` must leave `frameRoom` bytes in front.
    static func maskInPlace(_ out: UnsafeMutableRawBufferPointer, payloadAt p: Int, length n: Int,
                            mask: UInt32, compressed: Bool = false) -> Int {
        let start = p - WebSocketFrameEncoder.headerLength(payloadLength: n) - 4
        _ = WebSocketFrameEncoder.writeHeader(.binary, payloadLength: n, compressed: compressed, into: out, at: start)
        out[start + 1] |= 0x80  // the mask bit: client frames are masked
        out.storeBytes(of: mask, toByteOffset: p - 4, as: UInt32.self)
        WebSocketFrameParser.unmask(out, maskAt: p - 4, payload: p..<p + n)
        return start
    }

    /// Writes a request message (string route) as a data package at `at`;
    /// returns the offset after it.
    static func writeRequest(id: UInt32, route: [UInt8], body: [UInt8],
                             into out: UnsafeMutableRawBufferPointer, at: Int) -> Int {
        var i = at + Package.headerLength
        out[i] = MessageType.request.rawValue << 1
        i = Varint.write(id, into: out, at: i + 1)
        out[i] = UInt8(route.count)
        i += 1
        route.withUnsafeBytes { out.baseAddress!.advanced(by: i).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        i += route.count
        body.withUnsafeBytes { out.baseAddress!.advanced(by: i).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        i += body.count
        _ = Package.writeHeader(.data, bodyLength: i - at - Package.headerLength, into: out, at: at)
        return i
    }

    /// Writes a package with the given body bytes at `at`.
    static func writePackage(_ type: PackageType, body: [UInt8], into out: UnsafeMutableRawBufferPointer, at: Int) -> Int {
        let i = Package.writeHeader(type, bodyLength: body.count, into: out, at: at)
        body.withUnsafeBytes { if $0.count > 0 { out.baseAddress!.advanced(by: i).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        return i + body.count
    }
}

/// The server side's bytes, as the client reads them.
enum ServerWire {
    enum Frame {
        case needMore
        /// `compressed`: RSV1, a permessage-deflate message.
        case frame(opcode: UInt8, payload: Range<Int>, end: Int, compressed: Bool)
        case invalid
    }

    /// Scans one unmasked server frame. Fragmented messages are refused: the
    /// servers measured here send whole messages.
    static func scanFrame(_ b: UnsafeRawBufferPointer, at o: Int, deflate: Bool = false) -> Frame {
        let available = b.count - o
        if available < 2 { return .needMore }
        let b0 = b[o], b1 = b[o + 1]
        if b0 & 0x80 == 0 || b0 & (deflate ? 0x30 : 0x70) != 0 || b1 & 0x80 != 0 { return .invalid }
        var n = Int(b1 & 0x7F)
        var h = 2
        if n == 126 {
            if available < 4 { return .needMore }
            n = Int(b[o + 2]) << 8 | Int(b[o + 3])
            h = 4
        } else if n == 127 {
            if available < 10 { return .needMore }
            var v: UInt64 = 0
            for k in 2..<10 { v = v << 8 | UInt64(b[o + k]) }
            guard v < 1 << 31 else { return .invalid }
            n = Int(v)
            h = 10
        }
        if available < h + n { return .needMore }
        return .frame(opcode: b0 & 0x0F, payload: o + h..<o + h + n, end: o + h + n, compressed: b0 & 0x40 != 0)
    }

    /// Where the blank line that ends an HTTP head starts, if it has arrived.
    static func headEnd(_ b: UnsafeRawBufferPointer) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i
        }
        return nil
    }

    static func contains(_ b: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard b.count >= needle.count, let first = needle.first else { return false }
        var i = 0
        while i <= b.count - needle.count {
            if b[i] == first {
                var k = 1
                while k < needle.count && b[i + k] == needle[k] { k += 1 }
                if k == needle.count { return true }
            }
            i += 1
        }
        return false
    }
}

// permessage-deflate for the test clients, on zlib directly and apart from
// the server's code, so that the two check each other: raw DEFLATE, a sync
// flush whose 00 00 ff ff tail is removed, no context kept between
// messages unless asked.

import CZlib

final class TestDeflate {
    private var stream = z_stream()
    let keepsContext: Bool

    init(windowBits: Int32 = 15, keepsContext: Bool = false) {
        self.keepsContext = keepsContext
        precondition(deflateInit2_(&stream, 6, Z_DEFLATED, -windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                                   Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    }

    deinit { deflateEnd(&stream) }

    /// One message's payload.
    func compress(_ bytes: [UInt8]) -> [UInt8] {
        if !keepsContext { deflateReset(&stream) }
        var input = bytes
        var out = [UInt8](repeating: 0, count: bytes.count + 1024)
        let n = input.withUnsafeMutableBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                stream.next_in = i.baseAddress
                stream.avail_in = UInt32(i.count)
                stream.next_out = o.baseAddress
                stream.avail_out = UInt32(o.count)
                precondition(deflate(&stream, Z_SYNC_FLUSH) == Z_OK && stream.avail_in == 0)
                return o.count - Int(stream.avail_out)
            }
        }
        precondition(Array(out[n - 4..<n]) == [0, 0, 0xFF, 0xFF])
        return Array(out[..<(n - 4)])
    }
}

final class TestInflate {
    private var stream = z_stream()
    let keepsContext: Bool

    init(windowBits: Int32 = 15, keepsContext: Bool = false) {
        self.keepsContext = keepsContext
        precondition(inflateInit2_(&stream, -windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    }

    deinit { inflateEnd(&stream) }

    /// One message's payload, inflated; throws on a bad stream.
    func inflate(_ payload: [UInt8]) throws -> [UInt8] {
        if !keepsContext { inflateReset(&stream) }
        var input = payload + [0, 0, 0xFF, 0xFF]
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try input.withUnsafeMutableBufferPointer { i in
            stream.next_in = i.baseAddress
            stream.avail_in = UInt32(i.count)
            repeat {
                let (rc, n) = chunk.withUnsafeMutableBufferPointer { o -> (Int32, Int) in
                    stream.next_out = o.baseAddress
                    stream.avail_out = UInt32(o.count)
                    let rc = CZlib.inflate(&stream, Z_SYNC_FLUSH)
                    return (rc, o.count - Int(stream.avail_out))
                }
                guard rc == Z_OK || rc == Z_STREAM_END || (rc == Z_BUF_ERROR && n == 0) else {
                    throw TestClientError.protocolViolation("compressed message does not inflate (zlib \(rc))")
                }
                result += chunk[..<n]
                if n == 0 { break }
            } while stream.avail_in > 0 || stream.avail_out == 0
        }
        return result
    }
}

/// A gzip or zlib body (Pomelo's gzip flag), inflated whole.
func testGunzip(_ bytes: [UInt8]) throws -> [UInt8] {
    var s = z_stream()
    guard inflateInit2_(&s, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw TestClientError.protocolViolation("inflateInit2 failed")
    }
    defer { inflateEnd(&s) }
    var input = bytes
    var out = [UInt8](repeating: 0, count: 1 << 20)
    let n = input.withUnsafeMutableBufferPointer { i in
        out.withUnsafeMutableBufferPointer { o -> Int? in
            s.next_in = i.baseAddress
            s.avail_in = UInt32(i.count)
            s.next_out = o.baseAddress
            s.avail_out = UInt32(o.count)
            return CZlib.inflate(&s, Z_FINISH) == Z_STREAM_END && s.avail_in == 0 ? o.count - Int(s.avail_out) : nil
        }
    }
    guard let n else { throw TestClientError.protocolViolation("a gzip-flagged body that does not inflate") }
    return Array(out[..<n])
}

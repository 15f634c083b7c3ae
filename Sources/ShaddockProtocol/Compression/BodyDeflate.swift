import CZlib

/// The formats a compressed Pomelo body comes in.
public enum BodyFormat: Sendable {
    case zlib, gzip
    /// No header (what permessage-deflate carries); not a Pomelo body.
    case raw

    var windowBits: Int32 {
        switch self {
        case .zlib: return 15
        case .gzip: return 15 + 16
        case .raw: return -15
        }
    }
}

/// Compresses `bytes` whole into a new array (nil if zlib fails): for the
/// occasional body, not for the per-message path.
public func deflateBody(_ bytes: some Collection<UInt8>, format: BodyFormat, level: Int32 = 6) -> [UInt8]? {
    var stream = z_stream()
    guard deflateInit2_(&stream, level, Z_DEFLATED, format.windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                        Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
    defer { deflateEnd(&stream) }
    var input = Array(bytes)
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
    let written = input.withUnsafeMutableBufferPointer { inp in
        out.withUnsafeMutableBufferPointer { o -> Int? in
            stream.next_in = inp.baseAddress
            stream.avail_in = UInt32(inp.count)
            stream.next_out = o.baseAddress
            stream.avail_out = UInt32(o.count)
            return deflate(&stream, Z_FINISH) == Z_STREAM_END ? o.count - Int(stream.avail_out) : nil
        }
    }
    guard let written else { return nil }
    out.removeSubrange(written...)
    return out
}

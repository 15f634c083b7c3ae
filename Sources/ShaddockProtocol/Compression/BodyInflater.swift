import CZlib

/// What inflating a body came to.
public enum BodyInflation: Equatable {
    /// The whole body, in the inflater's buffer (valid until its next use).
    case bytes(UnsafeRawBufferPointer)
    /// More than the limit would come out: stopped there.
    case tooLarge
    /// Not a whole zlib or gzip stream: corrupt, truncated, or followed by
    /// more bytes.
    case corrupt

    public static func == (a: BodyInflation, b: BodyInflation) -> Bool {
        switch (a, b) {
        case (.bytes(let x), .bytes(let y)): return x.elementsEqual(y)
        case (.tooLarge, .tooLarge), (.corrupt, .corrupt): return true
        default: return false
        }
    }
}

/// Inflates message bodies compressed with zlib or gzip (Pomelo's gzip
/// flag), telling the two apart by their header (zlib's own detection: the
/// gzip magic 1f 8b, else a zlib header). One stream, reset per body; the
/// output is bounded while inflating, so a small body that would inflate to
/// gigabytes stops at the limit. The output buffer grows with the bodies
/// seen, up to the largest limit asked for. Not thread-safe: one per loop.
public final class BodyInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int

    public init?() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15: the largest window; +32: detect a zlib or a gzip header.
        guard inflateInit2_(stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
        capacity = 4096
        buffer = .allocate(byteCount: capacity, alignment: 1)
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        buffer.deallocate()
    }

    /// Inflates `input`, a whole stream, to at most `limit` bytes.
    public func inflate(_ input: UnsafeRawBufferPointer, limit: Int) -> BodyInflation {
        guard let base = input.baseAddress, !input.isEmpty else { return .corrupt }
        inflateReset(stream)
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        var produced = 0
        while true {
            if produced == capacity && capacity < limit { grow(to: min(capacity * 2, limit)) }
            let room = min(capacity, limit) - produced
            if room == 0 {
                // At the limit: the stream must end without another byte.
                var spare: UInt8 = 0
                let rc = withUnsafeMutablePointer(to: &spare) { out -> Int32 in
                    stream.pointee.next_out = out
                    stream.pointee.avail_out = 1
                    return CZlib.inflate(stream, Z_NO_FLUSH)
                }
                if stream.pointee.avail_out == 0 { return .tooLarge }
                return rc == Z_STREAM_END && stream.pointee.avail_in == 0 ? .bytes(UnsafeRawBufferPointer(start: buffer, count: produced)) : .corrupt
            }
            stream.pointee.next_out = (buffer + produced).assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(room)
            let rc = CZlib.inflate(stream, Z_NO_FLUSH)
            produced += room - Int(stream.pointee.avail_out)
            switch rc {
            case Z_STREAM_END:
                // Bytes after the stream are not part of a body.
                return stream.pointee.avail_in == 0 ? .bytes(UnsafeRawBufferPointer(start: buffer, count: produced)) : .corrupt
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.pointee.avail_out == 0:
                continue  // out of room only: more room next turn
            default:
                return .corrupt  // bad data, a dictionary asked for, or the input ran out first
            }
        }
    }

    private func grow(to size: Int) {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 1)
        bigger.copyMemory(from: buffer, byteCount: capacity)
        buffer.deallocate()
        buffer = bigger
        capacity = size
    }
}

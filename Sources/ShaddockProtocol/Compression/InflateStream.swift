import CZlib

/// A zlib inflate stream and its output buffer, which grows with the
/// messages seen up to the largest limit asked for. The output of one
/// message is bounded while inflating: a small input that would inflate to
/// gigabytes stops at the limit. Shared by the Pomelo body inflater and
/// permessage-deflate. Not thread-safe.
final class InflateStream {
    enum Step {
        /// All input taken; the stream has not ended.
        case consumed
        /// The stream ended (`remaining` input bytes were not part of it).
        case ended(remaining: Int)
        /// More than the limit would come out: stopped there.
        case tooLarge
        case corrupt
    }

    let stream: UnsafeMutablePointer<z_stream>
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// Bytes produced for the current message.
    private(set) var produced = 0
    static let initialCapacity = 4096

    init?(windowBits: Int32) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard inflateInit2_(stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
        capacity = Self.initialCapacity
        buffer = .allocate(byteCount: capacity, alignment: 1)
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        buffer.deallocate()
    }

    /// Starts a message; `resetStream` also forgets the window (no context
    /// takeover).
    func begin(resetStream: Bool) {
        if resetStream { inflateReset(stream) }
        produced = 0
    }

    /// The message inflated so far; valid until the next `begin`.
    var output: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: produced) }

    /// Whether the stream stopped between blocks (after an end-of-block
    /// code or a stored block), not inside one: see zlib's `data_type`.
    var atBlockBoundary: Bool { stream.pointee.data_type & 128 != 0 }

    /// Inflates `input`, appending to the message's output, while the
    /// message stays within `limit` bytes.
    func run(_ input: UnsafeRawBufferPointer, limit: Int) -> Step {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        while true {
            if produced == capacity && capacity < limit { grow(to: min(capacity * 2, limit)) }
            let room = min(capacity, limit) - produced
            var spare: UInt8 = 0
            let rc: Int32
            if room > 0 {
                stream.pointee.next_out = (buffer + produced).assumingMemoryBound(to: UInt8.self)
                stream.pointee.avail_out = UInt32(room)
                rc = CZlib.inflate(stream, Z_NO_FLUSH)
                produced += room - Int(stream.pointee.avail_out)
            } else {
                // At the limit: one byte more would be too many.
                rc = withUnsafeMutablePointer(to: &spare) { out in
                    stream.pointee.next_out = out
                    stream.pointee.avail_out = 1
                    return CZlib.inflate(stream, Z_NO_FLUSH)
                }
                if stream.pointee.avail_out == 0 { return .tooLarge }
            }
            switch rc {
            case Z_STREAM_END:
                return .ended(remaining: Int(stream.pointee.avail_in))
            case Z_OK, Z_BUF_ERROR:
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return .consumed }
                if rc == Z_BUF_ERROR && stream.pointee.avail_out > 0 { return .corrupt }
                continue  // out of room only: more room next turn
            default:
                return .corrupt  // bad data, or a dictionary asked for
            }
        }
    }

    /// Gives back a buffer grown past `bytes` (the loop's periodic trim).
    func shrink(above bytes: Int) {
        guard capacity > bytes else { return }
        buffer.deallocate()
        capacity = Self.initialCapacity
        buffer = .allocate(byteCount: capacity, alignment: 1)
        produced = 0
    }

    private func grow(to size: Int) {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 1)
        bigger.copyMemory(from: buffer, byteCount: produced)
        buffer.deallocate()
        buffer = bigger
        capacity = size
    }
}

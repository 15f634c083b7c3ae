import CZlib

/// Compresses permessage-deflate messages with no context takeover: one raw
/// DEFLATE stream, reset per message, sync-flushed, the 00 00 ff ff tail
/// removed (RFC 7692 §7.2.1). A loop holds one per window size in use, so
/// compression costs no memory per connection; a message compressed once
/// can go to every receiver that agreed on that window. Not thread-safe.
public final class MessageDeflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    public let windowBits: Int
    /// A gzip member per call (Pomelo's gzip flag), not a raw sync-flushed
    /// message.
    public let gzip: Bool
    static let initialCapacity = 4096

    /// `level`: zlib's 1 (fastest) to 9 (smallest); `windowBits` 9 to 15.
    /// `gzip`: each call makes a whole gzip stream (window 15) instead.
    public init?(level: Int = 1, windowBits: Int = 15, gzip: Bool = false) {
        self.windowBits = gzip ? 15 : min(15, max(9, windowBits))
        self.gzip = gzip
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // The hash table follows the window: zlib slides the whole table
        // each time a window's worth of input has passed, so a 512-byte
        // window with zlib's default table (memLevel 8, 32 Ki entries)
        // would redo 64 KiB of work every 512 bytes. At window 15 (memLevel
        // 8) the stream holds about 256 KiB, once per loop.
        let memLevel = Int32(max(1, min(8, self.windowBits - 7)))
        guard deflateInit2_(stream, Int32(min(9, max(1, level))), Z_DEFLATED,
                            gzip ? 15 + 16 : -Int32(self.windowBits), memLevel,
                            Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            return nil
        }
        capacity = Self.initialCapacity
        buffer = .allocate(byteCount: capacity, alignment: 1)
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        buffer.deallocate()
    }

    /// Compresses `a` then `b` as one message (or gzip stream). The result,
    /// valid until the next call, is nil when it would not be smaller than
    /// the input (the message then goes uncompressed) or zlib failed.
    public func compress(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) -> UnsafeRawBufferPointer? {
        let total = a.count + b.count
        guard total > 0 else { return nil }
        deflateReset(stream)
        // The bound covers a sync flush's empty block too; one more flush
        // for the second part, and a little room.
        let bound = Int(deflateBound(stream, UInt(total))) + 16
        if capacity < bound { replaceBuffer(bound) }
        stream.pointee.next_out = buffer.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(capacity)
        let last = gzip ? Z_FINISH : Z_SYNC_FLUSH
        guard feed(a, flush: b.isEmpty ? last : Z_NO_FLUSH), b.isEmpty || feed(b, flush: last) else {
            return nil
        }
        let n = capacity - Int(stream.pointee.avail_out)
        if gzip { return n < total ? UnsafeRawBufferPointer(start: buffer, count: n) : nil }
        // A sync flush ends with an empty stored block, 00 00 ff ff.
        guard n >= 4, n - 4 < total, buffer.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self) == UInt32(bigEndian: 0x0000_FFFF) else {
            return nil
        }
        return UnsafeRawBufferPointer(start: buffer, count: n - 4)
    }

    private func feed(_ input: UnsafeRawBufferPointer, flush: Int32) -> Bool {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        let rc = CZlib.deflate(stream, flush)
        // The buffer holds the bound: everything fits in one call.
        if flush == Z_FINISH { return rc == Z_STREAM_END }
        return (rc == Z_OK || rc == Z_BUF_ERROR) && stream.pointee.avail_in == 0
            && (flush == Z_NO_FLUSH || stream.pointee.avail_out > 0)
    }

    /// Gives back a buffer grown past `bytes` (the loop's periodic trim).
    public func shrink(above bytes: Int) {
        if capacity > bytes { replaceBuffer(Self.initialCapacity) }
    }

    private func replaceBuffer(_ size: Int) {
        buffer.deallocate()
        capacity = size
        buffer = .allocate(byteCount: size, alignment: 1)
    }
}

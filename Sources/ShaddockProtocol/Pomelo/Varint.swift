/// Pomelo's message ids: base-128, least significant group first, the high
/// bit set on every byte but the last. Ids are limited to 32 bits, as in
/// libpomelo2, so a varint is at most 5 bytes.
public enum Varint {
    public static let maxLength = 5

    /// Reads a varint at `offset`. Returns nil when the bytes end first or the
    /// value does not fit in 32 bits.
    @inlinable
    public static func read(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (value: UInt32, next: Int)? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < bytes.count, i - offset < maxLength {
            let b = bytes[i]
            value |= UInt64(b & 0x7F) << shift
            i += 1
            if b & 0x80 == 0 {
                return value <= UInt64(UInt32.max) ? (UInt32(value), i) : nil
            }
            shift += 7
        }
        return nil
    }

    @inlinable
    public static func size(of value: UInt32) -> Int {
        var v = value >> 7
        var n = 1
        while v != 0 { v >>= 7; n += 1 }
        return n
    }

    /// Writes `value` at `offset` (room for `size(of:)` bytes is the caller's
    /// duty). Returns the offset after it.
    @inlinable
    public static func write(_ value: UInt32, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var v = value
        var i = offset
        while v >= 0x80 {
            out[i] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            i += 1
        }
        out[i] = UInt8(v)
        return i + 1
    }

    public static func encode(_ value: UInt32) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maxLength) { buf, n in
            n = write(value, into: UnsafeMutableRawBufferPointer(buf), at: 0)
        }
    }
}

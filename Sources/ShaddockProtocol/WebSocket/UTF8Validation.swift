/// UTF-8 validation without allocation (text frames, close reasons): the
/// well-formed byte sequences of Unicode's Table 3-7, so overlongs,
/// surrogates and code points past U+10FFFF are refused.
public enum UTF8Validation {
    @inlinable
    public static func isValid(_ b: UnsafeRawBufferPointer) -> Bool { validPrefix(b) == b.count }

    /// The length of the longest prefix of `b` made of whole characters when
    /// what follows it is the start of one, cut by the end of `b` (at most
    /// three bytes) or nothing; nil when `b` holds an ill-formed sequence.
    @inlinable
    public static func validPrefix(_ b: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        let n = b.count
        while i < n {
            // Skip ASCII eight bytes at a time.
            while i + 8 <= n, b.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 { i += 8 }
            if i >= n { break }
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            var need: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; hi = 0x9F
            case 0xF0: need = 3; lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; hi = 0x8F
            default: return nil
            }
            // A sequence cut by the end is checked as far as it goes.
            let present = min(need, n - 1 - i)
            if present >= 1 {
                let c1 = b[i + 1]
                if c1 < lo || c1 > hi { return nil }
            }
            var k = 2
            while k <= present {
                let cx = b[i + k]
                if cx < 0x80 || cx > 0xBF { return nil }
                k += 1
            }
            if present < need { return i }
            i += need + 1
        }
        return i
    }

    /// Validation of text that arrives in pieces (the fragments of a
    /// WebSocket message), so that an ill-formed sequence is refused in the
    /// piece that holds it. A character may straddle two pieces.
    public struct Stream: Sendable {
        /// The start of a character the last piece ended in, in memory order.
        private var carry: UInt32 = 0
        private var carried = 0

        public init() {}

        /// Whether the text ends on a whole character (so far).
        public var isComplete: Bool { carried == 0 }

        /// Takes the next piece; false once the text is ill-formed.
        public mutating func feed(_ piece: UnsafeRawBufferPointer) -> Bool {
            var start = 0
            if carried > 0 {
                // Complete the carried character with the piece's first bytes;
                // four bytes end any character.
                let take = min(4 - carried, piece.count)
                var joined = carry
                let whole: Int? = withUnsafeMutableBytes(of: &joined) { j in
                    for k in 0..<take { j[carried + k] = piece[k] }
                    return validPrefix(UnsafeRawBufferPointer(rebasing: j[..<(carried + take)]))
                }
                guard let whole else { return false }
                if whole == 0 {
                    carry = joined
                    carried += take
                    return true
                }
                start = whole - carried
            }
            let rest = UnsafeRawBufferPointer(rebasing: piece[start...])
            guard let whole = validPrefix(rest) else { return false }
            carry = 0
            carried = rest.count - whole
            withUnsafeMutableBytes(of: &carry) { c in
                for k in 0..<carried { c[k] = rest[whole + k] }
            }
            return true
        }
    }
}

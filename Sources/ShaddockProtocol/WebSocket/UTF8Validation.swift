/// UTF-8 validation without allocation (text frames, close reasons): the
/// well-formed byte sequences of Unicode's Table 3-7, so overlongs,
/// surrogates and code points past U+10FFFF are refused.
public enum UTF8Validation {
    @inlinable
    public static func isValid(_ b: UnsafeRawBufferPointer) -> Bool {
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
            default: return false
            }
            if i + need >= n { return false }
            let c1 = b[i + 1]
            if c1 < lo || c1 > hi { return false }
            var k = 2
            while k <= need {
                let cx = b[i + k]
                if cx < 0x80 || cx > 0xBF { return false }
                k += 1
            }
            i += need + 1
        }
        return true
    }
}

// JSONScanner: the token rules (whitespace, literals, numbers, strings and
// their UTF-8) shared by `JSON.parse` and `JSON.isValid`. The two must agree
// on every input, so neither re-implements a rule; and the validator must not
// allocate, so nothing here builds a String or an Array.

struct JSONScanner {
    /// Bound to UInt8 by the caller: JSON input is always a byte buffer.
    let p: UnsafePointer<UInt8>
    let end: Int
    var i: Int = 0

    init(_ p: UnsafePointer<UInt8>, count: Int) {
        self.p = p
        self.end = count
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while i < end {
            let b = p[i]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            i += 1
        }
    }

    /// `i` is at the literal's first byte, already known to match.
    @inline(__always)
    mutating func scanLiteral(_ word: StaticString) throws(JSONError) {
        let w = word.utf8Start
        for k in 1..<word.utf8CodeUnitCount {
            guard i + k < end else { throw .unexpectedEnd }
            guard p[i + k] == w[k] else { throw .unexpectedByte(offset: i + k) }
        }
        i += word.utf8CodeUnitCount
    }

    /// The value of four hex digits the scanner has already validated.
    @inline(__always)
    func hex4(at j: Int) -> UInt32 {
        hexDigitValue(p[j])! << 12 | hexDigitValue(p[j + 1])! << 8
            | hexDigitValue(p[j + 2])! << 4 | hexDigitValue(p[j + 3])!
    }

    // MARK: Numbers

    /// What the parser needs to turn a validated number into a Double
    /// without going through a String in the common case.
    struct NumberToken {
        var start: Int
        var negative = false
        /// Up to 19 significant digits; `truncated` when there were more.
        var mantissa: UInt64 = 0
        var truncated = false
        /// value = mantissa × 10^exponent (when not truncated).
        var exponent = 0
        var significantDigits = 0

        @inline(__always)
        mutating func accumulate(_ digit: UInt8) {
            if mantissa == 0 && digit == 0 { return }
            if significantDigits < 19 {
                mantissa = mantissa &* 10 &+ UInt64(digit)
                significantDigits += 1
            } else {
                truncated = true
            }
        }
    }

    /// `i` is at '-' or a digit. Grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    @inline(__always)
    mutating func scanNumber() throws(JSONError) -> NumberToken {
        var t = NumberToken(start: i)

        if p[i] == UInt8(ascii: "-") {
            t.negative = true
            i += 1
        }
        guard i < end else { throw .unexpectedEnd }
        let lead = p[i]
        if lead == UInt8(ascii: "0") {
            i += 1
            if i < end, isDigit(p[i]) { throw .invalidNumber(offset: i) }
        } else if isDigit(lead) {
            while i < end, isDigit(p[i]) {
                t.accumulate(p[i] &- 0x30)
                i += 1
            }
        } else {
            throw .invalidNumber(offset: i)
        }

        if i < end, p[i] == UInt8(ascii: ".") {
            i += 1
            guard i < end else { throw .unexpectedEnd }
            guard isDigit(p[i]) else { throw .invalidNumber(offset: i) }
            while i < end, isDigit(p[i]) {
                t.accumulate(p[i] &- 0x30)
                // Fraction digits past the 19th do not move the exponent:
                // the value is then taken from the text anyway.
                if !t.truncated { t.exponent -= 1 }
                i += 1
            }
        }

        if i < end, p[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            guard i < end else { throw .unexpectedEnd }
            var negativeExponent = false
            if p[i] == UInt8(ascii: "-") || p[i] == UInt8(ascii: "+") {
                negativeExponent = p[i] == UInt8(ascii: "-")
                i += 1
                guard i < end else { throw .unexpectedEnd }
            }
            guard isDigit(p[i]) else { throw .invalidNumber(offset: i) }
            var e = 0
            while i < end, isDigit(p[i]) {
                // Saturate: anything this large is ±0 or ±infinity anyway,
                // and the exact value then comes from the text.
                if e < 1_000_000 { e = e * 10 + Int(p[i] &- 0x30) }
                i += 1
            }
            t.exponent += negativeExponent ? -e : e
        }
        return t
    }

    // MARK: Strings

    /// `i` is just past the opening quote. On return `i` is just past the
    /// closing quote; the result tells whether any escape was seen.
    @inline(__always)
    mutating func scanString() throws(JSONError) -> Bool {
        var escaped = false
        while true {
            // Plain ASCII runs are the common case; test 8 bytes at a time.
            while i + 8 <= end {
                let word = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                if needsByteScan(word) { break }
                i += 8
            }
            guard i < end else { throw .unexpectedEnd }
            let b = p[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return escaped
            } else if b == UInt8(ascii: "\\") {
                try scanEscape()
                escaped = true
            } else if b < 0x20 {
                throw .invalidString(offset: i)
            } else if b < 0x80 {
                i += 1
            } else {
                try scanUTF8Sequence()
            }
        }
    }

    /// `i` is at the backslash.
    @inline(__always)
    mutating func scanEscape() throws(JSONError) {
        guard i + 1 < end else { throw .unexpectedEnd }
        switch p[i + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
            UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            i += 2
        case UInt8(ascii: "u"):
            for k in 2..<6 {
                guard i + k < end else { throw .unexpectedEnd }
                guard hexDigitValue(p[i + k]) != nil else { throw .invalidString(offset: i + k) }
            }
            i += 6
        default:
            throw .invalidString(offset: i + 1)
        }
    }

    /// `i` is at a byte >= 0x80. Well-formed UTF-8 per Unicode table 3-7:
    /// no overlongs, no encoded surrogates, nothing above U+10FFFF.
    @inline(__always)
    mutating func scanUTF8Sequence() throws(JSONError) {
        let lead = p[i]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw .invalidUTF8(offset: i)
        }
        for k in 1..<length {
            guard i + k < end else { throw .unexpectedEnd }
            let b = p[i + k]
            guard b >= low && b <= high else { throw .invalidUTF8(offset: i + k) }
            low = 0x80
            high = 0xBF
        }
        i += length
    }
}

@inline(__always)
private func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

@inline(__always)
private func hexDigitValue(_ b: UInt8) -> UInt32? {
    switch b {
    case 0x30...0x39: return UInt32(b - 0x30)
    case 0x41...0x46: return UInt32(b - 0x41 + 10)
    case 0x61...0x66: return UInt32(b - 0x61 + 10)
    default: return nil
    }
}

/// True when any of the 8 bytes is a control character, '"', '\\' or
/// non-ASCII. Each test is exact as a whole-word boolean, which is all that
/// is needed: a hit only sends the scanner to the byte-by-byte path.
@inline(__always)
private func needsByteScan(_ w: UInt64) -> Bool {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    let control = (w &- ones &* 0x20) & ~w
    let q = w ^ (ones &* 0x22)
    let quote = (q &- ones) & ~q
    let s = w ^ (ones &* 0x5C)
    let backslash = (s &- ones) & ~s
    return (control | quote | backslash | w) & highs != 0
}

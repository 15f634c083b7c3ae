// JSONValidator: `JSON.isValid`, the syntax check run on every request body
// in the hot path. It walks the same grammar as the parser, through the same
// scanner, but builds nothing: no String, no Array, no heap allocation.
// (Typed throws of a plain enum are returned in registers, not boxed.)

extension JSON {
    /// True exactly when `parse` would succeed on these bytes.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return false }
        var v = JSONValidator(JSONScanner(base.assumingMemoryBound(to: UInt8.self), count: bytes.count))
        do {
            try v.value(depth: 0)
        } catch {
            return false
        }
        v.s.skipWhitespace()
        return v.s.i == v.s.end
    }
}

struct JSONValidator {
    var s: JSONScanner

    init(_ scanner: JSONScanner) { s = scanner }

    mutating func value(depth: Int) throws(JSONError) {
        s.skipWhitespace()
        guard s.i < s.end else { throw .unexpectedEnd }
        switch s.p[s.i] {
        case UInt8(ascii: "{"): try object(depth: depth + 1)
        case UInt8(ascii: "["): try array(depth: depth + 1)
        case UInt8(ascii: "\""):
            s.i += 1
            _ = try s.scanString()
        case UInt8(ascii: "t"): try s.scanLiteral("true")
        case UInt8(ascii: "f"): try s.scanLiteral("false")
        case UInt8(ascii: "n"): try s.scanLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try s.scanNumber()
        default: throw .unexpectedByte(offset: s.i)
        }
    }

    mutating func array(depth: Int) throws(JSONError) {
        guard depth <= JSON.maxDepth else { throw .tooDeep }
        s.i += 1
        s.skipWhitespace()
        guard s.i < s.end else { throw .unexpectedEnd }
        if s.p[s.i] == UInt8(ascii: "]") {
            s.i += 1
            return
        }
        while true {
            try value(depth: depth)
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            let b = s.p[s.i]
            s.i += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "]") { return }
            throw .unexpectedByte(offset: s.i - 1)
        }
    }

    mutating func object(depth: Int) throws(JSONError) {
        guard depth <= JSON.maxDepth else { throw .tooDeep }
        s.i += 1
        s.skipWhitespace()
        guard s.i < s.end else { throw .unexpectedEnd }
        if s.p[s.i] == UInt8(ascii: "}") {
            s.i += 1
            return
        }
        while true {
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            guard s.p[s.i] == UInt8(ascii: "\"") else { throw .unexpectedByte(offset: s.i) }
            s.i += 1
            _ = try s.scanString()
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            guard s.p[s.i] == UInt8(ascii: ":") else { throw .unexpectedByte(offset: s.i) }
            s.i += 1
            try value(depth: depth)
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            let b = s.p[s.i]
            s.i += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "}") { return }
            throw .unexpectedByte(offset: s.i - 1)
        }
    }
}

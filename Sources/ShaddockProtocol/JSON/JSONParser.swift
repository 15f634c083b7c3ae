// JSONParser: builds a JSONValue from bytes. Strict RFC 8259, with the
// semantics of JavaScript's JSON.parse where the RFC leaves a choice
// (duplicate keys: first position, last value) so that what the gateway reads
// is what a Node.js Pomelo server would have read.

/// Entry points of the codec.
public enum JSON {
    /// Deepest nesting of arrays and objects accepted. Bounded so that hostile
    /// input cannot exhaust the stack of the (recursive) parser and writer.
    public static let maxDepth = 128

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONError) -> JSONValue {
        guard let base = bytes.baseAddress, bytes.count > 0 else { throw .unexpectedEnd }
        var parser = JSONParser(
            JSONScanner(base.assumingMemoryBound(to: UInt8.self), count: bytes.count))
        let value = try parser.parseValue(depth: 0)
        parser.s.skipWhitespace()
        if parser.s.i != parser.s.end { throw .trailingBytes(offset: parser.s.i) }
        return value
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try parse(raw) }
        }
        return try result.get()
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { buffer in
            Result { () throws(JSONError) in try parse(UnsafeRawBufferPointer(buffer)) }
        }
        return try result.get()
    }
}

struct JSONParser {
    var s: JSONScanner
    /// Reused for every string that holds escapes.
    var scratch: [UInt8] = []

    init(_ scanner: JSONScanner) { s = scanner }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        s.skipWhitespace()
        guard s.i < s.end else { throw .unexpectedEnd }
        switch s.p[s.i] {
        case UInt8(ascii: "{"): return .object(try parseObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try parseArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try s.scanLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try s.scanLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try s.scanLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default: throw .unexpectedByte(offset: s.i)
        }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> [JSONValue] {
        guard depth <= JSON.maxDepth else { throw .tooDeep }
        s.i += 1
        var elements: [JSONValue] = []
        s.skipWhitespace()
        guard s.i < s.end else { throw .unexpectedEnd }
        if s.p[s.i] == UInt8(ascii: "]") {
            s.i += 1
            return elements
        }
        while true {
            elements.append(try parseValue(depth: depth))
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            let b = s.p[s.i]
            s.i += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "]") { return elements }
            throw .unexpectedByte(offset: s.i - 1)
        }
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> JSONObject {
        guard depth <= JSON.maxDepth else { throw .tooDeep }
        s.i += 1
        var members = DedupingMembers()
        s.skipWhitespace()
        guard s.i < s.end else { throw .unexpectedEnd }
        if s.p[s.i] == UInt8(ascii: "}") {
            s.i += 1
            return JSONObject(members.members)
        }
        while true {
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            guard s.p[s.i] == UInt8(ascii: "\"") else { throw .unexpectedByte(offset: s.i) }
            let key = try parseString()
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            guard s.p[s.i] == UInt8(ascii: ":") else { throw .unexpectedByte(offset: s.i) }
            s.i += 1
            members.set(key, try parseValue(depth: depth))
            s.skipWhitespace()
            guard s.i < s.end else { throw .unexpectedEnd }
            let b = s.p[s.i]
            s.i += 1
            if b == UInt8(ascii: ",") { continue }
            if b == UInt8(ascii: "}") { return JSONObject(members.members) }
            throw .unexpectedByte(offset: s.i - 1)
        }
    }

    // MARK: Strings

    /// `s.i` is at the opening quote.
    mutating func parseString() throws(JSONError) -> String {
        let start = s.i + 1
        s.i = start
        let escaped = try s.scanString()
        let count = s.i - 1 - start
        if !escaped {
            return String(decoding: UnsafeBufferPointer(start: s.p + start, count: count), as: UTF8.self)
        }
        return decodeEscapes(from: start, to: start + count)
    }

    /// Only called on a slice the scanner has validated, so it cannot fail.
    mutating func decodeEscapes(from start: Int, to stop: Int) -> String {
        let p = s.p
        scratch.removeAll(keepingCapacity: true)
        var j = start
        var run = start
        while j < stop {
            guard p[j] == UInt8(ascii: "\\") else {
                j += 1
                continue
            }
            if j > run { scratch.append(contentsOf: UnsafeBufferPointer(start: p + run, count: j - run)) }
            let e = p[j + 1]
            j += 2
            switch e {
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = s.hex4(at: j)
                j += 4
                if scalar & 0xFC00 == 0xD800 {
                    // A high surrogate only counts when a low one follows;
                    // otherwise it is lone, and the next escape is read on its own.
                    if j + 6 <= stop, p[j] == UInt8(ascii: "\\"), p[j + 1] == UInt8(ascii: "u") {
                        let low = s.hex4(at: j + 2)
                        if low & 0xFC00 == 0xDC00 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            j += 6
                        } else {
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar & 0xFC00 == 0xDC00 {
                    scalar = 0xFFFD
                }
                appendUTF8(scalar)
            default:  // '"', '\\', '/'
                scratch.append(e)
            }
            run = j
        }
        if stop > run { scratch.append(contentsOf: UnsafeBufferPointer(start: p + run, count: stop - run)) }
        return String(decoding: scratch, as: UTF8.self)
    }

    @inline(__always)
    mutating func appendUTF8(_ v: UInt32) {
        switch v {
        case ..<0x80:
            scratch.append(UInt8(v))
        case ..<0x800:
            scratch.append(UInt8(0xC0 | v >> 6))
            scratch.append(UInt8(0x80 | v & 0x3F))
        case ..<0x10000:
            scratch.append(UInt8(0xE0 | v >> 12))
            scratch.append(UInt8(0x80 | v >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | v & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | v >> 18))
            scratch.append(UInt8(0x80 | v >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | v >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | v & 0x3F))
        }
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONError) -> Double {
        let t = try s.scanNumber()
        // Exact when mantissa and power of ten are both exact doubles: then
        // the single multiply or divide is correctly rounded (Clinger).
        if !t.truncated {
            if t.mantissa == 0 { return t.negative ? -0.0 : 0.0 }
            if t.mantissa <= 1 << 53, t.exponent >= -22, t.exponent <= 22 {
                var d = Double(t.mantissa)
                if t.exponent < 0 {
                    d /= exactPowersOfTen[-t.exponent]
                } else {
                    d *= exactPowersOfTen[t.exponent]
                }
                return t.negative ? -d : d
            }
        }
        let text = String(
            decoding: UnsafeBufferPointer(start: s.p + t.start, count: s.i - t.start), as: UTF8.self)
        // The grammar was checked, so this only fails if the standard library
        // disagrees about a valid number; report rather than trap.
        guard let d = Double(text) else { throw .invalidNumber(offset: t.start) }
        return d
    }
}

private let exactPowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]

/// Members of an object being parsed, with JSON.parse's duplicate rule. Small
/// objects are searched linearly; large ones get an index so that a hostile
/// body with many keys cannot make parsing quadratic.
private struct DedupingMembers {
    var members: [(key: String, value: JSONValue)] = []
    var index: [ByteKey: Int]? = nil

    static let linearLimit = 16

    mutating func set(_ key: String, _ value: JSONValue) {
        if index == nil {
            for k in members.indices where JSON.sameUTF8(members[k].key, key) {
                members[k].value = value
                return
            }
            members.append((key: key, value: value))
            if members.count >= Self.linearLimit {
                var built: [ByteKey: Int] = [:]
                built.reserveCapacity(members.count * 2)
                for (k, m) in members.enumerated() { built[ByteKey(m.key)] = k }
                index = built
            }
            return
        }
        let byteKey = ByteKey(key)
        if let k = index![byteKey] {
            members[k].value = value
        } else {
            index![byteKey] = members.count
            members.append((key: key, value: value))
        }
    }
}

/// A String hashed and compared by its UTF-8 bytes (Swift's own String
/// hashing follows canonical equivalence, which JavaScript does not).
private struct ByteKey: Hashable {
    let string: String
    init(_ string: String) { self.string = string }

    static func == (a: ByteKey, b: ByteKey) -> Bool { JSON.sameUTF8(a.string, b.string) }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

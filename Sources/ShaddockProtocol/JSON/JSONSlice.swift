// JSONSlice: one JSON value read in place, as the bytes of its text. A
// handler that wants two fields of a request body looks them up here instead
// of building a JSONValue tree: no allocation, one pass over the bytes per
// lookup, and a string or number copied into a push as it came.
//
// The bytes are normally valid JSON (request bodies are validated on
// arrival), but nothing here trusts that: every read is bounds-checked, and
// text that is not JSON reads as missing members, never past the buffer.

import Glibc

/// The text of one JSON value inside a buffer. Valid only as long as the
/// buffer: for a request body, during the handler call.
public struct JSONSlice {
    public enum Kind: Sendable { case null, bool, number, string, array, object }

    /// The value's JSON text, without surrounding whitespace.
    public let bytes: UnsafeRawBufferPointer

    /// A slice of a whole document (surrounding whitespace is skipped); nil
    /// when there is no value.
    public init?(document: UnsafeRawBufferPointer) {
        var r = JSONSkipper(document)
        r.skipWhitespace()
        let start = r.i
        guard r.skipValue() else { return nil }
        bytes = UnsafeRawBufferPointer(rebasing: document[start..<r.i])
    }

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// A document known to hold one value (a validated request body): only
    /// the whitespace around it is trimmed, the value is not walked.
    public init(trimming document: UnsafeRawBufferPointer) {
        var start = 0, end = document.count
        while start < end, Self.isSpace(document[start]) { start += 1 }
        while end > start, Self.isSpace(document[end - 1]) { end -= 1 }
        bytes = UnsafeRawBufferPointer(rebasing: document[start..<end])
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    public var kind: Kind {
        switch firstByte {
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        default: return .number
        }
    }

    /// The member `key` of an object (the last one, as JSON.parse keeps);
    /// nil if this is not an object or has no such member.
    public subscript(key: String) -> JSONSlice? {
        guard kind == .object else { return nil }
        var key = key
        return key.withUTF8 { wanted in
            var r = JSONSkipper(bytes)
            return r.lastMember(named: UnsafeRawBufferPointer(wanted))
        }
    }

    /// The string, its escapes decoded; nil if this is not a string.
    public var stringValue: String? {
        guard kind == .string else { return nil }
        guard let raw = rawString else { return (try? JSON.parse(bytes))?.stringValue }
        return String(decoding: raw, as: UTF8.self)
    }

    /// Whether this is the string `s` (compared after decoding escapes).
    public func isString(_ s: String) -> Bool {
        guard kind == .string else { return false }
        guard let raw = rawString else { return stringValue.map { JSON.sameUTF8($0, s) } ?? false }
        var s = s
        return s.withUTF8 { JSON.same(raw, UnsafeRawBufferPointer($0)) }
    }

    public var doubleValue: Double? {
        guard kind == .number else { return nil }
        return (try? JSON.parse(bytes))?.doubleValue
    }

    public var intValue: Int? {
        guard kind == .number else { return nil }
        return (try? JSON.parse(bytes))?.intValue
    }

    public var boolValue: Bool? {
        switch firstByte {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: return nil
        }
    }

    public var isNull: Bool { kind == .null }

    /// The value as a tree (allocates; for the shapes a slice does not read).
    public var value: JSONValue? { try? JSON.parse(bytes) }

    /// The first byte (0 for none). A plain subscript: `first` is generic
    /// code, which allocates in unoptimized builds.
    private var firstByte: UInt8 { bytes.isEmpty ? 0 : bytes[0] }

    /// A string's bytes between its quotes, when it holds no escape (so
    /// they are the string itself).
    var rawString: UnsafeRawBufferPointer? {
        guard bytes.count >= 2 else { return nil }
        let inner = UnsafeRawBufferPointer(start: bytes.baseAddress! + 1, count: bytes.count - 2)
        guard inner.count == 0 || memchr(inner.baseAddress!, 0x5C, inner.count) == nil else { return nil }
        return inner
    }

    /// Whether the text is exactly what JSON.stringify writes for this value
    /// (so it can be copied into output as it is): a string without escapes,
    /// a literal, a plain integer of at most 15 digits.
    var isCanonical: Bool {
        switch kind {
        case .string: return rawString != nil
        case .bool, .null: return true
        case .array, .object: return false
        case .number:
            // Indexed, not through slices: unoptimized builds allocate for
            // generic collection code, and handlers call this per request.
            guard !bytes.isEmpty else { return false }
            var i = bytes[0] == UInt8(ascii: "-") ? 1 : 0
            let digits = bytes.count - i
            guard digits > 0, digits <= 15 else { return false }
            if bytes[i] == UInt8(ascii: "0") { return bytes.count == 1 }
            while i < bytes.count {
                guard bytes[i] &- 0x30 < 10 else { return false }
                i += 1
            }
            return true
        }
    }
}

extension JSON {
    /// Byte equality of two buffers.
    static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0 else { return true }
        return memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }
}

/// Steps over JSON text without building anything. Bounds-checked: on text
/// that is not JSON it stops (returns false), it never reads past the end.
struct JSONSkipper {
    let b: UnsafeRawBufferPointer
    var i = 0

    init(_ bytes: UnsafeRawBufferPointer) { b = bytes }

    mutating func skipWhitespace() {
        while i < b.count {
            let c = b[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    /// At a '"': past the closing quote. Notes in `escaped` whether the
    /// string held an escape.
    @inline(__always)
    mutating func skipString(escaped: inout Bool) -> Bool {
        i += 1
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return true
            }
            if c == UInt8(ascii: "\\") {
                escaped = true
                i += 2
            } else {
                i += 1
            }
        }
        return false
    }

    mutating func skipString() -> Bool {
        var escaped = false
        return skipString(escaped: &escaped)
    }

    /// At a value's first byte: past the value.
    mutating func skipValue() -> Bool {
        guard i < b.count else { return false }
        switch b[i] {
        case UInt8(ascii: "\""):
            return skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            // Strings may hold brackets: they are skipped whole.
            var depth = 0
            while i < b.count {
                switch b[i] {
                case UInt8(ascii: "\""):
                    guard skipString() else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        i += 1
                        return true
                    }
                default:
                    break
                }
                i += 1
            }
            return false
        default:
            // A number or a literal: up to the next delimiter.
            let start = i
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]")
                    || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { break }
                i += 1
            }
            return i > start
        }
    }

    /// At an object's '{': the value of its last member named `wanted`.
    mutating func lastMember(named wanted: UnsafeRawBufferPointer) -> JSONSlice? {
        var found: JSONSlice?
        i += 1
        skipWhitespace()
        if i < b.count && b[i] == UInt8(ascii: "}") { return nil }
        while i < b.count {
            guard b[i] == UInt8(ascii: "\"") else { return found }
            let keyStart = i
            var escaped = false
            guard skipString(escaped: &escaped) else { return found }
            let keyEnd = i
            skipWhitespace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return found }
            i += 1
            skipWhitespace()
            let valueStart = i
            guard skipValue() else { return found }
            // Most keys hold no escape: their bytes are compared as they are.
            let same = escaped
                ? Self.matches(JSONSlice(UnsafeRawBufferPointer(rebasing: b[keyStart..<keyEnd])), wanted)
                : keyEnd - keyStart - 2 == wanted.count
                    && (wanted.count == 0 || memcmp(b.baseAddress! + keyStart + 1, wanted.baseAddress!, wanted.count) == 0)
            if same {
                found = JSONSlice(UnsafeRawBufferPointer(start: b.baseAddress! + valueStart, count: i - valueStart))
            }
            skipWhitespace()
            guard i < b.count, b[i] == UInt8(ascii: ",") else { return found }
            i += 1
            skipWhitespace()
        }
        return found
    }

    private static func matches(_ key: JSONSlice, _ wanted: UnsafeRawBufferPointer) -> Bool {
        if let raw = key.rawString { return JSON.same(raw, wanted) }
        // A key with escapes: decoded (rare; allocates).
        guard let decoded = key.stringValue else { return false }
        return Array(decoded.utf8).withUnsafeBytes { JSON.same($0, wanted) }
    }
}

// JSONValue: the in-memory form of a JSON document. Pomelo bodies, handshake
// payloads and route dictionaries are JSON, and the gateway must read them and
// write them back exactly as a Node.js Pomelo server would, so the model keeps
// object member order and compares strings by their bytes.

#if canImport(Glibc)
import Glibc
#endif

/// A JSON value.
///
/// Equality is structural and exact: strings compare by their UTF-8 bytes
/// (not by Swift's canonical equivalence, because "é" and "e\u{301}" are
/// different JSON texts and different JavaScript property names), objects
/// compare member by member in order, and numbers use `Double` equality
/// (so `0 == -0` and NaN is unequal to itself).
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// Errors from `JSON.parse`. Offsets are byte offsets into the input.
public enum JSONError: Error, Equatable, Sendable {
    /// The input ended inside a value (or held no value at all).
    case unexpectedEnd
    /// A byte that cannot start or continue the value at this point.
    case unexpectedByte(offset: Int)
    /// A malformed number: leading zero, missing digits, bad exponent.
    case invalidNumber(offset: Int)
    /// An unescaped control character or a bad escape inside a string.
    case invalidString(offset: Int)
    /// A string holds bytes that are not well-formed UTF-8.
    case invalidUTF8(offset: Int)
    /// Arrays and objects nest deeper than `JSON.maxDepth`.
    case tooDeep
    /// A complete value is followed by something other than whitespace.
    case trailingBytes(offset: Int)
}

extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return JSON.sameUTF8(a, b)
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a == b
        default: return false
        }
    }
}

extension JSON {
    /// Byte equality of two strings. Swift's `==` is canonical equivalence, which
    /// would merge keys and values that JavaScript keeps apart.
    @inline(__always)
    static func sameUTF8(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        let count = x.count
        guard count == y.count else { return false }
        guard count > 0 else { return true }
        // Native strings hand out their bytes: one memcmp instead of a
        // generic walk of two views (object keys are compared this way).
        let same = x.withContiguousStorageIfAvailable { p in
            y.withContiguousStorageIfAvailable { q in memcmp(p.baseAddress!, q.baseAddress!, count) == 0 }
        }
        if let same, let same { return same }
        return x.elementsEqual(y)
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Repeated keys behave as in a JavaScript object literal: the first
    /// position is kept and the last value wins.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}

extension JSONValue {
    /// The member named `key` if this is an object holding it, else nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var doubleValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The number as an `Int` when it is integral and fits; nil otherwise
    /// (so 1.5, 1e300 and NaN give nil, and -0 gives 0).
    public var intValue: Int? {
        if case .number(let d) = self { return Int(exactly: d) }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

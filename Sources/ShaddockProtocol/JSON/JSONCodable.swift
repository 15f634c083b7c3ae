// JSONCodable: what JSONValueEncoder and JSONValueDecoder share, and the
// Codable conformance of JSONValue and JSONObject, so a handler's message type
// can hold an arbitrary JSON payload (`var extra: JSONValue`) next to typed
// fields.

extension JSONValue: Codable {
    public func encode(to encoder: any Encoder) throws {
        // Our encoder takes the value as is: going through containers would
        // collapse duplicate keys of a verbatim JSONObject and refuse NaN,
        // and encoding a JSONValue must give back the same JSONValue.
        if let encoder = encoder as? JSONValueEncoderImpl {
            return encoder.store(.value(self))
        }
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .number(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let elements):
            var c = encoder.unkeyedContainer()
            for element in elements { try c.encode(element) }
        case .object(let object):
            try object.encode(to: encoder)
        }
    }

    public init(from decoder: any Decoder) throws {
        if let decoder = decoder as? JSONValueDecoderImpl {
            self = decoder.value
            return
        }
        // Another decoder (Foundation's, a property list one...): probe the
        // shapes in turn, scalars first since their containers do not throw
        // for a mismatch until a value is read.
        if let c = try? decoder.singleValueContainer() {
            if c.decodeNil() { self = .null; return }
            if let b = try? c.decode(Bool.self) { self = .bool(b); return }
            if let d = try? c.decode(Double.self) { self = .number(d); return }
            if let s = try? c.decode(String.self) { self = .string(s); return }
        }
        if let c = try? decoder.container(keyedBy: JSONCodingKey.self) {
            self = .object(try JSONObject(from: c))
            return
        }
        var c = try decoder.unkeyedContainer()
        var elements: [JSONValue] = []
        while !c.isAtEnd { elements.append(try c.decode(JSONValue.self)) }
        self = .array(elements)
    }
}

extension JSONObject: Codable {
    public func encode(to encoder: any Encoder) throws {
        if let encoder = encoder as? JSONValueEncoderImpl {
            return encoder.store(.value(.object(self)))
        }
        var c = encoder.container(keyedBy: JSONCodingKey.self)
        for member in members { try c.encode(member.value, forKey: JSONCodingKey(member.key)) }
    }

    public init(from decoder: any Decoder) throws {
        if let decoder = decoder as? JSONValueDecoderImpl {
            guard case .object(let object) = decoder.value else {
                throw decodingMismatch(JSONObject.self, decoder.value, at: decoder.codingPath)
            }
            self = object
            return
        }
        self = try JSONObject(from: decoder.container(keyedBy: JSONCodingKey.self))
    }

    fileprivate init(from c: KeyedDecodingContainer<JSONCodingKey>) throws {
        self.init()
        for key in c.allKeys { self[key.stringValue] = try c.decode(JSONValue.self, forKey: key) }
    }
}

/// Any key: object members by name, array elements by position.
struct JSONCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?

    init(_ string: String) {
        stringValue = string
        intValue = nil
    }

    init(stringValue: String) { self.init(stringValue) }

    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }

    /// A position in an unkeyed container, named as Foundation names it so
    /// that error messages read the same.
    init(index: Int) {
        stringValue = "Index \(index)"
        intValue = index
    }

    /// The key `superEncoder()` and `superDecoder()` use.
    static let `super` = JSONCodingKey("super")
}

/// A String hashed and compared by its UTF-8 bytes, like JSONObject's keys
/// (Swift's String equality is canonical equivalence, which would merge
/// "é" and "e\u{301}", two different JavaScript property names).
struct UTF8Key: Hashable {
    let string: String
    init(_ string: String) { self.string = string }

    static func == (a: UTF8Key, b: UTF8Key) -> Bool { JSON.sameUTF8(a.string, b.string) }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// Objects with more members than this get a hash index while being encoded
/// or decoded; below it a linear scan is cheaper than hashing.
let jsonCodingLinearLimit = 16

extension JSONValue {
    /// How error messages name what was found.
    var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number(let d): return "the number \(d)"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// The error for a value of the wrong kind. Null gets valueNotFound, as with
/// Foundation's JSONDecoder, since it stands for a missing value.
func decodingMismatch(_ type: Any.Type, _ value: JSONValue, at path: [any CodingKey]) -> DecodingError {
    if case .null = value {
        return .valueNotFound(
            type, .init(codingPath: path, debugDescription: "Expected \(type) value but found null instead."))
    }
    return .typeMismatch(
        type,
        .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(value.kindDescription) instead."))
}

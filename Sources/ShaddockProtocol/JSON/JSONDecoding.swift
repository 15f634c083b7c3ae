// JSONDecoding: Decodable values from JSONValue, so that handlers can take
// typed requests. It reads what JSON.parse built, with JavaScript's rules
// where Codable leaves a choice: a repeated key's last value wins, numbers
// are doubles and an integer type takes only those that are integral and fit.

/// Decodes `Decodable` values from `JSONValue` or from JSON text.
///
/// Errors are `DecodingError`s whose coding path names the offending value:
/// `keyNotFound` for a missing member, `valueNotFound` for null where a value
/// is required, `typeMismatch` for a value of another kind, `dataCorrupted`
/// for a number that does not fit the integer or float type asked for, or
/// for text that is not JSON (with the `JSONError` as underlying error).
public struct JSONValueDecoder: Sendable {
    /// Handed to `init(from:)` implementations as `decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: JSONValueDecoderImpl(value: value, codingPath: [], userInfo: userInfo))
    }

    /// Parses with `JSON.parse`, then decodes.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        let value: JSONValue
        do {
            value = try JSON.parse(bytes)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "The given data was not valid JSON.", underlyingError: error))
        }
        return try decode(type, from: value)
    }
}

/// Also the single value container: that container reads the decoder's own
/// value, so there is nothing else to hold.
struct JSONValueDecoderImpl: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    func sub(_ value: JSONValue, at path: [any CodingKey]) -> JSONValueDecoderImpl {
        JSONValueDecoderImpl(value: value, codingPath: path, userInfo: userInfo)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else {
            throw decodingMismatch(JSONObject.self, value, at: codingPath)
        }
        return KeyedDecodingContainer(KeyedDecoder<Key>(decoder: self, object: object))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw decodingMismatch([JSONValue].self, value, at: codingPath)
        }
        return UnkeyedDecoder(decoder: self, elements: elements)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: Single value

    func decodeNil() -> Bool { value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try decodeBool(value, at: codingPath) }
    func decode(_ type: String.Type) throws -> String { try decodeString(value, at: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try decodeDouble(value, at: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try decodeFloat(value, at: codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try decodeInteger(value, at: codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decodeInteger(value, at: codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decodeInteger(value, at: codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decodeInteger(value, at: codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decodeInteger(value, at: codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try decodeInteger(value, at: codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeInteger(value, at: codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeInteger(value, at: codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeInteger(value, at: codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeInteger(value, at: codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
}

// MARK: Scalars

func decodeBool(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws -> Bool {
    guard case .bool(let b) = value else { throw decodingMismatch(Bool.self, value, at: path()) }
    return b
}

func decodeString(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws -> String {
    guard case .string(let s) = value else { throw decodingMismatch(String.self, value, at: path()) }
    return s
}

func decodeDouble(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws -> Double {
    guard case .number(let d) = value else { throw decodingMismatch(Double.self, value, at: path()) }
    return d
}

/// Rounds to the nearest Float, as a JavaScript Float32Array would, but
/// refuses a finite double that would become infinite.
func decodeFloat(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws -> Float {
    guard case .number(let d) = value else { throw decodingMismatch(Float.self, value, at: path()) }
    guard !d.isFinite || d.magnitude <= Double(Float.greatestFiniteMagnitude) else {
        throw DecodingError.dataCorrupted(
            .init(codingPath: path(), debugDescription: "Parsed JSON number \(d) does not fit in Float."))
    }
    return Float(d)
}

/// Only exact conversions: 1.5, 1e300, -1 for UInt and NaN are refused
/// rather than truncated, clamped or wrapped.
func decodeInteger<T: FixedWidthInteger>(_ value: JSONValue, at path: @autoclosure () -> [any CodingKey]) throws -> T {
    guard case .number(let d) = value else { throw decodingMismatch(T.self, value, at: path()) }
    guard let n = T(exactly: d) else {
        throw DecodingError.dataCorrupted(
            .init(codingPath: path(), debugDescription: "Parsed JSON number \(d) does not fit in \(T.self)."))
    }
    return n
}

// MARK: Containers

struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: JSONValueDecoderImpl
    let object: JSONObject
    /// Position of the last member with each key, for objects too large for
    /// a linear scan (decoding a dictionary looks every key up).
    let index: [UTF8Key: Int]?

    init(decoder: JSONValueDecoderImpl, object: JSONObject) {
        self.decoder = decoder
        self.object = object
        if object.count > jsonCodingLinearLimit {
            var built: [UTF8Key: Int] = [:]
            for (k, member) in object.members.enumerated() { built[UTF8Key(member.key)] = k }
            index = built
        } else {
            index = nil
        }
    }

    var codingPath: [any CodingKey] { decoder.codingPath }

    /// Each key once, at its first position, as JSON.parse would order them.
    var allKeys: [Key] {
        var seen = Set<UTF8Key>()
        return object.members.compactMap { member in
            seen.insert(UTF8Key(member.key)).inserted ? Key(stringValue: member.key) : nil
        }
    }

    /// The last value with this key: JSON.parse lets a repeated key's last
    /// value win (JSONObject's getter does the same on small objects).
    private func lookup(_ key: Key) -> JSONValue? {
        if let index { return index[UTF8Key(key.stringValue)].map { object.members[$0].value } }
        return object[key.stringValue]
    }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    private func require(_ key: Key) throws -> JSONValue {
        guard let value = lookup(key) else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "No value associated with key \"\(key.stringValue)\"."))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try require(key).isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try decodeBool(require(key), at: codingPath + [key])
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try decodeString(require(key), at: codingPath + [key])
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try decodeDouble(require(key), at: codingPath + [key])
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try decodeFloat(require(key), at: codingPath + [key])
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(key) }

    private func integer<T: FixedWidthInteger>(_ key: Key) throws -> T {
        try decodeInteger(require(key), at: codingPath + [key])
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: decoder.sub(require(key), at: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.sub(require(key), at: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.sub(require(key), at: codingPath + [key]).unkeyedContainer()
    }

    /// A missing member gives a decoder of null, as with Foundation: the
    /// superclass's init(from:) then says what it expected.
    func superDecoder() throws -> any Decoder {
        let key = JSONCodingKey.super
        return decoder.sub(object[key.stringValue] ?? .null, at: codingPath + [key])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        decoder.sub(lookup(key) ?? .null, at: codingPath + [key])
    }
}

struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let decoder: JSONValueDecoderImpl
    let elements: [JSONValue]
    private(set) var currentIndex = 0

    init(decoder: JSONValueDecoderImpl, elements: [JSONValue]) {
        self.decoder = decoder
        self.elements = elements
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    /// Hands the current element and a way to name its path (only built
    /// for an error or a nested decoder) to `body`, and moves past the
    /// element only if that succeeds, as Foundation does, so that a caller
    /// may retry with another type.
    private mutating func next<T>(
        _ type: Any.Type, _ body: (JSONValue, () -> [any CodingKey]) throws -> T
    ) throws -> T {
        let path = { [codingPath, currentIndex] in codingPath + [JSONCodingKey(index: currentIndex)] }
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type, .init(codingPath: path(), debugDescription: "Unkeyed container is at end."))
        }
        let result = try body(elements[currentIndex], path)
        currentIndex += 1
        return result
    }

    /// Moves on only past a null, so that decodeIfPresent then reads the value.
    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any?.self,
                .init(
                    codingPath: codingPath + [JSONCodingKey(index: currentIndex)],
                    debugDescription: "Unkeyed container is at end."))
        }
        guard elements[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) { try decodeBool($0, at: $1()) } }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) { try decodeString($0, at: $1()) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) { try decodeDouble($0, at: $1()) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) { try decodeFloat($0, at: $1()) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    private mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try next(type) { try decodeInteger($0, at: $1()) }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let decoder = self.decoder
        return try next(type) { try T(from: decoder.sub($0, at: $1())) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let decoder = self.decoder
        return try next(JSONObject.self) { try decoder.sub($0, at: $1()).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let decoder = self.decoder
        return try next([JSONValue].self) { try decoder.sub($0, at: $1()).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        let decoder = self.decoder
        return try next(JSONValue.self) { decoder.sub($0, at: $1()) }
    }
}

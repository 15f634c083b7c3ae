// JSONEncoding: Encodable values to JSONValue, so that handlers can answer
// with typed structs and the gateway still writes exactly what JSON.stringify
// would. Keyed containers keep the order in which keys were encoded (the
// synthesized encode(to:) follows declaration order), which makes the output
// bytes stable: {code:200, msg:"x"} is always {"code":200,"msg":"x"}.

/// Encodes `Encodable` values to `JSONValue`.
///
/// Like Foundation's JSONEncoder: nil optionals are omitted by the
/// synthesized `encodeIfPresent`, explicit `encodeNil` writes null, and a
/// nested value that encodes nothing becomes `{}`. Unlike it, numbers follow
/// JavaScript: integers beyond ±2^53 and non-finite floats are refused, since
/// a JavaScript client could not read them back exactly.
public struct JSONValueEncoder: Sendable {
    /// Handed to `encode(to:)` implementations as `encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = JSONValueEncoderImpl(codingPath: [], userInfo: userInfo)
        try value.encode(to: encoder)
        guard let node = encoder.node else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        return node.resolved
    }

    /// The JSON text, as `JSONValue.write(into:)` writes it.
    public func encodeBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
        try encode(value).serialized
    }
}

/// Largest integer magnitude encoded: every integer up to 2^53 is an exact
/// double, beyond it some are not (2^53 + 1 would be read back as 2^53).
private let maxExactInteger: UInt64 = 1 << 53

/// A value under construction. Containers are shared by reference, because
/// Codable lets a container outlive the call that created it (nested
/// containers are filled after being attached to their parent).
enum JSONEncodingNode {
    case value(JSONValue)
    case object(ObjectBuilder)
    case array(ArrayBuilder)
    /// A super encoder: its value is whatever it ends up holding.
    case deferred(JSONValueEncoderImpl)

    var resolved: JSONValue {
        switch self {
        case .value(let v): return v
        case .object(let o): return .object(JSONObject(o.members.map { (key: $0.key, value: $0.value.resolved) }))
        case .array(let a): return .array(a.elements.map(\.resolved))
        case .deferred(let e): return e.node?.resolved ?? .object(JSONObject())
        }
    }
}

final class ObjectBuilder {
    var members: [(key: String, value: JSONEncodingNode)] = []
    /// Position of each key, once there are too many for a linear scan
    /// (dictionaries with thousands of keys are encoded through here).
    var index: [UTF8Key: Int]? = nil

    /// A repeated key replaces the value in place, as assigning to a
    /// JavaScript object's existing property does.
    func set(_ key: String, _ value: JSONEncodingNode) {
        if index == nil {
            if let k = members.firstIndex(where: { JSON.sameUTF8($0.key, key) }) {
                members[k].value = value
                return
            }
            members.append((key: key, value: value))
            if members.count > jsonCodingLinearLimit {
                var built: [UTF8Key: Int] = [:]
                for (k, m) in members.enumerated() { built[UTF8Key(m.key)] = k }
                index = built
            }
            return
        }
        let k = UTF8Key(key)
        if let position = index![k] {
            members[position].value = value
        } else {
            index![k] = members.count
            members.append((key: key, value: value))
        }
    }

    /// The container a repeated `container(keyedBy:)` shares, if the key
    /// already holds one.
    func existing(_ key: String) -> JSONEncodingNode? {
        if let index { return index[UTF8Key(key)].map { members[$0].value } }
        return members.first(where: { JSON.sameUTF8($0.key, key) })?.value
    }
}

final class ArrayBuilder {
    var elements: [JSONEncodingNode] = []
}

final class JSONValueEncoderImpl: Encoder {
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]
    /// nil until something is encoded.
    var node: JSONEncodingNode?

    init(codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: Any]) {
        self.codingPath = codingPath
        self.userInfo = userInfo
    }

    /// Mixing kinds of container in one encoder is a bug in an encode(to:)
    /// implementation, not bad input, so it traps as with Foundation.
    func store(_ new: JSONEncodingNode) {
        precondition(node == nil, "Value encoded at \(codingPath.map(\.stringValue)) after something else was")
        node = new
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let builder: ObjectBuilder
        switch node {
        case .object(let existing)?: builder = existing
        case nil:
            builder = ObjectBuilder()
            node = .object(builder)
        default:
            preconditionFailure(
                "Keyed container requested at \(codingPath.map(\.stringValue)) after a value or an unkeyed one")
        }
        return KeyedEncodingContainer(KeyedEncoder(encoder: self, builder: builder, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let builder: ArrayBuilder
        switch node {
        case .array(let existing)?: builder = existing
        case nil:
            builder = ArrayBuilder()
            node = .array(builder)
        default:
            preconditionFailure(
                "Unkeyed container requested at \(codingPath.map(\.stringValue)) after a value or a keyed one")
        }
        return UnkeyedEncoder(encoder: self, builder: builder, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueEncoder(encoder: self) }

    /// Encodes a nested value with its own encoder at `path`.
    func box<T: Encodable>(_ value: T, at path: [any CodingKey]) throws -> JSONEncodingNode {
        let sub = JSONValueEncoderImpl(codingPath: path, userInfo: userInfo)
        try value.encode(to: sub)
        return sub.node ?? .value(.object(JSONObject()))
    }
}

// MARK: Scalars

func encodeInteger<T: BinaryInteger>(_ value: T, at path: @autoclosure () -> [any CodingKey]) throws -> JSONValue {
    guard value.magnitude <= maxExactInteger else {
        throw EncodingError.invalidValue(
            value,
            .init(
                codingPath: path(),
                debugDescription: "\(value) is beyond ±2^53: a JavaScript number cannot hold it exactly."))
    }
    return .number(Double(value))
}

func encodeDouble(_ value: Double, at path: @autoclosure () -> [any CodingKey]) throws -> JSONValue {
    guard value.isFinite else {
        throw EncodingError.invalidValue(
            value, .init(codingPath: path(), debugDescription: "Unable to encode Double.\(value) directly in JSON."))
    }
    return .number(value)
}

/// A Float goes through its shortest decimal form, so that 0.1 as a Float is
/// written 0.1 (as Foundation does), not 0.10000000149011612. Decoding that
/// back gives the same Float.
func encodeFloat(_ value: Float, at path: @autoclosure () -> [any CodingKey]) throws -> JSONValue {
    guard value.isFinite else {
        throw EncodingError.invalidValue(
            value, .init(codingPath: path(), debugDescription: "Unable to encode Float.\(value) directly in JSON."))
    }
    return .number(Double(value.description) ?? Double(value))
}

// MARK: Containers

struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: JSONValueEncoderImpl
    let builder: ObjectBuilder
    let codingPath: [any CodingKey]

    private func set(_ key: Key, _ value: JSONValue) { builder.set(key.stringValue, .value(value)) }

    mutating func encodeNil(forKey key: Key) throws { set(key, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(key, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(key, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        set(key, try encodeDouble(value, at: codingPath + [key]))
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        set(key, try encodeFloat(value, at: codingPath + [key]))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try integer(value, key) }

    private func integer<T: BinaryInteger>(_ value: T, _ key: Key) throws {
        set(key, try encodeInteger(value, at: codingPath + [key]))
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        builder.set(key.stringValue, try encoder.box(value, at: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested: ObjectBuilder
        if case .object(let existing)? = builder.existing(key.stringValue) {
            nested = existing
        } else {
            nested = ObjectBuilder()
            builder.set(key.stringValue, .object(nested))
        }
        return KeyedEncodingContainer(
            KeyedEncoder<NestedKey>(encoder: encoder, builder: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested: ArrayBuilder
        if case .array(let existing)? = builder.existing(key.stringValue) {
            nested = existing
        } else {
            nested = ArrayBuilder()
            builder.set(key.stringValue, .array(nested))
        }
        return UnkeyedEncoder(encoder: encoder, builder: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: JSONCodingKey.super) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key) }

    /// The member is placed now, so it keeps this position in the output,
    /// and takes its value from the super encoder when the result is built.
    private func superEncoder(named key: any CodingKey) -> any Encoder {
        let sub = JSONValueEncoderImpl(codingPath: codingPath + [key], userInfo: encoder.userInfo)
        builder.set(key.stringValue, .deferred(sub))
        return sub
    }
}

struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let encoder: JSONValueEncoderImpl
    let builder: ArrayBuilder
    let codingPath: [any CodingKey]

    var count: Int { builder.elements.count }

    /// The path of the element about to be appended.
    private var nextPath: [any CodingKey] { codingPath + [JSONCodingKey(index: count)] }
    private func append(_ value: JSONValue) { builder.elements.append(.value(value)) }

    mutating func encodeNil() throws { append(.null) }
    mutating func encode(_ value: Bool) throws { append(.bool(value)) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(try encodeDouble(value, at: nextPath)) }
    mutating func encode(_ value: Float) throws { append(try encodeFloat(value, at: nextPath)) }
    mutating func encode(_ value: Int) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: Int8) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: Int16) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: Int32) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: Int64) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: UInt) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: UInt8) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: UInt16) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: UInt32) throws { append(try encodeInteger(value, at: nextPath)) }
    mutating func encode(_ value: UInt64) throws { append(try encodeInteger(value, at: nextPath)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        builder.elements.append(try encoder.box(value, at: nextPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBuilder()
        let path = nextPath
        builder.elements.append(.object(nested))
        return KeyedEncodingContainer(KeyedEncoder<NestedKey>(encoder: encoder, builder: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayBuilder()
        let path = nextPath
        builder.elements.append(.array(nested))
        return UnkeyedEncoder(encoder: encoder, builder: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let sub = JSONValueEncoderImpl(codingPath: nextPath, userInfo: encoder.userInfo)
        builder.elements.append(.deferred(sub))
        return sub
    }
}

struct SingleValueEncoder: SingleValueEncodingContainer {
    let encoder: JSONValueEncoderImpl
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func store(_ value: JSONValue) { encoder.store(.value(value)) }

    mutating func encodeNil() throws { store(.null) }
    mutating func encode(_ value: Bool) throws { store(.bool(value)) }
    mutating func encode(_ value: String) throws { store(.string(value)) }
    mutating func encode(_ value: Double) throws { store(try encodeDouble(value, at: codingPath)) }
    mutating func encode(_ value: Float) throws { store(try encodeFloat(value, at: codingPath)) }
    mutating func encode(_ value: Int) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: Int8) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: Int16) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: Int32) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: Int64) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: UInt) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: UInt8) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: UInt16) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: UInt32) throws { store(try encodeInteger(value, at: codingPath)) }
    mutating func encode(_ value: UInt64) throws { store(try encodeInteger(value, at: codingPath)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.store(try encoder.box(value, at: codingPath))
    }
}

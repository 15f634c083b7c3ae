// ProtoValueDecoder: Decodable values straight from pomelo-protobuf bytes,
// so that a typed handler of a protobuf route gets its request without the
// body first becoming a JSONValue tree. The result is by design the one
// JSONValueDecoder gives for ProtoDecoder's tree: the same bodies are
// refused with the same ProtoError, and the same values come out.

/// Decodes `Decodable` values from pomelo-protobuf bytes, read against a
/// schema message.
///
/// Gives what `JSONValueDecoder().decode(T.self, from: ProtoDecoder.decode(bytes, as: message))`
/// gives, without building the tree:
/// - the whole body is checked first, so a body `ProtoDecoder` refuses is
///   refused with the same `ProtoError` (truncated, unknown tag, wrong wire
///   type, out of range, bad string, required field missing, too deep),
///   even where `T` would not read the faulty field;
/// - a message field reads as a keyed container whose keys are the field
///   names, a repeated field as an unkeyed one, a scalar as a single value;
///   numbers follow `JSONValueDecoder`'s rules (an integer type takes only
///   values that fit it exactly, a `Float` refuses a double beyond its
///   range), and a field that is absent, or that the schema does not have,
///   is a missing key;
/// - of a field that is not repeated and comes more than once, the last
///   value wins; the elements of a repeated field are taken in wire order
///   across all its occurrences; `allKeys` lists the fields present in the
///   order they first appear.
///
/// Other errors are `DecodingError`s, as `JSONValueDecoder` throws them.
public struct ProtoValueDecoder: Sendable {
    /// Handed to `init(from:)` implementations as `decoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    /// Decodes `bytes`, a whole body encoded as `message`. The bytes are read
    /// only during the call.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer, as message: ProtoMessage) throws -> T {
        let index = try ProtoBodyIndex(bytes, as: message)
        return try ProtoValueDecoderImpl(index: index, node: .message(0), codingPath: [], userInfo: userInfo)
            .decodeValue(T.self)
    }

    /// The same for bytes in an array.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], as message: ProtoMessage) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0, as: message) }
    }
}

// MARK: The index

/// Where every value of a body lies, found by one pass that checks the body
/// as `ProtoDecoder.Reader` does (same checks, same order, same errors).
/// Three flat arrays for the whole body, whatever its nesting.
final class ProtoBodyIndex {
    let bytes: UnsafeRawBufferPointer
    /// One per message value in the body, the root first.
    private(set) var frames: [Frame] = []
    /// Per frame, one slot per field of its message type, from `slotBase`.
    private var slots: [Slot] = []
    /// One per value read. A slot points at its field's last one, or for a
    /// repeated field at the first of a chain of all its elements.
    private(set) var entries: [Entry] = []

    struct Frame {
        let message: ProtoMessage
        let slotBase: Int
        /// How many fields are present.
        var present = 0
    }

    struct Slot {
        /// The rank of the field's first appearance in its message (the
        /// member order of ProtoDecoder's object); -1 while absent. A packed
        /// repeated field with a count of 0 is present with no element.
        var order = -1
        var first = -1, last = -1
        var count = 0
    }

    struct Entry {
        /// A string's bytes (after the length); a message's, for the record.
        var start: Int, end: Int
        /// A number as ProtoDecoder gives it (a bool as 0 or 1).
        var number: Double = 0
        /// The frame of a message value.
        var child = -1
        /// The next element of the same repeated field.
        var next = -1
    }

    init(_ bytes: UnsafeRawBufferPointer, as message: ProtoMessage) throws(ProtoError) {
        self.bytes = bytes
        // Room for a typical body, so that the arrays seldom grow: a value
        // takes two bytes at least, with its key.
        frames.reserveCapacity(4)
        slots.reserveCapacity(message.fields.count + 8)
        entries.reserveCapacity(min(bytes.count / 2, 32))
        _ = try read(message, from: 0, to: bytes.count, depth: 0)
    }

    /// Reads one message, whose bytes are `start..<end`; returns its frame.
    /// Errors name fields from this message down, as ProtoDecoder's would
    /// from here; the caller puts its own field in front.
    private func read(_ m: ProtoMessage, from start: Int, to end: Int, depth: Int) throws(ProtoError) -> Int {
        guard depth < ProtoEncoder.maxDepth else { throw .tooDeep }
        let frame = frames.count
        let base = slots.count
        frames.append(Frame(message: m, slotBase: base))
        slots.append(contentsOf: repeatElement(Slot(), count: m.fields.count))
        var reader = ProtoDecoder.Reader(bytes: bytes, at: start, end: end)
        var present = 0
        while reader.at < end {
            let i = try reader.field(of: m)
            let field = m.fields[i]
            if field.label == .repeated {
                if case .scalar(let s) = field.type, s.isPackedByCount {
                    let count = try reader.varint()
                    guard count <= UInt64(end - reader.at) else { throw .truncated }
                    for _ in 0..<Int(count) { chain(try value(&reader, field, depth), to: base + i) }
                } else {
                    chain(try value(&reader, field, depth), to: base + i)
                }
            } else {
                let e = try value(&reader, field, depth)
                slots[base + i].first = e
                slots[base + i].last = e
                slots[base + i].count = 1
            }
            if slots[base + i].order < 0 {
                slots[base + i].order = present
                present += 1
            }
        }
        frames[frame].present = present
        for (i, field) in m.fields.enumerated() where field.label == .required && slots[base + i].order < 0 {
            throw .missingRequired(field: field.name)
        }
        return frame
    }

    private func chain(_ e: Int, to slot: Int) {
        if slots[slot].last >= 0 { entries[slots[slot].last].next = e } else { slots[slot].first = e }
        slots[slot].last = e
        slots[slot].count += 1
    }

    /// Reads and checks one value of `field`; returns its entry.
    private func value(_ r: inout ProtoDecoder.Reader, _ field: ProtoField, _ depth: Int) throws(ProtoError) -> Int {
        var entry = Entry(start: r.at, end: r.at)
        switch field.type {
        case .message(let m):
            let n = try r.varint()
            guard n <= UInt64(r.end - r.at) else { throw .truncated }
            entry.start = r.at
            entry.end = r.at + Int(n)
            do {
                entry.child = try read(m, from: entry.start, to: entry.end, depth: depth + 1)
            } catch {
                throw error.within(field.name)
            }
            r.at = entry.end
        case .scalar(.string):
            let n = try r.varint()
            guard n <= UInt64(r.end - r.at) else { throw .truncated }
            let range = try r.take(Int(n))
            let text = UnsafeRawBufferPointer(rebasing: bytes[range])
            // Checked without making the String: only CESU-8 needs a copy.
            guard UTF8Validation.isValid(text) || ProtoStrings.decode(text) != nil else { throw .badString(field: field.name) }
            entry.start = range.lowerBound
            entry.end = range.upperBound
        case .scalar(.float):
            let range = try r.take(4)
            let f = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt32.self)))
            guard f.isFinite else { throw .outOfRange(field: field.name) }
            entry.number = Double(f)
        case .scalar(.double):
            let range = try r.take(8)
            let d = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: range.lowerBound, as: UInt64.self)))
            guard d.isFinite else { throw .outOfRange(field: field.name) }
            entry.number = d
        case .scalar(.bool):
            entry.number = try r.varint() != 0 ? 1 : 0
        case .scalar(.uInt32):
            let v = try r.varint()
            guard v <= UInt64(UInt32.max) else { throw .outOfRange(field: field.name) }
            entry.number = Double(v)
        case .scalar(.uInt64):
            entry.number = Double(try r.varint())
        case .scalar(.sInt32), .scalar(.int32):
            let v = ProtoWire.unzigzag(try r.varint())
            guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw .outOfRange(field: field.name) }
            entry.number = Double(v)
        case .scalar(.sInt64):
            entry.number = Double(ProtoWire.unzigzag(try r.varint()))
        }
        entries.append(entry)
        return entries.count - 1
    }

    // MARK: Reading it

    /// Field `name` of the message in `frame`, if present. Names compare by
    /// their bytes, as JSONObject's keys do.
    func node(_ frame: Int, named name: String) -> ProtoNode? {
        let m = frames[frame].message
        guard let i = m.index(named: name) else { return nil }
        let field = m.fields[i]
        guard JSON.sameUTF8(field.name, name) else { return nil }
        let slot = slots[frames[frame].slotBase + i]
        guard slot.order >= 0 else { return nil }
        if field.label == .repeated { return .repeated(field.type, first: slot.first, count: slot.count) }
        return node(entry: slot.last, type: field.type)
    }

    /// An integer field's value as `T`, read without going through a
    /// JSONValue and a Double; nil for anything else (a float or double
    /// field, a value out of `T`'s range), which the JSON path decides.
    @inline(__always)
    func integer<T: FixedWidthInteger>(_ node: ProtoNode, as _: T.Type) -> T? {
        guard case .scalar(let s, let e) = node else { return nil }
        switch s {
        case .uInt32, .sInt32, .int32, .uInt64, .sInt64:
            guard let v = Int64(exactly: entries[e].number) else { return nil }
            return T(exactly: v)
        case .float, .double, .string, .bool:
            return nil
        }
    }

    func node(entry: Int, type: ProtoType) -> ProtoNode {
        switch type {
        case .message: return .message(entries[entry].child)
        case .scalar(let s): return .scalar(s, entry)
        }
    }

    /// The fields present in `frame`, in the order they first appear.
    func presentFields(_ frame: Int) -> [ProtoField] {
        let f = frames[frame]
        var order = [Int](repeating: 0, count: f.present)
        for i in 0..<f.message.fields.count where slots[f.slotBase + i].order >= 0 {
            order[slots[f.slotBase + i].order] = i
        }
        return order.map { f.message.fields[$0] }
    }

    func string(_ entry: Int) -> String {
        let e = entries[entry]
        // Checked when the index was made.
        return ProtoStrings.decode(UnsafeRawBufferPointer(rebasing: bytes[e.start..<e.end]))!
    }

    /// A scalar as ProtoDecoder's tree holds it, so that JSONValueDecoder's
    /// conversions (and their errors) apply unchanged; other nodes as an
    /// empty value of their kind, which is all an error message needs.
    func json(_ node: ProtoNode) -> JSONValue {
        switch node {
        case .message: return .object(JSONObject())
        case .repeated: return .array([])
        case .null: return .null
        case .scalar(.string, let e): return .string(string(e))
        case .scalar(.bool, let e): return .bool(entries[e].number != 0)
        case .scalar(_, let e): return .number(entries[e].number)
        }
    }

    /// The whole value as ProtoDecoder gives it, for a `JSONValue` asked for.
    func tree(_ node: ProtoNode) -> JSONValue {
        switch node {
        case .message(let frame):
            return .object(JSONObject(presentFields(frame).map { field in
                (key: field.name, value: tree(self.node(frame, named: field.name)!))
            }))
        case .repeated(let type, var e, let count):
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            while e >= 0 {
                items.append(tree(self.node(entry: e, type: type)))
                e = entries[e].next
            }
            return .array(items)
        case .null, .scalar: return json(node)
        }
    }
}

/// What a decoder reads: a message, a repeated field's elements, one scalar,
/// or nothing (a super decoder for a missing key).
enum ProtoNode {
    case message(Int)
    case repeated(ProtoType, first: Int, count: Int)
    case scalar(ProtoScalar, Int)
    case null
}

// MARK: Decoder

/// Also the single value container, as with JSONValueDecoderImpl.
struct ProtoValueDecoderImpl: Decoder, SingleValueDecodingContainer {
    let index: ProtoBodyIndex
    let node: ProtoNode
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any]

    func sub(_ node: ProtoNode, at path: [any CodingKey]) -> ProtoValueDecoderImpl {
        ProtoValueDecoderImpl(index: index, node: node, codingPath: path, userInfo: userInfo)
    }

    /// A `JSONValue` is built directly (what ProtoDecoder would give);
    /// anything else decodes itself from this decoder.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == JSONValue.self { return index.tree(node) as! T }
        return try T(from: self)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .message(let frame) = node else {
            throw decodingMismatch(JSONObject.self, index.json(node), at: codingPath)
        }
        return KeyedDecodingContainer(ProtoKeyedDecoder<Key>(decoder: self, frame: frame))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .repeated(let type, let first, let count) = node else {
            throw decodingMismatch([JSONValue].self, index.json(node), at: codingPath)
        }
        return ProtoUnkeyedDecoder(decoder: self, type: type, entry: first, total: count)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // MARK: Single value

    func decodeNil() -> Bool {
        if case .null = node { return true }
        return false
    }

    private var value: JSONValue { index.json(node) }

    func decode(_ type: Bool.Type) throws -> Bool { try decodeBool(value, at: codingPath) }
    func decode(_ type: String.Type) throws -> String { try decodeString(value, at: codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try decodeDouble(value, at: codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try decodeFloat(value, at: codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try integer() }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
    func decode(_ type: UInt.Type) throws -> UInt { try integer() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decodeValue(type) }

    private func integer<T: FixedWidthInteger>() throws -> T {
        if let v = index.integer(node, as: T.self) { return v }
        return try decodeInteger(value, at: codingPath)
    }
}

// MARK: Containers

struct ProtoKeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ProtoValueDecoderImpl
    let frame: Int

    var codingPath: [any CodingKey] { decoder.codingPath }
    private var index: ProtoBodyIndex { decoder.index }

    /// The fields present, in the order they first appear on the wire.
    var allKeys: [Key] { index.presentFields(frame).compactMap { Key(stringValue: $0.name) } }

    private func lookup(_ key: Key) -> ProtoNode? { index.node(frame, named: key.stringValue) }

    func contains(_ key: Key) -> Bool { lookup(key) != nil }

    /// An absent field, and a key the schema does not have, are missing.
    private func require(_ key: Key) throws -> ProtoNode {
        guard let node = lookup(key) else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "No value associated with key \"\(key.stringValue)\"."))
        }
        return node
    }

    /// A present field is never null: the wire has no null.
    func decodeNil(forKey key: Key) throws -> Bool {
        _ = try require(key)
        return false
    }

    private func scalar(_ key: Key) throws -> JSONValue { index.json(try require(key)) }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decodeBool(scalar(key), at: codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decodeString(scalar(key), at: codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decodeDouble(scalar(key), at: codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decodeFloat(scalar(key), at: codingPath + [key]) }
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
        let node = try require(key)
        if let v = index.integer(node, as: T.self) { return v }
        return try decodeInteger(index.json(node), at: codingPath + [key])
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.sub(require(key), at: codingPath + [key]).decodeValue(type)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.sub(require(key), at: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.sub(require(key), at: codingPath + [key]).unkeyedContainer()
    }

    /// A missing field gives a decoder of null, as JSONValueDecoder does.
    func superDecoder() throws -> any Decoder {
        let key = JSONCodingKey.super
        return decoder.sub(index.node(frame, named: key.stringValue) ?? .null, at: codingPath + [key])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        decoder.sub(lookup(key) ?? .null, at: codingPath + [key])
    }
}

/// A repeated field's elements, in wire order.
struct ProtoUnkeyedDecoder: UnkeyedDecodingContainer {
    let decoder: ProtoValueDecoderImpl
    let type: ProtoType
    /// The current element's entry.
    private var entry: Int
    private let total: Int
    private(set) var currentIndex = 0

    init(decoder: ProtoValueDecoderImpl, type: ProtoType, entry: Int, total: Int) {
        self.decoder = decoder
        self.type = type
        self.entry = entry
        self.total = total
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    /// As UnkeyedDecoder's: moves past the element only if `body` succeeds,
    /// so that a caller may retry with another type.
    private mutating func next<T>(_ type: Any.Type, _ body: (ProtoNode, () -> [any CodingKey]) throws -> T) throws -> T {
        let path = { [codingPath, currentIndex] in codingPath + [JSONCodingKey(index: currentIndex)] }
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path(), debugDescription: "Unkeyed container is at end."))
        }
        let result = try body(decoder.index.node(entry: entry, type: self.type), path)
        currentIndex += 1
        entry = decoder.index.entries[entry].next
        return result
    }

    /// Elements are never null.
    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any?.self,
                .init(codingPath: codingPath + [JSONCodingKey(index: currentIndex)], debugDescription: "Unkeyed container is at end."))
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool {
        let index = decoder.index
        return try next(type) { try decodeBool(index.json($0), at: $1()) }
    }
    mutating func decode(_ type: String.Type) throws -> String {
        let index = decoder.index
        return try next(type) { try decodeString(index.json($0), at: $1()) }
    }
    mutating func decode(_ type: Double.Type) throws -> Double {
        let index = decoder.index
        return try next(type) { try decodeDouble(index.json($0), at: $1()) }
    }
    mutating func decode(_ type: Float.Type) throws -> Float {
        let index = decoder.index
        return try next(type) { try decodeFloat(index.json($0), at: $1()) }
    }
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
        let index = decoder.index
        return try next(type) { node, path in
            if let v = index.integer(node, as: T.self) { return v }
            return try decodeInteger(index.json(node), at: path())
        }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let decoder = self.decoder
        return try next(type) { try decoder.sub($0, at: $1()).decodeValue(type) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
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

// ProtoValueEncoder: Encodable values straight to pomelo-protobuf bytes, so
// that a typed handler's answer on a protobuf route needs no JSONValue tree.
// The bytes are by design those of ProtoEncoder over JSONValueEncoder's
// tree. Fields are written into the output as the value encodes them, a
// nested message in a byte kept for its length (as ProtoEncoder does); what
// cannot be written in that single pass, and every error, is handed to that
// reference path, so the two never differ.

/// Encodes `Encodable` values to pomelo-protobuf bytes against a schema
/// message.
///
/// The result, bytes or error, is that of
/// `ProtoEncoder.encode(JSONValueEncoder().encode(value), as: message)`:
/// fields in the order the value encodes its keys (the synthesized
/// `encode(to:)` follows declaration order), keys the schema does not name
/// left out, nil left out, a required field missing refused with
/// `ProtoError.missingRequired`, a value of the wrong kind or out of its
/// field's range with `ProtoError.badValue`, and what JSON cannot hold
/// (integers beyond ±2^53, NaN) with `JSONValueEncoder`'s `EncodingError`.
///
/// Values whose `encode(to:)` uses its containers in the usual way, one
/// after the other, are written in one pass without a tree. Anything else
/// (a key encoded twice, a container used after a sibling, a super encoder)
/// and every error take the reference path above, which runs the value's
/// `encode(to:)` a second time.
public struct ProtoValueEncoder: Sendable {
    /// Handed to `encode(to:)` implementations as `encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    /// Appends `value` encoded as `message` to `out`. Nothing is appended
    /// when it throws.
    public func encode<T: Encodable>(_ value: T, as message: ProtoMessage, into out: inout [UInt8]) throws {
        let start = out.count
        let writer = ProtoFieldWriter(root: message, userInfo: userInfo)
        swap(&out, &writer.out)
        var written = false
        do {
            try value.encode(to: ProtoSlotEncoder(writer: writer, slot: .root))
            written = writer.finish()
        } catch {
            // Whatever it was, the reference path below meets it again and
            // throws what it throws.
        }
        swap(&out, &writer.out)
        if written { return }
        out.removeSubrange(start...)
        var reference = JSONValueEncoder()
        reference.userInfo = userInfo
        try ProtoEncoder.encode(reference.encode(value), as: message, into: &out)
    }

    public func encode<T: Encodable>(_ value: T, as message: ProtoMessage) throws -> [UInt8] {
        var out: [UInt8] = []
        try encode(value, as: message, into: &out)
        return out
    }
}

// MARK: The writer

/// The single pass gives up: `ProtoValueEncoder` then takes the reference
/// path. Never seen outside it.
struct ProtoFallback: Error {}

/// A scalar as JSONValueEncoder would have made it: integers are kept as
/// integers (they are exact within ±2^53, all JSON allows).
enum ProtoScalarValue {
    case bool(Bool)
    case string(String)
    case integer(Int64)
    case number(Double)
}

/// An open container of the writer: its place in the stack and the serial
/// that tells it from a container that had that place before.
struct ProtoFrameRef {
    let level: Int
    let serial: Int
}

/// Where one value goes: the root message, a field of an open message, or
/// the next element of an open repeated field.
struct ProtoSlot {
    enum Place { case root, field(Int), element(Int) }
    let place: Place
    let frame: ProtoFrameRef
    /// A field's key. An element's (its index) is made only when a coding
    /// path is asked for: that is rare, and it takes a string.
    let key: (any CodingKey)?

    static var root: ProtoSlot { ProtoSlot(place: .root, frame: ProtoFrameRef(level: -1, serial: -1), key: nil) }
}

/// Writes fields into `out` as they come. The containers open at a time form
/// a stack, the root message at the bottom: a container being used closes
/// those above it (their lengths and counts are then patched in, their
/// required fields checked), and a container that was closed cannot come
/// back, because its bytes are no longer last. That is where the single
/// pass gives up.
final class ProtoFieldWriter {
    var out: [UInt8] = []
    let root: ProtoMessage
    let userInfo: [CodingUserInfoKey: Any]
    /// Set for good once the pass gives up, even if the value's code
    /// swallows the error.
    private(set) var failed = false
    private var rootOpened = false
    private var frames: [Frame] = []
    /// Per open message, a mark per field of its type, from its `marks`.
    private var marks: [Mark] = []
    private var serials = 0

    enum Mark { case untouched, null, written }

    struct Frame {
        enum Kind {
            case message(ProtoMessage, marks: Int)
            case repeated(ProtoField)
        }
        let kind: Kind
        var serial = 0
        /// The field (in a message) or element (in a repeated field) it is
        /// the value of, to find it again when the same encoder asks twice.
        let owner: Int
        /// The byte kept for a nested message's length or a repeated
        /// scalar's count; -1 for the root and before a first element.
        var reserved: Int
        /// Elements written, in a repeated field.
        var count = 0
        /// Message nesting as ProtoEncoder counts it (repeated fields add none).
        let depth: Int
        let key: (any CodingKey)?

        var isMessage: Bool {
            if case .message = kind { return true }
            return false
        }
    }

    init(root: ProtoMessage, userInfo: [CodingUserInfoKey: Any]) {
        self.root = root
        self.userInfo = userInfo
    }

    func giveUp() -> ProtoFallback {
        failed = true
        return ProtoFallback()
    }

    /// Closes every container; false when the pass gave up or never wrote
    /// the root message (JSONValueEncoder refuses a value that encodes
    /// nothing, and ProtoEncoder one that is not an object).
    func finish() -> Bool {
        guard rootOpened, !failed else { return false }
        do {
            while !frames.isEmpty { try close() }
        } catch {
            return false
        }
        return true
    }

    // MARK: The stack

    /// Makes `frame` the innermost open container, closing those above it.
    private func enter(_ frame: ProtoFrameRef) throws {
        guard !failed else { throw ProtoFallback() }
        while frames.count > frame.level + 1 { try close() }
        guard frame.level >= 0, frame.level < frames.count, frames[frame.level].serial == frame.serial else { throw giveUp() }
    }

    private func close() throws {
        let frame = frames.removeLast()
        switch frame.kind {
        case .message(let m, let base):
            for i in m.fields.indices where m.fields[i].label == .required && marks[base + i] != .written { throw giveUp() }
            marks.removeSubrange(base...)
            if frame.reserved >= 0 { patch(frame.reserved, with: out.count - frame.reserved - 1) }
        case .repeated:
            if frame.reserved >= 0 { patch(frame.reserved, with: frame.count) }
        }
    }

    /// Writes `n` in the byte kept at `at`, moving what follows when it
    /// needs more than one.
    private func patch(_ at: Int, with n: Int) { ProtoWire.patch(n, at: at, in: &out) }

    private func push(_ frame: Frame) -> ProtoFrameRef {
        var frame = frame
        serials += 1
        frame.serial = serials
        frames.append(frame)
        return ProtoFrameRef(level: frames.count - 1, serial: serials)
    }

    private func openMessage(_ m: ProtoMessage, key: [UInt8]?, owner: Int, depth: Int, codingKey: (any CodingKey)?) throws -> ProtoFrameRef {
        guard depth < ProtoEncoder.maxDepth else { throw giveUp() }
        var reserved = -1
        if let key {
            out.append(contentsOf: key)
            reserved = out.count
            out.append(0)
        }
        let base = marks.count
        marks.append(contentsOf: repeatElement(.untouched, count: m.fields.count))
        return push(Frame(kind: .message(m, marks: base), owner: owner, reserved: reserved, depth: depth, key: codingKey))
    }

    /// The container `slot`'s encoder opened already, if it is still open:
    /// JSONValueEncoder hands the same one out again (a subclass's
    /// `encode(to:)` after its superclass's).
    private func reopen(_ slot: ProtoSlot, owner: Int, message: Bool) throws -> ProtoFrameRef? {
        let level = slot.frame.level + 1
        guard level < frames.count, frames[slot.frame.level].serial == slot.frame.serial,
              frames[level].owner == owner, frames[level].isMessage == message else { return nil }
        let ref = ProtoFrameRef(level: level, serial: frames[level].serial)
        try enter(ref)
        return ref
    }

    /// The message `slot` holds, opened (its key written) on first use.
    func messageContainer(_ slot: ProtoSlot) throws -> ProtoFrameRef {
        switch slot.place {
        case .root:
            guard rootOpened else {
                rootOpened = true
                return try openMessage(root, key: nil, owner: 0, depth: 0, codingKey: nil)
            }
            guard !frames.isEmpty else { throw giveUp() }
            let ref = ProtoFrameRef(level: 0, serial: frames[0].serial)
            try enter(ref)
            return ref
        case .field(let i):
            if let ref = try reopen(slot, owner: i, message: true) { return ref }
            try enter(slot.frame)
            let parent = frames[slot.frame.level]
            guard case .message(let m, let base) = parent.kind, marks[base + i] == .untouched,
                  m.fields[i].label != .repeated, case .message(let nested) = m.fields[i].type else { throw giveUp() }
            marks[base + i] = .written
            return try openMessage(nested, key: m.fields[i].key, owner: i, depth: parent.depth + 1, codingKey: slot.key)
        case .element(let e):
            if let ref = try reopen(slot, owner: e, message: true) { return ref }
            try enter(slot.frame)
            let parent = frames[slot.frame.level]
            guard case .repeated(let field) = parent.kind, parent.count == e, case .message(let nested) = field.type else {
                throw giveUp()
            }
            frames[slot.frame.level].count += 1
            return try openMessage(nested, key: field.key, owner: e, depth: parent.depth + 1, codingKey: nil)
        }
    }

    /// The repeated field `slot` holds. Its key is written with its first
    /// element: an empty one writes nothing.
    func repeatedContainer(_ slot: ProtoSlot) throws -> ProtoFrameRef {
        guard case .field(let i) = slot.place else { throw giveUp() }
        if let ref = try reopen(slot, owner: i, message: false) { return ref }
        try enter(slot.frame)
        let parent = frames[slot.frame.level]
        guard case .message(let m, let base) = parent.kind, marks[base + i] == .untouched, m.fields[i].label == .repeated else {
            throw giveUp()
        }
        marks[base + i] = .written
        return push(Frame(kind: .repeated(m.fields[i]), owner: i, reserved: -1, depth: parent.depth, key: slot.key))
    }

    // MARK: Fields

    /// The index of the field `name` names in the message `frame`, now the
    /// innermost container; nil when the schema has no such field.
    func field(named name: String, in frame: ProtoFrameRef) throws -> Int? {
        try enter(frame)
        guard case .message(let m, let base) = frames[frame.level].kind else { throw giveUp() }
        guard let i = m.index(named: name) else { return nil }
        // ProtoEncoder finds a field by a dictionary lookup but checks the
        // required ones by the name's bytes: a name equal only canonically
        // ("e\u{301}" for "é") is left to it.
        guard JSON.sameUTF8(m.fields[i].name, name) else { throw giveUp() }
        // A key encoded twice keeps its first place and takes the last
        // value in JSONValueEncoder's object: left to the reference path.
        guard marks[base + i] == .untouched else { throw giveUp() }
        return i
    }

    func put(_ v: ProtoScalarValue, in slot: ProtoSlot) throws {
        switch slot.place {
        case .root: throw giveUp()
        case .field(let i): try putField(v, in: slot.frame, i)
        case .element(let e):
            try enter(slot.frame)
            guard frames[slot.frame.level].count == e else { throw giveUp() }
            try putElement(v, in: slot.frame)
        }
    }

    func putField(_ v: ProtoScalarValue, in frame: ProtoFrameRef, _ i: Int) throws {
        try enter(frame)
        guard case .message(let m, let base) = frames[frame.level].kind, marks[base + i] == .untouched,
              m.fields[i].label != .repeated, case .scalar(let type) = m.fields[i].type else { throw giveUp() }
        out.append(contentsOf: m.fields[i].key)
        try write(v, as: type)
        marks[base + i] = .written
    }

    /// nil is absent (but keeps the key's place, which a second value for
    /// the key would take: that gives up).
    func putNil(in slot: ProtoSlot) throws {
        guard case .field(let i) = slot.place else { throw giveUp() }
        try putNil(in: slot.frame, i)
    }

    func putNil(in frame: ProtoFrameRef, _ i: Int) throws {
        try enter(frame)
        guard case .message(_, let base) = frames[frame.level].kind, marks[base + i] == .untouched else { throw giveUp() }
        marks[base + i] = .null
    }

    /// A repeated scalar: strings a key each, the others one key, a count
    /// (patched in when the field closes), then the values.
    func putElement(_ v: ProtoScalarValue, in frame: ProtoFrameRef) throws {
        try enter(frame)
        let level = frame.level
        guard case .repeated(let field) = frames[level].kind, case .scalar(let type) = field.type else { throw giveUp() }
        if !type.isPackedByCount {
            out.append(contentsOf: field.key)
        } else if frames[level].count == 0 {
            out.append(contentsOf: field.key)
            frames[level].reserved = out.count
            out.append(0)
        }
        try write(v, as: type)
        frames[level].count += 1
    }

    func nextElement(of frame: ProtoFrameRef) throws -> ProtoSlot {
        try enter(frame)
        return ProtoSlot(place: .element(frames[frame.level].count), frame: frame, key: nil)
    }

    func count(of frame: ProtoFrameRef) -> Int {
        guard frame.level < frames.count, frames[frame.level].serial == frame.serial else {
            failed = true
            return 0
        }
        return frames[frame.level].count
    }

    /// A nested value: it writes itself through an encoder for `slot`.
    func encode<T: Encodable>(_ value: T, in slot: ProtoSlot) throws {
        try value.encode(to: ProtoSlotEncoder(writer: self, slot: slot))
        try fillIfEmpty(slot)
    }

    /// A value that encoded nothing is `{}` for JSONValueEncoder: an empty
    /// message where a message belongs, refused elsewhere.
    private func fillIfEmpty(_ slot: ProtoSlot) throws {
        switch slot.place {
        case .root:
            if !rootOpened { _ = try messageContainer(slot) }
        case .field(let i):
            try enter(slot.frame)
            guard case .message(_, let base) = frames[slot.frame.level].kind else { throw giveUp() }
            if marks[base + i] == .untouched {
                _ = try messageContainer(slot)
                try enter(slot.frame)
            }
        case .element(let e):
            try enter(slot.frame)
            if frames[slot.frame.level].count == e {
                _ = try messageContainer(slot)
                try enter(slot.frame)
            }
        }
    }

    /// A value under a key the schema does not name is left out, but
    /// JSONValueEncoder still encodes it and may refuse it: so does this.
    func checkOmitted<T: Encodable>(_ value: T, at path: [any CodingKey]) throws {
        do {
            try value.encode(to: JSONValueEncoderImpl(codingPath: path, userInfo: userInfo))
        } catch {
            failed = true
            throw error
        }
    }

    /// An encoder whose output is dropped, for containers that must be
    /// returned after giving up or under a key the schema does not name. It
    /// keeps JSONValueEncoder's rules, so it refuses what that refuses.
    func discard(_ path: [any CodingKey]) -> JSONValueEncoderImpl {
        JSONValueEncoderImpl(codingPath: path, userInfo: userInfo)
    }

    /// The coding path of the container at `level`: the keys of the fields
    /// and the indexes of the elements that lead to it.
    func path(_ level: Int) -> [any CodingKey] {
        var path: [any CodingKey] = []
        var i = 1
        while i <= level && i < frames.count {
            if !frames[i - 1].isMessage {
                path.append(JSONCodingKey(index: frames[i].owner))
            } else if let key = frames[i].key {
                path.append(key)
            }
            i += 1
        }
        return path
    }

    func path(_ slot: ProtoSlot) -> [any CodingKey] {
        switch slot.place {
        case .root: return []
        case .field: return path(slot.frame.level) + (slot.key.map { [$0] } ?? [])
        case .element(let e): return path(slot.frame.level) + [JSONCodingKey(index: e)]
        }
    }

    // MARK: Scalars

    /// JSONValueEncoder refuses integers beyond ±2^53.
    func integer<T: BinaryInteger>(_ v: T) throws -> ProtoScalarValue {
        let limit: UInt64 = 1 << 53
        guard v.magnitude <= limit else { throw giveUp() }
        return .integer(Int64(v))
    }

    func number(_ d: Double) throws -> ProtoScalarValue {
        guard d.isFinite else { throw giveUp() }
        return .number(d)
    }

    /// Through JSONValueEncoder's own conversion: its shortest-decimal
    /// double (0.1 for the Float 0.1) is what ProtoEncoder gets.
    func number(_ f: Float) throws -> ProtoScalarValue {
        guard case .number(let d)? = try? encodeFloat(f, at: []) else { throw giveUp() }
        return .number(d)
    }

    /// ProtoEncoder.encodeValue's checks and bytes for a scalar type.
    private func write(_ v: ProtoScalarValue, as type: ProtoScalar) throws {
        switch type {
        case .string:
            guard case .string(var s) = v else { throw giveUp() }
            ProtoWire.appendVarint(UInt64(s.utf8.count), to: &out)
            s.withUTF8 { out.append(contentsOf: $0) }
        case .bool:
            guard case .bool(let b) = v else { throw giveUp() }
            out.append(b ? 1 : 0)
        case .float:
            let f = Float(try double(v))
            guard f.isFinite else { throw giveUp() }
            appendLittleEndian(UInt64(f.bitPattern), bytes: 4)
        case .double:
            appendLittleEndian(try double(v).bitPattern, bytes: 8)
        case .uInt32:
            ProtoWire.appendVarint(UInt64(try integer(v, 0...4_294_967_295)), to: &out)
        case .sInt32, .int32:
            ProtoWire.appendVarint(ProtoWire.zigzag(try integer(v, -2_147_483_648...2_147_483_647)), to: &out)
        case .uInt64:
            ProtoWire.appendVarint(UInt64(try integer(v, 0...9_007_199_254_740_991)), to: &out)
        case .sInt64:
            ProtoWire.appendVarint(ProtoWire.zigzag(try integer(v, -9_007_199_254_740_991...9_007_199_254_740_991)), to: &out)
        }
    }

    private func double(_ v: ProtoScalarValue) throws -> Double {
        switch v {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        case .bool, .string: throw giveUp()
        }
    }

    /// An integer's range is checked on the integer; a double must be
    /// integral and in range, as ProtoEncoder wants it.
    private func integer(_ v: ProtoScalarValue, _ range: ClosedRange<Int64>) throws -> Int64 {
        switch v {
        case .integer(let i):
            guard range.contains(i) else { throw giveUp() }
            return i
        case .number(let d):
            guard d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else { throw giveUp() }
            return Int64(d)
        case .bool, .string:
            throw giveUp()
        }
    }

    private func appendLittleEndian(_ v: UInt64, bytes: Int) {
        for n in 0..<bytes { out.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * n))) }
    }
}

// MARK: Encoders and containers

/// The encoder of one slot, also its single value container.
struct ProtoSlotEncoder: Encoder, SingleValueEncodingContainer {
    let writer: ProtoFieldWriter
    let slot: ProtoSlot

    var codingPath: [any CodingKey] { writer.path(slot) }
    var userInfo: [CodingUserInfoKey: Any] { writer.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        guard let frame = try? writer.messageContainer(slot) else {
            return writer.discard(codingPath).container(keyedBy: type)
        }
        return KeyedEncodingContainer(ProtoMessageEncoder<Key>(writer: writer, frame: frame))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        guard let frame = try? writer.repeatedContainer(slot) else { return writer.discard(codingPath).unkeyedContainer() }
        return ProtoRepeatedEncoder(writer: writer, frame: frame)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    mutating func encodeNil() throws { try writer.putNil(in: slot) }
    mutating func encode(_ value: Bool) throws { try writer.put(.bool(value), in: slot) }
    mutating func encode(_ value: String) throws { try writer.put(.string(value), in: slot) }
    mutating func encode(_ value: Double) throws { try writer.put(writer.number(value), in: slot) }
    mutating func encode(_ value: Float) throws { try writer.put(writer.number(value), in: slot) }
    mutating func encode(_ value: Int) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: Int8) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: Int16) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: Int32) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: Int64) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: UInt) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: UInt8) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: UInt16) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: UInt32) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode(_ value: UInt64) throws { try writer.put(writer.integer(value), in: slot) }
    mutating func encode<T: Encodable>(_ value: T) throws { try writer.encode(value, in: slot) }
}

/// A message's fields by name.
struct ProtoMessageEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: ProtoFieldWriter
    let frame: ProtoFrameRef

    var codingPath: [any CodingKey] { writer.path(frame.level) }

    /// The value is made first: JSONValueEncoder refuses what JSON cannot
    /// hold even under a key the schema leaves out.
    private func put(_ value: ProtoScalarValue, _ key: Key) throws {
        guard let i = try writer.field(named: key.stringValue, in: frame) else { return }
        try writer.putField(value, in: frame, i)
    }

    mutating func encodeNil(forKey key: Key) throws {
        guard let i = try writer.field(named: key.stringValue, in: frame) else { return }
        try writer.putNil(in: frame, i)
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws { try put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try put(writer.number(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try put(writer.number(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try put(writer.integer(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try put(writer.integer(value), key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        guard let i = try writer.field(named: key.stringValue, in: frame) else {
            return try writer.checkOmitted(value, at: codingPath + [key])
        }
        try writer.encode(value, in: ProtoSlot(place: .field(i), frame: frame, key: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        do {
            if let i = try writer.field(named: key.stringValue, in: frame) {
                let nested = try writer.messageContainer(ProtoSlot(place: .field(i), frame: frame, key: key))
                return KeyedEncodingContainer(ProtoMessageEncoder<NestedKey>(writer: writer, frame: nested))
            }
        } catch {}
        return writer.discard(codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        do {
            if let i = try writer.field(named: key.stringValue, in: frame) {
                let nested = try writer.repeatedContainer(ProtoSlot(place: .field(i), frame: frame, key: key))
                return ProtoRepeatedEncoder(writer: writer, frame: nested)
            }
        } catch {}
        return writer.discard(codingPath + [key]).unkeyedContainer()
    }

    /// Filled after the fact, as JSONValueEncoder lets it be: not for a
    /// single pass.
    mutating func superEncoder() -> any Encoder {
        _ = writer.giveUp()
        return writer.discard(codingPath + [JSONCodingKey.super])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        _ = writer.giveUp()
        return writer.discard(codingPath + [key])
    }
}

/// A repeated field's elements.
struct ProtoRepeatedEncoder: UnkeyedEncodingContainer {
    let writer: ProtoFieldWriter
    let frame: ProtoFrameRef

    var codingPath: [any CodingKey] { writer.path(frame.level) }
    var count: Int { writer.count(of: frame) }

    /// ProtoEncoder refuses a null element.
    mutating func encodeNil() throws { throw writer.giveUp() }
    mutating func encode(_ value: Bool) throws { try writer.putElement(.bool(value), in: frame) }
    mutating func encode(_ value: String) throws { try writer.putElement(.string(value), in: frame) }
    mutating func encode(_ value: Double) throws { try writer.putElement(writer.number(value), in: frame) }
    mutating func encode(_ value: Float) throws { try writer.putElement(writer.number(value), in: frame) }
    mutating func encode(_ value: Int) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: Int8) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: Int16) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: Int32) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: Int64) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: UInt) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: UInt8) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: UInt16) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: UInt32) throws { try writer.putElement(writer.integer(value), in: frame) }
    mutating func encode(_ value: UInt64) throws { try writer.putElement(writer.integer(value), in: frame) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try writer.encode(value, in: writer.nextElement(of: frame))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        if let slot = try? writer.nextElement(of: frame), let nested = try? writer.messageContainer(slot) {
            return KeyedEncodingContainer(ProtoMessageEncoder<NestedKey>(writer: writer, frame: nested))
        }
        return writer.discard(codingPath).container(keyedBy: keyType)
    }

    /// An array in an array: ProtoEncoder refuses it.
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        _ = writer.giveUp()
        return writer.discard(codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        _ = writer.giveUp()
        return writer.discard(codingPath)
    }
}

/// pomelo-protobuf 0.4.0's wire format, byte for byte (docs/protobuf.md):
/// varint keys, `int32` zigzag like `sInt32`, floats and doubles
/// little-endian, strings and messages length-delimited, a repeated scalar
/// as one key, a count and the values, fields in the value's member order.
/// Strict where Pomelo is lax: values out of range, of the wrong kind or
/// missing when required are refused, and so are truncated, overrunning or
/// unknown fields when decoding.

public enum ProtoError: Error, Equatable, CustomStringConvertible {
    /// Encoding: a value that does not fit its field.
    case badValue(field: String, why: String)
    case missingRequired(field: String)
    /// Decoding.
    case truncated
    case unknownTag(Int)
    /// A key whose wire type is not the field's.
    case wrongWireType(field: String, UInt8)
    case outOfRange(field: String)
    case badString(field: String)
    case tooDeep

    /// The same error seen from the message that holds field `name`.
    func within(_ name: String) -> ProtoError {
        func join(_ f: String) -> String { f.isEmpty ? name : name + "." + f }
        switch self {
        case .badValue(let f, let why): return .badValue(field: join(f), why: why)
        case .missingRequired(let f): return .missingRequired(field: join(f))
        case .wrongWireType(let f, let w): return .wrongWireType(field: join(f), w)
        case .outOfRange(let f): return .outOfRange(field: join(f))
        case .badString(let f): return .badString(field: join(f))
        case .truncated, .unknownTag, .tooDeep: return self
        }
    }

    public var description: String {
        switch self {
        case .badValue(let f, let why): return "field \(f): \(why)"
        case .missingRequired(let f): return "required field \(f) is missing"
        case .truncated: return "the message ends inside a field"
        case .unknownTag(let t): return "tag \(t) is not in the schema"
        case .wrongWireType(let f, let w): return "field \(f): wire type \(w) does not fit its type"
        case .outOfRange(let f): return "field \(f): the value is out of its type's range"
        case .badString(let f): return "field \(f): not UTF-8"
        case .tooDeep: return "messages nested too deep"
        }
    }
}

enum ProtoWire {
    static func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Writes `n` (a length or a count) as a varint in the byte kept for it
    /// at `at`, moving what follows along when it needs more (128 or more).
    static func patch(_ n: Int, at: Int, in out: inout [UInt8]) {
        if n < 0x80 {
            out[at] = UInt8(n)
        } else {
            var prefix: [UInt8] = []
            appendVarint(UInt64(n), to: &prefix)
            out.replaceSubrange(at..<at + 1, with: prefix)
        }
    }

    /// A length-delimited value was written after a byte kept for its
    /// length at `at`: its length goes there.
    static func fillLength(at: Int, in out: inout [UInt8]) { patch(out.count - at - 1, at: at, in: &out) }

    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }
}

public enum ProtoEncoder {
    /// Nesting deeper than this is refused (a schema may refer to itself).
    static let maxDepth = 64

    /// Appends `value`, an object, encoded as `message`. Nothing is
    /// appended when it throws.
    public static func encode(_ value: JSONValue, as message: ProtoMessage, into out: inout [UInt8]) throws(ProtoError) {
        let start = out.count
        do {
            try encodeMessage(value, message, 0, &out)
        } catch {
            out.removeSubrange(start...)
            throw error
        }
    }

    public static func encode(_ value: JSONValue, as message: ProtoMessage) throws(ProtoError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(value, as: message, into: &out)
        return out
    }

    /// Appends `{"code": code}` encoded as `message`, for the answers a
    /// server makes itself (errors, refusals) without building a value. The
    /// code goes alone even where the message requires other fields: the
    /// clients' decoders do not check required fields, so they see the code
    /// (Pomelo sends an empty body there, which reads as `{}`). False,
    /// appending nothing, when the message has no integer `code` field that
    /// takes the value.
    public static func encodeCode(_ code: Int, as message: ProtoMessage, into out: inout [UInt8]) -> Bool {
        guard let field = message.field(named: "code"), field.label != .repeated, case .scalar(let type) = field.type else {
            return false
        }
        let value: UInt64
        switch type {
        case .uInt32 where (0...4_294_967_295).contains(code), .uInt64 where code >= 0: value = UInt64(code)
        case .int32 where Int32(exactly: code) != nil, .sInt32 where Int32(exactly: code) != nil, .sInt64:
            value = ProtoWire.zigzag(Int64(code))
        default: return false
        }
        out.append(contentsOf: field.key)
        ProtoWire.appendVarint(value, to: &out)
        return true
    }

    private static func encodeMessage(_ value: JSONValue, _ message: ProtoMessage, _ depth: Int,
                                      _ out: inout [UInt8]) throws(ProtoError) {
        guard depth < maxDepth else { throw .tooDeep }
        guard let object = value.objectValue else { throw .badValue(field: "(message)", why: "not an object") }
        // The value's members in their order, as Pomelo writes them; members
        // the schema does not name are left out, null ones are absent.
        // Indexed: a for-in over the members allocates in debug builds, and a
        // response encoded here must not (AllocationTests).
        let members = object.members
        var k = 0
        while k < members.count {
            let (name, v) = members[k]
            k += 1
            guard let field = message.field(named: name) else { continue }
            if case .null = v { continue }
            do throws(ProtoError) {
                if field.label == .repeated {
                    guard let items = v.arrayValue else { throw ProtoError.badValue(field: "", why: "not an array") }
                    try encodeRepeated(items, field, depth, &out)
                } else {
                    out.append(contentsOf: field.key)
                    try encodeValue(v, field.type, depth, &out)
                }
            } catch {
                // Errors name the field's path, built only now.
                throw error.within(name)
            }
        }
        var i = 0
        while i < message.fields.count {
            let field = message.fields[i]
            i += 1
            guard field.label == .required else { continue }
            switch object[field.name] {
            case nil, .some(.null): throw .missingRequired(field: field.name)
            default: break
            }
        }
    }

    private static func encodeRepeated(_ items: [JSONValue], _ field: ProtoField, _ depth: Int,
                                       _ out: inout [UInt8]) throws(ProtoError) {
        // An empty repeated field writes nothing.
        guard !items.isEmpty else { return }
        var i = 0
        if case .scalar(let s) = field.type, s.isPackedByCount {
            out.append(contentsOf: field.key)
            ProtoWire.appendVarint(UInt64(items.count), to: &out)
            while i < items.count {
                try encodeValue(items[i], field.type, depth, &out)
                i += 1
            }
        } else {
            while i < items.count {
                out.append(contentsOf: field.key)
                try encodeValue(items[i], field.type, depth, &out)
                i += 1
            }
        }
    }

    /// Throws errors whose field is "" (this value) or the path below it.
    private static func encodeValue(_ v: JSONValue, _ type: ProtoType, _ depth: Int,
                                    _ out: inout [UInt8]) throws(ProtoError) {
        switch type {
        case .message(let m):
            // Length-delimited: one byte is kept for the length, which most
            // nested messages fit in; a longer one moves the message along.
            let lengthAt = out.count
            out.append(0)
            do throws(ProtoError) {
                try encodeMessage(v, m, depth + 1, &out)
            } catch .badValue(field: "(message)", let why) {
                throw .badValue(field: "", why: why)
            }
            ProtoWire.fillLength(at: lengthAt, in: &out)
        case .scalar(.string):
            guard case .string(var s) = v else { throw .badValue(field: "", why: "not a string") }
            ProtoWire.appendVarint(UInt64(s.utf8.count), to: &out)
            s.withUTF8 { out.append(contentsOf: $0) }
        case .scalar(.bool):
            guard case .bool(let b) = v else { throw .badValue(field: "", why: "not true or false") }
            out.append(b ? 1 : 0)
        case .scalar(.float):
            let d = try number(v)
            let f = Float(d)
            guard f.isFinite else { throw .badValue(field: "", why: "\(d) is beyond a float's range") }
            appendLittleEndian(UInt64(f.bitPattern), bytes: 4, to: &out)
        case .scalar(.double):
            appendLittleEndian(try number(v).bitPattern, bytes: 8, to: &out)
        case .scalar(.uInt32):
            ProtoWire.appendVarint(UInt64(try integer(v, 0...4_294_967_295)), to: &out)
        case .scalar(.sInt32), .scalar(.int32):
            ProtoWire.appendVarint(ProtoWire.zigzag(try integer(v, -2_147_483_648...2_147_483_647)), to: &out)
        case .scalar(.uInt64):
            // JSON numbers are exact up to 2^53.
            ProtoWire.appendVarint(UInt64(try integer(v, 0...9_007_199_254_740_991)), to: &out)
        case .scalar(.sInt64):
            ProtoWire.appendVarint(ProtoWire.zigzag(try integer(v, -9_007_199_254_740_991...9_007_199_254_740_991)), to: &out)
        }
    }

    @inline(__always)
    static func appendLittleEndian(_ v: UInt64, bytes: Int, to out: inout [UInt8]) {
        var n = 0
        while n < bytes {
            out.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * n)))
            n += 1
        }
    }

    private static func number(_ v: JSONValue) throws(ProtoError) -> Double {
        guard case .number(let d) = v else { throw .badValue(field: "", why: "not a number") }
        return d
    }

    private static func integer(_ v: JSONValue, _ range: ClosedRange<Int64>) throws(ProtoError) -> Int64 {
        let d = try number(v)
        guard d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
            throw .badValue(field: "", why: "\(d) is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int64(d)
    }
}

public enum ProtoDecoder {
    /// Decodes a whole body as `message`: an object whose members follow the
    /// wire's order (a repeated field where it first appears).
    public static func decode(_ bytes: UnsafeRawBufferPointer, as message: ProtoMessage) throws(ProtoError) -> JSONValue {
        var reader = Reader(bytes: bytes, at: 0, end: bytes.count)
        return try reader.message(message, "", 0)
    }

    public static func decode(_ bytes: [UInt8], as message: ProtoMessage) throws(ProtoError) -> JSONValue {
        let outcome = bytes.withUnsafeBytes { b in Result { () throws(ProtoError) -> JSONValue in try decode(b, as: message) } }
        return try outcome.get()
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at: Int
        let end: Int

        mutating func varint() throws(ProtoError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while at < end {
                let b = bytes[at]
                at += 1
                guard shift < 64 else { throw .truncated }
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            throw .truncated
        }

        /// Reads a field's key: the index of its field in `m`. The key's
        /// wire type must be the field's, except that a varint field may
        /// come with 2: pomelo-protobuf's browser library writes 2 on every
        /// key of its varint types.
        mutating func field(of m: ProtoMessage) throws(ProtoError) -> Int {
            let key = try varint()
            let tag = Int(truncatingIfNeeded: key >> 3)
            guard key >> 3 <= UInt64(Int32.max), let i = m.index(ofTag: tag) else { throw .unknownTag(tag) }
            let wire = UInt8(key & 7)
            var expected: UInt8 = 2
            if case .scalar(let s) = m.fields[i].type { expected = s.wireType }
            guard wire == expected || (expected == 0 && wire == 2) else { throw .wrongWireType(field: m.fields[i].name, wire) }
            return i
        }

        mutating func take(_ n: Int) throws(ProtoError) -> Range<Int> {
            guard n >= 0, n <= end - at else { throw .truncated }
            defer { at += n }
            return at..<at + n
        }

        mutating func message(_ m: ProtoMessage, _ path: String, _ depth: Int) throws(ProtoError) -> JSONValue {
            guard depth < ProtoEncoder.maxDepth else { throw .tooDeep }
            var object = JSONObject()
            // Where each field's member is in `object`, once it has one.
            var slot = [Int](repeating: -1, count: m.fields.count)
            while at < end {
                let i: Int
                do throws(ProtoError) {
                    i = try field(of: m)
                } catch .wrongWireType(let f, let w) {
                    throw .wrongWireType(field: path.isEmpty ? f : path + "." + f, w)
                }
                let field = m.fields[i]
                let at = path.isEmpty ? field.name : path + "." + field.name
                if field.label == .repeated {
                    var items: [JSONValue] = []
                    if case .scalar(let s) = field.type, s.isPackedByCount {
                        let count = try varint()
                        // Each value takes a byte at least: a count past the
                        // bytes left is refused before anything is read.
                        guard count <= UInt64(end - self.at) else { throw .truncated }
                        for _ in 0..<Int(count) { items.append(try value(field.type, at, depth)) }
                    } else {
                        items.append(try value(field.type, at, depth))
                    }
                    if slot[i] < 0 {
                        slot[i] = object.members.count
                        object.members.append((field.name, .array(items)))
                    } else if case .array(let earlier) = object.members[slot[i]].value {
                        object.members[slot[i]].value = .array(earlier + items)
                    }
                } else {
                    let v = try value(field.type, at, depth)
                    if slot[i] < 0 {
                        slot[i] = object.members.count
                        object.members.append((field.name, v))
                    } else {
                        object.members[slot[i]].value = v  // the last one wins, as in protobuf
                    }
                }
            }
            for (i, field) in m.fields.enumerated() where field.label == .required && slot[i] < 0 {
                throw .missingRequired(field: path.isEmpty ? field.name : path + "." + field.name)
            }
            return .object(object)
        }

        mutating func value(_ type: ProtoType, _ path: String, _ depth: Int) throws(ProtoError) -> JSONValue {
            switch type {
            case .message(let m):
                let n = try varint()
                guard n <= UInt64(end - at) else { throw .truncated }
                var inner = Reader(bytes: bytes, at: at, end: at + Int(n))
                let v = try inner.message(m, path, depth + 1)
                at += Int(n)
                return v
            case .scalar(.string):
                let n = try varint()
                guard n <= UInt64(end - at) else { throw .truncated }
                let r = try take(Int(n))
                guard let s = ProtoStrings.decode(UnsafeRawBufferPointer(rebasing: bytes[r])) else { throw .badString(field: path) }
                return .string(s)
            case .scalar(.float):
                let r = try take(4)
                let bits = UInt32(littleEndian: UnsafeRawBufferPointer(rebasing: bytes[r]).loadUnaligned(as: UInt32.self))
                // JSON has no NaN or infinity: a handler could not see them.
                let f = Float(bitPattern: bits)
                guard f.isFinite else { throw .outOfRange(field: path) }
                return .number(Double(f))
            case .scalar(.double):
                let r = try take(8)
                let bits = UInt64(littleEndian: UnsafeRawBufferPointer(rebasing: bytes[r]).loadUnaligned(as: UInt64.self))
                let d = Double(bitPattern: bits)
                guard d.isFinite else { throw .outOfRange(field: path) }
                return .number(d)
            case .scalar(.bool):
                return .bool(try varint() != 0)
            case .scalar(.uInt32):
                let v = try varint()
                guard v <= UInt64(UInt32.max) else { throw .outOfRange(field: path) }
                return .number(Double(v))
            case .scalar(.uInt64):
                return .number(Double(try varint()))
            case .scalar(.sInt32), .scalar(.int32):
                let v = ProtoWire.unzigzag(try varint())
                guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw .outOfRange(field: path) }
                return .number(Double(v))
            case .scalar(.sInt64):
                return .number(Double(ProtoWire.unzigzag(try varint())))
            }
        }
    }
}

/// Strings as clients send them: UTF-8, or from pomelo-protobuf's browser
/// library CESU-8, where a character beyond U+FFFF is its two UTF-16
/// surrogates encoded as three bytes each (eda0bd edb880 for U+1F600).
enum ProtoStrings {
    static func decode(_ b: UnsafeRawBufferPointer) -> String? {
        if UTF8Validation.isValid(b) { return String(decoding: b, as: UTF8.self) }
        // Rewrite surrogate pairs as 4-byte UTF-8, then check again.
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if i + 5 < b.count, b[i] == 0xED, (0xA0...0xAF).contains(b[i + 1]), b[i + 3] == 0xED, (0xB0...0xBF).contains(b[i + 4]),
               b[i + 2] & 0xC0 == 0x80, b[i + 5] & 0xC0 == 0x80 {
                let high = 0xD000 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F)
                let low = 0xD000 | UInt32(b[i + 4] & 0x3F) << 6 | UInt32(b[i + 5] & 0x3F)
                let scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                out.append(UInt8(0xF0 | scalar >> 18))
                out.append(UInt8(0x80 | (scalar >> 12) & 0x3F))
                out.append(UInt8(0x80 | (scalar >> 6) & 0x3F))
                out.append(UInt8(0x80 | scalar & 0x3F))
                i += 6
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out.withUnsafeBytes { UTF8Validation.isValid($0) } ? String(decoding: out, as: UTF8.self) : nil
    }
}

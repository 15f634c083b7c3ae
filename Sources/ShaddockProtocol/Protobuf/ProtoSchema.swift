import Glibc

/// pomelo-protobuf schemas (not Google's protobuf): Pomelo's
/// `clientProtos.json` and `serverProtos.json`, read as Pomelo's
/// `protobuf.parse` reads them, but strictly (docs/protobuf.md).

/// The value types of a field.
public enum ProtoScalar: String, Sendable, CaseIterable {
    case uInt32, sInt32, int32, float, double, string
    /// Pinus's additions, accepted only when asked for.
    case bool, uInt64, sInt64

    /// The key's wire type: 0 varint, 1 eight bytes, 5 four bytes, 2
    /// length-delimited (what pomelo-protobuf writes).
    var wireType: UInt8 {
        switch self {
        case .uInt32, .sInt32, .int32, .bool, .uInt64, .sInt64: return 0
        case .double: return 1
        case .float: return 5
        case .string: return 2
        }
    }

    /// Repeated fields of these types are one key, a count, the values.
    var isPackedByCount: Bool { self != .string }

    static let pomelo: Set<ProtoScalar> = [.uInt32, .sInt32, .int32, .float, .double, .string]
}

public enum ProtoLabel: String, Sendable {
    case required, optional, repeated
}

public enum ProtoType: Sendable {
    case scalar(ProtoScalar)
    case message(ProtoMessage)
}

public struct ProtoField: Sendable {
    public let name: String
    public let tag: Int
    public let label: ProtoLabel
    public let type: ProtoType
    /// The key as it goes on the wire: varint(tag << 3 | wire type).
    let key: [UInt8]
    /// The name's UTF-8, to find the field by a JSON key's bytes.
    let nameUTF8: [UInt8]

    init(name: String, tag: Int, label: ProtoLabel, type: ProtoType, key: [UInt8]) {
        self.name = name
        self.tag = tag
        self.label = label
        self.type = type
        self.key = key
        nameUTF8 = Array(name.utf8)
    }
}

/// One message type: its fields in the file's order. Made while a file is
/// parsed, never changed afterwards (a message may refer to itself, so the
/// fields are set once every type of the file is known).
public final class ProtoMessage: @unchecked Sendable {
    public let name: String
    public private(set) var fields: [ProtoField] = []
    private var byName: [String: Int] = [:]
    private var byTag: [Int: Int] = [:]
    /// The fields marked required, for the decoder's check.
    private(set) var requiredCount = 0
    /// Bit i set when field i is required (fields 0...63; see ProtoToJSON).
    private(set) var requiredMask: UInt64 = 0

    init(name: String) { self.name = name }

    public func field(named name: String) -> ProtoField? { byName[name].map { fields[$0] } }
    func index(ofTag tag: Int) -> Int? { byTag[tag] }
    func index(named name: String) -> Int? { byName[name] }

    /// The field whose name is these bytes (a JSON key read in place): a
    /// scan, since messages have few fields and no String is made.
    func index(utf8 name: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while i < fields.count {
            let same = fields[i].nameUTF8.withUnsafeBytes { $0.count == name.count && (name.count == 0 || memcmp($0.baseAddress!, name.baseAddress!, name.count) == 0) }
            if same { return i }
            i += 1
        }
        return nil
    }

    fileprivate func add(_ field: ProtoField) {
        byName[field.name] = fields.count
        byTag[field.tag] = fields.count
        fields.append(field)
        if field.label == .required {
            requiredCount += 1
            if fields.count <= 64 { requiredMask |= 1 << UInt64(fields.count - 1) }
        }
    }
}

public enum ProtoSchemaError: Error, Equatable, CustomStringConvertible {
    /// A key that is not `"<label> <type> <name>"` or `"message <Name>"`.
    case malformedKey(path: String)
    case badTag(path: String)
    case duplicateTag(path: String, tag: Int)
    case duplicateName(path: String)
    case unknownType(path: String, type: String)
    case notAnObject(path: String)

    public var description: String {
        switch self {
        case .malformedKey(let p): return "\(p): not \"<required|optional|repeated> <type> <name>\" or \"message <Name>\""
        case .badTag(let p): return "\(p): a tag is an integer from 1 to 536870911"
        case .duplicateTag(let p, let t): return "\(p): tag \(t) is used twice"
        case .duplicateName(let p): return "\(p): the name is used twice"
        case .unknownType(let p, let t): return "\(p): unknown type \"\(t)\" (not a scalar, a message nested here, or a root message)"
        case .notAnObject(let p): return "\(p): must be a JSON object"
        }
    }
}

/// One protos file: a message per route (or push route), and the root
/// messages (`"message Name"` at the top) every route may use.
public struct ProtoSchema: Sendable {
    public let routes: [String: ProtoMessage]
    public let roots: [String: ProtoMessage]
    /// Pomelo's parsed form of the file (`protobuf.parse`), which the
    /// handshake sends as `sys.protos.client` or `.server`.
    public let parsed: JSONValue

    public static let empty = ProtoSchema(routes: [:], roots: [:], parsed: .object(JSONObject()))

    public func message(forRoute route: String) -> ProtoMessage? { routes[route] }

    /// Reads a protos file. `pinusTypes` accepts `bool`, `uInt64` and
    /// `sInt64`, which Pinus clients send.
    public static func parse(_ file: JSONValue, pinusTypes: Bool = false) throws(ProtoSchemaError) -> ProtoSchema {
        guard let top = file.objectValue else { throw .notAnObject(path: "(top level)") }
        var builder = Builder(pinusTypes: pinusTypes)
        // First every message and its raw fields, so that types can refer to
        // any of them (and to themselves); then the types.
        var routes: [String: ProtoMessage] = [:], roots: [String: ProtoMessage] = [:]
        var parsed = JSONObject()
        for (key, value) in top {
            if let name = Builder.messageName(key) {
                let m = try builder.declare(name: name, value, path: key)
                roots[name] = m
                parsed.members.append((key, try builder.parsedForm(value, path: key)))
            } else {
                routes[key] = try builder.declare(name: key, value, path: key)
                parsed.members.append((key, try builder.parsedForm(value, path: key)))
            }
        }
        try builder.resolve(roots: roots)
        return ProtoSchema(routes: routes, roots: roots, parsed: .object(parsed))
    }

    /// `protoVersion`: base64 of the MD5 of the two parsed forms' JSON one
    /// after the other, as Pomelo's protobuf component computes it.
    public static func version(client: ProtoSchema, server: ProtoSchema) -> String {
        var text: [UInt8] = []
        client.parsed.write(into: &text)
        server.parsed.write(into: &text)
        return Digest.base64(Digest.md5(text))
    }
}

/// Declares messages with their raw fields, then resolves the types.
private struct Builder {
    let pinusTypes: Bool
    /// Fields whose type is to be resolved: the message, the field, the
    /// type word, and where it was declared.
    var pending: [(message: ProtoMessage, name: String, tag: Int, label: ProtoLabel, type: String, nested: [String: ProtoMessage], path: String)] = []

    init(pinusTypes: Bool) { self.pinusTypes = pinusTypes }

    static func messageName(_ key: String) -> String? {
        let words = key.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 2, words[0] == "message", !words[1].isEmpty else { return nil }
        return String(words[1])
    }

    mutating func declare(name: String, _ value: JSONValue, path: String) throws(ProtoSchemaError) -> ProtoMessage {
        guard let object = value.objectValue else { throw .notAnObject(path: path) }
        let message = ProtoMessage(name: name)
        var nested: [String: ProtoMessage] = [:]
        var tags = Set<Int>(), names = Set<String>()
        var fields: [(String, Int, ProtoLabel, String, String)] = []
        for (key, v) in object {
            let at = path + "." + key
            if let inner = Self.messageName(key) {
                nested[inner] = try declare(name: inner, v, path: at)
                continue
            }
            let words = key.split(separator: " ", omittingEmptySubsequences: false)
            guard words.count == 3, let label = ProtoLabel(rawValue: String(words[0])), !words[1].isEmpty, !words[2].isEmpty else {
                throw .malformedKey(path: at)
            }
            guard let tag = Self.tag(v), (1...536_870_911).contains(tag) else { throw .badTag(path: at) }
            guard tags.insert(tag).inserted else { throw .duplicateTag(path: at, tag: tag) }
            guard names.insert(String(words[2])).inserted else { throw .duplicateName(path: at) }
            fields.append((String(words[2]), tag, label, String(words[1]), at))
        }
        for (fieldName, tag, label, type, at) in fields {
            pending.append((message, fieldName, tag, label, type, nested, at))
        }
        return message
    }

    /// A tag is a JSON integer; Pomelo also takes one written as a string.
    static func tag(_ v: JSONValue) -> Int? {
        switch v {
        case .number(let d): return d == d.rounded() && abs(d) < 1e12 ? Int(d) : nil
        case .string(let s): return Int(s)
        default: return nil
        }
    }

    func resolve(roots: [String: ProtoMessage]) throws(ProtoSchemaError) {
        for p in pending {
            let type: ProtoType
            if let scalar = ProtoScalar(rawValue: p.type), pinusTypes || ProtoScalar.pomelo.contains(scalar) {
                type = .scalar(scalar)
            } else if let m = p.nested[p.type] ?? roots[p.type] {
                // Pomelo looks only in the field's own message, then the root.
                type = .message(m)
            } else {
                throw .unknownType(path: p.path, type: p.type)
            }
            let wire: UInt8
            if case .scalar(let s) = type { wire = s.wireType } else { wire = 2 }
            var key: [UInt8] = []
            ProtoWire.appendVarint(UInt64(p.tag) << 3 | UInt64(wire), to: &key)
            p.message.add(ProtoField(name: p.name, tag: p.tag, label: p.label, type: type, key: key))
        }
    }

    /// Pomelo's parsed form of one message: its fields in file order as
    /// `{option, type, tag}`, then `__messages` (the nested ones, parsed),
    /// then `__tags` (tag → name, in ascending tag order, as JavaScript
    /// orders integer keys).
    func parsedForm(_ value: JSONValue, path: String) throws(ProtoSchemaError) -> JSONValue {
        guard let object = value.objectValue else { throw .notAnObject(path: path) }
        var out = JSONObject()
        var messages = JSONObject()
        var tags: [(Int, String)] = []
        for (key, v) in object {
            if let inner = Self.messageName(key) {
                messages.members.append((inner, try parsedForm(v, path: path + "." + key)))
                continue
            }
            let words = key.split(separator: " ")
            guard words.count == 3, let tag = Self.tag(v) else { throw .malformedKey(path: path + "." + key) }
            out.members.append((String(words[2]), .object(JSONObject([
                ("option", .string(String(words[0]))), ("type", .string(String(words[1]))), ("tag", v),
            ]))))
            tags.append((tag, String(words[2])))
        }
        out.members.append(("__messages", .object(messages)))
        out.members.append(("__tags", .object(JSONObject(tags.sorted { $0.0 < $1.0 }.map { (String($0.0), .string($0.1)) }))))
        return .object(out)
    }
}

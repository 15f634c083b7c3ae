// JSONObject: an ordered JSON object. A dictionary would lose member order,
// and the gateway's output has to be byte-stable and identical to what
// JSON.stringify produces for the same object (e.g. {"code":200,"sys":{...}}).

/// An ordered JSON object that behaves like a JavaScript object.
///
/// Keys are compared by their UTF-8 bytes, as JavaScript compares property
/// names by code units. `JSON.parse` and the subscript setter never create
/// duplicate keys (a repeated key keeps its first position and takes the last
/// value, as `JSON.parse` does in JavaScript). `init(_:)` stores members
/// verbatim, duplicates included; lookup then returns the last value and the
/// writer emits every member as stored.
public struct JSONObject: Sendable {
    public var members: [(key: String, value: JSONValue)]

    public init() { members = [] }

    public init(_ members: [(key: String, value: JSONValue)]) {
        self.members = members
    }

    /// Stored members, duplicates included.
    public var count: Int { members.count }

    /// Lookup returns the last member with this key. Setting a value replaces
    /// the first member with this key in place (dropping later duplicates) or
    /// appends; setting nil removes every member with this key.
    public subscript(key: String) -> JSONValue? {
        get {
            var i = members.count
            while i > 0 {
                i -= 1
                if JSON.sameUTF8(members[i].key, key) { return members[i].value }
            }
            return nil
        }
        set {
            guard let first = members.firstIndex(where: { JSON.sameUTF8($0.key, key) }) else {
                if let newValue { members.append((key: key, value: newValue)) }
                return
            }
            if let newValue {
                members[first].value = newValue
                var j = members.count - 1
                while j > first {
                    if JSON.sameUTF8(members[j].key, key) { members.remove(at: j) }
                    j -= 1
                }
            } else {
                members.removeAll { JSON.sameUTF8($0.key, key) }
            }
        }
    }
}

extension JSONObject: Equatable {
    /// Member by member, in order: two objects are equal when they serialise
    /// to the same bytes (numbers aside, which follow `Double` equality).
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (a, b) in zip(lhs.members, rhs.members) {
            guard JSON.sameUTF8(a.key, b.key), a.value == b.value else { return false }
        }
        return true
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Repeated keys keep the first position and the last value, as in a
    /// JavaScript object literal.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init()
        for (key, value) in elements { self[key] = value }
    }
}

extension JSONObject: Sequence {
    public typealias Element = (key: String, value: JSONValue)

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> {
        members.makeIterator()
    }

    public var underestimatedCount: Int { members.count }
}

// Tests for JSONValueEncoder and JSONValueDecoder: output bytes as
// JSON.stringify writes them (member order included), round trips, and every
// error with its coding path.

import Testing

@testable import ShaddockProtocol

// MARK: Helpers

private func text<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONValueEncoder().encodeBytes(value), as: UTF8.self)
}

/// Decodes from the bytes of `json`, through JSON.parse.
private func decode<T: Decodable>(_ type: T.Type, _ json: String, with decoder: JSONValueDecoder = .init()) throws -> T {
    try Array(json.utf8).withUnsafeBytes { try decoder.decode(type, from: $0) }
}

/// Encodes to bytes and decodes those bytes back.
private func roundTrip<T: Codable>(_ value: T) throws -> T {
    try JSONValueEncoder().encodeBytes(value).withUnsafeBytes { try JSONValueDecoder().decode(T.self, from: $0) }
}

private func path(_ error: (any Error)?) -> [String] {
    switch error {
    case let EncodingError.invalidValue(_, context)?: return context.codingPath.map(\.stringValue)
    case let DecodingError.typeMismatch(_, context)?: return context.codingPath.map(\.stringValue)
    case let DecodingError.valueNotFound(_, context)?: return context.codingPath.map(\.stringValue)
    case let DecodingError.keyNotFound(_, context)?: return context.codingPath.map(\.stringValue)
    case let DecodingError.dataCorrupted(context)?: return context.codingPath.map(\.stringValue)
    default: return ["not a coding error: \(String(describing: error))"]
    }
}

private func isTypeMismatch(_ error: DecodingError?) -> Bool {
    if case .typeMismatch? = error { return true }
    return false
}

private func isValueNotFound(_ error: DecodingError?) -> Bool {
    if case .valueNotFound? = error { return true }
    return false
}

private func isDataCorrupted(_ error: DecodingError?) -> Bool {
    if case .dataCorrupted? = error { return true }
    return false
}

private func missingKey(_ error: DecodingError?) -> String? {
    if case let .keyNotFound(key, _)? = error { return key.stringValue }
    return nil
}

// MARK: Types

private struct Reply: Codable, Equatable {
    var code: Int
    var msg: String
}

private struct Unordered: Codable, Equatable {
    var zeta = 1
    var alpha = 2
    var mid = 3
}

private enum Color: String, Codable, Equatable { case red, green }

private enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case square(side: Int)
    case empty
}

private struct Player: Codable, Equatable {
    var id: UInt32
    var name: String
    var nick: String?
    var scores: [Int]
    var color: Color
    var shape: Shape
    var friends: [Player]
    var tags: [String: Int]?
    var ratio: Double
    var small: Int8
    var single: Float
    var maybe: [Int?]
    var extra: JSONValue?
}

private let player = Player(
    id: 7, name: "Ann \"A\" é\n", nick: nil, scores: [1, -2, 3],
    color: .green, shape: .circle(radius: 1.5),
    friends: [
        Player(
            id: 8, name: "Bob", nick: "b", scores: [], color: .red, shape: .empty, friends: [],
            tags: ["x": 1], ratio: -0.25, small: -128, single: 0.1, maybe: [], extra: nil)
    ],
    tags: nil, ratio: 0.1, small: 127, single: 3.5, maybe: [1, nil, 3],
    extra: ["k": [1, "two", nil, true], "n": 1.5])

/// Keys written by hand, in the order given; the same key may come back.
private struct Members: Encodable {
    var pairs: [(String, Int)]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (key, value) in pairs { try c.encode(value, forKey: Key(stringValue: key)) }
    }
}

/// Every kind of container: nested keyed filled after a sibling, nested
/// unkeyed, super encoders keyed and unkeyed, containers inside arrays.
private struct Layout: Codable, Equatable {
    var x = 1, y = 2
    var list = [3, 4]
    var base = 5
    var row = "a"
    var flag = true

    enum Keys: String, CodingKey { case meta, list, base, rows }
    enum Point: String, CodingKey { case x, y }

    init() {}

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        var meta = c.nestedContainer(keyedBy: Point.self, forKey: .meta)
        try meta.encode(x, forKey: .x)
        var list = c.nestedUnkeyedContainer(forKey: .list)
        for v in self.list { try list.encode(v) }
        try meta.encode(y, forKey: .y)  // after list: meta keeps its place
        var base = c.superEncoder(forKey: .base).singleValueContainer()
        try base.encode(self.base)
        var rows = c.nestedUnkeyedContainer(forKey: .rows)
        var point = rows.nestedContainer(keyedBy: Point.self)
        try point.encode(x, forKey: .x)
        var inner = rows.nestedUnkeyedContainer()
        try inner.encode(row)
        try inner.encodeNil()
        var last = rows.superEncoder().singleValueContainer()
        try last.encode(flag)
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let meta = try c.nestedContainer(keyedBy: Point.self, forKey: .meta)
        x = try meta.decode(Int.self, forKey: .x)
        y = try meta.decode(Int.self, forKey: .y)
        var list = try c.nestedUnkeyedContainer(forKey: .list)
        self.list = []
        while !list.isAtEnd { self.list.append(try list.decode(Int.self)) }
        base = try c.superDecoder(forKey: .base).singleValueContainer().decode(Int.self)
        var rows = try c.nestedUnkeyedContainer(forKey: .rows)
        #expect(rows.count == 3)
        let point = try rows.nestedContainer(keyedBy: Point.self)
        #expect(try point.decode(Int.self, forKey: .x) == x)
        var inner = try rows.nestedUnkeyedContainer()
        row = try inner.decode(String.self)
        #expect(try inner.decodeNil())
        #expect(inner.isAtEnd)
        flag = try rows.superDecoder().singleValueContainer().decode(Bool.self)
        #expect(rows.isAtEnd)
    }
}

private class Base: Codable {
    var x: Int
    init(x: Int) { self.x = x }
}

private final class Derived: Base {
    var y: Int
    enum Keys: CodingKey { case y }

    init(x: Int, y: Int) {
        self.y = y
        super.init(x: x)
    }

    override func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(y, forKey: .y)
        try super.encode(to: c.superEncoder())
    }

    required init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        y = try c.decode(Int.self, forKey: .y)
        try super.init(from: c.superDecoder())
    }
}

/// Encodes nothing at all.
private struct Nothing: Codable {
    func encode(to encoder: any Encoder) throws {}
    init() {}
    init(from decoder: any Decoder) throws {}
}

private struct Box<T> { var value: T }
extension Box: Encodable where T: Encodable {}
extension Box: Decodable where T: Decodable {}

/// Synthesized Codable only omits nil for a member declared Optional (a
/// generic Box<Int?> would write null).
private struct MaybeInt: Codable { var value: Int? }

// MARK: Encoding

@Suite("JSON encoding")
struct JSONEncodingTests {
    @Test func membersInDeclarationOrder() throws {
        #expect(try text(Reply(code: 200, msg: "x")) == #"{"code":200,"msg":"x"}"#)
        #expect(try text(Unordered()) == #"{"zeta":1,"alpha":2,"mid":3}"#)
        let value = try JSONValueEncoder().encode(Reply(code: 200, msg: "x"))
        #expect(value == ["code": 200, "msg": "x"])
        #expect(value.objectValue?.members.map(\.key) == ["code", "msg"])
    }

    @Test func repeatedKeyReplacesInPlace() throws {
        #expect(try text(Members(pairs: [("a", 1), ("b", 2), ("a", 3)])) == #"{"a":3,"b":2}"#)
        // Past the size where members get a hash index.
        var pairs = (0..<40).map { ("k\($0)", $0) }
        pairs.append(("k5", -5))
        pairs.append(("k39", -39))
        let expected = "{" + (0..<40).map { "\"k\($0)\":\($0 == 5 || $0 == 39 ? -$0 : $0)" }.joined(separator: ",") + "}"
        #expect(try text(Members(pairs: pairs)) == expected)
    }

    @Test func keysCompareByBytes() throws {
        // Equal as Swift Strings, different JavaScript property names.
        #expect(try text(Members(pairs: [("é", 1), ("e\u{301}", 2)])) == "{\"é\":1,\"e\u{301}\":2}")
    }

    @Test func nilIsOmittedUnlessEncodedExplicitly() throws {
        #expect(try text(MaybeInt(value: nil)) == "{}")
        #expect(try text(MaybeInt(value: 4)) == #"{"value":4}"#)
        #expect(try text([1, nil, 3] as [Int?]) == "[1,null,3]")
        #expect(try text(Optional<Int>.none) == "null")

        struct Explicit: Encodable {
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: Members.Key.self)
                try c.encodeNil(forKey: .init(stringValue: "a"))
                try c.encode(Int?.none, forKey: .init(stringValue: "b"))
                try c.encodeIfPresent(Int?.none, forKey: .init(stringValue: "c"))
            }
        }
        #expect(try text(Explicit()) == #"{"a":null,"b":null}"#)
    }

    @Test func enumsAndCollections() throws {
        #expect(try text(Shape.circle(radius: 1.5)) == #"{"circle":{"radius":1.5}}"#)
        #expect(try text(Shape.empty) == #"{"empty":{}}"#)
        #expect(try text(Color.green) == #""green""#)
        #expect(try text([[1, 2], [], [3]]) == "[[1,2],[],[3]]")
        #expect(try text(["only": [true, false]]) == #"{"only":[true,false]}"#)
        #expect(try text("\u{1}\"\\/\u{2028}") == "\"\\u0001\\\"\\\\/\u{2028}\"")
    }

    @Test func everyContainerKind() throws {
        #expect(try text(Layout()) == #"{"meta":{"x":1,"y":2},"list":[3,4],"base":5,"rows":[{"x":1},["a",null],true]}"#)
        #expect(try roundTrip(Layout()) == Layout())
    }

    @Test func superEncoderAndDecoder() throws {
        #expect(try text(Derived(x: 1, y: 2)) == #"{"y":2,"super":{"x":1}}"#)
        let back = try roundTrip(Derived(x: 1, y: 2))
        #expect(back.x == 1 && back.y == 2)

        struct Unused: Encodable {
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: Members.Key.self)
                _ = c.superEncoder()
                try c.encode(1, forKey: .init(stringValue: "after"))
            }
        }
        // An untouched super encoder is an empty object, at its own position.
        #expect(try text(Unused()) == #"{"super":{},"after":1}"#)
    }

    @Test func encodingNothing() throws {
        #expect(try text(Box(value: Nothing())) == #"{"value":{}}"#)
        #expect(try text([Nothing()]) == "[{}]")
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Nothing()) }
    }

    @Test func integersUpTo2To53() throws {
        let limit: Int64 = 1 << 53
        #expect(try text(UInt64(limit)) == "9007199254740992")
        #expect(try text(-limit) == "-9007199254740992")
        #expect(try text([Int8.min, 0]) == "[-128,0]")
        #expect(try text(UInt32.max) == "4294967295")
        for big in [limit + 1, -limit - 1, .max, .min] {
            #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(big) }
            #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Int(big)) }
        }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(UInt64.max) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(UInt(limit) + 1) }

        let keyed = #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Box(value: UInt64.max)) }
        #expect(path(keyed) == ["value"])
        let unkeyed = #expect(throws: EncodingError.self) {
            try JSONValueEncoder().encode(Box(value: [1, limit + 1]))
        }
        #expect(path(unkeyed) == ["value", "Index 1"])
    }

    @Test func nonFiniteIsRefused() throws {
        for bad in [Double.nan, .infinity, -.infinity] {
            #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(bad) }
            #expect(throws: EncodingError.self) { try JSONValueEncoder().encode([bad]) }
            #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Box(value: bad)) }
        }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Float.nan) }
        #expect(throws: EncodingError.self) { try JSONValueEncoder().encode(Box(value: -Float.infinity)) }
        let error = #expect(throws: EncodingError.self) {
            try JSONValueEncoder().encode(Box(value: Box(value: [1, 2, Double.nan])))
        }
        #expect(path(error) == ["value", "value", "Index 2"])
    }

    @Test func numbersAsJavaScriptWritesThem() throws {
        // Expected strings are String(x) in Node.js.
        let cases: [(Double, String)] = [
            (0.1, "0.1"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (-0.0, "0"),
            (1.5e-7, "1.5e-7"), (0.000001, "0.000001"), (123.456, "123.456"), (.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"), (0.1 + 0.2, "0.30000000000000004"),
            (9007199254740994, "9007199254740994"), (0x1p60, "1152921504606847000"), (-2.5, "-2.5"),
        ]
        for (value, expected) in cases {
            #expect(try text(value) == expected, "\(value)")
            #expect(try text(value) == JSONValue.number(value).jsonString)
        }
        // A Float is written as its own shortest decimal, not its double's.
        #expect(try text(Float(0.1)) == "0.1")
        #expect(try text([Float.greatestFiniteMagnitude, .leastNonzeroMagnitude]) == "[3.4028235e+38,1e-45]")
    }

    @Test func jsonValueEncodesToItself() throws {
        let value: JSONValue = ["a": [1, "x", nil, ["b": false]], "c": 2.5, "": [:]]
        #expect(try JSONValueEncoder().encode(value) == value)
        // Verbatim duplicates and non-finite numbers survive as they are.
        let verbatim = JSONValue.object(JSONObject([(key: "a", value: 1), (key: "a", value: .number(.infinity))]))
        let encoded = try JSONValueEncoder().encode(verbatim)
        #expect(encoded == verbatim)
        #expect(encoded.jsonString == #"{"a":1,"a":null}"#)
        #expect(try text(Box(value: value)) == #"{"value":{"a":[1,"x",null,{"b":false}],"c":2.5,"":{}}}"#)
        #expect(try text(Box(value: verbatim.objectValue!)) == #"{"value":{"a":1,"a":null}}"#)
    }

    @Test func largeDictionary() throws {
        let dictionary = Dictionary(uniqueKeysWithValues: (0..<2000).map { ("key\($0)", $0) })
        let value = try JSONValueEncoder().encode(dictionary)
        #expect(value.objectValue?.count == 2000)
        #expect(try roundTrip(dictionary) == dictionary)
        let keyedByInt = [1: "a", -3: "b"]
        #expect(try roundTrip(keyedByInt) == keyedByInt)
    }
}

// MARK: Decoding

@Suite("JSON decoding")
struct JSONDecodingTests {
    @Test func roundTrips() throws {
        #expect(try roundTrip(player) == player)
        let value = try JSONValueEncoder().encode(player)
        #expect(try JSONValueDecoder().decode(Player.self, from: value) == player)
        #expect(value["nick"] == nil)
        #expect(value["tags"] == nil)
        #expect(value["friends"]?.arrayValue?.first?["nick"] == "b")
        for shape in [Shape.circle(radius: -0.5), .square(side: 4), .empty] {
            #expect(try roundTrip(shape) == shape)
        }
        #expect(try roundTrip([[1.5], [], [0.1]]) == [[1.5], [], [0.1]])
        #expect(try roundTrip(["a": ["b": [1]]]) == ["a": ["b": [1]]])
    }

    @Test func fromRawBytes() throws {
        let bytes = Array(#" {"msg" : "hi\u00e9", "code": 200 } "#.utf8)
        let reply = try bytes.withUnsafeBytes { try JSONValueDecoder().decode(Reply.self, from: $0) }
        #expect(reply == Reply(code: 200, msg: "hié"))
        let empty = #expect(throws: DecodingError.self) {
            try JSONValueDecoder().decode(Int.self, from: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        #expect(isDataCorrupted(empty))

        let error = #expect(throws: DecodingError.self) { try decode(Reply.self, #"{"code":200,"#) }
        guard case .dataCorrupted(let context)? = error else { return }
        #expect(context.underlyingError as? JSONError == .unexpectedEnd)
        #expect(context.codingPath.isEmpty)
    }

    @Test func missingKeys() throws {
        let top = #expect(throws: DecodingError.self) { try decode(Reply.self, #"{"code":200}"#) }
        #expect(missingKey(top) == "msg")
        #expect(path(top) == [])
        let nested = #expect(throws: DecodingError.self) {
            try decode([Box<Reply>].self, #"[{"value":{"code":1,"msg":""}},{"value":{"msg":""}}]"#)
        }
        #expect(missingKey(nested) == "code")
        #expect(path(nested) == ["Index 1", "value"])
        #expect(throws: DecodingError.self) { try decode(Layout.self, #"{"meta":{"x":1}}"#) }
    }

    @Test func typeMismatches() throws {
        let cases: [(String, [String])] = [
            (#"{"code":"200","msg":"x"}"#, ["code"]),
            (#"{"code":200,"msg":1}"#, ["msg"]),
            (#"{"code":true,"msg":"x"}"#, ["code"]),
            (#"[]"#, []),
            (#""x""#, []),
        ]
        for (json, expected) in cases {
            let error = #expect(throws: DecodingError.self, "\(json)") { try decode(Reply.self, json) }
            #expect(isTypeMismatch(error), "\(json)")
            #expect(path(error) == expected, "\(json)")
        }
        let inArray = #expect(throws: DecodingError.self) { try decode([[Int]].self, "[[1],[2,\"3\"]]") }
        #expect(isTypeMismatch(inArray))
        #expect(path(inArray) == ["Index 1", "Index 1"])
        let notArray = #expect(throws: DecodingError.self) { try decode(Box<[Int]>.self, #"{"value":{}}"#) }
        #expect(isTypeMismatch(notArray))
        #expect(path(notArray) == ["value"])
        #expect(throws: DecodingError.self) { try decode(Bool.self, "0") }
        #expect(throws: DecodingError.self) { try decode(Double.self, "\"1\"") }
        #expect(throws: DecodingError.self) { try decode(JSONObject.self, "[]") }
    }

    @Test func nullWhereAValueIsRequired() throws {
        let error = #expect(throws: DecodingError.self) { try decode(Reply.self, #"{"code":null,"msg":"x"}"#) }
        #expect(isValueNotFound(error))
        #expect(path(error) == ["code"])
        let container = #expect(throws: DecodingError.self) { try decode(Box<Reply>.self, #"{"value":null}"#) }
        #expect(isValueNotFound(container))
        #expect(path(container) == ["value"])
        let element = #expect(throws: DecodingError.self) { try decode([String].self, #"["a",null]"#) }
        #expect(isValueNotFound(element))
        #expect(path(element) == ["Index 1"])
    }

    @Test func integersMustBeIntegralAndInRange() throws {
        #expect(try decode(Int.self, "-0") == 0)
        #expect(try decode(Int.self, "1e2") == 100)
        #expect(try decode(UInt8.self, "255") == 255)
        #expect(try decode(Int64.self, "-9007199254740992") == -9_007_199_254_740_992)
        #expect(try decode(Int8.self, "-128") == -128)
        let bad: [(String, any Decodable.Type)] = [
            ("1.5", Int.self), ("256", UInt8.self), ("-1", UInt.self), ("1e300", Int64.self),
            ("-129", Int8.self), ("4294967296", UInt32.self), ("1e-7", Int32.self), ("40000", Int16.self),
            ("-1", UInt16.self), ("-1", UInt64.self),
        ]
        for (json, type) in bad {
            let error = #expect(throws: DecodingError.self, "\(json) as \(type)") { _ = try decode(type, json) }
            #expect(isDataCorrupted(error), "\(json) as \(type)")
        }
        let keyed = #expect(throws: DecodingError.self) { try decode(Reply.self, #"{"code":200.5,"msg":""}"#) }
        #expect(isDataCorrupted(keyed))
        #expect(path(keyed) == ["code"])
        let unkeyed = #expect(throws: DecodingError.self) { try decode(Box<[UInt8]>.self, #"{"value":[1,2,300]}"#) }
        #expect(isDataCorrupted(unkeyed))
        #expect(path(unkeyed) == ["value", "Index 2"])
    }

    @Test func floats() throws {
        #expect(try decode(Float.self, "0.1") == Float(0.1))
        #expect(try decode(Float.self, "1e-50") == 0)
        #expect(try decode(Double.self, "1e21") == 1e21)
        let error = #expect(throws: DecodingError.self) { try decode(Box<Float>.self, #"{"value":1e300}"#) }
        #expect(isDataCorrupted(error))
        #expect(path(error) == ["value"])
    }

    @Test func optionalsAndNil() throws {
        #expect(try decode(MaybeInt.self, #"{"value":null}"#).value == nil)
        #expect(try decode(MaybeInt.self, "{}").value == nil)
        #expect(try decode(MaybeInt.self, #"{"value":3}"#).value == 3)
        #expect(try decode([Int?].self, "[1,null,3]") == [1, nil, 3])
        #expect(try decode(Int?.self, "null") == nil)
        #expect(try decode([Reply?].self, #"[null,{"code":1,"msg":""}]"#) == [nil, Reply(code: 1, msg: "")])
        let wrongType = #expect(throws: DecodingError.self) { try decode(MaybeInt.self, #"{"value":"3"}"#) }
        #expect(isTypeMismatch(wrongType))
        #expect(path(wrongType) == ["value"])
    }

    @Test func lastDuplicateWins() throws {
        #expect(try decode(Reply.self, #"{"code":1,"msg":"a","code":2}"#) == Reply(code: 2, msg: "a"))
        // A JSONObject built verbatim keeps duplicates; lookups still take the
        // last, and keys are listed once, at their first position.
        let small = JSONValue.object(JSONObject([(key: "a", value: 1), (key: "b", value: 2), (key: "a", value: 3)]))
        #expect(try JSONValueDecoder().decode([String: Int].self, from: small) == ["a": 3, "b": 2])
        var members = (0..<30).map { (key: "k\($0)", value: JSONValue.number(Double($0))) }
        members.append((key: "k3", value: -3))
        let large = try JSONValueDecoder().decode([String: Int].self, from: .object(JSONObject(members)))
        #expect(large.count == 30)
        #expect(large["k3"] == -3)
        #expect(large["k29"] == 29)
        let ordered = try JSONValueDecoder().decode(JSONValue.self, from: small)
        #expect(ordered == small)
    }

    @Test func unkeyedContainerAtEnd() throws {
        struct Pair: Decodable {
            var a, b: Int
            init(from decoder: any Decoder) throws {
                var c = try decoder.unkeyedContainer()
                a = try c.decode(Int.self)
                b = try c.decode(Int.self)
            }
        }
        #expect(try decode(Pair.self, "[1,2]").b == 2)
        let error = #expect(throws: DecodingError.self) { try decode(Box<Pair>.self, #"{"value":[1]}"#) }
        #expect(isValueNotFound(error))
        #expect(path(error) == ["value", "Index 1"])
    }

    @Test func failedElementIsNotConsumed() throws {
        struct Either: Decodable {
            var values: [String] = []
            init(from decoder: any Decoder) throws {
                var c = try decoder.unkeyedContainer()
                while !c.isAtEnd {
                    if try c.decodeNil() {
                        values.append("nil")
                    } else if let n = try? c.decode(Int.self) {
                        values.append("\(n)")
                    } else {
                        values.append(try c.decode(String.self))
                    }
                }
            }
        }
        #expect(try decode(Either.self, #"[1,"x",null,2]"#).values == ["1", "x", "nil", "2"])
    }

    @Test func rawValueEnumsAndKeys() throws {
        let error = #expect(throws: DecodingError.self) { try decode(Box<Color>.self, #"{"value":"blue"}"#) }
        #expect(isDataCorrupted(error))
        #expect(path(error) == ["value"])
        #expect(throws: DecodingError.self) { try decode(Shape.self, #"{"circle":{"radius":1},"empty":{}}"#) }
        #expect(try decode([Int: String].self, #"{"1":"a","-3":"b"}"#) == [1: "a", -3: "b"])
    }

    @Test func jsonValueDecodesToItself() throws {
        let json = #"{"z":[1,{"y":null}],"a":"é","":true,"n":-0.5}"#
        let value = try decode(JSONValue.self, json)
        #expect(value.jsonString == json)
        #expect(try JSONValueDecoder().decode(JSONValue.self, from: value) == value)
        let box = try decode(Box<JSONValue>.self, #"{"value":{"b":1,"a":2}}"#)
        #expect(box.value.jsonString == #"{"b":1,"a":2}"#)
        let object = try decode(Box<JSONObject>.self, #"{"value":{"b":1,"a":2}}"#)
        #expect(object.value.members.map(\.key) == ["b", "a"])
        #expect(try decode([JSONValue].self, "[null,1]") == [nil, 1])
    }

    @Test func missingSuperMemberDecodesFromNull() throws {
        let error = #expect(throws: DecodingError.self) { try decode(Derived.self, #"{"y":2}"#) }
        #expect(isValueNotFound(error))
        #expect(path(error) == ["super"])
    }

    @Test func userInfoReachesImplementations() throws {
        let key = CodingUserInfoKey(rawValue: "scale")!
        struct Scaled: Codable {
            var n: Int
            init(n: Int) { self.n = n }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.singleValueContainer()
                try c.encode(n * (encoder.userInfo[CodingUserInfoKey(rawValue: "scale")!] as? Int ?? 1))
            }
            init(from decoder: any Decoder) throws {
                let scale = decoder.userInfo[CodingUserInfoKey(rawValue: "scale")!] as? Int ?? 1
                n = try decoder.singleValueContainer().decode(Int.self) / scale
            }
        }
        var encoder = JSONValueEncoder()
        encoder.userInfo[key] = 10
        var decoder = JSONValueDecoder()
        decoder.userInfo[key] = 5
        let bytes = try encoder.encodeBytes([Scaled(n: 3)])
        #expect(String(decoding: bytes, as: UTF8.self) == "[30]")
        #expect(try decode([Scaled].self, String(decoding: bytes, as: UTF8.self), with: decoder).first?.n == 6)
    }
}

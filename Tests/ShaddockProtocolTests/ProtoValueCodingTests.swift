// Tests for ProtoValueEncoder and ProtoValueDecoder: each against its
// reference path (ProtoEncoder over JSONValueEncoder, JSONValueDecoder over
// ProtoDecoder), byte for byte and error for error, over typed values with
// every scalar type, hand-written encode(to:) shapes, hand-made bodies, and
// the recorded pomelo-protobuf vectors with every prefix of them.

import Foundation
import Testing

@testable import ShaddockProtocol

// MARK: Schema and types

private let protos = #"""
{
  "message Point": {"required sInt32 x": 1, "required sInt32 y": 2},
  "message Node": {"optional Node next": 1, "optional uInt32 n": 2},
  "test.all": {
    "message Inner": {"optional string label": 1, "repeated uInt32 nums": 2, "optional Point at": 3},
    "required uInt32 id": 1,
    "optional uInt32 u32": 2, "optional sInt32 s32": 3, "optional int32 i32": 4, "optional float f": 5,
    "optional double d": 6, "optional string s": 7, "optional bool b": 8, "optional uInt64 u64": 9,
    "optional sInt64 s64": 10,
    "repeated uInt32 ru32": 11, "repeated sInt32 rs32": 12, "repeated int32 ri32": 13, "repeated float rf": 14,
    "repeated double rd": 15, "repeated string rs": 16, "repeated bool rb": 17, "repeated uInt64 ru64": 18,
    "repeated sInt64 rs64": 19,
    "optional Inner inner": 20, "repeated Inner inners": 21, "repeated Point points": 22, "optional Point origin": 2000
  },
  "test.deep": {"optional Node next": 1},
  "test.names": {"optional uInt32 \u00e9": 1, "required string name": 2},
  "test.required": {"required string name": 1, "required Point at": 2, "repeated uInt32 list": 3}
}
"""#

private let schema = try! ProtoSchema.parse(try! JSON.parse(Array(protos.utf8)), pinusTypes: true)
private let allMessage = schema.message(forRoute: "test.all")!
private let fieldNames = allMessage.fields.map(\.name)

private struct Point: Codable, Equatable {
    var x: Int32
    var y: Int32
}

private struct Inner: Codable, Equatable {
    var label: String?
    var nums: [UInt32]?
    var at: Point?
}

/// Mirrors test.all; `note` is not in the schema.
private struct All: Codable, Equatable {
    var id: UInt32
    var u32: UInt32?
    var s32: Int32?
    var i32: Int?
    var f: Float?
    var d: Double?
    var s: String?
    var b: Bool?
    var u64: UInt64?
    var s64: Int64?
    var ru32: [UInt32]?
    var rs32: [Int32]?
    var ri32: [Int]?
    var rf: [Float]?
    var rd: [Double]?
    var rs: [String]?
    var rb: [Bool]?
    var ru64: [UInt64]?
    var rs64: [Int64]?
    var inner: Inner?
    var inners: [Inner]?
    var points: [Point]?
    var origin: Point?
    var note: String?
}

/// Non-optional arrays: absent ones are missing keys when decoding, and
/// empty ones are encoded (as nothing).
private struct Strict: Codable, Equatable {
    var id: Int
    var ru32: [UInt32]
    var rs: [String]
    var inners: [Inner]
}

/// One member with any key and value, then `id` (required by test.all).
private struct One<T: Encodable>: Encodable {
    let key: String
    let value: T

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: JSONCodingKey.self)
        try c.encode(value, forKey: JSONCodingKey(key))
        try c.encode(1, forKey: JSONCodingKey("id"))
    }
}

private let pickKey = CodingUserInfoKey(rawValue: "pick")!
private let requireKey = CodingUserInfoKey(rawValue: "require")!

/// Reads the member named by userInfo as a `T`: present, decodeIfPresent,
/// and decode when userInfo asks for it.
private struct Pick<T: Decodable & Equatable>: Decodable, Equatable {
    var present: Bool
    var value: T?

    init(from decoder: any Decoder) throws {
        let key = JSONCodingKey(decoder.userInfo[pickKey] as! String)
        let c = try decoder.container(keyedBy: JSONCodingKey.self)
        present = c.contains(key)
        value = try c.decodeIfPresent(T.self, forKey: key)
        if decoder.userInfo[requireKey] as? Bool == true { value = try c.decode(T.self, forKey: key) }
    }
}

// MARK: Comparing with the reference paths

/// What must match: the value, or the error's kind, coding path and text.
private enum Outcome<T: Equatable>: Equatable {
    case value(T)
    case error(String)

    init(_ body: () throws -> T) {
        do { self = .value(try body()) } catch { self = .error(describe(error)) }
    }
}

private func describe(_ error: any Error) -> String {
    func path(_ p: [any CodingKey]) -> String { p.map { "\($0.stringValue)/\($0.intValue.map(String.init) ?? "-")" }.joined(separator: ".") }
    switch error {
    case let e as ProtoError: return "ProtoError \(e)"
    case let e as EncodingError:
        if case .invalidValue(_, let c) = e { return "invalidValue \(path(c.codingPath)) \(c.debugDescription)" }
        return "EncodingError \(e)"
    case let e as DecodingError:
        switch e {
        case .typeMismatch(let t, let c): return "typeMismatch \(t) \(path(c.codingPath)) \(c.debugDescription)"
        case .valueNotFound(let t, let c): return "valueNotFound \(t) \(path(c.codingPath)) \(c.debugDescription)"
        case .keyNotFound(let k, let c): return "keyNotFound \(k.stringValue) \(path(c.codingPath)) \(c.debugDescription)"
        case .dataCorrupted(let c): return "dataCorrupted \(path(c.codingPath)) \(c.debugDescription)"
        @unknown default: return "DecodingError \(e)"
        }
    default: return "\(type(of: error)) \(error)"
    }
}

private func referenceEncode<T: Encodable>(_ value: T, _ message: ProtoMessage) throws -> [UInt8] {
    try ProtoEncoder.encode(JSONValueEncoder().encode(value), as: message)
}

/// The single pass alone, without the reference path behind it: nil where
/// it gives up.
private func singlePass<T: Encodable>(_ value: T, _ message: ProtoMessage) -> [UInt8]? {
    let writer = ProtoFieldWriter(root: message, userInfo: [:])
    do { try value.encode(to: ProtoSlotEncoder(writer: writer, slot: .root)) } catch { return nil }
    return writer.finish() ? writer.out : nil
}

/// ProtoValueEncoder gives the reference bytes or error; appends nothing
/// when it throws. Returns the bytes, if any.
@discardableResult
private func expectSameEncoding<T: Encodable>(
    _ value: T, _ message: ProtoMessage, singlePassExpected: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) -> [UInt8]? {
    let reference = Outcome { try referenceEncode(value, message) }
    let direct = Outcome { try ProtoValueEncoder().encode(value, as: message) }
    #expect(direct == reference, "\(value)", sourceLocation: sourceLocation)
    var out: [UInt8] = [0xAA, 0xBB]
    let appended = Outcome { () throws -> [UInt8] in
        try ProtoValueEncoder().encode(value, as: message, into: &out)
        return Array(out.dropFirst(2))
    }
    #expect(appended == reference, sourceLocation: sourceLocation)
    guard case .value(let bytes) = reference else {
        #expect(out == [0xAA, 0xBB], "nothing appended when it throws", sourceLocation: sourceLocation)
        return nil
    }
    if singlePassExpected { #expect(singlePass(value, message) == bytes, "single pass: \(value)", sourceLocation: sourceLocation) }
    return bytes
}

private func referenceDecode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ message: ProtoMessage,
                                           userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws -> T {
    var decoder = JSONValueDecoder()
    decoder.userInfo = userInfo
    return try decoder.decode(type, from: ProtoDecoder.decode(bytes, as: message))
}

private func directDecode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ message: ProtoMessage,
                                        userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws -> T {
    var decoder = ProtoValueDecoder()
    decoder.userInfo = userInfo
    // An exact-size buffer, so a read past the end would be past the allocation.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { buffer.deallocate() }
    buffer.copyBytes(from: bytes)
    return try decoder.decode(type, from: UnsafeRawBufferPointer(buffer), as: message)
}

private func expectSameDecoding<T: Decodable & Equatable>(
    _ type: T.Type, _ bytes: [UInt8], _ message: ProtoMessage, userInfo: [CodingUserInfoKey: any Sendable] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let reference = Outcome { try referenceDecode(type, bytes, message, userInfo: userInfo) }
    let direct = Outcome { try directDecode(type, bytes, message, userInfo: userInfo) }
    #expect(direct == reference, "\(T.self) from \(toHex(bytes))", sourceLocation: sourceLocation)
}

/// Every field of test.all read as `T`, optionally and required.
private func expectSamePicks<T: Decodable & Equatable>(_ type: T.Type, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    for name in fieldNames + ["note", "missing", "e\u{301}"] {
        for required in [false, true] {
            expectSameDecoding(Pick<T>.self, bytes, allMessage, userInfo: [pickKey: name, requireKey: required], sourceLocation: sourceLocation)
        }
    }
}

/// Each body read as every kind of value a handler might ask for.
private func expectSameDecodings(_ bytes: [UInt8], picks: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
    expectSameDecoding(All.self, bytes, allMessage, sourceLocation: sourceLocation)
    expectSameDecoding(Strict.self, bytes, allMessage, sourceLocation: sourceLocation)
    expectSameDecoding(JSONValue.self, bytes, allMessage, sourceLocation: sourceLocation)
    expectSameDecoding(JSONObject.self, bytes, allMessage, sourceLocation: sourceLocation)
    expectSameDecoding([String: JSONValue].self, bytes, allMessage, sourceLocation: sourceLocation)
    expectSameDecoding(Int.self, bytes, allMessage, sourceLocation: sourceLocation)
    expectSameDecoding([Int].self, bytes, allMessage, sourceLocation: sourceLocation)
    guard picks else { return }
    expectSamePicks(Int.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Int8.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(UInt8.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Int16.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(UInt16.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Int32.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(UInt32.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Int64.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(UInt64.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(UInt.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Double.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Float.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(String.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Bool.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks([Int].self, bytes, sourceLocation: sourceLocation)
    expectSamePicks([Float].self, bytes, sourceLocation: sourceLocation)
    expectSamePicks([String].self, bytes, sourceLocation: sourceLocation)
    expectSamePicks([Point].self, bytes, sourceLocation: sourceLocation)
    expectSamePicks([Inner].self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Point.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(Inner.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(JSONValue.self, bytes, sourceLocation: sourceLocation)
    expectSamePicks(JSONObject.self, bytes, sourceLocation: sourceLocation)
}

// MARK: Values


private let int64s: [Int64] = [
    0, 1, -1, 63, 64, -64, -65, 127, 128, 300, 16384, 2_147_483_647, -2_147_483_648, 2_147_483_648, -2_147_483_649,
    4_294_967_295, 4_294_967_296, 9_007_199_254_740_991, -9_007_199_254_740_991, 9_007_199_254_740_992,
    -9_007_199_254_740_992, 9_007_199_254_740_993, .max, .min,
]
private let uint64s: [UInt64] = [0, 1, 127, 128, 4_294_967_295, 4_294_967_296, 9_007_199_254_740_991, 9_007_199_254_740_992, 9_007_199_254_740_993, .max]
private let doubles: [Double] = [
    0, -0.0, 0.1, 1.5, -2.5, 3, -3, 1e-300, .leastNonzeroMagnitude, 1e300, -1e300, 3.4028234663852886e38, 3.5e38, -3.5e38, 2_147_483_647,
    -2_147_483_648, 4_294_967_295, 4_294_967_296, 9_007_199_254_740_991, 9_007_199_254_740_992, 16_777_217,
    .greatestFiniteMagnitude, .nan, .infinity, -.infinity,
]
private let floats: [Float] = [0, -0.0, 0.1, 1.5, -3.14159, 16_777_216, .greatestFiniteMagnitude, .leastNonzeroMagnitude, -1e10, .nan, .infinity]
private let strings: [String] = [
    "", "a", "hello", "h\u{e9}llo w\u{f6}rld", "e\u{301}", "\u{4e2d}\u{6587}", "\u{1F600}\u{1F3AE} ok", "\u{1D11E}", "\u{0}\t\"\\",
    String(repeating: "x", count: 127), String(repeating: "y", count: 128), String(repeating: "z", count: 20_000),
]

private func randomAll(_ g: inout SeededRandom) -> All {
    /// Mostly values every field takes; now and then any value.
    func pick<T>(_ safe: [T], _ any: [T]) -> T {
        Int.random(in: 0..<8, using: &g) == 0 ? any.randomElement(using: &g)! : safe.randomElement(using: &g)!
    }
    func maybe() -> Bool { Bool.random(using: &g) }
    func count() -> Int { Int.random(in: 0..<40, using: &g) == 0 ? 130 : Int.random(in: 0...3, using: &g) }
    let int32s = int64s.filter { Int32(exactly: $0) != nil }
    let safeDoubles = doubles.filter(\.isFinite), safeFloats = floats.filter(\.isFinite)
    let exact = uint64s.filter { $0 < 1 << 53 }, signed = int64s.filter { $0.magnitude < 1 << 53 }
    func point() -> Point { Point(x: Int32(pick(int32s, int32s)), y: Int32.random(in: .min ... .max, using: &g)) }
    func inner() -> Inner {
        Inner(label: maybe() ? pick(strings, strings) : nil,
              nums: maybe() ? (0..<count()).map { _ in UInt32.random(in: 0 ... .max, using: &g) } : nil,
              at: maybe() ? point() : nil)
    }
    var a = All(id: UInt32.random(in: 0 ... .max, using: &g))
    if maybe() { a.u32 = UInt32(truncatingIfNeeded: pick(int64s, int64s)) }
    if maybe() { a.s32 = Int32(pick(int32s, int32s)) }
    if maybe() { a.i32 = Int(pick(int32s, int64s)) }
    if maybe() { a.f = pick(safeFloats, floats) }
    if maybe() { a.d = pick(safeDoubles, doubles) }
    if maybe() { a.s = pick(strings, strings) }
    if maybe() { a.b = maybe() }
    if maybe() { a.u64 = pick(exact, uint64s) }
    if maybe() { a.s64 = pick(signed, int64s) }
    if maybe() { a.ru32 = (0..<count()).map { _ in UInt32.random(in: 0 ... .max, using: &g) } }
    if maybe() { a.rs32 = (0..<count()).map { _ in Int32.random(in: .min ... .max, using: &g) } }
    if maybe() { a.ri32 = (0..<count()).map { _ in Int(pick(int32s, int64s)) } }
    if maybe() { a.rf = (0..<count()).map { _ in pick(safeFloats, floats) } }
    if maybe() { a.rd = (0..<count()).map { _ in pick(safeDoubles, doubles) } }
    if maybe() { a.rs = (0..<count()).map { _ in pick(strings, strings) } }
    if maybe() { a.rb = (0..<count()).map { _ in maybe() } }
    if maybe() { a.ru64 = (0..<count()).map { _ in pick(exact, uint64s) } }
    if maybe() { a.rs64 = (0..<count()).map { _ in pick(signed, int64s) } }
    if maybe() { a.inner = inner() }
    if maybe() { a.inners = (0..<count()).map { _ in inner() } }
    if maybe() { a.points = (0..<count()).map { _ in point() } }
    if maybe() { a.origin = point() }
    if maybe() { a.note = pick(strings, strings) }
    return a
}

// MARK: Bytes by hand

private func varint(_ v: UInt64) -> [UInt8] {
    var out: [UInt8] = []
    ProtoWire.appendVarint(v, to: &out)
    return out
}

private func key(_ tag: Int, _ wire: UInt8) -> [UInt8] { varint(UInt64(tag) << 3 | UInt64(wire)) }
private func string(_ tag: Int, _ bytes: [UInt8]) -> [UInt8] { key(tag, 2) + varint(UInt64(bytes.count)) + bytes }
private func string(_ tag: Int, _ s: String) -> [UInt8] { string(tag, Array(s.utf8)) }
private func zz(_ v: Int64) -> [UInt8] { varint(ProtoWire.zigzag(v)) }
private let id1 = key(1, 0) + varint(1)

@Suite struct ProtoValueCodingTests {
    // MARK: Encoding

    @Test func typedValuesEncodeAsTheReferencePathDoes() throws {
        var g = SeededRandom(seed: 0x5EED)
        var singlePasses = 0
        for _ in 0..<400 {
            let value = randomAll(&g)
            // A synthesized encode(to:) never needs the reference path
            // for a value the schema takes.
            if let bytes = expectSameEncoding(value, allMessage, singlePassExpected: true) {
                singlePasses += 1
                expectSameDecodings(bytes, picks: false)
            }
        }
        #expect(singlePasses > 100)
        let empty = All(id: 7, ru32: [], rs32: [], rf: [], rs: [], inners: [], points: [])
        #expect(expectSameEncoding(empty, allMessage, singlePassExpected: true) == [0x08, 0x07])
        expectSameEncoding(Strict(id: 1, ru32: [], rs: [], inners: []), allMessage, singlePassExpected: true)
        expectSameEncoding(Strict(id: 1, ru32: [1, 2], rs: ["a", "b"], inners: [Inner(), Inner(label: "x")]), allMessage,
                           singlePassExpected: true)
    }

    /// Every Swift number, string and bool type into every field: the same
    /// range checks, refusals and bytes as through JSON.
    @Test func everyScalarIntoEveryFieldAsTheReferencePathDoes() {
        for name in fieldNames + ["note", "e\u{301}"] {
            for v in int64s {
                expectSameEncoding(One(key: name, value: v), allMessage)
                expectSameEncoding(One(key: name, value: Int(v)), allMessage)
                if let v = Int32(exactly: v) { expectSameEncoding(One(key: name, value: v), allMessage) }
                if let v = Int8(exactly: v) { expectSameEncoding(One(key: name, value: v), allMessage) }
                if let v = UInt16(exactly: v) { expectSameEncoding(One(key: name, value: v), allMessage) }
                expectSameEncoding(One(key: name, value: [v, 0]), allMessage)
            }
            for v in uint64s {
                expectSameEncoding(One(key: name, value: v), allMessage)
                expectSameEncoding(One(key: name, value: UInt(v)), allMessage)
                if let v = UInt32(exactly: v) { expectSameEncoding(One(key: name, value: v), allMessage) }
                if let v = UInt8(exactly: v) { expectSameEncoding(One(key: name, value: v), allMessage) }
            }
            for v in doubles {
                expectSameEncoding(One(key: name, value: v), allMessage)
                expectSameEncoding(One(key: name, value: [v]), allMessage)
            }
            for v in floats {
                expectSameEncoding(One(key: name, value: v), allMessage)
                expectSameEncoding(One(key: name, value: [v]), allMessage)
            }
            for v in strings.prefix(9) {
                expectSameEncoding(One(key: name, value: v), allMessage)
                expectSameEncoding(One(key: name, value: [v, v]), allMessage)
            }
            for v in [true, false] {
                expectSameEncoding(One(key: name, value: v), allMessage)
                expectSameEncoding(One(key: name, value: [v, !v]), allMessage)
            }
            expectSameEncoding(One(key: name, value: Point(x: -1, y: 1)), allMessage)
            expectSameEncoding(One(key: name, value: [Point(x: -1, y: 1), Point(x: 2, y: 3)]), allMessage)
            expectSameEncoding(One(key: name, value: Inner(label: "l", nums: [1], at: Point(x: 0, y: 0))), allMessage)
            expectSameEncoding(One(key: name, value: [Inner()]), allMessage)
            expectSameEncoding(One(key: name, value: [[1]]), allMessage)
            expectSameEncoding(One(key: name, value: [Int?.none]), allMessage)
            expectSameEncoding(One(key: name, value: Int?.none), allMessage)
            expectSameEncoding(One(key: name, value: [Int]()), allMessage)
            expectSameEncoding(One(key: name, value: JSONValue.null), allMessage)
            expectSameEncoding(One(key: name, value: JSONValue.number(.nan)), allMessage)
            expectSameEncoding(One(key: name, value: ["k": 1] as JSONValue), allMessage)
            expectSameEncoding(One(key: name, value: Empty()), allMessage)
        }
    }

    /// The shapes a hand-written encode(to:) takes: those used one after the
    /// other go in a single pass; the rest give the reference bytes anyway.
    @Test func handWrittenEncodersGiveTheReferenceBytes() {
        // Nested containers, each finished before the next key.
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "id")
            var origin = c.nestedContainer(keyedBy: AnyKey.self, forKey: "origin")
            try origin.encode(3, forKey: "x")
            try origin.encode(-4, forKey: "y")
            var list = c.nestedUnkeyedContainer(forKey: "ru32")
            try list.encode(1)
            try list.encode(UInt8(2))
            var inners = c.nestedUnkeyedContainer(forKey: "inners")
            var first = inners.nestedContainer(keyedBy: AnyKey.self)
            try first.encode("a", forKey: "label")
            try inners.encode(Inner(label: "b"))
            try c.encode("s", forKey: "s")
        }, allMessage, singlePassExpected: true)
        // A nested container written to after its parent moved on.
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            var origin = c.nestedContainer(keyedBy: AnyKey.self, forKey: "origin")
            try origin.encode(3, forKey: "x")
            try c.encode(1, forKey: "id")
            try origin.encode(4, forKey: "y")
        }, allMessage)
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            var list = c.nestedUnkeyedContainer(forKey: "rs")
            try list.encode("a")
            try c.encode(1, forKey: "id")
            try list.encode("b")
            #expect(list.count == 2 || list.count == 0)
        }, allMessage)
        // A key encoded twice: the first place, the last value.
        for (first, second) in [(JSONValue.number(1), JSONValue.number(2)), (.null, .number(2)), (.number(1), .null), (.null, .null)] {
            expectSameEncoding(Script { e in
                var c = e.container(keyedBy: AnyKey.self)
                try c.encode(first, forKey: "u32")
                try c.encode(1, forKey: "id")
                try c.encode(second, forKey: "u32")
            }, allMessage)
        }
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encodeNil(forKey: "u32")
            try c.encode(1, forKey: "id")
            try c.encode(5, forKey: "u32")
        }, allMessage)
        // nil is absent; a required one missing is refused.
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encodeNil(forKey: "u32")
            try c.encodeNil(forKey: "ru32")
            try c.encode(1, forKey: "id")
        }, allMessage, singlePassExpected: true)
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encodeNil(forKey: "id")
        }, allMessage)
        // Super encoders, filled after the fact.
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "id")
            try Point(x: 1, y: 2).encode(to: c.superEncoder(forKey: "origin"))
            try c.encode(2, forKey: "u32")
        }, allMessage)
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "id")
            try 5.encode(to: c.superEncoder())
        }, allMessage)
        // A subclass encodes into its superclass's container.
        expectSameEncoding(Derived(id: 9, s: "sub", origin: Point(x: 1, y: 1)), allMessage, singlePassExpected: true)
        expectSameEncoding(One(key: "inner", value: DerivedInner(label: "x", nums: [1, 2])), allMessage, singlePassExpected: true)
        // Wrappers through a single value container, at the root and below.
        expectSameEncoding(Wrapped(All(id: 3, s: "w")), allMessage, singlePassExpected: true)
        expectSameEncoding(One(key: "origin", value: Wrapped(Point(x: 5, y: 6))), allMessage, singlePassExpected: true)
        expectSameEncoding(One(key: "u32", value: Wrapped(7)), allMessage, singlePassExpected: true)
        expectSameEncoding(One(key: "rs", value: Wrapped(["a"])), allMessage, singlePassExpected: true)
        expectSameEncoding(One(key: "rs", value: [Wrapped("a"), Wrapped("b")]), allMessage, singlePassExpected: true)
        expectSameEncoding(One(key: "s", value: Kind.warrior), allMessage, singlePassExpected: true)
        expectSameEncoding(Wrapped(Empty()), allMessage)
        expectSameEncoding(Wrapped(Empty()), schema.message(forRoute: "test.deep")!, singlePassExpected: true)
        // Values that encode nothing, or are not objects, at the root.
        expectSameEncoding(Empty(), allMessage)
        expectSameEncoding(Empty(), schema.message(forRoute: "test.deep")!, singlePassExpected: true)
        expectSameEncoding(Script { _ in }, allMessage)
        expectSameEncoding(5, allMessage)
        expectSameEncoding([1], allMessage)
        expectSameEncoding(Int?.none, allMessage)
        // Dictionaries are objects too.
        expectSameEncoding(["id": 1, "u32": 2, "zz": 3], allMessage, singlePassExpected: true)
        expectSameEncoding(["id": 1, "u32": -2], allMessage)
        // An error of the value's own goes through unchanged.
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "id")
            throw Refusal()
        }, allMessage)
        // A value under a key the schema does not name is left out, and
        // refused only where JSON would refuse it.
        expectSameEncoding(One(key: "note", value: [Double.nan]), allMessage)
        expectSameEncoding(One(key: "note", value: ["x": Int64.max]), allMessage)
        expectSameEncoding(One(key: "note", value: [Point(x: 1, y: 1)]), allMessage, singlePassExpected: true)
        expectSameEncoding(Script { e in
            var c = e.container(keyedBy: AnyKey.self)
            try c.encode(1, forKey: "id")
            var n = c.nestedContainer(keyedBy: AnyKey.self, forKey: "note")
            try n.encode(Double.infinity, forKey: "x")
        }, allMessage)
    }

    /// What encode(to:) implementations see of where they are.
    @Test func codingPathsAreJSONValueEncoders() throws {
        func paths(_ encode: (Probe) throws -> Void) rethrows -> [String] {
            let probe = Probe()
            try encode(probe)
            return probe.seen
        }
        let shapes: [(Probe) -> any Encodable] = [
            { $0 },
            { One(key: "inner", value: $0) },
            { One(key: "inners", value: [$0, $0]) },
            { One(key: "note", value: [$0]) },
            { probe in Script { e in
                var c = e.container(keyedBy: AnyKey.self)
                try c.encode(1, forKey: "id")
                var inners = c.nestedUnkeyedContainer(forKey: "inners")
                probe.seen.append(inners.codingPath.map(\.stringValue).joined(separator: "."))
                try inners.encode(probe)
                let nested = inners.nestedContainer(keyedBy: AnyKey.self)
                probe.seen.append(nested.codingPath.map(\.stringValue).joined(separator: "."))
                try inners.encode(probe)
            } },
        ]
        for shape in shapes {
            let reference = try paths { _ = try JSONValueEncoder().encode(shape($0)) }
            // The paths seen by the single pass (which gives up only on the
            // bare Inner, without test.all's required id).
            let accepted = (try? referenceEncode(shape(Probe()), allMessage)) != nil
            let direct = paths { #expect((singlePass(shape($0), allMessage) != nil) == accepted) }
            #expect(direct == reference)
            #expect(reference.count >= 3)
        }
    }

    @Test func requiredFieldsNestingAndNamesAsTheReferencePathDoes() {
        let required = schema.message(forRoute: "test.required")!
        expectSameEncoding(["name": "n"] as JSONValue, required)
        expectSameEncoding(["name": "n", "at": ["x": 1]] as JSONValue, required)
        expectSameEncoding(["name": "n", "at": ["x": 1, "y": 2], "list": []] as JSONValue, required, singlePassExpected: true)
        expectSameEncoding(["at": ["x": 1, "y": 2], "name": .null] as JSONValue, required)
        // Too deep: a message nested 64 times is refused both ways.
        let deep = schema.message(forRoute: "test.deep")!
        for depth in [1, 62, 63, 64, 65, 100] {
            expectSameEncoding(Chain(depth), deep, singlePassExpected: true)
            if let bytes = try? referenceEncode(Chain(depth - 1), deep) {
                expectSameDecoding(JSONValue.self, bytes, deep)
                expectSameDecoding(Chain.self, bytes, deep)
            }
        }
        var tooDeep: [UInt8] = []
        for _ in 0..<70 { tooDeep = key(1, 2) + varint(UInt64(tooDeep.count)) + tooDeep }
        #expect(throws: ProtoError.tooDeep) { try directDecode(JSONValue.self, tooDeep, deep) }
        // A name equal only canonically to the schema's is not the same key.
        let names = schema.message(forRoute: "test.names")!
        for name in ["\u{e9}", "e\u{301}"] {
            expectSameEncoding(JSONObject([("name", "n"), (name, 5)]), names)
            expectSameEncoding(One(key: name, value: 5), names)
        }
        let bytes = key(1, 0) + varint(5) + string(2, "n")
        for name in ["\u{e9}", "e\u{301}"] {
            expectSameDecoding(Pick<Int>.self, bytes, names, userInfo: [pickKey: name, requireKey: true])
        }
    }

    /// Lengths and counts of 128 and more take more than the byte kept.
    @Test func longMessagesAndCountsMoveWhatFollows() {
        for n in [0, 1, 100, 127, 128, 129, 300, 16_383, 16_384, 20_000] {
            let label = String(repeating: "n", count: n)
            let value = All(id: 1, ru32: Array(repeating: 1, count: n), inner: Inner(label: label, nums: Array(0..<UInt32(n)), at: Point(x: 1, y: 2)),
                            inners: [Inner(label: label), Inner(nums: [1])], origin: Point(x: 3, y: 4))
            if let bytes = expectSameEncoding(value, allMessage, singlePassExpected: true) {
                expectSameDecodings(bytes, picks: false)
            }
        }
    }

    // MARK: Decoding

    /// Bodies the encoder would not write but clients may send.
    @Test func handMadeBodiesDecodeAsTheReferencePathDoes() {
        let bodies: [[UInt8]] = [
            [],
            id1,
            id1 + key(1, 0) + varint(7),  // the last one wins
            key(1, 2) + varint(5),  // wire type 2 on a varint key, as the browser library writes
            id1 + key(11, 0) + varint(2) + varint(1) + varint(300) + key(2, 0) + varint(9) + key(11, 0) + varint(1) + varint(4),
            id1 + key(11, 0) + varint(0),  // a repeated field present, with nothing in it
            string(16, "a") + id1 + string(16, "b") + string(16, ""),
            id1 + string(7, [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]),  // CESU-8 for U+1F600
            id1 + string(7, "x") + string(7, "y"),
            id1 + key(8, 0) + varint(2) + key(17, 0) + varint(3) + varint(0) + varint(1) + varint(300),
            id1 + key(9, 0) + varint(.max) + key(10, 0) + varint(.max) + key(18, 0) + varint(2) + varint(1 << 53 + 1) + varint(3),
            id1 + key(2, 0) + varint(4_294_967_295) + key(3, 0) + zz(-2_147_483_648) + key(4, 0) + zz(2_147_483_647),
            id1 + key(5, 5) + [0, 0, 0x80, 0x7F - 1] + key(6, 1) + [0, 0, 0, 0, 0, 0, 0xF0, 0x7F - 1],
            id1 + key(5, 5) + [0xFF, 0xFF, 0x7F, 0x7F] + key(6, 1) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0x7F],
            id1 + key(14, 5) + varint(2) + [0, 0, 0xC0, 0x3F, 0, 0, 0, 0x80] + key(15, 1) + varint(1) + [0, 0, 0, 0, 0, 0, 0xF8, 0x3F],
            id1 + string(20, string(1, "first") + key(2, 0) + varint(1) + varint(1)) + string(20, string(3, key(1, 0) + zz(1) + key(2, 0) + zz(-1))),
            id1 + string(21, []) + string(22, key(1, 0) + zz(5) + key(2, 0) + zz(6)) + string(21, string(1, "x")),
            id1 + key(2000, 2) + varint(4) + key(2, 0) + zz(1) + key(1, 0) + zz(2),
            id1 + key(12, 0) + varint(1) + zz(-5) + key(13, 0) + varint(2) + zz(-1) + zz(1) + key(19, 0) + varint(1) + zz(-(1 << 53)),
            key(16, 2) + varint(1) + [0x41] + key(1, 0) + varint(1 << 32 - 1),
        ]
        for body in bodies { expectSameDecodings(body, picks: true) }
        // Refused ones: each ProtoError as ProtoDecoder gives it.
        let refused: [[UInt8]] = [
            [0x80], id1 + [0x10], id1 + key(30, 0) + varint(1), key(0, 0) + varint(1), id1 + key(7, 0) + varint(1),
            id1 + key(6, 5) + [0, 0, 0, 0], key(2, 0) + varint(1), id1 + key(2, 0) + varint(1 << 32),
            id1 + key(3, 0) + zz(1 << 31), id1 + string(7, [0xC3, 0x28]), id1 + string(20, string(3, key(1, 0) + zz(1))),
            id1 + string(20, string(3, key(1, 0) + zz(1) + key(2, 0) + zz(1 << 40))), id1 + string(20, string(1, [0xFF])),
            id1 + key(11, 0) + varint(5) + varint(1), id1 + key(11, 0) + varint(.max), id1 + key(7, 2) + varint(100) + [1],
            id1 + key(5, 5) + [0, 0, 0xC0, 0x7F], id1 + key(6, 1) + [0, 0, 0, 0, 0, 0, 0xF0, 0xFF],
            id1 + key(21, 2) + varint(3) + key(1, 2) + varint(5) + [0x61], id1 + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ]
        for body in refused {
            let reference = Outcome { try ProtoDecoder.decode(body, as: allMessage) }
            guard case .error = reference else {
                Issue.record("accepted: \(toHex(body))")
                continue
            }
            expectSameDecodings(body, picks: false)
        }
    }

    /// The containers' own behaviour: coding paths in errors, at-end,
    /// retrying after a mismatch, super decoders, nested containers.
    @Test func containersBehaveAsJSONValueDecodersDo() {
        let body = id1 + string(21, string(1, "a")) + string(21, string(1, "b") + key(2, 0) + varint(1) + varint(7))
            + key(11, 0) + varint(2) + varint(1) + varint(2)
        expectSameDecoding(Script2.self, body, allMessage)
        expectSameDecoding(Pick<[[String: Int]]>.self, body, allMessage, userInfo: [pickKey: "inners", requireKey: true])
        expectSameDecoding(Pick<[[String: String]]>.self, body, allMessage, userInfo: [pickKey: "inners", requireKey: true])
        expectSameDecoding(Pick<[Int8?]>.self, body, allMessage, userInfo: [pickKey: "ru32", requireKey: true])
        expectSameDecoding(Pick<Set<UInt32>>.self, body, allMessage, userInfo: [pickKey: "ru32", requireKey: true])
        expectSameDecoding(Pick<[Int?]>.self, body, allMessage, userInfo: [pickKey: "ru32", requireKey: true])
    }

    // MARK: The recorded vectors

    static let file: JSONValue = {
        let url = Vectors.url.deletingLastPathComponent().appendingPathComponent("pomelo-protobuf.json")
        return try! JSON.parse(Array(try! Data(contentsOf: url)))
    }()

    static func message(_ v: JSONValue) throws -> ProtoMessage? {
        let protos: JSONValue?
        if let name = v["schema"]?.stringValue {
            protos = file["schemas"]?[name]?[v["direction"]?.stringValue == "client" ? "clientProtos" : "serverProtos"]
        } else {
            protos = v["protos"]
        }
        guard let protos, let schema = try? ProtoSchema.parse(protos) else { return nil }
        return schema.message(forRoute: v["route"]?.stringValue ?? "")
    }

    /// Each recorded message: its value encodes to the recorded bytes in a
    /// single pass, and every form of its bytes, and every prefix of them,
    /// decodes (or is refused) as ProtoDecoder decodes it.
    @Test func everyRecordedMessageEncodesAndDecodesAsRecorded() throws {
        let messages = Self.file["messages"]?.arrayValue ?? []
        #expect(messages.count == 81)
        for m in messages {
            let name = m["name"]!.stringValue!
            let message = try #require(try Self.message(m), "\(name)")
            let recorded = fromHex(m["hex"]!.stringValue!)
            #expect(try ProtoValueEncoder().encode(m["value"]!, as: message) == recorded, "\(name)")
            #expect(singlePass(m["value"]!, message) == recorded, "\(name)")
            var forms = [recorded]
            if let form = m["hex_tag_order"]?.stringValue { forms.append(fromHex(form)) }
            if let form = m["client_lib"]?["hex"]?.stringValue { forms.append(fromHex(form)) }
            for bytes in forms {
                expectSameDecoding(JSONValue.self, bytes, message)
                expectSameDecoding(JSONObject.self, bytes, message)
                for cut in 0..<bytes.count { expectSameDecoding(JSONValue.self, Array(bytes[..<cut]), message) }
            }
            if case .object(let object) = m["decoded"] ?? m["value"]!, let direct = try? directDecode(JSONValue.self, recorded, message) {
                #expect(canonical(direct) == canonical(.object(object)), "\(name)")
            }
        }
    }

    @Test func everyRecordedInvalidBodyIsRefusedAsProtoDecoderRefusesIt() throws {
        let invalid = Self.file["invalid"]?.arrayValue ?? []
        #expect(invalid.count == 28)
        for v in invalid {
            let message = try #require(try Self.message(v))
            let bytes = fromHex(v["hex"]!.stringValue!)
            let reference = Result { () throws(ProtoError) -> JSONValue in try ProtoDecoder.decode(bytes, as: message) }
            do {
                let value = try directDecode(JSONValue.self, bytes, message)
                #expect(try reference.get() == value, "\(v["name"]!)")
            } catch let error as ProtoError {
                #expect(throws: error, "\(v["name"]!)") { try reference.get() }
            }
            expectSameDecoding(JSONObject.self, bytes, message)
            for cut in 0..<bytes.count { expectSameDecoding(JSONValue.self, Array(bytes[..<cut]), message) }
        }
    }

    /// Values Pomelo mishandles: refused (or written) as ProtoEncoder does.
    @Test func everyRecordedEncoderQuirkAsTheReferencePathDoes() throws {
        var compared = 0
        for v in Self.file["encoder_quirks"]?.arrayValue ?? [] {
            guard let message = try Self.message(v), let value = v["value"] else { continue }
            expectSameEncoding(value, message)
            compared += 1
        }
        #expect(compared > 20)
    }
}

// MARK: More types

private struct Empty: Codable, Equatable {}

/// Notes the coding paths it is encoded at (an Inner, as test.all sees it).
private final class Probe: Encodable {
    var seen: [String] = []

    func encode(to encoder: any Encoder) throws {
        seen.append(encoder.codingPath.map(\.stringValue).joined(separator: "."))
        var c = encoder.container(keyedBy: AnyKey.self)
        seen.append(c.codingPath.map(\.stringValue).joined(separator: "."))
        try c.encode("l", forKey: "label")
        var nums = c.nestedUnkeyedContainer(forKey: "nums")
        seen.append(nums.codingPath.map(\.stringValue).joined(separator: "."))
        try nums.encode(1)
        try c.encode(Wrapped(PathOf(probe: self)), forKey: "at")
    }
}

/// A Point that notes its single value container's path.
private struct PathOf: Encodable {
    let probe: Probe
    func encode(to encoder: any Encoder) throws {
        let single = encoder.singleValueContainer()
        probe.seen.append(single.codingPath.map(\.stringValue).joined(separator: "."))
        try Point(x: 1, y: 2).encode(to: encoder)
    }
}

private struct Refusal: Error {}

/// encode(to:) as a closure.
private struct Script: Encodable, CustomStringConvertible {
    let body: (any Encoder) throws -> Void
    init(_ body: @escaping (any Encoder) throws -> Void) { self.body = body }
    func encode(to encoder: any Encoder) throws { try body(encoder) }
    var description: String { "Script" }
}

/// A decoder that walks containers by hand.
private struct Script2: Decodable, Equatable {
    var labels: [String]
    var nums: [Int]
    var retried: [String]

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        var inners = try c.nestedUnkeyedContainer(forKey: "inners")
        labels = []
        retried = []
        nums = []
        while !inners.isAtEnd {
            #expect(try !inners.decodeNil())
            let inner = try inners.nestedContainer(keyedBy: AnyKey.self)
            labels.append(try inner.decode(String.self, forKey: "label"))
            if let list = try? inner.nestedUnkeyedContainer(forKey: "nums") {
                var list = list
                while !list.isAtEnd { nums.append(try list.decode(Int.self)) }
                #expect(throws: DecodingError.self) { try list.decode(Int.self) }
            }
        }
        #expect(throws: DecodingError.self) { try inners.decodeNil() }
        var again = try c.nestedUnkeyedContainer(forKey: "ru32")
        // A failed decode does not move on: the same element is read again.
        if (try? again.decode(String.self)) == nil { retried.append(String(try again.decode(Int.self))) }
        let superDecoder = try c.superDecoder(forKey: "ru32")
        retried.append("\(try [Int](from: superDecoder))")
        let missing = try c.superDecoder(forKey: "nope")
        retried.append("\(try missing.singleValueContainer().decodeNil())")
        retried.append("\((try? c.superDecoder()).map { _ in "super" } ?? "none")")
        do {
            _ = try c.nestedContainer(keyedBy: AnyKey.self, forKey: "ru32")
        } catch {
            retried.append(describe(error))
        }
    }
}

private class Base: Encodable {
    let id: UInt32
    init(id: UInt32) { self.id = id }
}

private final class Derived: Base {
    let s: String
    let origin: Point
    init(id: UInt32, s: String, origin: Point) {
        self.s = s
        self.origin = origin
        super.init(id: id)
    }
    enum Keys: String, CodingKey { case s, origin }
    override func encode(to encoder: any Encoder) throws {
        try super.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(s, forKey: .s)
        try c.encode(origin, forKey: .origin)
    }
}

private class BaseInner: Encodable {
    let label: String
    init(label: String) { self.label = label }
}

private final class DerivedInner: BaseInner {
    let nums: [UInt32]
    init(label: String, nums: [UInt32]) {
        self.nums = nums
        super.init(label: label)
    }
    enum Keys: String, CodingKey { case nums }
    override func encode(to encoder: any Encoder) throws {
        try super.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(nums, forKey: .nums)
    }
}

private struct Wrapped<T: Encodable>: Encodable {
    let value: T
    init(_ value: T) { self.value = value }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

private enum Kind: String, Codable { case warrior }

/// test.deep's Node, `depth` messages down.
private struct Chain: Codable, Equatable {
    var depth: Int

    init(_ depth: Int) { self.depth = depth }

    enum Keys: String, CodingKey { case next }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        if depth > 0 { try c.encode(Chain(depth - 1), forKey: .next) }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        depth = try c.decodeIfPresent(Chain.self, forKey: .next).map { $0.depth + 1 } ?? 0
    }
}

/// Any key, written as a string literal.
private struct AnyKey: CodingKey, ExpressibleByStringLiteral {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    init(stringLiteral value: String) { stringValue = value }
}

/// Member order aside: ProtoDecoder's objects follow the wire.
private func canonical(_ v: JSONValue) -> JSONValue {
    switch v {
    case .object(let o): return .object(JSONObject(o.members.sorted { $0.key < $1.key }.map { ($0.key, canonical($0.value)) }))
    case .array(let a): return .array(a.map(canonical))
    default: return v
    }
}

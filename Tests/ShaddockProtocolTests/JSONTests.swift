// Tests for the JSON codec: strict parsing, the allocation-free validator
// agreeing with the parser, and output identical to JavaScript's
// JSON.stringify (expected strings below were produced with Node.js 20).

import Testing

@testable import ShaddockProtocol

// MARK: Helpers

private func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

private func parseResult(_ bytes: [UInt8]) -> Result<JSONValue, JSONError> {
    Result { () throws(JSONError) in try JSON.parse(bytes) }
}

private func isValid(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { JSON.isValid($0) }
}

private func parseError(_ bytes: [UInt8]) -> JSONError? {
    if case .failure(let e) = parseResult(bytes) { return e }
    return nil
}

private func parsed(_ text: String) throws -> JSONValue {
    try JSON.parse(text)
}

/// The validator and the parser must give the same verdict.
private func expectAgreement(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    let parses: Bool
    if case .success = parseResult(bytes) { parses = true } else { parses = false }
    #expect(
        isValid(bytes) == parses,
        "isValid disagrees with parse on \(bytes.count > 200 ? "\(bytes.count) bytes" : String(decoding: bytes, as: UTF8.self))",
        sourceLocation: sourceLocation)
}


// MARK: Corpora

private let validDocuments: [String] = [
    "null", "true", "false", "0", "-0", "1", "-1", "0.5", "-0.5", "1e5", "1E5", "1e+5", "1e-5",
    "-1.5e-300", "123456789", "1.0", "0.0e0", "-0.0E-0", "10", "1234567890123456789012345678901234567890",
    #""""#, #""a""#, "[]", "{}", " [ ] ", " \t\n\r{\"a\" : [1, 2, {\"b\": null}] } \r\n",
    "[1,[2,[3]]]", #"{"a":{}}"#, #""\u00e9""#, #""\ud83d\ude00""#, #""\uD83D\uDE00""#, "\"é\"", "\"😀\"",
    #"["\"\\\/\b\f\n\r\t"]"#, "[-0]", #"{"":0}"#, "\"\u{7F}\"", #""\u0000""#, #""\ud800""#,
    #""\udc00""#, #""\ud800\u0041""#, #"{"a":1,"a":2}"#, "[null,true,false,\"x\",{},[],0]",
    #"{"code":200,"sys":{"heartbeat":3,"dict":{"chat.chatHandler.send":1},"protos":{}},"user":{}}"#,
    "\"\u{2028}\u{2029}\"", "\"/\"", "[1e400]", "[1e-400]", "\"\u{10FFFF}\"", "\"\u{FFFF}\"",
    String(repeating: "[", count: 128) + String(repeating: "]", count: 128),
    String(repeating: "{\"k\":", count: 128) + "1" + String(repeating: "}", count: 128),
    "\"" + String(repeating: "abcdefgh", count: 50) + "\"",
]

private let invalidDocuments: [String] = [
    "", " ", "\n\t\r ", "nul", "nulll", "tru", "trux", "True", "FALSE", "NULL", "undefined",
    "NaN", "Infinity", "-Infinity", "+1", ".5", "01", "-01", "00", "0.", "1.", "1.e5", "1e", "1e+", "1e-",
    "-", "--1", "-a", "0x10", "1 2", "1,2", "[1,]", "[,1]", "[,]", "[1 2]", "[1;2]", #"{"a":1,}"#, "{,}",
    #"{"a"}"#, #"{"a":}"#, #"{"a" 1}"#, "{a:1}", "{'a':1}", "'a'", #"{"a":1 "b":2}"#, "{1:2}",
    "\"abc", #""\x""#, #""\u12""#, #""\u12G4""#, #""\U0041""#, #""\'""#, #""\a""#, "\"\\", "\"\\u",
    "\"\t\"", "\"\n\"", "\"\r\"", "\"\u{0}\"", "\"\u{1F}\"", "[1]]", "]", "}", "[", "{", "{\"a\":1}}",
    "/* c */ 1", "1 // c", "# c\n1", "[1,2", #"{"a":1"#, #"{"a""#, "\u{FEFF}1", "\u{A0}1", "\u{0B}1",
    "\u{0C}1", "1\u{0C}", "[\"a\"\"b\"]", "[] []", "{}{}", "\"a\" x", "1 true", "tRue", "nulL",
    "-.5", "1.5e", "1e5.5", "1ee5", "1e+-5", "Inf", "∞", "\u{1}",
    String(repeating: "[", count: 129) + String(repeating: "]", count: 129),
    String(repeating: "{\"k\":", count: 129) + "1" + String(repeating: "}", count: 129),
    String(repeating: "[", count: 100_000),
    String(repeating: "{\"a\":", count: 100_000),
    String(repeating: "[{\"a\":", count: 50_000),
]

/// UTF-8 inside a string: (bytes between the quotes, valid?)
private let utf8Cases: [([UInt8], Bool)] = [
    ([0xC2, 0x80], true),  // U+0080
    ([0xDF, 0xBF], true),  // U+07FF
    ([0xE0, 0xA0, 0x80], true),  // U+0800
    ([0xED, 0x9F, 0xBF], true),  // U+D7FF
    ([0xEE, 0x80, 0x80], true),  // U+E000
    ([0xEF, 0xBF, 0xBF], true),  // U+FFFF
    ([0xF0, 0x90, 0x80, 0x80], true),  // U+10000
    ([0xF4, 0x8F, 0xBF, 0xBF], true),  // U+10FFFF
    ([0xE4, 0xBD, 0xA0, 0xE5, 0xA5, 0xBD], true),  // 你好
    ([0x80], false),  // lone continuation
    ([0xBF], false),
    ([0xC0, 0x80], false),  // overlong NUL
    ([0xC1, 0xBF], false),  // overlong
    ([0xE0, 0x80, 0x80], false),  // overlong
    ([0xE0, 0x9F, 0xBF], false),  // overlong U+07FF
    ([0xED, 0xA0, 0x80], false),  // encoded surrogate U+D800
    ([0xED, 0xBF, 0xBF], false),  // encoded surrogate U+DFFF
    ([0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80], false),  // CESU-8 pair
    ([0xF0, 0x80, 0x80, 0x80], false),  // overlong
    ([0xF0, 0x8F, 0xBF, 0xBF], false),  // overlong U+FFFF
    ([0xF4, 0x90, 0x80, 0x80], false),  // U+110000
    ([0xF5, 0x80, 0x80, 0x80], false),
    ([0xF8, 0x88, 0x80, 0x80, 0x80], false),
    ([0xFE], false), ([0xFF], false),
    ([0xC2], false),  // truncated by the closing quote
    ([0xE2, 0x82], false),
    ([0xF0, 0x9F, 0x98], false),
    ([0xC2, 0x41], false),
    ([0xE2, 0x28, 0xA1], false),
    ([0xF0, 0x9F, 0x98, 0x41], false),
    ([0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xC3], false),  // truncated at a SWAR boundary
]

@Suite("JSON parsing")
struct JSONParseTests {
    @Test func validDocumentsParse() throws {
        for doc in validDocuments {
            #expect(throws: Never.self, "\(doc.prefix(80))") { try JSON.parse(doc) }
            #expect(isValid(utf8(doc)), "\(doc.prefix(80))")
        }
    }

    @Test func invalidDocumentsFail() {
        for doc in invalidDocuments {
            #expect(parseError(utf8(doc)) != nil, "\(doc.prefix(80))")
            #expect(!isValid(utf8(doc)), "\(doc.prefix(80))")
        }
    }

    @Test func scalars() throws {
        #expect(try parsed("null") == .null)
        #expect(try parsed(" true ") == .bool(true))
        #expect(try parsed("false") == .bool(false))
        #expect(try parsed("42") == .number(42))
        #expect(try parsed("\"hi\"") == .string("hi"))
        #expect(try parsed("[]") == .array([]))
        #expect(try parsed("{}") == .object(JSONObject()))
        #expect(try parsed(#"[1,"a",null,[true],{"k":false}]"#) == [1, "a", nil, [true], ["k": false]])
    }

    @Test func specificErrors() {
        #expect(parseError(utf8("")) == .unexpectedEnd)
        #expect(parseError(utf8("   ")) == .unexpectedEnd)
        #expect(parseError(utf8("[1")) == .unexpectedEnd)
        #expect(parseError(utf8("[1,")) == .unexpectedEnd)
        #expect(parseError(utf8(#"{"a""#)) == .unexpectedEnd)
        #expect(parseError(utf8("\"abc")) == .unexpectedEnd)
        #expect(parseError(utf8("tru")) == .unexpectedEnd)
        #expect(parseError(utf8("-")) == .unexpectedEnd)
        #expect(parseError(utf8("1.")) == .unexpectedEnd)
        #expect(parseError(utf8("1e+")) == .unexpectedEnd)
        #expect(parseError(utf8("trux")) == .unexpectedByte(offset: 3))
        #expect(parseError(utf8("[1,]")) == .unexpectedByte(offset: 3))
        #expect(parseError(utf8("[1 2]")) == .unexpectedByte(offset: 3))
        #expect(parseError(utf8("{a:1}")) == .unexpectedByte(offset: 1))
        #expect(parseError(utf8(#"{"a" 1}"#)) == .unexpectedByte(offset: 5))
        #expect(parseError(utf8("'a'")) == .unexpectedByte(offset: 0))
        #expect(parseError(utf8("+1")) == .unexpectedByte(offset: 0))
        #expect(parseError(utf8("01")) == .invalidNumber(offset: 1))
        #expect(parseError(utf8("-01")) == .invalidNumber(offset: 2))
        #expect(parseError(utf8("1.e5")) == .invalidNumber(offset: 2))
        #expect(parseError(utf8("1ex")) == .invalidNumber(offset: 2))
        #expect(parseError(utf8("-a")) == .invalidNumber(offset: 1))
        #expect(parseError(utf8(#""\x""#)) == .invalidString(offset: 2))
        #expect(parseError(utf8(#""\u12G4""#)) == .invalidString(offset: 5))
        #expect(parseError(utf8("\"a\tb\"")) == .invalidString(offset: 2))
        #expect(parseError([0x22, 0xED, 0xA0, 0x80, 0x22]) == .invalidUTF8(offset: 2))
        #expect(parseError([0x22, 0x61, 0xFF, 0x22]) == .invalidUTF8(offset: 2))
        #expect(parseError([0x22, 0xC2, 0x22]) == .invalidUTF8(offset: 2))
        #expect(parseError([0xC3, 0xA9]) == .unexpectedByte(offset: 0))
        #expect(parseError(utf8("1 2")) == .trailingBytes(offset: 2))
        #expect(parseError(utf8("{} x")) == .trailingBytes(offset: 3))
        #expect(parseError(utf8("[1]]")) == .trailingBytes(offset: 3))
    }

    @Test func inputForms() throws {
        let text = #" {"a": [1, "x"]} "#
        let fromString = try JSON.parse(text)
        let fromArray = try JSON.parse(Array(text.utf8))
        let fromRaw = try Array(text.utf8).withUnsafeBytes { raw in try JSON.parse(raw) }
        #expect(fromString == fromArray)
        #expect(fromString == fromRaw)
        // A slice of a larger buffer: the parser must not read past it.
        let big = Array("[1,2,3]garbage".utf8)
        let slice = try big.withUnsafeBytes { raw in try JSON.parse(UnsafeRawBufferPointer(rebasing: raw[0..<7])) }
        #expect(slice == [1, 2, 3])
        #expect(big.withUnsafeBytes { JSON.isValid(UnsafeRawBufferPointer(rebasing: $0[0..<7])) })
        #expect(big.withUnsafeBytes { !JSON.isValid(UnsafeRawBufferPointer(rebasing: $0[0..<6])) })
        #expect(!JSON.isValid(UnsafeRawBufferPointer(start: nil, count: 0)))
        #expect(throws: JSONError.unexpectedEnd) { try JSON.parse(UnsafeRawBufferPointer(start: nil, count: 0)) }
        // A bridged or non-contiguous String still parses.
        let sub = "xx[true]xx".dropFirst(2).dropLast(2)
        #expect(try JSON.parse(String(sub)) == [true])
    }
}

@Suite("Depth limit")
struct JSONDepthTests {
    @Test func maxDepthIsAccepted() throws {
        let arrays = String(repeating: "[", count: JSON.maxDepth) + String(repeating: "]", count: JSON.maxDepth)
        var v = try JSON.parse(arrays)
        var depth = 0
        while case .array(let a) = v {
            depth += 1
            guard let first = a.first else { break }
            v = first
        }
        #expect(depth == JSON.maxDepth)
        let objects = String(repeating: #"{"k":"#, count: JSON.maxDepth) + "0" + String(repeating: "}", count: JSON.maxDepth)
        #expect(throws: Never.self) { try JSON.parse(objects) }
        #expect(isValid(utf8(objects)))
    }

    @Test func oneDeeperIsRejected() {
        let n = JSON.maxDepth + 1
        let arrays = String(repeating: "[", count: n) + String(repeating: "]", count: n)
        #expect(parseError(utf8(arrays)) == .tooDeep)
        #expect(!isValid(utf8(arrays)))
        let mixed = String(repeating: #"[{"k":"#, count: 65) + "0" + String(repeating: "}]", count: 65)
        #expect(parseError(utf8(mixed)) == .tooDeep)
        #expect(!isValid(utf8(mixed)))
        let mixedOK = String(repeating: #"[{"k":"#, count: 64) + "0" + String(repeating: "}]", count: 64)
        #expect(parseError(utf8(mixedOK)) == nil)
    }

    @Test func hugeNestingDoesNotCrash() {
        for opener in ["[", "{\"a\":", "[{\"\":"] {
            let doc = utf8(String(repeating: opener, count: 100_000))
            #expect(parseError(doc) == .tooDeep)
            #expect(!isValid(doc))
        }
    }
}

@Suite("Strings")
struct JSONStringTests {
    @Test func escapes() throws {
        #expect(try parsed(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try parsed(#""\u0041\u00e9\u4F60\uFFFF""#) == .string("Aé你\u{FFFF}"))
        #expect(try parsed(#""\u0000""#) == .string("\u{0}"))
        #expect(try parsed(#""a\nb""#) == .string("a\nb"))
    }

    @Test func surrogates() throws {
        #expect(try parsed(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parsed(#""\uDBFF\uDFFF""#) == .string("\u{10FFFF}"))
        #expect(try parsed(#""\ud800""#) == .string("\u{FFFD}"))
        #expect(try parsed(#""\udc00""#) == .string("\u{FFFD}"))
        #expect(try parsed(#""x\ud800y""#) == .string("x\u{FFFD}y"))
        #expect(try parsed(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try parsed(#""\ud800\n""#) == .string("\u{FFFD}\n"))
        #expect(try parsed(#""\ud800\ud83d\ude00""#) == .string("\u{FFFD}😀"))
        #expect(try parsed(#""\udc00\ud800""#) == .string("\u{FFFD}\u{FFFD}"))
        #expect(try parsed(#""\ud800\ud800""#) == .string("\u{FFFD}\u{FFFD}"))
        #expect(try parsed(#""\ud83d""#) == .string("\u{FFFD}"))
    }

    @Test func rawUTF8() throws {
        for (inner, valid) in utf8Cases {
            let doc = [0x22] + inner + [0x22]
            let result = parseResult(doc)
            if valid {
                #expect(try result.get() == .string(String(decoding: inner, as: UTF8.self)), "\(inner)")
            } else {
                guard case .failure(let e) = result, case .invalidUTF8 = e else {
                    Issue.record("expected invalidUTF8 for \(inner), got \(result)")
                    continue
                }
            }
            #expect(isValid(doc) == valid, "\(inner)")
            // Also as an object key, and unterminated (the input ends inside the sequence).
            expectAgreement([0x7B, 0x22] + inner + [0x22, 0x3A, 0x30, 0x7D])
            #expect(!isValid([0x22] + inner))
            #expect(parseError([0x22] + inner) != nil)
        }
    }

    /// Every special byte at every offset around the 8-byte fast path.
    @Test func specialBytesAtEveryOffset() throws {
        let specials: [(insert: [UInt8], decoded: String?)] = [
            (utf8(#"\""#), "\""), (utf8(#"\\"#), "\\"), (utf8(#"\n"#), "\n"), (utf8(#"\u00e9"#), "é"),
            ([0xC3, 0xA9], "é"), ([0xF0, 0x9F, 0x98, 0x80], "😀"), ([0x7F], "\u{7F}"), ([0x20], " "),
            ([0x1F], nil), ([0x00], nil), ([0x0A], nil), ([0x80], nil), ([0xC3], nil), (utf8(#"\q"#), nil),
        ]
        for length in 0..<20 {
            for at in 0...length {
                for (insert, decoded) in specials {
                    var inner = Array(repeating: UInt8(ascii: "a"), count: length)
                    inner.insert(contentsOf: insert, at: at)
                    let doc = [0x22] + inner + [0x22]
                    if let decoded {
                        let expected = String(repeating: "a", count: at) + decoded + String(repeating: "a", count: length - at)
                        #expect(parseResult(doc) == .success(.string(expected)))
                        #expect(isValid(doc))
                    } else {
                        #expect(parseError(doc) != nil)
                        #expect(!isValid(doc))
                    }
                }
            }
        }
    }

    @Test func keysCompareByBytes() throws {
        // Precomposed and decomposed é are different JavaScript property names.
        let v = try parsed("{\"\u{E9}\":1,\"e\u{301}\":2,\"\u{E9}\":3}")
        #expect(v.objectValue?.count == 2)
        #expect(v["\u{E9}"] == 3)
        #expect(v["e\u{301}"] == 2)
        #expect(v.jsonString == "{\"\u{E9}\":3,\"e\u{301}\":2}")
        #expect(JSONValue.string("\u{E9}") != .string("e\u{301}"))
    }
}

@Suite("Numbers")
struct JSONNumberTests {
    /// (text, IEEE bits JSON.parse gives in Node.js)
    static let parseTable: [(String, UInt64)] = [
        ("0", 0x0000000000000000),
        ("-0", 0x8000000000000000),
        ("0.1", 0x3fb999999999999a),
        ("1e308", 0x7fe1ccf385ebc8a0),
        ("-1e308", 0xffe1ccf385ebc8a0),
        ("123456789012345678", 0x437b69b4ba630f35),
        ("9007199254740993", 0x4340000000000000),
        ("9007199254740995", 0x4340000000000002),
        ("1.7976931348623157e308", 0x7fefffffffffffff),
        ("1.7976931348623158e308", 0x7fefffffffffffff),
        ("1.7976931348623159e308", 0x7ff0000000000000),
        ("2.2250738585072011e-308", 0x000fffffffffffff),
        ("2.2250738585072014e-308", 0x0010000000000000),
        ("4.9e-324", 0x0000000000000001),
        ("2.4703282292062328e-324", 0x0000000000000001),
        ("2.4703282292062327e-324", 0x0000000000000000),
        ("1e-400", 0x0000000000000000),
        ("-1e-400", 0x8000000000000000),
        ("1e400", 0x7ff0000000000000),
        ("-1e400", 0xfff0000000000000),
        ("1.00000000000000011102230246251565404236316680908203125", 0x3ff0000000000000),
        ("1.00000000000000011102230246251565404236316680908203126", 0x3ff0000000000001),
        ("0.30000000000000004", 0x3fd3333333333334),
        ("3.141592653589793238462643383279", 0x400921fb54442d18),
        ("1e23", 0x44b52d02c7e14af6),
        ("8.41e21", 0x447c7e83209e90b2),
        ("5e-324", 0x0000000000000001),
        ("1e22", 0x4480f0cf064dd592),
        ("1e-22", 0x3b5e392010175ee6),
        ("9999999999999999999", 0x43e158e460913d00),
        ("99999999999999999999", 0x4415af1d78b58c40),
        ("12345678901234567890123", 0x4484ea15b273b38a),
        ("0.000000000000000000000000000001", 0x39b4484bfeebc2a0),
        ("123.456e-2", 0x3ff3c0c1fc8f3238),
        ("-0.0", 0x8000000000000000),
        ("0E0", 0x0000000000000000),
        ("0e+00000", 0x0000000000000000),
        ("1e0000000000000000000000000001", 0x4024000000000000),
        ("1E-7", 0x3e7ad7f29abcaf48),
        ("4.35", 0x4011666666666666),
        ("72057594037927945", 0x4370000000000001),
        ("7.2057594037927945e16", 0x4370000000000001),
        ("0.1e1", 0x3ff0000000000000),
        ("100e-2", 0x3ff0000000000000),
        ("1234567890.0987654321", 0x41d26580b486522c),
        ("-12.5E+3", 0xc0c86a0000000000),
        ("2.5e-324", 0x0000000000000001),
        ("0.00000000000000000000000000000000000000000000000000000000000000001", 0x3270d9976a5d5297),
        ("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792", 0x7ff0000000000000),
        ("4.4501477170144023e-308", 0x001fffffffffffff),
        ("6.631236846766476e-316", 0x0000000008000000),
        ("3.234202839e-318", 0x000000000009fd12),
    ]

    @Test func parseMatchesJavaScript() throws {
        for (text, bits) in Self.parseTable {
            let v = try JSON.parse(text)
            guard case .number(let d) = v else {
                Issue.record("\(text) did not parse to a number")
                continue
            }
            #expect(d.bitPattern == bits, "\(text) -> \(d)")
            #expect(isValid(utf8(text)))
            // Same through the other input forms and inside containers.
            #expect(try JSON.parse("[\(text)]") == [v])
        }
    }

    @Test func longMantissas() throws {
        let long = "0." + String(repeating: "1", count: 800)
        #expect(try JSON.parse(long).doubleValue == 0.1111111111111111)
        let longInt = "1" + String(repeating: "0", count: 400)
        #expect(try JSON.parse(longInt).doubleValue == .infinity)
        let zeros = "0." + String(repeating: "0", count: 400) + "1e400"
        #expect(try JSON.parse(zeros).doubleValue == 0.1)
        // Exponents far beyond Int range saturate to infinity or zero, as in JavaScript.
        #expect(try JSON.parse("1e99999999999999999999").doubleValue == .infinity)
        #expect(try JSON.parse("-1e99999999999999999999").doubleValue == -.infinity)
        #expect(try JSON.parse("1e-99999999999999999999").doubleValue == 0)
        #expect(try JSON.parse("0e99999999999999999999").doubleValue == 0)
        #expect(try JSON.parse("1e99999999999999999999").jsonString == "null")
    }

    /// (IEEE bits, JSON.stringify in Node.js)
    static let writeTable: [(UInt64, String)] = [
        (0x0000000000000000, "0"), // 0
        (0x8000000000000000, "0"), // -0
        (0x3ff0000000000000, "1"), // 1
        (0xbff0000000000000, "-1"), // -1
        (0x4069000000000000, "200"), // 200
        (0xc014000000000000, "-5"), // -5
        (0x3fb999999999999a, "0.1"), // 0.1
        (0x3fc999999999999a, "0.2"), // 0.2
        (0x3fd3333333333334, "0.30000000000000004"), // 0.1+0.2
        (0x3ff8000000000000, "1.5"), // 1.5
        (0xbff8000000000000, "-1.5"), // -1.5
        (0x444b1ae4d6e2ef50, "1e+21"), // 1e21
        (0x4415af1d78b58c40, "100000000000000000000"), // 1e20
        (0x3e7ad7f29abcaf48, "1e-7"), // 1e-7
        (0x3e80823f71155233, "1.23e-7"), // 1.23e-7
        (0x3eb0c6f7a0b5ed8d, "0.000001"), // 0.000001
        (0x3eb4b6231abfd271, "0.0000012345"), // 0.0000012345
        (0x3eb0c6f7a0b5ed8d, "0.000001"), // 1e-6
        (0x7e41eb2d66005835, "1.5e+300"), // 1.5e300
        (0xfe41eb2d66005835, "-1.5e+300"), // -1.5e300
        (0x7fefffffffffffff, "1.7976931348623157e+308"), // 1.7976931348623157e308
        (0x0000000000000001, "5e-324"), // 5e-324
        (0x0010000000000000, "2.2250738585072014e-308"), // 2.2250738585072014e-308
        (0x437b69b4ba630f35, "123456789012345680"), // 123456789012345678
        (0x441ac53a7e04bcda, "123456789012345680000"), // 1.2345678901234568e20
        (0x433fffffffffffff, "9007199254740991"), // 9007199254740991
        (0x4340000000000000, "9007199254740992"), // 9007199254740992
        (0x4340000000000000, "9007199254740992"), // 9007199254740993
        (0xc340000000000000, "-9007199254740992"), // -9007199254740992
        (0x4350000000000000, "18014398509481984"), // 18014398509481984
        (0x430c6bf526340000, "1000000000000000"), // 1e15
        (0x4341c37937e08000, "10000000000000000"), // 1e16
        (0x4376345785d8a000, "100000000000000000"), // 1e17
        (0x441aabdf2145b430, "123000000000000000000"), // 123e18
        (0x444b1ae4d6e2ef4f, "999999999999999900000"), // 999999999999999900000
        (0x4480f0cf064dd592, "1e+22"), // 1e22
        (0x4454542ba12a337c, "1.5e+21"), // 1.5e21
        (0x4059000000000000, "100"), // 100
        (0x3fe0000000000000, "0.5"), // 0.5
        (0x400921f9f01b866e, "3.14159"), // 3.14159
        (0x3fe5555555555555, "0.6666666666666666"), // 2/3
        (0xbfe5555555555555, "-0.6666666666666666"), // -2/3
        (0x3fd5555555555555, "0.3333333333333333"), // 1/3
        (0x3ee4f8b588e368f1, "0.00001"), // 1e-5
        (0x3eb27476ca61b882, "0.0000011"), // 1.1e-6
        (0x4011666666666666, "4.35"), // 4.35
        (0x3fd3333333333333, "0.3"), // 0.3
        (0x7e37e43c8800759c, "1e+300"), // 1e300
        (0x7fe1ccf385ebc8a0, "1e+308"), // 1e308
        (0x40c81cd6e631f8a1, "12345.6789"), // 12345.6789
        (0x3ff0000000000005, "1.000000000000001"), // 1.000000000000001
        (0x432fffffffffffff, "4503599627370495.5"), // 4503599627370495.5
        (0x4330000000000000, "4503599627370496"), // 4503599627370496.5
        (0x3eb4b3fd5942cd96, "0.000001234"), // 0.000001234
        (0x0000000000000002, "1e-323"), // 1e-323
        (0x400921fb54442d18, "3.141592653589793"), // Math.PI
        (0x4005bf0a8b145769, "2.718281828459045"), // Math.E
        (0x0000000000000001, "5e-324"), // Number.MIN_VALUE
        (0x3cb0000000000000, "2.220446049250313e-16"), // Number.EPSILON
        (0x40f0000800000000, "65536.5"), // 65536.5
        (0xbf1a36e2eb1c432d, "-0.0001"), // -0.0001
        (0x4450bb448ec2f608, "1.2345678901234568e+21"), // 1234567890123456789012
        (0x3ebc8571c4687a3d, "0.0000017"), // 1.7e-6
        (0x43f0000000000000, "18446744073709552000"), // 2**64
        (0x43e0000000000000, "9223372036854776000"), // 2**63
        (0x4340000000000001, "9007199254740994"), // 2**53+2
        (0x419d6f34547df3b6, "123456789.123"), // 123456789.123
        (0x3fd3333333333334, "0.30000000000000004"), // 0.1*3
        (0x444b1ae4d6e2ef4f, "999999999999999900000"), // 1e21-1e5
        (0x444b1ae4d6e2ef58, "1.000000000000001e+21"), // 1e21+1e6
        (0x444b1ae4d6e2ef50, "1e+21"), // 999999999999999999999
        (0x447c7e83209e90b2, "8.41e+21"), // 8.41e21
        (0x3e90c6f7a0b5ed8d, "2.5e-7"), // 25e-8
        (0x1c0d57f10c894254, "1.4830122828920016e-173"),
        (0x43f04a6ece53d613, "18781959765316678000"),
        (0xe2b8410510668fa6, "-3.575532127436644e+167"),
        (0xd5f2e30a9e501b7d, "-1.0829258728928171e+106"),
        (0x535c8ea8a4e05948, "3.7230187291668613e+93"),
        (0x8f7b1bac9609eaf7, "-4.262874002980358e-234"),
        (0xcb3af636587957ba, "-2.5824242072052563e+54"),
        (0x6438f14dfe833301, "6.169062368256605e+174"),
        (0xd0af9825c659f77c, "-4.682717518917287e+80"),
        (0x302bd02b522a861b, "1.2009957333271821e-76"),
        (0xfd70522e931f790e, "-1.6677967842578716e+296"),
        (0xfba9a1630e23bac5, "-4.878446657335358e+287"),
        (0x29616ccb5e0010f0, "2.318589285015657e-109"),
        (0xd37bf421a1818b7f, "-1.4577297053362402e+94"),
        (0x7a5b1baa844c07a2, "2.4603368763737895e+281"),
        (0x552e421879d836c9, "2.1178316544328792e+102"),
        (0xa92e8eaf3493d9a4, "-2.5412503051231247e-110"),
        (0x5fe48bdeead11f23, "8.60880578948587e+153"),
        (0x618d3e487ffb5776, "8.222691106237041e+161"),
        (0x5cd158ba16a76b0d, "1.29107691235244e+139"),
        (0x07727df42b81c598, "8.54570675525937e-273"),
        (0x16e635e91fb5a507, "2.3213088696070116e-198"),
        (0x38c4ac26c846fc8a, "3.1104470921459883e-35"),
        (0x8ade8c37577c5b91, "-2.5430944865444634e-256"),
        (0xa7e5b8ad611588cc, "-1.722738704669676e-116"),
        (0x83785723e5c9c12b, "-6.097780315332402e-292"),
        (0xdab33022a4b9cade, "-8.312822724526027e+128"),
        (0x41b96ab112ea4c55, "426422546.91522723"),
        (0x4b0e14fa2fee1740, "3.601597095685222e+53"),
        (0x7402f3fb0a0a578f, "6.784931974924426e+250"),
        (0xf33082c146e3d672, "-7.215120195549942e+246"),
        (0x087799f31d30c159, "7.14794175889519e-268"),
        (0x0c996e223db1a4f4, "5.6829459783155954e-248"),
        (0xe7860860627a8c33, "-4.908348627938077e+190"),
        (0xc360b934d02e7346, "-37657888876108340"),
        (0x48a12d9e7a7f7e9d, "7.482161107104073e+41"),
        (0x7c5b2a840d01a5e8, "1.0589678202639377e+291"),
        (0x36aed0278207c317, "2.698647105952319e-45"),
        (0x2f32df6d0cf0355a, "2.487004346447123e-81"),
        (0x11aadb8d2d7a8821, "1.4511783911351778e-223"),
        (0xd75f5767c6aece1c, "-7.537323673202209e+112"),
        (0x4a8fc827e2ada03b, "1.4863756283822065e+51"),
        (0x2a0254f4b8c0f0ae, "2.497802242622384e-106"),
        (0x0e3ac880e5fe21e5, "4.0166704951275935e-240"),
        (0xcc8f347b2e2d1190, "-6.2680636295350096e+60"),
        (0x52db68d069da079f, "1.3958498820165765e+91"),
        (0xda3685c1600db942, "-3.811487003186698e+126"),
        (0x02e560ba1422cfe9, "1.0460153613400835e-294"),
        (0x849d7a22f547a444, "-1.9358371998957856e-286"),
        (0xba2202bd6b111d43, "-1.1366351447045025e-28"),
        (0xeb7d555532ece316, "-6.027238632455651e+209"),
        (0xc22299e52381562d, "-39945671104.66831"),
        (0x37774f28e314fa38, "1.6723543490008127e-41"),
        (0x8f5f6fac8cd14527, "-1.2358728798842298e-234"),
        (0x597820df5d32022a, "9.968892688048793e+122"),
        (0x0342921fe2b6b8b1, "5.815469976147267e-293"),
        (0x7b3c5add822ac76c, "4.21642788634725e+285"),
        (0x350acc1833b7234b, "3.4972035583573107e-53"),
        (0x532b85a8b7c1ea7e, "4.485081553067219e+92"),
        (0xce2f82f15b283b75, "-4.2477411636603242e+68"),
        (0x28a233c74a11ffe0, "5.913123370859785e-113"),
        (0x201f621657e19baf, "5.85165628779005e-154"),
        (0xe9b5194fe726b012, "-1.615014514429681e+201"),
        (0xdbdab32a9d076279, "-3.0322654230317206e+134"),
        (0x8b3557b077fad794, "-1.137128930106147e-254"),
        (0xb29fb30ce895d253, "-7.525098736431211e-65"),
        (0x828b4a613b63a6e6, "-2.0864429132840474e-296"),
        (0x92fe80074395f1bd, "-3.456086128287877e-217"),
        (0x192113900ab0c288, "1.2264488850957287e-187"),
        (0xb510e5a822232b37, "-4.410348039710868e-53"),
        (0xf8b096f3e50962fa, "-2.243641892571957e+273"),
        (0x1ffcc8c8b5a9ed41, "1.3417700686150025e-154"),
        (0xdc622fa995ce74bc, "-1.0574736719306435e+137"),
        (0x49242e7d7a074a5b, "2.250323833115041e+44"),
        (0x66a5e5675389b84e, "2.9772428268251304e+186"),
        (0xb17b50af66719905, "-2.4735747140749734e-70"),
        (0xe69fb192e031e230, "-2.1547136336756245e+186"),
        (0xd1c55e28055213bf, "-8.302111359536645e+85"),
        (0x9dfade60d0cbbae2, "-2.9161406126280175e-164"),
        (0x2d37dde19a777909, "7.322748579844029e-91"),
        (0x464aa1d581b03ee4, "4.2200348511762445e+30"),
        (0x174205b17d49ab63, "1.205484407881185e-196"),
        (0x6c93d002adffbeb6, "1.0671785741280018e+215"),
        (0x9ab990bf74e6514d, "-6.161061688309075e-180"),
        (0xaeed00ddf409fed8, "-1.1943728281977692e-82"),
        (0x1bbe6c05464e7547, "4.8047374242587294e-175"),
        (0x830f964395b357ca, "-6.1821878301584555e-294"),
        (0xd632c298510d25d1, "-1.7210538992596628e+107"),
        (0xfaae2e18cb1ed60c, "-8.765286751978548e+282"),
        (0xb07853391cff156b, "-3.3612092694095636e-75"),
        (0xf76acc8dd7255a1e, "-1.7282453501858931e+267"),
        (0xf6a68cedac233a95, "-3.550442059653537e+263"),
        (0x3bd21fc20861b880, "1.5351671260934577e-20"),
        (0xe9a9a4e94d9c6fcf, "-9.814677307716685e+200"),
        (0xd60bc6a3bed9d9b2, "-3.1852035453680368e+106"),
        (0x06b44fac234c1399, "2.2916062981826227e-276"),
        (0xb15f4941bd8cda34, "-7.08293547144917e-71"),
        (0x2ad607fc99ada873, "2.459119303854843e-102"),
        (0xc9b76b6f506e2a86, "-1.3370266429795474e+47"),
        (0xc3854d4349db74dd, "-191869629062093730"),
        (0x9ec2c43c7295af28, "-1.668540293426966e-160"),
        (0xbfb9021e2fe42357, "-0.09768856686799886"),
        (0xb4b19120f5ace09a, "-7.164339432887305e-55"),
        (0x2589eb895bd96261, "7.478731342200341e-128"),
        (0xc6ffc4fd02e0eb5c, "-1.0309787532055772e+34"),
        (0xafcb225a5a3f847b, "-1.8307456918140365e-78"),
        (0x2c814011f6e1cfee, "2.5843264139168927e-94"),
        (0xdf74c82010c62025, "-6.802675017834855e+151"),
        (0xf7a510d0e5b682d0, "-2.1736108420844882e+268"),
        (0x86bc32ccc671afdf, "-3.1814787562058048e-276"),
        (0x0792b684d06e0c82, "3.4591270419841216e-272"),
        (0x06ef8adc129e3229, "2.8470100082973434e-275"),
        (0x4e38c39715f5a984, "6.676367699717682e+68"),
        (0xb30123758c82c983, "-5.207676978823573e-63"),
        (0xca72ebd6b99bea56, "-4.4245489330240785e+50"),
        (0xa144f0c0dd1e5c6d, "-2.0470950522490042e-148"),
        (0x8764545d0d08d378, "-4.697443842152819e-273"),
        (0x3d9d3a5457b53567, "6.645643558403267e-12"),
        (0x5510fb42f0b2fd6a, "5.942844271559742e+101"),
        (0x199caab70947a2f1, "2.635376904535398e-185"),
        (0x4fb04eb48519b4ac, "7.376065551107437e+75"),
        (0x23c8ab1755a9978b, "2.6514999974650485e-136"),
        (0xdb6a7639a04c19be, "-2.347836080250098e+132"),
        (0x8c8b5c7b492349b5, "-3.0572406003579336e-248"),
        (0x60976aaff6854120, "2.0093904165162808e+157"),
        (0x74c9853dcfc2d3ef, "3.7420974840751684e+254"),
        (0xe91161c171e55352, "-1.2993117369227807e+198"),
        (0x24a5cea097c6d4b9, "3.84034802310418e-132"),
        (0xce708f6b048facd4, "-7.143405263352603e+69"),
        (0xc0a888c492ca0e93, "-3140.3839324133673"),
        (0x0b6822a421b5fe26, "1.0287424724246968e-253"),
        (0x7f4c8a20619807fd, "1.5657154836662275e+305"),
        (0xfd354eef4d586bc8, "-1.3608973384657762e+295"),
        (0xbe58e98c88d2ab77, "-2.3201387967682277e-8"),
        (0x4e09fe83a7c2ae3a, "8.760026857718937e+67"),
        (0x151ae117a8d0e781, "5.232634706379135e-207"),
        (0x897db565510e31fc, "-5.896654087824719e-263"),
        (0x7c02feea295e4e9b, "2.3139956397004113e+289"),
        (0x8f1f15a6ca31378e, "-7.637801366206933e-236"),
        (0x9ddc6f386a43b745, "-7.715201745085773e-165"),
        (0x97bdf4146462f370, "-2.5645398987830546e-194"),
        (0x9606d96ea3c0dbff, "-1.457560773821507e-202"),
        (0x1d5edf912cdcae22, "3.2722433848672404e-167"),
        (0x88f17162c65efb49, "-1.352392826721842e-265"),
        (0x3f64d1fbe23fe424, "0.0025415343861792273"),
        (0x75c16b41e7c477a3, "1.673897514767398e+259"),
        (0x9b88a494322965f6, "-4.86501426833936e-176"),
        (0x1720cf09b271778d, "2.810787753015638e-197"),
        (0x9c9fa30b10b97818, "-8.18646148603992e-171"),
        (0xf308698ef08d8587, "-1.3335086505781476e+246"),
        (0x4722f628a3aecc3f, "4.9227018e+34"),
        (0x41bad51cf8000000, "450174200"),
        (0x4232ee9be7300000, "81312606000"),
        (0x46a4c6e269fe0c7f, "2.1070272e+32"),
        (0x437acd2600c77500, "120702600000000000"),
        (0x3e7a6f8bc80656fc, "9.848075600000001e-8"),
        (0x42372eb82d700000, "99568070000"),
        (0x4018947679d9e0b1, "6.1449831999999995"),
        (0x3fb0ebd7540f4bce, "0.06609865000000001"),
        (0x3bf5e89395ea1390, "7.4228892e-20"),
        (0x47178252d636ae7c, "3.0516526e+34"),
        (0x3c6eeb8947c328dc, "1.3409440000000001e-17"),
        (0x3d2ef0cd36425db9, "5.496160200000001e-14"),
        (0x429d8687ebca0000, "8115910800000"),
        (0x3c27e321582e10fa, "6.474646e-19"),
        (0x3ca9af6582d27292, "1.7822648000000003e-16"),
        (0x43d0abba60ac9d84, "4805034600000000000"),
        (0x41ae99e670000000, "256701240"),
        (0x4647ee98795c5902, "3.792179e+30"),
        (0x4021bd3798f3816c, "8.8695648"),
        (0x463ed5803a3a6fa7, "2.4429202e+30"),
        (0x45f3f899690ff5a7, "9.8892052e+28"),
        (0x3df204330927359b, "2.6217318e-10"),
        (0x3f4f2c33425542b0, "0.000951314"),
        (0x3c51dcd6360c3034, "3.8733434e-18"),
        (0x43398c800bd55800, "7191356000000000"),
        (0x465e5964acd1bccb, "9.618042999999999e+30"),
        (0x3e6b0f0d913c2bbf, "5.0400944000000004e-8"),
        (0x472ccceb12b027cb, "7.4770274e+34"),
        (0x429f7c5e885a0000, "8654755600000"),
        (0x3e09f6ccc5530e32, "7.556536599999999e-10"),
        (0x45f1ce898fa7f9ec, "8.8174936e+28"),
        (0x3eb1d82c38dd3ca9, "0.0000010636106"),
        (0x429bba2fe7fe0000, "7621620400000"),
        (0x47330ee105396742, "9.8955422e+34"),
        (0x46b806ab621aa722, "4.8730624e+32"),
        (0x472b4a7c3adc8840, "7.0851378000000005e+34"),
        (0x451f2ef9627495e8, "9.4246324e+24"),
        (0x3fadb3559c2d8c70, "0.05800883800000001"),
        (0x45d0dc914cf22d52, "2.087364e+28"),
        (0x4586eda6ecff8b9d, "8.8699674e+26"),
        (0x477a86302306252f, "2.2035420000000003e+36"),
        (0x3fa9c48c1cbf8f89, "0.050327662"),
        (0x41ba148920000000, "437553440"),
        (0x3b760138c65dac5f, "2.9123074e-22"),
        (0x3f4f081f4689d7a5, "0.0009470131599999999"),
        (0x44b472f2f7330c44, "9.6567766e+22"),
        (0x3cc712b02313d0fa, "6.404044000000001e-16"),
        (0x3c43a91d9c8fe77c, "2.1316074e-18"),
        (0x45ee45a42e6343ec, "7.4949932e+28"),
        (0x3fab2f29ecc1118c, "0.053094206000000005"),
        (0x479132c36c07288f, "5.7151136e+36"),
        (0x470f50d400cc0b81, "2.0325074e+34"),
        (0x477215d9bccf0049, "1.5024724000000002e+36"),
        (0x4483989d5eccf6fa, "1.1567526e+22"),
        (0x4509dd3105eb1789, "3.9084616e+24"),
        (0x41565eeb0ccccccd, "5864364.2"),
        (0x45065724e39e7abd, "3.3759868e+24"),
        (0x43c6cb809cca1058, "3285095800000000000"),
        (0x44469a6d91a1cb5b, "833912160000000000000"),
        (0x3b84968b9e58e068, "5.449616200000001e-22"),
        (0x40a2ad624dd2f1aa, "2390.692"),
        (0x4209c846a7800000, "13841782000"),
        (0x443a4043635acfcf, "484246000000000000000"),
        (0x44b426e897b8defc, "9.5165066e+22"),
        (0x478252cbabb5ef81, "3.0445004e+36"),
        (0x43dc78c749c9d54c, "8206435000000000000"),
        (0x400b92a8e49037f1, "3.4466112"),
        (0x4217453dd5400000, "24986482000"),
        (0x400d896fb59a8120, "3.6921076"),
        (0x45f0186211f55402, "7.969979999999999e+28"),
        (0x3e5680df12ecced1, "2.0957928000000002e-8"),
        (0x4730900ff8578356, "8.5998682e+34"),
        (0x3d963e65d3550ade, "5.0576412e-12"),
        (0x3b78905f775fbb6e, "3.2510126000000003e-22"),
        (0x451a8d5fd55fda9d, "8.0249232e+24"),
        (0x3faa65ab8076ddd8, "0.05155693"),
        (0x45158c1f723be533, "6.5122884e+24"),
        (0x420e5bbd2f800000, "16298518000"),
        (0x46c84e88c8e6c357, "9.8599992e+32"),
        (0x43e0efb5fda29942, "9763153000000000000"),
        (0x444649ca3de8645e, "822291000000000000000"),
        (0x3eda4929815b886c, "0.0000062670206000000005"),
        (0x429434a192b00000, "5554070400000"),
        (0x472bdeea0811e692, "7.2356626000000005e+34"),
        (0x45e9e7fdfb11cc3c, "6.4140692e+28"),
        (0x3b7a240070912623, "3.4596838e-22"),
        (0x443d23cb3c9e5aa5, "537534800000000000000"),
        (0x41617b3feccccccd, "9165311.4"),
        (0x41c37750ac000000, "653173080"),
        (0x43042ac613e6d800, "709566220000000"),
        (0x45d78fff09ac8173, "2.9168944e+28"),
        (0x3d28ec7758b3843f, "4.4273378e-14"),
        (0x425507a3f9a00000, "361290000000"),
        (0x458126e989b8899c, "6.635359e+26"),
        (0x40f726cc28f5c28f, "94828.76"),
        (0x43027a3d43360800, "650119140000000"),
        (0x3d95d8bcb2a395ab, "4.9673484e-12"),
        (0x42344cc38d300000, "87187230000"),
        (0x45eac1a6aaafece2, "6.624576e+28"),
    ]

    @Test func writeMatchesJavaScript() {
        for (bits, expected) in Self.writeTable {
            let d = Double(bitPattern: bits)
            #expect(JSONValue.number(d).jsonString == expected, "\(d)")
            // And it reads back to the same double (except -0, which JS prints as 0).
            if d != 0 {
                #expect((try? JSON.parse(expected))?.doubleValue?.bitPattern == bits, "\(expected)")
            }
        }
    }

    @Test func nonFiniteIsNull() {
        #expect(JSONValue.number(.nan).jsonString == "null")
        #expect(JSONValue.number(.infinity).jsonString == "null")
        #expect(JSONValue.number(-.infinity).jsonString == "null")
        #expect(JSONValue.array([.number(.nan), 1]).jsonString == "[null,1]")
    }

    @Test func negativeZero() throws {
        let v = try JSON.parse("-0")
        #expect(v.doubleValue?.sign == .minus)
        #expect(v.jsonString == "0")
        #expect(try JSON.parse("-0.0e5").doubleValue?.sign == .minus)
        #expect(try JSON.parse("-1e-400").doubleValue?.sign == .minus)
        #expect(v.intValue == 0)
    }

    @Test func randomIntegersAndDecimals() throws {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<2000 {
            let i = Int64.random(in: -(1 << 53)...(1 << 53), using: &rng)
            let text = String(i)
            let v = try JSON.parse(text)
            #expect(v.doubleValue == Double(i))
            #expect(v.jsonString == text)
            // Random doubles survive a write/parse round trip bit for bit.
            let d = Double(bitPattern: rng.next())
            guard d.isFinite, d != 0 else { continue }
            #expect(try JSON.parse(JSONValue.number(d).serialized).doubleValue?.bitPattern == d.bitPattern)
        }
    }
}

@Suite("Writing")
struct JSONWriteTests {
    @Test func stringEscapingMatchesJavaScript() throws {
        var all = ""
        for c in 0..<128 { all.unicodeScalars.append(Unicode.Scalar(UInt8(c))) }
        all += "é😀\u{2028}\u{2029}\u{FFFD}"
        // JSON.stringify of the same string in Node.js:
        let expected =
            ##""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"##
            + "\u{7F}é😀\u{2028}\u{2029}\u{FFFD}\""
        #expect(JSONValue.string(all).jsonString == expected)
        #expect(try JSON.parse(expected) == .string(all))
    }

    @Test func smallValues() {
        #expect(JSONValue.null.jsonString == "null")
        #expect(JSONValue.bool(true).jsonString == "true")
        #expect(JSONValue.bool(false).jsonString == "false")
        #expect(JSONValue.string("").jsonString == #""""#)
        #expect(JSONValue.array([]).jsonString == "[]")
        #expect(JSONValue.object([:]).jsonString == "{}")
        #expect(JSONValue.string("a/b").jsonString == #""a/b""#)
        let doc: JSONValue = ["code": 200, "sys": ["heartbeat": 3, "dict": [:]], "msg": "ok", "list": [1, 2.5, nil, false]]
        #expect(doc.jsonString == #"{"code":200,"sys":{"heartbeat":3,"dict":{}},"msg":"ok","list":[1,2.5,null,false]}"#)
        #expect(doc.serialized == Array(doc.jsonString.utf8))
        var out: [UInt8] = Array("prefix:".utf8)
        doc.write(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "prefix:" + doc.jsonString)
    }

    /// (input, JSON.stringify(JSON.parse(input)) in Node.js)
    static let normalisations: [(String, String)] = [
        (" { \"code\" : 200 , \"sys\" : { \"heartbeat\" : 3 } } ", "{\"code\":200,\"sys\":{\"heartbeat\":3}}"),
        ("[1.0, 1.50, 1E2, -0, 0.0, 1e400, -1e400, 1e-400, 100e-2, 1.5e+3]", "[1,1.5,100,0,0,null,null,0,1,1500]"),
        ("\"\\u0041\\/\\u00e9\\ud83d\\ude00\\u001f\\u007f\"", "\"A/\u{E9}\u{1F600}\\u001f\u{7F}\""),
        ("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}"),
        ("{\"a\":1,\"b\":{\"c\":[true,false,null]},\"a\":{\"x\":\"y\"}}", "{\"a\":{\"x\":\"y\"},\"b\":{\"c\":[true,false,null]}}"),
        ("[]", "[]"),
        ("{}", "{}"),
        ("[[],{},[{}]]", "[[],{},[{}]]"),
        ("\"\\b\\f\\n\\r\\t\\\"\\\\\"", "\"\\b\\f\\n\\r\\t\\\"\\\\\""),
        ("{\"\":\"\"}", "{\"\":\"\"}"),
        ("[123456789012345678, 0.000001, 1e-7, 1e21, 1e20, 12e20]", "[123456789012345680,0.000001,1e-7,1e+21,100000000000000000000,1.2e+21]"),
        ("\"\u{2028}\u{2029}\"", "\"\u{2028}\u{2029}\""),
        ("{\"\u{E9}\":1,\"e\u{301}\":2,\"\u{E9}\":3}", "{\"\u{E9}\":3,\"e\u{301}\":2}"),
        ("{\"__proto__\":1}", "{\"__proto__\":1}"),
        ("[1e21,1.5e-7,-1.5e-7,0.00001,123e-20]", "[1e+21,1.5e-7,-1.5e-7,0.00001,1.23e-18]"),
    ]

    @Test func parseThenWriteMatchesJavaScript() throws {
        for (input, expected) in Self.normalisations {
            #expect(try JSON.parse(input).jsonString == expected, "\(input)")
            #expect(try JSON.parse(expected).jsonString == expected, "\(expected)")
        }
    }

    @Test func randomTreesRoundTrip() throws {
        var rng = SeededRandom(seed: 42)
        func randomString() -> String {
            let pool: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "\u{7F}",
                                          "é", "\u{301}", "你", "😀", "\u{2028}", "\u{FFFD}", "\u{10FFFF}"]
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...12, using: &rng) { s.append(pool.randomElement(using: &rng)!) }
            return String(s)
        }
        func randomValue(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 5 ? 4 : 6), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2:
                let d = Bool.random(using: &rng) ? Double(Int.random(in: -100_000...100_000, using: &rng)) : Double(bitPattern: rng.next())
                return .number(d.isFinite ? d : 0.5)
            case 3: return .string(randomString())
            case 4: return .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in randomValue(depth + 1) })
            default:
                var o = JSONObject()
                for _ in 0..<Int.random(in: 0...5, using: &rng) { o[randomString()] = randomValue(depth + 1) }
                return .object(o)
            }
        }
        for _ in 0..<500 {
            let v = randomValue(0)
            let bytes = v.serialized
            let back = try JSON.parse(bytes)
            #expect(back == v)
            #expect(back.serialized == bytes)
            #expect(isValid(bytes))
        }
    }
}

@Suite("Objects")
struct JSONObjectTests {
    @Test func duplicateKeysFollowJSONParse() throws {
        let v = try parsed(#"{"a":1,"b":2,"a":3}"#)
        #expect(v["a"] == 3)
        #expect(v.objectValue?.count == 2)
        #expect(v.jsonString == #"{"a":3,"b":2}"#)
        // Past the linear-search threshold the index takes over; same rule.
        var text = "{"
        for i in 0..<100 { text += "\"k\(i)\":\(i)," }
        for i in stride(from: 0, to: 100, by: 7) { text += "\"k\(i)\":\"again\(i)\"," }
        text += "\"last\":true}"
        let big = try parsed(text)
        #expect(big.objectValue?.count == 101)
        #expect(big["k0"] == "again0")
        #expect(big["k7"] == "again7")
        #expect(big["k8"] == 8)
        #expect(big.objectValue?.members[7].key == "k7")
        #expect(big.objectValue?.members.last?.key == "last")
    }

    @Test func orderIsKept() throws {
        let text = #"{"z":1,"a":2,"m":{"y":0,"b":1},"0":3}"#
        let v = try parsed(text)
        #expect(v.objectValue?.members.map(\.key) == ["z", "a", "m", "0"])
        #expect(v.jsonString == text)
    }

    /// A deliberate difference from JavaScript, where integer-like keys come
    /// first in ascending order: here members always keep parse order.
    @Test func integerLikeKeysKeepParseOrder() throws {
        let text = #"{"b":1,"10":2,"2":3}"#
        #expect(try parsed(text).jsonString == text)  // Node.js: {"2":3,"10":2,"b":1}
    }

    @Test func subscriptSemantics() {
        var o = JSONObject()
        o["a"] = 1
        o["b"] = 2
        o["a"] = 3
        #expect(o.members.map(\.key) == ["a", "b"])
        #expect(o["a"] == 3)
        o["c"] = nil
        #expect(o.count == 2)
        o["a"] = nil
        #expect(o.members.map(\.key) == ["b"])
        #expect(o["a"] == nil)

        // Verbatim members may repeat a key: lookup sees the last one, the
        // writer emits what is stored, and setting collapses the repeats.
        var d = JSONObject([(key: "x", value: 1), (key: "y", value: 2), (key: "x", value: 3)])
        #expect(d["x"] == 3)
        #expect(d.count == 3)
        #expect(JSONValue.object(d).jsonString == #"{"x":1,"y":2,"x":3}"#)
        d["x"] = 4
        #expect(JSONValue.object(d).jsonString == #"{"x":4,"y":2}"#)
        d["x"] = nil
        #expect(JSONValue.object(d).jsonString == #"{"y":2}"#)

        let literal: JSONObject = ["k": 1, "j": 2, "k": 3]
        #expect(JSONValue.object(literal).jsonString == #"{"k":3,"j":2}"#)
    }

    @Test func equalityAndSequence() {
        let a: JSONObject = ["a": 1, "b": [true]]
        let b = JSONObject([(key: "a", value: 1), (key: "b", value: [true])])
        let c: JSONObject = ["b": [true], "a": 1]
        #expect(a == b)
        #expect(a != c)  // order matters: they serialise differently
        #expect(a != ["a": 1])
        var keys: [String] = []
        for (key, _) in a { keys.append(key) }
        #expect(keys == ["a", "b"])
        #expect(a.map(\.value) == [1, [true]])
    }
}

@Suite("Accessors")
struct JSONAccessorTests {
    @Test func typedAccess() throws {
        let v = try parsed(#"{"s":"x","n":1.5,"i":42,"big":1e300,"neg":-7,"b":true,"z":null,"a":[1],"o":{"k":1}}"#)
        #expect(v["s"]?.stringValue == "x")
        #expect(v["n"]?.doubleValue == 1.5)
        #expect(v["n"]?.intValue == nil)
        #expect(v["i"]?.intValue == 42)
        #expect(v["neg"]?.intValue == -7)
        #expect(v["big"]?.intValue == nil)
        #expect(v["b"]?.boolValue == true)
        #expect(v["z"]?.isNull == true)
        #expect(v["missing"] == nil)
        #expect(v["a"]?.arrayValue == [1])
        #expect(v["o"]?.objectValue == ["k": 1])
        #expect(v["o"]?["k"]?.intValue == 1)
        #expect(v["s"]?.intValue == nil)
        #expect(v["s"]?["k"] == nil)
        #expect(JSONValue.array([1])["k"] == nil)
        #expect(JSONValue.number(9.223372036854775807e18).intValue == nil)  // 2^63 does not fit
        #expect(JSONValue.number(-9.223372036854775808e18).intValue == Int.min)
        #expect(JSONValue.number(.nan).intValue == nil)
        #expect(JSONValue.null.stringValue == nil && JSONValue.null.isNull)
        #expect(!JSONValue.bool(false).isNull)
    }

    @Test func literals() {
        let v: JSONValue = [nil, true, 1, 2.5, "s", [1], ["k": "v"]]
        #expect(v == .array([.null, .bool(true), .number(1), .number(2.5), .string("s"), .array([.number(1)]),
                             .object(JSONObject([(key: "k", value: .string("v"))]))]))
        #expect(JSONValue.number(.nan) != .number(.nan))
        #expect(JSONValue.number(0) == .number(-0.0))
        #expect(JSONValue.null != .bool(false))
        #expect(JSONValue.number(1) != .string("1"))
    }
}

@Suite("Validator agrees with parser")
struct JSONAgreementTests {
    @Test func everyCorpusCase() {
        for doc in validDocuments + invalidDocuments { expectAgreement(utf8(doc)) }
        for (inner, _) in utf8Cases { expectAgreement([0x22] + inner + [0x22]) }
        for (text, _) in JSONNumberTests.parseTable { expectAgreement(utf8(text)) }
        for (input, output) in JSONWriteTests.normalisations {
            expectAgreement(utf8(input))
            expectAgreement(utf8(output))
        }
    }

    /// Random edits of valid documents: both must still agree on every one.
    @Test func mutations() {
        var rng = SeededRandom(seed: 2024)
        let seeds = validDocuments.filter { $0.utf8.count < 400 } + JSONWriteTests.normalisations.map(\.0)
        let interesting: [UInt8] = Array(#"{}[]:,"\/0123456789-+.eEtrufalsn u"#.utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xBF, 0xC2, 0xED, 0xF0, 0xF4, 0xFF]
        var parsedCount = 0
        for _ in 0..<20_000 {
            var doc = utf8(seeds.randomElement(using: &rng)!)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = doc.isEmpty ? 0 : Int.random(in: 0..<doc.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0 where !doc.isEmpty: doc[at] = interesting.randomElement(using: &rng)!
                case 1 where !doc.isEmpty: doc.remove(at: at)
                default: doc.insert(interesting.randomElement(using: &rng)!, at: at)
                }
            }
            expectAgreement(doc)
            if isValid(doc) { parsedCount += 1 }
        }
        // The mutations must exercise both outcomes to mean anything.
        #expect(parsedCount > 500)
        #expect(parsedCount < 19_000)
    }

    @Test func everyTruncation() {
        let doc = utf8(#"{"code":200,"msg":"h\u00e9llo \ud83d\ude00 你好","list":[1.5e-7,-0,true,false,null,{}],"x":[]}"#)
        #expect(isValid(doc))
        for n in 0..<doc.count {
            let prefix = Array(doc[0..<n])
            expectAgreement(prefix)
            #expect(parseError(prefix) != nil)
        }
    }
}

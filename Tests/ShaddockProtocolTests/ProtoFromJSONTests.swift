import Testing
@testable import ShaddockProtocol

/// `ProtoEncoder.encode(json:)` (JSON text to protobuf, read in place)
/// gives the tree path's bytes and errors: every recorded value, written as
/// JSON.stringify writes it and with the spacing and shapes other writers
/// use, the encoder quirks, and text the one pass hands to the tree.
@Suite struct ProtoFromJSONTests {
    typealias V = ProtobufVectorTests

    /// The bytes, or the error's text.
    enum Outcome: Equatable {
        case bytes([UInt8])
        case error(String)
    }

    static func viaTree(_ text: String, _ m: ProtoMessage) -> Outcome {
        do {
            return .bytes(try ProtoEncoder.encode(try JSON.parse(Array(text.utf8)), as: m))
        } catch {
            return .error("\(error)")
        }
    }

    static func inPlace(_ text: String, _ m: ProtoMessage) -> Outcome {
        var out: [UInt8] = [0x2A]
        do {
            try Array(text.utf8).withUnsafeBytes { try ProtoEncoder.encode(json: $0, as: m, into: &out) }
            #expect(out.first == 0x2A)
            return .bytes(Array(out.dropFirst()))
        } catch {
            #expect(out == [0x2A], "nothing appended on failure")
            return .error("\(error)")
        }
    }

    static func agree(_ text: String, _ m: ProtoMessage, _ name: String) {
        let tree = viaTree(text, m), direct = inPlace(text, m)
        #expect(tree == direct, "\(name): \(text)")
    }

    /// JSON with spaces and newlines between every token.
    static func spaced(_ v: JSONValue) -> String {
        switch v {
        case .object(let o): return "{ " + o.members.map { " \(JSONValue.string($0.key).jsonString) :\n \(spaced($0.value)) " }.joined(separator: " ,\t") + " }"
        case .array(let a): return "[ " + a.map(spaced).joined(separator: " , ") + " ]"
        default: return v.jsonString
        }
    }

    /// Whether the one pass took the text alone, without the tree.
    static func onePass(_ text: String, _ m: ProtoMessage) -> Bool {
        var out: [UInt8] = []
        return Array(text.utf8).withUnsafeBytes { b in
            var pass = ProtoEncoder.TextPass(JSONSkipper(b))
            return pass.message(m, 0, &out)
        }
    }

    @Test func everyRecordedValueEncodesAsTheTreeDoes() throws {
        var alone = 0
        for m in V.messages {
            let schema = try V.schema(m["schema"]!.stringValue!, m["direction"]!.stringValue!)
            if Self.onePass(m["value"]!.jsonString, schema.message(forRoute: m["route"]!.stringValue!)!) { alone += 1 }
        }
        // The recorded values the one pass leaves to the tree hold escapes
        // or non-ASCII keys; the others it takes alone.
        #expect(alone * 10 >= V.messages.count * 9, "\(alone) of \(V.messages.count) in one pass")
        for m in V.messages + (V.file["encoder_quirks"]?.arrayValue ?? []) {
            let name = m["name"]!.stringValue!
            guard let schemaName = m["schema"]?.stringValue, let direction = m["direction"]?.stringValue,
                  let route = m["route"]?.stringValue, let value = m["value"],
                  let schema = try? V.schema(schemaName, direction), let message = schema.message(forRoute: route) else { continue }
            Self.agree(value.jsonString, message, name)
            Self.agree(Self.spaced(value), message, name + " spaced")
            if let hex = m["hex"]?.stringValue {
                #expect(Self.inPlace(value.jsonString, message) == .bytes(V.hex(hex)), "\(name)")
            }
        }
    }

    /// What the one pass leaves to the tree, and text that is not JSON.
    @Test func unusualTextGoesThroughTheTree() throws {
        let schema = try ProtoSchema.parse([
            "message Point": ["required sInt32 x": 1, "optional sInt32 y": 2],
            "r": ["optional string s": 1, "optional uInt32 n": 2, "repeated uInt32 ns": 3, "repeated string ss": 4,
                  "optional Point p": 5, "repeated Point ps": 6, "optional float f": 7, "optional double d": 8, "required uInt32 id": 9],
        ])
        let m = schema.message(forRoute: "r")!
        let texts = [
            #"{"id":1}"#, #"{"id":1,"s":"a\"b\\c\u00e9"}"#, #"{"id":1,"n":2,"n":3}"#, #"{"id":1,"zz":[1,{"a":2}],"n":4}"#,
            #"{"id":null,"n":1}"#, #"{"n":1}"#, #"{"id":1,"n":-1}"#, #"{"id":1,"n":1.5}"#, #"{"id":1,"n":"1"}"#,
            #"{"id":1,"ns":[]}"#, #"{"id":1,"ns":[1,2,300]}"#, #"{"id":1,"ns":5}"#, #"{"id":1,"ss":["a","","é😀"]}"#,
            #"{"id":1,"p":{"x":-3}}"#, #"{"id":1,"p":{"y":2}}"#, #"{"id":1,"ps":[{"x":1},{"x":2,"y":-2}]}"#,
            #"{"id":1,"f":1e39}"#, #"{"id":1,"f":0.1,"d":-2.5e-300}"#, #"{"id":4294967295}"#, #"{"id":4294967296}"#,
            #"{"id":1,"p":{"x":1,"x":2}}"#, #"{"id":1,"s":"\u0001"}"#, #"{"id":1} x"#, #"{"id":1"#, #"[1]"#, #"{"id":1,}"#,
            #"{"id":1,"s":"tab"# + "\t" + #"in"}"#, #"{"i\u0064":1}"#, #"{"é":1,"id":2}"#, "  {\"id\" : 7 }  ",
            #"{"id":1,"p":{"x":1,"y":2,"x":3}}"#, #"{"id":1,"s":"\#(String(repeating: "x", count: 300))"}"#,
        ]
        for text in texts { Self.agree(text, m, text) }
    }
}

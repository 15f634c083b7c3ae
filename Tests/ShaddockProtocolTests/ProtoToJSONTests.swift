import Testing
@testable import ShaddockProtocol

/// `ProtoToJSON` (a protobuf body read straight into JSON text) agrees with
/// the tree decoder on every recorded body, every malformed one and every
/// prefix: the same text, the same refusals.
@Suite struct ProtoToJSONTests {
    typealias V = ProtobufVectorTests

    /// The tree decoder's answer as JSON text, or its error.
    static func viaTree(_ bytes: [UInt8], _ m: ProtoMessage) -> Result<[UInt8], ProtoError> {
        Result { () throws(ProtoError) -> [UInt8] in try ProtoDecoder.decode(bytes, as: m).serialized }
    }

    static func direct(_ bytes: [UInt8], _ m: ProtoMessage) -> Result<[UInt8], ProtoError> {
        var out: [UInt8] = [0x2A]  // what is already in the buffer stays
        let r = bytes.withUnsafeBytes { b in Result { () throws(ProtoError) in try ProtoToJSON.transcode(b, as: m, into: &out) } }
        switch r {
        case .success:
            #expect(out.first == 0x2A)
            return .success(Array(out.dropFirst()))
        case .failure(let e):
            #expect(out == [0x2A], "nothing appended on failure")
            return .failure(e)
        }
    }

    static func agree(_ bytes: [UInt8], _ m: ProtoMessage, _ name: String) {
        let tree = viaTree(bytes, m), one = direct(bytes, m)
        switch (tree, one) {
        case (.success(let a), .success(let b)):
            #expect(a == b, "\(name): \(String(decoding: a, as: UTF8.self)) vs \(String(decoding: b, as: UTF8.self))")
        case (.failure(let a), .failure(let b)):
            #expect(a == b, "\(name)")
        default:
            Issue.record("\(name): tree \(tree), one pass \(one)")
        }
    }

    @Test func everyRecordedBodyAndEveryPrefixReadsAsTheTreeDecoderReadsIt() throws {
        for m in V.messages {
            let name = m["name"]!.stringValue!
            let schema = try V.schema(m["schema"]!.stringValue!, m["direction"]!.stringValue!)
            let message = try #require(schema.message(forRoute: m["route"]!.stringValue!))
            var forms = [m["hex"]!.stringValue!]
            if let t = m["hex_tag_order"]?.stringValue { forms.append(t) }
            if let c = m["client_lib"]?["hex"]?.stringValue { forms.append(c) }
            for form in forms {
                let bytes = V.hex(form)
                Self.agree(bytes, message, name)
                for cut in 0..<bytes.count { Self.agree(Array(bytes[..<cut]), message, "\(name)[..<\(cut)]") }
            }
        }
    }

    @Test func malformedBodiesAreRefusedAlike() throws {
        for v in V.file["invalid"]?.arrayValue ?? [] {
            let schema = try V.schema(v["schema"]!.stringValue!, v["direction"]!.stringValue!)
            let message = try #require(schema.message(forRoute: v["route"]!.stringValue!))
            Self.agree(V.hex(v["hex"]!.stringValue!), message, v["name"]!.stringValue!)
        }
    }

    /// A repeated field split by another, and a field given twice, take the
    /// tree path and still read as protobuf would.
    @Test func fieldsOutOfTheirRunTakeTheTreePath() throws {
        let schema = try ProtoSchema.parse(["r": ["repeated string s": 1, "optional uInt32 n": 2, "repeated uInt32 ns": 3]])
        let m = schema.message(forRoute: "r")!
        let split: [UInt8] = [0x0A, 1, 0x61, 0x10, 7, 0x0A, 1, 0x62]
        #expect(Self.direct(split, m) == .success(Array(#"{"s":["a","b"],"n":7}"#.utf8)))
        let twice: [UInt8] = [0x10, 1, 0x10, 2]
        #expect(Self.direct(twice, m) == .success(Array(#"{"n":2}"#.utf8)))
        let runs: [UInt8] = [0x18, 2, 1, 2, 0x18, 1, 3]
        #expect(Self.direct(runs, m) == .success(Array(#"{"ns":[1,2,3]}"#.utf8)))
        Self.agree(split, m, "split")
    }
}

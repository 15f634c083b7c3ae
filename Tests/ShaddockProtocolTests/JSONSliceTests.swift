// Tests for reading JSON in place (JSONSlice) and writing objects member by
// member (JSONObjectWriter): what a handler reads is what JSON.parse reads,
// and what it writes is what JSON.stringify writes.

import Testing

@testable import ShaddockProtocol

/// Runs `body` with a slice of `text` as a whole document.
private func withSlice<R>(_ text: String, _ body: (JSONSlice) -> R) -> R {
    Array(text.utf8).withUnsafeBytes { body(JSONSlice(trimming: $0)) }
}

private func written(_ fill: (inout JSONObjectWriter) -> Void) -> String {
    String(decoding: JSONObjectWriter.bytes(fill), as: UTF8.self)
}

struct JSONSliceTests {
    @Test func membersAreFoundInPlace() {
        withSlice(#" {"content" : "hi", "target":"*", "n": 12, "deep": {"content": "no"}} "#) { body in
            #expect(body.kind == .object)
            #expect(body["content"]?.stringValue == "hi")
            #expect(body["target"]?.isString("*") == true)
            #expect(body["n"]?.intValue == 12)
            #expect(body["deep"]?["content"]?.stringValue == "no")
            #expect(body["missing"] == nil)
            #expect(body["content"]?["x"] == nil)
        }
    }

    @Test func theLastOfDuplicateKeysWinsAsInJSONParse() {
        withSlice(#"{"a":1,"a":2}"#) { #expect($0["a"]?.intValue == 2) }
    }

    @Test func escapesInKeysAndStringsAreDecoded() {
        withSlice(#"{"t\u0061rget":"\u002a","s":"a\"b"}"#) { body in
            #expect(body["target"]?.isString("*") == true)
            #expect(body["s"]?.stringValue == "a\"b")
            #expect(body["s"]?.isString("a\"b") == true)
        }
    }

    @Test func bracketsInsideStringsDoNotEndAValue() {
        withSlice(#"{"a":{"x":"}]\"{"},"b":[1,"]",{"c":2}],"z":true}"#) { body in
            #expect(body["a"]?["x"]?.stringValue == "}]\"{")
            #expect(body["z"]?.boolValue == true)
            #expect(body["b"]?.value == [1, "]", ["c": 2]])
        }
    }

    @Test func textThatIsNotJSONReadsAsMissingMembers() {
        for text in [#"{"a""#, #"{"a":"#, #"{"a":"x"#, #"{"a":1,"#, "{", "", "   ", #"["a"]"#, #"{"a":[1,2"#, #"{a:1}"#] {
            withSlice(text) { slice in
                #expect(slice["a"] == nil || text == #"{"a":1,"#, "\(text)")
                _ = (slice.kind, slice.stringValue, slice.intValue, slice.isCanonical)
            }
        }
    }

    @Test func onlyTextThatJSONStringifyWouldWriteIsCopiedAsItIs() {
        let canonical = [#""plain""#, "true", "false", "null", "0", "-5", "123456789012345"]
        let rewritten = [#""a\u0041""#, "1.0", "-0", "1e3", "1234567890123456", #"{ "a" : 1 }"#, "[1, 2]"]
        for text in canonical { withSlice(text) { #expect($0.isCanonical, "\(text)") } }
        for text in rewritten { withSlice(text) { #expect(!$0.isCanonical, "\(text)") } }
    }

    @Test func theObjectWriterWritesWhatJSONStringifyWrites() {
        let text = written { o in
            o.add("s", "a\"b\n\u{1}é")
            o.add("i", 42)
            o.add("d", 0.5)
            o.add("b", false)
            o.add("v", ["x": [1, .null]])
            o.addObject("o") { $0.add("k", "v") }
        }
        // JSON.stringify({s:'a"b\n\u0001é',i:42,d:0.5,b:false,v:{x:[1,null]},o:{k:'v'}}) in Node.js 20.
        #expect(text == #"{"s":"a\"b\n\u0001é","i":42,"d":0.5,"b":false,"v":{"x":[1,null]},"o":{"k":"v"}}"#)
        #expect(written { _ in } == "{}")
    }

    @Test func slicesGoIntoAnObjectCanonically() {
        let text = Array(#"{"msg": { "a" : 1.50 }, "n": -0, "s": "\u0041", "t": "ok"}"#.utf8).withUnsafeBytes { raw in
            let body = JSONSlice(trimming: raw)
            return written { o in
                for key in ["msg", "n", "s", "t"] { o.add(key, body[key]!) }
            }
        }
        #expect(text == #"{"msg":{"a":1.5},"n":0,"s":"A","t":"ok"}"#)
    }

    @Test func writingIntoABufferKeepsWhatIsThere() {
        var out = Array("prefix:".utf8)
        JSONObjectWriter.write(into: &out) { $0.add("a", 1) }
        #expect(String(decoding: out, as: UTF8.self) == #"prefix:{"a":1}"#)
    }
}

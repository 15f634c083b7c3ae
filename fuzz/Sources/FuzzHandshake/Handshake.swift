// fuzz-handshake: a client's handshake body, as the gateway reads it
// (Sources/Shaddock/Connection/Connection+Pomelo.swift): JSON parsed into a
// ClientHandshake and answered by the HandshakeResponder. Underneath, the
// JSON codec: the validator (run on every request body) must agree with the
// parser, and what the writer writes must parse back to the same value.
// Handlers read request bodies in place (JSONSlice) and write pushes member
// by member (JSONObjectWriter): on any bytes the slice reader stays inside
// the buffer, and on valid JSON it finds what the parser finds, and the
// object writer writes what the value writer writes.
//
// Input: the handshake package's body.
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

let responder = HandshakeResponder(
    heartbeatSeconds: 3,
    dictionary: try! RouteDictionary(handlerRoutes: ["connector.entryHandler.entry", "chat.chatHandler.send"], userRoutes: ["onChat"]))

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = UnsafeRawBufferPointer(start: data, count: size)
    let valid = JSON.isValid(body)
    let parsed = Result { () throws(JSONError) in try JSON.parse(body) }
    invariant(valid == ((try? parsed.get()) != nil), "isValid says \(valid), parse says \(parsed)")
    if case .success(let value) = parsed {
        checkWritten(value)
        checkTyped(value)
        checkSlices(body, value)
    } else {
        // Not JSON: nothing is promised but staying inside the buffer.
        if let slice = JSONSlice(document: body) { probe(slice) }
        probe(JSONSlice(trimming: body))
    }

    let client = ClientHandshake(body: body)
    let sys = (try? parsed.get())?["sys"]?.objectValue
    invariant((client != nil) == (sys != nil), "a handshake \(client == nil ? "refused" : "accepted") with sys \(String(describing: sys))")
    if let client { checkAnswer(client) }
    return 0
}

/// The writer's text is valid JSON that parses to the same value; only a
/// number past Double's range, written as null as JSON.stringify does,
/// comes back different, and then the second writing is the first.
func checkWritten(_ value: JSONValue) {
    let text = value.serialized
    let again = text.withUnsafeBytes { raw in Result { () throws(JSONError) in try JSON.parse(raw) } }
    guard case .success(let reparsed) = again else { return invariant(false, "written JSON does not parse: \(again)") }
    invariant(text.withUnsafeBytes { JSON.isValid($0) }, "written JSON is not valid")
    if value.isFinite {
        invariant(reparsed == value, "written and parsed again: \(reparsed.jsonString), was \(text)")
    } else {
        invariant(reparsed.serialized == text, "written twice differently")
    }
}

/// Each member of a valid object, looked up in place, is the member the
/// parser keeps (the last of its name); written again member by member it
/// makes what the value writer makes.
func checkSlices(_ body: UnsafeRawBufferPointer, _ value: JSONValue) {
    guard let document = JSONSlice(document: body) else { return invariant(false, "valid JSON has no value") }
    invariant(JSONSlice(trimming: body).bytes.count == document.bytes.count, "trimming and walking disagree")
    guard value.isFinite, let object = value.objectValue else { return }
    var expected = JSONObject()
    for (key, _) in object { expected[key] = object[key] }
    let written = JSONObjectWriter.bytes { w in
        for (key, member) in expected {
            guard let slice = document[key] else { return invariant(false, "member \(key) not found in place") }
            invariant(slice.value == member, "member \(key) read in place as \(String(describing: slice.value))")
            if case .string(let s) = member { invariant(slice.stringValue == s && slice.isString(s), "member \(key) as a string") }
            w.add(key, slice)
        }
    }
    invariant(written == JSONValue.object(expected).serialized, "written in place: \(String(decoding: written, as: UTF8.self))")
}

/// Reads everything a handler could read from a slice.
func probe(_ slice: JSONSlice) {
    _ = (slice.kind, slice.stringValue, slice.intValue, slice.boolValue, slice.isString("a"), slice.value)
    for key in ["a", "sys", "", "\u{0}"] { if let member = slice[key] { _ = (member.kind, member.stringValue) } }
}

extension JSONValue {
    /// No number in it is infinite.
    var isFinite: Bool {
        switch self {
        case .number(let d): return d.isFinite
        case .array(let a): return a.allSatisfy(\.isFinite)
        case .object(let o): return o.members.allSatisfy { $0.value.isFinite }
        case .null, .bool, .string: return true
        }
    }
}

/// A handshake as a handler would type it, with a field of each kind the
/// decoder converts to.
struct TypedHandshake: Codable, Equatable {
    struct Sys: Codable, Equatable {
        var type: String?
        var version: String?
        var dictVersion: String?
        var protoVersion: Int?
        var rsa: [String: JSONValue]?
    }
    var sys: Sys?
    var user: JSONValue?
    var counts: [Int8]?
    var ids: [UInt64]?
    var ratio: Float?
    var flags: [String: Bool]?
    var grid: [[Int32]]?
}

/// Decoding into typed fields refuses what does not fit rather than
/// trapping, and a value that decodes and encodes decodes the same again.
/// (The encoder refuses integers past 2^53, which the decoder takes when
/// they are exact doubles.)
func checkTyped(_ value: JSONValue) {
    guard let typed = try? JSONValueDecoder().decode(TypedHandshake.self, from: value),
          let encoded = try? JSONValueEncoder().encode(typed) else { return }
    let again = try? JSONValueDecoder().decode(TypedHandshake.self, from: encoded)
    invariant(again == typed, "decoded \(typed), encoded as \(encoded.jsonString), decoded again as \(String(describing: again))")
}

/// The answer is one handshake package holding code 200, the heartbeat,
/// the dictionary unless the client has it, and the user payload given.
func checkAnswer(_ client: ClientHandshake) {
    let user: JSONValue? = client.user
    let package = responder.package(for: client, user: user)
    let scanned = package.withUnsafeBytes { Package.scan($0, at: 0, maxBody: Package.maxBodyLength) }
    guard case .package(.handshake, let range, package.count) = scanned else { return invariant(false, "answer: \(scanned)") }
    guard let answer = try? JSON.parse(Array(package[range])) else { return invariant(false, "the answer is not JSON") }
    invariant(answer["code"] == 200 && answer["sys"]?["heartbeat"] == 3, "answer \(answer.jsonString)")
    let dictionary = responder.dictionary!
    let sent = answer["sys"]?["dictVersion"]?.stringValue
    invariant((sent != nil) == (client.dictVersion != dictionary.version), "dictionary sent: \(sent != nil)")
    if let user {
        invariant(answer["user"]?.serialized == user.serialized, "user payload \(String(describing: answer["user"]))")
    } else {
        invariant(answer["user"] == nil, "a user payload nobody gave")
    }
}

/// The recorded handshake and kick bodies, and JSON that reaches each rule.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for v in vectors {
        for p in v.packages where p.type == .handshake || p.type == .kick { out.append(p.body) }
    }
    let texts = [
        #"{"sys":{"type":"js-websocket","version":"0.0.1","dictVersion":"x","rsa":{}},"user":{"name":"\u00e9\ud83d\ude00"}}"#,
        #"{"sys":{},"sys":[1,2],"user":[-0,1e400,-1.5e-7,123456789012345678901234567890,0.1]}"#,
        #" [ true , false , null , "a\"\\\/\b\f\n\r\t" ] "#,
        #"{"a":{"b":{"c":[[[[[[[[[[[[{}]]]]]]]]]]]]}}}"#,
        "\"\u{10FFFF}\u{7F}\u{2028}\"",
        #"{"sys":{"type":"probe"},"user":"\ud800x\udc00"}"#,
        "1E+2",
        #"{"sys":{"protoVersion":3,"rsa":{"n":"x"}},"counts":[-128,127],"ids":[9007199254740992],"ratio":3.4e38,"#
            + #""flags":{"a":true},"grid":[[2147483647],[]]}"#,
    ]
    out += texts.map { Array($0.utf8) }
    return out
}

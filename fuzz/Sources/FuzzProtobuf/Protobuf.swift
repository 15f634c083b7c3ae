// fuzz-protobuf: the pomelo-protobuf decoder (Sources/ShaddockProtocol/
// Protobuf) on any bytes, against a schema with every type, nesting, root
// messages, repeated fields of each kind and a root message that contains
// itself (a route's nested message cannot: Pomelo looks a type up only in
// the field's own message and the root). A body that decodes encodes again to bytes that decode to the
// same value; nothing is read out of bounds (AddressSanitizer, exact
// copies); nesting is bounded. The gateway's one-pass reader into JSON
// text (ProtoToJSON) gives the tree decoder's text and refuses what it
// refuses, and JSON text encodes (ProtoEncoder.encode(json:)) to what the
// value does.
//
// Input: [route][bytes]: route % 4 picks the message.
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

let schemaText = #"""
{"message Point": {"required sInt32 x": 1, "required sInt32 y": 2},
 "message Node": {"required uInt32 id": 1, "repeated Node children": 2, "optional Point at": 3},
 "scalars": {"optional uInt32 u": 1, "optional sInt32 s": 2, "optional int32 i": 3, "optional float f": 4,
             "optional double d": 5, "optional string str": 6},
 "repeated": {"repeated uInt32 u": 1, "repeated sInt32 s": 2, "repeated float f": 3, "repeated double d": 4,
              "repeated string str": 5, "repeated Point points": 6},
 "tree": {"required string name": 1, "optional Node root": 2, "repeated string tags": 3},
 "onMove": {"required uInt32 entityId": 1, "repeated Point path": 2, "required float speed": 3}}
"""#
let schema = try! ProtoSchema.parse(try! JSON.parse(Array(schemaText.utf8)))
let routes = ["scalars", "repeated", "tree", "onMove"].map { schema.message(forRoute: $0)! }

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let message = routes[Int(data[0]) % routes.count]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let decoded = withExactCopy(of: bytes) { b in Result { () throws(ProtoError) -> JSONValue in
        try ProtoDecoder.decode(UnsafeRawBufferPointer(b), as: message) } }
    var text: [UInt8] = []
    let direct = withExactCopy(of: bytes) { b in Result { () throws(ProtoError) in
        try ProtoToJSON.transcode(UnsafeRawBufferPointer(b), as: message, into: &text) } }
    switch (decoded, direct) {
    case (.success(let value), .success):
        invariant(value.serialized == text, "one pass read \(String(decoding: text, as: UTF8.self)), the tree \(value)")
    case (.failure(let a), .failure(let b)):
        invariant(a == b, "one pass refused with \(b), the tree with \(a)")
    default:
        invariant(false, "the tree decoder gave \(decoded), the one-pass reader \(direct)")
    }
    guard case .success(let value) = decoded else { return 0 }
    // What decodes encodes again, and that decodes to the same value.
    let again: [UInt8]
    do {
        again = try ProtoEncoder.encode(value, as: message)
    } catch {
        invariant(false, "decoded \(value) but cannot encode it: \(error)")
        return 0
    }
    // The body's JSON text (the one-pass reader's, checked equal to the
    // tree's above), read in place, encodes as the text's tree does (the
    // text's, not the value's: JSON.stringify writes -0 as 0).
    var fromText: [UInt8] = []
    do {
        try text.withUnsafeBytes { try ProtoEncoder.encode(json: $0, as: message, into: &fromText) }
        let viaTree = try ProtoEncoder.encode(try JSON.parse(text), as: message)
        invariant(fromText == viaTree, "\(value): its JSON text encodes to other bytes in place than through a tree")
    } catch {
        invariant(false, "\(value) encodes, its JSON text does not: \(error)")
    }
    let back = Result { () throws(ProtoError) -> JSONValue in try ProtoDecoder.decode(again, as: message) }
    invariant((try? back.get()).map { canonical($0) == canonical(value) } == true,
              "\(value) encodes to bytes that decode to \(back)")
    return 0
}

/// Member order aside (the decoder follows the wire; repeated fields join),
/// and an empty repeated field is no field (a count of 0 decodes to [],
/// which encodes to nothing, as in Pomelo).
func canonical(_ v: JSONValue) -> JSONValue {
    switch v {
    case .object(let o):
        let kept = o.members.filter { if case .array(let a) = $0.value { return !a.isEmpty }; return true }
        return .object(JSONObject(kept.sorted { $0.key < $1.key }.map { ($0.key, canonical($0.value)) }))
    case .array(let a): return .array(a.map(canonical))
    default: return v
    }
}

func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    let values = [
        (0, #"{"u":300,"s":-2,"i":-1,"f":1.5,"d":-0.25,"str":"hé 😀"}"#),
        (1, #"{"u":[1,300],"s":[-1,0,1],"f":[0.5],"d":[2],"str":["a",""],"points":[{"x":1,"y":-1}]}"#),
        (2, #"{"name":"t","root":{"id":1,"children":[{"id":2,"children":[{"id":3}]}],"at":{"x":0,"y":0}},"tags":["x"]}"#),
        (3, #"{"entityId":7,"path":[{"x":1,"y":2},{"x":-3,"y":4}],"speed":2.5}"#),
    ]
    for (route, json) in values {
        let bytes = try! ProtoEncoder.encode(try! JSON.parse(Array(json.utf8)), as: routes[route])
        out.append([UInt8(route)] + bytes)
    }
    return out
}

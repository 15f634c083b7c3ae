// fuzz-message: Pomelo messages, the body of a data package, as the gateway
// reads a client's (Sources/Shaddock/Connection/Connection+Pomelo.swift, onData): flag,
// varint id, route code or route string, body; the route looked up in the
// dictionary, the body checked as JSON; the message encoded again. The other
// mode builds a route dictionary from the input, as the gateway builds one
// from the application's handlers and dictionary.json.
//
// Input: [mode][bytes]
//   mode even: the bytes are a message
//   mode odd:  the bytes are routes, one a line; the first (mode >> 1)
//              lines are handler routes, the others user routes
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

/// The chat example's dictionary, the one the recorded vectors use.
let chatHandlers = ["connector.entryHandler.entry", "connector.entryHandler.login", "connector.entryHandler.kickme",
                    "connector.entryHandler.ping", "chat.chatHandler.send", "chat.chatHandler.notify"]
let chatPushes = ["onChat", "onAdd", "onLeave"]
let chat = try! RouteDictionary(handlerRoutes: chatHandlers, userRoutes: chatPushes)

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    if data[0] & 1 == 0 {
        checkMessage(bytes)
    } else {
        checkDictionary(bytes, handlerLines: Int(data[0] >> 1))
    }
    return 0
}

// MARK: Messages

func checkMessage(_ bytes: UnsafeRawBufferPointer) {
    let plain = Array(bytes)
    let decoded = Result { () throws(MessageError) in try Message.decode(bytes) }
    let expected = referenceDecode(plain)
    switch (decoded, expected) {
    case (.failure(let a), .failure(let b)):
        return invariant(a == b, "refused with \(a), expected \(b)")
    case (.success(let m), .failure(let b)):
        return invariant(false, "decoded \(m), expected \(b)")
    case (.failure(let a), .success(let r)):
        return invariant(false, "refused with \(a), expected \(r)")
    case (.success(let m), .success(let r)):
        invariant(m.type.rawValue == r.type && m.id == r.id && m.routeCode == r.code && m.routeName == r.route
                  && m.body == r.body && m.gzipped == r.gzipped, "decoded \(m), expected \(r)")
        checkRoute(m, bytes)
        checkEncodedAgain(m, plain)
        let body = UnsafeRawBufferPointer(rebasing: bytes[m.body])
        invariant(JSON.isValid(body) == ((try? JSON.parse(body)) != nil), "the JSON validator and parser disagree")
    }
}

struct Decoded: CustomStringConvertible {
    var type: UInt8, id: UInt32, code: UInt16?, route: Range<Int>?, body: Range<Int>, gzipped: Bool
    var description: String { "type \(type) id \(id) code \(String(describing: code)) route \(String(describing: route)) body \(body)" }
}

/// PROTOCOL.md §3, read the plain way.
func referenceDecode(_ b: [UInt8]) -> Result<Decoded, MessageError> {
    guard let flag = b.first else { return .failure(.empty) }
    let type = flag >> 1 & 7
    guard type <= 3 else { return .failure(.unknownType(type)) }
    var i = 1
    var id: UInt64 = 0
    if type == 0 || type == 2 {
        var shift: UInt64 = 0
        while true {
            guard i < b.count, i - 1 < 5 else { return .failure(.badID) }
            id |= UInt64(b[i] & 0x7F) << shift
            shift += 7
            i += 1
            if b[i - 1] & 0x80 == 0 { break }
        }
        guard id <= UInt64(UInt32.max) else { return .failure(.badID) }
        if type == 0 && id == 0 { return .failure(.zeroID) }
    }
    var code: UInt16?
    var route: Range<Int>?
    if type != 2 {
        if flag & 1 != 0 {
            guard b.count - i >= 2 else { return .failure(.truncatedRoute) }
            code = UInt16(b[i]) << 8 | UInt16(b[i + 1])
            i += 2
        } else {
            guard i < b.count else { return .failure(.truncatedRoute) }
            let n = Int(b[i])
            guard n > 0 else { return .failure(.emptyRoute) }
            guard b.count - i - 1 >= n else { return .failure(.truncatedRoute) }
            route = i + 1..<i + 1 + n
            i += 1 + n
        }
    }
    return .success(Decoded(type: type, id: UInt32(id), code: code, route: route, body: i..<b.count, gzipped: flag & 0x10 != 0))
}

/// The route resolves as the gateway resolves it: a code through the
/// table, a string by its bytes.
func checkRoute(_ m: MessageView, _ bytes: UnsafeRawBufferPointer) {
    if let code = m.routeCode {
        let route = chat.route(forCode: code)
        invariant((route != nil) == (code >= 1 && Int(code) <= chat.count), "code \(code) resolves to \(String(describing: route))")
    }
    if let name = m.routeName {
        let routeBytes = Array(bytes[name])
        let code = chat.code(forRouteBytes: UnsafeRawBufferPointer(rebasing: bytes[name]))
        let linear = chat.routes.indices.dropFirst().first { Array(chat.routes[$0].utf8) == routeBytes }
        invariant(code.map(Int.init) == linear, "route \(routeBytes) found as \(String(describing: code)), listed at \(String(describing: linear))")
    }
}

/// Encoding the decoded values gives a message that decodes to them again,
/// and gives the same bytes back when the flag and the id were written the
/// way the encoder writes them.
func checkEncodedAgain(_ m: MessageView, _ b: [UInt8]) {
    let routeBytes = m.routeName.map { Array(b[$0]) }
    // The encoder takes a route as a String: bytes that are not UTF-8 have
    // no String of their own.
    if let routeBytes, !isUTF8(routeBytes) { return }
    let route = routeBytes.map { String(decoding: $0, as: UTF8.self) }
    let encoded = Message.encode(type: m.type, id: m.id, routeCode: m.routeCode, route: route, body: b[m.body])
    let again = encoded.withUnsafeBytes { raw in Result { () throws(MessageError) in try Message.decode(raw) } }
    guard case .success(let n) = again else { return invariant(false, "an encoded message does not decode: \(again)") }
    invariant(n.type == m.type && n.id == m.id && n.routeCode == m.routeCode && !n.gzipped, "encoded again: \(n) from \(m)")
    invariant(Array(encoded[n.body]) == Array(b[m.body]), "body encoded again")
    invariant(n.routeName.map { Array(encoded[$0]) } == routeBytes, "route encoded again")
    let hasID = m.type == .request || m.type == .response
    let canonicalFlag = m.type.rawValue << 1 | (m.routeCode != nil ? 1 : 0)
    let idLength = hasID ? Varint.size(of: m.id) : 0
    let canonicalID = !hasID || b.count > idLength && b[idLength] & 0x80 == 0
    if b[0] == canonicalFlag && canonicalID {
        invariant(encoded == b, "encoded again as \(encoded)")
    }
    // The hot-path header writers agree with the whole-message encoder.
    if hasID {
        invariant(Varint.encode(m.id).count == Varint.size(of: m.id), "varint size")
        let header = [UInt8](unsafeUninitializedCapacity: 1 + Varint.maxLength) { buf, n in
            n = Message.writeResponseHeader(id: m.id, into: UnsafeMutableRawBufferPointer(buf), at: 0)
        }
        invariant(header == Message.encode(type: .response, id: m.id, body: []), "response header")
        invariant(header.count == Message.responseHeaderLength(id: m.id), "response header length")
    }
    if let code = m.routeCode {
        let header = [UInt8](unsafeUninitializedCapacity: 3) { buf, n in
            n = Message.writePushHeader(code: code, into: UnsafeMutableRawBufferPointer(buf), at: 0)
        }
        invariant(header == Message.encode(type: .push, routeCode: code, body: []), "push header")
    }
}

// MARK: Route dictionaries

/// Routes are compared by their bytes, as JavaScript compares property
/// names: every distinct route gets its own code.
func checkDictionary(_ bytes: UnsafeRawBufferPointer, handlerLines: Int) {
    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let handlers = Array(lines.prefix(handlerLines))
    let users = Array(lines.dropFirst(handlerLines))
    var distinct: [String] = []
    var seen = Set<[UInt8]>()
    for r in handlers where seen.insert(Array(r.utf8)).inserted { distinct.append(r) }
    distinct.sort { $0.utf16.lexicographicallyPrecedes($1.utf16) }
    var duplicate = false
    for r in users where !seen.insert(Array(r.utf8)).inserted { duplicate = true }
    let all = distinct + users
    let empty = all.contains { $0.isEmpty }
    let tooLong = all.contains { $0.utf8.count > 255 }
    let dictionary: RouteDictionary
    do {
        dictionary = try RouteDictionary(handlerRoutes: handlers, userRoutes: users)
    } catch {
        switch error {
        case .duplicateRoute: invariant(duplicate, "\(error), yet every route is distinct")
        case .emptyRoute: invariant(empty, "\(error), yet no route is empty")
        case .routeTooLong: invariant(tooLong, "\(error), yet no route is that long")
        case .tooManyRoutes: invariant(all.count > Int(UInt16.max), "\(error) for \(all.count)")
        }
        return
    }
    invariant(!duplicate && !empty && !tooLong, "built a dictionary from routes it should refuse")
    invariant(dictionary.count == all.count, "\(dictionary.count) routes, expected \(all.count)")
    for (i, r) in all.enumerated() {
        let code = UInt16(i + 1)
        invariant(dictionary.code(for: r) == code, "route \(Array(r.utf8)) has code \(String(describing: dictionary.code(for: r))), expected \(code)")
        invariant(dictionary.route(forCode: code).map { Array($0.utf8) } == Array(r.utf8), "code \(code)")
    }
    invariant(dictionary.route(forCode: 0) == nil && dictionary.route(forCode: UInt16(all.count + 1)) == nil, "codes outside the dictionary")
    // The JSON sent to clients lists the same routes and codes, in order.
    guard let toCode = try? JSON.parse(dictionary.routeToCodeJSON).objectValue,
          let toRoute = try? JSON.parse(dictionary.codeToRouteJSON).objectValue else {
        return invariant(false, "the dictionary's JSON does not parse")
    }
    invariant(toCode.members.map { Array($0.key.utf8) } == all.map { Array($0.utf8) }, "routeToCode keys")
    invariant(toCode.members.map(\.value) == (1...max(1, all.count)).prefix(all.count).map { .number(Double($0)) }, "routeToCode codes")
    invariant(toRoute.members.map(\.key) == (0..<all.count).map { String($0 + 1) }, "codeToRoute keys")
    invariant(toRoute.members.map { $0.value.stringValue.map { Array($0.utf8) } } == all.map { Array($0.utf8) }, "codeToRoute routes")
    invariant(dictionary.version == Digest.base64(Digest.md5(dictionary.routeToCodeJSON)), "dictVersion")
}

// MARK: Seeds

/// Every recorded message, and the chat example's routes.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for v in vectors {
        for p in v.packages where p.type == .data { out.append([0] + p.body) }
    }
    out.append([0] + Message.encode(type: .request, id: 300, route: "a.b.c", body: Array(#"{"x":[1,2.5,"é"]}"#.utf8)))
    out.append([0] + Message.encode(type: .notify, routeCode: 7, body: []))
    out.append([0, 0x10] + Varint.encode(UInt32.max) + [0x00, 0x03])
    let lines = Array((chatHandlers + chatPushes).joined(separator: "\n").utf8)
    out.append([UInt8(chatHandlers.count << 1 | 1)] + lines)
    out.append([UInt8(2 << 1 | 1)] + Array("b.c.d\na.b.c\nonChat\nonChat".utf8))
    return out
}

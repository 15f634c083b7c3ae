// Self-tests of the integration-test client: if the client were wrong, the
// server tests built on it would prove nothing. The client is checked against
// known values, against bytes recorded from real Pomelo peers, and over
// loopback sockets against scripted peers.

import Glibc
import Foundation
import Testing

// MARK: - helpers

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// "0a05…" as bytes (recorded vectors).
func fromHex(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.makeIterator()
    while let a = it.next(), let b = it.next() {
        out.append(UInt8(String([a, b]), radix: 16)!)
    }
    return out
}

private func isViolation(_ error: TestClientError?) -> Bool {
    if case .protocolViolation? = error { return true }
    return false
}

/// JSON values in one canonical form, because JSONSerialization on Linux may
/// hand back Swift or Foundation types for the same document.
private indirect enum CanonicalJSON: Equatable {
    case null, number(Double), string(String), array([CanonicalJSON]), object([String: CanonicalJSON])

    init?(_ x: Any) {
        switch x {
        case is NSNull: self = .null
        case let s as String: self = .string(s)
        case let d as [String: Any]:
            var out: [String: CanonicalJSON] = [:]
            for (k, v) in d {
                guard let j = CanonicalJSON(v) else { return nil }
                out[k] = j
            }
            self = .object(out)
        case let a as [Any]:
            var out: [CanonicalJSON] = []
            for v in a {
                guard let j = CanonicalJSON(v) else { return nil }
                out.append(j)
            }
            self = .array(out)
        // Booleans fold into numbers; no vector depends on telling them apart.
        case let b as Bool: self = .number(b ? 1 : 0)
        case let i as Int: self = .number(Double(i))
        case let d as Double: self = .number(d)
        case let n as NSNumber: self = .number(n.doubleValue)
        default: return nil
        }
    }
}

private func jsonEqual(_ a: Any, _ b: Any) -> Bool {
    guard let x = CanonicalJSON(a), let y = CanonicalJSON(b) else { return false }
    return x == y
}



func vectorsURL() -> URL {
    let candidates = [
        repositoryRoot.appendingPathComponent("Tests/Vectors/pomelo-wire.json"),
        repositoryRoot.appendingPathComponent("../shared/vectors/pomelo-wire.json"),
    ]
    return candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? candidates[0]
}

private struct WireVector: Decodable {
    let name: String
    let direction: String
    let transport: String
    let hex: String
    let note: String
    let ws_frame_hex: String?
}

private func loadVectors() throws -> [WireVector] {
    try JSONDecoder().decode([WireVector].self, from: Data(contentsOf: vectorsURL()))
}

/// Listens on 127.0.0.1 (ephemeral port), accepts one connection on a
/// thread and runs `script` on it, so the client under test talks to a peer
/// whose every byte the test controls.
private final class ScriptedServer: @unchecked Sendable {
    let port: Int
    private let listenFD: Int32
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var failure: Error?

    init(_ script: @escaping @Sendable (Int32) throws -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError.io(errno) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw TestClientError.io(e)
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listenFD = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread { [self] in
            let conn = accept(fd, nil, nil)
            if conn < 0 {
                record(TestClientError.io(errno))
            } else {
                do { try script(conn) } catch { record(error) }
                Glibc.close(conn)
            }
            done.signal()
        }
        thread.start()
    }

    private func record(_ error: Error) {
        lock.lock()
        failure = error
        lock.unlock()
    }

    /// Waits for the script to end and rethrows what it threw.
    func finish(timeout: Double = 10) throws {
        if done.wait(timeout: .now() + timeout) == .timedOut {
            throw TestClientError.timeout
        }
        Glibc.close(listenFD)
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
    }
}

/// Chunk sizes as seen by the peer's recv calls.
private final class ChunkLog: @unchecked Sendable {
    private let lock = NSLock()
    private var sizes: [Int] = []
    func add(_ n: Int) { lock.lock(); sizes.append(n); lock.unlock() }
    var all: [Int] { lock.lock(); defer { lock.unlock() }; return sizes }
}

/// Echoes with plain recv/send (not TestSocket, which is under test) until EOF.
private func echo(_ fd: Int32, log: ChunkLog) throws {
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        if n == 0 { return }
        if n < 0 {
            if errno == EINTR { continue }
            throw TestClientError.io(errno)
        }
        log.add(n)
        var off = 0
        while off < n {
            let w = buf.withUnsafeBytes { send(fd, $0.baseAddress! + off, n - off, Int32(MSG_NOSIGNAL)) }
            if w < 0 { throw TestClientError.io(errno) }
            off += w
        }
    }
}

/// Server side of a WebSocket script: reads one client frame, which must be masked.
private func readClientFrame(_ peer: TestSocket) throws -> WSFrame {
    var buf: [UInt8] = []
    while true {
        if let (frame, used) = try WebSocketTestClient.decodeFrame(buf, allowMasked: true) {
            guard frame.maskKey != nil else { throw TestClientError.protocolViolation("client frame not masked") }
            guard used == buf.count else { throw TestClientError.protocolViolation("extra bytes after frame") }
            return frame
        }
        buf += try peer.read(exactly: 1, timeout: 5)
    }
}

private func serverFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
    WebSocketTestClient.rawFrameBytes(opcode: opcode, payload: payload, fin: fin, masked: false)
}

/// Server side of the upgrade: reads the request, answers 101 with the right
/// accept value (or `acceptOverride`).
private func acceptUpgrade(_ peer: TestSocket, acceptOverride: String? = nil) throws {
    let head = String(decoding: try peer.readUntil(bytes("\r\n\r\n")), as: UTF8.self)
    guard head.hasPrefix("GET / HTTP/1.1\r\n") else { throw TestClientError.protocolViolation("bad request line") }
    var key = ""
    for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("sec-websocket-key:") {
        key = line.dropFirst("sec-websocket-key:".count).trimmingCharacters(in: .whitespaces)
    }
    let accept = acceptOverride ?? WebSocketTestClient.acceptKey(for: key)
    try peer.send(bytes(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(accept)\r\n\r\n"))
}

// MARK: - varints, packages, messages

@Suite struct PomeloCodecTests {
    static let varints: [(UInt64, [UInt8])] = [
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (300, [0xAC, 0x02]),
        (16384, [0x80, 0x80, 0x01]),
        (4_294_967_295, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        (0, [0x00]),
    ]

    @Test(arguments: varints)
    func varint(value: UInt64, encoded: [UInt8]) throws {
        #expect(PomeloWire.encodeVarint(value) == encoded)
        let (decoded, next) = try PomeloWire.decodeVarint(encoded + [0xEE], at: 0)
        #expect(decoded == value)
        #expect(next == encoded.count)
    }

    @Test func truncatedVarintIsAViolation() {
        let e = #expect(throws: TestClientError.self) { try PomeloWire.decodeVarint([0x80, 0x80]) }
        #expect(isViolation(e))
    }

    @Test func packageRoundTrip() throws {
        let big = (0..<70_000).map { UInt8(truncatingIfNeeded: $0) }
        let cases: [(UInt8, [UInt8])] = [(1, bytes("{}")), (2, []), (3, []), (4, [0, 1, 2]), (5, big)]
        for (type, body) in cases {
            let wire = PomeloWire.encodePackage(type: type, body: body)
            #expect(wire.count == 4 + body.count)
            #expect(Array(wire[1..<4]) == [UInt8(body.count >> 16), UInt8((body.count >> 8) & 0xFF), UInt8(body.count & 0xFF)])
            let decoded = try #require(try PomeloWire.decodePackage(wire[...]))
            #expect(decoded.package == PomeloPackage(type: type, body: body))
            #expect(decoded.consumed == wire.count)
        }
        let all = PomeloWire.encodePackages(cases)
        #expect(try PomeloWire.decodePackages(all).map(\.type) == [1, 2, 3, 4, 5])
    }

    @Test func incompleteAndInvalidPackages() throws {
        let wire = PomeloWire.encodePackage(type: 4, body: [1, 2, 3])
        for cut in 0..<wire.count {
            #expect(try PomeloWire.decodePackage(wire[0..<cut]) == nil)
        }
        #expect(isViolation(#expect(throws: TestClientError.self) { try PomeloWire.decodePackages(Array(wire.dropLast())) }))
        #expect(isViolation(#expect(throws: TestClientError.self) { try PomeloWire.decodePackage([6, 0, 0, 0][...]) }))
        #expect(isViolation(#expect(throws: TestClientError.self) { try PomeloWire.decodePackage([0, 0, 0, 0][...]) }))
    }

    @Test func messageFlagsAndLayout() {
        #expect(PomeloWire.encodeMessage(type: .request, id: 1, route: .code(3), body: bytes("{}"))
            == [0x01, 0x01, 0x00, 0x03] + bytes("{}"))
        #expect(PomeloWire.encodeMessage(type: .request, id: 2, route: .name("a.b"), body: [])
            == [0x00, 0x02, 0x03] + bytes("a.b"))
        #expect(PomeloWire.encodeMessage(type: .notify, route: .code(6), body: [9]) == [0x03, 0x00, 0x06, 9])
        #expect(PomeloWire.encodeMessage(type: .notify, route: .name("x"), body: []) == [0x02, 0x01, 0x78])
        #expect(PomeloWire.encodeMessage(type: .response, id: 300, body: [7]) == [0x04, 0xAC, 0x02, 7])
        #expect(PomeloWire.encodeMessage(type: .push, route: .code(0x0102), body: []) == [0x07, 0x01, 0x02])
        #expect(PomeloWire.encodeMessage(type: .push, route: .name("onChat"), body: [])[0] == 0x06)
        #expect(PomeloWire.encodeMessage(type: .response, id: 1, body: [], gzip: true)[0] == 0x14)
    }

    @Test func messageRoundTrip() throws {
        let routes: [PomeloRoute] = [.code(0), .code(7), .code(0xFFFF), .name(""), .name("connector.entryHandler.entry"),
                                     .name(String(repeating: "r", count: 255)), .name("ユーザー.登録")]
        for route in routes {
            for type in [PomeloMessageType.request, .notify, .push] {
                let id: Int? = type == .request ? 16384 : nil
                let body = bytes(#"{"k":"v"}"#)
                let m = try PomeloWire.decodeMessage(PomeloWire.encodeMessage(type: type, id: id, route: route, body: body))
                #expect(m.type == type)
                #expect(m.id == id)
                #expect(m.body == body)
                switch route {
                case .code(let c): #expect(m.routeCode == c && m.route == nil && m.isRouteCompressed)
                case .name(let n): #expect(m.route == n && m.routeCode == nil && !m.isRouteCompressed)
                }
            }
        }
        for id in [0, 1, 127, 128, 300, 16384, 4_294_967_295] {
            let m = try PomeloWire.decodeMessage(PomeloWire.encodeMessage(type: .response, id: id, body: bytes("{}")))
            #expect(m.type == .response && m.id == id && m.route == nil && m.routeCode == nil && m.body == bytes("{}"))
        }
    }

    @Test func malformedMessages() {
        for bad: [UInt8] in [[], [0x08], [0x0E], [0x00], [0x00, 0x01], [0x00, 0x01, 0x05, 0x61], [0x01, 0x01, 0x00],
                             [0x04, 0x80]] {
            #expect(isViolation(#expect(throws: TestClientError.self) { try PomeloWire.decodeMessage(bad) }),
                    "\(bad)")
        }
    }
}

// MARK: - SHA-1, WebSocket framing, HTTP heads

@Suite struct WebSocketCodecTests {
    @Test func sha1KnownAnswers() {
        #expect(TestSHA1.hex([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(TestSHA1.hex(bytes("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(TestSHA1.hex(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(TestSHA1.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        // Lengths around the padding boundary (55/56/64 bytes) take different paths.
        #expect(TestSHA1.hex([UInt8](repeating: 0x61, count: 55)) == "c1c8bbdc22796e28c0e15163d20899b65621d65a")
        #expect(TestSHA1.hex([UInt8](repeating: 0x61, count: 56)) == "c2db330f6083854c99d4b5bfb6e8f29f201be699")
        #expect(TestSHA1.hex([UInt8](repeating: 0x61, count: 64)) == "0098ba824b5c16427bd7a1122a5a442a25ec644d")
    }

    @Test func rfc6455AcceptExample() {
        // RFC 6455 section 1.3.
        #expect(WebSocketTestClient.acceptKey(for: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func randomKeyIs16BytesBase64() throws {
        let key = WebSocketTestClient.randomKey()
        #expect(try #require(Data(base64Encoded: key)).count == 16)
        #expect(key != WebSocketTestClient.randomKey())
    }

    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 70000])
    func frameRoundTrip(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let unmasked = WebSocketTestClient.rawFrameBytes(opcode: 2, payload: payload, masked: false)
        let headerLength = length < 126 ? 2 : length <= 65535 ? 4 : 10
        #expect(unmasked.count == headerLength + length)
        #expect(unmasked[0] == 0x82)
        let (f, used) = try #require(try WebSocketTestClient.decodeFrame(unmasked))
        #expect(f == WSFrame(fin: true, rsv: 0, opcode: 2, payload: payload))
        #expect(used == unmasked.count)

        let masked = WebSocketTestClient.rawFrameBytes(opcode: 1, payload: payload, fin: false, rsv: 5)
        #expect(masked.count == headerLength + 4 + length)
        #expect(masked[0] == 0x51 && masked[1] & 0x80 != 0)
        let (g, _) = try #require(try WebSocketTestClient.decodeFrame(masked, allowMasked: true))
        #expect(g.payload == payload && !g.fin && g.rsv == 5 && g.opcode == 1 && g.maskKey?.count == 4)
        #expect(isViolation(#expect(throws: TestClientError.self) { try WebSocketTestClient.decodeFrame(masked) }))
        #expect(try WebSocketTestClient.decodeFrame(Array(unmasked.dropLast())) == nil || length == 0)
    }

    @Test func maskingWithAGivenKey() {
        let frame = WebSocketTestClient.rawFrameBytes(opcode: 2, payload: [0, 0, 0, 0, 0xFF], maskKey: [1, 2, 3, 4])
        #expect(frame == [0x82, 0x85, 1, 2, 3, 4, 1, 2, 3, 4, 0xFE])
    }

    @Test func upgradeRequestOverridesDefaults() {
        let text = WebSocketTestClient.upgradeRequest(
            host: "h:1", path: "/x", key: "k", extraHeaders: [("sec-websocket-version", "8"), ("Origin", "o")])
        #expect(text == "GET /x HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: k\r\nsec-websocket-version: 8\r\nOrigin: o\r\n\r\n")
        let asBytes: [UInt8] = WebSocketTestClient.upgradeRequest(port: 8080, key: "k")
        #expect(asBytes == bytes(WebSocketTestClient.upgradeRequest(host: "127.0.0.1:8080", key: "k")))
    }

    @Test func responseHeadParsing() throws {
        let head = try HTTPResponseHead.parse(bytes(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nX-A: 1\r\nx-a:  2 \r\nContent-Length: 0\r\n\r\n"))
        #expect(head.statusCode == 400 && head.reason == "Bad Request")
        #expect(head.headers == ["content-type": "text/plain", "x-a": "1, 2", "content-length": "0"])
        #expect(head["Content-Type"] == "text/plain")
        #expect(isViolation(#expect(throws: TestClientError.self) { try HTTPResponseHead.parse(bytes("garbage\r\n\r\n")) }))
    }
}

// MARK: - recorded vectors

@Suite struct WireVectorTests {
    /// The body a note describes ("... body {json} (remark) | client: ..."):
    /// the longest prefix that parses as JSON, or the raw text when it is not JSON.
    private func noteBody(_ note: String) -> (json: Any?, text: String)? {
        guard let start = note.range(of: " body ") ?? note.range(of: "package body ") else { return nil }
        var rest = String(note[start.upperBound...])
        if let end = rest.range(of: " | client") { rest = String(rest[..<end.lowerBound]) }
        if rest.hasPrefix("{") {
            var end = rest.endIndex
            while let close = rest[..<end].lastIndex(of: "}") {
                let candidate = String(rest[...close])
                if let json = try? JSONSerialization.jsonObject(with: Data(candidate.utf8)) {
                    return (json, candidate)
                }
                end = close
            }
        }
        return (nil, rest)
    }

    private func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let m = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              m.numberOfRanges > 1, let r = Range(m.range(at: 1), in: text) else { return nil }
        return String(text[r])
    }

    private func isHTTP(_ v: WireVector) -> Bool { v.name.hasSuffix("upgrade_request") || v.name.hasSuffix("upgrade_response") }
    private func isRawFrame(_ v: WireVector) -> Bool { v.note.hasPrefix("raw WebSocket close frame") }

    @Test func everyPackageVectorDecodesAndReencodes() throws {
        let vectors = try loadVectors()
        #expect(vectors.count > 50)
        let dict = try dictionary(from: vectors)
        var checked = 0
        var bodiesCompared = 0
        var messagesChecked = 0
        for v in vectors where !isHTTP(v) && !isRawFrame(v) {
            let wire = fromHex(v.hex)
            let packages = try PomeloWire.decodePackages(wire)
            #expect(PomeloWire.encodePackages(packages.map { ($0.type, $0.body) }) == wire, "\(v.name)")
            checked += 1
            guard packages.count == 1, let p = packages.first else { continue }

            if v.note.hasPrefix("handshake ack") { #expect(p == PomeloPackage(type: 2), "\(v.name)") }
            if v.name.contains("heartbeat") { #expect(p == PomeloPackage(type: 3), "\(v.name)") }
            if v.note.hasPrefix("handshake package") { #expect(p.type == 1, "\(v.name)") }
            if v.note.hasPrefix("kick package") { #expect(p.type == 5, "\(v.name)") }

            if let (json, text) = noteBody(v.note) {
                bodiesCompared += 1
                let body = p.type == 4 ? try PomeloWire.decodeMessage(p.body).body : p.body
                if let json {
                    let actual = try JSONSerialization.jsonObject(with: Data(body))
                    #expect(jsonEqual(actual, json), "\(v.name)")
                } else {
                    #expect(String(decoding: body, as: UTF8.self) == text, "\(v.name)")
                }
            }

            guard p.type == 4 else { continue }
            let m = try PomeloWire.decodeMessage(p.body)
            messagesChecked += 1
            let kind = try #require(v.note.split(separator: " ").first.map(String.init), "\(v.name)")
            #expect(m.type == ["request": .request, "notify": .notify, "response": .response, "push": .push][kind],
                    "\(v.name)")
            if let flag = firstMatch(#"flag=0x([0-9a-fA-F]{2})"#, in: v.note) {
                #expect(m.flag == UInt8(flag, radix: 16), "\(v.name)")
            }
            if let id = firstMatch(#" id=(\d+)"#, in: v.note) { #expect(m.id == Int(id), "\(v.name)") }
            if let code = firstMatch(#"route code (\d+)"#, in: v.note) {
                #expect(m.routeCode == UInt16(code), "\(v.name)")
                if let routeName = firstMatch(#"route code \d+ \(([^)]+)\)"#, in: v.note) {
                    #expect(dict[routeName] == Int(code), "\(v.name): dictionary disagrees")
                }
            }
            if let route = firstMatch(#"route string "([^"]+)""#, in: v.note) { #expect(m.route == route, "\(v.name)") }
            let reencoded = PomeloWire.encodeMessage(
                type: m.type, id: m.id, route: m.routeCode.map { .code($0) } ?? m.route.map { .name($0) },
                body: m.body, gzip: m.isGzipped)
            #expect(reencoded == p.body, "\(v.name)")
        }
        #expect(checked > 60)
        #expect(bodiesCompared > 50)
        #expect(messagesChecked > 35)
    }

    private func dictionary(from vectors: [WireVector]) throws -> [String: Int] {
        let v = try #require(vectors.first { $0.name == "tcp.handshake_response" })
        let p = try #require(try PomeloWire.decodePackages(fromHex(v.hex)).first)
        let sys = try #require(try p.bodyJSON()["sys"] as? [String: Any])
        return try #require(sys["dict"] as? [String: Int])
    }

    @Test func representativeServerEntries() throws {
        let vectors = Dictionary(uniqueKeysWithValues: try loadVectors().map { ($0.name, $0) })
        func package(_ name: String) throws -> PomeloPackage {
            let v = try #require(vectors[name], "missing vector \(name)")
            #expect(v.direction == "s2c")
            let all = try PomeloWire.decodePackages(fromHex(v.hex))
            #expect(all.count == 1)
            return try #require(all.first)
        }

        for name in ["ws.response_entry", "tcp.response_entry", "lp2.response_entry"] {
            let p = try package(name)
            #expect(p.type == 4)
            let m = try PomeloWire.decodeMessage(p.body)
            #expect(m.type == .response && m.id == 1 && m.flag == 0x04 && m.route == nil && m.routeCode == nil)
            #expect(m.bodyString == #"{"code":200,"msg":"game server is ok."}"#)
        }

        let r300 = try PomeloWire.decodeMessage(try package("probe.request_id_300_response").body)
        #expect(r300.id == 300)

        for name in ["ws.kick", "tcp.kick", "lp2.kick"] {
            let p = try package(name)
            #expect(p.type == 5)
            #expect(try p.bodyJSON()["reason"] as? String == "kicked by request")
        }

        for name in ["ws.handshake_response", "tcp.handshake_response", "probe.handshake_known_dictVersion_response"] {
            let p = try package(name)
            #expect(p.type == 1)
            let json = try p.bodyJSON()
            #expect(json["code"] as? Int == 200)
            #expect((json["sys"] as? [String: Any])?["heartbeat"] as? Int == 3)
        }
        #expect(try package("probe.handshake_bad_json_response").bodyJSON()["code"] as? Int == 500)

        let push = try PomeloWire.decodeMessage(try package("tcp.push_onChat_compressed_route").body)
        #expect(push.type == .push && push.routeCode == 7 && push.id == nil && push.flag == 0x07)

        let pipelined = try #require(vectors["probe.pipelined_handshake_ack_request"])
        #expect(try PomeloWire.decodePackages(fromHex(pipelined.hex)).map(\.type) == [1, 2, 4, 3])
    }

    @Test func upgradeVectorsMatchOurAcceptKey() throws {
        let vectors = try loadVectors()
        let request = String(decoding: fromHex(try #require(vectors.first { $0.name == "ws.upgrade_request" }).hex),
                             as: UTF8.self)
        let keyLine = try #require(request.components(separatedBy: "\r\n")
            .first { $0.lowercased().hasPrefix("sec-websocket-key:") })
        let key = keyLine.dropFirst("sec-websocket-key:".count).trimmingCharacters(in: .whitespaces)
        let head = try HTTPResponseHead.parse(fromHex(try #require(vectors.first { $0.name == "ws.upgrade_response" }).hex))
        #expect(head.statusCode == 101)
        #expect(head["sec-websocket-accept"] == WebSocketTestClient.acceptKey(for: key))
        try WebSocketTestClient.verifyAcceptance(head, key: key)
    }

    @Test func webSocketFrameVectors() throws {
        for v in try loadVectors() where v.transport == "ws" {
            if isRawFrame(v) {
                let (f, used) = try #require(try WebSocketTestClient.decodeFrame(fromHex(v.hex), allowMasked: v.direction == "c2s"))
                #expect(used == v.hex.count / 2 && f.opcode == WSOpcode.close && f.fin, "\(v.name)")
                let close = try WebSocketTestClient.parseClosePayload(f.payload)
                #expect(close.code == (v.direction == "s2c" ? 1000 : nil), "\(v.name)")
            }
            guard let frameHex = v.ws_frame_hex else { continue }
            let frameBytes = fromHex(frameHex)
            let (f, used) = try #require(try WebSocketTestClient.decodeFrame(frameBytes, allowMasked: v.direction == "c2s"))
            #expect(used == frameBytes.count && f.fin && f.opcode == WSOpcode.binary, "\(v.name)")
            if v.direction == "c2s" {
                // Client frames are plain: unmasking must give the package bytes, and
                // masking them again with the recorded key must give the recorded frame.
                #expect(f.rsv == 0 && f.payload == fromHex(v.hex), "\(v.name)")
                let again = WebSocketTestClient.rawFrameBytes(opcode: 2, payload: f.payload, maskKey: f.maskKey)
                #expect(again == frameBytes, "\(v.name)")
            } else {
                // permessage-deflate was negotiated by the recorded server: RSV1 set.
                #expect(f.rsv == 4 && f.maskKey == nil, "\(v.name)")
            }
        }
    }
}

// MARK: - TestSocket over loopback

@Suite struct TestSocketLoopbackTests {
    @Test func readExactlyReadSomeAndBuffering() throws {
        let log = ChunkLog()
        let server = try ScriptedServer { try echo($0, log: log) }
        let s = try TestSocket(port: server.port)
        try s.send(bytes("hello world"))
        #expect(try s.read(exactly: 5) == bytes("hello"))
        #expect(try s.read(exactly: 6) == bytes(" world"))
        try s.send(bytes("abc"))
        var got: [UInt8] = []
        while got.count < 3 { got += try s.readSome(timeout: 2) }
        #expect(got == bytes("abc"))
        #expect(throws: TestClientError.timeout) { try s.readSome(timeout: 0.1) }
        #expect(throws: TestClientError.timeout) { try s.read(exactly: 1, timeout: 0.1) }
        s.shutdownWrite()
        #expect(s.waitForClose(timeout: 5))
        try server.finish()
    }

    @Test func readUntilKeepsTheRest() throws {
        let log = ChunkLog()
        let server = try ScriptedServer { try echo($0, log: log) }
        let s = try TestSocket(port: server.port)
        try s.send(bytes("HTTP/1.1 101 OK\r\nA: b\r\n\r\nEXTRA\r\n\r\nmore"))
        #expect(try s.readUntil(bytes("\r\n\r\n")) == bytes("HTTP/1.1 101 OK\r\nA: b\r\n\r\n"))
        #expect(try s.read(exactly: 5) == bytes("EXTRA"))
        #expect(try s.readUntil(bytes("\r\n\r\n")) == bytes("\r\n\r\n"))
        #expect(try s.read(exactly: 4) == bytes("more"))
        // A delimiter split across writes must still be found.
        try s.sendByteByByte(bytes("x\r\n\r\ny"), pause: 3_000)
        #expect(try s.readUntil(bytes("\r\n\r\n")) == bytes("x\r\n\r\n"))
        #expect(try s.read(exactly: 1) == bytes("y"))
        s.shutdownWrite()
        #expect(s.waitForClose())
        try server.finish()
    }

    @Test func byteByByteArrivesInSeparateReads() throws {
        let log = ChunkLog()
        let server = try ScriptedServer { try echo($0, log: log) }
        let s = try TestSocket(port: server.port)
        let message = bytes("0123456789abcdefghij")
        try s.sendByteByByte(message, pause: 5_000)
        #expect(try s.read(exactly: message.count) == message)
        s.shutdownWrite()
        #expect(s.waitForClose())
        try server.finish()
        let sizes = log.all
        #expect(sizes.reduce(0, +) == message.count)
        // Scheduling on a loaded machine may merge a few; most must be single bytes.
        #expect(sizes.count >= message.count * 3 / 4, "recv sizes: \(sizes)")
    }

    @Test func waitForCloseSeesEOFAndReset() throws {
        // Peer stays open: no close within the timeout.
        let log = ChunkLog()
        let open = try ScriptedServer { try echo($0, log: log) }
        let a = try TestSocket(port: open.port)
        #expect(!a.waitForClose(timeout: 0.2))
        a.shutdownWrite()
        #expect(a.waitForClose(timeout: 5))
        #expect(throws: TestClientError.closed) { try a.readSome(timeout: 1) }
        try open.finish()

        // Peer closes with unread data: the kernel answers with RST.
        let reset = try ScriptedServer { fd in
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 5000)
            usleep(50_000)
        }
        let b = try TestSocket(port: reset.port)
        try b.send(bytes("unread"))
        #expect(b.waitForClose(timeout: 5))
        try reset.finish()

        // Data already buffered is still readable before `.closed`.
        let talk = try ScriptedServer { fd in
            _ = bytes("bye").withUnsafeBytes { send(fd, $0.baseAddress!, 3, Int32(MSG_NOSIGNAL)) }
        }
        let c = try TestSocket(port: talk.port)
        try talk.finish()
        #expect(try c.read(exactly: 3) == bytes("bye"))
        #expect(throws: TestClientError.closed) { try c.read(exactly: 1) }
    }

    @Test func sendAfterPeerCloseThrowsInsteadOfSIGPIPE() throws {
        let server = try ScriptedServer { _ in }
        let s = try TestSocket(port: server.port)
        try server.finish()
        #expect(s.waitForClose(timeout: 5))
        // The first write may still be accepted locally; a later one must fail.
        let e = #expect(throws: TestClientError.self) {
            for _ in 0..<100 {
                try s.send([UInt8](repeating: 0, count: 1024))
                usleep(1_000)
            }
        }
        #expect(e == .closed)
    }

    @Test func connectionRefused() throws {
        let server = try ScriptedServer { _ in }
        let port = server.port
        _ = try TestSocket(port: port)
        try server.finish()  // listener closed: nobody listens on port now
        #expect(throws: TestClientError.io(ECONNREFUSED)) { try TestSocket(port: port) }
    }
}

// MARK: - WebSocket and Pomelo clients against scripted servers

@Suite struct ClientLoopbackTests {
    @Test func webSocketUpgradeMessagesAndClose() throws {
        let server = try ScriptedServer { fd in
            let peer = TestSocket(adopting: dup(fd))
            try acceptUpgrade(peer)
            let c1 = try readClientFrame(peer)
            guard c1.opcode == WSOpcode.binary, c1.payload == [1, 2, 3] else {
                throw TestClientError.protocolViolation("got \(c1)")
            }
            var out = serverFrame(WSOpcode.text, bytes("hi"))
            out += serverFrame(WSOpcode.binary, [1], fin: false)
            out += serverFrame(WSOpcode.ping, bytes("p"))
            out += serverFrame(WSOpcode.continuation, [2], fin: false)
            out += serverFrame(WSOpcode.continuation, [3])
            out += serverFrame(WSOpcode.binary, [UInt8](repeating: 9, count: 300))
            out += serverFrame(WSOpcode.close, [0x03, 0xE8] + bytes("bye"))
            try peer.sendByteByByte(Array(out.prefix(20)), pause: 500)
            try peer.send(Array(out.dropFirst(20)))
            let c2 = try readClientFrame(peer)
            guard c2.opcode == WSOpcode.close, c2.payload == [0x03, 0xE8] else {
                throw TestClientError.protocolViolation("got \(c2)")
            }
        }
        let (ws, head) = try WebSocketTestClient.connect(port: server.port)
        #expect(head.statusCode == 101)
        try ws.sendBinary([1, 2, 3])
        #expect(try ws.readMessage() == WSMessage(opcode: WSOpcode.text, payload: bytes("hi")))
        #expect(try ws.readMessage() == WSMessage(opcode: WSOpcode.ping, payload: bytes("p")))
        #expect(try ws.readMessage() == WSMessage(opcode: WSOpcode.binary, payload: [1, 2, 3]))
        let close = try ws.readClose()
        #expect(close.code == 1000 && close.reason == "bye")
        try ws.sendClose(code: 1000)
        #expect(ws.waitForClose())
        try server.finish()
    }

    @Test func wrongAcceptKeyIsRejected() throws {
        let server = try ScriptedServer { fd in
            try acceptUpgrade(TestSocket(adopting: dup(fd)), acceptOverride: "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        }
        let e = #expect(throws: TestClientError.self) { try WebSocketTestClient.connect(port: server.port) }
        #expect(isViolation(e))
        try server.finish()
    }

    @Test func refusedUpgradeIsReturned() throws {
        let server = try ScriptedServer { fd in
            let peer = TestSocket(adopting: dup(fd))
            _ = try peer.readUntil(bytes("\r\n\r\n"))
            try peer.send(bytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"))
        }
        let (ws, head) = try WebSocketTestClient.connect(port: server.port, extraHeaders: [("Sec-WebSocket-Version", "8")])
        #expect(head.statusCode == 400 && head["content-length"] == "2")
        #expect(try ws.socket.read(exactly: 2) == bytes("no"))
        #expect(ws.waitForClose())
        try server.finish()

        let raw = try ScriptedServer { fd in
            let peer = TestSocket(adopting: dup(fd))
            let req = try peer.readUntil(bytes("\r\n\r\n"))
            guard req == bytes("GET /nope HTTP/1.0\r\n\r\n") else { throw TestClientError.protocolViolation("\(req)") }
            try peer.send(bytes("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n"))
        }
        let (_, rawHead) = try WebSocketTestClient.rawHTTP(port: raw.port, request: "GET /nope HTTP/1.0\r\n\r\n", byteByByte: true)
        #expect(rawHead.statusCode == 426 && rawHead["sec-websocket-version"] == "13")
        try raw.finish()
    }

    @Test func maskedOrMalformedServerFramesAreViolations() throws {
        let server = try ScriptedServer { fd in
            let peer = TestSocket(adopting: dup(fd))
            try acceptUpgrade(peer)
            try peer.send(WebSocketTestClient.rawFrameBytes(opcode: 2, payload: [1], masked: true))
        }
        let (ws, _) = try WebSocketTestClient.connect(port: server.port)
        #expect(isViolation(#expect(throws: TestClientError.self) { try ws.readFrame() }))
        try server.finish()

        for bad in [serverFrame(WSOpcode.continuation, [1]),
                    serverFrame(WSOpcode.ping, [], fin: false),
                    serverFrame(WSOpcode.ping, [UInt8](repeating: 0, count: 126)),
                    WebSocketTestClient.rawFrameBytes(opcode: 2, payload: [], masked: false, rsv: 4),
                    serverFrame(WSOpcode.text, [0xFF]),
                    serverFrame(0x3, [])] {
            let s = try ScriptedServer { fd in
                let peer = TestSocket(adopting: dup(fd))
                try acceptUpgrade(peer)
                try peer.send(bad)
            }
            let (c, _) = try WebSocketTestClient.connect(port: s.port)
            #expect(isViolation(#expect(throws: TestClientError.self) { try c.readMessage() }), "\(bad.prefix(4))")
            try s.finish()
        }
    }

    @Test func pomeloOverTCPWithSplitAndCoalescedPackages() throws {
        let server = try ScriptedServer { fd in
            let peer = TestSocket(adopting: dup(fd))
            let hs = try peer.read(exactly: 4)
            guard hs[0] == 1 else { throw TestClientError.protocolViolation("expected handshake") }
            let n = Int(hs[1]) << 16 | Int(hs[2]) << 8 | Int(hs[3])
            let body = try PomeloWire.jsonObject(try peer.read(exactly: n))
            guard (body["sys"] as? [String: Any])?["type"] as? String == "js-websocket" else {
                throw TestClientError.protocolViolation("handshake body \(body)")
            }
            let reply = PomeloWire.encodePackage(type: 1, body: bytes(#"{"code":200,"sys":{"heartbeat":3}}"#))
            try peer.sendByteByByte(reply, pause: 200)
            guard try peer.read(exactly: 4) == [2, 0, 0, 0] else { throw TestClientError.protocolViolation("ack") }
            try peer.send([3, 0, 0, 0])
            // Request id 300 with a string route, then a notify by code, sent as one write.
            let req = PomeloWire.encodePackage(
                type: 4, body: PomeloWire.encodeMessage(type: .request, id: 300, route: .name("a.b.c"), body: bytes("{}")))
            let note = PomeloWire.encodePackage(
                type: 4, body: PomeloWire.encodeMessage(type: .notify, route: .code(6), body: bytes(#"{"n":1}"#)))
            guard try peer.read(exactly: req.count + note.count) == req + note else {
                throw TestClientError.protocolViolation("request/notify bytes")
            }
            // A push, a heartbeat and the response coalesced into one write.
            let push = PomeloWire.encodePackage(
                type: 4, body: PomeloWire.encodeMessage(type: .push, route: .code(7), body: bytes(#"{"p":1}"#)))
            let resp = PomeloWire.encodePackage(
                type: 4, body: PomeloWire.encodeMessage(type: .response, id: 300, body: bytes(#"{"code":200}"#)))
            try peer.send(push + [3, 0, 0, 0] + resp)
            try peer.send(PomeloWire.encodePackage(type: 5, body: bytes(#"{"reason":"k"}"#)))
        }
        let client = try PomeloTestClient.tcp(port: server.port)
        let hs = try client.connectAndHandshake()
        #expect(hs["code"] as? Int == 200)
        try client.sendPackages([
            (4, PomeloWire.encodeMessage(type: .request, id: 300, route: .name("a.b.c"), body: bytes("{}"))),
            (4, PomeloWire.encodeMessage(type: .notify, route: .code(6), body: bytes(#"{"n":1}"#))),
        ])
        #expect(try client.expectResponse(id: 300)["code"] as? Int == 200)
        let push = try client.readMessage()
        #expect(push.type == .push && push.routeCode == 7 && push.bodyString == #"{"p":1}"#)
        let e = #expect(throws: TestClientError.self) { try client.readMessage() }
        guard case .unexpectedPackage(let kick)? = e else {
            Issue.record("expected the kick, got \(String(describing: e))")
            return
        }
        #expect(kick.type == 5)
        #expect(client.waitForClose())
        try server.finish()
    }

    @Test func pomeloOverWebSocket() throws {
        let server = try ScriptedServer { fd in
            let peer = TestSocket(adopting: dup(fd))
            try acceptUpgrade(peer)
            let hs = try readClientFrame(peer)
            guard hs.opcode == WSOpcode.binary, let p = try PomeloWire.decodePackages(hs.payload).first, p.type == 1 else {
                throw TestClientError.protocolViolation("handshake frame \(hs)")
            }
            try peer.send(serverFrame(WSOpcode.binary, PomeloWire.encodePackages([
                (1, bytes(#"{"code":200,"sys":{"heartbeat":3}}"#)),
            ])))
            let ack = try readClientFrame(peer)
            guard ack.payload == [2, 0, 0, 0] else { throw TestClientError.protocolViolation("ack \(ack)") }
            try peer.send(serverFrame(WSOpcode.binary, [3, 0, 0, 0]))
            // sendPackages must arrive as ONE message holding both packages.
            let two = try readClientFrame(peer)
            guard try PomeloWire.decodePackages(two.payload).map(\.type) == [4, 3] else {
                throw TestClientError.protocolViolation("batched message \(two)")
            }
            let resp = PomeloWire.encodeMessage(type: .response, id: 1, body: bytes(#"{"code":200}"#))
            // Server pings; the client must answer with a pong before reading on.
            try peer.send(serverFrame(WSOpcode.ping, bytes("k")))
            try peer.send(serverFrame(WSOpcode.binary, PomeloWire.encodePackages([(3, []), (4, resp), (5, bytes("{}"))])))
            let pong = try readClientFrame(peer)
            guard pong.opcode == WSOpcode.pong, pong.payload == bytes("k") else {
                throw TestClientError.protocolViolation("pong \(pong)")
            }
            try peer.send(serverFrame(WSOpcode.close, [0x03, 0xE8]))
        }
        let client = try PomeloTestClient.websocket(port: server.port)
        try client.connectAndHandshake()
        try client.sendPackages([
            (4, PomeloWire.encodeMessage(type: .request, id: 1, route: .code(3), body: bytes("{}"))),
            (3, []),
        ])
        #expect(try client.expectResponse(id: 1)["code"] as? Int == 200)
        #expect(try client.expectPackage(type: 5).type == 5)
        #expect(throws: TestClientError.closed) { try client.readPackage() }
        #expect(client.closeFrame?.code == 1000)
        #expect(client.waitForClose())
        try server.finish()
    }

    @Test func expectNoPackageIgnoresHeartbeatsOnly() throws {
        let server = try ScriptedServer { fd in
            let peer = TestSocket(adopting: dup(fd))
            try peer.send([3, 0, 0, 0])
            usleep(400_000)
            try peer.send(PomeloWire.encodePackage(type: 5, body: []))
            _ = peer.waitForClose(timeout: 5)
        }
        let client = try PomeloTestClient.tcp(port: server.port)
        try client.expectNoPackage(within: 0.2)
        let e = #expect(throws: TestClientError.self) { try client.expectNoPackage(within: 2) }
        #expect(e == .unexpectedPackage(PomeloPackage(type: 5)))
        client.close()
        try server.finish()
    }
}

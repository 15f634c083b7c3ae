import Testing
@testable import ShaddockProtocol

@Suite struct UpgradeRequestParserTests {
    static let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

    static func head(_ requestLine: String, _ headers: [String]) -> [UInt8] {
        Array((([requestLine] + headers).map { $0 + "\r\n" }.joined() + "\r\n").utf8)
    }

    static func head(_ headers: [String]) -> [UInt8] { head("GET /chat?room=1 HTTP/1.1", headers) }

    static let goodHeaders = [
        "Host: example.com:3010", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: \(sampleKey)", "Sec-WebSocket-Version: 13", "Origin: http://example.com",
    ]

    static func goodHeaders(without prefix: String) -> [String] {
        goodHeaders.filter { !$0.lowercased().hasPrefix(prefix.lowercased()) }
    }

    static func goodHeaders(replacing prefix: String, with line: String) -> [String] {
        goodHeaders.map { $0.lowercased().hasPrefix(prefix.lowercased()) ? line : $0 }
    }

    /// A masked binary frame holding a heartbeat package, as a client sends right after the head.
    static let firstFrame: [UInt8] = [0x82, 0x84, 0x01, 0x02, 0x03, 0x04, 0x03 ^ 0x01, 0x00 ^ 0x02, 0x00 ^ 0x03, 0x00 ^ 0x04]

    static func scanOnce(_ bytes: [UInt8], maxHeadLength: Int = 8192) -> UpgradeScan {
        var p = UpgradeRequestParser(maxHeadLength: maxHeadLength)
        return bytes.withUnsafeBytes { p.scan($0) }
    }

    /// Grows one buffer a byte at a time through one parser, as the gateway
    /// does with its read buffer. Every result before the last must be needMore.
    static func scanGrowing(_ bytes: [UInt8], maxHeadLength: Int = 8192) -> UpgradeScan {
        var p = UpgradeRequestParser(maxHeadLength: maxHeadLength)
        var buffer: [UInt8] = []
        for b in bytes {
            buffer.append(b)
            let r = buffer.withUnsafeBytes { p.scan($0) }
            if r != .needMore { return r }
        }
        return .needMore
    }

    static func text(_ bytes: [UInt8], _ range: Range<Int>) -> String { Array(bytes[range]).text }

    @Test func goodRequestWithFrameBytesBehindIt() throws {
        let head = Self.head(Self.goodHeaders)
        let bytes = head + Self.firstFrame
        guard case .request(let req) = Self.scanOnce(bytes) else {
            Issue.record("not accepted: \(Self.scanOnce(bytes))")
            return
        }
        #expect(req.headLength == head.count)
        #expect(Self.text(bytes, req.key) == Self.sampleKey)
        #expect(Self.text(bytes, req.target) == "/chat?room=1")
        // The first frame starts right at headLength and is intact.
        #expect(Array(bytes[req.headLength...]) == Self.firstFrame)
        var rest = Array(bytes[req.headLength...])
        let frame = rest.withUnsafeMutableBytes { WebSocketFrameParser.scan($0, at: 0, maxPayload: 1024) }
        #expect(frame == .frame(WebSocketFrame(fin: true, opcode: .binary, payload: 6..<10, end: 10)))
        #expect(Array(rest[6...]) == [0x03, 0, 0, 0])
    }

    @Test func byteByByteWithOneParser() throws {
        let head = Self.head(Self.goodHeaders)
        let bytes = head + Self.firstFrame
        var p = UpgradeRequestParser()
        var buffer: [UInt8] = []
        for (i, b) in bytes.enumerated() {
            buffer.append(b)
            let r = buffer.withUnsafeBytes { p.scan($0) }
            if i + 1 < head.count {
                #expect(r == .needMore, "after \(i + 1) bytes")
            } else {
                guard case .request(let req) = r else {
                    Issue.record("after \(i + 1) bytes: \(r)")
                    return
                }
                #expect(req.headLength == head.count)
                #expect(Self.text(buffer, req.key) == Self.sampleKey)
                #expect(Self.text(buffer, req.target) == "/chat?room=1")
                return
            }
        }
    }

    /// A fresh parser on every prefix must agree with the incremental one.
    @Test func everyPrefixWithAFreshParser() {
        let head = Self.head(Self.goodHeaders)
        let full = Self.scanOnce(head)
        guard case .request = full else { Issue.record("\(full)"); return }
        for cut in 0..<head.count {
            #expect(Self.scanOnce(Array(head[..<cut])) == .needMore, "cut at \(cut)")
        }
        #expect(Self.scanGrowing(head) == full)
    }

    @Test func randomSplitsIntoTwoOrThreeReads() {
        let head = Self.head(Self.goodHeaders)
        let bytes = head + Self.firstFrame
        let expected = Self.scanOnce(bytes)
        var rng = SeededRandom(seed: 6455)
        for _ in 0..<200 {
            var cuts = (0..<Int.random(in: 1...2, using: &rng)).map { _ in Int.random(in: 1..<bytes.count, using: &rng) }
            cuts.sort()
            var p = UpgradeRequestParser()
            var buffer: [UInt8] = []
            var result = UpgradeScan.needMore
            var start = 0
            for end in cuts + [bytes.count] where end > start {
                buffer += bytes[start..<end]
                start = end
                result = buffer.withUnsafeBytes { p.scan($0) }
                if buffer.count < head.count { #expect(result == .needMore, "cuts \(cuts)") }
                if result != .needMore { break }
            }
            #expect(result == expected, "cuts \(cuts)")
        }
    }

    @Test func recordedNodeClientRequest() throws {
        let bytes = Vectors.named("ws.upgrade_request").bytes
        guard case .request(let req) = Self.scanGrowing(bytes) else {
            Issue.record("the recorded client's request is refused")
            return
        }
        #expect(req.headLength == bytes.count)
        #expect(Self.text(bytes, req.key) == "KQkN0TTyzb2xF4XQYGcElA==")
        #expect(Self.text(bytes, req.target) == "/")
    }

    @Test func headerNamesAndTokensIgnoreCase() {
        let headers = [
            "HOST: a", "uPgRaDe: WebSocket", "CONNECTION: UPGRADE",
            "sec-websocket-key: \(Self.sampleKey)", "SEC-WEBSOCKET-VERSION: 13",
        ]
        guard case .request(let req) = Self.scanOnce(Self.head("GET / HTTP/1.1", headers)) else {
            Issue.record("refused")
            return
        }
        #expect(Self.text(Self.head("GET / HTTP/1.1", headers), req.key) == Self.sampleKey)
    }

    @Test(arguments: [
        "Connection: keep-alive, Upgrade", "Connection: Upgrade, keep-alive", "Connection: keep-alive,upgrade",
        "Connection:Upgrade", "Connection: \t upgrade \t",
    ])
    func connectionTokenLists(_ line: String) {
        let r = Self.scanOnce(Self.head(Self.goodHeaders(replacing: "connection", with: line)))
        guard case .request = r else { Issue.record("\(line): \(r)"); return }
    }

    @Test func connectionSpreadOverTwoHeaders() {
        let headers = Self.goodHeaders(replacing: "connection", with: "Connection: keep-alive") + ["Connection: Upgrade"]
        guard case .request = Self.scanOnce(Self.head(headers)) else { Issue.record("refused"); return }
    }

    @Test func keyValueIsTrimmed() {
        let head = Self.head(Self.goodHeaders(replacing: "sec-websocket-key", with: "Sec-WebSocket-Key: \t \(Self.sampleKey)  "))
        guard case .request(let req) = Self.scanOnce(head) else { Issue.record("refused"); return }
        #expect(Self.text(head, req.key) == Self.sampleKey)
    }

    static let malformed: [(String, [UInt8])] = [
        ("no Host", head(goodHeaders(without: "host"))),
        ("no Upgrade", head(goodHeaders(without: "upgrade"))),
        ("Upgrade not websocket", head(goodHeaders(replacing: "upgrade", with: "Upgrade: h2c"))),
        ("Upgrade token is a substring", head(goodHeaders(replacing: "upgrade", with: "Upgrade: websockets"))),
        ("no Connection", head(goodHeaders(without: "connection"))),
        ("Connection without upgrade", head(goodHeaders(replacing: "connection", with: "Connection: keep-alive"))),
        ("Connection token is a substring", head(goodHeaders(replacing: "connection", with: "Connection: upgrades"))),
        ("no key", head(goodHeaders(without: "sec-websocket-key"))),
        ("key not base64", head(goodHeaders(replacing: "sec-websocket-key", with: "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="))),
        ("key of 15 bytes", head(goodHeaders(replacing: "sec-websocket-key", with: "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"))),
        ("key of 17 bytes", head(goodHeaders(replacing: "sec-websocket-key", with: "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="))),
        ("key of 18 bytes", head(goodHeaders(replacing: "sec-websocket-key", with: "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA"))),
        ("key with padding inside", head(goodHeaders(replacing: "sec-websocket-key", with: "Sec-WebSocket-Key: AAAAAAAAAA==AAAAAAAAAA=="))),
        ("key given twice", head(goodHeaders + ["Sec-WebSocket-Key: \(sampleKey)"])),
        ("HTTP/1.0", head("GET / HTTP/1.0", goodHeaders)),
        ("HTTP/2", head("GET / HTTP/2", goodHeaders)),
        ("lowercase version", head("GET / http/1.1", goodHeaders)),
        ("garbage request line", head("GARBAGE", goodHeaders)),
        ("no version", head("GET /", goodHeaders)),
        ("two spaces", head("GET  / HTTP/1.1", goodHeaders)),
        ("leading space", head(" GET / HTTP/1.1", goodHeaders)),
        ("trailing junk", head("GET / HTTP/1.1 x", goodHeaders)),
        ("bad method char", head("G(T / HTTP/1.1", goodHeaders)),
        ("bare CR ends the request line", Array("GET / HTTP/1.1\rXHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(sampleKey)\r\nSec-WebSocket-Version: 13\r\n\r\n".utf8)),
        ("header without colon", head(goodHeaders + ["X-Nothing"])),
        ("header with empty name", head(goodHeaders + [": x"])),
        ("space in header name", head(goodHeaders + ["X Y: 1"])),
        ("space before colon", head(goodHeaders(replacing: "host", with: "Host : a"))),
        ("bad header name char", head(goodHeaders + ["X@Y: 1"])),
        ("folded header line", head(goodHeaders + [" folded"])),
        ("bare CR in a header", head(goodHeaders + ["X-A: 1\rX-B: 2"])),
        ("NUL in the target", head("GET /a\u{0}b HTTP/1.1", goodHeaders)),
        ("bare LF in the target", head("GET /a\nb HTTP/1.1", goodHeaders)),
        ("control character in the target", head("GET /a\u{7F} HTTP/1.1", goodHeaders)),
        ("NUL in a header value", head(goodHeaders + ["X-A: 1\u{0}2"])),
        ("bare LF in a header value", head(goodHeaders + ["X-A: 1\nX-B: 2"])),
    ]

    @Test(arguments: malformed.map(\.0))
    func malformedIs400(_ name: String) {
        let bytes = Self.malformed.first { $0.0 == name }!.1
        let r = Self.scanOnce(bytes)
        guard case .reject(let why) = r else { Issue.record("\(name): \(r)"); return }
        #expect(why.status == 400, "\(name): \(why)")
        guard case .malformed = why else { Issue.record("\(name): \(why)"); return }
        // The verdict waits for the whole head and does not depend on how it arrived.
        #expect(Self.scanGrowing(bytes) == r, "\(name)")
    }

    /// Inputs of fuzz/'s fuzz-upgrade (less its two parameter bytes) that
    /// were accepted: a NUL as the whole target, and a NUL in the value of
    /// an unknown header.
    @Test(arguments: [
        "474554200020485454502f312e310d0a486f73743a0d0a557067726164653a776562736f636b65740d0a436f6e6e656374696f6e3a55706772"
            + "6164650d0a5365632d576562536f636b65742d4b65793a64474f7074696f6e616c42735a5342756232356a5a513d3d0d0a5365632d576562"
            + "536f636b65742d56657273696f6e3a31330d0a0d0a",
        "474554202f20485454502f312e310d0a686f73743a0d0a636f6e6e656374696f6e3a757067726164650d0a757067726164653a776562736f63"
            + "6b65740d0a7365632d776562736f636b65742d6b65793a4b6f6b4e536574797a62327846345851594763456c413d3d0d0a7365632d776562"
            + "736f636b65742d76657273696f6e3a31330d0a733a000d0a0d0a",
    ])
    func fuzzedHeadsWithNULAreRefused(_ hex: String) {
        let bytes = fromHex(hex)
        let r = Self.scanOnce(bytes)
        guard case .reject(.malformed) = r else { Issue.record("\(r)"); return }
        #expect(Self.scanGrowing(bytes) == r)
    }

    @Test(arguments: ["POST", "PUT", "HEAD", "get"])
    func otherMethodsAre405(_ method: String) {
        let r = Self.scanOnce(Self.head("\(method) / HTTP/1.1", Self.goodHeaders))
        #expect(r == .reject(.methodNotAllowed))
        #expect(UpgradeRejection.methodNotAllowed.status == 405)
    }

    @Test(arguments: ["Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 12", "Sec-WebSocket-Version: 130", "Sec-WebSocket-Version:", nil])
    func unsupportedVersionIs426(_ line: String?) {
        let headers = line.map { Self.goodHeaders(replacing: "sec-websocket-version", with: $0) }
            ?? Self.goodHeaders(without: "sec-websocket-version")
        let r = Self.scanOnce(Self.head(headers))
        #expect(r == .reject(.unsupportedVersion))
        #expect(UpgradeRejection.unsupportedVersion.status == 426)
        #expect(UpgradeResponse.rejection(.unsupportedVersion).text.contains("\r\nSec-WebSocket-Version: 13\r\n"))
    }

    @Test func headTooLargeIs431() {
        let head = Self.head(Self.goodHeaders)
        // A head of exactly the limit is fine; one byte less of room is not.
        #expect(Self.scanGrowing(head, maxHeadLength: head.count) != .reject(.headTooLarge))
        guard case .request = Self.scanOnce(head, maxHeadLength: head.count) else { Issue.record("refused at the limit"); return }
        #expect(Self.scanOnce(head, maxHeadLength: head.count - 1) == .reject(.headTooLarge))
        #expect(Self.scanGrowing(head, maxHeadLength: head.count - 1) == .reject(.headTooLarge))
        #expect(UpgradeRejection.headTooLarge.status == 431)
    }

    @Test func endlessHeadIsRefusedAtTheLimit() {
        let limit = 256
        let junk = Array("GET / HTTP/1.1\r\n".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        var p = UpgradeRequestParser(maxHeadLength: limit)
        var buffer: [UInt8] = []
        for b in junk {
            buffer.append(b)
            let r = buffer.withUnsafeBytes { p.scan($0) }
            if buffer.count < limit {
                #expect(r == .needMore)
            } else {
                #expect(r == .reject(.headTooLarge))
                return
            }
        }
    }

    @Test func bareLineFeedsNeverEndTheHead() {
        let lf = Array("GET / HTTP/1.1\nHost: a\nUpgrade: websocket\n\n".utf8)
        #expect(Self.scanOnce(lf) == .needMore)
        #expect(Self.scanOnce(lf, maxHeadLength: lf.count) == .reject(.headTooLarge))
    }
}

import Testing
@testable import ShaddockProtocol

/// `Sec-WebSocket-Protocol` in the upgrade request (a list of tokens, over
/// any number of lines) and in the 101 answer.
@Suite struct SubprotocolParsingTests {
    static func offered(_ lines: [String]) -> [String]? {
        let bytes = UpgradeRequestParserTests.head(UpgradeRequestParserTests.goodHeaders + lines)
        return bytes.withUnsafeBytes { b -> [String]? in
            guard case .request(let request) = UpgradeRequestParser.parseHead(b, length: bytes.count) else { return nil }
            return request.protocols.map { String(decoding: UnsafeRawBufferPointer(rebasing: b[$0]), as: UTF8.self) }
        }
    }

    @Test func offers() {
        #expect(Self.offered([]) == [])
        #expect(Self.offered(["Sec-WebSocket-Protocol: pomelo"]) == ["pomelo"])
        #expect(Self.offered(["Sec-WebSocket-Protocol: pomelo, chat,v2.json"]) == ["pomelo", "chat", "v2.json"])
        #expect(Self.offered(["sec-websocket-protocol: a", "Sec-WebSocket-Protocol: b , c"]) == ["a", "b", "c"])
    }

    @Test(arguments: ["Sec-WebSocket-Protocol: pomelo,,chat", "Sec-WebSocket-Protocol: a b", "Sec-WebSocket-Protocol:",
                      "Sec-WebSocket-Protocol: pomelo,", "Sec-WebSocket-Protocol: \"quoted\""])
    func badListsAreRefused(_ line: String) {
        #expect(Self.offered([line]) == nil, "\(line)")
    }

    @Test func theAnswerNamesTheChosenOne() {
        let key = Array("dGhlIHNhbXBsZSBub25jZQ==".utf8), chosen = Array("pomelo".utf8)
        let length = UpgradeResponse.switchingLength(protocolLength: chosen.count)
        var out = [UInt8](repeating: 0xEE, count: length + 2)
        let n = key.withUnsafeBytes { k in
            chosen.withUnsafeBytes { p in out.withUnsafeMutableBytes { UpgradeResponse.writeSwitching(key: k, protocol: p, into: $0) } }
        }
        #expect(n == length && out[n] == 0xEE)
        #expect(String(decoding: out[..<n], as: UTF8.self) == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: pomelo\r\n\r\n")
        #expect(UpgradeResponse.switchingLength(protocolLength: 0) == UpgradeResponse.switchingLength)
    }
}

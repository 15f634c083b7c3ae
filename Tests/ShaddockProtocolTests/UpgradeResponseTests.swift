import Foundation
import Testing
@testable import ShaddockProtocol

@Suite struct UpgradeResponseTests {
    /// RFC 6455 §1.3 gives the SHA-1 bytes (b3 7a 4f 2c ... c4 ea) and this base64.
    @Test func acceptForTheRFCSampleKey() {
        #expect(UpgradeResponse.accept(key: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func acceptMatchesTheRecordedServer() {
        let recorded = Vectors.named("ws.upgrade_response").bytes.text
        #expect(recorded.contains("Sec-WebSocket-Accept: \(UpgradeResponse.accept(key: "KQkN0TTyzb2xF4XQYGcElA=="))\r\n"))
    }

    @Test func acceptIntoABuffer() {
        let key = Array("dGhlIHNhbXBsZSBub25jZQ==".utf8)
        var out = [UInt8](repeating: 0, count: 30)
        key.withUnsafeBytes { k in out.withUnsafeMutableBytes { UpgradeResponse.accept(key: k, into: $0) } }
        #expect(Array(out[..<28]).text == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(out[28] == 0 && out[29] == 0)
    }

    @Test func switchingIsAWholeWellFormedHead() {
        let key = Array("dGhlIHNhbXBsZSBub25jZQ==".utf8)
        var out = [UInt8](repeating: 0xEE, count: UpgradeResponse.switchingLength + 4)
        let n = key.withUnsafeBytes { k in out.withUnsafeMutableBytes { UpgradeResponse.writeSwitching(key: k, into: $0) } }
        #expect(n == UpgradeResponse.switchingLength)
        #expect(Array(out[n...]) == [0xEE, 0xEE, 0xEE, 0xEE])
        let head = Array(out[..<n]).text
        #expect(head == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
        // Exactly one blank line, at the very end.
        #expect(head.components(separatedBy: "\r\n\r\n").count == 2 && head.hasSuffix("\r\n\r\n"))
        #expect(!head.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    }

    /// A key that the parser found in the middle of a request buffer.
    @Test func switchingFromAParsedRequest() throws {
        let bytes = Vectors.named("ws.upgrade_request").bytes
        var parser = UpgradeRequestParser()
        guard case .request(let req) = bytes.withUnsafeBytes({ parser.scan($0) }) else {
            Issue.record("refused")
            return
        }
        var out = [UInt8](repeating: 0, count: UpgradeResponse.switchingLength)
        let n = bytes.withUnsafeBytes { b in
            out.withUnsafeMutableBytes { UpgradeResponse.writeSwitching(key: UnsafeRawBufferPointer(rebasing: b[req.key]), into: $0) }
        }
        #expect(Array(out[..<n]).text.contains("Sec-WebSocket-Accept: aJdFI1Zr6hw/NKEhv93i5uQhoJM=\r\n"))
    }

    static func parse(_ bytes: [UInt8]) -> (status: String, headers: [String], body: String) {
        let text = bytes.text
        let parts = text.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        return (lines[0], Array(lines.dropFirst()), parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test(arguments: [
        (UpgradeRejection.malformed("missing Host"), "HTTP/1.1 400 Bad Request"),
        (.methodNotAllowed, "HTTP/1.1 405 Method Not Allowed"),
        (.unsupportedVersion, "HTTP/1.1 426 Upgrade Required"),
        (.headTooLarge, "HTTP/1.1 431 Request Header Fields Too Large"),
    ])
    func rejectionIsAClosingHTTPResponse(_ r: UpgradeRejection, _ statusLine: String) throws {
        let (status, headers, body) = Self.parse(UpgradeResponse.rejection(r))
        #expect(status == statusLine)
        #expect(headers.contains("Connection: close"))
        #expect(body == r.reason + "\n")
        #expect(headers.contains("Content-Length: \(body.utf8.count)"))
        #expect(headers.contains("Sec-WebSocket-Version: 13") == (r == .unsupportedVersion))
        #expect(headers.contains("Allow: GET") == (r == .methodNotAllowed))
    }

    @Test func rejectionBodyCountsBytesNotCharacters() {
        let (_, headers, body) = Self.parse(UpgradeResponse.rejection(.malformed("é")))
        #expect(body == "é\n")
        #expect(headers.contains("Content-Length: 3"))
    }
}

import CShaddockDigest

/// The server's side of the upgrade: the 101 answer and the refusals.
public enum UpgradeResponse {
    static let guid: StaticString = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Writes Sec-WebSocket-Accept for `key` (base64 of SHA-1 of key + GUID)
    /// into `out` (28 bytes).
    public static func accept(key: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 28)
        var digest = (UInt64(0), UInt64(0), UInt32(0))
        withUnsafeMutableBytes(of: &digest) { d in
            let dp = d.baseAddress!.assumingMemoryBound(to: UInt8.self)
            _ = shd_sha1(key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count,
                         guid.utf8Start, guid.utf8CodeUnitCount, dp)
            _ = shd_base64_encode(dp, Int(SHD_SHA1_LEN), out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    public static func accept(key: String) -> String {
        var k = key
        return k.withUTF8 { kb in
            var out = [UInt8](repeating: 0, count: 28)
            out.withUnsafeMutableBytes { accept(key: UnsafeRawBufferPointer(kb), into: $0) }
            return String(decoding: out, as: UTF8.self)
        }
    }

    static let switchingHead: StaticString =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
    public static let switchingLength = switchingHead.utf8CodeUnitCount + 28 + 4

    static let protocolHeader: StaticString = "\r\nSec-WebSocket-Protocol: "
    static let extensionsHeader: StaticString = "\r\nSec-WebSocket-Extensions: "

    /// The 101 response's length, with `protocolLength` bytes of a chosen
    /// subprotocol and `extensionsLength` bytes of agreed extensions (0:
    /// none).
    public static func switchingLength(protocolLength: Int, extensionsLength: Int = 0) -> Int {
        var n = switchingLength
        if protocolLength > 0 { n += protocolHeader.utf8CodeUnitCount + protocolLength }
        if extensionsLength > 0 { n += extensionsHeader.utf8CodeUnitCount + extensionsLength }
        return n
    }

    /// Writes the whole 101 response into `out` (`switchingLength(...)`
    /// bytes), naming `chosen` (a token the client offered) and the
    /// `extensions` agreed, when not nil; returns its length.
    public static func writeSwitching(key: UnsafeRawBufferPointer, protocol chosen: UnsafeRawBufferPointer? = nil,
                                      extensions: UnsafeRawBufferPointer? = nil,
                                      into out: UnsafeMutableRawBufferPointer) -> Int {
        let h = switchingHead
        var n = h.utf8CodeUnitCount
        out.baseAddress!.copyMemory(from: h.utf8Start, byteCount: n)
        accept(key: key, into: UnsafeMutableRawBufferPointer(rebasing: out[n..<n + 28]))
        n += 28
        func header(_ name: StaticString, _ value: UnsafeRawBufferPointer?) {
            guard let value, !value.isEmpty else { return }
            (out.baseAddress! + n).copyMemory(from: name.utf8Start, byteCount: name.utf8CodeUnitCount)
            n += name.utf8CodeUnitCount
            (out.baseAddress! + n).copyMemory(from: value.baseAddress!, byteCount: value.count)
            n += value.count
        }
        header(protocolHeader, chosen)
        header(extensionsHeader, extensions)
        out[n] = 13; out[n + 1] = 10; out[n + 2] = 13; out[n + 3] = 10
        return n + 4
    }

    /// The answer to a refused request; the connection closes after it.
    public static func rejection(_ r: UpgradeRejection) -> [UInt8] {
        let phrase: String
        switch r.status {
        case 400: phrase = "Bad Request"
        case 405: phrase = "Method Not Allowed"
        case 408: phrase = "Request Timeout"
        case 426: phrase = "Upgrade Required"
        case 431: phrase = "Request Header Fields Too Large"
        default: phrase = "Error"
        }
        let body = r.reason + "\n"
        var head = "HTTP/1.1 \(r.status) \(phrase)\r\nConnection: close\r\n"
        if r == .unsupportedVersion { head += "Sec-WebSocket-Version: 13\r\n" }
        if r == .methodNotAllowed { head += "Allow: GET\r\n" }
        head += "Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        return Array((head + body).utf8)
    }
}

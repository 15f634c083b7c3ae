import CShaddockLoop
import Foundation
import Testing

/// The PROXY header parser on its own (no I/O): every form of both
/// versions, fed whole, split at every byte, and one byte at a time; the
/// bytes after a header left for the transport; bad headers refused.
@Suite struct ProxyHeaderParserTests {
    enum Outcome: Equatable {
        case done(version: Int32, local: Bool, family: Int32, source: String, sourcePort: UInt16, used: Int)
        case absent, bad, more
    }

    /// Feeds `bytes` in `pieces` (lengths); returns what the parser said and
    /// how many of all the bytes the header took.
    static func parse(_ bytes: [UInt8], pieces: [Int]) -> Outcome {
        var parser = shd_proxy_parser_t()
        shd_proxy_init(&parser)
        var offset = 0
        for n in pieces {
            // A new header at each call, full of garbage, as a loop's read
            // callback has: a DONE must write every field itself.
            var header = shd_proxy_header_t()
            withUnsafeMutableBytes(of: &header) { $0.initializeMemory(as: UInt8.self, repeating: 0xA5) }
            var used = 0
            let r = bytes[offset..<offset + n].withUnsafeBufferPointer {
                shd_proxy_parse(&parser, $0.baseAddress, n, &used, &header)
            }
            switch r {
            case Int32(SHD_PROXY_MORE):
                #expect(used == n, "MORE takes every byte it was given")
                offset += n
            case Int32(SHD_PROXY_DONE):
                return .done(version: header.version, local: header.local != 0, family: header.family,
                             source: address(header), sourcePort: header.source_port, used: offset + used)
            case Int32(SHD_PROXY_ABSENT):
                #expect(used == 0)
                return .absent
            default: return .bad
            }
        }
        return .more
    }

    static func address(_ h: shd_proxy_header_t) -> String {
        guard h.local == 0 else { return "" }
        var bytes = h.source
        var text = [CChar](repeating: 0, count: 64)
        _ = withUnsafePointer(to: &bytes) { inet_ntop(h.family == 4 ? AF_INET : AF_INET6, $0, &text, 64) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whole, at every split into two, and one byte at a time: the same.
    static func everyWay(_ bytes: [UInt8]) -> Outcome {
        let whole = parse(bytes, pieces: [bytes.count])
        for split in 1..<bytes.count {
            let two = parse(bytes, pieces: [split, bytes.count - split])
            #expect(two == whole, "split at \(split)")
        }
        #expect(parse(bytes, pieces: Array(repeating: 1, count: bytes.count)) == whole, "byte by byte")
        return whole
    }

    static let after: [UInt8] = [0x01, 0x00, 0x00, 0x02, 0x7B, 0x7D]  // a Pomelo handshake follows

    @Test func versionOneForms() {
        let tcp4 = Array("PROXY TCP4 203.0.113.7 192.0.2.1 51234 3010\r\n".utf8)
        #expect(Self.everyWay(tcp4 + Self.after) == .done(version: 1, local: false, family: 4, source: "203.0.113.7",
                                                            sourcePort: 51234, used: tcp4.count))
        let tcp6 = Array("PROXY TCP6 2001:db8::7 2001:db8::1 65535 443\r\n".utf8)
        #expect(Self.everyWay(tcp6 + Self.after) == .done(version: 1, local: false, family: 6, source: "2001:db8::7",
                                                            sourcePort: 65535, used: tcp6.count))
        let unknown = Array("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 x y\r\n".utf8)
        #expect(Self.everyWay(unknown) == .done(version: 1, local: true, family: 0, source: "", sourcePort: 0, used: unknown.count))
        // The longest header the specification allows (107 bytes) is read.
        let longest = Array("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n".utf8)
        #expect(longest.count == 104)
        if case .done = Self.everyWay(longest) {} else { Issue.record("the longest header") }
    }

    @Test(arguments: [
        "PROXY TCP4 203.0.113.7 192.0.2.1 51234\r\n",          // a field missing
        "PROXY TCP4 203.0.113.7 192.0.2.1 51234 3010 9\r\n",   // one too many
        "PROXY TCP5 203.0.113.7 192.0.2.1 51234 3010\r\n",     // no such protocol
        "PROXY TCP4 2001:db8::7 192.0.2.1 51234 3010\r\n",     // IPv6 under TCP4
        "PROXY TCP4 203.0.113.7 192.0.2.1 65536 3010\r\n",     // port out of range
        "PROXY TCP4 203.0.113.7 192.0.2.1 -1 3010\r\n",
        "PROXY TCP4  203.0.113.7 192.0.2.1 1 3010\r\n",        // two spaces
        "PROXY TCP4 203.0.113.7 192.0.2.1 1 3010\n",           // LF without CR
        "PROXZ TCP4 203.0.113.7 192.0.2.1 1 3010\r\n",         // not the prefix
        "PROXY TCP4 203.0.113.7 192.0.2.1 1 3010" + String(repeating: " ", count: 80) + "\r\n",  // no CRLF within 107
    ])
    func versionOneRefusals(_ text: String) {
        #expect(Self.everyWay(Array(text.utf8)) == .bad, "\(text)")
    }

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    static func v2(_ versionCommand: UInt8, _ family: UInt8, _ body: [UInt8]) -> [UInt8] {
        signature + [versionCommand, family, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
    }

    @Test func versionTwoForms() {
        // TCP over IPv4, with TLVs (ALPN, authority, a NOOP) skipped.
        let tlvs: [UInt8] = [0x01, 0x00, 0x02] + Array("h2".utf8) + [0x02, 0x00, 0x09] + Array("game.test".utf8) + [0x04, 0x00, 0x03, 0, 0, 0]
        let tcp4 = Self.v2(0x21, 0x11, [198, 51, 100, 9, 192, 0, 2, 1, 0xC3, 0x50, 0x0B, 0xC2] + tlvs)
        #expect(Self.everyWay(tcp4 + Self.after) == .done(version: 2, local: false, family: 4, source: "198.51.100.9",
                                                            sourcePort: 50000, used: tcp4.count))
        var six = [UInt8](repeating: 0, count: 16)
        _ = inet_pton(AF_INET6, "2001:db8::42", &six)
        let tcp6 = Self.v2(0x21, 0x21, six + [UInt8](repeating: 0, count: 16) + [0x01, 0xBB, 0x01, 0xBB])
        #expect(Self.everyWay(tcp6 + Self.after) == .done(version: 2, local: false, family: 6, source: "2001:db8::42",
                                                            sourcePort: 443, used: tcp6.count))
        // LOCAL (a health check): any address block is passed over.
        let local = Self.v2(0x20, 0x11, [127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2])
        #expect(Self.everyWay(local + Self.after) == .done(version: 2, local: true, family: 0, source: "", sourcePort: 0, used: local.count))
        let unspec = Self.v2(0x21, 0x00, [])
        #expect(Self.everyWay(unspec) == .done(version: 2, local: true, family: 0, source: "", sourcePort: 0, used: unspec.count))
        // UNIX sockets: not a TCP client, so the connection's address stands.
        let unix = Self.v2(0x21, 0x31, [UInt8](repeating: 0x41, count: 216))
        if case .done(_, let isLocal, _, _, _, _) = Self.everyWay(unix) { #expect(isLocal) } else { Issue.record("unix") }
    }

    @Test func versionTwoRefusals() {
        let address: [UInt8] = [198, 51, 100, 9, 192, 0, 2, 1, 0, 1, 0, 2]
        #expect(Self.everyWay(Self.v2(0x11, 0x11, address)) == .bad, "version 1 in a binary header")
        #expect(Self.everyWay(Self.v2(0x22, 0x11, address)) == .bad, "command 2")
        #expect(Self.everyWay(Self.v2(0x21, 0x41, address)) == .bad, "family 4")
        #expect(Self.everyWay(Self.v2(0x21, 0x11, Array(address.prefix(11)))) == .bad, "an IPv4 block too short")
        var broken = Self.v2(0x21, 0x11, address)
        broken[5] = 0x0A
        #expect(Self.everyWay(broken) == .bad, "signature")
        // A length that runs past what came: still waiting.
        let long = Self.v2(0x21, 0x11, address + [0x04, 0x00, 0x10] + [UInt8](repeating: 0, count: 16))
        #expect(Self.parse(long, pieces: [31]) == .more)
    }

    @Test func whatIsNoHeaderIsLeftAlone() {
        for first in [Array("GET / HTTP/1.1\r\n".utf8), [0x16, 0x03, 0x01], Self.after] {
            #expect(Self.parse(first, pieces: [first.count]) == .absent)
        }
    }

    @Test func trustListEntries() {
        var cidr = shd_cidr_t()
        for good in ["10.0.0.0/8", "127.0.0.1", "0.0.0.0/0", "2001:db8::/32", "::1", "::/0", "192.168.1.0/24"] {
            #expect(shd_cidr_parse(good, &cidr) == 0, "\(good)")
        }
        #expect(shd_cidr_parse("10.0.0.0/8", &cidr) == 0 && cidr.family == 4 && cidr.bits == 8)
        #expect(shd_cidr_parse("::1", &cidr) == 0 && cidr.family == 6 && cidr.bits == 128)
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "host.example", "10.0.0.0/8x", "/8"] {
            #expect(shd_cidr_parse(bad, &cidr) == -1, "\(bad)")
        }
    }
}

import CShaddockDigest

/// Why an HTTP request is not a WebSocket upgrade we accept, and the status
/// it is answered with before the connection closes.
public enum UpgradeRejection: Error, Equatable, Sendable {
    case malformed(String)
    case methodNotAllowed
    case unsupportedVersion
    case headTooLarge
    /// The head did not arrive in time (the gateway's requestHeadTimeout).
    case timedOut

    public var status: Int {
        switch self {
        case .malformed: return 400
        case .methodNotAllowed: return 405
        case .unsupportedVersion: return 426
        case .headTooLarge: return 431
        case .timedOut: return 408
        }
    }

    public var reason: String {
        switch self {
        case .malformed(let why): return why
        case .methodNotAllowed: return "only GET upgrades to WebSocket"
        case .unsupportedVersion: return "Sec-WebSocket-Version 13 required"
        case .headTooLarge: return "request head too large"
        case .timedOut: return "request head not received in time"
        }
    }
}

/// A parsed upgrade request: ranges into the request bytes, no copies.
public struct UpgradeRequest: Equatable, Sendable {
    /// The request target (path and query).
    public var target: Range<Int>
    /// The Sec-WebSocket-Key value.
    public var key: Range<Int>
    /// Bytes of the head, request line to the blank line included; the
    /// WebSocket frames start right after.
    public var headLength: Int
    /// The values of `Forwarded` and `X-Forwarded-For` header lines, in
    /// order (see `ForwardedHeader`): empty when there are none, which is
    /// the usual case (nothing is allocated then).
    public var forwarded: [Range<Int>] = []
    public var forwardedFor: [Range<Int>] = []
    /// The subprotocols offered (`Sec-WebSocket-Protocol`), each a token,
    /// in the order offered; empty when none is.
    public var protocols: [Range<Int>] = []
    /// The values of `Sec-WebSocket-Extensions` lines, in order (read by
    /// `DeflateNegotiation`); empty when there are none.
    public var extensions: [Range<Int>] = []
}

public enum UpgradeScan: Equatable, Sendable {
    case needMore
    case request(UpgradeRequest)
    case reject(UpgradeRejection)
}

/// Parses an HTTP/1.1 upgrade request (RFC 6455 §4.2.1) where it lies.
/// The only state is how far the search for the blank line got, so a head
/// that arrives a byte at a time is scanned once, not once per byte.
public struct UpgradeRequestParser: Sendable {
    public var maxHeadLength: Int
    private var searched = 0

    public init(maxHeadLength: Int = 8192) { self.maxHeadLength = maxHeadLength }

    public mutating func scan(_ bytes: UnsafeRawBufferPointer) -> UpgradeScan {
        let limit = min(bytes.count, maxHeadLength)
        var i = max(0, searched - 3)
        var end = -1
        while i + 3 < limit {
            if bytes[i + 3] == 10 && bytes[i + 2] == 13 && bytes[i + 1] == 10 && bytes[i] == 13 {
                end = i + 4
                break
            }
            i += 1
        }
        if end < 0 {
            searched = limit
            return bytes.count >= maxHeadLength ? .reject(.headTooLarge) : .needMore
        }
        return UpgradeRequestParser.parseHead(bytes, length: end)
    }

    static func parseHead(_ b: UnsafeRawBufferPointer, length: Int) -> UpgradeScan {
        // Request line: METHOD SP target SP HTTP/1.x CRLF
        // A bare CR must not end the line: the byte after it would be skipped
        // and the rest read as a header.
        guard let lineEnd = find(b, 13, from: 0, to: length), b[lineEnd + 1] == 10 else {
            return .reject(.malformed("bad request line"))
        }
        guard let sp1 = find(b, 32, from: 0, to: lineEnd), sp1 > 0,
              let sp2 = find(b, 32, from: sp1 + 1, to: lineEnd), sp2 > sp1 + 1 else {
            return .reject(.malformed("bad request line"))
        }
        for k in 0..<sp1 where !isTokenChar(b[k]) { return .reject(.malformed("bad method")) }
        // No control character in the target (RFC 9112 §3.2): a NUL or a
        // bare LF there is read differently by every server that sees it.
        for k in sp1 + 1..<sp2 where b[k] < 0x20 || b[k] == 0x7F { return .reject(.malformed("bad request target")) }
        let version = sp2 + 1..<lineEnd
        guard equals(b, version, "HTTP/1.1") else { return .reject(.malformed("HTTP/1.1 required")) }
        var hasHost = false, upgrade = false, connection = false
        var key: Range<Int>?
        var wsVersion: Range<Int>?
        var forwarded: [Range<Int>] = [], forwardedFor: [Range<Int>] = [], protocols: [Range<Int>] = []
        var extensions: [Range<Int>] = []
        var p = lineEnd + 2
        while p < length - 2 {
            guard let e = find(b, 13, from: p, to: length), b[e + 1] == 10 else { return .reject(.malformed("bad header line")) }
            guard let colon = find(b, 58, from: p, to: e), colon > p else { return .reject(.malformed("bad header line")) }
            for k in p..<colon where !isTokenChar(b[k]) { return .reject(.malformed("bad header name")) }
            // A field value with NUL or a bare LF must be refused (RFC 9110
            // §5.5); a CR here is always the end of the line.
            for k in colon + 1..<e where b[k] == 0 || b[k] == 10 { return .reject(.malformed("bad header value")) }
            let name = p..<colon
            let value = trim(b, colon + 1..<e)
            if equalsIgnoringCase(b, name, "host") {
                hasHost = true
            } else if equalsIgnoringCase(b, name, "upgrade") {
                upgrade = upgrade || containsToken(b, value, "websocket")
            } else if equalsIgnoringCase(b, name, "connection") {
                connection = connection || containsToken(b, value, "upgrade")
            } else if equalsIgnoringCase(b, name, "sec-websocket-key") {
                if key != nil { return .reject(.malformed("Sec-WebSocket-Key given twice")) }
                key = value
            } else if equalsIgnoringCase(b, name, "sec-websocket-version") {
                wsVersion = value
            } else if equalsIgnoringCase(b, name, "sec-websocket-protocol") {
                // A comma-separated list of tokens (RFC 6455 §4.1, 11.3.4).
                var start = value.lowerBound
                while start <= value.upperBound {
                    let comma = find(b, 44, from: start, to: value.upperBound) ?? value.upperBound
                    let token = trim(b, start..<comma)
                    if token.isEmpty || !token.allSatisfy({ isTokenChar(b[$0]) }) {
                        return .reject(.malformed("bad Sec-WebSocket-Protocol"))
                    }
                    protocols.append(token)
                    start = comma + 1
                }
            } else if equalsIgnoringCase(b, name, "sec-websocket-extensions") {
                extensions.append(value)
            } else if equalsIgnoringCase(b, name, "forwarded") {
                forwarded.append(value)
            } else if equalsIgnoringCase(b, name, "x-forwarded-for") {
                forwardedFor.append(value)
            }
            p = e + 2
        }
        guard equals(b, 0..<sp1, "GET") else { return .reject(.methodNotAllowed) }
        guard hasHost else { return .reject(.malformed("missing Host")) }
        guard upgrade else { return .reject(.malformed("missing Upgrade: websocket")) }
        guard connection else { return .reject(.malformed("missing Connection: Upgrade")) }
        guard let wsVersion, equals(b, wsVersion, "13") else { return .reject(.unsupportedVersion) }
        guard let key, isValidKey(b, key) else { return .reject(.malformed("bad Sec-WebSocket-Key")) }
        return .request(UpgradeRequest(target: sp1 + 1..<sp2, key: key, headLength: length,
                                       forwarded: forwarded, forwardedFor: forwardedFor, protocols: protocols,
                                       extensions: extensions))
    }

    /// The key must be base64 of 16 bytes.
    static func isValidKey(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> Bool {
        guard r.count == 24 else { return false }
        var out = (UInt64(0), UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &out) { o in
            shd_base64_decode(b.baseAddress! + r.lowerBound, r.count,
                              o.baseAddress!.assumingMemoryBound(to: UInt8.self), o.count) == 16
        }
    }

    @inline(__always) static func find(_ b: UnsafeRawBufferPointer, _ c: UInt8, from: Int, to: Int) -> Int? {
        var i = from
        while i < to {
            if b[i] == c { return i }
            i += 1
        }
        return nil
    }

    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    static func trim(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> Range<Int> {
        var lo = r.lowerBound, hi = r.upperBound
        while lo < hi, b[lo] == 32 || b[lo] == 9 { lo += 1 }
        while hi > lo, b[hi - 1] == 32 || b[hi - 1] == 9 { hi -= 1 }
        return lo..<hi
    }

    static func equals(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for k in 0..<r.count where b[r.lowerBound + k] != p[k] { return false }
        return true
    }

    static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }

    /// `s` must be lowercase.
    static func equalsIgnoringCase(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for k in 0..<r.count where lower(b[r.lowerBound + k]) != p[k] { return false }
        return true
    }

    /// Whether a comma-separated header value holds `token` (lowercase).
    static func containsToken(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ token: StaticString) -> Bool {
        var start = r.lowerBound
        while start <= r.upperBound {
            let comma = find(b, UInt8(ascii: ","), from: start, to: r.upperBound) ?? r.upperBound
            if equalsIgnoringCase(b, trim(b, start..<comma), token) { return true }
            start = comma + 1
        }
        return false
    }
}

/// What a request to the admin listener asks for, or why it is refused.
///
/// The parser is strict, as a port that only monitoring talks to can afford:
/// HTTP/1.0 or 1.1, an origin-form target (`/metrics`, a query is ignored),
/// token methods and header names, no body, no obsolete line folding, and
/// exactly one Host in HTTP/1.1 (at most one in 1.0). Anything else is a bad
/// request, decided as soon as a byte shows it: a client that sends garbage
/// is answered at once rather than at the head limit or the timeout.
enum AdminRequest: Equatable {
    case metrics(headOnly: Bool)
    case health(headOnly: Bool)
    case ready(headOnly: Bool)
    case notFound
    case methodNotAllowed
    case badRequest

    /// Parses the request head at the start of `bytes`. Nil while the head
    /// is incomplete and still valid so far; a head not complete within
    /// `maxHeadBytes` is a bad request.
    static func scan(_ bytes: UnsafeRawBufferPointer, maxHeadBytes: Int) -> AdminRequest? {
        var cursor = HeadCursor(bytes: UnsafeRawBufferPointer(rebasing: bytes.prefix(maxHeadBytes)))
        do {
            return try parse(&cursor)
        } catch .incomplete {
            return bytes.count >= maxHeadBytes ? .badRequest : nil
        } catch {
            return .badRequest
        }
    }

    private static func parse(_ c: inout HeadCursor) throws(HeadCursor.Failure) -> AdminRequest {
        // Request line: method SP target SP HTTP/1.x CRLF
        let method = try c.token()
        try c.expect(HeadCursor.space)
        let target = c.take(while: HeadCursor.isTargetByte)
        if !target.isEmpty && c.bytes[target.lowerBound] != UInt8(ascii: "/") { throw .malformed }
        try c.expect(HeadCursor.space)
        if target.isEmpty { throw .malformed }
        for byte in "HTTP/1.".utf8 { try c.expect(byte) }
        let minor = try c.next()
        if minor != UInt8(ascii: "0") && minor != UInt8(ascii: "1") { throw .malformed }
        try c.lineEnd()

        var hosts = 0
        while try c.peek() != HeadCursor.cr {
            let name = try c.token()
            try c.expect(UInt8(ascii: ":"))
            let value = c.trimmed(c.take(while: HeadCursor.isFieldByte))
            try c.lineEnd()
            if c.equalsIgnoringCase(name, "host") {
                hosts += 1
            } else if c.equalsIgnoringCase(name, "transfer-encoding") {
                throw .malformed
            } else if c.equalsIgnoringCase(name, "content-length") && !c.equals(value, "0") {
                throw .malformed
            }
        }
        try c.lineEnd()
        if hosts > 1 || (minor == UInt8(ascii: "1") && hosts == 0) { throw .malformed }

        let headOnly: Bool
        if c.equals(method, "GET") {
            headOnly = false
        } else if c.equals(method, "HEAD") {
            headOnly = true
        } else {
            return .methodNotAllowed
        }
        let path = target.lowerBound..<(c.firstIndex(of: UInt8(ascii: "?"), in: target) ?? target.upperBound)
        if c.equals(path, "/metrics") { return .metrics(headOnly: headOnly) }
        if c.equals(path, "/healthz") { return .health(headOnly: headOnly) }
        if c.equals(path, "/readyz") { return .ready(headOnly: headOnly) }
        return .notFound
    }
}

/// A position in a request head, with the reads the parser is made of. Each
/// read throws `.incomplete` when the bytes end first and `.malformed` when
/// a byte is wrong.
private struct HeadCursor {
    enum Failure: Error { case incomplete, malformed }

    static let space = UInt8(ascii: " ")
    static let cr = UInt8(13)
    static let lf = UInt8(10)

    let bytes: UnsafeRawBufferPointer
    var index = 0

    mutating func next() throws(Failure) -> UInt8 {
        let byte = try peek()
        index += 1
        return byte
    }

    func peek() throws(Failure) -> UInt8 {
        guard index < bytes.count else { throw .incomplete }
        return bytes[index]
    }

    mutating func expect(_ byte: UInt8) throws(Failure) {
        if try next() != byte { throw .malformed }
    }

    mutating func lineEnd() throws(Failure) {
        try expect(Self.cr)
        try expect(Self.lf)
    }

    mutating func take(while accepts: (UInt8) -> Bool) -> Range<Int> {
        let start = index
        while index < bytes.count && accepts(bytes[index]) { index += 1 }
        return start..<index
    }

    /// A non-empty token (RFC 9110 §5.6.2).
    mutating func token() throws(Failure) -> Range<Int> {
        let range = take(while: Self.isTokenByte)
        if range.isEmpty { _ = try peek(); throw .malformed }
        return range
    }

    func trimmed(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper && Self.isBlank(bytes[lower]) { lower += 1 }
        while upper > lower && Self.isBlank(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    func equals(_ range: Range<Int>, _ text: StaticString) -> Bool {
        compare(range, text) { $0 == $1 }
    }

    func equalsIgnoringCase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        compare(range, lowercase) { ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) == $1 }
    }

    private func compare(_ range: Range<Int>, _ text: StaticString, _ same: (UInt8, UInt8) -> Bool) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { expected in
            zip(range, expected).allSatisfy { same(bytes[$0], $1) }
        }
    }

    func firstIndex(of byte: UInt8, in range: Range<Int>) -> Int? {
        range.first { bytes[$0] == byte }
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// Visible ASCII: what an origin-form target may hold.
    static func isTargetByte(_ b: UInt8) -> Bool { b > 0x20 && b < 0x7F }

    /// Field content: visible characters, spaces, tabs and obs-text; never a
    /// control character, so a bare CR or LF cannot end a line.
    static func isFieldByte(_ b: UInt8) -> Bool { isBlank(b) || (b > 0x20 && b != 0x7F) }

    static func isBlank(_ b: UInt8) -> Bool { b == space || b == 9 }
}

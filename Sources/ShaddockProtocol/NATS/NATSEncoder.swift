/// Client → server operations, appended to a byte array. The caller reuses
/// one array per loop (cleared keeping its capacity), so once it has grown
/// nothing here allocates: subjects and payloads are copied straight in and
/// numbers are written as digits in place.
///
/// Subjects, reply subjects and queue names are written as given: check
/// them with `isValidSubject` where they come from outside, since a blank or
/// a CRLF in one would change the meaning of the whole line.
public enum NATSEncoder {
    /// "CONNECT <json>\r\n".
    public static func connect(_ json: [UInt8], into out: inout [UInt8]) {
        append("CONNECT ", to: &out)
        out.append(contentsOf: json)
        crlf(&out)
    }

    /// "PUB <subject> [reply-to] <#bytes>\r\n<payload>\r\n".
    @inlinable
    public static func publish(subject: some Collection<UInt8>, replyTo: (some Collection<UInt8>)?,
                               payload: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        publishHeader(subject: subject, replyTo: replyTo, payloadCount: payload.count, into: &out)
        out.append(contentsOf: payload)
        crlf(&out)
    }

    /// PUB without a reply subject, or with one as bytes: a `nil` reply needs
    /// a concrete type to be written without one.
    @inlinable
    public static func publish(subject: some Collection<UInt8>, replyTo: [UInt8]? = nil,
                               payload: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        publishHeader(subject: subject, replyTo: replyTo, payloadCount: payload.count, into: &out)
        out.append(contentsOf: payload)
        crlf(&out)
    }

    /// Just the control line "PUB <subject> [reply-to] <#bytes>\r\n": the
    /// caller appends the payload and "\r\n" itself, to compose the payload
    /// in place.
    @inlinable
    public static func publishHeader(subject: some Collection<UInt8>, replyTo: (some Collection<UInt8>)?,
                                     payloadCount: Int, into out: inout [UInt8]) {
        precondition(payloadCount >= 0, "a payload has a size")
        append("PUB ", to: &out)
        out.append(contentsOf: subject)
        if let replyTo {
            out.append(0x20)
            out.append(contentsOf: replyTo)
        }
        out.append(0x20)
        appendDecimal(UInt64(payloadCount), to: &out)
        crlf(&out)
    }

    /// publishHeader without a reply subject, or with one as bytes.
    @inlinable
    public static func publishHeader(subject: some Collection<UInt8>, replyTo: [UInt8]? = nil,
                                     payloadCount: Int, into out: inout [UInt8]) {
        publishHeader(subject: subject, replyTo: replyTo.map { $0[...] }, payloadCount: payloadCount, into: &out)
    }

    /// "HPUB <subject> [reply-to] <#header bytes> <#total bytes>\r\n<headers><payload>\r\n";
    /// `headers` is a whole block, as `NATSHeaders.encode` makes.
    @inlinable
    public static func hpublish(subject: some Collection<UInt8>, replyTo: (some Collection<UInt8>)?,
                                headers: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        append("HPUB ", to: &out)
        out.append(contentsOf: subject)
        if let replyTo {
            out.append(0x20)
            out.append(contentsOf: replyTo)
        }
        out.append(0x20)
        appendDecimal(UInt64(headers.count), to: &out)
        out.append(0x20)
        appendDecimal(UInt64(headers.count + payload.count), to: &out)
        crlf(&out)
        out.append(contentsOf: headers)
        out.append(contentsOf: payload)
        crlf(&out)
    }

    /// HPUB without a reply subject, or with one as bytes.
    @inlinable
    public static func hpublish(subject: some Collection<UInt8>, replyTo: [UInt8]? = nil,
                                headers: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        hpublish(subject: subject, replyTo: replyTo.map { $0[...] }, headers: headers, payload: payload, into: &out)
    }

    /// "SUB <subject> [queue group] <sid>\r\n".
    public static func subscribe(subject: String, queue: String?, sid: UInt64, into out: inout [UInt8]) {
        append("SUB ", to: &out)
        out.append(contentsOf: subject.utf8)
        if let queue {
            out.append(0x20)
            out.append(contentsOf: queue.utf8)
        }
        out.append(0x20)
        appendDecimal(sid, to: &out)
        crlf(&out)
    }

    /// "UNSUB <sid> [max_msgs]\r\n": with `max`, the server unsubscribes by
    /// itself after that many messages in all.
    public static func unsubscribe(sid: UInt64, max: Int?, into out: inout [UInt8]) {
        append("UNSUB ", to: &out)
        appendDecimal(sid, to: &out)
        if let max {
            precondition(max >= 0, "a message count is not negative")
            out.append(0x20)
            appendDecimal(UInt64(max), to: &out)
        }
        crlf(&out)
    }

    /// "PING\r\n".
    public static func ping(into out: inout [UInt8]) { append("PING\r\n", to: &out) }

    /// "PONG\r\n", the answer to the server's PING.
    public static func pong(into out: inout [UInt8]) { append("PONG\r\n", to: &out) }

    /// Whether a subject (or queue name) is a valid token list: non-empty,
    /// no whitespace or control characters, no empty tokens between dots.
    /// Wildcards, the whole tokens "*" (any one token) and ">" (all the
    /// rest, so only last), are allowed only where `wildcards` is true; a
    /// "*" or ">" inside a longer token is an ordinary character, as
    /// nats-server has it.
    @inlinable
    public static func isValidSubject(_ s: some Collection<UInt8>, wildcards: Bool) -> Bool {
        // The token being read: its length, and its byte when it has one.
        var length = 0
        var only: UInt8 = 0
        for b in s {
            if b <= 0x20 || b == 0x7F { return false }
            if b != 0x2E {
                length += 1
                only = b
                continue
            }
            // A dot ends a token, which is not empty and not ">" (something follows).
            if length == 0 || length == 1 && (only == 0x3E || only == 0x2A && !wildcards) { return false }
            length = 0
        }
        return length > 1 || length == 1 && (wildcards || only != 0x2A && only != 0x3E)
    }

    @inlinable
    static func append(_ literal: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inlinable
    static func crlf(_ out: inout [UInt8]) {
        out.append(0x0D)
        out.append(0x0A)
    }

    /// `value` in decimal, written in place.
    @inlinable
    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        var digits = 1
        var rest = value / 10
        while rest > 0 { digits += 1; rest /= 10 }
        let start = out.count
        out.append(contentsOf: repeatElement(0x30 as UInt8, count: digits))
        var v = value
        var i = start + digits - 1
        while i >= start {
            out[i] = 0x30 + UInt8(truncatingIfNeeded: v % 10)
            v /= 10
            i -= 1
        }
    }
}

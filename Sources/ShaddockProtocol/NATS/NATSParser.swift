/// The NATS client protocol, client side (docs.nats.io, "Client Protocol"):
/// what a server sends is scanned where it lies, as the Pomelo packages are.
///
/// Every server op is a control line (an op name, case-insensitive, then
/// fields separated by runs of spaces or tabs), and MSG and HMSG add a
/// payload of the declared size followed by CRLF. The scanner is stateless:
/// it looks at the bytes from an op boundary, and "need more" consumes
/// nothing, so a caller that keeps its unconsumed tail can always resume at
/// the same place. Its answer for a prefix of some bytes is either needMore
/// or the answer for the whole: a failure is reported as soon as the bytes
/// decide it (an unknown op name on its first letters, a size on its control
/// line, a bad terminator on its first byte) and never changes as more
/// arrives.
///
/// Control lines end with CRLF. nats-server itself also takes a bare LF (its
/// parser drops a CR before the LF, it does not require one), so a bare LF
/// ends a line here too; the payload's terminator must be exactly CRLF, as
/// nats-server requires.
public enum NATSError: Error, Equatable, Sendable {
    /// No line end within the limit: the line's content (without its CRLF)
    /// would be longer than `limit` bytes.
    case controlLineTooLong(limit: Int)
    /// The control line declares a payload (HMSG: headers and payload
    /// together) over the limit; decided before the payload is waited for.
    case payloadTooLarge(size: Int, limit: Int)
    /// An op name that a server does not send (client ops included).
    case badOperation
    /// Wrong number of fields, a sid or size that is not a plain decimal
    /// number, a header size over the total, arguments after PING/PONG/+OK,
    /// an INFO without its JSON.
    case badArguments
    /// The payload is not followed by CRLF.
    case missingPayloadTerminator
}

/// A delivered message; every Range indexes the scanned buffer.
public struct NATSMessage: Equatable, Sendable {
    public var subject: Range<Int>
    public var sid: UInt64
    /// nil when absent.
    public var replyTo: Range<Int>?
    /// HMSG only: the header block, from "NATS/1.0" to its final CRLFCRLF
    /// (as many bytes as the declared header size).
    public var headers: Range<Int>?
    public var payload: Range<Int>

    @inlinable
    public init(subject: Range<Int>, sid: UInt64, replyTo: Range<Int>? = nil, headers: Range<Int>? = nil, payload: Range<Int>) {
        self.subject = subject
        self.sid = sid
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }
}

public enum NATSServerOp: Equatable, Sendable {
    /// The JSON after INFO, without the blanks around it (nats-server puts a
    /// space before the CRLF).
    case info(json: Range<Int>)
    /// MSG and HMSG.
    case msg(NATSMessage)
    case ping, pong, ok
    /// The text of -ERR 'text': inside the single quotes when it has them,
    /// the whole (trimmed) argument otherwise.
    case err(message: Range<Int>)
}

public enum NATSScan: Equatable, Sendable {
    case needMore
    /// A whole op; `end` is where the next op starts.
    case op(NATSServerOp, end: Int)
    case failure(NATSError)
}

public struct NATSParser: Sendable {
    /// The longest control line, without its CRLF (nats-server's own limit
    /// for what clients send is 4096 too).
    public var maxControlLine: Int
    /// The largest payload of a MSG, or headers and payload of an HMSG;
    /// checked on the control line, before waiting for the payload.
    public var maxPayload: Int

    public init(maxControlLine: Int = 4096, maxPayload: Int = 1 << 20) {
        self.maxControlLine = maxControlLine
        self.maxPayload = maxPayload
    }

    /// Scans one server op at `offset`. Stateless over a buffer that starts
    /// at an op boundary: needMore consumes nothing.
    @inlinable
    public func scan(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> NATSScan {
        if offset >= bytes.count { return .needMore }
        // The name first: a stream that is not NATS fails on its first bytes,
        // whatever the line limit.
        let name: NATSWire.OpName
        let nameEnd: Int
        switch NATSWire.opName(bytes, at: offset) {
        case .partial: return .needMore
        case .unknown: return .failure(.badOperation)
        case .known(let n, let end): (name, nameEnd) = (n, end)
        }
        let limit = Swift.max(0, maxControlLine)
        let lineEnd: Int, next: Int
        switch NATSWire.line(bytes, at: offset, limit: limit) {
        case .needMore: return .needMore
        case .tooLong: return .failure(.controlLineTooLong(limit: limit))
        case .line(let contentEnd, let after): (lineEnd, next) = (contentEnd, after)
        }
        // The name stops at a blank or at the line's end ("PING\rX" is PING
        // with an argument, which it takes none of).
        if nameEnd < lineEnd && !NATSWire.isBlank(bytes[nameEnd]) { return .failure(.badArguments) }
        switch name {
        case .ping, .pong, .ok:
            guard NATSWire.trimmed(bytes, nameEnd..<lineEnd).isEmpty else { return .failure(.badArguments) }
            return .op(name == .ping ? .ping : name == .pong ? .pong : .ok, end: next)
        case .info:
            let json = NATSWire.trimmed(bytes, nameEnd..<lineEnd)
            if json.isEmpty { return .failure(.badArguments) }
            return .op(.info(json: json), end: next)
        case .err:
            var text = NATSWire.trimmed(bytes, nameEnd..<lineEnd)
            if text.count >= 2 && bytes[text.lowerBound] == 0x27 && bytes[text.upperBound - 1] == 0x27 {
                text = text.lowerBound + 1..<text.upperBound - 1
            }
            return .op(.err(message: text), end: next)
        case .msg, .hmsg:
            return scanMessage(bytes, fields: nameEnd..<lineEnd, headers: name == .hmsg, payloadStart: next)
        }
    }

    /// MSG <subject> <sid> [reply-to] <#bytes>, HMSG <subject> <sid>
    /// [reply-to] <#header bytes> <#total bytes>; then the payload and CRLF.
    @inlinable
    func scanMessage(_ bytes: UnsafeRawBufferPointer, fields line: Range<Int>, headers: Bool, payloadStart start: Int) -> NATSScan {
        var fields = NATSWire.Fields()
        let least = headers ? 4 : 3
        guard fields.split(bytes, line, most: least + 1), fields.count >= least else { return .failure(.badArguments) }
        let hasReply = fields.count == least + 1
        guard let sid = NATSWire.decimal(bytes, fields[1]),
              let total = NATSWire.decimal(bytes, fields[fields.count - 1]).flatMap({ Int(exactly: $0) })
        else { return .failure(.badArguments) }
        var headerCount = 0
        if headers {
            guard let h = NATSWire.decimal(bytes, fields[fields.count - 2]).flatMap({ Int(exactly: $0) }), h <= total else {
                return .failure(.badArguments)
            }
            headerCount = h
        }
        if total > maxPayload { return .failure(.payloadTooLarge(size: total, limit: maxPayload)) }
        // The terminator's bytes are checked as they arrive, so a payload of
        // the wrong size fails as soon as its first wrong byte is seen.
        // (Sizes up to Int.max are compared without overflow.)
        let remaining = bytes.count - start
        if remaining > total && bytes[start + total] != 0x0D { return .failure(.missingPayloadTerminator) }
        if remaining - 1 > total && bytes[start + total + 1] != 0x0A { return .failure(.missingPayloadTerminator) }
        if remaining - 2 < total { return .needMore }
        let message = NATSMessage(
            subject: fields[0], sid: sid, replyTo: hasReply ? fields[2] : nil,
            headers: headers ? start..<start + headerCount : nil,
            payload: start + headerCount..<start + total)
        return .op(.msg(message), end: start + total + 2)
    }
}

/// The lexical pieces the scanner and the header reader share.
@usableFromInline
enum NATSWire {
    @usableFromInline
    enum OpName: Equatable {
        case info, msg, hmsg, ping, pong, ok, err
    }

    @usableFromInline
    enum NameScan {
        /// Every byte so far begins some op name.
        case partial
        case unknown
        /// The name and where it stops.
        case known(OpName, end: Int)
    }

    /// The name whose upper-case bytes, packed big-endian, are `packed`.
    @inlinable
    static func name(packed: UInt32, count: Int) -> OpName? {
        switch (count, packed) {
        case (4, 0x494E_464F): return .info  // INFO
        case (3, 0x004D_5347): return .msg   // MSG
        case (4, 0x484D_5347): return .hmsg  // HMSG
        case (4, 0x5049_4E47): return .ping  // PING
        case (4, 0x504F_4E47): return .pong  // PONG
        case (3, 0x002B_4F4B): return .ok    // +OK
        case (4, 0x2D45_5252): return .err   // -ERR
        default: return nil
        }
    }

    /// Whether the `count` packed bytes begin some name.
    @inlinable
    static func beginsName(packed: UInt32, count: Int) -> Bool {
        func begins(_ full: UInt32, _ fullCount: Int) -> Bool {
            fullCount >= count && full >> (8 * UInt32(fullCount - count)) == packed
        }
        return begins(0x494E_464F, 4) || begins(0x004D_5347, 3) || begins(0x484D_5347, 4)
            || begins(0x5049_4E47, 4) || begins(0x504F_4E47, 4) || begins(0x002B_4F4B, 3)
            || begins(0x2D45_5252, 4)
    }

    /// The op name at `offset`: up to the first blank or line end, at most 4
    /// bytes, ASCII letters in either case.
    @inlinable
    static func opName(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> NameScan {
        var packed: UInt32 = 0
        var n = 0
        while true {
            let i = offset + n
            if i == bytes.count { return beginsName(packed: packed, count: n) ? .partial : .unknown }
            let b = bytes[i]
            if isBlank(b) || b == 0x0D || b == 0x0A { break }
            if n == 4 { return .unknown }
            packed = packed << 8 | UInt32(b >= 0x61 && b <= 0x7A ? b - 0x20 : b)
            n += 1
        }
        if let name = name(packed: packed, count: n) { return .known(name, end: offset + n) }
        return .unknown
    }

    @usableFromInline
    enum LineScan {
        case needMore
        case tooLong
        /// The content ends at `contentEnd` (before CRLF or LF); the next op
        /// starts at `next`.
        case line(contentEnd: Int, next: Int)
    }

    /// The control line at `offset`, whose content may be at most `limit`
    /// bytes. Only the first limit + 2 bytes are ever looked at, so the
    /// answer for a prefix is needMore or the answer for the whole.
    @inlinable
    static func line(_ bytes: UnsafeRawBufferPointer, at offset: Int, limit: Int) -> LineScan {
        let available = bytes.count - offset
        let window = available - 2 < limit ? available : limit + 2
        var i = offset
        let stop = offset + window
        while i < stop {
            if bytes[i] == 0x0A {
                let contentEnd = i > offset && bytes[i - 1] == 0x0D ? i - 1 : i
                return contentEnd - offset > limit ? .tooLong : .line(contentEnd: contentEnd, next: i + 1)
            }
            i += 1
        }
        // (Written so that a limit of Int.max does not overflow.)
        if available - 2 >= limit { return .tooLong }
        // limit + 1 bytes and the last is not the CR of a CRLF: the content is
        // already too long.
        if available - 1 == limit && bytes[offset + limit] != 0x0D { return .tooLong }
        return .needMore
    }

    @inlinable
    static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    /// `range` without the blanks at either end.
    @inlinable
    static func trimmed(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper && isBlank(bytes[lower]) { lower += 1 }
        while upper > lower && isBlank(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    /// A decimal number without sign, as the protocol writes sids and sizes;
    /// nil for anything else, or one that does not fit.
    @inlinable
    static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        if range.isEmpty { return nil }
        var value: UInt64 = 0
        for i in range {
            let digit = bytes[i] &- 0x30
            if digit > 9 { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    /// Up to five fields of a control line, without an allocation.
    @usableFromInline
    struct Fields {
        @usableFromInline var f0 = 0..<0, f1 = 0..<0, f2 = 0..<0, f3 = 0..<0, f4 = 0..<0
        @usableFromInline var count = 0

        @inlinable init() {}

        @inlinable
        subscript(i: Int) -> Range<Int> {
            switch i {
            case 0: return f0
            case 1: return f1
            case 2: return f2
            case 3: return f3
            default: return f4
            }
        }

        /// Splits `range` at runs of blanks; false when it has more than
        /// `most` (at most 5) fields.
        @inlinable
        mutating func split(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, most: Int) -> Bool {
            var i = range.lowerBound
            let end = range.upperBound
            while true {
                while i < end && isBlank(bytes[i]) { i += 1 }
                if i == end { return true }
                let start = i
                while i < end && !isBlank(bytes[i]) { i += 1 }
                if count == most { return false }
                switch count {
                case 0: f0 = start..<i
                case 1: f1 = start..<i
                case 2: f2 = start..<i
                case 3: f3 = start..<i
                default: f4 = start..<i
                }
                count += 1
            }
        }
    }
}

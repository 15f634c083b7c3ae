/// The header block of an HMSG (or HPUB): a status line "NATS/1.0", with a
/// status code and description when the server speaks for itself (503 no
/// responders, 408 request timeout, 100 idle heartbeat), then "Name: value"
/// lines like HTTP's, then an empty line. Read where it lies, without
/// copying: a client needs the status of every reply, and a field now and
/// then.
public enum NATSHeaders {
    /// The status code of "NATS/1.0 503" (nil when the line has no code,
    /// or the block does not start with "NATS/"), e.g. 503 for no
    /// responders, 408 timeout.
    public static func status(_ block: UnsafeRawBufferPointer) -> Int? {
        let end = lineEnd(block, from: 0)
        guard end >= 5, block[0] == 0x4E, block[1] == 0x41, block[2] == 0x54, block[3] == 0x53, block[4] == 0x2F else {
            return nil
        }
        // The version, up to a blank; then the code, a run of digits that
        // ends the line or is followed by a blank and the description.
        var i = 5
        while i < end && !NATSWire.isBlank(block[i]) { i += 1 }
        while i < end && NATSWire.isBlank(block[i]) { i += 1 }
        let start = i
        while i < end && block[i] &- 0x30 <= 9 && i - start < 9 { i += 1 }
        guard i > start, i == end || NATSWire.isBlank(block[i]) else { return nil }
        return NATSWire.decimal(block, start..<i).map { Int($0) }
    }

    /// The value of the first field `name` (an ASCII name compared without
    /// case), without the blanks around it, as a range into block; nil when
    /// there is no such field.
    public static func value(of name: String, in block: UnsafeRawBufferPointer) -> Range<Int>? {
        var name = name
        return name.withUTF8 { wanted in
            // The status line is not a field.
            var i = next(block, after: lineEnd(block, from: 0))
            while i < block.count {
                let end = lineEnd(block, from: i)
                if end == i { return nil }  // the empty line that ends the block
                if let colon = firstColon(block, i..<end), colon - i == wanted.count,
                   equalIgnoringCase(block, i, wanted) {
                    return NATSWire.trimmed(block, colon + 1..<end)
                }
                i = next(block, after: end)
            }
            return nil
        }
    }

    /// Encodes a header block "NATS/1.0\r\nK: V\r\n...\r\n". Names must be
    /// non-empty and hold no CR, LF or ':', values no CR or LF
    /// (precondition): either would make another field, or end the block.
    public static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(12 + fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 })
        out.append(contentsOf: "NATS/1.0\r\n".utf8)
        for (name, value) in fields {
            precondition(!name.isEmpty && !name.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x3A },
                         "a NATS header name is not empty and has no CR, LF or ':'")
            precondition(!value.utf8.contains { $0 == 0x0D || $0 == 0x0A }, "a NATS header value has no CR or LF")
            out.append(contentsOf: name.utf8)
            out.append(0x3A)
            out.append(0x20)
            out.append(contentsOf: value.utf8)
            out.append(0x0D)
            out.append(0x0A)
        }
        out.append(0x0D)
        out.append(0x0A)
        return out
    }

    /// Where the line from `start` ends: at its CRLF, a bare LF, or the
    /// block's end.
    static func lineEnd(_ block: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        while i < block.count && block[i] != 0x0A { i += 1 }
        return i > start && block[i - 1] == 0x0D ? i - 1 : i
    }

    /// The start of the line after the one that ends at `end`.
    static func next(_ block: UnsafeRawBufferPointer, after end: Int) -> Int {
        var i = end
        if i < block.count && block[i] == 0x0D { i += 1 }
        if i < block.count && block[i] == 0x0A { i += 1 }
        return i
    }

    static func firstColon(_ block: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        for i in range where block[i] == 0x3A { return i }
        return nil
    }

    static func equalIgnoringCase(_ block: UnsafeRawBufferPointer, _ at: Int, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        for j in 0..<wanted.count {
            var a = block[at + j], b = wanted[j]
            if a >= 0x61 && a <= 0x7A { a -= 0x20 }
            if b >= 0x61 && b <= 0x7A { b -= 0x20 }
            if a != b { return false }
        }
        return true
    }
}

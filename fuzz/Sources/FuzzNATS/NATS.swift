// fuzz-nats: what a NATS server sends, read as a client reads it (the NATS
// codec of ShaddockProtocol, Sources/ShaddockProtocol/NATS/): ops scanned
// where they lie, an op cut by a read kept whole for the next one, the
// limits decided on the control line. Each op is checked against the bytes
// it came from, scanned again on its own, and each message published again
// through the encoder and read back in the form a server delivers it.
//
// Input: [parser][read cuts][stream] (see readBothWays), the first byte
// choosing the parser's two limits.
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

/// The defaults, limits that cut through realistic ops, and the extremes.
let parsers = [
    NATSParser(),
    NATSParser(maxControlLine: 16, maxPayload: 8),
    NATSParser(maxControlLine: 0, maxPayload: 0),
    NATSParser(maxControlLine: 64, maxPayload: 1),
    NATSParser(maxControlLine: .max, maxPayload: .max),
    NATSParser(maxControlLine: 200, maxPayload: 65536),
    NATSParser(maxControlLine: 5, maxPayload: 1 << 20),
    NATSParser(maxControlLine: 4096, maxPayload: 16),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    readBothWays(data, size, limits: Array(parsers.indices)) { Reader(parser: parsers[$0]) }
}

/// An op as bytes, so that the same op read at different places compares
/// equal.
enum Event: Equatable {
    case info([UInt8])
    case msg(subject: [UInt8], sid: UInt64, replyTo: [UInt8]?, headers: [UInt8]?, payload: [UInt8])
    case ping, pong, ok
    case err([UInt8])
    case failure(NATSError)

    init(_ op: NATSServerOp, _ bytes: UnsafeRawBufferPointer) {
        switch op {
        case .info(let json): self = .info(Array(bytes[json]))
        case .msg(let m):
            self = .msg(subject: Array(bytes[m.subject]), sid: m.sid, replyTo: m.replyTo.map { Array(bytes[$0]) },
                        headers: m.headers.map { Array(bytes[$0]) }, payload: Array(bytes[m.payload]))
        case .ping: self = .ping
        case .pong: self = .pong
        case .ok: self = .ok
        case .err(let message): self = .err(Array(bytes[message]))
        }
    }
}

struct Reader: StreamReading {
    let parser: NATSParser
    var pending: [UInt8] = []
    var events: [Event] = []
    var closed = false

    mutating func scanOne(_ buffer: UnsafeMutableRawBufferPointer, arrived: [UInt8], at offset: Int) -> Int? {
        let bytes = UnsafeRawBufferPointer(buffer)
        let result = parser.scan(bytes, at: offset)
        switch result {
        case .needMore:
            return nil
        case .failure(let error):
            // The same bytes elsewhere fail the same way.
            let alone = withExactCopy(of: arrived[offset...]) { parser.scan(UnsafeRawBufferPointer($0), at: 0) }
            invariant(alone == result, "\(error) at \(offset), \(alone) alone")
            events.append(.failure(error))
            closed = true
            return nil
        case .op(let op, let end):
            expectOp(op, end: end, bytes, at: offset, parser)
            let event = Event(op, bytes)
            events.append(event)
            if case .msg(let m) = op { expectPublishedAgain(m, event, bytes, parser) }
            return end
        }
    }
}

/// Every range of an op lies in [offset, end) of the buffer, the op's bytes
/// end as the protocol says, and the op scanned on its own, in a buffer of
/// exactly its size, is the same op; without its last byte it needs more.
func expectOp(_ op: NATSServerOp, end: Int, _ bytes: UnsafeRawBufferPointer, at offset: Int, _ parser: NATSParser) {
    invariant(offset < end && end <= bytes.count, "end \(end) for an op at \(offset) of \(bytes.count)")
    func inside(_ r: Range<Int>?) -> Bool { r.map { offset <= $0.lowerBound && $0.upperBound <= end } ?? true }
    switch op {
    case .info(let json):
        invariant(inside(json) && !json.isEmpty, "INFO json \(json)")
        invariant(bytes[end - 1] == 0x0A, "a control line ends with LF")
    case .err(let message):
        invariant(inside(message), "-ERR text \(message)")
        invariant(bytes[end - 1] == 0x0A, "a control line ends with LF")
    case .ping, .pong, .ok:
        invariant(bytes[end - 1] == 0x0A, "a control line ends with LF")
    case .msg(let m):
        invariant(inside(m.subject) && inside(m.replyTo) && inside(m.headers) && inside(m.payload), "ranges of \(m)")
        invariant(!m.subject.isEmpty && m.replyTo?.isEmpty != true, "empty subject or reply in \(m)")
        invariant(m.payload.upperBound + 2 == end && bytes[end - 2] == 0x0D && bytes[end - 1] == 0x0A, "payload end of \(m)")
        invariant(m.headers.map { $0.upperBound == m.payload.lowerBound } ?? true, "headers then payload in \(m)")
        let total = m.payload.upperBound - (m.headers?.lowerBound ?? m.payload.lowerBound)
        invariant(total <= parser.maxPayload, "a \(total)-byte message over \(parser.maxPayload)")
        let lineEnd = (m.headers?.lowerBound ?? m.payload.lowerBound) - 1
        invariant(bytes[lineEnd] == 0x0A, "the payload follows the control line")
        invariant(m.subject.upperBound <= lineEnd && (m.replyTo?.upperBound ?? 0) <= lineEnd, "fields on the control line")
        if let headers = m.headers { handOnHeaders(UnsafeRawBufferPointer(rebasing: bytes[headers])) }
    }
    let own = Array(bytes[offset..<end])
    withExactCopy(of: own) { copy in
        let alone = parser.scan(UnsafeRawBufferPointer(copy), at: 0)
        invariant(alone == .op(shifted(op, by: -offset), end: end - offset), "\(op) at \(offset), \(alone) alone")
        let cut = parser.scan(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(copy)[..<(own.count - 1)]), at: 0)
        invariant(cut == .needMore, "\(cut) without the last byte of \(op)")
    }
}

func shifted(_ op: NATSServerOp, by d: Int) -> NATSServerOp {
    func s(_ r: Range<Int>) -> Range<Int> { r.lowerBound + d..<r.upperBound + d }
    switch op {
    case .info(let json): return .info(json: s(json))
    case .err(let message): return .err(message: s(message))
    case .ping, .pong, .ok: return op
    case .msg(let m):
        return .msg(NATSMessage(subject: s(m.subject), sid: m.sid, replyTo: m.replyTo.map(s), headers: m.headers.map(s), payload: s(m.payload)))
    }
}

/// What a client reads of a header block: the status, a field.
func handOnHeaders(_ block: UnsafeRawBufferPointer) {
    if let code = NATSHeaders.status(block) { invariant((0...999_999_999).contains(code), "status \(code)") }
    for name in ["Nats-Msg-Id", "nats-msg-id", "Status", ""] {
        if let r = NATSHeaders.value(of: name, in: block) {
            invariant(0 <= r.lowerBound && r.upperBound <= block.count, "\(name): \(r) in \(block.count) bytes")
        }
    }
}

/// The message published again with the encoder (PUB, or HPUB with its
/// header block), put in the form a server delivers it ("MSG subject sid
/// ..."), and scanned back with the same limits: the same message. The
/// encoder's line is never longer than the one scanned (single spaces,
/// numbers without leading zeros), so the limits cannot refuse it.
func expectPublishedAgain(_ m: NATSMessage, _ event: Event, _ bytes: UnsafeRawBufferPointer, _ parser: NATSParser) {
    let subject = bytes[m.subject]
    let replyTo = m.replyTo.map { bytes[$0] }
    var out: [UInt8] = []
    if let headers = m.headers {
        NATSEncoder.hpublish(subject: subject, replyTo: replyTo, headers: UnsafeRawBufferPointer(rebasing: bytes[headers]),
                             payload: UnsafeRawBufferPointer(rebasing: bytes[m.payload]), into: &out)
    } else {
        NATSEncoder.publish(subject: subject, replyTo: replyTo, payload: UnsafeRawBufferPointer(rebasing: bytes[m.payload]), into: &out)
    }
    let name = m.headers == nil ? 4 : 5  // "PUB " or "HPUB "
    invariant(out.starts(with: m.headers == nil ? Array("PUB ".utf8) : Array("HPUB ".utf8))
              && out[name..<name + subject.count].elementsEqual(subject), "published as \(out.prefix(64))")
    let delivered = Array((m.headers == nil ? "MSG " : "HMSG ").utf8) + subject + Array(" \(m.sid)".utf8) + out[(name + subject.count)...]
    withExactCopy(of: delivered) { copy in
        let again = parser.scan(UnsafeRawBufferPointer(copy), at: 0)
        guard case .op(let op, let end) = again else { return invariant(false, "published again, read back as \(again)") }
        invariant(end == delivered.count && Event(op, UnsafeRawBufferPointer(copy)) == event, "published again, read back differently")
    }
    // A subject valid without wildcards is valid with them.
    invariant(!NATSEncoder.isValidSubject(subject, wildcards: false) || NATSEncoder.isValidSubject(subject, wildcards: true),
              "wildcards made a subject invalid")
}

// MARK: Seeds

/// What nats-server 2.9 sends: its INFO, the replies to a client's first
/// PING, messages with and without reply subjects and headers, the 503 of a
/// request nobody answers, its own PING, an -ERR; and the same in less
/// usual spellings, cut short, or going wrong.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    let inbox = "_INBOX.Ke5p3mxPQm8TrKjNH2Fm1b.Ke5p3mxPQm8TrKjNH2Fm7s"
    let info = "INFO {\"server_id\":\"NDJWE4SOUJOJT2TY5Y2YQEOAHGAK5VIGXTGKWJSFHVCII4ITI3LBHBUV\",\"server_name\":\"nats-a\","
        + "\"version\":\"2.9.21\",\"proto\":1,\"git_commit\":\"b2e7725\",\"go\":\"go1.19.12\",\"host\":\"0.0.0.0\",\"port\":4222,"
        + "\"headers\":true,\"max_payload\":1048576,\"jetstream\":true,\"client_id\":7,\"client_ip\":\"172.18.0.1\","
        + "\"cluster\":\"demo\",\"connect_urls\":[\"172.18.0.2:4222\",\"172.18.0.3:4222\"]} \r\n"
    let session = info + "PONG\r\n+OK\r\n" + "MSG greet.joe 1 11\r\nhello world\r\n"
        + "MSG time.us.east 2 \(inbox) 0\r\n\r\n"
        + "HMSG \(inbox) 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        + "HMSG orders.new 4 _INBOX.a.b 34 39\r\nNATS/1.0\r\nNats-Msg-Id: abc-123\r\n\r\nhello\r\n"
        + "PING\r\n-ERR 'Stale Connection'\r\n"
    let gateway = "MSG shaddock.s1.loop0 1 shaddock.s2.reply.7 28\r\n{\"route\":\"chat.send\",\"id\":7}\r\n"
        + "HMSG shaddock.s1.announce 2 38 45\r\nNATS/1.0 408 Request Timeout\r\nA: b\r\n\r\n{\"n\":1}\r\n"
        + "PING\r\n"
    let spelled = "info\t{}\nmsg  a.b\t9   _R.x  3 \r\nx\r\n\r\nhmsg a 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPiNg\n+ok\r\n-err unquoted\r\n"
    let streams = [
        session, info, gateway, spelled,
        "MSG a 1 6\r\nPING\r\n\r\nMSG a 1 0\r\n\r\n",  // a payload that looks like ops
        String(decoding: session.utf8.dropLast(40), as: UTF8.self),  // cut short
        "PING\r\nPUB a 0\r\n\r\n",  // a client op
        "MSG a 1 2\r\nhiX\r\n",  // a payload of the wrong size
        "HMSG a 1 5 4\r\nNATS/\r\n",  // headers over the total
        "MSG a 1 1048577\r\n",  // over the default limit
    ].map { Array($0.utf8) }
    var out: [[UInt8]] = []
    for s in streams {
        for (parser, cut) in [(0, 0x00), (1, 0xFF), (4, 0x12), (5, 0x05), (7, 0x03)] as [(UInt8, UInt8)] { out.append([parser, cut] + s) }
    }
    return out
}

import Testing
@testable import ShaddockProtocol

/// What a scan found, as bytes rather than ranges, so that scans of the same
/// op at different places in different buffers compare equal.
enum NATSSeen: Equatable, CustomStringConvertible {
    case info(String)
    case msg(subject: String, sid: UInt64, replyTo: String?, headers: String?, payload: String)
    case ping, pong, ok
    case err(String)
    case failure(NATSError)

    init(_ op: NATSServerOp, in bytes: [UInt8]) {
        func text(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }
        switch op {
        case .info(let json): self = .info(text(json))
        case .msg(let m):
            self = .msg(subject: text(m.subject), sid: m.sid, replyTo: m.replyTo.map(text),
                        headers: m.headers.map(text), payload: text(m.payload))
        case .ping: self = .ping
        case .pong: self = .pong
        case .ok: self = .ok
        case .err(let message): self = .err(text(message))
        }
    }

    var description: String {
        switch self {
        case .info(let s): return "info(\(s.prefix(20))…)"
        case .msg(let s, let sid, let r, let h, let p): return "msg(\(s) \(sid) \(r ?? "-") h:\(h?.debugDescription ?? "-") p:\(p.debugDescription))"
        case .ping: return "ping"
        case .pong: return "pong"
        case .ok: return "ok"
        case .err(let s): return "err(\(s))"
        case .failure(let e): return "failure(\(e))"
        }
    }
}

func natsBytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct NATSParserTests {
    static func scan(_ bytes: [UInt8], at offset: Int = 0, _ parser: NATSParser = NATSParser()) -> NATSScan {
        bytes.withUnsafeBytes { parser.scan($0, at: offset) }
    }

    static func scan(_ s: String, at offset: Int = 0, _ parser: NATSParser = NATSParser()) -> NATSScan {
        scan(natsBytes(s), at: offset, parser)
    }

    /// Every op of a buffer from `offset`, until it needs more or fails;
    /// returns what was seen and where the unconsumed tail starts.
    static func scanAll(_ bytes: [UInt8], from offset: Int = 0, _ parser: NATSParser = NATSParser()) -> (seen: [NATSSeen], end: Int) {
        var seen: [NATSSeen] = []
        var offset = offset
        while true {
            switch scan(bytes, at: offset, parser) {
            case .needMore: return (seen, offset)
            case .failure(let e): return (seen + [.failure(e)], offset)
            case .op(let op, let end):
                #expect(end > offset)
                seen.append(NATSSeen(op, in: bytes))
                offset = end
            }
        }
    }

    // What a nats-server 2.9 sends, byte for byte: its INFO (with the space
    // it puts before the CRLF), the PONG to the client's first PING, +OK in
    // verbose mode, messages with and without a reply subject, the status
    // message of a request nobody answers, a message with headers, its own
    // PING, and the -ERR before it closes.
    static let info = "INFO {\"server_id\":\"NDJWE4SOUJOJT2TY5Y2YQEOAHGAK5VIGXTGKWJSFHVCII4ITI3LBHBUV\",\"server_name\":\"nats-a\","
        + "\"version\":\"2.9.21\",\"proto\":1,\"git_commit\":\"b2e7725\",\"go\":\"go1.19.12\",\"host\":\"0.0.0.0\",\"port\":4222,"
        + "\"headers\":true,\"max_payload\":1048576,\"jetstream\":true,\"client_id\":7,\"client_ip\":\"172.18.0.1\","
        + "\"cluster\":\"demo\",\"connect_urls\":[\"172.18.0.2:4222\",\"172.18.0.3:4222\",\"172.18.0.4:4222\"]} \r\n"
    static let inbox = "_INBOX.Ke5p3mxPQm8TrKjNH2Fm1b.Ke5p3mxPQm8TrKjNH2Fm7s"
    static let serverStream: [(String, NATSSeen)] = [
        (info, .info(String(decoding: natsBytes(info).dropFirst(5).dropLast(3), as: UTF8.self))),
        ("PONG\r\n", .pong),
        ("+OK\r\n", .ok),
        ("MSG greet.joe 1 11\r\nhello world\r\n", .msg(subject: "greet.joe", sid: 1, replyTo: nil, headers: nil, payload: "hello world")),
        ("MSG time.us.east 2 \(inbox) 0\r\n\r\n", .msg(subject: "time.us.east", sid: 2, replyTo: inbox, headers: nil, payload: "")),
        ("HMSG \(inbox) 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
         .msg(subject: inbox, sid: 3, replyTo: nil, headers: "NATS/1.0 503\r\n\r\n", payload: "")),
        ("HMSG orders.new 4 _INBOX.a.b 34 39\r\nNATS/1.0\r\nNats-Msg-Id: abc-123\r\n\r\nhello\r\n",
         .msg(subject: "orders.new", sid: 4, replyTo: "_INBOX.a.b", headers: "NATS/1.0\r\nNats-Msg-Id: abc-123\r\n\r\n", payload: "hello")),
        ("PING\r\n", .ping),
        ("-ERR 'Stale Connection'\r\n", .err("Stale Connection")),
    ]
    static var stream: [UInt8] { serverStream.flatMap { natsBytes($0.0) } }

    @Test func serverStreamScansOpByOp() {
        let bytes = Self.stream
        let (seen, end) = Self.scanAll(bytes)
        #expect(seen == Self.serverStream.map(\.1))
        #expect(end == bytes.count)
    }

    @Test(arguments: [("PING\r\n", NATSServerOp.ping), ("ping\r\n", .ping), ("PiNg\r\n", .ping), ("PONG\r\n", .pong),
                      ("pong\r\n", .pong), ("+OK\r\n", .ok), ("+ok\r\n", .ok), ("PING \t\r\n", .ping)])
    func opsWithoutArguments(_ text: String, _ op: NATSServerOp) {
        #expect(Self.scan(text) == .op(op, end: text.utf8.count))
    }

    /// nats-server ends a control line at its LF and drops a CR before it,
    /// so a bare LF is taken too; the payload's CRLF is not optional.
    @Test func bareLineFeedEndsAControlLine() {
        #expect(Self.scan("PING\nPONG\n") == .op(.ping, end: 5))
        #expect(Self.scan("PING\nPONG\n", at: 5) == .op(.pong, end: 10))
        #expect(Self.scan("MSG a 1 2\nhi\r\n") == .op(.msg(NATSMessage(subject: 4..<5, sid: 1, payload: 10..<12)), end: 14))
        #expect(Self.scan("INFO {}\n") == .op(.info(json: 5..<7), end: 8))
        #expect(Self.scan("MSG a 1 2\nhi\n") == .failure(.missingPayloadTerminator))
    }

    @Test func infoIsTheRestOfTheLine() {
        let bytes = natsBytes(Self.info)
        guard case .op(.info(let json), let end) = Self.scan(bytes) else {
            Issue.record("no INFO")
            return
        }
        #expect(end == bytes.count)
        // Without the blank nats-server puts before the CRLF.
        #expect(json == 5..<bytes.count - 3)
        #expect(bytes.withUnsafeBytes { JSON.isValid(UnsafeRawBufferPointer(rebasing: $0[json])) })
        let value = try? JSON.parse(Array(bytes[json]))
        #expect(value?["connect_urls"]?.arrayValue?.count == 3)
        #expect(value?["max_payload"] != nil)
        // Blanks inside the JSON are kept; a tab may separate it from INFO.
        #expect(Self.scan("info\t{\"a\": [1, 2]}  \r\n") == .op(.info(json: 5..<18), end: 22))
    }

    @Test func msgWithAndWithoutReply() {
        #expect(Self.scan("MSG foo.bar 9 11\r\nhello world\r\n")
                == .op(.msg(NATSMessage(subject: 4..<11, sid: 9, payload: 18..<29)), end: 31))
        #expect(Self.scan("MSG foo.bar 9 _INBOX.x 5\r\nhello\r\n")
                == .op(.msg(NATSMessage(subject: 4..<11, sid: 9, replyTo: 14..<22, payload: 26..<31)), end: 33))
        #expect(Self.scan("msg a 1 0\r\n\r\n") == .op(.msg(NATSMessage(subject: 4..<5, sid: 1, payload: 11..<11)), end: 13))
    }

    @Test func fieldsAreSeparatedByRunsOfSpacesAndTabs() {
        let text = "MSG\t foo.bar \t 9  _INBOX.x\t\t5 \t\r\nhello\r\n"
        let bytes = natsBytes(text)
        guard case .op(.msg(let m), let end) = Self.scan(bytes) else {
            Issue.record("no MSG")
            return
        }
        #expect(NATSSeen(.msg(m), in: bytes) == .msg(subject: "foo.bar", sid: 9, replyTo: "_INBOX.x", headers: nil, payload: "hello"))
        #expect(end == bytes.count)
        // Leading zeros are still decimal numbers.
        #expect(Self.scan("MSG a 007 02\r\nhi\r\n") == .op(.msg(NATSMessage(subject: 4..<5, sid: 7, payload: 14..<16)), end: 18))
    }

    /// A request with no responders: nats-server 2.9 answers on the reply
    /// subject with a header-only 503 status.
    @Test func noRespondersStatus() {
        let text = "HMSG \(Self.inbox) 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        let bytes = natsBytes(text)
        let start = text.utf8.count - 18
        let expected = NATSMessage(subject: 5..<5 + Self.inbox.utf8.count, sid: 3, headers: start..<start + 16, payload: start + 16..<start + 16)
        #expect(Self.scan(bytes) == .op(.msg(expected), end: bytes.count))
        let status = bytes.withUnsafeBytes { NATSHeaders.status(UnsafeRawBufferPointer(rebasing: $0[start..<start + 16])) }
        #expect(status == 503)
    }

    @Test func hmsgSplitsHeadersFromPayload() {
        let text = "HMSG orders.new 4 _INBOX.a.b 34 39\r\nNATS/1.0\r\nNats-Msg-Id: abc-123\r\n\r\nhello\r\n"
        let bytes = natsBytes(text)
        guard case .op(.msg(let m), let end) = Self.scan(bytes), let headers = m.headers else {
            Issue.record("no HMSG")
            return
        }
        #expect(end == bytes.count)
        #expect(m.sid == 4)
        #expect(headers.upperBound == m.payload.lowerBound)
        #expect(String(decoding: bytes[m.payload], as: UTF8.self) == "hello")
        let id = bytes.withUnsafeBytes { raw -> String? in
            let block = UnsafeRawBufferPointer(rebasing: raw[headers])
            return NATSHeaders.value(of: "nats-msg-id", in: block).map { String(decoding: block[$0], as: UTF8.self) }
        }
        #expect(id == "abc-123")
        // A header size of 0 (nothing but the status line is required by the
        // parser) and one equal to the total are both in range.
        #expect(Self.scan("HMSG a 1 0 2\r\nhi\r\n") == .op(.msg(NATSMessage(subject: 5..<6, sid: 1, headers: 14..<14, payload: 14..<16)), end: 18))
        #expect(Self.scan("HMSG a 1 r 2 2\r\nhi\r\n") == .op(.msg(NATSMessage(subject: 5..<6, sid: 1, replyTo: 9..<10, headers: 16..<18, payload: 18..<18)), end: 20))
    }

    @Test(arguments: [
        ("-ERR 'Authorization Violation'\r\n", "Authorization Violation"),
        ("-err 'Unknown Protocol Operation'\r\n", "Unknown Protocol Operation"),
        ("-ERR \t 'Maximum Payload Violation'  \r\n", "Maximum Payload Violation"),
        ("-ERR unquoted text\r\n", "unquoted text"),
        ("-ERR ''\r\n", ""),
        ("-ERR '\r\n", "'"),
        ("-ERR\r\n", ""),
    ])
    func errTextInsideTheQuotes(_ text: String, _ message: String) {
        let bytes = natsBytes(text)
        guard case .op(.err(let range), let end) = Self.scan(bytes) else {
            Issue.record("no -ERR in \(text.debugDescription)")
            return
        }
        #expect(String(decoding: bytes[range], as: UTF8.self) == message)
        #expect(end == bytes.count)
    }

    /// The payload is skipped by its size: CRLFs and op names in it are data.
    @Test func payloadIsSkippedBySize() {
        let text = "MSG a 1 19\r\nPING\r\nMSG x 1 1\r\n\r\n\r\nPONG\r\n"
        let (seen, end) = Self.scanAll(natsBytes(text))
        #expect(seen == [.msg(subject: "a", sid: 1, replyTo: nil, headers: nil, payload: "PING\r\nMSG x 1 1\r\n\r\n"), .pong])
        #expect(end == text.utf8.count)
    }

    @Test func emptyBufferAndOffsetAtEndNeedMore() {
        #expect(Self.scan([]) == .needMore)
        #expect(Self.scan("PING\r\n", at: 6) == .needMore)
    }

    @Test func rangesIndexTheWholeBuffer() {
        let text = "PONG\r\nMSG s 5 r 3\r\nabc\r\n"
        #expect(Self.scan(text, at: 6) == .op(.msg(NATSMessage(subject: 10..<11, sid: 5, replyTo: 14..<15, payload: 19..<22)), end: 24))
    }

    /// The scanner is stateless: every proper prefix of an op says needMore.
    @Test func everyProperPrefixNeedsMore() {
        let bytes = Self.stream
        var offset = 0
        for (text, _) in Self.serverStream {
            let end = offset + text.utf8.count
            for cut in offset..<end {
                #expect(Self.scan(Array(bytes[..<cut]), at: offset) == .needMore, "\(text.prefix(12).debugDescription) cut at \(cut - offset)")
            }
            guard case .op(_, let e) = Self.scan(bytes, at: offset) else {
                Issue.record("no op at \(offset)")
                return
            }
            #expect(e == end)
            offset = end
        }
    }

    /// The stream cut at every byte, read the way a connection reads it: keep
    /// the unconsumed tail, scan again from its start when more arrives.
    @Test func streamSplitAtEveryByte() {
        let stream = Self.stream
        let expected = Self.serverStream.map(\.1)
        for split in 0...stream.count {
            var seen: [NATSSeen] = []
            var pending: [UInt8] = []
            for chunk in [stream[..<split], stream[split...]] {
                pending += chunk
                let (got, end) = Self.scanAll(pending)
                seen += got
                pending.removeFirst(end)
            }
            #expect(seen == expected, "split at \(split)")
            #expect(pending.isEmpty)
        }
    }

    @Test func streamOneByteAtATime() {
        var seen: [NATSSeen] = []
        var pending: [UInt8] = []
        for byte in Self.stream {
            pending.append(byte)
            let (got, end) = Self.scanAll(pending)
            seen += got
            pending.removeFirst(end)
        }
        #expect(seen == Self.serverStream.map(\.1))
        #expect(pending.isEmpty)
    }

    @Test func payloadTooLargeFromTheControlLineAlone() {
        let small = NATSParser(maxPayload: 1024)
        // Nothing of the payload has arrived: the size alone decides.
        #expect(Self.scan("MSG a 1 1025\r\n", small) == .failure(.payloadTooLarge(size: 1025, limit: 1024)))
        #expect(Self.scan("MSG a 1 _INBOX.r 99999999\r\n", small) == .failure(.payloadTooLarge(size: 99_999_999, limit: 1024)))
        // HMSG: headers and payload together.
        #expect(Self.scan("HMSG a 1 1000 1025\r\n", small) == .failure(.payloadTooLarge(size: 1025, limit: 1024)))
        // At the limit it waits for the payload, then takes it.
        #expect(Self.scan("MSG a 1 1024\r\n", small) == .needMore)
        let whole = natsBytes("MSG a 1 1024\r\n") + [UInt8](repeating: 0x41, count: 1024) + natsBytes("\r\n")
        #expect(Self.scan(whole, small) == .op(.msg(NATSMessage(subject: 4..<5, sid: 1, payload: 14..<1038)), end: 1040))
        // The default is 1 MiB.
        #expect(Self.scan("MSG a 1 1048577\r\n") == .failure(.payloadTooLarge(size: 1 << 20 + 1, limit: 1 << 20)))
        #expect(Self.scan("MSG a 1 1048576\r\n") == .needMore)
    }

    @Test func controlLineLimit() {
        let p = NATSParser(maxControlLine: 16)
        // "INFO {\"a\":12345}" is exactly 16 bytes of content.
        #expect(Self.scan("INFO {\"a\":12345}\r\n", p) == .op(.info(json: 5..<16), end: 18))
        #expect(Self.scan("INFO {\"a\":12345}\n", p) == .op(.info(json: 5..<16), end: 17))
        #expect(Self.scan("INFO {\"a\":123456}\r\n", p) == .failure(.controlLineTooLong(limit: 16)))
        #expect(Self.scan("INFO {\"a\":123456}\n", p) == .failure(.controlLineTooLong(limit: 16)))
        // Without a line end: 16 bytes may still be a whole line, so may 16
        // and a CR; 17 bytes of content, or 18 bytes without an LF, never.
        #expect(Self.scan("INFO {\"a\":12345}", p) == .needMore)
        #expect(Self.scan("INFO {\"a\":12345}\r", p) == .needMore)
        #expect(Self.scan("INFO {\"a\":123456}", p) == .failure(.controlLineTooLong(limit: 16)))
        #expect(Self.scan("INFO {\"a\":12345}\rX", p) == .failure(.controlLineTooLong(limit: 16)))
        // The default, 4096, against an INFO that never ends.
        let endless = natsBytes("INFO {\"connect_urls\":[") + [UInt8](repeating: 0x20, count: 5000)
        #expect(Self.scan(Array(endless[..<4096])) == .needMore)
        #expect(Self.scan(endless) == .failure(.controlLineTooLong(limit: 4096)))
        // MSG's control line is limited too, before any payload.
        #expect(Self.scan("MSG a.very.long.subject 1 2\r\nhi\r\n", p) == .failure(.controlLineTooLong(limit: 16)))
    }

    /// Limits as large as they go do not overflow.
    @Test func hugeLimits() {
        let p = NATSParser(maxControlLine: .max, maxPayload: .max)
        #expect(Self.scan("MSG a 1 9223372036854775807\r\nxx", p) == .needMore)
        #expect(Self.scan("MSG a 1 9223372036854775808\r\n", p) == .failure(.badArguments))
        #expect(Self.scan("INFO {}", p) == .needMore)
        #expect(Self.scan("MSG a 1 2\r\nhi\r\n", p) == .op(.msg(NATSMessage(subject: 4..<5, sid: 1, payload: 11..<13)), end: 15))
    }

    static let badOperations = [
        "PUB a 2\r\nhi\r\n", "SUB a 1\r\n", "CONNECT {}\r\n", "FOO\r\n", "MSGX a 1 1\r\n", "\r\n", "\n", " PING\r\n",
        "INFOX {}\r\n", "PINGPONG\r\n", "-OK\r\n", "+ERR 'x'\r\n", "HPUB a 1 1\r\n", "M\r\n", "\u{0}PING\r\n",
    ]

    @Test(arguments: badOperations)
    func unknownOperation(_ text: String) {
        #expect(Self.scan(text) == .failure(.badOperation))
    }

    /// A name no op begins with fails on its first bytes, before any line end.
    @Test func unknownOperationFailsEarly() {
        #expect(Self.scan("X") == .failure(.badOperation))
        #expect(Self.scan("PU") == .failure(.badOperation))
        #expect(Self.scan("GET / HTTP/1.1") == .failure(.badOperation))
        #expect(Self.scan("P") == .needMore)
        #expect(Self.scan("HMS") == .needMore)
        #expect(Self.scan("-ERR") == .needMore)
        // Even when the line limit is smaller than the name.
        #expect(Self.scan("FOO", NATSParser(maxControlLine: 1)) == .failure(.badOperation))
    }

    static let badArguments = [
        "MSG a 1\r\n", "MSG\r\n", "MSG a b c 1 2\r\n", "MSG a x 1\r\n", "MSG a 1 -1\r\n", "MSG a 1 +1\r\n", "MSG a 1 1x\r\n",
        "MSG a 1 0x10\r\n", "MSG a 1 99999999999999999999999\r\n", "MSG a 18446744073709551616 1\r\n", "MSG a -1 1\r\n",
        "HMSG a 1 2\r\n", "HMSG a 1 r 1 2 3\r\n", "HMSG a 1 5 4\r\n", "HMSG a 1 r x 4\r\n", "PING x\r\n", "PONG 1\r\n",
        "+OK ok\r\n", "INFO\r\n", "INFO \t \r\n", "PING\rX\r\n", "MSG\ra 1 1\r\n",
    ]

    @Test(arguments: badArguments)
    func malformedArguments(_ text: String) {
        #expect(Self.scan(text) == .failure(.badArguments))
    }

    static let badTerminators = [
        "MSG a 1 2\r\nhiXY", "MSG a 1 2\r\nhi\rX", "MSG a 1 2\r\nhi\n\r\n", "MSG a 1 2\r\nhiX", "MSG a 1 2\r\nhi\n",
        "HMSG a 1 0 0\r\nX", "MSG a 1 0\r\nPING\r\n", "HMSG a 1 16 16\r\nNATS/1.0 503\r\n\r\nX\r\n",
    ]

    /// A payload not followed by CRLF: the size or the bytes are wrong, so
    /// nothing after them can be trusted. The first wrong byte decides.
    @Test(arguments: badTerminators)
    func missingPayloadTerminator(_ text: String) {
        #expect(Self.scan(text) == .failure(.missingPayloadTerminator))
    }

    /// A failure never depends on how much has arrived: every prefix of a
    /// bad input says needMore or already the same failure.
    @Test func failuresAreTheSameForEveryPrefix() {
        let p = NATSParser(maxControlLine: 16, maxPayload: 8)
        let inputs = Self.badOperations + Self.badArguments + Self.badTerminators
            + ["MSG a 1 9\r\n", "INFO {\"a\":123456}\r\n", "MSG a.very.long.subject 1 2\r\nhi\r\n"]
        for text in inputs {
            let bytes = natsBytes(text)
            for parser in [NATSParser(), p] {
                let whole = Self.scan(bytes, parser)
                guard case .failure = whole else { continue }
                for cut in 0..<bytes.count {
                    let part = Self.scan(Array(bytes[..<cut]), parser)
                    #expect(part == .needMore || part == whole, "\(text.debugDescription) cut at \(cut): \(part) vs \(whole)")
                }
            }
        }
    }

    /// After an op, the next one is scanned where it starts; a failure there
    /// does not change what came before.
    @Test func failureAfterGoodOps() {
        let (seen, end) = Self.scanAll(natsBytes("PING\r\nMSG a 1 1\r\nx\r\nPUB a 0\r\n\r\n"))
        #expect(seen == [.ping, .msg(subject: "a", sid: 1, replyTo: nil, headers: nil, payload: "x"), .failure(.badOperation)])
        #expect(end == 20)
    }
}

@Suite struct NATSHeadersReadingTests {
    static func status(_ s: String) -> Int? { natsBytes(s).withUnsafeBytes { NATSHeaders.status($0) } }

    static func value(_ name: String, _ s: String) -> String? {
        natsBytes(s).withUnsafeBytes { block in
            NATSHeaders.value(of: name, in: block).map { String(decoding: block[$0], as: UTF8.self) }
        }
    }

    @Test(arguments: [
        ("NATS/1.0 503\r\n\r\n", 503 as Int?),
        ("NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\n\r\n", 408),
        ("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\n\r\n", 100),
        ("NATS/1.0  404\tNo Messages\r\n\r\n", 404),
        ("NATS/1.0\r\nA: b\r\n\r\n", nil),
        ("NATS/1.0 \r\n\r\n", nil),
        ("NATS/1.0 50x\r\n\r\n", nil),
        ("HTTP/1.1 503\r\n\r\n", nil),
        ("NATS/1.0 503", 503),
        ("", nil),
        ("NATS/1.0 99999999999\r\n\r\n", nil),
    ])
    func statusLine(_ block: String, _ code: Int?) {
        #expect(Self.status(block) == code)
    }

    @Test func fieldValues() {
        let block = "NATS/1.0\r\nNats-Msg-Id: abc-123\r\nX-Empty:\r\nx-trace:  t1 \t\r\nNats-Msg-Id: second\r\n\r\n"
        #expect(Self.value("Nats-Msg-Id", block) == "abc-123")
        #expect(Self.value("NATS-MSG-ID", block) == "abc-123")
        #expect(Self.value("X-Trace", block) == "t1")
        #expect(Self.value("x-empty", block) == "")
        #expect(Self.value("Missing", block) == nil)
        #expect(Self.value("Nats-Msg", block) == nil)
        // The status line is not a field, and nothing after the empty line is.
        #expect(Self.value("NATS/1.0 503", "NATS/1.0 503: x\r\n\r\n") == nil)
        #expect(Self.value("After", "NATS/1.0\r\n\r\nAfter: x\r\n") == nil)
        #expect(Self.value("A", "NATS/1.0\nA: bare\n\n") == "bare")
    }

    @Test func valueRangeIndexesTheBlock() {
        let block = natsBytes("NATS/1.0\r\nK: v\r\n\r\n")
        #expect(block.withUnsafeBytes { NATSHeaders.value(of: "k", in: $0) } == 13..<14)
    }
}

import Testing
@testable import ShaddockProtocol

@Suite struct NATSEncoderTests {
    static func encoded(_ body: (inout [UInt8]) -> Void) -> String {
        var out: [UInt8] = []
        body(&out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func connect() {
        let json = #"{"verbose":false,"pedantic":false,"lang":"swift","version":"0.1.0","protocol":1,"headers":true,"no_responders":true}"#
        #expect(Self.encoded { NATSEncoder.connect(natsBytes(json), into: &$0) } == "CONNECT \(json)\r\n")
    }

    @Test func publish() {
        let hello = natsBytes("hello")
        hello.withUnsafeBytes { payload in
            #expect(Self.encoded { NATSEncoder.publish(subject: "greet.joe".utf8, replyTo: nil, payload: payload, into: &$0) }
                    == "PUB greet.joe 5\r\nhello\r\n")
            #expect(Self.encoded { NATSEncoder.publish(subject: "greet.joe".utf8, payload: payload, into: &$0) }
                    == "PUB greet.joe 5\r\nhello\r\n")
            #expect(Self.encoded { NATSEncoder.publish(subject: "greet.joe".utf8, replyTo: "_INBOX.x".utf8, payload: payload, into: &$0) }
                    == "PUB greet.joe _INBOX.x 5\r\nhello\r\n")
            // Arrays and slices of a larger buffer work as well as String views.
            let wire = natsBytes("xxgreet.joe _INBOX.y")
            #expect(Self.encoded { NATSEncoder.publish(subject: wire[2..<11], replyTo: wire[12...], payload: payload, into: &$0) }
                    == "PUB greet.joe _INBOX.y 5\r\nhello\r\n")
            #expect(Self.encoded { NATSEncoder.publish(subject: natsBytes("a"), replyTo: natsBytes("b"), payload: payload, into: &$0) }
                    == "PUB a b 5\r\nhello\r\n")
        }
        #expect(Self.encoded { NATSEncoder.publish(subject: "a".utf8, replyTo: nil, payload: UnsafeRawBufferPointer(start: nil, count: 0), into: &$0) }
                == "PUB a 0\r\n\r\n")
    }

    /// publishHeader is publish without its payload, for a payload composed
    /// in place after it.
    @Test func publishHeaderThenPayloadInPlace() {
        var out: [UInt8] = []
        NATSEncoder.publishHeader(subject: "chat.room.1".utf8, replyTo: nil, payloadCount: 12, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "PUB chat.room.1 12\r\n")
        out.append(contentsOf: "{\"text\":\"x\"}".utf8)
        out.append(contentsOf: "\r\n".utf8)
        let whole = natsBytes("{\"text\":\"x\"}").withUnsafeBytes { payload in
            Self.encoded { NATSEncoder.publish(subject: "chat.room.1".utf8, replyTo: nil, payload: payload, into: &$0) }
        }
        #expect(String(decoding: out, as: UTF8.self) == whole)
        #expect(Self.encoded { NATSEncoder.publishHeader(subject: "a".utf8, replyTo: "r".utf8, payloadCount: 1_048_576, into: &$0) }
                == "PUB a r 1048576\r\n")
    }

    @Test func hpublish() {
        let headers = NATSHeaders.encode([("Nats-Msg-Id", "abc-123")])
        let text = headers.withUnsafeBytes { h in
            natsBytes("hello").withUnsafeBytes { p in
                Self.encoded { NATSEncoder.hpublish(subject: "orders.new".utf8, replyTo: "_INBOX.a.b".utf8, headers: h, payload: p, into: &$0) }
            }
        }
        #expect(text == "HPUB orders.new _INBOX.a.b 34 39\r\nNATS/1.0\r\nNats-Msg-Id: abc-123\r\n\r\nhello\r\n")
        let bare = NATSHeaders.encode([]).withUnsafeBytes { h in
            Self.encoded { NATSEncoder.hpublish(subject: "a".utf8, replyTo: nil, headers: h, payload: UnsafeRawBufferPointer(start: nil, count: 0), into: &$0) }
        }
        #expect(bare == "HPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\n")
    }

    @Test func subscribeAndUnsubscribe() {
        #expect(Self.encoded { NATSEncoder.subscribe(subject: "foo.*", queue: nil, sid: 1, into: &$0) } == "SUB foo.* 1\r\n")
        #expect(Self.encoded { NATSEncoder.subscribe(subject: "foo.>", queue: "workers", sid: 42, into: &$0) } == "SUB foo.> workers 42\r\n")
        #expect(Self.encoded { NATSEncoder.unsubscribe(sid: 1, max: nil, into: &$0) } == "UNSUB 1\r\n")
        #expect(Self.encoded { NATSEncoder.unsubscribe(sid: 7, max: 10, into: &$0) } == "UNSUB 7 10\r\n")
        #expect(Self.encoded { NATSEncoder.unsubscribe(sid: 0, max: 0, into: &$0) } == "UNSUB 0 0\r\n")
        #expect(Self.encoded { NATSEncoder.unsubscribe(sid: .max, max: nil, into: &$0) } == "UNSUB 18446744073709551615\r\n")
        #expect(Self.encoded { NATSEncoder.subscribe(subject: "s", queue: nil, sid: 1_000_000_007, into: &$0) } == "SUB s 1000000007\r\n")
    }

    @Test func pingAndPong() {
        #expect(Self.encoded { NATSEncoder.ping(into: &$0) } == "PING\r\n")
        #expect(Self.encoded { NATSEncoder.pong(into: &$0) } == "PONG\r\n")
    }

    /// Ops are appended: one array collects a whole loop turn's writes.
    @Test func opsAppendToWhatIsThere() {
        var out: [UInt8] = []
        NATSEncoder.ping(into: &out)
        NATSEncoder.subscribe(subject: "a", queue: nil, sid: 1, into: &out)
        natsBytes("x").withUnsafeBytes { NATSEncoder.publish(subject: "a".utf8, replyTo: nil, payload: $0, into: &out) }
        NATSEncoder.unsubscribe(sid: 1, max: 1, into: &out)
        NATSEncoder.pong(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "PING\r\nSUB a 1\r\nPUB a 1\r\nx\r\nUNSUB 1 1\r\nPONG\r\n")
    }

    /// Once the array has grown, encoding into it again keeps its storage.
    @Test func reusedArrayKeepsItsStorage() {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        let capacity = out.capacity
        let base = out.withUnsafeBytes { $0.baseAddress }
        let payload = [UInt8](repeating: 0x61, count: 100)
        let headers = NATSHeaders.encode([("K", "v")])
        for sid in 0..<200 as Range<UInt64> {
            out.removeAll(keepingCapacity: true)
            payload.withUnsafeBytes { NATSEncoder.publish(subject: "room.\(sid % 10)".utf8, replyTo: "_INBOX.r".utf8, payload: $0, into: &out) }
            headers.withUnsafeBytes { h in
                payload[..<20].withUnsafeBytes { NATSEncoder.hpublish(subject: "a.b".utf8, replyTo: nil, headers: h, payload: $0, into: &out) }
            }
            NATSEncoder.unsubscribe(sid: sid &* 1_000_003, max: Int(sid), into: &out)
            #expect(out.capacity == capacity)
            #expect(out.withUnsafeBytes { $0.baseAddress } == base)
        }
    }

    @Test(arguments: [
        ("foo", false, true), ("foo.bar.baz", false, true), ("_INBOX.Ke5p3mxPQm8TrKjNH2Fm1b", false, true),
        ("a-b_c:d/e~f", false, true), ("ünïcödé.ok", false, true), ("foo*.>bar", false, true),
        ("foo.*", false, false), ("foo.*", true, true), ("*", true, true), ("*", false, false),
        ("foo.>", true, true), (">", true, true), (">", false, false), ("foo.>.bar", true, false), ("*.*.>", true, true),
        ("", false, false), ("", true, false), (".", true, false), ("foo.", false, false), (".foo", false, false),
        ("foo..bar", false, false), ("foo bar", false, false), ("foo\tbar", true, false), ("foo\r\n", false, false),
        ("foo\u{0}", false, false), ("foo\u{7F}", false, false), (">.", true, false),
    ])
    func subjectValidity(_ subject: String, _ wildcards: Bool, _ valid: Bool) {
        #expect(NATSEncoder.isValidSubject(subject.utf8, wildcards: wildcards) == valid)
        #expect(NATSEncoder.isValidSubject(Array(subject.utf8)[...], wildcards: wildcards) == valid)
    }

    @Test func headerBlockEncoding() {
        #expect(NATSHeaders.encode([]) == natsBytes("NATS/1.0\r\n\r\n"))
        #expect(NATSHeaders.encode([("A", "1"), ("Nats-Msg-Id", "x y"), ("Empty", "")])
                == natsBytes("NATS/1.0\r\nA: 1\r\nNats-Msg-Id: x y\r\nEmpty: \r\n\r\n"))
        let block = NATSHeaders.encode([("Nats-Expected-Stream", "ORDERS"), ("X-Trace", "t-1")])
        block.withUnsafeBytes { b in
            #expect(NATSHeaders.value(of: "x-trace", in: b).map { Array(b[$0]) } == natsBytes("t-1"))
            #expect(NATSHeaders.value(of: "Nats-Expected-Stream", in: b).map { Array(b[$0]) } == natsBytes("ORDERS"))
            #expect(NATSHeaders.status(b) == nil)
        }
    }

    // Round trips. A server delivers what was published as MSG/HMSG with the
    // subscription's sid after the subject, so the client's bytes are turned
    // into that form and scanned back.

    /// "PUB s [r] n\r\n…" as the server delivers it to subscription `sid`:
    /// "MSG s sid [r] n\r\n…" (and HPUB as HMSG).
    static func delivered(_ client: [UInt8], sid: UInt64) -> [UInt8] {
        let lineEnd = client.firstIndex(of: 0x0A)!
        var fields = client[..<(lineEnd - 1)].split(separator: 0x20).map(Array.init)
        fields[0] = fields[0] == natsBytes("PUB") ? natsBytes("MSG") : natsBytes("HMSG")
        fields.insert(natsBytes(String(sid)), at: 2)
        return Array(fields.joined(separator: [0x20])) + client[(lineEnd - 1)...]
    }

    @Test(arguments: [
        ("greet.joe", nil, ""), ("greet.joe", "_INBOX.abc.1", "hello"),
        ("a", nil, "payload with\r\nCRLF and MSG a 1 2\r\n"), ("room.42", "r", String(repeating: "x", count: 5000)),
    ] as [(String, String?, String)])
    func publishRoundTrip(_ subject: String, _ replyTo: String?, _ payload: String) {
        var out: [UInt8] = []
        natsBytes(payload).withUnsafeBytes { NATSEncoder.publish(subject: subject.utf8, replyTo: replyTo?.utf8, payload: $0, into: &out) }
        let msg = Self.delivered(out, sid: 17)
        let (seen, end) = NATSParserTests.scanAll(msg)
        #expect(seen == [.msg(subject: subject, sid: 17, replyTo: replyTo, headers: nil, payload: payload)])
        #expect(end == msg.count)
    }

    @Test(arguments: [
        ([], nil, ""), ([("Nats-Msg-Id", "abc-123")], "_INBOX.r", "hello"),
        ([("A", "1"), ("b", "two words"), ("Nats-Expected-Last-Sequence", "42")], nil, "{\"x\":1}\r\n"),
    ] as [([(String, String)], String?, String)])
    func hpublishRoundTrip(_ fields: [(String, String)], _ replyTo: String?, _ payload: String) {
        let headers = NATSHeaders.encode(fields)
        var out: [UInt8] = []
        headers.withUnsafeBytes { h in
            natsBytes(payload).withUnsafeBytes {
                NATSEncoder.hpublish(subject: "orders.new".utf8, replyTo: replyTo?.utf8, headers: h, payload: $0, into: &out)
            }
        }
        let msg = Self.delivered(out, sid: 9)
        guard case .op(.msg(let m), let end) = NATSParserTests.scan(msg), let block = m.headers else {
            Issue.record("no HMSG")
            return
        }
        #expect(end == msg.count)
        #expect(NATSSeen(.msg(m), in: msg) == .msg(subject: "orders.new", sid: 9, replyTo: replyTo,
                                                   headers: String(decoding: headers, as: UTF8.self), payload: payload))
        msg.withUnsafeBytes { raw in
            let b = UnsafeRawBufferPointer(rebasing: raw[block])
            for (name, value) in fields {
                #expect(NATSHeaders.value(of: name.uppercased(), in: b).map { String(decoding: b[$0], as: UTF8.self) } == value)
            }
        }
    }
}

import CZlib
import Testing
@testable import ShaddockProtocol

/// permessage-deflate (RFC 7692) without I/O: what the offers agree on,
/// messages compressed and inflated by the loop's streams, and the frame
/// rules for RSV1.
@Suite struct PerMessageDeflateTests {
    static let base = ["server_no_context_takeover", "client_no_context_takeover"]

    static func agreed(_ values: [String], _ policy: DeflatePolicy = DeflatePolicy()) -> [String]? {
        guard let a = DeflateNegotiation.accept(values, policy: policy) else { return nil }
        let parts = a.responseValue.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(parts.first == "permessage-deflate")
        return Array(parts.dropFirst())
    }

    @Test(arguments: [
        // The forms clients send: bare, with takeover and window parameters
        // with and without values, in any case, quoted, among other
        // extensions, over several header lines.
        (["permessage-deflate"], base),
        (["permessage-deflate; client_max_window_bits"], base),
        (["PerMessage-Deflate ;Client_Max_Window_Bits ; server_no_context_takeover"], base),
        (["permessage-deflate; client_max_window_bits=12; client_no_context_takeover"], base),
        (["permessage-deflate; server_max_window_bits=10"], base + ["server_max_window_bits=10"]),
        (["permessage-deflate; server_max_window_bits=\"9\""], base + ["server_max_window_bits=9"]),
        (["x-webkit-deflate-frame; no_context_takeover, permessage-deflate"], base),
        (["x-custom", "permessage-deflate; client_max_window_bits"], base),
        ([", ,permessage-deflate,"], base),
        // A declined offer (a bad value, an unknown or repeated parameter,
        // a window zlib cannot keep) lets the next one in.
        (["permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits"], base),
        (["permessage-deflate; foo, permessage-deflate; server_max_window_bits=15"], base + ["server_max_window_bits=15"]),
    ])
    func offersAgreeOn(_ values: [String], _ expected: [String]) {
        #expect(Self.agreed(values) == expected, "\(values)")
    }

    @Test(arguments: [
        ["permessage-deflate; foo"],
        ["permessage-deflate; foo=1"],
        ["permessage-deflate; server_no_context_takeover=1"],
        ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
        ["permessage-deflate; client_max_window_bits; client_max_window_bits=10"],
        ["permessage-deflate; server_max_window_bits"],
        ["permessage-deflate; server_max_window_bits=8"],
        ["permessage-deflate; server_max_window_bits=16"],
        ["permessage-deflate; server_max_window_bits=010"],
        ["permessage-deflate; client_max_window_bits=7"],
        ["permessage-deflate; client_max_window_bits=\"1 0\""],
        ["x-webkit-deflate-frame"],
        [""],
        // Syntax errors: nothing after them is read.
        ["permessage-deflate; =1"],
        ["permessage-deflate; client_max_window_bits=\"10"],
        ["x-custom; a=\"b, permessage-deflate"],
        ["permessage-deflate / 2"],
    ])
    func offersDeclined(_ values: [String]) {
        #expect(Self.agreed(values) == nil, "\(values)")
    }

    @Test func clientTakeoverNeedsTheOfferOfAWindow() {
        let policy = DeflatePolicy(clientTakeover: true, clientWindowBits: 10)
        #expect(Self.agreed(["permessage-deflate; client_max_window_bits"], policy)
                == ["server_no_context_takeover", "client_max_window_bits=10"])
        // The client's own smaller limit is kept.
        #expect(Self.agreed(["permessage-deflate; client_max_window_bits=9"], policy)
                == ["server_no_context_takeover", "client_max_window_bits=9"])
        #expect(Self.agreed(["permessage-deflate; client_max_window_bits=15"], policy)
                == ["server_no_context_takeover", "client_max_window_bits=10"])
        // Without a window to limit, or when the client itself gives up
        // context, there is none.
        #expect(Self.agreed(["permessage-deflate"], policy) == Self.base)
        #expect(Self.agreed(["permessage-deflate; client_max_window_bits; client_no_context_takeover"], policy) == Self.base)
    }

    // MARK: messages

    static let json = Array((#"{"route":"onChat","msg":"#
        + String(repeating: "hello again, ", count: 30) + #"","from":"alice","target":"*"}"#).utf8)

    static func compress(_ d: MessageDeflater, _ a: [UInt8], _ b: [UInt8] = []) -> [UInt8]? {
        a.withUnsafeBytes { a in b.withUnsafeBytes { b in d.compress(a, b).map { Array($0) } } }
    }

    static func inflate(_ i: MessageInflater, _ payload: [UInt8], limit: Int = 1 << 20) -> BodyInflation {
        payload.withUnsafeBytes { i.inflate($0, limit: limit) }
    }

    static func inflated(_ i: MessageInflater, _ payload: [UInt8], limit: Int = 1 << 20) -> [UInt8]? {
        payload.withUnsafeBytes { p in
            if case .bytes(let out) = i.inflate(p, limit: limit) { return Array(out) }
            return nil
        }
    }

    /// An independent inflate of one message (zlib directly, tail added).
    static func zlibInflate(_ payload: [UInt8], windowBits: Int32 = 15) -> [UInt8]? {
        var s = z_stream()
        guard inflateInit2_(&s, -windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&s) }
        var input = payload + [0, 0, 0xFF, 0xFF]
        var out = [UInt8](repeating: 0, count: 1 << 20)
        let n = input.withUnsafeMutableBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o -> Int? in
                s.next_in = i.baseAddress
                s.avail_in = UInt32(i.count)
                s.next_out = o.baseAddress
                s.avail_out = UInt32(o.count)
                let rc = CZlib.inflate(&s, Z_SYNC_FLUSH)
                return rc == Z_OK && s.avail_in == 0 ? o.count - Int(s.avail_out) : nil
            }
        }
        return n.map { Array(out[..<$0]) }
    }

    @Test func messagesAreCompressedWithoutContextAndInflateAnywhere() throws {
        let d = try #require(MessageDeflater(level: 1))
        let inflater = try #require(MessageInflater())
        // Split in two pieces (package header, body) or whole: the same
        // bytes, and each message stands alone (no context taken over).
        let whole = try #require(Self.compress(d, Self.json))
        let split = try #require(Self.compress(d, Array(Self.json[..<7]), Array(Self.json[7...])))
        #expect(whole == split)
        #expect(whole.count < Self.json.count / 3)
        #expect(Self.zlibInflate(whole) == Self.json)
        for _ in 0..<3 { #expect(Self.inflated(inflater, whole) == Self.json) }
    }

    @Test func aSmallWindowIsKept() throws {
        let big = Array((0..<4000).map { UInt8(truncatingIfNeeded: $0 % 251) }) + Array(repeating: 7, count: 3000)
        let d = try #require(MessageDeflater(level: 9, windowBits: 9))
        let packed = try #require(Self.compress(d, big))
        // A client with a 512-byte window can read it.
        #expect(Self.zlibInflate(packed, windowBits: 9) == big)
    }

    @Test func incompressibleMessagesAreNotCompressed() throws {
        let d = try #require(MessageDeflater())
        var g = SystemRandomNumberGenerator()
        let noise = (0..<600).map { _ in UInt8.random(in: 0...255, using: &g) }
        #expect(Self.compress(d, noise) == nil)
        #expect(Self.compress(d, []) == nil)
        // The stream is fine afterwards.
        #expect(Self.compress(d, Self.json).flatMap { Self.zlibInflate($0) } == Self.json)
    }

    @Test func inflatingIsBoundedAndRefusesBadStreams() throws {
        let d = try #require(MessageDeflater(level: 9))
        let inflater = try #require(MessageInflater())
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        let bomb = try #require(Self.compress(d, zeros))
        #expect(bomb.count < 2000)
        #expect(Self.inflate(inflater, bomb, limit: 4096) == .tooLarge)
        #expect(Self.inflate(inflater, bomb, limit: (1 << 20) - 1) == .tooLarge)
        #expect(Self.inflated(inflater, bomb, limit: 1 << 20)?.count == 1 << 20)
        let packed = try #require(Self.compress(d, Self.json))
        #expect(Self.inflated(inflater, packed, limit: Self.json.count) == Self.json)
        #expect(Self.inflate(inflater, packed, limit: Self.json.count - 1) == .tooLarge)
        // Garbage, a stream cut inside a block, a reserved block type.
        #expect(Self.inflate(inflater, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == .corrupt)
        #expect(Self.inflate(inflater, Array(packed.prefix(packed.count / 2))) == .corrupt)
        #expect(Self.inflate(inflater, [0x07]) == .corrupt)
        // And the shared stream still works after each.
        #expect(Self.inflated(inflater, packed) == Self.json)
        // An empty payload is an empty message (a bare tail).
        #expect(Self.inflated(inflater, [0x00]) == [])
    }

    @Test func aFinalBlockEndsTheMessage() throws {
        // Some senders finish each message (BFINAL) instead of flushing.
        let finished = try #require(deflateBody(Self.json, format: .raw))
        let inflater = try #require(MessageInflater())
        #expect(Self.inflated(inflater, finished) == Self.json)
        // Bytes after the final block are not part of the message.
        #expect(Self.inflate(inflater, finished + [0x01, 0x02]) == .corrupt)
    }

    @Test func takeoverKeepsTheWindowAcrossMessages() throws {
        // What a client keeping context sends: the second message refers
        // back to the first.
        var s = z_stream()
        #expect(deflateInit2_(&s, 6, Z_DEFLATED, -10, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&s) }
        func next(_ bytes: [UInt8]) -> [UInt8] {
            var input = bytes
            var out = [UInt8](repeating: 0, count: 4096)
            let n = input.withUnsafeMutableBufferPointer { i in
                out.withUnsafeMutableBufferPointer { o -> Int in
                    s.next_in = i.baseAddress; s.avail_in = UInt32(i.count)
                    s.next_out = o.baseAddress; s.avail_out = UInt32(o.count)
                    _ = deflate(&s, Z_SYNC_FLUSH)
                    return o.count - Int(s.avail_out)
                }
            }
            return Array(out[..<(n - 4)])
        }
        let first = next(Self.json), second = next(Self.json)
        #expect(second.count < first.count / 4)
        let own = try #require(MessageInflater(windowBits: 10, resetsPerMessage: false))
        #expect(Self.inflated(own, first) == Self.json)
        #expect(Self.inflated(own, second) == Self.json)
        // The shared stream, reset per message, cannot read the second.
        let shared = try #require(MessageInflater())
        #expect(Self.inflated(shared, second) != Self.json)
    }

    // MARK: frames

    static func scan(_ bytes: [UInt8], deflate: Bool) -> WebSocketFrameScan {
        var b = bytes
        return b.withUnsafeMutableBytes { WebSocketFrameParser.scan($0, at: 0, maxPayload: 1024, deflate: deflate) }
    }

    static func frame(_ b0: UInt8, _ payload: [UInt8] = [1, 2, 3]) -> [UInt8] {
        [b0, 0x80 | UInt8(payload.count), 0, 0, 0, 0] + payload
    }

    @Test func rsv1MarksTheFirstFrameOfACompressedMessageOnly() {
        guard case .frame(let f) = Self.scan(Self.frame(0xC2), deflate: true) else { Issue.record("refused"); return }
        #expect(f.compressed && f.opcode == .binary && f.fin)
        guard case .frame(let g) = Self.scan(Self.frame(0x82), deflate: true) else { Issue.record("refused"); return }
        #expect(!g.compressed)
        // Without the extension; on a continuation; on a control frame;
        // RSV2 and RSV3 always.
        for (b0, deflate) in [(UInt8(0xC2), false), (0xC0, true), (0xC9, true), (0xC8, true), (0xA2, true), (0x92, true)] {
            guard case .failure(let code, _) = Self.scan(Self.frame(b0), deflate: deflate) else {
                Issue.record("0x\(String(b0, radix: 16)) accepted")
                continue
            }
            #expect(code == .protocolError)
        }
        // A fragmented message remembers that its first frame was compressed.
        var state = WebSocketMessageState(maxMessage: 1024)
        _ = state.step(WebSocketFrame(fin: false, opcode: .text, payload: 0..<1, end: 1, compressed: true))
        #expect(state.compressed)
        _ = state.step(WebSocketFrame(fin: true, opcode: .continuation, payload: 1..<2, end: 2))
        _ = state.step(WebSocketFrame(fin: false, opcode: .binary, payload: 0..<1, end: 1))
        #expect(!state.compressed)
    }

    @Test func serverFramesCarryRSV1() {
        #expect(WebSocketFrameEncoder.frame(.binary, payload: [1], compressed: true)[0] == 0xC2)
        #expect(WebSocketFrameEncoder.frame(.text, payload: [1])[0] == 0x81)
    }

    @Test func theUpgradeAnswerNamesTheExtension() {
        let key = Array("dGhlIHNhbXBsZSBub25jZQ==".utf8)
        let ext = Array("permessage-deflate; server_no_context_takeover; client_no_context_takeover".utf8)
        let proto = Array("pomelo".utf8)
        let length = UpgradeResponse.switchingLength(protocolLength: proto.count, extensionsLength: ext.count)
        var out = [UInt8](repeating: 0, count: length)
        let n = key.withUnsafeBytes { k in
            proto.withUnsafeBytes { p in
                ext.withUnsafeBytes { e in out.withUnsafeMutableBytes { UpgradeResponse.writeSwitching(key: k, protocol: p, extensions: e, into: $0) } }
            }
        }
        #expect(n == length)
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasSuffix("\r\nSec-WebSocket-Protocol: pomelo\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n\r\n"))
    }

    @Test func theRequestParserKeepsEveryExtensionsLine() {
        let head = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: x-one\r\nsec-websocket-extensions:  permessage-deflate \r\n\r\n"
        let bytes = Array(head.utf8)
        var parser = UpgradeRequestParser()
        guard case .request(let r) = bytes.withUnsafeBytes({ parser.scan($0) }) else { Issue.record("refused"); return }
        #expect(r.extensions.map { String(decoding: bytes[$0], as: UTF8.self) } == ["x-one", "permessage-deflate"])
    }
}

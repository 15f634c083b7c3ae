// RFC 6455 client over a TestSocket, written independently of the server's
// codec so that the two check each other. It is deliberately strict about
// what the server sends and deliberately permissive about what it lets a
// test send (unmasked frames, RSV bits, bad fragments), so tests can probe
// the server's error handling.

import Foundation

enum WSOpcode {
    static let continuation: UInt8 = 0x0
    static let text: UInt8 = 0x1
    static let binary: UInt8 = 0x2
    static let close: UInt8 = 0x8
    static let ping: UInt8 = 0x9
    static let pong: UInt8 = 0xA
}

struct HTTPResponseHead: Equatable, Sendable {
    var statusCode: Int
    var reason: String
    /// Lowercased names; a repeated header's values are joined with ", ".
    var headers: [String: String]
    /// The head as received, through the blank line.
    var raw: String

    subscript(_ name: String) -> String? { headers[name.lowercased()] }

    static func parse(_ bytes: [UInt8]) throws -> HTTPResponseHead {
        guard let text = String(bytes: bytes, encoding: .utf8) ?? String(bytes: bytes, encoding: .isoLatin1) else {
            throw TestClientError.protocolViolation("undecodable HTTP head")
        }
        var lines = text.components(separatedBy: "\r\n")
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let statusLine = lines.first else {
            throw TestClientError.protocolViolation("empty HTTP head")
        }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else {
            throw TestClientError.protocolViolation("bad status line: \(statusLine)")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else {
                throw TestClientError.protocolViolation("bad header line: \(line)")
            }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if let existing = headers[name] {
                headers[name] = existing + ", " + value
            } else {
                headers[name] = value
            }
        }
        return HTTPResponseHead(
            statusCode: code, reason: parts.count > 2 ? String(parts[2]) : "",
            headers: headers, raw: text)
    }
}

struct WSFrame: Equatable, Sendable {
    var fin: Bool
    /// The three RSV bits as a number: 4 = RSV1 (0x40 in byte 0), 2 = RSV2, 1 = RSV3.
    var rsv: UInt8
    var opcode: UInt8
    /// Unmasked payload.
    var payload: [UInt8]
    /// Only set when decoding client frames (`allowMasked`), e.g. recorded vectors.
    var maskKey: [UInt8]? = nil

    var isControl: Bool { opcode & 0x8 != 0 }
}

/// A whole message: data fragments joined, or a single control frame.
struct WSMessage: Equatable, Sendable {
    var opcode: UInt8
    var payload: [UInt8]

    var isControl: Bool { opcode & 0x8 != 0 }
    var text: String? { String(bytes: payload, encoding: .utf8) }
}

final class WebSocketTestClient {
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    let socket: TestSocket
    // A control frame may interleave with a fragmented message, so the
    // fragments gathered so far survive across readMessage calls.
    private var fragmentOpcode: UInt8?
    private var fragments: [UInt8] = []
    private var fragmentCompressed = false
    /// permessage-deflate, once `agreeDeflate` read the server's answer:
    /// RSV1 marks a compressed message, inflated here; data messages sent
    /// are compressed when `deflater` is set.
    private(set) var inflater: TestInflate?
    var deflater: TestDeflate?
    /// Data messages that came compressed.
    private(set) var compressedMessagesReceived = 0

    init(socket: TestSocket) {
        self.socket = socket
    }

    // MARK: handshake

    static func acceptKey(for key: String) -> String {
        Data(TestSHA1.digest(Array((key + acceptGUID).utf8))).base64EncodedString()
    }

    static func randomKey() -> String {
        var g = SystemRandomNumberGenerator()
        return Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }).base64EncodedString()
    }

    /// The upgrade request `connect` sends. An `extraHeaders` entry whose name
    /// matches a default header (case-insensitively) replaces it, so negative
    /// tests can send e.g. `Sec-WebSocket-Version: 8`; to omit a header, build
    /// the request by hand and use `rawHTTP`.
    static func upgradeRequest(
        host: String, path: String = "/", key: String, extraHeaders: [(String, String)] = []
    ) -> String {
        var headers: [(String, String)] = [
            ("Host", host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
        for (name, value) in extraHeaders {
            if let i = headers.firstIndex(where: { $0.0.lowercased() == name.lowercased() }) {
                headers[i] = (name, value)
            } else {
                headers.append((name, value))
            }
        }
        var text = "GET \(path) HTTP/1.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return text + "\r\n"
    }

    /// The same request as bytes, with Host set the way `connect` sets it, so a
    /// test can append frames and send everything in one write.
    static func upgradeRequest(
        port: Int, path: String = "/", key: String, extraHeaders: [(String, String)] = [],
        host: String = "127.0.0.1"
    ) -> [UInt8] {
        Array(upgradeRequest(host: "\(host):\(port)", path: path, key: key, extraHeaders: extraHeaders).utf8)
    }

    /// Performs the upgrade. When the server answers 101 the response must be
    /// a valid acceptance (Upgrade, Connection, Sec-WebSocket-Accept), else this
    /// throws `.protocolViolation`. Any other status is returned as is, with the
    /// client, so a test can check the status and whether the server hangs up.
    static func connect(
        port: Int, path: String = "/", extraHeaders: [(String, String)] = [], key: String? = nil,
        host: String = "127.0.0.1", timeout: Double = 5
    ) throws -> (client: WebSocketTestClient, response: HTTPResponseHead) {
        let socket = try TestSocket(host: host, port: port)
        let key = key ?? randomKey()
        let request = upgradeRequest(host: "\(host):\(port)", path: path, key: key, extraHeaders: extraHeaders)
        try socket.send(Array(request.utf8))
        let head = try readResponseHead(from: socket, timeout: timeout)
        if head.statusCode == 101 {
            try verifyAcceptance(head, key: key)
        }
        return (WebSocketTestClient(socket: socket), head)
    }

    static func verifyAcceptance(_ head: HTTPResponseHead, key: String) throws {
        guard head.statusCode == 101 else {
            throw TestClientError.protocolViolation("status \(head.statusCode), expected 101")
        }
        guard head["upgrade"]?.lowercased() == "websocket" else {
            throw TestClientError.protocolViolation("101 without Upgrade: websocket")
        }
        let connectionTokens = (head["connection"] ?? "").lowercased()
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard connectionTokens.contains("upgrade") else {
            throw TestClientError.protocolViolation("101 without Connection: Upgrade")
        }
        let expected = acceptKey(for: key)
        guard head["sec-websocket-accept"] == expected else {
            throw TestClientError.protocolViolation(
                "Sec-WebSocket-Accept \(head["sec-websocket-accept"] ?? "missing"), expected \(expected)")
        }
    }

    /// Sends arbitrary bytes as an HTTP request and reads the response head.
    /// The socket is returned so a test can go on (read a body, check close).
    static func rawHTTP(
        port: Int, request: [UInt8], byteByByte: Bool = false,
        host: String = "127.0.0.1", timeout: Double = 5
    ) throws -> (socket: TestSocket, response: HTTPResponseHead) {
        let socket = try TestSocket(host: host, port: port)
        if byteByByte { try socket.sendByteByByte(request) } else { try socket.send(request) }
        return (socket, try readResponseHead(from: socket, timeout: timeout))
    }

    static func rawHTTP(
        port: Int, request: String, byteByByte: Bool = false,
        host: String = "127.0.0.1", timeout: Double = 5
    ) throws -> (socket: TestSocket, response: HTTPResponseHead) {
        try rawHTTP(port: port, request: Array(request.utf8), byteByByte: byteByByte, host: host, timeout: timeout)
    }

    static func readResponseHead(from socket: TestSocket, timeout: Double = 5) throws -> HTTPResponseHead {
        try HTTPResponseHead.parse(socket.readUntil(Array("\r\n\r\n".utf8), timeout: timeout, maxBytes: 64 * 1024))
    }

    // MARK: frame encoding

    /// `masked` defaults to true because clients must mask; a test passes
    /// false to check that the server rejects an unmasked frame. `maskKey`
    /// makes output reproducible (vectors); otherwise it is random.
    static func rawFrameBytes(
        opcode: UInt8, payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0,
        maskKey: [UInt8]? = nil
    ) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0x0F)]
        let maskBit: UInt8 = masked ? 0x80 : 0
        let n = payload.count
        if n < 126 {
            out.append(maskBit | UInt8(n))
        } else if n <= 0xFFFF {
            out.append(maskBit | 126)
            out += [UInt8(n >> 8), UInt8(n & 0xFF)]
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: UInt64(n) >> UInt64(shift)))
            }
        }
        guard masked else { return out + payload }
        let key: [UInt8]
        if let maskKey {
            precondition(maskKey.count == 4, "mask key must be 4 bytes")
            key = maskKey
        } else {
            var g = SystemRandomNumberGenerator()
            key = (0..<4).map { _ in UInt8.random(in: 0...255, using: &g) }
        }
        out += key
        out.reserveCapacity(out.count + n)
        for (i, b) in payload.enumerated() { out.append(b ^ key[i & 3]) }
        return out
    }

    /// Total header length (2...14 bytes) implied by the first two bytes.
    private static func headerLength(_ b0: UInt8, _ b1: UInt8) -> Int {
        let len7 = b1 & 0x7F
        return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (b1 & 0x80 != 0 ? 4 : 0)
    }

    /// Decodes one frame from the start of `bytes`; nil when incomplete.
    /// Server frames must be unmasked: a masked one is a protocol violation
    /// unless `allowMasked` (for decoding recorded client frames).
    static func decodeFrame(_ bytes: [UInt8], allowMasked: Bool = false) throws -> (frame: WSFrame, consumed: Int)? {
        guard bytes.count >= 2 else { return nil }
        let b0 = bytes[0], b1 = bytes[1]
        let masked = b1 & 0x80 != 0
        if masked && !allowMasked {
            throw TestClientError.protocolViolation("server frame is masked")
        }
        let head = headerLength(b0, b1)
        guard bytes.count >= head else { return nil }
        var length: UInt64 = UInt64(b1 & 0x7F)
        var pos = 2
        if length == 126 {
            length = UInt64(bytes[2]) << 8 | UInt64(bytes[3])
            pos = 4
        } else if length == 127 {
            length = 0
            for i in 2..<10 { length = length << 8 | UInt64(bytes[i]) }
            pos = 10
            if length >> 63 != 0 {
                throw TestClientError.protocolViolation("64-bit frame length with the top bit set")
            }
        }
        if length > UInt64(Int32.max) {
            throw TestClientError.protocolViolation("frame length \(length) too large for a test")
        }
        var key: [UInt8]? = nil
        if masked {
            key = Array(bytes[pos..<(pos + 4)])
            pos += 4
        }
        let n = Int(length)
        guard bytes.count >= pos + n else { return nil }
        var payload = Array(bytes[pos..<(pos + n)])
        if let key {
            for i in payload.indices { payload[i] ^= key[i & 3] }
        }
        let frame = WSFrame(fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0x0F, payload: payload, maskKey: key)
        return (frame, pos + n)
    }

    // MARK: sending

    func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0) throws {
        try socket.send(Self.rawFrameBytes(opcode: opcode, payload: payload, fin: fin, masked: masked, rsv: rsv))
    }

    /// Bytes straight onto the TCP stream (hand-built or concatenated frames).
    func sendRaw(_ bytes: [UInt8]) throws {
        try socket.send(bytes)
    }

    func sendRawByteByByte(_ bytes: [UInt8], pause microseconds: UInt32 = 2_000) throws {
        try socket.sendByteByByte(bytes, pause: microseconds)
    }

    /// Compressed (RSV1) when a deflater is set.
    func sendBinary(_ payload: [UInt8]) throws {
        try sendData(WSOpcode.binary, payload)
    }

    func sendText(_ text: String) throws {
        try sendData(WSOpcode.text, Array(text.utf8))
    }

    private func sendData(_ opcode: UInt8, _ payload: [UInt8]) throws {
        if let deflater {
            try sendFrame(opcode: opcode, payload: deflater.compress(payload), rsv: 4)
        } else {
            try sendFrame(opcode: opcode, payload: payload)
        }
    }

    func sendPing(_ payload: [UInt8] = []) throws {
        try sendFrame(opcode: WSOpcode.ping, payload: payload)
    }

    func sendPong(_ payload: [UInt8] = []) throws {
        try sendFrame(opcode: WSOpcode.pong, payload: payload)
    }

    /// `code: nil` sends an empty close payload.
    func sendClose(code: UInt16? = 1000, reason: String = "") throws {
        var payload: [UInt8] = []
        if let code { payload = [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8) }
        try sendFrame(opcode: WSOpcode.close, payload: payload)
    }

    // MARK: receiving

    /// One frame as sent by the server, without interpretation beyond the
    /// masking rule.
    func readFrame(timeout: Double = 5) throws -> WSFrame {
        let deadline = testMonotonicNow() + timeout
        var bytes = try socket.read(exactly: 2, deadline: deadline)
        if bytes[1] & 0x80 != 0 {
            throw TestClientError.protocolViolation("server frame is masked")
        }
        let head = Self.headerLength(bytes[0], bytes[1])
        bytes += try socket.read(exactly: head - 2, deadline: deadline)
        // Header complete: ask the decoder how much payload it needs.
        var length = Int(bytes[1] & 0x7F)
        if length == 126 {
            length = Int(bytes[2]) << 8 | Int(bytes[3])
        } else if length == 127 {
            var l: UInt64 = 0
            for i in 2..<10 { l = l << 8 | UInt64(bytes[i]) }
            if l > UInt64(Int32.max) {
                throw TestClientError.protocolViolation("frame length \(l) too large for a test")
            }
            length = Int(l)
        }
        bytes += try socket.read(exactly: length, deadline: deadline)
        guard let (frame, _) = try Self.decodeFrame(bytes) else {
            throw TestClientError.protocolViolation("frame decoder disagrees with header")
        }
        return frame
    }

    /// Reads the 101's `Sec-WebSocket-Extensions`: when it agrees on
    /// permessage-deflate, compressed messages are accepted (and, with
    /// `compressSent`, data messages sent compressed), with the windows and
    /// context it names. Returns the parameters agreed (nil: none).
    @discardableResult
    func agreeDeflate(_ head: HTTPResponseHead, compressSent: Bool = true) throws -> [String]? {
        guard let value = head["sec-websocket-extensions"] else { return nil }
        let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first == "permessage-deflate" else {
            throw TestClientError.protocolViolation("unknown extension agreed: \(value)")
        }
        let params = Array(parts.dropFirst())
        var serverBits: Int32 = 15, clientBits: Int32 = 15
        for p in params {
            if p.hasPrefix("server_max_window_bits=") { serverBits = Int32(p.dropFirst(23))! }
            if p.hasPrefix("client_max_window_bits=") { clientBits = Int32(p.dropFirst(23))! }
        }
        inflater = TestInflate(windowBits: serverBits, keepsContext: !params.contains("server_no_context_takeover"))
        if compressSent {
            deflater = TestDeflate(windowBits: clientBits, keepsContext: !params.contains("client_no_context_takeover"))
        }
        return params
    }

    /// The next data message (fragments joined) or control frame. Applies the
    /// RFC's rules to the server: no RSV bits (no extension is negotiated),
    /// control frames unfragmented and at most 125 bytes, continuation frames
    /// only inside a fragmented message, text valid UTF-8.
    func readMessage(timeout: Double = 5) throws -> WSMessage {
        let deadline = testMonotonicNow() + timeout
        while true {
            let frame = try readFrame(timeout: max(deadline - testMonotonicNow(), 0))
            let compressed = frame.rsv == 4 && inflater != nil && (frame.opcode == WSOpcode.text || frame.opcode == WSOpcode.binary)
            if frame.rsv != 0 && !compressed {
                throw TestClientError.protocolViolation("RSV bits \(frame.rsv) set without an extension (opcode \(frame.opcode))")
            }
            if frame.isControl {
                guard frame.opcode == WSOpcode.close || frame.opcode == WSOpcode.ping || frame.opcode == WSOpcode.pong else {
                    throw TestClientError.protocolViolation("reserved control opcode \(frame.opcode)")
                }
                guard frame.fin else { throw TestClientError.protocolViolation("fragmented control frame") }
                guard frame.payload.count <= 125 else {
                    throw TestClientError.protocolViolation("control frame payload \(frame.payload.count) > 125")
                }
                return WSMessage(opcode: frame.opcode, payload: frame.payload)
            }
            switch frame.opcode {
            case WSOpcode.continuation:
                guard let opcode = fragmentOpcode else {
                    throw TestClientError.protocolViolation("continuation frame outside a fragmented message")
                }
                fragments += frame.payload
                if frame.fin {
                    var message = WSMessage(opcode: opcode, payload: fragments)
                    if fragmentCompressed { message.payload = try inflated(message.payload) }
                    fragmentOpcode = nil
                    fragments = []
                    return try validated(message)
                }
            case WSOpcode.text, WSOpcode.binary:
                guard fragmentOpcode == nil else {
                    throw TestClientError.protocolViolation("new data frame inside a fragmented message")
                }
                if frame.fin {
                    let payload = compressed ? try inflated(frame.payload) : frame.payload
                    return try validated(WSMessage(opcode: frame.opcode, payload: payload))
                }
                fragmentOpcode = frame.opcode
                fragmentCompressed = compressed
                fragments = frame.payload
            default:
                throw TestClientError.protocolViolation("reserved data opcode \(frame.opcode)")
            }
        }
    }

    private func inflated(_ payload: [UInt8]) throws -> [UInt8] {
        compressedMessagesReceived += 1
        return try inflater!.inflate(payload)
    }

    private func validated(_ message: WSMessage) throws -> WSMessage {
        if message.opcode == WSOpcode.text && message.text == nil {
            throw TestClientError.protocolViolation("text message is not valid UTF-8")
        }
        return message
    }

    /// Parses a close frame's payload: empty means no code; one byte or a
    /// reason that is not UTF-8 is a violation.
    static func parseClosePayload(_ payload: [UInt8]) throws -> (code: UInt16?, reason: String) {
        if payload.isEmpty { return (nil, "") }
        guard payload.count >= 2 else {
            throw TestClientError.protocolViolation("close payload of 1 byte")
        }
        guard let reason = String(bytes: payload[2...], encoding: .utf8) else {
            throw TestClientError.protocolViolation("close reason is not UTF-8")
        }
        return (UInt16(payload[0]) << 8 | UInt16(payload[1]), reason)
    }

    /// Reads until a close frame, skipping data messages and ping/pong.
    func readClose(timeout: Double = 5) throws -> (code: UInt16?, reason: String) {
        let deadline = testMonotonicNow() + timeout
        while true {
            let message = try readMessage(timeout: max(deadline - testMonotonicNow(), 0))
            if message.opcode == WSOpcode.close {
                return try Self.parseClosePayload(message.payload)
            }
        }
    }

    /// True once the TCP connection is closed by the server (frames discarded).
    func waitForClose(timeout: Double = 5) -> Bool {
        socket.waitForClose(timeout: timeout)
    }

    func close() {
        socket.close()
    }
}

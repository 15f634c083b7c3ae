// fuzz-frame: what a client sends after the upgrade, read as the connection
// reads it (Sources/Shaddock/Connection/Connection+WebSocket.swift): frames scanned where
// they lie and unmasked in place, a frame cut by a read kept for the next
// one, every frame through the message rules, fragments collected, close
// payloads checked, text checked as UTF-8.
//
// Input: [limit][read cuts][stream] (see readBothWays), the limit being
// that of a frame's payload and of a message.
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

/// From the smallest limit the configuration allows to the largest.
let limits = [16, 125, 126, 127, 1000, 65535, 65536, 16_777_215]

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    readBothWays(data, size, limits: limits) { Reader(limit: $0) }
}

/// What the connection does with the frames, in order.
enum Event: Equatable {
    case message(WebSocketOpcode, [UInt8])
    case ping([UInt8])
    case pong([UInt8])
    case close(Result<UInt16, WebSocketMessageState.CloseError>)
    case failure(WebSocketCloseCode)
}

/// The connection's reading side, without the connection.
struct Reader: StreamReading {
    let limit: Int
    var state: WebSocketMessageState
    /// Bytes of a frame that a read cut, as they arrived.
    var pending: [UInt8] = []
    /// The fragmented message being collected: its opcode and bytes so far.
    var open: WebSocketOpcode?
    var fragments: [UInt8] = []
    var events: [Event] = []
    var closed = false

    init(limit: Int) {
        self.limit = limit
        state = WebSocketMessageState(maxMessage: limit)
    }

    mutating func scanOne(_ bytes: UnsafeMutableRawBufferPointer, arrived: [UInt8], at offset: Int) -> Int? {
        let result = WebSocketFrameParser.scan(bytes, at: offset, maxPayload: limit)
        expectScan(result, arrived, at: offset, limit: limit)
        switch result {
        case .needMore:
            return nil
        case .failure(let code, _):
            events.append(.failure(code))
            closed = true
            return nil
        case .frame(let frame):
            let payload = Array(bytes[frame.payload])
            let key = Array(arrived[frame.payload.lowerBound - 4..<frame.payload.lowerBound])
            expectUnmasked(frame, arrived, payload, key: key)
            expectRoundTrip(frame, payload, key: key, limit: limit)
            onFrame(frame, payload)
            return frame.end
        }
    }

    mutating func onFrame(_ frame: WebSocketFrame, _ payload: [UInt8]) {
        let action = state.step(frame)
        expectAllowed(action, frame, open: open, collected: fragments.count, limit: limit)
        switch action {
        case .message(let opcode):
            deliver(opcode, payload)
        case .begin(let opcode):
            open = opcode
            fragments = payload
        case .append:
            fragments += payload
        case .finish(let opcode):
            fragments += payload
            deliver(opcode, fragments)
            open = nil
            fragments = []
        case .ping:
            events.append(.ping(payload))
        case .pong:
            events.append(.pong(payload))
        case .close:
            let reply = withExactCopy(of: payload) { WebSocketMessageState.closeReply(UnsafeRawBufferPointer($0)) }
            expectCloseReply(reply, payload)
            events.append(.close(reply))
            closed = true
        case .failure(let code, _):
            events.append(.failure(code))
            closed = true
        }
        invariant(state.inMessage == (open != nil), "inMessage \(state.inMessage)")
        // Every payload, not only text, through the validator, at its own length.
        let valid = withExactCopy(of: payload) { UTF8Validation.isValid(UnsafeRawBufferPointer($0)) }
        invariant(valid == isUTF8(payload), "UTF-8 validation says \(valid) for \(payload)")
    }

    mutating func deliver(_ opcode: WebSocketOpcode, _ message: [UInt8]) {
        invariant(message.count <= limit, "a message of \(message.count) bytes passed the limit of \(limit)")
        events.append(.message(opcode, message))
    }
}

/// What RFC 6455 §5.2 says of the frame at `o`, read the plain way, against
/// what the parser answered.
func expectScan(_ result: WebSocketFrameScan, _ b: [UInt8], at o: Int, limit: Int) {
    let available = b.count - o
    guard available >= 2 else { return invariant(result == .needMore, "\(result) from \(available) bytes") }
    let b0 = b[o], b1 = b[o + 1]
    let opcode = b0 & 0x0F
    let control = opcode >= 8
    let length7 = Int(b1 & 0x7F)
    let broken = b0 & 0x70 != 0 || ![0, 1, 2, 8, 9, 10].contains(opcode) || b1 & 0x80 == 0
        || (control && (b0 & 0x80 == 0 || length7 > 125))
    if broken {
        guard case .failure(.protocolError, _) = result else { return invariant(false, "\(result) for a broken header") }
        return
    }
    let extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0
    guard available >= 2 + extended else { return invariant(result == .needMore, "\(result) before the length") }
    var length = UInt64(length7)
    if extended > 0 {
        length = 0
        for k in 0..<extended { length = length << 8 | UInt64(b[o + 2 + k]) }
    }
    if length >> 63 != 0 {
        guard case .failure(.protocolError, _) = result else { return invariant(false, "\(result) for a 64-bit length") }
        return
    }
    if length > UInt64(limit) {
        guard case .failure(.messageTooBig, _) = result else { return invariant(false, "\(result) for \(length) bytes") }
        return
    }
    let start = o + 2 + extended + 4
    guard b.count >= start + Int(length) else { return invariant(result == .needMore, "\(result) for a cut frame") }
    guard case .frame(let f) = result else { return invariant(false, "\(result) for a whole frame") }
    invariant(f.fin == (b0 & 0x80 != 0) && f.opcode.rawValue == opcode, "fin or opcode")
    invariant(f.payload == start..<start + Int(length) && f.end == f.payload.upperBound, "payload \(f.payload), end \(f.end)")
}

/// The payload is the masked bytes XOR the key, byte by byte; the header is
/// left as it was.
func expectUnmasked(_ f: WebSocketFrame, _ arrived: [UInt8], _ payload: [UInt8], key: [UInt8]) {
    for (i, byte) in payload.enumerated() {
        invariant(byte == arrived[f.payload.lowerBound + i] ^ key[i % 4], "byte \(i) of the payload unmasked wrongly")
    }
}

/// A frame written by the server's encoder, then masked as a client would,
/// reads back as the same frame.
func expectRoundTrip(_ f: WebSocketFrame, _ payload: [UInt8], key: [UInt8], limit: Int) {
    let server = WebSocketFrameEncoder.frame(f.opcode, payload: payload, fin: f.fin)
    let header = WebSocketFrameEncoder.headerLength(payloadLength: payload.count)
    invariant(server.count == header + payload.count && Array(server[header...]) == payload, "encoded frame")
    var client = Array(server[0..<header])
    client[1] |= 0x80
    client += key
    for (i, byte) in payload.enumerated() { client.append(byte ^ key[i % 4]) }
    withExactCopy(of: client) { buffer in
        guard case .frame(let g) = WebSocketFrameParser.scan(buffer, at: 0, maxPayload: limit) else {
            return invariant(false, "an encoded frame does not scan")
        }
        invariant(g.fin == f.fin && g.opcode == f.opcode && g.end == client.count, "encoded frame scans differently")
        invariant(Array(buffer[g.payload]) == payload, "encoded frame's payload")
    }
}

/// RFC 6455 §7.4: codes that must never be accepted, codes that must be,
/// and the reason must be UTF-8.
func expectCloseReply(_ reply: Result<UInt16, WebSocketMessageState.CloseError>, _ payload: [UInt8]) {
    switch payload.count {
    case 0:
        invariant(reply == .success(1000), "empty close answered \(reply)")
    case 1:
        invariant((try? reply.get()) == nil, "one-byte close accepted")
    default:
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        let refused = code < 1000 || (1004...1006).contains(code) || code == 1015 || (1016...2999).contains(code) || code >= 5000
        let defined = (1000...1003).contains(code) || (1007...1011).contains(code) || (3000...4999).contains(code)
        let reasonOK = isUTF8(payload[2...])
        switch reply {
        case .success(let echoed):
            invariant(!refused && echoed == code && reasonOK, "close \(code) accepted")
        case .failure(let error):
            invariant(refused || !defined || !reasonOK, "close \(code) refused: \(error)")
            invariant(error.code == (refused || !defined ? .protocolError : .invalidPayload), "close \(code) refused with \(error.code)")
        }
    }
}

/// RFC 6455 §5.4-5.5: what each action of the message rules requires of the
/// frame and of the message being collected. Every frame gets one action,
/// so a frame whose action's conditions do not hold breaks the rules.
func expectAllowed(_ action: WebSocketMessageState.Action, _ f: WebSocketFrame, open: WebSocketOpcode?, collected: Int, limit: Int) {
    let data = f.opcode == .text || f.opcode == .binary
    let continuation = f.opcode == .continuation
    let fits = collected + f.payload.count <= limit
    let allowed: Bool
    switch action {
    case .ping: allowed = f.opcode == .ping
    case .pong: allowed = f.opcode == .pong
    case .close: allowed = f.opcode == .close
    case .message(let opcode): allowed = opcode == f.opcode && data && f.fin && open == nil
    case .begin(let opcode): allowed = opcode == f.opcode && data && !f.fin && open == nil
    case .append: allowed = continuation && !f.fin && open != nil && fits
    case .finish(let opcode): allowed = continuation && f.fin && opcode == open && fits
    case .failure(.protocolError, _): allowed = (data && open != nil) || (continuation && open == nil)
    case .failure(.messageTooBig, _): allowed = continuation && open != nil && !fits
    case .failure: allowed = false
    }
    invariant(allowed, "\(action) for a \(f.opcode) frame (fin \(f.fin), \(f.payload.count) bytes) with \(String(describing: open)) open")
}

// MARK: Seeds

/// A client frame with a fixed mask.
func clientFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]) -> [UInt8] {
    let server = WebSocketFrameEncoder.frame(opcode, payload: payload, fin: fin)
    let header = WebSocketFrameEncoder.headerLength(payloadLength: payload.count)
    var out = Array(server[0..<header])
    out[1] |= 0x80
    out += mask
    for (i, b) in payload.enumerated() { out.append(b ^ mask[i % 4]) }
    return out
}

/// The recorded client frames, alone and as the session sent them; and
/// hand-made streams for each rule.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    let recorded = vectors.filter { $0.direction == "c2s" }.compactMap { $0.frame ?? ($0.note.hasPrefix("raw WebSocket") ? $0.bytes : nil) }
    var streams = recorded.map { [$0] }
    streams.append(recorded)
    let text = Array("héllo wörld, ça va?".utf8)
    streams.append([clientFrame(.text, text)])
    streams.append([clientFrame(.text, Array(text[0..<3]), fin: false), clientFrame(.ping, [1, 2]),
                    clientFrame(.continuation, Array(text[3..<9]), fin: false), clientFrame(.continuation, Array(text[9...]))])
    streams.append([clientFrame(.binary, [UInt8](repeating: 0x5A, count: 200)), clientFrame(.pong, [])])
    streams.append([clientFrame(.binary, [1, 0, 0, 2, 0x7B, 0x7D], fin: false), clientFrame(.text, [0x41])])
    streams.append([clientFrame(.continuation, [1])])
    streams.append([clientFrame(.text, [0xC0, 0xAF]), clientFrame(.text, [0xED, 0xA0, 0x80]), clientFrame(.text, [0xF4, 0x90, 0x80, 0x80])])
    streams.append([clientFrame(.close, [0x03, 0xE8] + Array("bye".utf8))])
    streams.append([clientFrame(.close, [0x03, 0xED])])
    streams.append([clientFrame(.close, [0x0F, 0xA0, 0xFF])])
    streams.append([clientFrame(.close, [0x03])])
    streams.append([WebSocketFrameEncoder.frame(.binary, payload: [1, 2, 3])])
    var long = clientFrame(.binary, [9, 9, 9])
    long.replaceSubrange(1..<2, with: [0xFF, 0, 0, 0, 0, 0, 0, 0, 3])
    streams.append([long])
    var out: [[UInt8]] = []
    for s in streams {
        let stream = s.flatMap { $0 }
        for (limit, cut) in [(5, 0x00), (0, 0xFF), (6, 0x14), (1, 0x03)] as [(UInt8, UInt8)] { out.append([limit, cut] + stream) }
    }
    return out
}

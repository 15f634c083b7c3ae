import Testing
@testable import ShaddockProtocol

/// Builds client frames independently of the encoder under test, so a shared
/// mistake cannot hide.
enum ClientFrame {
    enum LengthForm { case minimal, sixteen, sixtyFour }

    static let defaultMask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

    static func make(opcode: UInt8, payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0,
                     mask: [UInt8]? = defaultMask, form: LengthForm = .minimal) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | rsv << 4 | opcode]
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        let n = payload.count
        let chosen: LengthForm = form != .minimal ? form : n < 126 ? .minimal : n < 65536 ? .sixteen : .sixtyFour
        switch chosen {
        case .minimal: out.append(maskBit | UInt8(n))
        case .sixteen: out += [maskBit | 126, UInt8(n >> 8), UInt8(n & 0xFF)]
        case .sixtyFour:
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((UInt64(n) >> UInt64(shift)) & 0xFF)) }
        }
        if let mask {
            out += mask
            out += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            out += payload
        }
        return out
    }

    static func headerLength(_ n: Int, masked: Bool = true) -> Int {
        (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0)
    }
}

@Suite struct WebSocketFrameTests {
    static func scan(_ bytes: inout [UInt8], at offset: Int = 0, maxPayload: Int = 1 << 20) -> WebSocketFrameScan {
        bytes.withUnsafeMutableBytes { WebSocketFrameParser.scan($0, at: offset, maxPayload: maxPayload) }
    }

    /// Scans a copy, so a test can scan the same bytes again without unmasking twice.
    static func scanCopy(_ bytes: [UInt8], at offset: Int = 0, maxPayload: Int = 1 << 20) -> WebSocketFrameScan {
        var copy = bytes
        return scan(&copy, at: offset, maxPayload: maxPayload)
    }

    static func closeCode(_ r: WebSocketFrameScan) -> WebSocketCloseCode? {
        if case .failure(let code, _) = r { return code }
        return nil
    }

    static func payload(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) } }

    @Test(arguments: [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126, 127, 65535, 65536])
    func unmasksInPlace(_ n: Int) {
        let payload = Self.payload(n)
        var bytes = ClientFrame.make(opcode: 0x2, payload: payload)
        let h = ClientFrame.headerLength(n)
        #expect(bytes.count == h + n)
        let r = Self.scan(&bytes)
        #expect(r == .frame(WebSocketFrame(fin: true, opcode: .binary, payload: h..<h + n, end: h + n)))
        #expect(Array(bytes[h...]) == payload)
    }

    /// At odd offsets the eight-byte unmasking loop runs on unaligned memory.
    @Test(arguments: [1, 2, 3, 5, 7])
    func unmasksAtAnOffset(_ offset: Int) {
        let payload = Self.payload(37)
        let frame = ClientFrame.make(opcode: 0x1, payload: payload, mask: [0xDE, 0xAD, 0xBE, 0xEF])
        var bytes = [UInt8](repeating: 0xAA, count: offset) + frame + [0xBB]
        let r = Self.scan(&bytes, at: offset)
        #expect(r == .frame(WebSocketFrame(fin: true, opcode: .text, payload: offset + 6..<offset + 6 + 37, end: offset + 6 + 37)))
        #expect(Array(bytes[(offset + 6)..<(offset + 43)]) == payload)
        // Bytes around the frame are untouched.
        #expect(bytes[..<offset].allSatisfy { $0 == 0xAA } && bytes.last == 0xBB)
    }

    @Test func zeroMaskLeavesPayload() {
        var bytes = ClientFrame.make(opcode: 0x2, payload: [1, 2, 3], mask: [0, 0, 0, 0])
        _ = Self.scan(&bytes)
        #expect(Array(bytes[6...]) == [1, 2, 3])
    }

    @Test(arguments: [(ClientFrame.LengthForm.sixteen, 4), (.sixtyFour, 10)])
    func longLengthFormsForShortPayloads(_ form: ClientFrame.LengthForm, _ header: Int) {
        // Not minimal, but RFC 6455 leaves it to the sender; accepting it is harmless.
        var bytes = ClientFrame.make(opcode: 0x2, payload: [9, 8, 7], form: form)
        #expect(Self.scan(&bytes) == .frame(WebSocketFrame(fin: true, opcode: .binary, payload: header + 4..<header + 7, end: header + 7)))
        #expect(Array(bytes[(header + 4)...]) == [9, 8, 7])
    }

    @Test(arguments: [0, 1, 9, 125, 126, 300, 65536])
    func everyPrefixNeedsMore(_ n: Int) {
        let payload = Self.payload(n)
        let frame = ClientFrame.make(opcode: 0x2, payload: payload, fin: false)
        // 65536 bytes split everywhere is slow and adds nothing past the header.
        let cuts = n > 1000 ? Array(0..<20) + [frame.count - 1] : Array(0..<frame.count)
        for cut in cuts {
            #expect(Self.scanCopy(Array(frame[..<cut])) == .needMore, "cut at \(cut)")
        }
        var whole = frame
        let h = ClientFrame.headerLength(n)
        #expect(Self.scan(&whole) == .frame(WebSocketFrame(fin: false, opcode: .binary, payload: h..<h + n, end: h + n)))
        #expect(Array(whole[h...]) == payload)
    }

    @Test func backToBackFrames() {
        let frames: [(UInt8, [UInt8], Bool, WebSocketOpcode)] = [
            (0x1, Array("hel".utf8), false, .text), (0x9, Array("ping".utf8), true, .ping),
            (0x0, Array("lo".utf8), true, .continuation), (0x2, Self.payload(200), true, .binary),
            (0xA, [], true, .pong), (0x8, [0x03, 0xE8], true, .close),
        ]
        var buffer = frames.enumerated().flatMap { i, f in
            ClientFrame.make(opcode: f.0, payload: f.1, fin: f.2, mask: [UInt8(i * 37), 0x11, 0x80, 0xFF])
        }
        var offset = 0
        for (_, payload, fin, opcode) in frames {
            guard case .frame(let f) = Self.scan(&buffer, at: offset) else {
                Issue.record("no frame at \(offset)")
                return
            }
            #expect(f.fin == fin && f.opcode == opcode)
            #expect(Array(buffer[f.payload]) == payload)
            offset = f.end
        }
        #expect(offset == buffer.count)
        #expect(Self.scan(&buffer, at: offset) == .needMore)
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7] as [UInt8])
    func reservedBitsAre1002(_ rsv: UInt8) {
        let frame = ClientFrame.make(opcode: 0x2, payload: [1, 2, 3], rsv: rsv)
        #expect(Self.closeCode(Self.scanCopy(frame)) == .protocolError)
        // Decided from the first two bytes.
        #expect(Self.closeCode(Self.scanCopy(Array(frame[..<2]))) == .protocolError)
    }

    @Test(arguments: [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] as [UInt8])
    func reservedOpcodesAre1002(_ opcode: UInt8) {
        let frame = ClientFrame.make(opcode: opcode, payload: [1])
        #expect(Self.closeCode(Self.scanCopy(frame)) == .protocolError)
        #expect(Self.closeCode(Self.scanCopy(Array(frame[..<2]))) == .protocolError)
    }

    @Test func unmaskedIs1002() {
        for n in [0, 5, 200] {
            let frame = ClientFrame.make(opcode: 0x2, payload: Self.payload(n), mask: nil)
            #expect(Self.closeCode(Self.scanCopy(frame)) == .protocolError, "length \(n)")
            #expect(Self.closeCode(Self.scanCopy(Array(frame[..<2]))) == .protocolError)
        }
    }

    @Test(arguments: [0x8, 0x9, 0xA] as [UInt8])
    func fragmentedControlIs1002(_ opcode: UInt8) {
        let frame = ClientFrame.make(opcode: opcode, payload: [0x03, 0xE8], fin: false)
        #expect(Self.closeCode(Self.scanCopy(frame)) == .protocolError)
    }

    @Test(arguments: [0x8, 0x9, 0xA] as [UInt8])
    func controlOver125Is1002(_ opcode: UInt8) {
        let ok = ClientFrame.make(opcode: opcode, payload: [0x03, 0xE8] + [UInt8](repeating: 0x61, count: 123))
        guard case .frame(let f) = Self.scanCopy(ok) else { Issue.record("125-byte control refused"); return }
        #expect(f.payload.count == 125)
        let big = ClientFrame.make(opcode: opcode, payload: [0x03, 0xE8] + [UInt8](repeating: 0x61, count: 124))
        #expect(Self.closeCode(Self.scanCopy(big)) == .protocolError)
        // The 7-bit length 126 alone, before the extended length arrives, is enough.
        #expect(Self.closeCode(Self.scanCopy(Array(big[..<2]))) == .protocolError)
        let huge = ClientFrame.make(opcode: opcode, payload: [], form: .sixtyFour)
        #expect(Self.closeCode(Self.scanCopy(Array(huge[..<2]))) == .protocolError)
    }

    @Test func sixtyFourBitLengthWithTopBitIs1002() {
        var header: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x05]
        #expect(Self.closeCode(Self.scan(&header, maxPayload: Int.max)) == .protocolError)
        var all: [UInt8] = [0x82, 0xFF] + [UInt8](repeating: 0xFF, count: 8)
        #expect(Self.closeCode(Self.scan(&all, maxPayload: Int.max)) == .protocolError)
    }

    @Test func overMaxPayloadIs1009FromTheHeaderOnly() {
        // 7-bit form: two bytes are enough.
        #expect(Self.closeCode(Self.scanCopy([0x82, 0x80 | 101], maxPayload: 100)) == .messageTooBig)
        // 16-bit form: four bytes.
        #expect(Self.scanCopy([0x82, 0xFE, 0x01], maxPayload: 1000) == .needMore)
        #expect(Self.closeCode(Self.scanCopy([0x82, 0xFE, 0x03, 0xE9], maxPayload: 1000)) == .messageTooBig)
        // 64-bit form: ten bytes, no mask key or payload yet.
        #expect(Self.closeCode(Self.scanCopy([0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0], maxPayload: 1 << 24)) == .messageTooBig)
        #expect(Self.closeCode(Self.scanCopy([0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], maxPayload: 1 << 24)) == .messageTooBig)
        // Exactly at the limit waits for the payload instead.
        #expect(Self.scanCopy([0x82, 0x80 | 100], maxPayload: 100) == .needMore)
        #expect(Self.scanCopy([0x82, 0xFE, 0x03, 0xE8], maxPayload: 1000) == .needMore)
        // A continuation is checked against the limit too.
        #expect(Self.closeCode(Self.scanCopy([0x00, 0x80 | 101], maxPayload: 100)) == .messageTooBig)
    }

    @Test func recordedClientCloseFrame() {
        var bytes = Vectors.named("ws.client_close_frame").bytes
        #expect(Self.scan(&bytes) == .frame(WebSocketFrame(fin: true, opcode: .close, payload: 6..<6, end: 6)))
    }

    // MARK: Encoder

    @Test(arguments: [
        (0, [0x82, 0x00] as [UInt8]),
        (125, [0x82, 0x7D]),
        (126, [0x82, 0x7E, 0x00, 0x7E]),
        (65535, [0x82, 0x7E, 0xFF, 0xFF]),
        (65536, [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
    ])
    func encoderHeaderBytes(_ n: Int, _ expected: [UInt8]) {
        #expect(WebSocketFrameEncoder.headerLength(payloadLength: n) == expected.count)
        var out = [UInt8](repeating: 0xEE, count: 12)
        let end = out.withUnsafeMutableBytes { WebSocketFrameEncoder.writeHeader(.binary, payloadLength: n, into: $0, at: 1) }
        #expect(end == 1 + expected.count)
        #expect(Array(out[1..<end]) == expected)
        #expect(out[0] == 0xEE && out[end] == 0xEE)
        let frame = WebSocketFrameEncoder.frame(.binary, payload: [UInt8](repeating: 0x5A, count: n))
        #expect(Array(frame.prefix(expected.count)) == expected)
        #expect(frame.count == expected.count + n)
    }

    @Test func encoderOpcodesAndFin() {
        #expect(WebSocketFrameEncoder.frame(.text, payload: Array("hi".utf8)) == [0x81, 0x02, 0x68, 0x69])
        #expect(WebSocketFrameEncoder.frame(.binary, payload: [7], fin: false) == [0x02, 0x01, 0x07])
        #expect(WebSocketFrameEncoder.frame(.continuation, payload: [], fin: true) == [0x80, 0x00])
        #expect(WebSocketFrameEncoder.frame(.pong, payload: [1, 2]) == [0x8A, 0x02, 0x01, 0x02])
        #expect(WebSocketFrameEncoder.close(1002) == [0x88, 0x02, 0x03, 0xEA])
    }

    @Test func encoderCloseMatchesTheRecording() {
        #expect(WebSocketFrameEncoder.close(1000) == Vectors.named("ws.close_frame_after_kick").bytes)
        #expect(WebSocketFrameEncoder.close(1000) == Vectors.named("ws.server_close_frame_reply").bytes)
    }

    @Test func opcodeKinds() {
        let control = [WebSocketOpcode.close, .ping, .pong].filter { $0.isControl }
        let data = [WebSocketOpcode.continuation, .text, .binary].filter { $0.isControl }
        #expect(control == [.close, .ping, .pong])
        #expect(data.isEmpty)
    }
}

import Testing
@testable import ShaddockProtocol

@Suite struct WebSocketMessageStateTests {
    static func frame(_ opcode: WebSocketOpcode, fin: Bool = true, length: Int = 0) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, payload: 10..<10 + length, end: 10 + length)
    }

    static func code(_ a: WebSocketMessageState.Action) -> WebSocketCloseCode? {
        if case .failure(let c, _) = a { return c }
        return nil
    }

    @Test func singleFrameMessages() {
        var s = WebSocketMessageState(maxMessage: 100)
        #expect(s.step(Self.frame(.binary, length: 100)) == .message(.binary))
        #expect(s.step(Self.frame(.text, length: 3)) == .message(.text))
        #expect(!s.inMessage)
    }

    @Test func beginAppendFinish() {
        var s = WebSocketMessageState(maxMessage: 100)
        #expect(s.step(Self.frame(.binary, fin: false, length: 10)) == .begin(.binary))
        #expect(s.inMessage)
        #expect(s.step(Self.frame(.continuation, fin: false, length: 10)) == .append(.binary))
        #expect(s.step(Self.frame(.continuation, fin: false, length: 0)) == .append(.binary))
        #expect(s.inMessage)
        #expect(s.step(Self.frame(.continuation, fin: true, length: 10)) == .finish(.binary))
        #expect(!s.inMessage)
        // The state is clean for the next message.
        #expect(s.step(Self.frame(.text, fin: false, length: 1)) == .begin(.text))
        #expect(s.step(Self.frame(.continuation, fin: true, length: 1)) == .finish(.text))
        #expect(s.step(Self.frame(.binary, length: 5)) == .message(.binary))
    }

    @Test func continuationWithoutStartIs1002() {
        var s = WebSocketMessageState(maxMessage: 100)
        #expect(Self.code(s.step(Self.frame(.continuation, fin: true))) == .protocolError)
        var t = WebSocketMessageState(maxMessage: 100)
        #expect(Self.code(t.step(Self.frame(.continuation, fin: false, length: 4))) == .protocolError)
        // Also right after a message has finished.
        var u = WebSocketMessageState(maxMessage: 100)
        _ = u.step(Self.frame(.binary, fin: false, length: 1))
        _ = u.step(Self.frame(.continuation, fin: true, length: 1))
        #expect(Self.code(u.step(Self.frame(.continuation, fin: true, length: 1))) == .protocolError)
    }

    @Test(arguments: [(WebSocketOpcode.binary, true), (.binary, false), (.text, true), (.text, false)])
    func dataFrameInsideFragmentedMessageIs1002(_ opcode: WebSocketOpcode, _ fin: Bool) {
        var s = WebSocketMessageState(maxMessage: 100)
        #expect(s.step(Self.frame(.binary, fin: false, length: 1)) == .begin(.binary))
        #expect(Self.code(s.step(Self.frame(opcode, fin: fin, length: 1))) == .protocolError)
    }

    @Test func fragmentedTotalOverMaxIs1009() {
        var s = WebSocketMessageState(maxMessage: 100)
        #expect(s.step(Self.frame(.binary, fin: false, length: 40)) == .begin(.binary))
        #expect(s.step(Self.frame(.continuation, fin: false, length: 40)) == .append(.binary))
        #expect(Self.code(s.step(Self.frame(.continuation, fin: false, length: 21))) == .messageTooBig)

        var t = WebSocketMessageState(maxMessage: 100)
        _ = t.step(Self.frame(.binary, fin: false, length: 50))
        #expect(Self.code(t.step(Self.frame(.continuation, fin: true, length: 51))) == .messageTooBig)
    }

    @Test func fragmentedTotalExactlyAtMax() {
        var s = WebSocketMessageState(maxMessage: 100)
        _ = s.step(Self.frame(.binary, fin: false, length: 50))
        #expect(s.step(Self.frame(.continuation, fin: false, length: 25)) == .append(.binary))
        #expect(s.step(Self.frame(.continuation, fin: true, length: 25)) == .finish(.binary))
        // The count restarts with the next message.
        #expect(s.step(Self.frame(.binary, fin: false, length: 100)) == .begin(.binary))
        #expect(s.step(Self.frame(.continuation, fin: true, length: 0)) == .finish(.binary))
    }

    @Test func controlFramesInterleaveInAFragmentedMessage() {
        var s = WebSocketMessageState(maxMessage: 100)
        #expect(s.step(Self.frame(.text, fin: false, length: 5)) == .begin(.text))
        #expect(s.step(Self.frame(.ping, length: 4)) == .ping)
        #expect(s.step(Self.frame(.continuation, fin: false, length: 5)) == .append(.text))
        #expect(s.step(Self.frame(.pong, length: 0)) == .pong)
        #expect(s.inMessage)
        // Control payloads do not count towards the message size.
        #expect(s.step(Self.frame(.ping, length: 125)) == .ping)
        #expect(s.step(Self.frame(.continuation, fin: true, length: 90)) == .finish(.text))
    }

    @Test func closeInsideAFragmentedMessage() {
        var s = WebSocketMessageState(maxMessage: 100)
        _ = s.step(Self.frame(.binary, fin: false, length: 5))
        #expect(s.step(Self.frame(.close, length: 2)) == .close)
    }

    @Test func controlFramesOutsideMessages() {
        var s = WebSocketMessageState(maxMessage: 100)
        #expect(s.step(Self.frame(.ping)) == .ping)
        #expect(s.step(Self.frame(.pong)) == .pong)
        #expect(s.step(Self.frame(.close)) == .close)
        #expect(!s.inMessage)
    }

    // MARK: closeReply

    static func closeReply(_ bytes: [UInt8]) -> Result<UInt16, WebSocketMessageState.CloseError> {
        bytes.withUnsafeBytes { WebSocketMessageState.closeReply($0) }
    }

    static func codeBytes(_ code: UInt16) -> [UInt8] { [UInt8(code >> 8), UInt8(code & 0xFF)] }

    @Test func emptyCloseIsAnsweredWith1000() {
        #expect(Self.closeReply([]) == .success(1000))
    }

    @Test func oneByteCloseIs1002() {
        guard case .failure(let e) = Self.closeReply([0x03]) else { Issue.record("accepted"); return }
        #expect(e.code == .protocolError)
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func codesNotAllowedOnTheWire(_ code: UInt16) {
        guard case .failure(let e) = Self.closeReply(Self.codeBytes(code)) else { Issue.record("\(code) accepted"); return }
        #expect(e.code == .protocolError)
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] as [UInt16])
    func codesAllowedOnTheWire(_ code: UInt16) {
        #expect(Self.closeReply(Self.codeBytes(code)) == .success(code))
        #expect(Self.closeReply(Self.codeBytes(code) + Array("bye – ok ✓".utf8)) == .success(code))
    }

    @Test(arguments: [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x61, 0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80]] as [[UInt8]])
    func invalidUTF8ReasonIs1007(_ reason: [UInt8]) {
        guard case .failure(let e) = Self.closeReply(Self.codeBytes(1000) + reason) else { Issue.record("accepted"); return }
        #expect(e.code == .invalidPayload)
    }

    @Test func longestReason() {
        let reason = [UInt8](repeating: UInt8(ascii: "r"), count: 123)
        #expect(Self.closeReply(Self.codeBytes(4000) + reason) == .success(4000))
    }
}

import Testing
@testable import ShaddockProtocol

@Suite struct MessageTests {
    static func decode(_ bytes: [UInt8]) -> Result<MessageView, MessageError> {
        bytes.withUnsafeBytes { b in Result { () throws(MessageError) in try Message.decode(b) } }
    }

    static func view(_ bytes: [UInt8]) throws -> MessageView { try decode(bytes).get() }

    @Test func requestWithRouteCode() throws {
        let m = try Self.view([0x01, 0xAC, 0x02, 0x00, 0x03, 0x7B, 0x7D])
        #expect(m == MessageView(type: .request, id: 300, routeCode: 3, routeName: nil, body: 5..<7, gzipped: false))
    }

    @Test func requestWithRouteString() throws {
        let route = Array("connector.entryHandler.entry".utf8)
        let bytes = [0x00, 0x02, UInt8(route.count)] + route + Array("{}".utf8)
        let m = try Self.view(bytes)
        #expect(m.type == .request)
        #expect(m.id == 2)
        #expect(m.routeCode == nil)
        let name = try #require(m.routeName)
        #expect(name == 3..<3 + route.count)
        #expect(Array(bytes[name]) == route)
        #expect(Array(bytes[m.body]) == Array("{}".utf8))
    }

    @Test func notifyHasNoID() throws {
        let m = try Self.view([0x03, 0x00, 0x06, 0x7B, 0x7D])
        #expect(m == MessageView(type: .notify, id: 0, routeCode: 6, routeName: nil, body: 3..<5, gzipped: false))
        let s = try Self.view([0x02, 0x01, 0x61, 0x78])
        #expect(s == MessageView(type: .notify, id: 0, routeCode: nil, routeName: 2..<3, body: 3..<4, gzipped: false))
    }

    @Test func responseHasNoRoute() throws {
        // The route bit means nothing on a response: the byte after the id is body.
        let m = try Self.view([0x04, 0x05, 0x7B, 0x7D])
        #expect(m == MessageView(type: .response, id: 5, routeCode: nil, routeName: nil, body: 2..<4, gzipped: false))
        let r = try Self.view([0x05, 0x05, 0x7B, 0x7D])
        #expect(r.routeCode == nil && r.body == 2..<4)
        // Unlike a request, a response id 0 is not refused.
        #expect(try Self.view([0x04, 0x00]).id == 0)
    }

    @Test func pushWithCodeAndWithName() throws {
        #expect(try Self.view([0x07, 0x00, 0x08, 0x7B, 0x7D])
            == MessageView(type: .push, id: 0, routeCode: 8, routeName: nil, body: 3..<5, gzipped: false))
        #expect(try Self.view([0x06, 0x06] + Array("onChat".utf8))
            == MessageView(type: .push, id: 0, routeCode: nil, routeName: 2..<8, body: 8..<8, gzipped: false))
    }

    @Test func emptyBodyIsAnEmptyRangeAtTheEnd() throws {
        let m = try Self.view([0x01, 0x01, 0x00, 0x03])
        #expect(m.body == 4..<4)
    }

    @Test func gzipBitIsReported() throws {
        let m = try Self.view([0x11, 0x01, 0x00, 0x03, 0x1F, 0x8B])
        #expect(m.gzipped)
        #expect(m.type == .request && m.routeCode == 3 && m.body == 4..<6)
        #expect(try Self.view([0x14, 0x01]).gzipped)
        #expect(try !Self.view([0x04, 0x01]).gzipped)
    }

    @Test func empty() {
        #expect(Self.decode([]) == .failure(.empty))
    }

    @Test(arguments: [4, 5, 6, 7] as [UInt8])
    func unknownType(_ type: UInt8) {
        for extra: UInt8 in [0x00, 0x01, 0x10] {
            #expect(Self.decode([type << 1 | extra, 0x01, 0x00, 0x03]) == .failure(.unknownType(type)))
        }
    }

    @Test func badID() {
        // Six continuation bytes: longer than any 32-bit id.
        #expect(Self.decode([0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x03]) == .failure(.badID))
        // Five bytes, but 2^32.
        #expect(Self.decode([0x01, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x03]) == .failure(.badID))
        // The message ends inside the id.
        #expect(Self.decode([0x01, 0xAC]) == .failure(.badID))
        #expect(Self.decode([0x00]) == .failure(.badID))
        #expect(Self.decode([0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) == .failure(.badID))
    }

    @Test func largestID() throws {
        let m = try Self.view([0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00, 0x03])
        #expect(m.id == UInt32.max && m.routeCode == 3 && m.body == 8..<8)
    }

    @Test func zeroRequestID() {
        #expect(Self.decode([0x01, 0x00, 0x00, 0x03, 0x7B, 0x7D]) == .failure(.zeroID))
        #expect(Self.decode([0x00, 0x00, 0x01, 0x61]) == .failure(.zeroID))
    }

    @Test func truncatedCompressedRoute() {
        #expect(Self.decode([0x01, 0x01]) == .failure(.truncatedRoute))
        #expect(Self.decode([0x01, 0x01, 0x00]) == .failure(.truncatedRoute))
        #expect(Self.decode([0x03]) == .failure(.truncatedRoute))
        #expect(Self.decode([0x03, 0x00]) == .failure(.truncatedRoute))
        #expect(Self.decode([0x07, 0x00]) == .failure(.truncatedRoute))
    }

    @Test func uncompressedRouteProblems() {
        // No length byte at all.
        #expect(Self.decode([0x00, 0x01]) == .failure(.truncatedRoute))
        #expect(Self.decode([0x02]) == .failure(.truncatedRoute))
        // Length 0.
        #expect(Self.decode([0x00, 0x01, 0x00, 0x7B, 0x7D]) == .failure(.emptyRoute))
        #expect(Self.decode([0x02, 0x00]) == .failure(.emptyRoute))
        // Length past the end.
        #expect(Self.decode([0x00, 0x01, 0x05, 0x61, 0x62]) == .failure(.truncatedRoute))
        #expect(Self.decode([0x02, 0xFF] + [UInt8](repeating: 0x61, count: 254)) == .failure(.truncatedRoute))
    }

    @Test func longestRouteString() throws {
        let route = [UInt8](repeating: 0x61, count: 255)
        let m = try Self.view([0x02, 0xFF] + route + [0x7B, 0x7D])
        #expect(m.routeName == 2..<257 && m.body == 257..<259)
    }

    /// Every prefix of a message either fails or decodes to a shorter body;
    /// never a crash. A truncated header must never be mistaken for a body.
    @Test func everyPrefixOfAHeaderFails() {
        let bytes: [UInt8] = [0x00, 0xAC, 0x02, 0x04, 0x61, 0x62, 0x63, 0x64]
        for cut in 0..<bytes.count {
            if case .success(let m) = Self.decode(Array(bytes[..<cut])) {
                Issue.record("prefix of \(cut) bytes decoded to \(m)")
            }
        }
        #expect(Self.decode(bytes) == .success(MessageView(type: .request, id: 300, routeCode: nil, routeName: 4..<8, body: 8..<8, gzipped: false)))
    }

    @Test func encodeMatchesHandBuiltBytes() {
        #expect(Message.encode(type: .request, id: 300, routeCode: 3, body: Array("{}".utf8)) == [0x01, 0xAC, 0x02, 0x00, 0x03, 0x7B, 0x7D])
        #expect(Message.encode(type: .request, id: 2, route: "ab", body: []) == [0x00, 0x02, 0x02, 0x61, 0x62])
        #expect(Message.encode(type: .notify, routeCode: 0x0102, body: [0x7B, 0x7D]) == [0x03, 0x01, 0x02, 0x7B, 0x7D])
        #expect(Message.encode(type: .response, id: 1, body: [0x7B, 0x7D]) == [0x04, 0x01, 0x7B, 0x7D])
        // A route code given for a response is ignored, not written.
        #expect(Message.encode(type: .response, id: 1, routeCode: 9, body: []) == [0x04, 0x01])
        #expect(Message.encode(type: .push, routeCode: 7, body: [0x7B, 0x7D]) == [0x07, 0x00, 0x07, 0x7B, 0x7D])
        #expect(Message.encode(type: .push, route: "onChat", body: []) == [0x06, 0x06] + Array("onChat".utf8))
    }

    @Test func encodeDecodeRoundTrip() throws {
        let cases: [(MessageType, UInt32, UInt16?, String?)] = [
            (.request, 1, 3, nil), (.request, UInt32.max, nil, "a.b.c"), (.notify, 0, 65535, nil),
            (.notify, 0, nil, "chat.chatHandler.notify"), (.response, 16384, nil, nil), (.push, 0, 1, nil),
            (.push, 0, nil, String(repeating: "r", count: 255)),
        ]
        for (type, id, code, route) in cases {
            let body = Array("{\"k\":\"v\"}".utf8)
            let bytes = Message.encode(type: type, id: id, routeCode: code, route: route, body: body)
            let m = try Self.view(bytes)
            #expect(m.type == type && m.id == id && m.routeCode == code && !m.gzipped)
            #expect(m.routeName.map { Array(bytes[$0]) } == route.map { Array($0.utf8) })
            #expect(Array(bytes[m.body]) == body)
        }
    }

    @Test func responseAndPushHeaderWriters() {
        for id: UInt32 in [1, 127, 128, 300, UInt32.max] {
            var out = [UInt8](repeating: 0xEE, count: 1 + 1 + Varint.maxLength + 1)
            let end = out.withUnsafeMutableBytes { Message.writeResponseHeader(id: id, into: $0, at: 1) }
            #expect(end == 1 + Message.responseHeaderLength(id: id))
            #expect(Array(out[1..<end]) == Message.encode(type: .response, id: id, body: []))
            #expect(out[0] == 0xEE && out[end] == 0xEE)
        }
        var out = [UInt8](repeating: 0xEE, count: 5)
        let end = out.withUnsafeMutableBytes { Message.writePushHeader(code: 0x0A0B, into: $0, at: 1) }
        #expect(end == 4)
        #expect(out == [0xEE, 0x07, 0x0A, 0x0B, 0xEE])
    }
}

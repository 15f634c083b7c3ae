import Testing
@testable import ShaddockProtocol

@Suite struct VarintTests {
    /// Values at every 7-bit group boundary, with the bytes Pomelo's clients write.
    static let known: [(UInt32, [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (300, [0xAC, 0x02]),
        (16383, [0xFF, 0x7F]),
        (16384, [0x80, 0x80, 0x01]),
        (1 << 21, [0x80, 0x80, 0x80, 0x01]),
        (1 << 28, [0x80, 0x80, 0x80, 0x80, 0x01]),
        (UInt32.max, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    ]

    @Test(arguments: known.map { $0.0 })
    func encodesToKnownBytes(_ value: UInt32) {
        let expected = Self.known.first { $0.0 == value }!.1
        #expect(Varint.encode(value) == expected)
        #expect(Varint.size(of: value) == expected.count)
    }

    @Test(arguments: known.map { $0.0 })
    func roundTrips(_ value: UInt32) throws {
        // Surrounding bytes check that read honours the offset and stops at the last group.
        let bytes = [0xEE, 0xEE] + Varint.encode(value) + [0x7B]
        let got = bytes.withUnsafeBytes { Varint.read($0, at: 2) }
        let r = try #require(got)
        #expect(r.value == value)
        #expect(r.next == 2 + Varint.size(of: value))
    }

    @Test func writeAtOffsetReturnsEnd() {
        var out = [UInt8](repeating: 0xEE, count: 9)
        let end = out.withUnsafeMutableBytes { Varint.write(300, into: $0, at: 3) }
        #expect(end == 5)
        #expect(out == [0xEE, 0xEE, 0xEE, 0xAC, 0x02, 0xEE, 0xEE, 0xEE, 0xEE])
    }

    @Test func truncatedIsNil() {
        for value in Self.known.map(\.0) where Varint.size(of: value) > 1 {
            let enc = Varint.encode(value)
            for cut in 0..<enc.count {
                let prefix = Array(enc[..<cut])
                #expect(prefix.withUnsafeBytes { Varint.read($0, at: 0) } == nil, "value \(value) cut at \(cut)")
            }
        }
        #expect([UInt8]().withUnsafeBytes { Varint.read($0, at: 0) } == nil)
    }

    @Test func sixContinuationBytesIsNil() {
        let bytes: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
        #expect(bytes.withUnsafeBytes { Varint.read($0, at: 0) } == nil)
    }

    @Test func fiveBytesOverUInt32IsNil() {
        // 2^32 and the largest 5-byte value: both need more than 32 bits.
        for bytes: [UInt8] in [[0x80, 0x80, 0x80, 0x80, 0x10], [0xFF, 0xFF, 0xFF, 0xFF, 0x7F]] {
            #expect(bytes.withUnsafeBytes { Varint.read($0, at: 0) } == nil, "\(toHex(bytes))")
        }
    }

    @Test func nonMinimalEncodingStillReads() {
        // Not canonical, but a decoder has no reason to refuse it.
        let bytes: [UInt8] = [0x81, 0x00]
        let r = bytes.withUnsafeBytes { Varint.read($0, at: 0) }
        #expect(r?.value == 1)
        #expect(r?.next == 2)
    }

    @Test func randomRoundTrips() {
        var rng = SeededRandom(seed: 7)
        for _ in 0..<2000 {
            let v = UInt32(truncatingIfNeeded: rng.next() >> UInt64.random(in: 0...63, using: &rng))
            let enc = Varint.encode(v)
            #expect(enc.count == Varint.size(of: v))
            #expect(enc.dropLast().allSatisfy { $0 & 0x80 != 0 } && enc.last! & 0x80 == 0)
            let r = enc.withUnsafeBytes { Varint.read($0, at: 0) }
            #expect(r?.value == v && r?.next == enc.count)
        }
    }
}

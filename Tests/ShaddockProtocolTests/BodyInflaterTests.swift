import Testing
@testable import ShaddockProtocol

/// Bodies with Pomelo's gzip flag: zlib and gzip streams inflated within a
/// limit; zip bombs stopped at it; truncated, corrupt, headerless or
/// followed-by-more streams refused.
@Suite struct BodyInflaterTests {
    static func deflated(_ bytes: [UInt8], windowBits: Int32 = 15) -> [UInt8] {
        deflateBody(bytes, format: windowBits == 15 ? .zlib : windowBits == 31 ? .gzip : .raw)!
    }

    static func inflate(_ bytes: [UInt8], limit: Int = 65536, with inflater: BodyInflater = BodyInflater()!) -> [UInt8]? {
        bytes.withUnsafeBytes { b -> [UInt8]? in
            if case .bytes(let out) = inflater.inflate(b, limit: limit) { return Array(out) }
            return nil
        }
    }

    static func outcome(_ bytes: [UInt8], limit: Int = 65536) -> BodyInflation {
        let inflater = BodyInflater()!
        return bytes.withUnsafeBytes { b in
            switch inflater.inflate(b, limit: limit) {
            case .bytes: return .bytes(UnsafeRawBufferPointer(start: nil, count: 0))
            case let other: return other
            }
        }
    }

    static let json = Array(#"{"content":"hello hello hello hello","target":"*","n":[1,2,3,4,5,6,7,8,9]}"#.utf8)

    @Test func zlibAndGzipBothInflate() {
        #expect(Self.inflate(Self.deflated(Self.json)) == Self.json)
        #expect(Self.inflate(Self.deflated(Self.json, windowBits: 31)) == Self.json)
        // One inflater, body after body, growing its buffer past 4 KiB.
        let inflater = BodyInflater()!
        let big = [UInt8](repeating: 0x61, count: 50_000) + Self.json
        for body in [Self.json, big, Self.json, big] {
            #expect(Self.inflate(Self.deflated(body, windowBits: body.count % 2 == 0 ? 15 : 31), with: inflater) == body)
        }
    }

    @Test func theLimitHoldsWhileInflating() {
        let exact = [UInt8](repeating: 0x7B, count: 1000)
        #expect(Self.inflate(Self.deflated(exact), limit: 1000) == exact, "exactly the limit")
        #expect(Self.outcome(Self.deflated(exact), limit: 999) == .tooLarge)
        // 64 MiB of zeros in about 64 KB: stopped at the limit.
        let bomb = Self.deflated([UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.count < 100_000)
        #expect(Self.outcome(bomb, limit: 65536) == .tooLarge)
    }

    @Test func whatIsNotAWholeStreamIsRefused() {
        let good = Self.deflated(Self.json)
        #expect(Self.outcome(Array(good.dropLast(3))) == .corrupt, "truncated")
        #expect(Self.outcome(good + [0x00]) == .corrupt, "followed by more")
        var flipped = good
        flipped[good.count / 2] ^= 0xFF
        #expect(Self.outcome(flipped) == .corrupt, "damaged")
        #expect(Self.outcome(Self.deflated(Self.json, windowBits: -15)) == .corrupt, "raw deflate, no header")
        #expect(Self.outcome(Self.json) == .corrupt, "not compressed")
        #expect(Self.outcome([]) == .corrupt, "empty")
        // The inflater is fine after a refusal.
        let inflater = BodyInflater()!
        _ = Self.inflate(flipped, with: inflater)
        #expect(Self.inflate(good, with: inflater) == Self.json)
    }
}

import Testing
@testable import ShaddockProtocol

@Suite struct UTF8ValidationTests {
    static func valid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { UTF8Validation.isValid($0) } }

    /// The standard library's validator, an independent implementation of the same table.
    static func reference(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    @Test func emptyAndASCII() {
        #expect(Self.valid([]))
        #expect(Self.valid(Array("a".utf8)))
        #expect(Self.valid(Array("Hello, world! {\"k\":[1,2,3]}".utf8)))
        #expect(Self.valid((0...0x7F).map { UInt8($0) }))
    }

    @Test(arguments: [
        [0xC2, 0x80], [0xDF, 0xBF], [0xC3, 0xA9],  // U+0080, U+07FF, é
        [0xE0, 0xA0, 0x80], [0xE2, 0x82, 0xAC], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],  // U+0800, €, U+D7FF, U+E000, U+FFFF
        [0xF0, 0x90, 0x80, 0x80], [0xF0, 0x9F, 0x98, 0x80], [0xF3, 0xBF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF],  // U+10000, 😀, U+FFFFF, U+10FFFF
    ] as [[UInt8]])
    func validMultiByte(_ seq: [UInt8]) {
        #expect(Self.valid(seq))
        #expect(Self.valid(Array("ab".utf8) + seq + Array("cd".utf8)))
        #expect(Self.valid(seq + seq + seq))
        #expect(Self.valid([UInt8](repeating: 0x41, count: 13) + seq))
    }

    @Test(arguments: [
        // Overlongs.
        [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
        // Surrogates.
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80],
        // Past U+10FFFF, and bytes that never appear.
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF7, 0xBF, 0xBF, 0xBF], [0xF8, 0x88, 0x80, 0x80, 0x80],
        [0xFC, 0x84, 0x80, 0x80, 0x80, 0x80], [0xFE], [0xFF],
        // Lone continuation bytes.
        [0x80], [0xBF], [0x61, 0x80, 0x62], [0xC3, 0xA9, 0xA9],
        // A lead byte followed by a non-continuation.
        [0xC3, 0x41], [0xE2, 0x82, 0x41], [0xF0, 0x9F, 0x98, 0x41], [0xE2, 0xC3, 0xA9],
    ] as [[UInt8]])
    func invalid(_ seq: [UInt8]) {
        #expect(!Self.valid(seq))
        #expect(!Self.valid(Array("abc".utf8) + seq))
        #expect(!Self.valid(seq + Array("abcdefghijklmnop".utf8)))
        #expect(Self.reference(seq) == false)
    }

    @Test(arguments: [[0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80]] as [[UInt8]])
    func truncatedSequences(_ seq: [UInt8]) {
        for cut in 1..<seq.count {
            let prefix = Array(seq[..<cut])
            #expect(!Self.valid(prefix), "\(toHex(prefix)) alone")
            #expect(!Self.valid(Array("abcdefgh".utf8) + prefix), "\(toHex(prefix)) at the end")
            #expect(!Self.valid(Array("ab".utf8) + prefix + Array("cdefghijkl".utf8)), "\(toHex(prefix)) in the middle")
            #expect(!Self.valid(prefix + seq), "\(toHex(prefix)) before a whole sequence")
        }
    }

    /// One bad byte in a run of ASCII, at every position the eight-byte skip
    /// could jump over.
    @Test(arguments: [0x80, 0xC0, 0xFF, 0xE2] as [UInt8])
    func oneBadByteInAnASCIIRun(_ bad: UInt8) {
        for length in [8, 16, 21, 24, 33] {
            for position in 0...min(20, length - 1) {
                var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: length)
                bytes[position] = bad
                #expect(!Self.valid(bytes), "length \(length), byte \(toHex([bad])) at \(position)")
            }
        }
    }

    @Test func validSequenceAtEveryPositionOfARun() {
        let seq: [UInt8] = [0xF0, 0x9F, 0x98, 0x80]
        for position in 0...20 {
            var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 24)
            bytes.replaceSubrange(position..<position + 4, with: seq)
            #expect(Self.valid(bytes), "at \(position)")
            // And cut one byte short where the run resumes.
            bytes[position + 3] = UInt8(ascii: "x")
            #expect(!Self.valid(bytes), "cut at \(position)")
        }
    }

    @Test func longASCII() {
        #expect(Self.valid([UInt8](repeating: 0x7F, count: 4099)))
        var bytes = [UInt8](repeating: 0x20, count: 4099)
        bytes[4098] = 0x80
        #expect(!Self.valid(bytes))
    }

    /// Random arrays built to hit the interesting cases often: ASCII runs,
    /// valid scalars of every length, truncated sequences, random bytes.
    @Test func agreesWithTheStandardLibraryOnRandomInput() {
        var rng = SeededRandom(seed: 0x5EED)
        var validSeen = 0, invalidSeen = 0
        for round in 0..<4000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0...2:
                    bytes += (0..<Int.random(in: 0...17, using: &rng)).map { _ in UInt8.random(in: 0...0x7F, using: &rng) }
                case 3...5:
                    bytes += Self.randomScalar(&rng)
                case 6:
                    bytes += Self.randomScalar(&rng).dropLast()
                case 7:
                    bytes.append(UInt8.random(in: 0x80...0xBF, using: &rng))
                case 8:
                    bytes.append(UInt8.random(in: 0...0xFF, using: &rng))
                default:
                    // A lead byte with arbitrary continuations: overlongs, surrogates, past U+10FFFF.
                    bytes.append(UInt8.random(in: 0xC0...0xFF, using: &rng))
                    bytes += (0..<Int.random(in: 1...3, using: &rng)).map { _ in UInt8.random(in: 0x80...0xBF, using: &rng) }
                }
            }
            let expected = Self.reference(bytes)
            if expected { validSeen += 1 } else { invalidSeen += 1 }
            #expect(Self.valid(bytes) == expected, "round \(round): \(toHex(bytes))")
        }
        // The generator must exercise both outcomes for the comparison to mean anything.
        #expect(validSeen > 500 && invalidSeen > 500)
    }

    static func randomScalar(_ rng: inout SeededRandom) -> [UInt8] {
        let ranges: [ClosedRange<UInt32>] = [0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF]
        let range = ranges[Int.random(in: 0..<ranges.count, using: &rng)]
        let scalar = Unicode.Scalar(UInt32.random(in: range, using: &rng))!
        return Array(String(Character(scalar)).utf8)
    }
}

/// Text checked in pieces, as the fragments of a WebSocket message arrive.
@Suite struct UTF8StreamTests {
    /// Feeds `pieces`; the index of the piece refused, or nil if all are taken.
    static func refusedAt(_ pieces: [[UInt8]]) -> (refused: Int?, complete: Bool) {
        var stream = UTF8Validation.Stream()
        for (i, piece) in pieces.enumerated() where !piece.withUnsafeBytes({ stream.feed($0) }) {
            return (i, false)
        }
        return (nil, stream.isComplete)
    }

    static func wholeInPieces(_ pieces: [[UInt8]]) -> Bool {
        let r = refusedAt(pieces)
        return r.refused == nil && r.complete
    }

    static func validPrefix(_ bytes: [UInt8]) -> Int? { bytes.withUnsafeBytes { UTF8Validation.validPrefix($0) } }

    @Test func validPrefixStopsBeforeACutCharacter() {
        #expect(Self.validPrefix([]) == 0)
        #expect(Self.validPrefix(Array("abc".utf8)) == 3)
        #expect(Self.validPrefix(Array("ab".utf8) + [0xE2, 0x82]) == 2)
        #expect(Self.validPrefix([0xF0, 0x9F, 0x98]) == 0)
        #expect(Self.validPrefix(Array("abcdefghij".utf8) + [0xC3]) == 10)
        // Cut, but already ill-formed as far as it goes.
        #expect(Self.validPrefix([0xF4, 0x90]) == nil)
        #expect(Self.validPrefix([0xED, 0xA0]) == nil)
        #expect(Self.validPrefix([0xE0, 0x80]) == nil)
        #expect(Self.validPrefix([0x61, 0xF5]) == nil)
    }

    /// Every way of cutting the test vectors in two and three agrees with
    /// checking the whole.
    @Test func everyCutAgreesWithTheWhole() {
        let vectors: [[UInt8]] = [
            Array("κόσμε – ✓ 😀 done".utf8),
            [0xF0, 0x9F, 0x98, 0x80, 0xF4, 0x8F, 0xBF, 0xBF, 0xE0, 0xA0, 0x80],
            Array("ab".utf8) + [0xF4, 0x90, 0x80, 0x80] + Array("cd".utf8),
            [0xED, 0xA0, 0x80], [0xC0, 0x80], [0xE2, 0x82], Array("x".utf8) + [0xF0, 0x9F, 0x98],
            [0xC3, 0xA9, 0xA9], [0xE2, 0xC3, 0xA9],
        ]
        for bytes in vectors {
            let whole = UTF8ValidationTests.valid(bytes)
            for i in 0...bytes.count {
                let two = [Array(bytes[..<i]), Array(bytes[i...])]
                #expect(Self.wholeInPieces(two) == whole, "\(toHex(bytes)) cut at \(i)")
                for j in i...bytes.count {
                    let three = [Array(bytes[..<i]), Array(bytes[i..<j]), Array(bytes[j...])]
                    #expect(Self.wholeInPieces(three) == whole, "\(toHex(bytes)) cut at \(i), \(j)")
                }
            }
        }
    }

    /// Autobahn 6.4.1 and 6.4.2: the piece that makes the text ill-formed is
    /// refused, whatever follows.
    @Test func refusedInThePieceThatBreaksIt() {
        let kosme = Array("κόσμε".utf8), edited = Array("edited".utf8)
        #expect(Self.refusedAt([kosme, [0xF4, 0x90, 0x80, 0x80], edited]).refused == 1)
        // The bad code point's first byte ends a piece: refused with the next.
        #expect(Self.refusedAt([kosme + [0xF4], [0x90], [0x80, 0x80] + edited]).refused == 1)
        #expect(Self.refusedAt([kosme + [0xE2, 0x82], [0xAC, 0xFF]]).refused == 1)
        // Whole so far, but a character is left unfinished.
        #expect(Self.refusedAt([kosme, [0xF0, 0x9F]]) == (nil, false))
        // Empty pieces change nothing.
        #expect(Self.wholeInPieces([[], [0xE2], [], [0x82], [], [0xAC], []]))
    }

    @Test func agreesWithTheStandardLibraryOnRandomCuts() {
        var rng = SeededRandom(seed: 0xC075)
        for round in 0..<2000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...8, using: &rng) {
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: bytes += (0..<Int.random(in: 0...9, using: &rng)).map { _ in UInt8.random(in: 0...0x7F, using: &rng) }
                case 1...3: bytes += UTF8ValidationTests.randomScalar(&rng)
                case 4: bytes += UTF8ValidationTests.randomScalar(&rng).dropLast()
                default: bytes.append(UInt8.random(in: 0x80...0xFF, using: &rng))
                }
            }
            var pieces: [[UInt8]] = []
            var rest = bytes[...]
            while !rest.isEmpty {
                let n = Int.random(in: 0...min(5, rest.count), using: &rng)
                pieces.append(Array(rest.prefix(n)))
                rest = rest.dropFirst(n)
            }
            #expect(Self.wholeInPieces(pieces) == UTF8ValidationTests.reference(bytes), "round \(round): \(pieces.map { toHex($0) })")
        }
    }
}

import Testing
@testable import ShaddockProtocol

@Suite struct PackageTests {
    static func scan(_ bytes: [UInt8], at offset: Int = 0, maxBody: Int = 1 << 16) -> PackageScan {
        bytes.withUnsafeBytes { Package.scan($0, at: offset, maxBody: maxBody) }
    }

    @Test func encodeWritesBigEndianLength() {
        #expect(Package.encode(.heartbeat, body: []) == [0x03, 0, 0, 0])
        #expect(Package.encode(.data, body: [UInt8](repeating: 7, count: 0x012345)).prefix(4) == [0x04, 0x01, 0x23, 0x45])
        #expect(Package.encode(.kick, body: Array("{}".utf8)) == [0x05, 0, 0, 2, 0x7B, 0x7D])
    }

    @Test func writeHeaderAtOffset() {
        var out = [UInt8](repeating: 0xEE, count: 8)
        let end = out.withUnsafeMutableBytes { Package.writeHeader(.handshake, bodyLength: 300, into: $0, at: 2) }
        #expect(end == 6)
        #expect(out == [0xEE, 0xEE, 0x01, 0x00, 0x01, 0x2C, 0xEE, 0xEE])
    }

    @Test(arguments: PackageType.allCases)
    func everyTypeRoundTrips(_ type: PackageType) {
        let body: [UInt8] = type == .data ? [0x01, 0x01, 0x00, 0x03, 0x7B, 0x7D] : Array("{\"a\":1}".utf8)
        let pkg = Package.encode(type, body: body)
        #expect(Self.scan(pkg) == .package(type, body: 4..<4 + body.count, end: pkg.count))
    }

    /// The scanner is stateless: every proper prefix says needMore and the
    /// whole package gives the same answer however it arrived.
    @Test(arguments: [0, 1, 5, 200])
    func everyPrefixNeedsMore(_ bodyLength: Int) {
        let body = (0..<bodyLength).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let pkg = Package.encode(.data, body: body)
        for cut in 0..<pkg.count {
            #expect(Self.scan(Array(pkg[..<cut])) == .needMore, "cut at \(cut)")
        }
        #expect(Self.scan(pkg) == .package(.data, body: 4..<4 + bodyLength, end: 4 + bodyLength))
    }

    @Test func emptyBufferAndOffsetAtEndNeedMore() {
        #expect(Self.scan([]) == .needMore)
        #expect(Self.scan([0x03, 0, 0, 0], at: 4) == .needMore)
    }

    @Test func backToBackPackagesInOneBuffer() {
        let packages: [(PackageType, [UInt8])] = [
            (.handshake, Array("{\"sys\":{}}".utf8)), (.handshakeAck, []), (.data, [0x02, 0x01, 0x61, 0x7B, 0x7D]),
            (.heartbeat, []), (.kick, Array("{\"reason\":\"x\"}".utf8)),
        ]
        let buffer = packages.flatMap { Package.encode($0.0, body: $0.1) }
        var offset = 0
        for (type, body) in packages {
            guard case .package(let t, let range, let end) = Self.scan(buffer, at: offset) else {
                Issue.record("no package at \(offset)")
                return
            }
            #expect(t == type)
            #expect(Array(buffer[range]) == body)
            #expect(range.lowerBound == offset + 4)
            offset = end
        }
        #expect(offset == buffer.count)
        #expect(Self.scan(buffer, at: offset) == .needMore)
    }

    /// Two packages split at every boundary, resumed the way a connection
    /// does: keep the unconsumed tail, rescan when more arrives.
    @Test func streamSplitAtEveryBoundary() {
        let a = Package.encode(.data, body: [0x02, 0x01, 0x61] + Array("{\"n\":1}".utf8))
        let b = Package.encode(.heartbeat, body: [])
        let c = Package.encode(.handshake, body: Array("{}".utf8))
        let stream = a + b + c
        for split in 0...stream.count {
            var got: [[UInt8]] = []
            var pending: [UInt8] = []
            for chunk in [stream[..<split], stream[split...]] {
                pending += chunk
                var offset = 0
                while case .package(_, _, let end) = Self.scan(pending, at: offset) {
                    got.append(Array(pending[offset..<end]))
                    offset = end
                }
                pending.removeFirst(offset)
            }
            #expect(got == [a, b, c], "split at \(split)")
            #expect(pending.isEmpty)
        }
    }

    @Test(arguments: [0x00, 0x06, 0x07, 0x47, 0xFF] as [UInt8])
    func unknownTypeFailsOnTheFirstByte(_ type: UInt8) {
        #expect(Self.scan([type]) == .failure(.unknownType(type)))
        #expect(Self.scan([type, 0, 0, 2, 0x7B, 0x7D]) == .failure(.unknownType(type)))
    }

    @Test func unknownTypeAtOffset() {
        #expect(Self.scan([0x03, 0, 0, 0, 0x06], at: 4) == .failure(.unknownType(6)))
    }

    @Test func tooLargeFromTheHeaderAlone() {
        // Only the 4 header bytes: the limit must be enforced before the body is awaited.
        #expect(Self.scan([0x04, 0x00, 0x01, 0x01], maxBody: 256) == .failure(.tooLarge(length: 257, limit: 256)))
        #expect(Self.scan([0x04, 0xFF, 0xFF, 0xFF], maxBody: 1 << 20) == .failure(.tooLarge(length: (1 << 24) - 1, limit: 1 << 20)))
        // Exactly at the limit is allowed and just waits for the body.
        #expect(Self.scan([0x04, 0x00, 0x01, 0x00], maxBody: 256) == .needMore)
        // Fewer than 4 bytes cannot tell the length yet.
        #expect(Self.scan([0x04, 0xFF, 0xFF], maxBody: 16) == .needMore)
    }

    @Test func bodyAtLimitIsAccepted() {
        let pkg = Package.encode(.data, body: [UInt8](repeating: 0x41, count: 64))
        #expect(Self.scan(pkg, maxBody: 64) == .package(.data, body: 4..<68, end: 68))
        #expect(Self.scan(pkg, maxBody: 63) == .failure(.tooLarge(length: 64, limit: 63)))
    }
}

/// Pomelo packages: a type byte, a 24-bit big-endian body length, the body.
/// The scanner is stateless: it looks at the bytes from a package boundary,
/// and "need more" consumes nothing, so a caller that keeps its unconsumed
/// tail can always resume at the same place.
public enum PackageType: UInt8, Sendable, CaseIterable {
    case handshake = 1
    case handshakeAck = 2
    case heartbeat = 3
    case data = 4
    case kick = 5
}

public enum PackageError: Error, Equatable, Sendable {
    /// The type byte is not 1...5.
    case unknownType(UInt8)
    /// The declared body length passes the configured limit.
    case tooLarge(length: Int, limit: Int)
    /// A WebSocket message ended inside a package.
    case truncated
}

public enum PackageScan: Equatable, Sendable {
    case needMore
    /// A whole package; `body` indexes the scanned buffer, `end` is where the
    /// next package starts.
    case package(PackageType, body: Range<Int>, end: Int)
    case failure(PackageError)
}

public enum Package {
    public static let headerLength = 4
    /// The largest body the format can describe.
    public static let maxBodyLength = (1 << 24) - 1

    /// Scans one package at `offset`. The limit is checked on the header,
    /// before any of the body is waited for.
    @inlinable
    public static func scan(_ bytes: UnsafeRawBufferPointer, at offset: Int, maxBody: Int) -> PackageScan {
        let available = bytes.count - offset
        if available < 1 { return .needMore }
        let rawType = bytes[offset]
        guard let type = PackageType(rawValue: rawType) else { return .failure(.unknownType(rawType)) }
        if available < headerLength { return .needMore }
        let length = Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        if length > maxBody { return .failure(.tooLarge(length: length, limit: maxBody)) }
        let start = offset + headerLength
        if available - headerLength < length { return .needMore }
        return .package(type, body: start..<start + length, end: start + length)
    }

    /// Writes a package header at `offset`; returns the offset after it.
    @inlinable
    public static func writeHeader(_ type: PackageType, bodyLength: Int, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        out[offset] = type.rawValue
        out[offset + 1] = UInt8(truncatingIfNeeded: bodyLength >> 16)
        out[offset + 2] = UInt8(truncatingIfNeeded: bodyLength >> 8)
        out[offset + 3] = UInt8(truncatingIfNeeded: bodyLength)
        return offset + headerLength
    }

    /// A whole package as bytes (for the cold paths: handshakes, kicks, tests).
    public static func encode(_ type: PackageType, body: some Collection<UInt8>) -> [UInt8] {
        precondition(body.count <= maxBodyLength, "a Pomelo package body is at most 2^24-1 bytes")
        var out = [UInt8](repeating: 0, count: headerLength)
        _ = out.withUnsafeMutableBytes { writeHeader(type, bodyLength: body.count, into: $0, at: 0) }
        out.append(contentsOf: body)
        return out
    }
}

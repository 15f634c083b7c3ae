/// The bytes servers of a cluster send each other inside NATS messages.
///
/// Binary, not JSON: a forwarded request is a few fixed fields, the session's
/// export and the client's body as it arrived, so the frontend writes it
/// with appends and the backend reads it in place without parsing anything
/// but the body its handler asks for. Every message starts with its kind.
/// Integers are big-endian; a string is a length (1 or 2 bytes, as named)
/// and UTF-8; a blob is a 4-byte length and bytes.
public enum ClusterKind: UInt8, Sendable {
    /// Frontend → backend: a client's request or notify (reply subject set
    /// for a request).
    case request = 1
    /// Backend → frontend, to the reply subject: the answer to a request.
    case response = 2
    /// Any server → any server: a remote call (`app.rpc`).
    case call = 3
    /// The answer to a call.
    case result = 4
    /// Backend → the frontend loop holding a session: change or reach it.
    case session = 5
    /// Any server → a frontend: one push for some of its sessions.
    case push = 6
    /// Any server → a frontend: one push for all of its sessions.
    case broadcast = 7
    /// Frontend → backend: a session it forwarded requests of has closed.
    case closed = 8
    /// Any server → a frontend: kick the sessions bound to a uid.
    case kickUID = 9
    /// Backend → frontend, to the reply subject: pushes its handler made
    /// for that frontend while serving the request (a u16 count, each a
    /// blob holding a whole `push` message), then the `response` message.
    /// One NATS message where there would be one per push and the answer.
    case pushesThenResponse = 10
}

/// What a `session` message does to the session.
public enum ClusterSessionOp: UInt8, Sendable {
    case bind = 1
    case unbind = 2
    /// Settings (a JSON object) merged into the frontend session's.
    case settings = 3
    case push = 4
    case kick = 5
    /// Close without a kick.
    case close = 6
}

public enum ClusterWireError: Error, Equatable, Sendable {
    case truncated
    case unknownKind(UInt8)
    case badValue
}

/// Appends fields to a byte array (reused by its owner, so a steady flow
/// allocates nothing once it has grown).
public struct ClusterWriter {
    public var bytes: [UInt8]

    public init(reusing bytes: [UInt8] = []) {
        self.bytes = bytes
        self.bytes.removeAll(keepingCapacity: true)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    public mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    public mutating func u32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    public mutating func u64(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }

    /// A string of at most 255 bytes (ids, uids, routes); longer is cut at
    /// a byte boundary by the caller's validation, never here.
    public mutating func string8(_ s: String) {
        let utf8 = s.utf8
        precondition(utf8.count <= 255, "a short cluster string is at most 255 bytes")
        bytes.append(UInt8(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    public mutating func string16(_ s: String) {
        let utf8 = s.utf8
        let n = min(utf8.count, 65535)
        u16(UInt16(n))
        bytes.append(contentsOf: utf8.prefix(n))
    }

    /// An optional short string: 0xFF marks nil (a 255-byte string is
    /// refused by the writer's callers, who check lengths first).
    public mutating func optionalString8(_ s: String?) {
        guard let s else { return bytes.append(0xFF) }
        precondition(s.utf8.count < 255, "an optional short cluster string is at most 254 bytes")
        string8(s)
    }

    public mutating func blob(_ b: UnsafeRawBufferPointer) {
        u32(UInt32(b.count))
        bytes.append(contentsOf: b)
    }

    public mutating func blob(_ b: [UInt8]) { b.withUnsafeBytes { blob($0) } }

    /// The rest of the message: no length, it runs to the end.
    public mutating func rest(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }

    /// Overwrites the 4-byte integer written at `offset` (a count or length
    /// known only after what it counts).
    public mutating func patchU32(_ v: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> UInt32(24 - 8 * i)) }
    }
}

/// Reads fields in place from a message.
public struct ClusterReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    private mutating func take(_ n: Int) throws(ClusterWireError) -> Int {
        guard n >= 0, bytes.count - offset >= n else { throw .truncated }
        defer { offset += n }
        return offset
    }

    public mutating func u8() throws(ClusterWireError) -> UInt8 { bytes[try take(1)] }

    public mutating func u16() throws(ClusterWireError) -> UInt16 {
        let at = try take(2)
        return UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
    }

    public mutating func u32() throws(ClusterWireError) -> UInt32 {
        let at = try take(4)
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[at + i]) }
        return v
    }

    public mutating func u64() throws(ClusterWireError) -> UInt64 {
        let at = try take(8)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[at + i]) }
        return v
    }

    public mutating func kind() throws(ClusterWireError) -> ClusterKind {
        let raw = try u8()
        guard let k = ClusterKind(rawValue: raw) else { throw .unknownKind(raw) }
        return k
    }

    public mutating func range(_ n: Int) throws(ClusterWireError) -> Range<Int> {
        let at = try take(n)
        return at..<at + n
    }

    public mutating func string8() throws(ClusterWireError) -> String {
        let r = try range(Int(try u8()))
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    public mutating func optionalString8() throws(ClusterWireError) -> String? {
        let n = try u8()
        if n == 0xFF { return nil }
        let r = try range(Int(n))
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    public mutating func string16() throws(ClusterWireError) -> String {
        let r = try range(Int(try u16()))
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    public mutating func blob() throws(ClusterWireError) -> UnsafeRawBufferPointer {
        let r = try range(Int(try u32()))
        return UnsafeRawBufferPointer(rebasing: bytes[r])
    }

    /// Everything not read yet.
    public mutating func rest() -> UnsafeRawBufferPointer {
        defer { offset = bytes.count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset...])
    }
}

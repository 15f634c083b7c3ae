/// Pomelo messages, the body of a data package:
/// `flag | [id: varint] | [route] | body`.
/// Decoding returns ranges into the caller's bytes: nothing is copied.
public enum MessageType: UInt8, Sendable {
    case request = 0
    case notify = 1
    case response = 2
    case push = 3

    @inlinable var hasID: Bool { self == .request || self == .response }
    @inlinable var hasRoute: Bool { self != .response }
}

public enum MessageError: Error, Equatable, Sendable {
    case empty
    /// Flag bits 1-3 hold a type above 3.
    case unknownType(UInt8)
    case badID
    /// A request with id 0, which clients never send.
    case zeroID
    case truncatedRoute
    case emptyRoute
}

/// What a decoded message refers to, as ranges of the decoded bytes.
public struct MessageView: Equatable, Sendable {
    public var type: MessageType
    /// The request or response id; 0 for notifies and pushes.
    public var id: UInt32
    /// The dictionary code, when the route was compressed.
    public var routeCode: UInt16?
    /// The route's UTF-8 bytes, when it was sent as a string.
    public var routeName: Range<Int>?
    public var body: Range<Int>
    /// Flag bit 4: the body is gzip-compressed.
    public var gzipped: Bool

    @inlinable
    public init(type: MessageType, id: UInt32, routeCode: UInt16?, routeName: Range<Int>?, body: Range<Int>, gzipped: Bool) {
        self.type = type
        self.id = id
        self.routeCode = routeCode
        self.routeName = routeName
        self.body = body
        self.gzipped = gzipped
    }
}

public enum Message {
    @usableFromInline static let routeCompressedBit: UInt8 = 0x01
    /// Flag bit 4 (pomelo-protocol 0.1.6): the body is compressed.
    public static let gzipFlag: UInt8 = 0x10
    @usableFromInline static let gzipBit: UInt8 = gzipFlag

    /// The most header bytes an encoded message can have before its body
    /// (flag, id, and a route of up to 255 bytes with its length).
    public static let maxHeaderLength = 1 + Varint.maxLength + 1 + 255

    @inlinable
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(MessageError) -> MessageView {
        guard bytes.count > 0 else { throw .empty }
        let flag = bytes[0]
        let rawType = (flag >> 1) & 0x07
        guard let type = MessageType(rawValue: rawType) else { throw .unknownType(rawType) }
        var i = 1
        var id: UInt32 = 0
        if type.hasID {
            guard let (value, next) = Varint.read(bytes, at: i) else { throw .badID }
            if value == 0 && type == .request { throw .zeroID }
            id = value
            i = next
        }
        var code: UInt16?
        var name: Range<Int>?
        if type.hasRoute {
            if flag & routeCompressedBit != 0 {
                guard bytes.count - i >= 2 else { throw .truncatedRoute }
                code = UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])
                i += 2
            } else {
                guard i < bytes.count else { throw .truncatedRoute }
                let length = Int(bytes[i])
                i += 1
                guard length > 0 else { throw .emptyRoute }
                guard bytes.count - i >= length else { throw .truncatedRoute }
                name = i..<i + length
                i += length
            }
        }
        return MessageView(type: type, id: id, routeCode: code, routeName: name, body: i..<bytes.count,
                           gzipped: flag & gzipBit != 0)
    }

    /// Writes the header of a response (flag 0x04 and the id) at `offset`;
    /// returns the offset after it. Room: 1 + Varint.maxLength bytes.
    @inlinable
    public static func writeResponseHeader(id: UInt32, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        out[offset] = MessageType.response.rawValue << 1
        return Varint.write(id, into: out, at: offset + 1)
    }

    @inlinable
    public static func responseHeaderLength(id: UInt32) -> Int { 1 + Varint.size(of: id) }

    /// Writes the header of a push with a dictionary code (flag 0x07).
    @inlinable
    public static func writePushHeader(code: UInt16, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        out[offset] = MessageType.push.rawValue << 1 | routeCompressedBit
        out[offset + 1] = UInt8(code >> 8)
        out[offset + 2] = UInt8(truncatingIfNeeded: code)
        return offset + 3
    }

    /// Encodes a whole message (cold paths and tests). Flag bits 4-5 are never
    /// set: libpomelo2 misreads them.
    public static func encode(type: MessageType, id: UInt32 = 0, routeCode: UInt16? = nil, route: String? = nil,
                              body: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + (route?.utf8.count ?? 0) + body.count)
        out.append(type.rawValue << 1 | (routeCode != nil && type.hasRoute ? routeCompressedBit : 0))
        if type.hasID { out.append(contentsOf: Varint.encode(id)) }
        if type.hasRoute {
            if let routeCode {
                out.append(UInt8(routeCode >> 8))
                out.append(UInt8(truncatingIfNeeded: routeCode))
            } else {
                let utf8 = Array((route ?? "").utf8)
                precondition(utf8.count <= 255, "an uncompressed route is at most 255 bytes")
                out.append(UInt8(utf8.count))
                out.append(contentsOf: utf8)
            }
        }
        out.append(contentsOf: body)
        return out
    }
}

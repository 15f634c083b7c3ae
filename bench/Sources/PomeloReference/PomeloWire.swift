import NIOCore

/// Pomelo's package and message formats (shared/design/PROTOCOL.md §2-3).
enum PomeloPackageType: UInt8 {
    case handshake = 1
    case handshakeAck = 2
    case heartbeat = 3
    case data = 4
    case kick = 5
}

enum PomeloMessageType: UInt8 {
    case request = 0
    case notify = 1
    case response = 2
    case push = 3
}

/// Why a client's bytes were refused; every one closes the connection.
enum PomeloWireError: Error {
    case unknownPackageType(UInt8)
    case truncatedPackage
    case unknownMessageType(UInt8)
    case unexpectedMessageType(PomeloMessageType)
    /// A route code, though the handshake offered no dictionary.
    case compressedRoute
    /// A gzip body, which this server never offered.
    case compressedBody
    case truncatedMessage
    case badVarint
}

/// A request or notify from a client.
struct PomeloMessage {
    /// Present on requests only.
    var id: UInt32?
    var route: String
    var body: ByteBuffer
}

extension ByteBuffer {
    /// The next whole package, or nil at the end of the buffer. A WebSocket
    /// message holds whole packages, so a short one is an error.
    mutating func readPomeloPackage() throws(PomeloWireError) -> (PomeloPackageType, ByteBuffer)? {
        guard readableBytes > 0 else { return nil }
        guard let typeByte = readInteger(as: UInt8.self),
              let high = readInteger(as: UInt8.self),
              let low = readInteger(as: UInt16.self)
        else { throw .truncatedPackage }
        guard let type = PomeloPackageType(rawValue: typeByte) else { throw .unknownPackageType(typeByte) }
        guard let body = readSlice(length: Int(high) << 16 | Int(low)) else { throw .truncatedPackage }
        return (type, body)
    }

    /// Writes a package whose body `writeBody` appends; the length is filled
    /// in afterwards so that the body is encoded straight into this buffer.
    mutating func writePomeloPackage(_ type: PomeloPackageType, _ writeBody: (inout ByteBuffer) -> Void = { _ in }) {
        writeInteger(type.rawValue)
        let lengthIndex = writerIndex
        writeInteger(UInt8(0))
        writeInteger(UInt16(0))
        writeBody(&self)
        let length = writerIndex - lengthIndex - 3
        precondition(length < 1 << 24, "a Pomelo package body is at most 2^24-1 bytes")
        setInteger(UInt8(truncatingIfNeeded: length >> 16), at: lengthIndex)
        setInteger(UInt16(truncatingIfNeeded: length), at: lengthIndex + 1)
    }

    /// Reads a data package's body as a client's message.
    mutating func readPomeloMessage() throws(PomeloWireError) -> PomeloMessage {
        guard let flag = readInteger(as: UInt8.self) else { throw .truncatedMessage }
        guard let type = PomeloMessageType(rawValue: (flag >> 1) & 0x07) else {
            throw .unknownMessageType(flag)
        }
        guard flag & 0x01 == 0 else { throw .compressedRoute }
        guard flag & 0x10 == 0 else { throw .compressedBody }
        let id: UInt32?
        switch type {
        case .request: id = try readPomeloVarint()
        case .notify: id = nil
        case .response, .push: throw .unexpectedMessageType(type)
        }
        guard let routeLength = readInteger(as: UInt8.self),
              let route = readString(length: Int(routeLength))
        else { throw .truncatedMessage }
        return PomeloMessage(id: id, route: route, body: self)
    }

    /// Base-128, least significant group first.
    mutating func readPomeloVarint() throws(PomeloWireError) -> UInt32 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = readInteger(as: UInt8.self) {
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 {
                guard value <= UInt32.max else { throw .badVarint }
                return UInt32(value)
            }
            shift += 7
            guard shift < 35 else { throw .badVarint }
        }
        throw .truncatedMessage
    }

    mutating func writePomeloVarint(_ value: UInt32) {
        var rest = value
        while rest >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        writeInteger(UInt8(rest))
    }
}

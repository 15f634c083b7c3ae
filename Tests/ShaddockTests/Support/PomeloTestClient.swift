// Pomelo client for integration tests, over raw TCP or WebSocket. The codec
// here is written from the protocol description, not from the server's code,
// so the tests compare two independent implementations.

import Foundation

enum PomeloPackageType {
    static let handshake: UInt8 = 1
    static let handshakeAck: UInt8 = 2
    static let heartbeat: UInt8 = 3
    static let data: UInt8 = 4
    static let kick: UInt8 = 5
}

struct PomeloPackage: Equatable, Sendable, CustomStringConvertible {
    var type: UInt8
    var body: [UInt8]

    init(type: UInt8, body: [UInt8] = []) {
        self.type = type
        self.body = body
    }

    var bodyString: String? { String(bytes: body, encoding: .utf8) }

    func bodyJSON() throws -> [String: Any] { try PomeloWire.jsonObject(body) }

    var description: String {
        "PomeloPackage(type: \(type), body: \(bodyString.map { "\"\($0)\"" } ?? "\(body)"))"
    }
}

enum PomeloMessageType: UInt8, Sendable, CaseIterable {
    case request = 0
    case notify = 1
    case response = 2
    case push = 3

    var hasID: Bool { self == .request || self == .response }
    var hasRoute: Bool { self != .response }
}

enum PomeloRoute: Equatable, Sendable {
    case name(String)
    case code(UInt16)
}

struct PomeloMessage: Equatable, Sendable {
    var type: PomeloMessageType
    var id: Int?
    /// Set when the route was sent as a string.
    var route: String?
    /// Set when the route was sent compressed (dictionary code).
    var routeCode: UInt16?
    var body: [UInt8]
    var flag: UInt8

    var isRouteCompressed: Bool { flag & 0x01 != 0 }
    var isGzipped: Bool { flag & 0x10 != 0 }
    var bodyString: String? { String(bytes: body, encoding: .utf8) }

    func bodyJSON() throws -> [String: Any] { try PomeloWire.jsonObject(body) }
}

/// Encoders and decoders for the wire format, usable without a connection.
enum PomeloWire {
    static let maxBodyLength = (1 << 24) - 1

    // MARK: varint (message ids)

    /// Base-128, least-significant group first, high bit on every byte but the last.
    static func encodeVarint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { byte |= 0x80 }
            out.append(byte)
        } while v != 0
        return out
    }

    static func decodeVarint(_ bytes: [UInt8], at offset: Int = 0) throws -> (value: UInt64, next: Int) {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while true {
            guard i < bytes.count else { throw TestClientError.protocolViolation("truncated varint") }
            guard shift < 64 else { throw TestClientError.protocolViolation("varint longer than 64 bits") }
            let b = bytes[i]
            value |= UInt64(b & 0x7F) << shift
            i += 1
            if b & 0x80 == 0 { return (value, i) }
            shift += 7
        }
    }

    // MARK: packages

    static func encodePackage(type: UInt8, body: [UInt8]) -> [UInt8] {
        precondition(body.count <= maxBodyLength, "package body longer than 2^24-1")
        let n = body.count
        return [type, UInt8(n >> 16), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + body
    }

    static func encodePackages(_ list: [(UInt8, [UInt8])]) -> [UInt8] {
        list.flatMap { encodePackage(type: $0.0, body: $0.1) }
    }

    /// One package from the start of `bytes`, or nil if more bytes are needed.
    /// A type outside 1...5 is a violation: the server must never send one.
    static func decodePackage(_ bytes: ArraySlice<UInt8>) throws -> (package: PomeloPackage, consumed: Int)? {
        guard bytes.count >= 4 else { return nil }
        let s = bytes.startIndex
        let type = bytes[s]
        guard (1...5).contains(type) else {
            throw TestClientError.protocolViolation("package type \(type)")
        }
        let n = Int(bytes[s + 1]) << 16 | Int(bytes[s + 2]) << 8 | Int(bytes[s + 3])
        guard bytes.count >= 4 + n else { return nil }
        return (PomeloPackage(type: type, body: Array(bytes[(s + 4)..<(s + 4 + n)])), 4 + n)
    }

    /// All packages in `bytes`, which must hold whole packages only (one
    /// WebSocket message, or one recorded vector).
    static func decodePackages(_ bytes: [UInt8]) throws -> [PomeloPackage] {
        var out: [PomeloPackage] = []
        var offset = 0
        while offset < bytes.count {
            guard let (package, used) = try decodePackage(bytes[offset...]) else {
                throw TestClientError.protocolViolation(
                    "partial package: \(bytes.count - offset) trailing bytes")
            }
            out.append(package)
            offset += used
        }
        return out
    }

    // MARK: messages (body of a data package)

    /// Writes the id if `id` is given and the route if `route` is given,
    /// whatever the type says, so tests can build malformed messages;
    /// `extraFlagBits` is OR-ed into the flag for the same reason.
    static func encodeMessage(
        type: PomeloMessageType, id: Int? = nil, route: PomeloRoute? = nil, body: [UInt8],
        gzip: Bool = false, extraFlagBits: UInt8 = 0
    ) -> [UInt8] {
        var flag = type.rawValue << 1
        if case .code = route { flag |= 0x01 }
        if gzip { flag |= 0x10 }
        flag |= extraFlagBits
        var out: [UInt8] = [flag]
        if let id {
            precondition(id >= 0, "message id must not be negative")
            out += encodeVarint(UInt64(id))
        }
        switch route {
        case .code(let code):
            out += [UInt8(code >> 8), UInt8(code & 0xFF)]
        case .name(let name):
            let bytes = Array(name.utf8)
            precondition(bytes.count <= 255, "uncompressed route longer than 255 bytes")
            out.append(UInt8(bytes.count))
            out += bytes
        case nil:
            break
        }
        return out + body
    }

    static func decodeMessage(_ bytes: [UInt8]) throws -> PomeloMessage {
        guard let flag = bytes.first else { throw TestClientError.protocolViolation("empty data package") }
        guard let type = PomeloMessageType(rawValue: (flag >> 1) & 0x7) else {
            throw TestClientError.protocolViolation("message type \((flag >> 1) & 0x7)")
        }
        var pos = 1
        var id: Int? = nil
        if type.hasID {
            let (v, next) = try decodeVarint(bytes, at: pos)
            guard v <= UInt64(Int.max) else { throw TestClientError.protocolViolation("message id too large") }
            id = Int(v)
            pos = next
        }
        var route: String? = nil
        var routeCode: UInt16? = nil
        if type.hasRoute {
            if flag & 0x01 != 0 {
                guard bytes.count >= pos + 2 else { throw TestClientError.protocolViolation("truncated route code") }
                routeCode = UInt16(bytes[pos]) << 8 | UInt16(bytes[pos + 1])
                pos += 2
            } else {
                guard bytes.count >= pos + 1 else { throw TestClientError.protocolViolation("missing route length") }
                let n = Int(bytes[pos])
                guard bytes.count >= pos + 1 + n else { throw TestClientError.protocolViolation("truncated route") }
                guard let s = String(bytes: bytes[(pos + 1)..<(pos + 1 + n)], encoding: .utf8) else {
                    throw TestClientError.protocolViolation("route is not UTF-8")
                }
                route = s
                pos += 1 + n
            }
        }
        // Pomelo's gzip flag: the body is inflated here, the flag kept.
        let body = flag & 0x10 != 0 ? try testGunzip(Array(bytes[pos...])) : Array(bytes[pos...])
        return PomeloMessage(type: type, id: id, route: route, routeCode: routeCode, body: body, flag: flag)
    }

    static func jsonObject(_ bytes: [UInt8]) throws -> [String: Any] {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            throw TestClientError.protocolViolation("body is not JSON: \(String(decoding: bytes, as: UTF8.self))")
        }
        guard let object = value as? [String: Any] else {
            throw TestClientError.protocolViolation("body is not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
        }
        return object
    }
}

enum Transport {
    case tcp(TestSocket)
    case websocket(WebSocketTestClient)
}

/// For `@Test(arguments: TransportKind.allCases)`.
enum TransportKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case tcp
    case websocket

    var description: String { rawValue }
}

final class PomeloTestClient {
    static let defaultSys = #"{"type":"js-websocket","version":"0.0.1"}"#

    let transport: Transport
    /// Packages already received (a WebSocket message may carry several).
    private var packageQueue: [PomeloPackage] = []
    /// WebSocket binary messages received, and the most packages one held.
    private(set) var binaryMessages = 0
    private(set) var mostPackagesInOneMessage = 0
    /// Data messages read past by `expectResponse` while looking for a given id.
    private var stashedMessages: [PomeloMessage] = []
    private(set) var handshakeResponse: [String: Any]?
    /// Set when a WebSocket close frame ended a read with `.closed`.
    private(set) var closeFrame: (code: UInt16?, reason: String)?

    init(transport: Transport) {
        self.transport = transport
    }

    var socket: TestSocket {
        switch transport {
        case .tcp(let s): return s
        case .websocket(let ws): return ws.socket
        }
    }

    var kind: TransportKind {
        if case .tcp = transport { return .tcp }
        return .websocket
    }

    static func tcp(port: Int, host: String = "127.0.0.1") throws -> PomeloTestClient {
        PomeloTestClient(transport: .tcp(try TestSocket(host: host, port: port)))
    }

    /// Throws unless the server accepts the upgrade.
    static func websocket(port: Int, path: String = "/", host: String = "127.0.0.1") throws -> PomeloTestClient {
        let (client, response) = try WebSocketTestClient.connect(port: port, path: path, host: host)
        guard response.statusCode == 101 else {
            throw TestClientError.protocolViolation("upgrade answered \(response.statusCode)")
        }
        return PomeloTestClient(transport: .websocket(client))
    }

    /// A WebSocket client that offers permessage-deflate (`offer`, the
    /// header's value) and uses what the server agreed; throws unless the
    /// upgrade is accepted.
    static func websocketDeflate(port: Int, offer: String = "permessage-deflate; client_max_window_bits",
                                 compressSent: Bool = true) throws -> (client: PomeloTestClient, agreed: [String]?) {
        let (ws, response) = try WebSocketTestClient.connect(port: port, extraHeaders: [("Sec-WebSocket-Extensions", offer)])
        guard response.statusCode == 101 else {
            throw TestClientError.protocolViolation("upgrade answered \(response.statusCode)")
        }
        let agreed = try ws.agreeDeflate(response, compressSent: compressSent)
        return (PomeloTestClient(transport: .websocket(ws)), agreed)
    }

    static func connect(_ kind: TransportKind, port: Int, host: String = "127.0.0.1") throws -> PomeloTestClient {
        switch kind {
        case .tcp: return try tcp(port: port, host: host)
        case .websocket: return try websocket(port: port, host: host)
        }
    }

    /// Connected, handshaken, acked, and past the heartbeat that follows the ack.
    static func ready(_ kind: TransportKind, port: Int, host: String = "127.0.0.1") throws -> PomeloTestClient {
        let client = try connect(kind, port: port, host: host)
        _ = try client.connectAndHandshake()
        return client
    }

    // MARK: sending

    /// Over WebSocket: one binary message per call.
    func sendPackage(type: UInt8, body: [UInt8] = []) throws {
        try sendRaw(PomeloWire.encodePackage(type: type, body: body))
    }

    /// All packages in ONE TCP write, or ONE WebSocket message.
    func sendPackages(_ list: [(UInt8, [UInt8])]) throws {
        try sendRaw(PomeloWire.encodePackages(list))
    }

    /// TCP: the bytes as they are. WebSocket: one binary message holding them.
    func sendRaw(_ bytes: [UInt8]) throws {
        switch transport {
        case .tcp(let s): try s.send(bytes)
        case .websocket(let ws): try ws.sendBinary(bytes)
        }
    }

    /// TCP: one write per byte. WebSocket: one binary message whose frame
    /// bytes are written one at a time.
    func sendRawByteByByte(_ bytes: [UInt8], pause microseconds: UInt32 = 2_000) throws {
        switch transport {
        case .tcp(let s):
            try s.sendByteByByte(bytes, pause: microseconds)
        case .websocket(let ws):
            try ws.sendRawByteByByte(
                WebSocketTestClient.rawFrameBytes(opcode: WSOpcode.binary, payload: bytes), pause: microseconds)
        }
    }

    static func handshakeBody(sys: String = defaultSys, user: String = "{}") -> [UInt8] {
        Array(#"{"sys":\#(sys),"user":\#(user)}"#.utf8)
    }

    /// Sends a handshake and returns the server's JSON answer (whatever its code).
    func handshake(sys: String = defaultSys, user: String = "{}", timeout: Double = 5) throws -> [String: Any] {
        try sendPackage(type: PomeloPackageType.handshake, body: Self.handshakeBody(sys: sys, user: user))
        let package = try readPackage(timeout: timeout)
        guard package.type == PomeloPackageType.handshake else {
            throw TestClientError.unexpectedPackage(package)
        }
        let json = try package.bodyJSON()
        handshakeResponse = json
        return json
    }

    func ack() throws {
        try sendPackage(type: PomeloPackageType.handshakeAck)
    }

    func heartbeat() throws {
        try sendPackage(type: PomeloPackageType.heartbeat)
    }

    /// Handshake (code must be 200) + ack + the heartbeat the server sends
    /// right after the ack. Returns the handshake response.
    @discardableResult
    func connectAndHandshake(sys: String = defaultSys, user: String = "{}", timeout: Double = 5) throws -> [String: Any] {
        let json = try handshake(sys: sys, user: user, timeout: timeout)
        guard (json["code"] as? NSNumber)?.intValue == 200 else {
            throw TestClientError.protocolViolation("handshake answered \(json)")
        }
        try ack()
        let package = try readPackage(timeout: timeout)
        guard package.type == PomeloPackageType.heartbeat, package.body.isEmpty else {
            throw TestClientError.unexpectedPackage(package)
        }
        return json
    }

    func sendMessage(
        type: PomeloMessageType, id: Int? = nil, route: PomeloRoute? = nil, body: [UInt8], gzip: Bool = false
    ) throws {
        try sendPackage(
            type: PomeloPackageType.data,
            body: PomeloWire.encodeMessage(type: type, id: id, route: route, body: body, gzip: gzip))
    }

    func request(route: String, id: Int, body: String = "{}") throws {
        try sendMessage(type: .request, id: id, route: .name(route), body: Array(body.utf8))
    }

    func request(code: UInt16, id: Int, body: String = "{}") throws {
        try sendMessage(type: .request, id: id, route: .code(code), body: Array(body.utf8))
    }

    func notify(route: String, body: String = "{}") throws {
        try sendMessage(type: .notify, route: .name(route), body: Array(body.utf8))
    }

    func notify(code: UInt16, body: String = "{}") throws {
        try sendMessage(type: .notify, route: .code(code), body: Array(body.utf8))
    }

    // MARK: receiving

    /// The next package, whatever its type.
    func readPackage(timeout: Double = 5) throws -> PomeloPackage {
        if !packageQueue.isEmpty { return packageQueue.removeFirst() }
        let deadline = testMonotonicNow() + timeout
        switch transport {
        case .tcp(let s):
            let head = try s.read(exactly: 4, deadline: deadline)
            guard (1...5).contains(head[0]) else {
                throw TestClientError.protocolViolation("package type \(head[0])")
            }
            let n = Int(head[1]) << 16 | Int(head[2]) << 8 | Int(head[3])
            return PomeloPackage(type: head[0], body: try s.read(exactly: n, deadline: deadline))
        case .websocket(let ws):
            while packageQueue.isEmpty {
                let message = try ws.readMessage(timeout: max(deadline - testMonotonicNow(), 0))
                switch message.opcode {
                case WSOpcode.binary:
                    let packages = try PomeloWire.decodePackages(message.payload)
                    if packages.isEmpty {
                        throw TestClientError.protocolViolation("empty binary message")
                    }
                    binaryMessages += 1
                    mostPackagesInOneMessage = max(mostPackagesInOneMessage, packages.count)
                    packageQueue += packages
                case WSOpcode.ping:
                    try ws.sendPong(message.payload)
                case WSOpcode.pong:
                    continue
                case WSOpcode.close:
                    closeFrame = try WebSocketTestClient.parseClosePayload(message.payload)
                    throw TestClientError.closed
                default:
                    throw TestClientError.protocolViolation("text message from a Pomelo server")
                }
            }
            return packageQueue.removeFirst()
        }
    }

    /// Reads packages until one of `type`, skipping heartbeats; any other
    /// type throws `.unexpectedPackage`.
    func expectPackage(type: UInt8, timeout: Double = 5) throws -> PomeloPackage {
        let deadline = testMonotonicNow() + timeout
        while true {
            let package = try readPackage(timeout: max(deadline - testMonotonicNow(), 0))
            if package.type == type { return package }
            if package.type == PomeloPackageType.heartbeat { continue }
            throw TestClientError.unexpectedPackage(package)
        }
    }

    /// The next data message. Any other package throws `.unexpectedPackage`,
    /// except heartbeats when `skipHeartbeats` is set.
    func readMessage(timeout: Double = 5, skipHeartbeats: Bool = false) throws -> PomeloMessage {
        if !stashedMessages.isEmpty { return stashedMessages.removeFirst() }
        let deadline = testMonotonicNow() + timeout
        while true {
            let package = try readPackage(timeout: max(deadline - testMonotonicNow(), 0))
            if package.type == PomeloPackageType.data {
                return try PomeloWire.decodeMessage(package.body)
            }
            if skipHeartbeats && package.type == PomeloPackageType.heartbeat { continue }
            throw TestClientError.unexpectedPackage(package)
        }
    }

    /// The JSON body of the response with this id. Heartbeats are skipped;
    /// pushes and other responses met on the way are kept for `readMessage`,
    /// because their order relative to this response is not fixed.
    func expectResponse(id: Int, timeout: Double = 5) throws -> [String: Any] {
        if let i = stashedMessages.firstIndex(where: { $0.type == .response && $0.id == id }) {
            return try stashedMessages.remove(at: i).bodyJSON()
        }
        let deadline = testMonotonicNow() + timeout
        while true {
            let package = try readPackage(timeout: max(deadline - testMonotonicNow(), 0))
            if package.type == PomeloPackageType.heartbeat { continue }
            guard package.type == PomeloPackageType.data else {
                throw TestClientError.unexpectedPackage(package)
            }
            let message = try PomeloWire.decodeMessage(package.body)
            if message.type == .response && message.id == id {
                return try message.bodyJSON()
            }
            stashedMessages.append(message)
        }
    }

    /// Succeeds if nothing but heartbeats arrives for `seconds`; a notify that
    /// must stay unanswered, for example. Throws what arrived otherwise.
    func expectNoPackage(within seconds: Double) throws {
        if let m = stashedMessages.first {
            throw TestClientError.protocolViolation("unexpected message \(m)")
        }
        let deadline = testMonotonicNow() + seconds
        while true {
            let remaining = deadline - testMonotonicNow()
            if remaining <= 0 { return }
            let package: PomeloPackage
            do {
                package = try readPackage(timeout: remaining)
            } catch TestClientError.timeout {
                return
            }
            if package.type != PomeloPackageType.heartbeat {
                throw TestClientError.unexpectedPackage(package)
            }
        }
    }

    /// True once the server has closed the TCP connection (data discarded).
    func waitForClose(timeout: Double = 5) -> Bool {
        packageQueue.removeAll()
        return socket.waitForClose(timeout: timeout)
    }

    func close() {
        socket.close()
    }
}

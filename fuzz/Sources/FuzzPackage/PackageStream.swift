// fuzz-package: Pomelo packages over a byte stream, read as the TCP side of a
// connection reads them (Sources/Shaddock/Connection/Connection.swift, onTCPPackages):
// packages scanned where they lie, a package cut by a read kept whole for
// the next one, the size limit decided on the header. Each package is
// handed on as the gateway does: a handshake body to ClientHandshake, a data
// body to Message.decode.
//
// Input: [limit][read cuts][stream] (see readBothWays), the limit being
// that of a package's body.
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

let limits = [0, 1, 16, 255, 4096, 65536, 1 << 20, Package.maxBodyLength]

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    readBothWays(data, size, limits: limits) { Reader(limit: $0) }
}

enum Event: Equatable {
    case package(PackageType, [UInt8])
    case failure(PackageError)
}

struct Reader: StreamReading {
    let limit: Int
    /// Bytes of a package that a read cut.
    var pending: [UInt8] = []
    var events: [Event] = []
    var closed = false

    mutating func scanOne(_ buffer: UnsafeMutableRawBufferPointer, arrived: [UInt8], at offset: Int) -> Int? {
        let bytes = UnsafeRawBufferPointer(buffer)
        let result = Package.scan(bytes, at: offset, maxBody: limit)
        expectScan(result, arrived, at: offset, limit: limit)
        switch result {
        case .needMore:
            return nil
        case .failure(let error):
            events.append(.failure(error))
            closed = true
            return nil
        case .package(let type, let body, let end):
            events.append(.package(type, Array(bytes[body])))
            handOn(type, UnsafeRawBufferPointer(rebasing: bytes[body]))
            return end
        }
    }
}

/// What the package format says of the bytes at `o`, against what the
/// scanner answered; and a package encoded again is the bytes it came from.
func expectScan(_ result: PackageScan, _ b: [UInt8], at o: Int, limit: Int) {
    let available = b.count - o
    guard available > 0 else { return invariant(result == .needMore, "\(result) from nothing") }
    guard (1...5).contains(b[o]) else {
        return invariant(result == .failure(.unknownType(b[o])), "\(result) for type \(b[o])")
    }
    let type = PackageType(rawValue: b[o])!
    guard available >= 4 else { return invariant(result == .needMore, "\(result) before the length") }
    let length = Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
    if length > limit { return invariant(result == .failure(.tooLarge(length: length, limit: limit)), "\(result) for \(length) bytes") }
    guard available >= 4 + length else { return invariant(result == .needMore, "\(result) for a cut package") }
    invariant(result == .package(type, body: o + 4..<o + 4 + length, end: o + 4 + length), "\(result)")
    invariant(Package.encode(type, body: b[o + 4..<o + 4 + length]) == Array(b[o..<o + 4 + length]), "encoded again differently")
}

/// The gateway's next step for each package; only a crash counts here (the
/// message and handshake targets check what these return).
func handOn(_ type: PackageType, _ body: UnsafeRawBufferPointer) {
    switch type {
    case .handshake:
        _ = ClientHandshake(body: body)
    case .data:
        if let message = try? Message.decode(body) {
            _ = JSON.isValid(UnsafeRawBufferPointer(rebasing: body[message.body]))
        }
    case .handshakeAck, .heartbeat, .kick:
        break
    }
}

/// Every recorded package stream, alone and as each session sent it, and a
/// few hand-made ones.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    let recorded = vectors.filter { !$0.packages.isEmpty }
    var streams = recorded.map(\.bytes)
    for transport in ["tcp", "ws"] {
        streams.append(recorded.filter { $0.direction == "c2s" && $0.transport == transport }.flatMap(\.bytes))
    }
    streams.append(Package.encode(.heartbeat, body: []) + [4, 0, 0])
    streams.append([6, 0, 0, 0] + Package.encode(.heartbeat, body: []))
    streams.append(Package.encode(.data, body: [UInt8](repeating: 0x20, count: 300)))
    var out: [[UInt8]] = []
    for s in streams {
        for (limit, cut) in [(7, 0x00), (3, 0xFF), (4, 0x12), (2, 0x05)] as [(UInt8, UInt8)] { out.append([limit, cut] + s) }
    }
    return out
}

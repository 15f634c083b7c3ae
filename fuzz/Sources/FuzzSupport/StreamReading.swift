#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The reading side of a connection, without the connection: bytes in,
/// what it does with them out. What a read leaves unused (a frame or
/// package that it cut) is kept for the next read, as the connection keeps
/// it.
public protocol StreamReading {
    associatedtype Event: Equatable
    /// What it did, in order.
    var events: [Event] { get }
    /// Bytes it keeps for the next read.
    var pending: [UInt8] { get set }
    /// Whether it stopped reading, after a failure or a close.
    var closed: Bool { get }
    /// Scans one frame or package at `offset` of `bytes`, a copy of
    /// `arrived` that it may write in; returns where the next one starts,
    /// or nil when it needs more bytes or has closed.
    mutating func scanOne(_ bytes: UnsafeMutableRawBufferPointer, arrived: [UInt8], at offset: Int) -> Int?
}

extension StreamReading {
    public mutating func read(_ chunk: UnsafeRawBufferPointer) {
        guard !closed else { return }
        pending.append(contentsOf: chunk)
        let arrived = pending
        let used = withExactCopy(of: arrived) { bytes in
            var offset = 0
            while offset < arrived.count && !closed, let next = scanOne(bytes, arrived: arrived, at: offset) { offset = next }
            // A scan that waits for more bytes must not have written in them.
            let unchanged = offset == arrived.count || arrived.withUnsafeBytes {
                memcmp(bytes.baseAddress! + offset, $0.baseAddress! + offset, $0.count - offset) == 0
            }
            invariant(unchanged, "bytes after the last whole item were changed")
            return offset
        }
        if used > 0 { pending = Array(arrived[used...]) }
    }
}

/// The input of a stream target, [limit][read cuts][stream]: the stream is
/// read at once and in the reads the second byte cuts it into, each with a
/// reader of its own made for `limits[low 3 bits of the first byte]`. How
/// the bytes arrive must not change what is done with them.
public func readBothWays<R: StreamReading>(_ data: UnsafePointer<UInt8>?, _ size: Int, limits: [Int], _ makeReader: (Int) -> R) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let limit = limits[Int(data[0]) % limits.count]
    let stream = UnsafeRawBufferPointer(start: data + 2, count: size - 2)
    var atOnce = makeReader(limit)
    atOnce.read(stream)
    var inPieces = makeReader(limit)
    var start = 0
    for end in readEnds(count: stream.count, seed: data[1]) {
        inPieces.read(UnsafeRawBufferPointer(rebasing: stream[start..<end]))
        start = end
    }
    invariant(inPieces.events == atOnce.events, "read in pieces: \(inPieces.events), at once: \(atOnce.events)")
    // After a failure the connection reads nothing more, so only an open
    // reading's leftover is comparable.
    invariant(inPieces.closed == atOnce.closed && (atOnce.closed || inPieces.pending == atOnce.pending), "different leftovers")
    return 0
}

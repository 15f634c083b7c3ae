// fuzz-inflate: what the gateway inflates from clients, and how it agrees
// on permessage-deflate (Sources/ShaddockProtocol/Compression). The
// permessage-deflate inflater (one stream per loop, reset per message) and
// the gzip-flag body inflater must never give more than the limit, must
// give what zlib itself gives for the same stream, and must read the next
// good message after any input; compressing and inflating any bytes gives
// them back; the negotiation of any header agrees on valid parameters only.
//
// Input: [mode][limit][bytes]
//   mode % 4 == 0: a permessage-deflate payload, inflated within limit * 64
//   mode % 4 == 1: a gzip-flag body (zlib or gzip), the same
//   mode % 4 == 2: Sec-WebSocket-Extensions values, one a line
//   mode % 4 == 3: bytes compressed by the loop's deflater (window 9 + mode >> 2 % 7), then inflated
import CZlib
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

// The loop's streams live across inputs, as they live across messages.
nonisolated(unsafe) let messages = MessageInflater()!
nonisolated(unsafe) let bodies = BodyInflater()!
nonisolated(unsafe) let deflaters = (9...15).map { MessageDeflater(level: 1, windowBits: $0)! }
let probe = Array(#"{"route":"onChat","msg":"the next message, after any input","n":[1,2,3,1,2,3,1,2,3]}"#.utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    let limit = Int(data[1]) * 64
    switch data[0] % 4 {
    case 0: checkMessage(bytes, limit: limit)
    case 1: checkBody(bytes, limit: limit)
    case 2: checkNegotiation(bytes)
    default: checkRoundTrip(bytes, deflater: deflaters[Int(data[0] >> 2) % 7])
    }
    return 0
}

/// zlib's own reading of a message: the payload and the tail, inflated up
/// to `cap` bytes; nil where zlib fails before that.
func reference(_ payload: [UInt8], windowBits: Int32, cap: Int) -> [UInt8]? {
    var s = z_stream()
    guard inflateInit2_(&s, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
    defer { inflateEnd(&s) }
    var input = payload + (windowBits < 0 ? [0, 0, 0xFF, 0xFF] : [])
    var out = [UInt8](repeating: 0, count: cap)
    let n = input.withUnsafeMutableBufferPointer { i in
        out.withUnsafeMutableBufferPointer { o -> Int? in
            s.next_in = i.baseAddress
            s.avail_in = UInt32(i.count)
            s.next_out = o.baseAddress
            s.avail_out = UInt32(o.count)
            let rc = CZlib.inflate(&s, Z_SYNC_FLUSH)
            let made = o.count - Int(s.avail_out)
            return rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR || made == o.count ? made : nil
        }
    }
    return n.map { Array(out[..<$0]) }
}

func inflated(_ i: MessageInflater, _ bytes: [UInt8], limit: Int) -> BodyInflation {
    exactCopy(bytes) { i.inflate($0, limit: limit) }
}

func checkMessage(_ bytes: [UInt8], limit: Int) {
    let outcome = inflated(messages, bytes, limit: limit)
    switch outcome {
    case .bytes(let out):
        invariant(out.count <= limit, "\(out.count) bytes past the limit \(limit)")
        // zlib reads the same bytes, and no more.
        let zlib = reference(bytes, windowBits: -15, cap: limit + 1)
        invariant(zlib.map { $0.elementsEqual(out) } == true, "inflated \(out.count) bytes, zlib \(zlib?.count ?? -1)")
    case .tooLarge:
        let zlib = reference(bytes, windowBits: -15, cap: limit + 1)
        invariant((zlib?.count ?? 0) > limit, "too large at \(limit), zlib gives \(zlib?.count ?? -1)")
    case .corrupt:
        break
    }
    // The shared stream reads the next message whatever came before.
    let packed = exactCopy(probe) { deflaters[6].compress($0).map(Array.init) }!
    var next = false
    if case .bytes(let b) = inflated(messages, packed, limit: probe.count) { next = b.elementsEqual(probe) }
    invariant(next, "the next message does not inflate")
}

func checkBody(_ bytes: [UInt8], limit: Int) {
    let outcome = exactCopy(bytes) { bodies.inflate($0, limit: limit) }
    if case .bytes(let out) = outcome {
        invariant(out.count <= limit, "\(out.count) bytes past the limit \(limit)")
        let zlib = reference(bytes, windowBits: 15 + 32, cap: limit + 1)
        invariant(zlib.map { $0.elementsEqual(out) } == true, "inflated \(out.count) bytes, zlib \(zlib?.count ?? -1)")
    }
}

func checkNegotiation(_ bytes: [UInt8]) {
    var ranges: [Range<Int>] = []
    var start = 0
    for (i, b) in bytes.enumerated() where b == 10 {
        ranges.append(start..<i)
        start = i + 1
    }
    ranges.append(start..<bytes.count)
    for policy in [DeflatePolicy(), DeflatePolicy(clientTakeover: true, clientWindowBits: 10)] {
        guard let a = exactCopy(bytes, { DeflateNegotiation.accept($0, values: ranges, policy: policy) }) else { continue }
        invariant((9...15).contains(a.serverWindowBits) && (9...15).contains(a.clientWindowBits), "\(a)")
        invariant(!a.clientTakeover || policy.clientTakeover, "takeover granted against the policy")
        // The answer, read as an offer, agrees on the same.
        let again = DeflateNegotiation.accept([a.responseValue], policy: DeflatePolicy())
        invariant(again?.serverWindowBits == a.serverWindowBits, "the answer \(a.responseValue) reads as \(String(describing: again))")
    }
}

func checkRoundTrip(_ bytes: [UInt8], deflater: MessageDeflater) {
    guard let packed = exactCopy(bytes, { deflater.compress($0).map(Array.init) }) else { return }
    invariant(packed.count < bytes.count, "compressed \(bytes.count) bytes into \(packed.count)")
    let zlib = reference(packed, windowBits: -Int32(deflater.windowBits), cap: bytes.count + 1)
    invariant(zlib == bytes, "zlib inflates \(zlib?.count ?? -1) bytes of \(bytes.count)")
    if case .bytes(let out) = inflated(messages, packed, limit: bytes.count) {
        invariant(out.elementsEqual(bytes), "inflated bytes differ")
    } else {
        invariant(false, "a compressed message does not inflate")
    }
    invariant(inflated(messages, packed, limit: bytes.count - 1) == .tooLarge, "one byte under the size is not too large")
}

/// `body` on a copy of `bytes` in an allocation of exactly their size.
func exactCopy<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> R) -> R {
    withExactCopy(of: bytes) { body(UnsafeRawBufferPointer($0)) }
}

func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    let d = MessageDeflater(level: 6)!
    for v in vectors where !v.bytes.isEmpty {
        if let packed = v.bytes.withUnsafeBytes({ d.compress($0).map(Array.init) }) {
            out.append([0, 255] + packed)
            out.append([0, 1] + packed)
        }
        out.append([3, 0] + v.bytes)
        if let z = deflateBody(v.bytes, format: .gzip) { out.append([1, 255] + z) }
        if let z = deflateBody(v.bytes, format: .zlib) { out.append([1, 4] + z) }
    }
    for offer in ["permessage-deflate; client_max_window_bits", "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
                  "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=\"12\"\npermessage-deflate"] {
        out.append([2, 0] + Array(offer.utf8))
    }
    return out
}

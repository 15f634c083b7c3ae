// fuzz-upgrade: the HTTP upgrade request head (UpgradeRequestParser), read
// as the connection reads it: the bytes so far are scanned again after each
// read, and the parser only remembers how far its search for the blank line
// got.
//
// Input: [head limit][read cuts][request bytes]
//   head limit: < 0x80 the default 8192; else 256 + 64 × (low 7 bits)
//   read cuts:  see readEnds(count:seed:)
import FuzzSupport
import ShaddockProtocol

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let limit = data[0] < 0x80 ? 8192 : 256 + 64 * Int(data[0] & 0x7F)
    let request = UnsafeRawBufferPointer(start: data + 2, count: size - 2)

    var oneShot = UpgradeRequestParser(maxHeadLength: limit)
    let whole = oneShot.scan(request)
    check(whole, request, limit: limit)

    // Growing prefixes, one parser, until it decides. Each prefix is read
    // through a buffer of its own length, so a read past it traps.
    var parser = UpgradeRequestParser(maxHeadLength: limit)
    var result = UpgradeScan.needMore
    var searched = 0
    for end in readEnds(count: request.count, seed: data[1]) {
        let prefix = UnsafeRawBufferPointer(rebasing: request[0..<end])
        result = parser.scan(prefix)
        if result != .needMore { break }
        // The oracle's own search goes on from where it stopped, too.
        invariant(firstBlankLine(prefix, from: max(0, searched - 3), limit: limit) == nil && end < limit,
                  "need more after \(end) bytes, yet the head is complete or too large")
        searched = end
    }
    invariant(result == whole, "read in pieces: \(result), at once: \(whole)")
    return 0
}

/// What a result promises about the bytes it came from.
func check(_ result: UpgradeScan, _ b: UnsafeRawBufferPointer, limit: Int) {
    let end = firstBlankLine(b, from: 0, limit: limit)
    switch result {
    case .needMore:
        invariant(end == nil && b.count < limit, "need more, yet the head is complete or too large")
    case .reject(.headTooLarge):
        invariant(end == nil && b.count >= limit, "too large, yet the head ends within the limit")
    case .reject(let why):
        invariant(end != nil, "refused (\(why)) before the head is complete")
        invariant(why.status >= 400 && !why.reason.isEmpty, "a refusal without a status or reason")
        let answer = UpgradeResponse.rejection(why)
        invariant(answer.starts(with: Array("HTTP/1.1 \(why.status) ".utf8)), "refusal answer")
    case .request(let r):
        invariant(r.headLength == end, "head of \(r.headLength) bytes, the blank line ends at \(String(describing: end))")
        let head = Array(b[0..<r.headLength])
        invariant(head.starts(with: Array("GET ".utf8)), "accepted a method other than GET")
        invariant(r.target.lowerBound == 4 && !r.target.isEmpty && r.target.upperBound < r.headLength,
                  "target \(r.target) outside the request line")
        // RFC 9112 §3.2: no space or control character in the target;
        // RFC 9110 §5.5: NUL, CR or LF in a field value must be refused.
        invariant(!head[r.target].contains { $0 <= 32 || $0 == 0x7F }, "target holds a space or control character")
        invariant(!head.contains(0), "accepted a head with a NUL")
        invariant(!head.indices.contains { head[$0] == 10 && ($0 == 0 || head[$0 - 1] != 13) }, "accepted a bare LF")
        invariant(r.key.count == 24 && r.key.upperBound <= r.headLength, "key \(r.key)")
        invariant(base64Decode(Array(head[r.key]))?.count == 16, "accepted a key that is not base64 of 16 bytes")
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: UpgradeResponse.switchingLength, alignment: 1)
        defer { out.deallocate() }
        let n = UpgradeResponse.writeSwitching(key: UnsafeRawBufferPointer(rebasing: b[r.key]), into: out)
        invariant(n == UpgradeResponse.switchingLength, "101 answer of \(n) bytes")
        // The forwarded clients: inside the head, and no more of them than
        // the header values have bytes.
        for range in r.forwarded + r.forwardedFor {
            invariant(range.lowerBound >= 0 && range.upperBound <= r.headLength, "forwarded header value \(range) outside the head")
        }
        // Offered subprotocols: non-empty tokens inside the head.
        for range in r.protocols {
            invariant(!range.isEmpty && range.upperBound <= r.headLength, "subprotocol \(range)")
            invariant(head[range].allSatisfy { $0 > 32 && $0 < 127 && !Array("()<>@,;:\\\"/[]?={}".utf8).contains($0) },
                      "a subprotocol that is not a token")
        }
        let clients = ForwardedHeader.clients(UnsafeRawBufferPointer(rebasing: b[0..<r.headLength]), r)
        let room = (r.forwarded.isEmpty ? r.forwardedFor : r.forwarded).reduce(0) { $0 + $1.count + 1 }
        invariant(clients.count <= room, "\(clients.count) forwarded clients from \(room) bytes")
    }
}

/// Where the first CR LF CR LF that starts at `from` or later and ends
/// within the limit ends, if there is one.
func firstBlankLine(_ b: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
    let n = min(b.count, limit)
    guard n - from >= 4 else { return nil }
    for i in from...(n - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i + 4 }
    return nil
}

/// Base64 (RFC 4648, padded) the simple way: the oracle for the key check.
func base64Decode(_ s: [UInt8]) -> [UInt8]? {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    guard s.count % 4 == 0 else { return nil }
    var bits: [UInt8] = []
    var out: [UInt8] = []
    var pad = 0
    for (i, c) in s.enumerated() {
        if c == UInt8(ascii: "=") {
            guard i >= s.count - 2 else { return nil }
            pad += 1
            continue
        }
        guard pad == 0, let v = alphabet.firstIndex(of: c) else { return nil }
        bits.append(UInt8(v))
    }
    var acc = 0, held = 0
    for v in bits {
        acc = acc << 6 | Int(v)
        held += 6
        if held >= 8 {
            held -= 8
            out.append(UInt8(truncatingIfNeeded: acc >> held))
        }
    }
    return out
}

/// The recorded upgrade requests, with the frames that followed them, under
/// a few limits and ways of cutting; and hand-made variants of the same head.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    var heads: [[UInt8]] = vectors.filter { $0.note.hasPrefix("raw HTTP upgrade request") }.map(\.bytes)
    let key = "dGhlIHNhbXBsZSBub25jZQ=="
    func head(_ lines: [String]) -> [UInt8] { Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) }
    let base = ["GET /chat?x=1 HTTP/1.1", "Host: 127.0.0.1:3010", "Upgrade: websocket", "Connection: keep-alive, Upgrade",
                "Sec-WebSocket-Key: \(key)", "Sec-WebSocket-Version: 13"]
    heads.append(head(base))
    heads.append(head(base.map { $0.lowercased() }.enumerated().map { $0.offset == 4 ? "sec-websocket-key: \(key)" : $0.element }))
    heads.append(head(["POST / HTTP/1.1"] + base.dropFirst()))
    heads.append(head(base.dropLast() + ["Sec-WebSocket-Version: 8"]))
    heads.append(head(base + ["Sec-WebSocket-Key: \(key)"]))
    heads.append(head(["GET / HTTP/1.0"] + base.dropFirst()))
    heads.append(head(base.map { $0.replacingColonSpace() }))
    if let first = heads.first { heads.append(first + WebSocketFrameEncoder.frame(.binary, payload: [1, 0, 0, 2, 0x7B, 0x7D])) }
    var out: [[UInt8]] = []
    for h in heads {
        for (limit, cut) in [(0x00, 0x00), (0x00, 0xFF), (0x00, 0x13), (0x84, 0x05), (0xFF, 0x02)] as [(UInt8, UInt8)] {
            out.append([limit, cut] + h)
        }
    }
    return out
}

extension String {
    /// "Name: value" as "Name:value" (no optional whitespace).
    func replacingColonSpace() -> String {
        guard let r = firstRange(of: ": ") else { return self }
        return self[..<r.lowerBound] + ":" + self[r.upperBound...]
    }
}

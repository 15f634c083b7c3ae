// fuzz-proxy: the PROXY protocol header parser (CSupport/CShaddockLoop/
// shd_proxy.c), as a listening loop feeds it a trusted balancer's first
// bytes: in reads cut anywhere. Whatever the cuts, the parser must say the
// same (the same outcome, the same header, the header ending at the same
// byte), take every byte it is given while it waits for more, never take a
// byte past the header's end, and never read out of bounds.
//
// Input: [read cuts][bytes].
import CShaddockLoop
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    return 0
}

struct Outcome: Equatable {
    var result: Int32
    var end: Int                  // where the header ended (DONE), else -1
    var header: [UInt8]           // the header's fields, as bytes
}

/// Feeds `bytes` in reads ending at `ends`, each from an exact copy (so a
/// read past it is caught).
func parse(_ bytes: [UInt8], ends: [Int]) -> Outcome {
    var parser = shd_proxy_parser_t()
    shd_proxy_init(&parser)
    var start = 0
    for end in ends {
        // A new header full of garbage at each call, as a read callback has.
        var header = shd_proxy_header_t()
        withUnsafeMutableBytes(of: &header) { $0.initializeMemory(as: UInt8.self, repeating: 0xA5) }
        let n = end - start
        var used = 0
        let r = withExactCopy(of: bytes[start..<end]) { shd_proxy_parse(&parser, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), n, &used, &header) }
        invariant(used <= n, "took \(used) of \(n) bytes")
        switch r {
        case Int32(SHD_PROXY_MORE):
            invariant(used == n, "MORE after taking \(used) of \(n)")
        case Int32(SHD_PROXY_DONE):
            let fields = withUnsafeBytes(of: header) { Array($0) }
            invariant(header.version == 1 || header.version == 2, "version \(header.version)")
            invariant(header.local != 0 || header.family == 4 || header.family == 6, "family \(header.family)")
            return Outcome(result: r, end: start + used, header: fields)
        case Int32(SHD_PROXY_ABSENT):
            invariant(start == 0 && used == 0, "ABSENT after \(start) bytes")
            invariant(bytes[0] != 0x50 && bytes[0] != 0x0D, "ABSENT for a first byte that starts a header")
            return Outcome(result: r, end: -1, header: [])
        default:
            invariant(r == Int32(SHD_PROXY_BAD), "result \(r)")
            return Outcome(result: r, end: -1, header: [])
        }
        start = end
    }
    return Outcome(result: Int32(SHD_PROXY_MORE), end: -1, header: [])
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let whole = parse(bytes, ends: [bytes.count])
    let cut = parse(bytes, ends: readEnds(count: bytes.count, seed: data[0]))
    invariant(whole == cut, "whole: \(whole), cut: \(cut)")
    // A header never runs past the longest one of its version.
    if whole.result == Int32(SHD_PROXY_DONE) && bytes[0] == 0x50 { invariant(whole.end <= 107, "a v1 header of \(whole.end) bytes") }
    return 0
}

/// Headers as balancers send them (HAProxy, nginx), cut and bent.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    let v2tcp4 = signature + [0x21, 0x11, 0x00, 0x11, 198, 51, 100, 9, 127, 0, 0, 1, 0xC3, 0x50, 0x0B, 0xC2, 0x01, 0x00, 0x02, 0x68, 0x32]
    let v2tcp6 = signature + [0x21, 0x21, 0x00, 0x24] + [UInt8](repeating: 0x20, count: 32) + [0x01, 0xBB, 0x01, 0xBB]
    let v2local = signature + [0x20, 0x00, 0x00, 0x00]
    let lines = ["PROXY TCP4 203.0.113.7 192.0.2.1 51234 3010\r\n", "PROXY TCP6 2001:db8::7 2001:db8::1 65535 443\r\n",
                 "PROXY UNKNOWN\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"]
    var out: [[UInt8]] = lines.map { [0] + Array($0.utf8) + [0x01, 0x00, 0x00, 0x02] }
    for header in [v2tcp4, v2tcp6, v2local] {
        out.append([0] + header + Array("GET / HTTP/1.1\r\n".utf8))
        out.append([255] + header)
        out.append([3] + Array(header.prefix(20)))
    }
    return out
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The start of a fuzz target, called by libFuzzer before it reads its own
/// flags (`LLVMFuzzerInitialize`).
///
/// - `fuzz-NAME --write-seeds DIR VECTORS.json` writes the target's seed
///   corpus, made from the recorded vectors, into DIR and exits.
/// - Otherwise it hands traps back to libFuzzer: the Swift runtime's crash
///   reporter installs its handlers first, and libFuzzer does not replace a
///   handler that is already there, so a failed invariant would be reported
///   without the input that caused it.
public func startTarget(_ argc: UnsafeMutablePointer<CInt>,
                        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                        seeds: ([WireVector]) -> [[UInt8]]) {
    let args = (0..<Int(argc.pointee)).map { argv.pointee![$0].map { String(cString: $0) } ?? "" }
    if args.count == 4 && args[1] == "--write-seeds" {
        let dir = args[2]
        makeDirectories(dir)
        var written = Set<[UInt8]>()
        for seed in seeds(WireVector.load(args[3])) where written.insert(seed).inserted {
            writeFile("\(dir)/seed-\(hexName(seed))", seed)
        }
        print("\(args[0]): \(written.count) seeds in \(dir)")
        exit(0)
    }
    signal(SIGILL, SIG_DFL)
    signal(SIGTRAP, SIG_DFL)
}

/// FNV-1a of the bytes, as 16 hex digits: a stable file name per seed.
func hexName(_ bytes: [UInt8]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// `mkdir -p`.
func makeDirectories(_ path: String) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        mkdir(prefix, 0o755)
    }
}

func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

func writeFile(_ path: String, _ bytes: [UInt8]) {
    guard let f = fopen(path, "wb") else { fatalError("cannot write \(path)") }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

/// Where a stream of `count` bytes is cut into reads, from one byte of the
/// input: 0 is one read of everything, 255 one read per byte, anything else
/// reads of 1 to 2^(seed & 7) bytes drawn from a generator seeded with it.
/// Returns the end of every read, increasing, the last one `count`.
public func readEnds(count: Int, seed: UInt8) -> [Int] {
    if seed == 0 || count == 0 { return [count] }
    if seed == 255 { return Array(1...count) }
    var random = SplitMix64(seed: UInt64(seed))
    let longest = UInt64(1) << (seed & 7)
    var ends: [Int] = []
    var end = 0
    while end < count {
        end = min(count, end + 1 + Int(random.next() % longest))
        ends.append(end)
    }
    return ends
}

/// SplitMix64: small, fast and deterministic, so a crash input replays.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

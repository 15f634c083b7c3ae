/// A log-linear latency histogram in nanoseconds: exact below 64 ns, then 64
/// buckets per power of two (under 1.6% error), up to 2^64. Fixed size, so
/// recording never allocates; histograms of several threads are merged.
struct Histogram {
    private static let subBits = 6
    private static let sub = 1 << subBits
    private static let bucketCount = sub + (64 - subBits) * sub

    private var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var max: UInt64 = 0

    private static func index(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount
        let shift = msb - subBits
        return sub + shift * sub + Int((v >> UInt64(shift)) & UInt64(sub - 1))
    }

    /// The middle of a bucket's range.
    private static func value(at i: Int) -> UInt64 {
        if i < sub { return UInt64(i) }
        let shift = (i - sub) / sub
        let low = UInt64(sub + (i - sub) % sub) << UInt64(shift)
        return low + ((UInt64(1) << UInt64(shift)) >> 1)
    }

    mutating func record(_ nanoseconds: UInt64) {
        counts[Self.index(nanoseconds)] += 1
        total += 1
        if nanoseconds > max { max = nanoseconds }
    }

    mutating func merge(_ other: Histogram) {
        for i in 0..<counts.count { counts[i] += other.counts[i] }
        total += other.total
        max = Swift.max(max, other.max)
    }

    /// The value at quantile q (0...1), in nanoseconds; 0 when empty.
    func quantile(_ q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((q * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for i in 0..<counts.count where counts[i] > 0 {
            seen += counts[i]
            if seen >= rank { return Swift.min(Self.value(at: i), max) }
        }
        return max
    }
}

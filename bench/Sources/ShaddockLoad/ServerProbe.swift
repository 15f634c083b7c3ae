#if canImport(Glibc)
import Glibc
#endif

/// Reads the server processes' CPU time and resident memory from /proc (summed
/// over them: a frontend, a backend and nats-server make one forwarded
/// request), so that the figures come from the same instants as the load's
/// window.
struct ServerProbe {
    let pids: [Int32]

    struct Sample {
        /// CPU time of all the process's threads, user and system.
        var cpuNanos: UInt64
        var rssKiB: UInt64
    }

    func sample() -> Sample? {
        var total = Sample(cpuNanos: 0, rssKiB: 0)
        for pid in pids {
            guard let cpu = cpuNanos(pid), let rss = rssKiB(pid) else { return nil }
            total.cpuNanos += cpu
            total.rssKiB += rss
        }
        return total
    }

    /// The sum of the first field of every thread's schedstat (ns on a CPU):
    /// finer than the clock ticks of /proc/PID/stat.
    private func cpuNanos(_ pid: Int32) -> UInt64? {
        guard let dir = opendir("/proc/\(pid)/task") else { return nil }
        defer { closedir(dir) }
        var total: UInt64 = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.first?.isNumber == true, let text = read("/proc/\(pid)/task/\(name)/schedstat"),
                  let first = text.split(separator: " ").first, let ns = UInt64(first) else { continue }
            total += ns
        }
        return total
    }

    private func rssKiB(_ pid: Int32) -> UInt64? {
        guard let status = read("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }
        }
        return nil
    }

    private func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }
}

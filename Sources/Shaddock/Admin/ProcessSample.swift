#if canImport(Glibc)
import Glibc
#endif

/// The process's own numbers for `/metrics`, named as Prometheus' process
/// collector names them (`process_cpu_seconds_total`, ...), so dashboards
/// made for other services read them unchanged. Read from /proc at each
/// scrape, on the admin thread.
struct ProcessSample: Equatable {
    var cpuSeconds: Double = 0
    var residentBytes: UInt64 = 0
    var virtualBytes: UInt64 = 0
    var openFDs = 0
    var maxFDs: UInt64 = 0
    var startTimeSeconds: Double = 0

    /// Nil where /proc cannot be read.
    static func read() -> ProcessSample? {
        guard let stat = contents("/proc/self/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // The fields after the command's closing parenthesis, from field 3
        // (state) on: utime is 14, stime 15, starttime 22, vsize 23, rss 24.
        let fields = stat[(close + 2)...].split(separator: UInt8(ascii: " ")).map { UInt64(String(decoding: $0, as: UTF8.self)) ?? 0 }
        guard fields.count > 21 else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        var sample = ProcessSample()
        sample.cpuSeconds = Double(fields[11] + fields[12]) / ticks
        sample.virtualBytes = fields[20]
        sample.residentBytes = fields[21] * pageSize
        sample.startTimeSeconds = Double(bootTime()) + Double(fields[19]) / ticks
        sample.openFDs = openDescriptors()
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { sample.maxFDs = UInt64(limit.rlim_cur) }
        return sample
    }

    /// A small /proc file's bytes.
    private static func contents(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    /// Seconds since the epoch at boot (`btime` in /proc/stat).
    private static func bootTime() -> UInt64 {
        guard let stat = contents("/proc/stat") else { return 0 }
        for line in stat.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            return UInt64(String(decoding: line.dropFirst(6), as: UTF8.self)) ?? 0
        }
        return 0
    }

    private static func openDescriptors() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { n += 1 }
        }
        return n - 1  // the directory's own descriptor
    }
}

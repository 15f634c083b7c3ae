// Blocking TCP client used by the integration tests to drive the real server.
//
// Every read goes through `buffer`, so bytes that arrive together with the
// bytes a caller asked for (a coalesced segment, data right after an HTTP
// head) are kept for the next call instead of being lost.

import Glibc
import Foundation

enum TestClientError: Error, Equatable, CustomStringConvertible {
    case timeout
    /// The peer closed the connection (EOF, ECONNRESET, EPIPE), or a
    /// WebSocket close frame arrived where a Pomelo package was expected.
    case closed
    case io(Int32)
    case protocolViolation(String)
    /// A Pomelo package of a type the caller did not ask for (a kick while
    /// waiting for a response, for example).
    case unexpectedPackage(PomeloPackage)

    var description: String {
        switch self {
        case .timeout: return "timeout"
        case .closed: return "connection closed by peer"
        case .io(let e): return "io error \(e) (\(String(cString: strerror(e))))"
        case .protocolViolation(let s): return "protocol violation: \(s)"
        case .unexpectedPackage(let p): return "unexpected package \(p)"
        }
    }
}

/// Monotonic clock in seconds; wall-clock jumps must not stretch or cut timeouts.
func testMonotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1_000_000_000
}

final class TestSocket {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []
    /// Set once EOF or a reset has been seen, so later reads fail fast
    /// instead of polling a dead descriptor until the timeout.
    private(set) var peerClosed = false

    /// Connects to host:port, from `source` (an IPv4 address of this
    /// machine, 127.0.0.2 for example) when given.
    init(host: String = "127.0.0.1", port: Int, source: String? = nil) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw TestClientError.protocolViolation("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }

        var lastErrno: Int32 = ECONNREFUSED
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let ai = node {
            node = ai.pointee.ai_next
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if s < 0 { lastErrno = errno; continue }
            if let source {
                var from = sockaddr_in()
                from.sin_family = sa_family_t(AF_INET)
                from.sin_addr.s_addr = inet_addr(source)
                _ = withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            var r: Int32
            repeat { r = connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) } while r < 0 && errno == EINTR
            if r == 0 {
                var one: Int32 = 1
                // Small writes (byte-by-byte tests, tiny packages) must leave
                // immediately rather than wait for Nagle to coalesce them.
                setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                self.fd = s
                return
            }
            lastErrno = errno
            Glibc.close(s)
        }
        throw TestClientError.io(lastErrno)
    }

    /// Wraps a descriptor that is already connected (an accepted socket in a
    /// loopback test, for example). The socket takes ownership.
    init(adopting fd: Int32) {
        self.fd = fd
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Bytes received but not yet consumed by a read.
    var bufferedCount: Int { buffer.count }

    // MARK: writing

    func send(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw TestClientError.io(EBADF) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                // MSG_NOSIGNAL: a server that already closed must show up as
                // an error here, not as a SIGPIPE that kills the test runner.
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EPIPE || e == ECONNRESET { throw TestClientError.closed }
                throw TestClientError.io(e)
            }
            offset += n
        }
    }

    /// One write per byte with a pause between them, so that the server sees
    /// each byte in its own read and its framing code has to reassemble.
    func sendByteByByte(_ bytes: [UInt8], pause microseconds: UInt32 = 2_000) throws {
        for (i, b) in bytes.enumerated() {
            try send([b])
            if i + 1 < bytes.count { usleep(microseconds) }
        }
    }

    func shutdownWrite() {
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Makes `close` send a reset instead of a FIN (SO_LINGER with 0).
    func resetOnClose() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    // MARK: reading

    /// Waits (until `deadline`) for the socket to be readable and appends what
    /// one recv returns. Throws .closed on EOF/reset, .timeout at the deadline.
    private func fill(deadline: Double) throws {
        guard fd >= 0 else { throw TestClientError.io(EBADF) }
        if peerClosed { throw TestClientError.closed }
        while true {
            let remaining = deadline - testMonotonicNow()
            if remaining <= 0 { throw TestClientError.timeout }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(min(remaining * 1000, Double(Int32.max)).rounded(.up))
            let r = poll(&p, 1, max(ms, 1))
            if r < 0 {
                if errno == EINTR { continue }
                throw TestClientError.io(errno)
            }
            if r == 0 { continue }  // re-check the deadline; poll may wake early
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return
            }
            if n == 0 {
                peerClosed = true
                throw TestClientError.closed
            }
            let e = errno
            if e == EINTR || e == EAGAIN { continue }
            if e == ECONNRESET || e == EPIPE {
                peerClosed = true
                throw TestClientError.closed
            }
            throw TestClientError.io(e)
        }
    }

    private func take(_ n: Int) -> [UInt8] {
        let out = Array(buffer[0..<n])
        buffer.removeFirst(n)
        return out
    }

    func read(exactly n: Int, timeout: Double = 5) throws -> [UInt8] {
        let deadline = testMonotonicNow() + timeout
        while buffer.count < n { try fill(deadline: deadline) }
        return take(n)
    }

    /// Same as `read(exactly:timeout:)` but against an absolute deadline, so
    /// callers that read a header and then a body share one time budget.
    func read(exactly n: Int, deadline: Double) throws -> [UInt8] {
        while buffer.count < n { try fill(deadline: deadline) }
        return take(n)
    }

    /// Everything already buffered, or else whatever the next recv brings
    /// (waiting up to `timeout` for at least one byte).
    func readSome(timeout: Double = 5) throws -> [UInt8] {
        if buffer.isEmpty { try fill(deadline: testMonotonicNow() + timeout) }
        return take(buffer.count)
    }

    /// Reads through the first occurrence of `delimiter` (included in the
    /// result); bytes after it stay buffered.
    func readUntil(_ delimiter: [UInt8], timeout: Double = 5, maxBytes: Int = 1 << 20) throws -> [UInt8] {
        precondition(!delimiter.isEmpty)
        let deadline = testMonotonicNow() + timeout
        var searchFrom = 0
        while true {
            if buffer.count >= delimiter.count {
                let last = buffer.count - delimiter.count
                if searchFrom <= last {
                    for i in searchFrom...last where buffer[i] == delimiter[0] {
                        if buffer[i..<(i + delimiter.count)].elementsEqual(delimiter) {
                            return take(i + delimiter.count)
                        }
                    }
                    searchFrom = last + 1
                }
            }
            if buffer.count > maxBytes {
                throw TestClientError.protocolViolation("no delimiter within \(maxBytes) bytes")
            }
            try fill(deadline: deadline)
        }
    }

    /// True once the peer has closed (EOF or reset) within `timeout`. Data that
    /// arrives meanwhile is discarded: callers only care that the server hangs up.
    func waitForClose(timeout: Double = 5) -> Bool {
        buffer.removeAll()
        if peerClosed { return true }
        let deadline = testMonotonicNow() + timeout
        while true {
            do {
                try fill(deadline: deadline)
                buffer.removeAll()
            } catch TestClientError.closed {
                return true
            } catch {
                return false
            }
        }
    }
}

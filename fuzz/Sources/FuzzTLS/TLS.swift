// fuzz-tls: a connection's bytes as the TLS-capable listener reads them
// (CSupport/CShaddockLoop/shd_tls.c): the first byte sniffed (0x16: TLS,
// anything else: plaintext), then records handed to OpenSSL through the
// loop's BIO, failures closed. Each input goes over a real loopback
// connection to a loop with a TLS context (an ECDSA certificate made at
// start with the openssl command), then FIN: the server must close the
// connection, never hang, and nothing may crash or leak under
// AddressSanitizer. What the server decrypts is written back, so the
// encrypting side runs too.
//
// Input: the bytes a client sends.
import CShaddockLoop
import FuzzSupport
import Glibc

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    startTarget(argc, argv, seeds: seeds)
    signal(SIGPIPE, SIG_IGN)
    server = Server()
    return 0
}

nonisolated(unsafe) var server: Server!

/// A loop with TLS on a loopback port, on a thread of its own.
final class Server {
    let port: Int32

    init() {
        var template = Array("/tmp/shaddock-fuzz-tls-XXXXXX".utf8CString)
        let dir = String(cString: mkdtemp(&template)!)
        let made = system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=fuzz "
                          + "-keyout \(dir)/key.pem -out \(dir)/cert.pem >/dev/null 2>&1")
        invariant(made == 0, "the openssl command could not make a certificate")
        var cert = shd_tls_cert_t()
        let certPath = strdup("\(dir)/cert.pem"), keyPath = strdup("\(dir)/key.pem")
        cert.cert_file = UnsafePointer(certPath)
        cert.key_file = UnsafePointer(keyPath)
        var config = shd_tls_config_t()
        let tickets = shd_tls_tickets_new()
        config.tickets = tickets
        var error = [CChar](repeating: 0, count: 256)
        let ctx = withUnsafePointer(to: &cert) { certs -> OpaquePointer? in
            config.certs = certs
            config.cert_count = 1
            return shd_tls_ctx_new(&config, &error, error.count)
        }
        invariant(ctx != nil, "no TLS context")
        free(certPath)
        free(keyPath)
        shd_tls_tickets_free(tickets)  // the context holds its own reference
        var callbacks = shd_callbacks_t()
        callbacks.on_open = { _, _ in }
        // Plaintext back to the sender: the encrypting side runs too.
        callbacks.on_data = { _, conn, data, len in
            _ = shd_conn_write(conn, data, len)
            return len
        }
        callbacks.on_close = { _, _, _ in }
        callbacks.on_deadline = { _, conn in shd_conn_close(conn, Int32(SHD_CLOSE_ABORT)) }
        callbacks.on_wake = { _ in }
        callbacks.on_post = { _, _ in }
        callbacks.before_flush = { _ in }
        callbacks.on_interval = { _ in }
        callbacks.on_tick = { _ in }
        var options = shd_loop_options_t()
        options.linger_ms = 1000
        let loop = shd_loop_new(&callbacks, nil, &options)!
        var bound: Int32 = 0
        invariant(shd_loop_listen(loop, "127.0.0.1", 0, &bound) == 0, "cannot listen")
        shd_loop_set_tls(loop, ctx, 0)
        shd_tls_ctx_free(ctx)
        port = bound
        var thread = pthread_t()
        let box = Unmanaged.passRetained(LoopBox(loop)).toOpaque()
        pthread_create(&thread, nil, { arg in
            let loop = Unmanaged<LoopBox>.fromOpaque(arg!).takeRetainedValue().loop
            _ = shd_loop_run(loop)
            return nil
        }, box)
    }
}

final class LoopBox {
    let loop: OpaquePointer
    init(_ loop: OpaquePointer) { self.loop = loop }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    invariant(fd >= 0, "no socket")
    defer { close(fd) }
    // From a source address of its own in 127/8: connections a failed
    // handshake made the server close first leave TIME_WAIT behind, and a
    // few thousand runs a second would otherwise use up one address's ports.
    var source = sockaddr_in()
    source.sin_family = sa_family_t(AF_INET)
    source.sin_addr.s_addr = (UInt32(127) << 24 | UInt32.random(in: 1...0xFF_FFFE)).bigEndian
    _ = withUnsafePointer(to: &source) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(server.port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if connected != 0 && errno == EINTR {
        // libFuzzer's timer interrupted it: the connection completes anyway.
        var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var failure: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        while poll(&ready, 1, 5000) < 0 && errno == EINTR {}
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length)
        connected = failure
    }
    invariant(connected == 0, "cannot connect (errno \(errno))")
    // Closed with a reset at the end: no TIME_WAIT piles up over millions of runs.
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    if let data, size > 0 { _ = send(fd, data, size, 0) }
    shutdown(fd, Int32(SHUT_WR))
    // The server answers what it can, then closes.
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n > 0 || (n < 0 && errno == EINTR) { continue }  // libFuzzer's own timers interrupt
        invariant(n == 0 || errno == ECONNRESET, "the server did not close the connection (errno \(errno))")
        return 0
    }
}

/// A ClientHello (from Python's ssl module), its pieces and neighbours, and
/// the plaintext the same port serves.
func seeds(_ vectors: [WireVector]) -> [[UInt8]] {
    let hello = fromHex("1603010200010001fc03034d105b096c8876b9a66c1b8e137d3e52d5da0b6f78908eee61d184d7f61cbb4020b0f84aa36009cdb97f7d2710d8eed34e432cc34f82a1c77c983e8de856005ed00024130213031301c02cc030c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100018f0000000e000c0000096c6f63616c686f7374000b000403000102000a00160014001d0017001e0019001801000101010201030104002300000016000000170000000d002a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602002b00050403040303002d00020101003300260024001d00202fd4bcf56d4f88230cb1da7c1f071067bc4aea72c2abc7e5ab18a63dcd65261b001500e4000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000")
    var out: [[UInt8]] = [hello, Array(hello.prefix(5)), Array(hello.prefix(200)),
                          hello + [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
                          hello + [0x17, 0x03, 0x03, 0x00, 0x10] + [UInt8](repeating: 0x41, count: 16),
                          [0x16, 0x03, 0x01, 0x00, 0x05] + Array("hello".utf8),
                          Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)]
    out += vectors.filter { $0.direction == "c2s" }.prefix(8).map(\.bytes)
    return out
}

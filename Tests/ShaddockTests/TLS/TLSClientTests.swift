import CShaddockLoop
import Foundation
@testable import Shaddock
import Testing

/// The C shim's client side of TLS, which shaddock-load runs: a loop of its
/// own connects to a TLS server, verifies it against the test CA, speaks
/// Pomelo over the connection, and resumes with its first session.
@Suite struct TLSClientTests {
    /// One client connection on a loop of its own: the handshake package
    /// is written before the TLS handshake finishes (it waits for it), and
    /// the connection is closed once the handshake answer arrives.
    final class Probe: @unchecked Sendable {
        let ctx: OpaquePointer
        let session: UnsafeMutableRawPointer?
        var received: [UInt8] = []
        var answer: [String: Any]?
        var closeReason: Int32 = -1
        var resumedSession: UnsafeMutableRawPointer?
        /// Set before the loop's thread starts; read on it.
        var loop: OpaquePointer?
        let done = DispatchSemaphore(value: 0)

        init(ctx: OpaquePointer, session: UnsafeMutableRawPointer?) {
            self.ctx = ctx
            self.session = session
        }

        static func from(_ p: UnsafeMutableRawPointer?) -> Probe { Unmanaged<Probe>.fromOpaque(p!).takeUnretainedValue() }

        func run(port: Int) {
            var callbacks = shd_callbacks_t()
            callbacks.on_open = { ctx, conn in
                let probe = Probe.from(ctx)
                _ = shd_conn_tls_connect(conn, probe.ctx, "localhost", probe.session)
                let body = Array(#"{"sys":{"type":"shim-client","version":"0.1"},"user":{}}"#.utf8)
                let package = [UInt8(1), 0, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
                _ = package.withUnsafeBytes { shd_conn_write(conn, $0.baseAddress, $0.count) }
            }
            callbacks.on_data = { ctx, conn, data, len in
                let probe = Probe.from(ctx)
                probe.received += UnsafeBufferPointer(start: data, count: len)
                let r = probe.received
                if r.count >= 4, r[0] == 1, r.count >= 4 + (Int(r[1]) << 16 | Int(r[2]) << 8 | Int(r[3])) {
                    probe.answer = try? JSONSerialization.jsonObject(with: Data(r[4...])) as? [String: Any]
                    probe.resumedSession = shd_conn_tls_session(conn)
                    shd_conn_close(conn, Int32(SHD_CLOSE_GRACEFUL))
                }
                return len
            }
            callbacks.on_close = { ctx, _, reason in
                let probe = Probe.from(ctx)
                probe.closeReason = reason
                probe.done.signal()
            }
            callbacks.on_deadline = { _, _ in }
            callbacks.on_wake = { ctx in shd_loop_shutdown(Probe.from(ctx).loop!) }
            callbacks.on_post = { _, _ in }
            callbacks.before_flush = { _ in }
            callbacks.on_interval = { _ in }
            callbacks.on_tick = { _ in }
            var options = shd_loop_options_t()
            let me = Unmanaged.passUnretained(self).toOpaque()
            let loop = shd_loop_new(&callbacks, me, &options)!
            self.loop = loop
            var err: Int32 = 0
            _ = shd_loop_connect(loop, "127.0.0.1", Int32(port), nil, nil, &err)
            // A semaphore, not polling: the loop's end happens before its free.
            let finished = DispatchSemaphore(value: 0)
            let thread = Thread { [self] in
                _ = shd_loop_run(self.loop!)
                finished.signal()
            }
            thread.start()
            _ = done.wait(timeout: .now() + 10)
            shd_loop_wake(loop)
            finished.wait()
            shd_loop_free(loop)
        }
    }

    static func clientContext(ca: String) throws -> OpaquePointer {
        var config = shd_tls_config_t()
        config.client = 1
        var error = [CChar](repeating: 0, count: 256)
        let ctx = ca.withCString { ca in
            config.ca_file = ca
            return shd_tls_ctx_new(&config, &error, error.count)
        }
        return try #require(ctx)
    }

    @Test func theShimsClientVerifiesShakesHandsAndResumes() throws {
        let files = try TLSTestFiles.get()
        let server = try TestServer { $0.tls = TLSTests.tls(files) }
        let ctx = try Self.clientContext(ca: files.ca)
        defer { shd_tls_ctx_free(ctx) }
        let first = Probe(ctx: ctx, session: nil)
        first.run(port: server.port)
        #expect(first.answer?["code"] as? Int == 200 && first.closeReason == Int32(SHD_CLOSED_BY_US))
        let session = try #require(first.resumedSession)
        defer { shd_tls_session_free(session) }
        let second = Probe(ctx: ctx, session: session)
        second.run(port: server.port)
        #expect(second.answer?["code"] as? Int == 200)
        if let s = second.resumedSession { shd_tls_session_free(s) }
        let stats = server.server.transportStats()
        #expect(stats.tlsFullHandshakes == 1 && stats.tlsResumedHandshakes == 1)
    }

    @Test func aServerTheCADidNotSignIsRefused() throws {
        let files = try TLSTestFiles.get()
        let server = try TestServer { $0.tls = TLSTests.tls(files) }
        // A CA file that is only a server certificate: nothing chains to it.
        let ctx = try Self.clientContext(ca: files.cert("ec"))
        defer { shd_tls_ctx_free(ctx) }
        let probe = Probe(ctx: ctx, session: nil)
        probe.run(port: server.port)
        #expect(probe.answer == nil && probe.closeReason == Int32(SHD_CLOSED_TLS))
    }
}

import CShaddockLoop
#if canImport(Glibc)
import Glibc
#endif

/// An OpenSSL context the loops hand to new connections: certificates read
/// and checked against their keys when it is made, so a bad file stops a
/// start or a reload with a message that names it. Reference counted in C:
/// a loop and every connection that uses it keep it alive, so dropping this
/// object after handing it on is safe.
final class TLSContext: @unchecked Sendable {
    let raw: OpaquePointer

    init(certificates: [TLSOptions.Certificate], options: TLSOptions,
         tickets: TicketKeys?) throws(ConfigurationError) {
        // The C strings live until shd_tls_ctx_new returns.
        let files = certificates.map { (cert: strdup($0.cert)!, key: strdup($0.key)!) }
        defer { for f in files { free(f.cert); free(f.key) } }
        var certs = files.map { shd_tls_cert_t(cert_file: $0.cert, key_file: $0.key) }
        var error = [CChar](repeating: 0, count: 512)
        let made: OpaquePointer? = certs.withUnsafeMutableBufferPointer { certs in
            withOptionalCString(options.ciphers) { ciphers in
                withOptionalCString(options.ciphersuites) { suites in
                    var config = shd_tls_config_t()
                    config.certs = UnsafePointer(certs.baseAddress)
                    config.cert_count = certs.count
                    config.ciphers = ciphers
                    config.ciphersuites = suites
                    config.tickets = tickets?.raw
                    return shd_tls_ctx_new(&config, &error, error.count)
                }
            }
        }
        guard let made else {
            throw .invalid("tls", String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        raw = made
    }

    deinit { shd_tls_ctx_free(raw) }
}

/// Session-ticket keys shared by every loop and every context of a server,
/// across reloads: from `ticketKeyFile`, or made here and rotated.
final class TicketKeys: @unchecked Sendable {
    let raw: OpaquePointer

    init(options: TLSOptions) throws(ConfigurationError) {
        guard let made = shd_tls_tickets_new() else { throw .invalid("tls", "cannot make session-ticket keys") }
        raw = made
        try load(options)
    }

    deinit { shd_tls_tickets_free(raw) }

    /// Reads `ticketKeyFile`, if there is one (at start and at each reload).
    func load(_ options: TLSOptions) throws(ConfigurationError) {
        guard let path = options.ticketKeyFile else { return }
        let bytes = try readFile(path)
        let rc = bytes.withUnsafeBufferPointer { shd_tls_tickets_set(raw, $0.baseAddress, $0.count) }
        if rc != 0 {
            throw .invalid("tls.ticketKeyFile", "\(path) holds \(bytes.count) bytes, not a positive multiple of 80 (one key: 16 name, 32 HMAC, 32 AES bytes)")
        }
    }

    /// A new current key; the two before it still resume.
    func rotate() { shd_tls_tickets_rotate(raw) }
}

private func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

/// TLS on the client port (and optionally the admin listener): the file's
/// `connector.tls` section (docs/tls.md). Paths are as given, or relative
/// to the configuration file's folder when read from one.
public struct TLSOptions: Sendable, Equatable {
    /// A certificate (PEM, its chain after it) and its private key (PEM).
    public struct Certificate: Sendable, Equatable {
        public var cert: String
        public var key: String

        public init(cert: String, key: String) {
            self.cert = cert
            self.key = key
        }
    }

    /// At least one; an RSA and an ECDSA certificate may be served together
    /// (each client gets the one its signature algorithms allow).
    public var certificates: [Certificate]
    /// Refuse plaintext clients (closed and counted); otherwise plain and
    /// TLS clients share the port.
    public var required = false
    /// TLS 1.2 cipher list (OpenSSL syntax); nil: ECDHE with AES-GCM or
    /// ChaCha20-Poly1305 only.
    public var ciphers: String?
    /// TLS 1.3 cipher suites; nil: OpenSSL's default.
    public var ciphersuites: String?
    /// Session tickets (resumption); off, a full handshake every time.
    public var tickets = true
    /// A file of ticket keys (80 bytes each, the first one current) shared
    /// by several gateways behind one load balancer; re-read on reload.
    /// Without it each process makes its own keys and rotates them.
    public var ticketKeyFile: String?
    /// How often a process's own ticket key is replaced (the two before it
    /// still resume); ignored with `ticketKeyFile`.
    public var ticketRotationSeconds: Double = 3600
    /// The admin listener speaks TLS too: with these certificates, or with
    /// the client port's when nil.
    public var admin = false
    public var adminCertificates: [Certificate]?

    public init(certificates: [Certificate]) { self.certificates = certificates }

    func validate() throws(ConfigurationError) {
        if certificates.isEmpty { throw .invalid("tls.cert", "TLS needs a certificate and its key") }
        if !(ticketRotationSeconds >= 60) { throw .invalid("tls.ticketRotation", "must be at least 60 seconds") }
        if let admin = adminCertificates, admin.isEmpty { throw .invalid("tls.admin.cert", "must name a certificate") }
    }
}

/// What the server allows of permessage-deflate (RFC 7692), from its
/// configuration.
public struct DeflatePolicy: Equatable, Sendable {
    /// Grant client context takeover (the client keeps its compression
    /// window between messages, and this connection an inflate stream of
    /// its own) when the client offered `client_max_window_bits`, so that
    /// the window can be limited to `clientWindowBits`. Otherwise, and by
    /// default, the answer carries `client_no_context_takeover`.
    public var clientTakeover: Bool
    /// The client window granted with takeover (9...15).
    public var clientWindowBits: Int

    public init(clientTakeover: Bool = false, clientWindowBits: Int = 10) {
        self.clientTakeover = clientTakeover
        self.clientWindowBits = min(15, max(9, clientWindowBits))
    }
}

/// The permessage-deflate parameters agreed on one connection. The server
/// never keeps context (`server_no_context_takeover` is always answered):
/// its messages are compressed by the loop's stream, reset per message.
public struct DeflateAgreement: Equatable, Sendable {
    /// The window the server compresses with: 15, or less when the client
    /// asked for `server_max_window_bits`.
    public var serverWindowBits: Int
    /// Whether the client keeps context (then the connection needs an
    /// inflate stream of its own, with `clientWindowBits`).
    public var clientTakeover: Bool
    public var clientWindowBits: Int
    /// Whether the answer names `server_max_window_bits` (the offer did).
    var echoServerWindow: Bool

    /// The `Sec-WebSocket-Extensions` value answered.
    public var responseValue: String {
        var s = "permessage-deflate; server_no_context_takeover"
        if clientTakeover {
            s += "; client_max_window_bits=\(clientWindowBits)"
        } else {
            s += "; client_no_context_takeover"
        }
        if echoServerWindow { s += "; server_max_window_bits=\(serverWindowBits)" }
        return s
    }
}

/// Reads `Sec-WebSocket-Extensions` offers (RFC 6455 §9.1, RFC 7692 §7)
/// and picks the first permessage-deflate offer the server can accept. An
/// offer with an unknown or repeated parameter, or a bad value, is declined
/// (the next one is tried), as the RFC asks; a header that cannot be read
/// declines them all but does not fail the upgrade: the connection goes on
/// without compression.
public enum DeflateNegotiation {
    /// `values`: the header's values, as ranges of `bytes`.
    public static func accept(_ bytes: UnsafeRawBufferPointer, values: [Range<Int>],
                              policy: DeflatePolicy) -> DeflateAgreement? {
        for value in values {
            var reader = Reader(bytes: bytes, at: value.lowerBound, end: value.upperBound)
            while let offer = reader.nextExtension() {
                guard case .deflate(let params?) = offer, let agreement = agree(params, policy) else { continue }
                return agreement
            }
            if reader.broken { return nil }
        }
        return nil
    }

    /// Convenience for tests and tools: the header values as strings.
    public static func accept(_ headerValues: [String], policy: DeflatePolicy = DeflatePolicy()) -> DeflateAgreement? {
        var bytes: [UInt8] = []
        var ranges: [Range<Int>] = []
        for v in headerValues {
            let start = bytes.count
            bytes.append(contentsOf: v.utf8)
            ranges.append(start..<bytes.count)
        }
        return bytes.withUnsafeBytes { accept($0, values: ranges, policy: policy) }
    }

    struct Params {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        /// nil: not offered.
        var serverMaxWindowBits: Int?
        /// nil: not offered; 0: offered without a value.
        var clientMaxWindowBits: Int?
    }

    static func agree(_ p: Params, _ policy: DeflatePolicy) -> DeflateAgreement? {
        // zlib cannot compress with a 256-byte window (it rounds 8 up to 9,
        // and a client holding 256 bytes could not follow): declined.
        if let bits = p.serverMaxWindowBits, bits < 9 { return nil }
        var agreement = DeflateAgreement(serverWindowBits: p.serverMaxWindowBits ?? 15, clientTakeover: false,
                                         clientWindowBits: 15, echoServerWindow: p.serverMaxWindowBits != nil)
        if policy.clientTakeover && !p.clientNoContextTakeover, let offered = p.clientMaxWindowBits {
            agreement.clientTakeover = true
            // The client's own limit when it gave a smaller one. Its window
            // of 8 is inflated with 9, which zlib accepts for raw streams.
            agreement.clientWindowBits = offered == 0 ? policy.clientWindowBits : max(9, min(offered, policy.clientWindowBits))
        }
        return agreement
    }

    enum Offer {
        case deflate(Params?)
        case other
    }

    /// A cursor over one header value: `extension *( ";" param )` elements
    /// separated by commas, a param `token [ "=" ( token | quoted-string ) ]`.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at: Int
        let end: Int
        /// The value is not a valid extension list; nothing after the
        /// point is read.
        var broken = false

        init(bytes: UnsafeRawBufferPointer, at: Int, end: Int) {
            self.bytes = bytes
            self.at = at
            self.end = end
        }

        /// The next extension, or nil at the end (or at a syntax error).
        /// A permessage-deflate one carries its parameters, nil when they
        /// are not acceptable.
        mutating func nextExtension() -> Offer? {
            skipSpace()
            // Empty list elements are allowed (RFC 7230 §7).
            while at < end && bytes[at] == UInt8(ascii: ",") {
                at += 1
                skipSpace()
            }
            guard at < end else { return nil }
            guard let name = token() else { return fail() }
            let isDeflate = UpgradeRequestParser.equalsIgnoringCase(bytes, name, "permessage-deflate")
            var params: Params? = Params()
            while true {
                skipSpace()
                if at == end { break }
                if bytes[at] == UInt8(ascii: ",") {
                    at += 1
                    break
                }
                guard bytes[at] == UInt8(ascii: ";") else { return fail() }
                at += 1
                skipSpace()
                guard let key = token() else { return fail() }
                skipSpace()
                var value: [UInt8]?
                if at < end && bytes[at] == UInt8(ascii: "=") {
                    at += 1
                    skipSpace()
                    guard let v = paramValue() else { return fail() }
                    value = v
                }
                if isDeflate && params != nil { params = take(params!, key, value) }
            }
            return isDeflate ? .deflate(params) : .other
        }

        /// Applies one parameter; nil when the offer must be declined.
        func take(_ p: Params, _ key: Range<Int>, _ value: [UInt8]?) -> Params? {
            var p = p
            func name(_ s: StaticString) -> Bool { UpgradeRequestParser.equalsIgnoringCase(bytes, key, s) }
            if name("server_no_context_takeover") {
                guard value == nil, !p.serverNoContextTakeover else { return nil }
                p.serverNoContextTakeover = true
            } else if name("client_no_context_takeover") {
                guard value == nil, !p.clientNoContextTakeover else { return nil }
                p.clientNoContextTakeover = true
            } else if name("server_max_window_bits") {
                guard p.serverMaxWindowBits == nil, let value, let bits = Self.windowBits(value) else { return nil }
                p.serverMaxWindowBits = bits
            } else if name("client_max_window_bits") {
                guard p.clientMaxWindowBits == nil else { return nil }
                if let value {
                    guard let bits = Self.windowBits(value) else { return nil }
                    p.clientMaxWindowBits = bits
                } else {
                    p.clientMaxWindowBits = 0
                }
            } else {
                return nil
            }
            return p
        }

        /// 8 to 15, in decimal without leading zeros (RFC 7692 §7.1.2).
        static func windowBits(_ v: [UInt8]) -> Int? {
            switch v.count {
            case 1 where v[0] == UInt8(ascii: "8") || v[0] == UInt8(ascii: "9"):
                return Int(v[0] - UInt8(ascii: "0"))
            case 2 where v[0] == UInt8(ascii: "1") && (UInt8(ascii: "0")...UInt8(ascii: "5")).contains(v[1]):
                return 10 + Int(v[1] - UInt8(ascii: "0"))
            default:
                return nil
            }
        }

        mutating func fail() -> Offer? {
            broken = true
            at = end
            return nil
        }

        mutating func skipSpace() {
            while at < end && (bytes[at] == 32 || bytes[at] == 9) { at += 1 }
        }

        mutating func token() -> Range<Int>? {
            let start = at
            while at < end && UpgradeRequestParser.isTokenChar(bytes[at]) { at += 1 }
            return at > start ? start..<at : nil
        }

        /// A token or a quoted string, unquoted (RFC 7230 §3.2.6).
        mutating func paramValue() -> [UInt8]? {
            guard at < end else { return nil }
            if bytes[at] != UInt8(ascii: "\"") {
                guard let t = token() else { return nil }
                return Array(bytes[t])
            }
            at += 1
            var out: [UInt8] = []
            while at < end {
                let c = bytes[at]
                at += 1
                switch c {
                case UInt8(ascii: "\""):
                    return out
                case UInt8(ascii: "\\"):
                    guard at < end else { return nil }
                    out.append(bytes[at])
                    at += 1
                case 9, 32...126, 0x80...0xFF:
                    out.append(c)
                default:
                    return nil
                }
            }
            return nil
        }
    }
}

import ShaddockProtocol

/// Compression toward clients: the file's `connector.compression` section
/// (docs/compression.md). Off unless configured.
public struct CompressionOptions: Sendable, Equatable {
    /// Negotiate permessage-deflate (RFC 7692) with WebSocket clients that
    /// offer it.
    public var deflate = false
    /// Messages smaller than this many bytes go uncompressed.
    public var threshold = 256
    /// zlib's level, 1 (fastest) to 9 (smallest).
    public var level = 1
    /// Allow client context takeover to clients that offer
    /// `client_max_window_bits`, with this window (9...15); nil: every client
    /// is told `client_no_context_takeover`, and no connection holds zlib
    /// state.
    public var clientTakeoverWindowBits: Int?
    /// The most connections of a loop that hold an inflate stream for
    /// client context takeover at once; later ones get no takeover.
    public var maxTakeoverSessions = 1000
    /// Set Pomelo's gzip message flag on bodies sent to clients that did not
    /// agree on permessage-deflate (custom clients only: the stock JS and
    /// Unity clients do not read it).
    public var messageFlag = false

    public init(deflate: Bool = false, threshold: Int = 256, level: Int = 1,
                clientTakeoverWindowBits: Int? = nil, maxTakeoverSessions: Int = 1000, messageFlag: Bool = false) {
        self.deflate = deflate
        self.threshold = threshold
        self.level = level
        self.clientTakeoverWindowBits = clientTakeoverWindowBits
        self.maxTakeoverSessions = maxTakeoverSessions
        self.messageFlag = messageFlag
    }

    var policy: DeflatePolicy {
        DeflatePolicy(clientTakeover: clientTakeoverWindowBits != nil, clientWindowBits: clientTakeoverWindowBits ?? 15)
    }

    func validate() throws(ConfigurationError) {
        if threshold < 0 { throw .invalid("compression.threshold", "must not be negative") }
        if !(1...9).contains(level) { throw .invalid("compression.level", "\(level) is not in 1...9") }
        if let bits = clientTakeoverWindowBits, !(9...15).contains(bits) {
            throw .invalid("compression.clientTakeover", "window bits \(bits) are not in 9...15")
        }
        if maxTakeoverSessions < 0 { throw .invalid("compression.maxTakeoverSessions", "must not be negative") }
    }

    /// `{"deflate": true, "threshold": 256, "level": 1, "clientTakeover": 10,
    /// "maxTakeoverSessions": 1000, "messageFlag": false}`.
    static func from(_ value: JSONValue, path: String) throws(ConfigurationError) -> CompressionOptions {
        guard let section = value.objectValue else { throw .invalid(path, "must be an object") }
        var options = CompressionOptions()
        for (key, value) in section {
            let at = path + "." + key
            switch key {
            case "deflate": options.deflate = try value.bool(at: at)
            case "threshold": options.threshold = try value.int(at: at)
            case "level": options.level = try value.int(at: at)
            case "clientTakeover":
                if case .bool(false) = value {
                    options.clientTakeoverWindowBits = nil
                } else {
                    options.clientTakeoverWindowBits = try value.int(at: at)
                }
            case "maxTakeoverSessions": options.maxTakeoverSessions = try value.int(at: at)
            case "messageFlag": options.messageFlag = try value.bool(at: at)
            default: throw .unknownKey(at)
            }
        }
        return options
    }
}

import CShaddockLoop
import ShaddockProtocol

/// The PROXY protocol on the client port: the file's
/// `connector.proxyProtocol` section (docs/deploy.md). A balancer in front
/// of the gateway names each connection's client in a header; the header
/// is read only from the `trusted` peers, before anything else.
public struct ProxyProtocolOptions: Sendable, Equatable {
    /// Addresses and CIDR blocks of the balancers ("10.0.0.0/8",
    /// "127.0.0.1", "2001:db8::/32").
    public var trusted: [String]
    /// Every connection must come from a trusted peer with a header: others
    /// are closed and counted. Otherwise a connection without a header (a
    /// client reaching the port directly, from a trusted peer or not) keeps
    /// its own address.
    public var required = false
    /// How long after the accept a trusted peer's header must be whole.
    public var timeoutSeconds: Double = 5

    public init(trusted: [String], required: Bool = false, timeoutSeconds: Double = 5) {
        self.trusted = trusted
        self.required = required
        self.timeoutSeconds = timeoutSeconds
    }

    /// The trust list as the shim takes it; throws naming a bad entry.
    func cidrs(at path: String = "proxyProtocol.trusted") throws(ConfigurationError) -> [shd_cidr_t] {
        var out: [shd_cidr_t] = []
        for (i, entry) in trusted.enumerated() {
            var cidr = shd_cidr_t()
            guard shd_cidr_parse(entry, &cidr) == 0 else {
                throw .invalid("\(path)[\(i)]", "\"\(entry)\" is not an address or a CIDR block")
            }
            out.append(cidr)
        }
        return out
    }

    func validate() throws(ConfigurationError) {
        if trusted.isEmpty { throw .invalid("proxyProtocol.trusted", "must name at least one balancer") }
        _ = try cidrs()
        if !(timeoutSeconds > 0) { throw .invalid("proxyProtocol.timeout", "must be positive") }
    }

    /// The file's section: `{"trusted": [...], "required": false, "timeout": 5}`.
    static func from(_ value: JSONValue, path: String) throws(ConfigurationError) -> ProxyProtocolOptions {
        guard let section = value.objectValue else { throw .invalid(path, "must be an object") }
        var options = ProxyProtocolOptions(trusted: [])
        var sawTrusted = false
        for (key, value) in section {
            let at = path + "." + key
            switch key {
            case "trusted":
                options.trusted = try value.strings(at: at)
                sawTrusted = true
            case "required": options.required = try value.bool(at: at)
            case "timeout": options.timeoutSeconds = try value.number(at: at)
            default: throw .unknownKey(at)
            }
        }
        if !sawTrusted { throw .invalid(path + ".trusted", "is required") }
        return options
    }
}

extension EventLoop {
    /// Reads PROXY headers from `options.trusted` on new connections (nil:
    /// none). On the loop's thread, or before it runs.
    func use(_ options: ProxyProtocolOptions?) {
        trustedProxies = options.flatMap { try? HostBlacklist($0.trusted) } ?? .none
        guard let options, let cidrs = try? options.cidrs() else {
            shd_loop_set_proxy(raw, nil, 0, 0, 0)
            return
        }
        let timeout = UInt32(min(options.timeoutSeconds * 1000, Double(UInt32.max)))
        cidrs.withUnsafeBufferPointer {
            _ = shd_loop_set_proxy(raw, $0.baseAddress, $0.count, options.required ? 1 : 0, timeout)
        }
    }
}

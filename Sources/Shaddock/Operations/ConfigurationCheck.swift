extension GatewayConfiguration {
    /// Everything start-up checks before it listens: the settings, and every
    /// file they name (certificates and their keys, the ticket key file, the
    /// protos files). Throws the first problem, naming the key or the file.
    public func check() throws(ConfigurationError) {
        try validate()
        _ = try ServerTLS.make(tls, keeping: ServerTLS())
        if let protobuf { _ = try ProtobufSchemas.load(protobuf) }
    }

    /// The settings in effect, one `name = value` per line, in the order
    /// `GatewayConfiguration` declares them.
    public var effectiveDescription: String {
        Mirror(reflecting: self).children.compactMap { child in
            child.label.map { "\($0) = \(Self.describe(child.value))" }
        }.joined(separator: "\n")
    }

    private static func describe(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional { return mirror.children.first.map { describe($0.value) } ?? "none" }
        return String(describing: value)
    }
}

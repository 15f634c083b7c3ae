import ShaddockProtocol

/// pomelo-protobuf bodies: the file's `connector.protobuf` section
/// (docs/protobuf.md). Off unless configured.
public struct ProtobufOptions: Sendable, Equatable {
    /// Pomelo's `clientProtos.json`: requests by route.
    public var clientFile: String
    /// Pomelo's `serverProtos.json`: responses and pushes by route.
    public var serverFile: String
    /// Accept Pinus's `bool`, `uInt64` and `sInt64`.
    public var pinusTypes = false

    public init(clientFile: String, serverFile: String, pinusTypes: Bool = false) {
        self.clientFile = clientFile
        self.serverFile = serverFile
        self.pinusTypes = pinusTypes
    }

    /// `true` (Pomelo's two files beside the configuration file) or
    /// `{"client": "clientProtos.json", "server": "serverProtos.json",
    /// "pinusTypes": false}`; relative paths start at `directory`.
    static func from(_ value: JSONValue, path: String, directory: String) throws(ConfigurationError) -> ProtobufOptions? {
        var options = ProtobufOptions(clientFile: directory + "clientProtos.json",
                                      serverFile: directory + "serverProtos.json")
        if case .bool(let on) = value { return on ? options : nil }
        guard let section = value.objectValue else { throw .invalid(path, "must be true, false or an object") }
        func file(_ value: JSONValue, _ at: String) throws(ConfigurationError) -> String {
            let name = try value.string(at: at)
            if name.isEmpty { throw .invalid(at, "must name a file") }
            return name.hasPrefix("/") ? name : directory + name
        }
        for (key, value) in section {
            let at = path + "." + key
            switch key {
            case "client": options.clientFile = try file(value, at)
            case "server": options.serverFile = try file(value, at)
            case "pinusTypes": options.pinusTypes = try value.bool(at: at)
            default: throw .unknownKey(at)
            }
        }
        return options
    }
}

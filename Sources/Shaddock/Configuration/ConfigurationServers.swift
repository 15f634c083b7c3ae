import ShaddockProtocol

/// The environments of Pomelo's servers.json: `{"<env>": {"<serverType>": [entry, ...]}}`.
extension GatewayConfiguration {
    typealias ServerAt = (entry: ServerEntry, path: String)

    /// Every entry of one environment, server types in file order.
    static func servers(in value: JSONValue, environment: String) throws(ConfigurationError) -> [ServerAt] {
        guard let types = value.objectValue else {
            throw .invalid(environment, "must be an object of server types (or \"connector\", the connector section)")
        }
        var servers: [ServerAt] = []
        for (serverType, list) in types {
            let typePath = environment + "." + serverType
            guard let list = list.arrayValue else { throw .invalid(typePath, "must be an array of servers") }
            for (i, item) in list.enumerated() {
                let path = "\(typePath)[\(i)]"
                servers.append((try entry(item, serverType: serverType, path: path), path))
            }
        }
        return servers
    }

    /// One server entry; the keys are those Pomelo reads.
    private static func entry(_ value: JSONValue, serverType: String, path: String) throws(ConfigurationError) -> ServerEntry {
        guard let object = value.objectValue else { throw .invalid(path, "must be an object") }
        var server = ServerEntry(id: "", serverType: serverType)
        var hasID = false
        for (key, value) in object {
            let keyPath = path + "." + key
            switch key {
            case "id":
                server.id = try value.string(at: keyPath)
                hasID = true
            case "host": server.host = try value.string(at: keyPath)
            case "port": server.port = try value.int(at: keyPath)
            case "clientHost": server.clientHost = try value.string(at: keyPath)
            case "clientPort": server.clientPort = try value.int(at: keyPath)
            case "frontend": server.frontend = try flag(value, at: keyPath)
            case "max-connections": server.maxConnections = try value.int(at: keyPath)
            // Pomelo's starter reads these to launch processes; a gateway
            // started by other means has no use for them.
            case "args":
                if value.stringValue == nil { _ = try value.strings(at: keyPath) }
            case "cpu":
                if value.stringValue == nil { _ = try value.int(at: keyPath) }
            case "auto-restart", "restart-force": _ = try flag(value, at: keyPath)
            default: throw .unknownKey(keyPath)
            }
        }
        if !hasID { throw .invalid(path + ".id", "is required") }
        return server
    }

    /// true or false; also "true" and "false", the strings Pomelo's own
    /// tools write and its `isFrontend` compares with.
    private static func flag(_ value: JSONValue, at path: String) throws(ConfigurationError) -> Bool {
        switch value {
        case .bool(let b): return b
        case .string("true"): return true
        case .string("false"): return false
        default: throw .invalid(path, "must be true or false")
        }
    }

    /// This server: the entry named `serverID`, else the first frontend.
    static func choose(in servers: [ServerAt], environment: String, serverID: String?)
        throws(ConfigurationError) -> ServerAt
    {
        let found: ServerAt?
        if let serverID {
            found = servers.first { $0.entry.id == serverID }
            if found == nil { throw .invalid(environment, "no server has the id \"\(serverID)\"") }
        } else {
            found = servers.first { $0.entry.frontend }
            if found == nil { throw .invalid(environment, "no frontend server (\"frontend\": true) to run as") }
        }
        let chosen = found!
        // A backend (named by its id) takes no clients.
        guard chosen.entry.frontend else { return chosen }
        guard chosen.entry.clientPort != nil else {
            throw .invalid(chosen.path + ".clientPort", "is required for a frontend server")
        }
        return chosen
    }
}

import Logging
import ShaddockProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension GatewayConfiguration {
    /// Reads a configuration file: Pomelo's servers.json (environment →
    /// server type → servers) with an optional `"connector"` section for the
    /// gateway's own settings (docs/configuration.md). This server is
    /// the entry of `environment` whose id is `serverID`, or the first
    /// frontend. An unknown key or a value of the wrong kind anywhere in the
    /// file is an error that names its path, e.g. `development.connector[0].bogus`.
    /// `nats` (the CLI's `--nats`) replaces the NATS URLs of the file's
    /// `cluster` section, or makes one.
    public static func load(path: String, environment: String = "development", serverID: String? = nil,
                            nats: [String] = []) throws(ConfigurationError) -> GatewayConfiguration
    {
        // The dictionary path in the file is relative to the file's folder.
        let directory = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
        return try GatewayConfiguration(file: try readJSON(path), directory: directory,
                                        environment: environment, serverID: serverID, nats: nats)
    }

    /// The configuration a parsed file describes; `directory` ("" or ending
    /// in "/") is where relative paths in it start.
    init(file: JSONValue, directory: String, environment: String, serverID: String?,
         nats: [String] = []) throws(ConfigurationError) {
        self.init()
        guard let top = file.objectValue else { throw .invalid("(top level)", "must be a JSON object") }
        var keys = FileKeys()
        var environments: [(name: String, servers: [(entry: ServerEntry, path: String)])] = []
        // Every section is read before one is chosen, so a mistake in an
        // environment this server does not use still stops it.
        for (key, value) in top {
            if key == "connector" {
                guard let section = value.objectValue else { throw .invalid(key, "must be an object") }
                keys.dictionary = try apply(connector: section, directory: directory)
            } else if key == "cluster" {
                clusterOptions = try Self.clusterOptions(value)
            } else {
                environments.append((key, try Self.servers(in: value, environment: key)))
            }
        }
        if !nats.isEmpty {
            var options = clusterOptions ?? ClusterOptions()
            options.nats.urls = []
            for url in nats where !options.nats.add(url: url) {
                throw .invalid("--nats", "\"\(url)\" is not nats://host:port (or the host does not resolve)")
            }
            clusterOptions = options
        }
        if environments.isEmpty {
            if let serverID { self.serverID = serverID }
        } else {
            guard let servers = environments.first(where: { $0.name == environment })?.servers else {
                let names = environments.map { "\"\($0.name)\"" }.joined(separator: ", ")
                throw .invalid(environment, "no such environment in the file; it has \(names)")
            }
            let chosen = try Self.choose(in: servers, environment: environment, serverID: serverID)
            self.serverID = chosen.entry.id
            serverType = chosen.entry.serverType
            isFrontend = chosen.entry.frontend
            if !isFrontend && clusterOptions == nil {
                throw .invalid(chosen.path, "\"\(chosen.entry.id)\" is a backend (not \"frontend\": true): it runs in a cluster, which needs a \"cluster\" section or --nats")
            }
            if let clientPort = chosen.entry.clientPort { port = clientPort }
            maxConnections = chosen.entry.maxConnections
            cluster = servers.map(\.entry)
            keys.entries = servers.map(\.path)
            keys.chosen = chosen.path
        }
        do { try validate() } catch { throw error.renamingKey(keys.path(of:)) }
    }

    /// Applies the connector section; returns the dictionary file's path if
    /// it names one.
    private mutating func apply(connector: JSONObject, directory: String) throws(ConfigurationError) -> String? {
        var dictionaryPath: String?
        for (key, value) in connector {
            let path = "connector." + key
            switch key {
            case "host": host = try value.string(at: path)
            case "threads": threads = try value.int(at: path)
            case "heartbeat": heartbeatSeconds = try value.int(at: path)
            case "timeout": heartbeatTimeoutSeconds = try value.number(at: path)
            case "handshakeTimeout": handshakeTimeoutSeconds = try value.number(at: path)
            case "firstByteTimeout": firstByteTimeoutSeconds = try value.number(at: path)
            case "requestHeadTimeout": requestHeadTimeoutSeconds = try value.number(at: path)
            case "drainTimeout": drainTimeoutSeconds = try value.number(at: path)
            case "drainKickReason": drainKickReason = try value.string(at: path)
            case "maxConnectionsPerAddress": maxConnectionsPerAddress = try value.int(at: path)
            case "requestRate": requestRate = try Self.requestRate(path, value)
            case "useDict": useDictionary = try value.bool(at: path)
            case "dictionary":
                let file = try value.string(at: path)
                let resolved = file.hasPrefix("/") ? file : directory + file
                userDictionary = try readJSON(resolved).strings(at: resolved)
                dictionaryPath = resolved
            case "blacklist": blacklist = try value.strings(at: path)
            case "scheduler": scheduler = try Self.scheduler(path, value)
            case "subprotocols":
                if let list = value.arrayValue {
                    subprotocols = .only(try JSONValue.array(list).strings(at: path))
                } else {
                    switch try value.oneOf(["first-offered", "none"], at: path) {
                    case "none": subprotocols = .none
                    default: subprotocols = .firstOffered
                    }
                }
            case "multiLogin": multiLogin = MultiLoginPolicy(rawValue: try value.oneOf(["allow", "reject", "kick"], at: path))!
            case "slowConsumer": slowConsumer = SlowConsumerPolicy(rawValue: try value.oneOf(["drop", "kick"], at: path))!
            case "filters": try apply(filters: value, path: path)
            case "maxFrameBytes": maxFrameBytes = try value.int(at: path)
            case "maxMessageBytes": maxMessageBytes = try value.int(at: path)
            case "maxPackageBytes": maxPackageBytes = try value.int(at: path)
            case "maxRequestHeadBytes": maxRequestHeadBytes = try value.int(at: path)
            case "maxPendingBytes": maxPendingBytes = try value.int(at: path)
            case "timerTickMilliseconds": timerTickMilliseconds = try value.int(at: path)
            case "lingerMilliseconds": lingerMilliseconds = try value.int(at: path)
            case "logFormat": logFormat = LogFormat(rawValue: try value.oneOf(LogFormat.allCases.map(\.rawValue), at: path))!
            case "logLevel": logLevel = Logger.Level(rawValue: try value.oneOf(Logger.Level.allCases.map(\.rawValue), at: path))!
            case "adminHost": adminHost = try value.string(at: path)
            case "adminPort": adminPort = try value.int(at: path)
            case "tls": tls = try TLSOptions.from(value, path: path, directory: directory)
            case "proxyProtocol": proxyProtocol = try ProxyProtocolOptions.from(value, path: path)
            case "compression": compression = try CompressionOptions.from(value, path: path)
            case "protobuf": protobuf = try ProtobufOptions.from(value, path: path, directory: directory)
            default: throw .unknownKey(path)
            }
        }
        return dictionaryPath
    }

    /// The top-level `cluster` section (docs/cluster.md).
    static func clusterOptions(_ value: JSONValue) throws(ConfigurationError) -> ClusterOptions {
        guard let section = value.objectValue else { throw .invalid("cluster", "must be an object") }
        var options = ClusterOptions()
        for (key, value) in section {
            let path = "cluster." + key
            switch key {
            case "nats":
                let urls: [String]
                if let one = value.stringValue { urls = [one] } else { urls = try value.strings(at: path) }
                for (i, url) in urls.enumerated() where !options.nats.add(url: url) {
                    throw .invalid(urls.count == 1 && value.stringValue != nil ? path : "\(path)[\(i)]",
                                   "\"\(url)\" is not nats://host:port (or the host does not resolve)")
                }
            case "name": options.name = try value.string(at: path)
            case "requestTimeout": options.requestTimeoutMilliseconds = try value.int(at: path)
            case "announceInterval": options.announceIntervalMilliseconds = try value.int(at: path)
            case "maxInFlight": options.maxInFlightPerLoop = try value.int(at: path)
            case "pingInterval": options.nats.pingIntervalMilliseconds = try value.int(at: path)
            case "user": options.nats.user = try value.string(at: path)
            case "password": options.nats.password = try value.string(at: path)
            case "token": options.nats.token = try value.string(at: path)
            default: throw .unknownKey(path)
            }
        }
        return options
    }

    /// `{"mode": "direct" | "buffer", "flushInterval": ms}`; the interval is
    /// checked in both modes so switching the mode cannot uncover a bad one.
    private static func scheduler(_ path: String, _ value: JSONValue) throws(ConfigurationError) -> PushSchedulerMode {
        guard let section = value.objectValue else { throw .invalid(path, "must be an object") }
        var mode = "direct"
        var interval = 20
        for (key, value) in section {
            switch key {
            case "mode": mode = try value.oneOf(["direct", "buffer"], at: path + ".mode")
            case "flushInterval":
                interval = try value.int(at: path + ".flushInterval")
                if !(1...10_000).contains(interval) {
                    throw .invalid(path + ".flushInterval", "\(interval) is not in 1...10000")
                }
            default: throw .unknownKey(path + "." + key)
            }
        }
        return mode == "buffer" ? .buffered(flushIntervalMilliseconds: interval) : .direct
    }

    /// `{"perSecond": n, "burst": n, "kickAfter": n}`; only perSecond is required.
    private static func requestRate(_ path: String, _ value: JSONValue) throws(ConfigurationError) -> RequestRateLimit {
        guard let section = value.objectValue else { throw .invalid(path, "must be an object") }
        var perSecond: Int?
        var burst: Int?
        var kickAfter: Int?
        for (key, value) in section {
            switch key {
            case "perSecond": perSecond = try value.int(at: path + "." + key)
            case "burst": burst = try value.int(at: path + "." + key)
            case "kickAfter": kickAfter = try value.int(at: path + "." + key)
            default: throw .unknownKey(path + "." + key)
            }
        }
        guard let perSecond else { throw .invalid(path + ".perSecond", "is required") }
        return RequestRateLimit(perSecond: perSecond, burst: burst, kickAfter: kickAfter)
    }

    /// Pomelo's filter names, each a time in milliseconds.
    private mutating func apply(filters value: JSONValue, path: String) throws(ConfigurationError) {
        guard let section = value.objectValue else { throw .invalid(path, "must be an object") }
        for (key, value) in section {
            let ms = try value.int(at: path + "." + key)
            switch key {
            case "serial": serialFilterTimeoutMilliseconds = ms
            case "time": slowHandlerMilliseconds = ms
            case "timeout": requestTimeoutMilliseconds = ms
            case "toobusy": maxLoopLagMilliseconds = ms
            default: throw .unknownKey(path + "." + key)
            }
        }
    }
}

/// Maps the keys `validate()` names back to where they came from in the file.
struct FileKeys {
    /// The path of each cluster entry.
    var entries: [String] = []
    /// This server's entry.
    var chosen: String?
    /// The dictionary file.
    var dictionary: String?

    func path(of key: String) -> String {
        if let chosen {
            switch key {
            case "port": return chosen + ".clientPort"
            case "maxConnections": return chosen + ".max-connections"
            case "serverID": return chosen + ".id"
            case "serverType": return chosen
            default: break
            }
        }
        if key.hasPrefix("cluster["), let close = key.firstIndex(of: "]"),
           let i = Int(key[key.index(key.startIndex, offsetBy: 8)..<close]), entries.indices.contains(i) {
            return entries[i] + key[key.index(after: close)...]
        }
        if key.hasPrefix("userDictionary["), let dictionary {
            return dictionary + key.dropFirst("userDictionary".count)
        }
        if key.hasPrefix("cluster.") { return key }
        switch key {
        case "heartbeatTimeout": return "connector.timeout"
        case "port", "serverID", "serverType", "maxConnections": return key
        default: return "connector." + key
        }
    }
}

extension ConfigurationError {
    func renamingKey(_ rename: (String) -> String) -> ConfigurationError {
        switch self {
        case .invalid(let key, let why): return .invalid(rename(key), why)
        case .unknownKey(let key): return .unknownKey(rename(key))
        case .unreadable: return self
        }
    }
}

func readJSON(_ path: String) throws(ConfigurationError) -> JSONValue {
    let bytes = try readFile(path)
    do { return try JSON.parse(bytes) } catch { throw .unreadable(path, "not valid JSON: \(error)") }
}

/// A whole file's bytes; an error names the file and why.
func readFile(_ path: String) throws(ConfigurationError) -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw .unreadable(path, String(cString: strerror(errno)))
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n == 0 { break }
        bytes.append(contentsOf: chunk[..<n])
    }
    if ferror(file) != 0 { throw .unreadable(path, String(cString: strerror(errno))) }
    return bytes
}

/// Typed reads of a file's values; the error names the value's path.
extension JSONValue {
    func string(at path: String) throws(ConfigurationError) -> String {
        guard let s = stringValue else { throw .invalid(path, "must be a string") }
        return s
    }

    func int(at path: String) throws(ConfigurationError) -> Int {
        guard let i = intValue else { throw .invalid(path, "must be an integer") }
        return i
    }

    func number(at path: String) throws(ConfigurationError) -> Double {
        guard let d = doubleValue else { throw .invalid(path, "must be a number") }
        return d
    }

    func bool(at path: String) throws(ConfigurationError) -> Bool {
        guard let b = boolValue else { throw .invalid(path, "must be true or false") }
        return b
    }

    /// An array of strings; a bad element is named `path[i]`.
    func strings(at path: String) throws(ConfigurationError) -> [String] {
        guard let array = arrayValue else { throw .invalid(path, "must be an array of strings") }
        var result: [String] = []
        for (i, element) in array.enumerated() { result.append(try element.string(at: "\(path)[\(i)]")) }
        return result
    }

    /// One of the strings in `options`.
    func oneOf(_ options: [String], at path: String) throws(ConfigurationError) -> String {
        guard let s = stringValue, options.contains(s) else {
            throw .invalid(path, "must be one of " + options.map { "\"\($0)\"" }.joined(separator: ", "))
        }
        return s
    }
}

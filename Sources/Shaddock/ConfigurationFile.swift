import Logging
import ShaddockProtocol

#if canImport(Glibc)
import Glibc
#endif

extension GatewayConfiguration {
    /// Reads a JSON configuration file. Keys: host, port, threads,
    /// heartbeat, heartbeatTimeout, handshakeTimeout, useDict,
    /// maxMessageBytes, maxRequestHeadBytes, maxPendingBytes,
    /// timerTickMilliseconds, lingerMilliseconds, logLevel. An unknown key or
    /// a value of the wrong kind is an error that names it.
    public static func load(path: String) throws(ConfigurationError) -> GatewayConfiguration {
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
        let doc: JSONValue
        do { doc = try JSON.parse(bytes) } catch { throw .unreadable(path, "not valid JSON: \(error)") }
        var config = GatewayConfiguration()
        try config.apply(doc)
        return config
    }

    /// Applies the keys of a JSON object over this configuration.
    public mutating func apply(_ doc: JSONValue) throws(ConfigurationError) {
        guard let object = doc.objectValue else { throw .invalid("(top level)", "must be a JSON object") }
        for (key, value) in object.members {
            switch key {
            case "host": host = try string(key, value)
            case "port": port = try int(key, value)
            case "threads": threads = try int(key, value)
            case "heartbeat": heartbeatSeconds = try int(key, value)
            case "heartbeatTimeout": heartbeatTimeoutSeconds = try number(key, value)
            case "handshakeTimeout": handshakeTimeoutSeconds = try number(key, value)
            case "useDict":
                guard let b = value.boolValue else { throw .invalid(key, "must be true or false") }
                useDictionary = b
            case "maxMessageBytes": maxMessageBytes = try int(key, value)
            case "maxRequestHeadBytes": maxRequestHeadBytes = try int(key, value)
            case "maxPendingBytes": maxPendingBytes = try int(key, value)
            case "timerTickMilliseconds": timerTickMilliseconds = try int(key, value)
            case "lingerMilliseconds": lingerMilliseconds = try int(key, value)
            case "logLevel":
                guard let level = Logger.Level(rawValue: try string(key, value)) else {
                    throw .invalid(key, "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                logLevel = level
            default:
                throw .unknownKey(key)
            }
        }
        try validate()
    }
}

private func string(_ key: String, _ v: JSONValue) throws(ConfigurationError) -> String {
    guard let s = v.stringValue else { throw .invalid(key, "must be a string") }
    return s
}

private func int(_ key: String, _ v: JSONValue) throws(ConfigurationError) -> Int {
    guard let i = v.intValue else { throw .invalid(key, "must be an integer") }
    return i
}

private func number(_ key: String, _ v: JSONValue) throws(ConfigurationError) -> Double {
    guard let d = v.doubleValue else { throw .invalid(key, "must be a number") }
    return d
}

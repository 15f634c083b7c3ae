/// The Pomelo handshake (PROTOCOL.md §4): the client's JSON, and the server's
/// answer with its keys in Pomelo's order, so replies match byte for byte.
public enum HandshakeCode: Int, Sendable {
    case ok = 200
    /// No `sys` object, or a user handshake hook that failed.
    case badHandshake = 500
    /// The user's client check refused `sys.type`/`sys.version`.
    case oldClient = 501
}

/// What the client sent.
public struct ClientHandshake: Sendable, Equatable {
    public var sys: JSONObject
    public var user: JSONValue?
    public var type: String? { sys["type"]?.stringValue }
    public var version: String? { sys["version"]?.stringValue }
    public var dictVersion: String? { sys["dictVersion"]?.stringValue }

    /// Parses a handshake body; nil when it is not a JSON object with a `sys`
    /// object (answered with code 500).
    public init?(body: UnsafeRawBufferPointer) {
        guard let doc = try? JSON.parse(body), let sys = doc["sys"]?.objectValue else { return nil }
        self.sys = sys
        self.user = doc["user"]
    }
}

/// Builds the server's handshake packages. The common answers (with and
/// without the dictionary, no user payload) are built once.
public struct HandshakeResponder: Sendable {
    public let heartbeatSeconds: Int
    public let dictionary: RouteDictionary?
    /// With the dictionary (or without one when the dictionary is off).
    public let fullPackage: [UInt8]
    /// For a client that already has the current dictionary.
    public let currentDictPackage: [UInt8]

    public init(heartbeatSeconds: Int, dictionary: RouteDictionary?) {
        self.heartbeatSeconds = heartbeatSeconds
        self.dictionary = dictionary
        fullPackage = Package.encode(.handshake, body: HandshakeResponder.body(heartbeatSeconds, dictionary, includeDict: true, user: nil))
        currentDictPackage = Package.encode(.handshake, body: HandshakeResponder.body(heartbeatSeconds, dictionary, includeDict: false, user: nil))
    }

    /// The handshake package for a client, with the user hook's result.
    public func package(for client: ClientHandshake, user: JSONValue? = nil) -> [UInt8] {
        let includeDict = dictionary != nil && client.dictVersion != dictionary?.version
        if user == nil { return includeDict ? fullPackage : currentDictPackage }
        return Package.encode(.handshake, body: HandshakeResponder.body(heartbeatSeconds, dictionary, includeDict: includeDict, user: user))
    }

    /// `{"code":N}`, sent before closing on a refused handshake.
    public static func errorPackage(_ code: HandshakeCode) -> [UInt8] {
        Package.encode(.handshake, body: Array("{\"code\":\(code.rawValue)}".utf8))
    }

    static func body(_ heartbeat: Int, _ dict: RouteDictionary?, includeDict: Bool, user: JSONValue?) -> [UInt8] {
        var out = Array("{\"code\":200,\"sys\":{".utf8)
        var first = true
        func key(_ k: String) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(contentsOf: "\"\(k)\":".utf8)
        }
        // Pomelo leaves heartbeat out when it is off.
        if heartbeat > 0 {
            key("heartbeat")
            out.append(contentsOf: String(heartbeat).utf8)
        }
        if let dict {
            if includeDict {
                key("dict"); out.append(contentsOf: dict.routeToCodeJSON)
                key("routeToCode"); out.append(contentsOf: dict.routeToCodeJSON)
                key("codeToRoute"); out.append(contentsOf: dict.codeToRouteJSON)
                key("dictVersion"); JSONValue.string(dict.version).write(into: &out)
            }
            key("useDict"); out.append(contentsOf: "true".utf8)
        }
        out.append(UInt8(ascii: "}"))
        if let user {
            out.append(contentsOf: ",\"user\":".utf8)
            user.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

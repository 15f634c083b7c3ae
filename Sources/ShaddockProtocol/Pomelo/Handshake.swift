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
    /// The protos version the client has (absent, or 0 before it has any).
    public var protoVersion: String? { sys["protoVersion"]?.stringValue }

    /// Parses a handshake body; nil when it is not a JSON object with a `sys`
    /// object (answered with code 500).
    public init?(body: UnsafeRawBufferPointer) {
        guard let doc = try? JSON.parse(body), let sys = doc["sys"]?.objectValue else { return nil }
        self.sys = sys
        self.user = doc["user"]
    }
}

/// pomelo-protobuf's schemas as the handshake offers them (Pomelo's
/// protobuf component): their parsed forms and version.
public struct HandshakeProtos: Sendable {
    public let client: ProtoSchema
    public let server: ProtoSchema
    public let version: String

    public init(client: ProtoSchema, server: ProtoSchema) {
        self.client = client
        self.server = server
        version = ProtoSchema.version(client: client, server: server)
    }
}

/// Builds the server's handshake packages. The common answers (with and
/// without the dictionary and the protos, no user payload) are built once.
public struct HandshakeResponder: Sendable {
    public let heartbeatSeconds: Int
    public let dictionary: RouteDictionary?
    public let protos: HandshakeProtos?
    /// By [includeDict][includeProtos].
    private let packages: [[[UInt8]]]
    /// With the dictionary (or without one when the dictionary is off).
    public var fullPackage: [UInt8] { packages[1][1] }
    /// For a client that already has the current dictionary.
    public var currentDictPackage: [UInt8] { packages[0][1] }

    public init(heartbeatSeconds: Int, dictionary: RouteDictionary?, protos: HandshakeProtos? = nil) {
        self.heartbeatSeconds = heartbeatSeconds
        self.dictionary = dictionary
        self.protos = protos
        packages = [false, true].map { dict in
            [false, true].map { proto in
                Package.encode(.handshake, body: HandshakeResponder.body(heartbeatSeconds, dictionary, includeDict: dict,
                                                                          protos: protos, includeProtos: proto, user: nil))
            }
        }
    }

    /// The handshake package for a client, with the user hook's result. The
    /// dictionary and the protos go to a client whose versions of them are
    /// not the current ones (exactly: 0 or absent is not).
    public func package(for client: ClientHandshake, user: JSONValue? = nil) -> [UInt8] {
        let includeDict = dictionary != nil && client.dictVersion != dictionary?.version
        let includeProtos = protos != nil && client.protoVersion != protos?.version
        if user == nil { return packages[includeDict ? 1 : 0][includeProtos ? 1 : 0] }
        return Package.encode(.handshake, body: HandshakeResponder.body(heartbeatSeconds, dictionary, includeDict: includeDict,
                                                                        protos: protos, includeProtos: includeProtos, user: user))
    }

    /// `{"code":N}`, sent before closing on a refused handshake.
    public static func errorPackage(_ code: HandshakeCode) -> [UInt8] {
        Package.encode(.handshake, body: Array("{\"code\":\(code.rawValue)}".utf8))
    }

    static func body(_ heartbeat: Int, _ dict: RouteDictionary?, includeDict: Bool, protos: HandshakeProtos?,
                     includeProtos: Bool, user: JSONValue?) -> [UInt8] {
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
        // Pomelo's order: the protos after the dictionary, then useProto.
        if let protos {
            if includeProtos {
                key("protos")
                out.append(contentsOf: "{\"server\":".utf8)
                protos.server.parsed.write(into: &out)
                out.append(contentsOf: ",\"client\":".utf8)
                protos.client.parsed.write(into: &out)
                out.append(contentsOf: ",\"version\":".utf8)
                JSONValue.string(protos.version).write(into: &out)
                out.append(UInt8(ascii: "}"))
            }
            key("useProto"); out.append(contentsOf: "true".utf8)
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

import ShaddockProtocol

/// A pair of Pomelo protos files, parsed: `clientProtos.json` (requests by
/// route) and `serverProtos.json` (responses and pushes by route), and
/// their `protoVersion`. Set on an `Application` in code, or read from the
/// configuration's `connector.protobuf` files.
public struct ProtobufSchemas: Sendable {
    public let client: ProtoSchema
    public let server: ProtoSchema
    /// Pomelo's `protoVersion` of the two (what clients keep and send back).
    public var version: String { protos.version }
    let protos: HandshakeProtos

    public init(client: ProtoSchema, server: ProtoSchema) {
        self.client = client
        self.server = server
        protos = HandshakeProtos(client: client, server: server)
    }

    /// Parses the two files' contents; an unknown type, a duplicate tag or a
    /// malformed key throws an error naming it.
    public init(client: JSONValue, server: JSONValue, pinusTypes: Bool = false) throws(ProtoSchemaError) {
        self.init(client: try ProtoSchema.parse(client, pinusTypes: pinusTypes),
                  server: try ProtoSchema.parse(server, pinusTypes: pinusTypes))
    }

    /// Reads the files `options` names; an error names the file and what is
    /// wrong in it.
    static func load(_ options: ProtobufOptions) throws(ConfigurationError) -> ProtobufSchemas {
        func read(_ path: String, _ key: String) throws(ConfigurationError) -> ProtoSchema {
            let file = try readJSON(path)
            do {
                return try ProtoSchema.parse(file, pinusTypes: options.pinusTypes)
            } catch {
                throw .invalid("connector.protobuf." + key, "\(path): \(error)")
            }
        }
        return ProtobufSchemas(client: try read(options.clientFile, "client"), server: try read(options.serverFile, "server"))
    }
}

/// The schemas bound to a server's route dictionary: what a connection
/// that handshook with them uses for every body, for its whole life (a
/// reload gives new handshakes new ones). Immutable, shared by every loop.
final class ProtobufCodec: Sendable {
    let schemas: ProtobufSchemas
    /// The client schema's message for each route code (requests).
    private let requests: [ProtoMessage?]
    /// The server schema's message for each route code (responses, and
    /// pushes whose route is in the dictionary).
    private let responses: [ProtoMessage?]
    /// The handshake replies that carry these protos.
    let responder: HandshakeResponder

    init(_ schemas: ProtobufSchemas, dictionary: RouteDictionary, heartbeatSeconds: Int, useDictionary: Bool) {
        self.schemas = schemas
        requests = dictionary.routes.map { schemas.client.message(forRoute: $0) }
        responses = dictionary.routes.map { schemas.server.message(forRoute: $0) }
        responder = HandshakeResponder(heartbeatSeconds: heartbeatSeconds, dictionary: useDictionary ? dictionary : nil,
                                       protos: schemas.protos)
    }

    /// The message a request on `code` is encoded as; nil: its body is JSON.
    @inline(__always)
    func request(_ code: UInt16) -> ProtoMessage? {
        Int(code) < requests.count ? requests[Int(code)] : nil
    }

    /// The message the response to a request on `code` is encoded as; nil:
    /// JSON.
    @inline(__always)
    func response(_ code: UInt16) -> ProtoMessage? {
        Int(code) < responses.count ? responses[Int(code)] : nil
    }

    /// The message a push on `route` is encoded as; nil: JSON.
    func push(_ route: String) -> ProtoMessage? { schemas.server.message(forRoute: route) }
}

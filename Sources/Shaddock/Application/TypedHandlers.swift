import ShaddockProtocol

/// Handlers over `Codable` types: the body is decoded as `Body`, the reply
/// encoded from `Reply` (its keys in declaration order, as Pomelo clients
/// see them), as JSON or, where the route has a pomelo-protobuf schema,
/// straight from and to protobuf. A body that does not decode answers
/// `{"code":500}` and is counted as a handler error (a protobuf body that is
/// not its route's message, as `bad_protobuf_body`).
extension Application {
    public func handle<Body: Decodable & SendableMetatype, Reply: Encodable & SendableMetatype>(
        _ route: String, _ handler: @escaping @Sendable (Body, Session) throws -> Reply
    ) {
        register(route, .sync { (request: Request, session: Session) throws -> Response in
            try request.response(encoding: handler(request.decodeTyped(Body.self), session))
        }, typed: true)
    }

    public func handle<Body: Decodable & SendableMetatype, Reply: Encodable & SendableMetatype>(
        _ route: String, _ handler: @escaping @Sendable (Body, Session) async throws -> Reply
    ) {
        register(route, .async { (request: Request, session: Session) async throws -> Response in
            try await request.response(encoding: handler(request.decodeTyped(Body.self), session))
        }, typed: true)
    }
}

/// A protobuf body that is not its route's message, met by a typed handler
/// (whose route reads it only there): counted as `bad_protobuf_body`.
struct BadProtobufBody: Error, CustomStringConvertible {
    let error: ProtoError
    var description: String { "the body is not the route's message: \(error)" }
}

extension Request {
    /// For a typed handler: a protobuf body that is not the route's message
    /// is told apart from a value that does not fit `T`.
    func decodeTyped<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try decode(type)
        } catch let error as ProtoError {
            throw BadProtobufBody(error: error)
        }
    }

    /// The body decoded as `T`: from protobuf with the route's client
    /// schema when it came so, else from JSON.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let message = protoMessage { return try ProtoValueDecoder().decode(T.self, from: wire, as: message) }
        return try withBodyBytes { try JSONValueDecoder().decode(T.self, from: $0) }
    }

    /// The answer to this request encoded from `value`: with the route's
    /// server schema when the client uses protobuf and the route has one,
    /// else JSON.
    public func response<T: Encodable>(encoding value: T) throws -> Response {
        if let message = protobuf?.response(routeCode) {
            return .protobuf(try ProtoValueEncoder().encode(value, as: message))
        }
        return try .encoding(value)
    }
}

extension Response {
    /// A response encoded from an `Encodable` value.
    public static func encoding<T: Encodable>(_ value: T) throws -> Response {
        .json(try JSONValueEncoder().encode(value))
    }
}

extension Session {
    /// Pushes an `Encodable` body. Any thread.
    public func push<Body: Encodable>(route: String, _ body: Body) throws {
        push(route: route, body: try JSONValueEncoder().encode(body))
    }
}

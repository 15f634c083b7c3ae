import ShaddockProtocol

/// Handlers over `Codable` types: the body is decoded as `Body`, the reply
/// encoded from `Reply` (its keys in declaration order, as Pomelo clients
/// see them), as JSON or, where the route has a pomelo-protobuf schema,
/// straight from and to protobuf. A body that does not decode answers
/// `{"code":500}` and is counted as a handler error.
extension Application {
    public func handle<Body: Decodable & SendableMetatype, Reply: Encodable & SendableMetatype>(
        _ route: String, _ handler: @escaping @Sendable (Body, Session) throws -> Reply
    ) {
        handle(route) { (request: Request, session: Session) throws -> Response in
            try request.response(encoding: handler(request.decode(Body.self), session))
        }
    }

    public func handle<Body: Decodable & SendableMetatype, Reply: Encodable & SendableMetatype>(
        _ route: String, _ handler: @escaping @Sendable (Body, Session) async throws -> Reply
    ) {
        handle(route) { (request: Request, session: Session) async throws -> Response in
            try await request.response(encoding: handler(request.decode(Body.self), session))
        }
    }
}

extension Request {
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

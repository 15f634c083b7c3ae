import ShaddockProtocol

/// Handlers over `Codable` types: the body is decoded as `Body`, the reply
/// encoded from `Reply` (its keys in declaration order, as Pomelo clients
/// see them). A body that does not decode answers `{"code":500}` and is
/// counted as a handler error.
extension Application {
    public func handle<Body: Decodable & SendableMetatype, Reply: Encodable & SendableMetatype>(
        _ route: String, _ handler: @escaping @Sendable (Body, Session) throws -> Reply
    ) {
        handle(route) { (request: Request, session: Session) throws -> Response in
            try Response.encoding(handler(request.decode(Body.self), session))
        }
    }

    public func handle<Body: Decodable & SendableMetatype, Reply: Encodable & SendableMetatype>(
        _ route: String, _ handler: @escaping @Sendable (Body, Session) async throws -> Reply
    ) {
        handle(route) { (request: Request, session: Session) async throws -> Response in
            try await Response.encoding(handler(request.decode(Body.self), session))
        }
    }
}

extension Request {
    /// The body decoded as `T`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try withBodyBytes { try JSONValueDecoder().decode(T.self, from: $0) }
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

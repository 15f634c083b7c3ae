import ShaddockProtocol

/// A request or notify as a handler sees it. It refers to bytes in the loop's
/// receive buffer, so it is valid only during the handler call: copy what
/// must outlive it.
public struct Request {
    public enum Kind: Sendable { case request, notify }

    public let kind: Kind
    /// The request id (0 for a notify).
    public let id: UInt32
    /// The route's dictionary code.
    public let routeCode: UInt16
    /// Unowned: a request lives only during its handler call, and the
    /// dictionary lives as long as the server.
    unowned(unsafe) let dictionary: RouteDictionary
    let body: UnsafeRawBufferPointer

    /// The route, `serverType.handler.method`.
    public var route: String { dictionary.routes[Int(routeCode)] }

    /// The body as JSON. A body that is not valid JSON reads as `{}`, as in
    /// Pomelo (and is counted as `invalidJSONBodies`).
    public var json: JSONValue { (try? JSON.parse(body)) ?? .object(JSONObject()) }

    /// The body's raw bytes, valid JSON (or `{}`), for handlers that decode
    /// it themselves.
    public func withBodyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(self.body)
    }
}

/// A pre-encoded JSON document: encode a constant reply once and send the
/// same bytes every time.
public struct EncodedJSON: Sendable {
    public let bytes: [UInt8]

    public init(_ value: JSONValue) { bytes = value.serialized }

    /// `text` must be valid JSON; this is checked.
    public init(validating text: String) throws(JSONError) {
        let b = Array(text.utf8)
        _ = try JSON.parse(b)
        bytes = b
    }
}

/// What a handler answers.
public enum Response: Sendable {
    case json(JSONValue)
    case encoded(EncodedJSON)
}

/// An error that carries its Pomelo code: the client gets `{"code":N}`
/// (otherwise a thrown error answers `{"code":500}`).
public protocol CodedError: Error {
    var code: Int { get }
}

/// Handlers run on the connection's loop thread, one at a time per loop.
public typealias Handler = @Sendable (Request, Session) throws -> Response

import ShaddockProtocol

/// A request or notify as a handler sees it. For a synchronous handler it
/// refers to bytes in the loop's receive buffer and is valid only during the
/// call; `async` handlers and filters get a request that owns a copy of its
/// body.
public struct Request: @unchecked Sendable {
    public enum Kind: Sendable { case request, notify }

    public let kind: Kind
    /// The request id (0 for a notify).
    public let id: UInt32
    /// The route's dictionary code.
    public let routeCode: UInt16
    /// Unowned: a request lives only during its handler call, and the
    /// dictionary lives as long as the server.
    unowned(unsafe) let dictionary: RouteDictionary
    /// The body as JSON text: as it came, or a protobuf body read into JSON.
    let body: UnsafeRawBufferPointer
    /// The pomelo-protobuf schemas the client handshook with (on a backend,
    /// this server's); nil: the client speaks JSON only. The body came as
    /// protobuf when its route has a client schema (`protoMessage`).
    let protobuf: ProtobufCodec?
    /// The protobuf body as it came (empty for JSON), for typed handlers
    /// and forwarding.
    let wire: UnsafeRawBufferPointer
    /// Set when the request owns its body (async paths, queued requests).
    let owner: OwnedBytes?

    init(kind: Kind, id: UInt32, routeCode: UInt16, dictionary: RouteDictionary, body: UnsafeRawBufferPointer,
         protobuf: ProtobufCodec? = nil, wire: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        self.kind = kind
        self.id = id
        self.routeCode = routeCode
        self.dictionary = dictionary
        self.body = body
        self.protobuf = protobuf
        self.wire = wire
        owner = nil
    }

    private init(_ r: Request, owner: OwnedBytes) {
        kind = r.kind
        id = r.id
        routeCode = r.routeCode
        dictionary = r.dictionary
        body = UnsafeRawBufferPointer(rebasing: owner.bytes[..<r.body.count])
        protobuf = r.protobuf
        wire = UnsafeRawBufferPointer(rebasing: owner.bytes[r.body.count..<r.body.count + r.wire.count])
        self.owner = owner
    }

    /// A request that owns its body, to outlive the receive buffer.
    func owned() -> Request {
        owner == nil ? Request(self, owner: OwnedBytes(copying: body, wire)) : self
    }

    /// The client schema's message the body came encoded as (nil: JSON).
    var protoMessage: ProtoMessage? { protobuf?.request(routeCode) }

    /// The server type of the route (its first part).
    public var serverType: Substring { route.prefix { $0 != "." } }

    /// The route, `serverType.handler.method`.
    public var route: String { dictionary.routes[Int(routeCode)] }

    /// The body as JSON. A body that is not valid JSON reads as `{}`, as in
    /// Pomelo (and is counted as `invalidJSONBodies`).
    public var json: JSONValue { (try? JSON.parse(body)) ?? .object(JSONObject()) }

    /// The body's member `key`, read in place: no tree is built and nothing
    /// is allocated. Valid during the handler call, like the request
    /// (`request["content"]`, then `.stringValue`, `.isString("*")`, or into
    /// a push as it came with `JSONObjectWriter.add`).
    public subscript(key: String) -> JSONSlice? { JSONSlice(trimming: body)[key] }

    /// The body's raw bytes, valid JSON (or `{}`; a protobuf body read into
    /// JSON), for handlers that decode it themselves.
    public func withBodyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(self.body)
    }
}

/// A pre-encoded JSON document: encode a constant reply once and send the
/// same bytes every time.
public struct EncodedJSON: Sendable {
    public let bytes: [UInt8]

    public init(_ value: JSONValue) { bytes = value.serialized }

    /// Bytes known to be JSON (a backend's answer).
    init(trusted bytes: [UInt8]) { self.bytes = bytes }

    /// `text` must be valid JSON; this is checked.
    public init(validating text: String) throws(JSONError) {
        let b = Array(text.utf8)
        _ = try JSON.parse(b)
        bytes = b
    }
}

/// What a handler answers. On a connection that uses pomelo-protobuf, a
/// route with a server schema gets `.json` and `.encoded` encoded with it.
public enum Response: Sendable {
    case json(JSONValue)
    case encoded(EncodedJSON)
    /// A body already encoded with the route's server schema (what a typed
    /// handler answers a request that came as protobuf).
    case protobuf([UInt8])
}

/// An error that carries its Pomelo code: the client gets `{"code":N}`
/// (otherwise a thrown error answers `{"code":500}`).
public protocol CodedError: Error {
    var code: Int { get }
}

/// A synchronous handler: it runs on the connection's loop thread, one at a
/// time per loop, and must not block.
public typealias Handler = @Sendable (Request, Session) throws -> Response

/// An asynchronous handler: it starts on the connection's loop and, whatever
/// it awaits, its result comes back to that loop.
public typealias AsyncHandler = @Sendable (Request, Session) async throws -> Response

enum RouteHandler {
    case sync(Handler)
    case async(AsyncHandler)
}

/// Bytes copied out of the receive buffer.
final class OwnedBytes: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init(copying source: UnsafeRawBufferPointer) {
        bytes = .allocate(byteCount: max(source.count, 1), alignment: 1)
        if source.count > 0 { bytes.copyMemory(from: source) }
    }

    /// `a` then `b`, in one block.
    init(copying a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) {
        bytes = .allocate(byteCount: max(a.count + b.count, 1), alignment: 1)
        if a.count > 0 { UnsafeMutableRawBufferPointer(rebasing: bytes[..<a.count]).copyMemory(from: a) }
        if b.count > 0 { UnsafeMutableRawBufferPointer(rebasing: bytes[a.count...]).copyMemory(from: b) }
    }

    deinit { bytes.deallocate() }
}

/// The Pomelo codes the gateway itself answers with.
public enum PomeloCode {
    public static let ok = 200
    /// A handler failed, the route has no handler, or the body did not decode.
    public static let fail = 500
    /// The toobusy filter refused the request (the loop lags), or the serial
    /// filter's per-session queue is full.
    public static let busy = 503
    /// The timeout filter answered because the handler did not in time, or
    /// a drain's deadline came first.
    public static let timeout = 504
    /// The connection is over its request rate (`requestRate`).
    public static let rateLimited = 429
}

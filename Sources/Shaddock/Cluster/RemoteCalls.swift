import ShaddockProtocol

/// A remote method as registered: JSON arguments in, JSON result out.
typealias RemoteMethod = @Sendable (_ arguments: JSONValue) async throws -> JSONValue

/// An error a remote call ends with: the remote method threw (its
/// `CodedError` code, else 500, and its description), no server of the
/// type is live (500), the picked server is gone or NATS is down (503), or
/// no answer came in time (504).
public struct RemoteError: Error, Equatable, CustomStringConvertible, CodedError {
    public let code: Int
    public let message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "remote call failed (\(code)): \(message)" }
}

extension Application {
    /// Registers `route` as this application's route function for
    /// `serverType` (Pomelo's `app.route`). Before the server starts.
    public func route(_ serverType: String, _ function: @escaping RouteFunction) {
        routeFunctions[serverType] = function
    }

    /// Registers a remote method (Pomelo's `remote/<name>.js`), called by
    /// other servers with `rpc`. `name` is `remoteName.method`; the method
    /// is served by every server whose type the caller names.
    public func remote<Arguments: Decodable & SendableMetatype, Result: Encodable & SendableMetatype>(
        _ name: String, _ method: @escaping @Sendable (Arguments) async throws -> Result
    ) {
        remotes[name] = { arguments in
            try JSONValueEncoder().encode(try await method(try JSONValueDecoder().decode(Arguments.self, from: arguments)))
        }
    }

    /// Calls remote method `name` on a server of `serverType` (Pomelo's
    /// `app.rpc.<serverType>.<remote>.<method>`): the server is `server`
    /// if given, else the one the type's route function (or the default
    /// route, by the session's uid) picks. Without a cluster, or when the
    /// pick is this server, the method runs here. Throws `RemoteError`.
    public func rpc<Arguments: Encodable, Result: Decodable>(
        _ serverType: String, _ name: String, _ arguments: Arguments, session: Session? = nil,
        server: String? = nil, timeoutMilliseconds: Int? = nil, as: Result.Type = Result.self
    ) async throws -> Result {
        let encoded = try JSONValueEncoder().encode(arguments)
        let result: JSONValue
        if let cluster = running?.cluster {
            result = try await cluster.call(serverType, name, encoded, session: session, server: server,
                                            timeoutMilliseconds: timeoutMilliseconds)
        } else {
            result = try await Self.callLocally(remotes[name], name, encoded)
        }
        do { return try JSONValueDecoder().decode(Result.self, from: result) } catch {
            throw RemoteError(code: PomeloCode.fail, message: "the result of \(name) does not decode: \(error)")
        }
    }

    /// Runs a remote method of this process.
    static func callLocally(_ method: RemoteMethod?, _ name: String, _ arguments: JSONValue) async throws -> JSONValue {
        guard let method else { throw RemoteError(code: PomeloCode.fail, message: "no remote method \(name)") }
        do { return try await method(arguments) } catch let e as RemoteError { throw e } catch {
            throw RemoteError(code: (error as? CodedError)?.code ?? PomeloCode.fail, message: "\(error)")
        }
    }
}

extension Cluster {
    /// A remote call: here if the pick is this server, otherwise over the
    /// calling loop's NATS link (loop 0's when called off the loops).
    func call(_ serverType: String, _ name: String, _ arguments: JSONValue, session: Session?, server: String?,
              timeoutMilliseconds: Int?) async throws -> JSONValue {
        let endpoint = endpoints.first { $0.loop.isCurrent } ?? endpoints[0]
        let timeout = timeoutMilliseconds ?? options.requestTimeoutMilliseconds
        return try await withCheckedThrowingContinuation { continuation in
            endpoint.loop.execute { _ in
                endpoint.call(serverType, name, arguments, session: session, server: server,
                              timeoutMilliseconds: timeout) { continuation.resume(with: $0) }
            }
        }
    }
}

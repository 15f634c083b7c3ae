import ShaddockProtocol

/// The application a gateway serves: handlers by route, the user dictionary
/// of push routes, and the handshake hooks. Build it before starting the
/// server; it is read-only afterwards.
public final class Application: @unchecked Sendable {
    /// The server type this gateway is (`connector` in Pomelo's examples).
    public let serverType: String
    private(set) var handlers: [String: Handler] = [:]
    /// Extra push routes, coded after the handler routes (Pomelo's
    /// `dictionary.json`).
    public var userDictionary: [String] = []
    /// Routes that exist in the cluster (their codes are in the dictionary)
    /// but have no handler here.
    public var declaredRoutes: [String] = []
    /// Refuses old clients: given `sys.type` and `sys.version`, return false
    /// to answer 501 and close.
    public var checkClient: (@Sendable (_ type: String?, _ version: String?) -> Bool)?
    /// Adds `user` to the handshake reply; throw to answer 500 and close.
    public var handshakeHook: (@Sendable (ClientHandshake) throws -> JSONValue?)?

    public init(serverType: String = "connector") { self.serverType = serverType }

    /// Registers the handler for `route` (`serverType.handler.method`).
    public func handle(_ route: String, _ handler: @escaping Handler) {
        precondition(route.split(separator: ".").count == 3, "a route is serverType.handler.method: \(route)")
        handlers[route] = handler
    }

    /// `configured`: the configuration's dictionary.json routes, after the
    /// application's own; a route in both is kept once.
    func makeDictionary(configured: [String] = []) throws -> RouteDictionary {
        let own = Set(userDictionary)
        return try RouteDictionary(handlerRoutes: Array(handlers.keys) + declaredRoutes,
                                   userRoutes: userDictionary + configured.filter { !own.contains($0) })
    }
}

import ShaddockProtocol

/// The application a gateway serves: handlers by route, filters, the user
/// dictionary of push routes, the handshake hooks, and the session and
/// channel services its handlers use. Build it before starting the server;
/// its registrations are read-only afterwards.
public final class Application: @unchecked Sendable {
    /// The server type this gateway is (`connector` in Pomelo's examples).
    public let serverType: String
    private(set) var handlers: [String: RouteHandler] = [:]
    /// Routes whose handler is typed (TypedHandlers).
    private(set) var typedRoutes: Set<String> = []
    private(set) var before: [(serverType: String?, filter: Before)] = []
    private(set) var after: [(serverType: String?, filter: After)] = []
    private(set) var builtins: [BuiltinFilter] = []
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
    /// pomelo-protobuf bodies with these schemas (docs/protobuf.md); set
    /// here, they win over the configuration's `connector.protobuf` files.
    public var protobuf: ProtobufSchemas?
    /// Where a request goes whose route has no handler in this process: the
    /// one seam for forwarding to backend servers. Without it such a request
    /// is answered `{"code":500}`.
    public var forward: AsyncHandler?
    /// Route functions by server type (see `route(_:_:)`).
    var routeFunctions: [String: RouteFunction] = [:]
    /// Remote methods by name (see `remote(_:_:)`).
    var remotes: [String: RemoteMethod] = [:]
    /// The server running this application, once it starts (for `rpc`).
    var running: GatewayCore? { runningCore.withLock { $0.object } }
    let runningCore = Locked(ServerReference<GatewayCore>())
    /// Sessions by id and uid.
    public let sessions = SessionService()
    /// Channels, and pushes to uids and to everyone.
    public let channels: ChannelService

    public init(serverType: String = "connector") {
        self.serverType = serverType
        channels = ChannelService(sessions: sessions)
    }

    /// Registers a synchronous handler for `route` (`serverType.handler.method`).
    public func handle(_ route: String, _ handler: @escaping Handler) {
        register(route, .sync(handler))
    }

    /// Registers an `async` handler for `route`.
    public func handle(_ route: String, _ handler: @escaping AsyncHandler) {
        register(route, .async(handler))
    }

    /// `typed`: the handler reads the body only through `decodeTyped`.
    func register(_ route: String, _ handler: RouteHandler, typed: Bool = false) {
        precondition(route.split(separator: ".", omittingEmptySubsequences: false).count == 3
                     && !route.contains(".."), "a route is serverType.handler.method: \(route)")
        handlers[route] = handler
        if typed { typedRoutes.insert(route) } else { typedRoutes.remove(route) }
    }

    /// Adds a before-filter, for every route or for one server type's.
    public func before(serverType: String? = nil, _ filter: @escaping BeforeFilter) {
        before.append((serverType, .sync(filter)))
    }

    public func before(serverType: String? = nil, _ filter: @escaping AsyncBeforeFilter) {
        before.append((serverType, .async(filter)))
    }

    /// Adds an after-filter, for every route or for one server type's.
    public func after(serverType: String? = nil, _ filter: @escaping AfterFilter) {
        after.append((serverType, .sync(filter)))
    }

    public func after(serverType: String? = nil, _ filter: @escaping AsyncAfterFilter) {
        after.append((serverType, .async(filter)))
    }

    /// Turns on one of Pomelo's built-in filters for every route.
    public func use(_ filter: BuiltinFilter) { builtins.append(filter) }

    /// `configured`: the configuration's dictionary.json routes, after the
    /// application's own; a route in both is kept once.
    func makeDictionary(configured: [String] = []) throws -> RouteDictionary {
        let own = Set(userDictionary)
        return try RouteDictionary(handlerRoutes: Array(handlers.keys) + declaredRoutes,
                                   userRoutes: userDictionary + configured.filter { !own.contains($0) })
    }

    /// In a cluster, routes of other server types: the global filters, then
    /// doForward to a server of the route's type.
    func clusterForwardEntry(_ cluster: Cluster) -> RouteEntry {
        let forward: AsyncHandler = { request, session in
            let answer = await cluster.forwardAsync(request, session)
            if case .error(let code) = answer { throw ForwardError(code: code) }
            return answer.response!
        }
        return RouteEntry(handler: .async(forward), before: before.filter { $0.serverType == nil }.map(\.filter),
                          after: after.filter { $0.serverType == nil }.map(\.filter), forwards: true)
    }

    /// Routes handled elsewhere: the global filters, then `forward`.
    func forwardEntry() -> RouteEntry? {
        guard let forward else { return nil }
        return RouteEntry(handler: .async(forward),
                          before: before.filter { $0.serverType == nil }.map(\.filter),
                          after: after.filter { $0.serverType == nil }.map(\.filter))
    }

    /// The handler and filters of every route that has a handler here.
    /// Without `global`, only the server type's filters (a backend's chain).
    func routeEntries(global: Bool = true) -> [String: RouteEntry] {
        var out: [String: RouteEntry] = [:]
        for (route, handler) in handlers {
            let type = String(route.prefix { $0 != "." })
            // Global filters first, then the server type's, each in the order
            // they were added.
            let b = (global ? before.filter { $0.serverType == nil } : []) + before.filter { $0.serverType == type }
            let a = (global ? after.filter { $0.serverType == nil } : []) + after.filter { $0.serverType == type }
            out[route] = RouteEntry(handler: handler, before: b.map(\.filter), after: a.map(\.filter),
                                    typed: typedRoutes.contains(route))
        }
        return out
    }
}

/// A forwarded request's error answer, as the async path throws it.
struct ForwardError: Error, CodedError, CustomStringConvertible {
    let code: Int
    var description: String { "the backend answered \(code)" }
}

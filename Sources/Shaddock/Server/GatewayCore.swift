import Logging
import Synchronization
import ShaddockProtocol

/// What every loop of a server shares, read-only once the server starts.
final class GatewayCore: Sendable {
    enum Mode: Sendable {
        /// Pomelo over WebSocket and raw TCP.
        case pomelo
        /// A plain WebSocket echo (binary and text), for transport
        /// benchmarks and conformance runs.
        case echo
    }

    let mode: Mode
    let config: GatewayConfiguration
    let dictionary: RouteDictionary
    /// Handlers and filters by route code; nil where the route has no
    /// handler here.
    let routes: [RouteEntry?]
    let builtins: BuiltinSettings
    /// The forwarding seam as a route: global filters, then `forward`.
    let forwardEntry: RouteEntry?
    let sessions: SessionService
    let channels: ChannelService
    let blacklist: HostBlacklist
    let connectionLimit: ConnectionLimit
    let addressLimit: AddressLimit
    let responder: HandshakeResponder
    let checkClient: (@Sendable (String?, String?) -> Bool)?
    let handshakeHook: (@Sendable (ClientHandshake) throws -> JSONValue?)?
    let logger: Logger
    /// Connection and Session objects alive: a leak shows as a number that
    /// stays above zero once every client has gone.
    let liveConnections = Atomic<Int>(0)
    let liveSessions = Atomic<Int>(0)
    /// In a cluster: this server's part in it (nil: one process, every
    /// route handled here).
    let cluster: Cluster?
    /// The routes of this server's type, with the type's filters only: what
    /// a forwarded request runs here (global filters ran on its frontend).
    let backendRoutes: [RouteEntry?]
    /// Live servers by type, for /metrics (kept by loop 0).
    let liveServerCounts = Locked<[String: Int]>([:])
    let liveServerSnapshot = Locked<[ClusterServer]>([])
    /// For `rpc` and route functions, which the application owns.
    let application: Application
    /// The pomelo-protobuf schemas in force (nil: off): set in code on the
    /// application, or read from the configuration's files (again at each
    /// reload). Loops keep their own copy; connections the one they
    /// handshook with.
    let protobuf: Locked<ProtobufCodec?>

    init(mode: Mode, application: Application, config: GatewayConfiguration, logger: Logger) throws {
        self.mode = mode
        self.application = application
        self.config = config
        self.logger = logger
        dictionary = try application.makeDictionary(configured: config.userDictionary)
        var byCode = [RouteEntry?](repeating: nil, count: dictionary.routes.count)
        var backend = byCode
        let clustered = config.clusterOptions != nil
        for (route, entry) in application.routeEntries() {
            // In a cluster a server handles its own type's routes and
            // forwards the others.
            if clustered && !route.hasPrefix(config.serverType + ".") { continue }
            byCode[Int(dictionary.code(for: route)!)] = entry
        }
        if clustered {
            for (route, entry) in application.routeEntries(global: false) where route.hasPrefix(config.serverType + ".") {
                backend[Int(dictionary.code(for: route)!)] = entry
            }
        }
        routes = byCode
        backendRoutes = backend
        var builtins = BuiltinSettings()
        if let ms = config.serialFilterTimeoutMilliseconds { builtins.apply(.serial(timeoutMilliseconds: ms)) }
        if let ms = config.slowHandlerMilliseconds { builtins.apply(.time(thresholdMilliseconds: ms)) }
        if let ms = config.requestTimeoutMilliseconds { builtins.apply(.timeout(milliseconds: ms)) }
        if let ms = config.maxLoopLagMilliseconds { builtins.apply(.tooBusy(maxLagMilliseconds: ms)) }
        // What the application turns on in code wins over the file.
        for f in application.builtins { builtins.apply(f) }
        self.builtins = builtins
        let codec = try Self.protobufCodec(config.protobuf, application: application, dictionary: dictionary, config: config)
        protobuf = Locked(codec)
        if let options = config.clusterOptions {
            let cluster = Cluster(config: config, options: options, application: application,
                                  dictionary: dictionary, protoVersion: codec?.schemas.version, logger: logger)
            self.cluster = cluster
            forwardEntry = application.clusterForwardEntry(cluster)
        } else {
            cluster = nil
            forwardEntry = application.forwardEntry()
        }
        sessions = application.sessions
        sessions.setPolicy(config.multiLogin)
        channels = application.channels
        blacklist = try HostBlacklist(config.blacklist)
        connectionLimit = ConnectionLimit(max: config.maxConnections)
        addressLimit = AddressLimit(max: config.maxConnectionsPerAddress)
        responder = HandshakeResponder(heartbeatSeconds: config.heartbeatSeconds,
                                       dictionary: config.useDictionary ? dictionary : nil)
        checkClient = application.checkClient
        handshakeHook = application.handshakeHook
    }

    /// The codec for the schemas set on the application, or else read from
    /// `options` (nil: protobuf off).
    static func protobufCodec(_ options: ProtobufOptions?, application: Application, dictionary: RouteDictionary,
                              config: GatewayConfiguration) throws(ConfigurationError) -> ProtobufCodec? {
        var schemas = application.protobuf
        if schemas == nil, let options { schemas = try ProtobufSchemas.load(options) }
        return schemas.map { ProtobufCodec($0, dictionary: dictionary, heartbeatSeconds: config.heartbeatSeconds,
                                           useDictionary: config.useDictionary) }
    }

    /// Encodes a push once, for any number of receivers; nil (logged) if it
    /// cannot be a package.
    func encodePush(route: String, body: JSONValue) -> EncodedPush? {
        encodePush(route) { PushEncoding.append(route: route, body: body, dictionary: $0, into: &$1) }
    }

    /// The same with the body appended by `body`.
    func encodePush(route: String, body: (inout [UInt8]) -> Void) -> EncodedPush? {
        encodePush(route) { PushEncoding.append(route: route, dictionary: $0, into: &$1, body: body) }
    }

    /// The same for a body serialized elsewhere (a push from another server).
    func encodePush(route: String, rawBody: UnsafeRawBufferPointer) -> EncodedPush? {
        encodePush(route) { PushEncoding.append(route: route, rawBody: rawBody, dictionary: $0, into: &$1) }
    }

    private func encodePush(_ route: String, _ append: (RouteDictionary?, inout [UInt8]) -> Bool) -> EncodedPush? {
        var bytes: [UInt8] = []
        guard append(config.useDictionary ? dictionary : nil, &bytes) else {
            logger.warning("push \(route) dropped: too large or the route is too long")
            return nil
        }
        return EncodedPush(copying: bytes)
    }

    /// `{}`, handed to handlers in place of a body that is not JSON.
    nonisolated(unsafe) static let emptyObject: UnsafeRawBufferPointer = {
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: 2, alignment: 1)
        p.copyBytes(from: "{}".utf8)
        return UnsafeRawBufferPointer(p)
    }()
}

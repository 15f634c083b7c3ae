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

    init(mode: Mode, application: Application, config: GatewayConfiguration, logger: Logger) throws {
        self.mode = mode
        self.config = config
        self.logger = logger
        dictionary = try application.makeDictionary(configured: config.userDictionary)
        var byCode = [RouteEntry?](repeating: nil, count: dictionary.routes.count)
        for (route, entry) in application.routeEntries() {
            byCode[Int(dictionary.code(for: route)!)] = entry
        }
        routes = byCode
        var builtins = BuiltinSettings()
        if let ms = config.serialFilterTimeoutMilliseconds { builtins.apply(.serial(timeoutMilliseconds: ms)) }
        if let ms = config.slowHandlerMilliseconds { builtins.apply(.time(thresholdMilliseconds: ms)) }
        if let ms = config.requestTimeoutMilliseconds { builtins.apply(.timeout(milliseconds: ms)) }
        if let ms = config.maxLoopLagMilliseconds { builtins.apply(.tooBusy(maxLagMilliseconds: ms)) }
        // What the application turns on in code wins over the file.
        for f in application.builtins { builtins.apply(f) }
        self.builtins = builtins
        forwardEntry = application.forwardEntry()
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

    /// Encodes a push once, for any number of receivers; nil (logged) if it
    /// cannot be a package.
    func encodePush(route: String, body: JSONValue) -> EncodedPush? {
        var bytes: [UInt8] = []
        guard PushEncoding.append(route: route, body: body, dictionary: config.useDictionary ? dictionary : nil,
                                  into: &bytes) else {
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

import Logging
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
    /// Handlers by route code; nil where the route has no handler here.
    let handlers: [Handler?]
    let responder: HandshakeResponder
    let checkClient: (@Sendable (String?, String?) -> Bool)?
    let handshakeHook: (@Sendable (ClientHandshake) throws -> JSONValue?)?
    let logger: Logger

    init(mode: Mode, application: Application, config: GatewayConfiguration, logger: Logger) throws {
        self.mode = mode
        self.config = config
        self.logger = logger
        dictionary = try application.makeDictionary(configured: config.userDictionary)
        var byCode = [Handler?](repeating: nil, count: dictionary.routes.count)
        for (route, handler) in application.handlers {
            byCode[Int(dictionary.code(for: route)!)] = handler
        }
        handlers = byCode
        responder = HandshakeResponder(heartbeatSeconds: config.heartbeatSeconds,
                                       dictionary: config.useDictionary ? dictionary : nil)
        checkClient = application.checkClient
        handshakeHook = application.handshakeHook
    }

    static let internalErrorBody: [UInt8] = Array("{\"code\":500}".utf8)
    /// `{}`, handed to handlers in place of a body that is not JSON.
    nonisolated(unsafe) static let emptyObject: UnsafeRawBufferPointer = {
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: 2, alignment: 1)
        p.copyBytes(from: "{}".utf8)
        return UnsafeRawBufferPointer(p)
    }()
}

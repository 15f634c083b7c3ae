import CShaddockLoop
import Logging
import ShaddockProtocol

/// A client connection: which transport it speaks, where it is in the Pomelo
/// handshake, and its session. It belongs to one loop for its whole life and
/// is touched only on that loop's thread.
final class Connection {
    enum Transport {
        /// Nothing received yet: the first byte decides.
        case sniffing
        case http
        case websocket
        case tcp
    }

    enum Phase {
        case awaitingHandshake
        case awaitingAck
        case working
    }

    enum CloseStyle {
        /// Send what is queued (over WebSocket, then a close frame 1000), FIN.
        case graceful
        /// A WebSocket close frame with this code first.
        case code(UInt16)
        /// Drop what is queued and close now.
        case abort
    }

    let raw: OpaquePointer
    unowned(unsafe) let loop: EventLoop
    let sessionID: UInt64
    var transport = Transport.sniffing
    var phase = Phase.awaitingHandshake
    var httpParser: UpgradeRequestParser
    var wsState: WebSocketMessageState
    /// A fragmented WebSocket message being collected; empty (no storage)
    /// otherwise.
    var fragments: [UInt8] = []
    /// The UTF-8 check of a fragmented text message, across its fragments.
    var textValidation = UTF8Validation.Stream()
    /// permessage-deflate: the window the server compresses with; 0 when
    /// not agreed (see Connection+Deflate).
    var deflateWindow: UInt8 = 0
    /// Client context takeover: this connection's own inflate stream.
    var takeoverInflater: MessageInflater?
    /// The pomelo-protobuf schemas this client handshook with, kept for the
    /// connection's life (a reload gives only new handshakes new ones);
    /// nil: JSON bodies only.
    var protobuf: ProtobufCodec?
    private(set) var isClosing = false
    /// The C connection is freed: `raw` must not be used any more.
    private(set) var isGone = false
    private(set) lazy var session = Session(id: sessionID, connection: self, loop: loop)
    /// Pushes staged in the scheduler for this connection: an index chain
    /// through the scheduler's entries, and its byte count.
    var stagedHead: Int32 = -1
    var stagedTail: Int32 = -1
    var stagedBytes = 0
    /// Loop time of the accept: the handshake deadlines count from it.
    private var acceptedAt: UInt64 = 0
    /// Counted in the server's per-address table (see AddressLimit).
    var countedByAddress = false
    /// The request-rate token bucket (see Connection+Rate), in thousandths
    /// of a request, and the refusals of the current one-second window.
    var rateTokens: Int64 = 0
    var rateStamp: UInt64 = 0
    var rateWindow: UInt64 = 0
    var rateRefusals = 0

    init(raw: OpaquePointer, loop: EventLoop, sessionID: UInt64) {
        self.raw = raw
        self.loop = loop
        self.sessionID = sessionID
        httpParser = UpgradeRequestParser(maxHeadLength: loop.limits.maxRequestHeadBytes)
        wsState = WebSocketMessageState(maxMessage: loop.limits.maxMessageBytes)
        loop.core.liveConnections.add(1, ordering: .relaxed)
    }

    deinit { loop.core.liveConnections.subtract(1, ordering: .relaxed) }

    @inline(__always)
    static func from(_ conn: OpaquePointer) -> Connection {
        Unmanaged<Connection>.fromOpaque(shd_conn_user(conn)!).takeUnretainedValue()
    }

    var limits: Limits { loop.limits }
    var counters: LoopCounters { loop.counters }

    func start() {
        acceptedAt = loop.now
        setDeadline(sinceAccept: min(limits.firstByteTimeout, limits.handshakeTimeout))
    }

    /// Bytes arrived; returns how many were consumed.
    func onData(_ data: UnsafeMutableRawBufferPointer) -> Int {
        switch transport {
        case .sniffing:
            let first = data[0]
            if first >= UInt8(ascii: "A") && first <= UInt8(ascii: "Z") {
                transport = .http
                setDeadline(sinceAccept: min(limits.requestHeadTimeout, limits.handshakeTimeout))
            } else if loop.core.mode == .pomelo && PackageType(rawValue: first) != nil {
                transport = .tcp
                counters.add(.tcpConnections)
                setDeadline(sinceAccept: limits.handshakeTimeout)
            } else {
                counters.add(.unknownTransport)
                logger.info("closing: first byte 0x\(String(first, radix: 16)) is neither HTTP nor a Pomelo package")
                close(.abort)
                return data.count
            }
            return onData(data)
        case .http:
            return onRequestHead(data)
        case .websocket:
            return onFrames(data, from: 0)
        case .tcp:
            return onTCPPackages(UnsafeRawBufferPointer(data))
        }
    }

    private func onRequestHead(_ data: UnsafeMutableRawBufferPointer) -> Int {
        switch httpParser.scan(UnsafeRawBufferPointer(data)) {
        case .needMore:
            return 0
        case .reject(let why):
            counters.add(.httpRejected)
            logger.info("refused HTTP request: \(why.status) \(why.reason)")
            let answer = UpgradeResponse.rejection(why)
            _ = answer.withUnsafeBytes { shd_conn_write(raw, $0.baseAddress, $0.count) }
            close(.graceful)
            return data.count
        case .request(let request):
            if let client = forwardedClient(request, UnsafeRawBufferPointer(data)), !admitForwarded(client) {
                return data.count
            }
            counters.add(.websocketUpgrades)
            transport = .websocket
            setDeadline(sinceAccept: limits.handshakeTimeout)
            let chosen = subprotocol(request, UnsafeRawBufferPointer(data))
            var extensions = negotiateDeflate(request, UnsafeRawBufferPointer(data)) ?? ""
            let length = UpgradeResponse.switchingLength(protocolLength: chosen?.count ?? 0,
                                                         extensionsLength: extensions.utf8.count)
            extensions.withUTF8 { agreed in
                withUnsafeTemporaryAllocation(byteCount: length, alignment: 1) { out in
                    let key = UnsafeRawBufferPointer(rebasing: data[request.key])
                    let named = chosen.map { UnsafeRawBufferPointer(rebasing: data[$0]) }
                    let n = UpgradeResponse.writeSwitching(key: key, protocol: named, extensions: UnsafeRawBufferPointer(agreed),
                                                           into: out)
                    _ = shd_conn_write(raw, out.baseAddress, n)
                }
            }
            // Frames that came with the request (the upgrade head) are parsed
            // where they lie.
            return onFrames(data, from: request.headLength)
        }
    }

    private func onTCPPackages(_ data: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        while offset < data.count && !isClosing {
            switch Package.scan(data, at: offset, maxBody: limits.maxPackageBytes) {
            case .needMore:
                return offset
            case .failure(let error):
                packageError(error)
                return data.count
            case .package(let type, let body, let end):
                onPackage(type, UnsafeRawBufferPointer(rebasing: data[body]))
                offset = end
            }
        }
        return data.count
    }

    /// A package that cannot be read. Over WebSocket the close code says
    /// why; a TCP client, which has no close code, is told a package too
    /// large by a kick's reason.
    func packageError(_ error: PackageError) {
        logger.info("closing: bad package: \(error)")
        guard case .tooLarge = error else {
            counters.add(.badPackages)
            close(.code(WebSocketCloseCode.protocolError.rawValue))
            return
        }
        counters.add(.oversizePackages)
        if transport == .tcp && phase == .working {
            kick(reason: "package too large")
        } else {
            close(.code(WebSocketCloseCode.messageTooBig.rawValue))
        }
    }

    /// The connection's one deadline passed: which one depends on how far
    /// it got.
    func onDeadline() {
        if transport == .sniffing && shd_conn_tls_state(raw) == Int32(SHD_TLS_HANDSHAKE) {
            // The TLS handshake itself did not finish in time.
            counters.add(.tlsHandshakeTimeouts)
            logger.debug("closing: TLS handshake not done within the handshake deadline")
            close(.abort)
            return
        }
        switch (transport, phase) {
        case (.sniffing, _) where limits.firstByteTimeout < limits.handshakeTimeout:
            counters.add(.firstByteTimeouts)
            logger.debug("closing: no byte within \(limits.firstByteTimeout) ms")
            close(.graceful)
        case (.http, _) where limits.requestHeadTimeout < limits.handshakeTimeout:
            counters.add(.requestHeadTimeouts)
            logger.info("closing: no complete request head within \(limits.requestHeadTimeout) ms")
            let answer = UpgradeResponse.rejection(.timedOut)
            _ = answer.withUnsafeBytes { shd_conn_write(raw, $0.baseAddress, $0.count) }
            close(.graceful)
        case (_, .working):
            counters.add(.heartbeatTimeouts)
            logger.debug("closing: no heartbeat within \(limits.heartbeatTimeout) ms")
            close(.code(WebSocketCloseCode.policyViolation.rawValue))
        default:
            counters.add(.handshakeTimeouts)
            logger.debug("closing: no completed handshake within \(limits.handshakeTimeout) ms")
            close(.code(WebSocketCloseCode.policyViolation.rawValue))
        }
    }

    /// Arms the deadline `ms` from now; 0 clears it.
    func setDeadline(afterMilliseconds ms: UInt64) {
        shd_conn_set_deadline(raw, ms == 0 ? 0 : loop.now + ms)
    }

    private func setDeadline(sinceAccept ms: UInt64) {
        shd_conn_set_deadline(raw, acceptedAt + ms)
    }

    /// Ends the connection. Over WebSocket a graceful close sends a close
    /// frame first; queued bytes go out before the FIN unless aborting.
    func close(_ style: CloseStyle) {
        guard !isClosing else { return }
        switch style {
        case .abort:
            isClosing = true
            loop.scheduler.dropStaged(self)
            shd_conn_close(raw, Int32(SHD_CLOSE_ABORT))
        case .graceful, .code:
            // Pushes staged before the close still go out, in order.
            if stagedHead >= 0 { loop.scheduler.flush(self) }
            isClosing = true
            if transport == .websocket {
                var code = WebSocketCloseCode.normal.rawValue
                if case .code(let c) = style { code = c }
                writeClose(code)
            }
            shd_conn_close(raw, Int32(SHD_CLOSE_GRACEFUL))
        }
    }

    /// Refused by the host filter: closed before any byte is read.
    func refuse() {
        isClosing = true
        shd_conn_close(raw, Int32(SHD_CLOSE_GRACEFUL))
    }

    func onClosed(reason: Int32) {
        isClosing = true
        isGone = true
        releaseDeflate()
        loop.closed(self)
        counters.add(.connectionsClosed)
        switch transport {
        case .websocket: counters.add(.websocketClosed)
        case .tcp: counters.add(.tcpClosed)
        case .sniffing, .http: break
        }
        if Int(reason) == SHD_CLOSED_OVERSIZE {
            counters.add(.oversizeMessages)
            logger.info("closed: peer sent more than the buffering limit")
        }
    }

    var logger: Logger {
        var l = loop.logger
        l[metadataKey: "session"] = "\(sessionID)"
        return l
    }
}

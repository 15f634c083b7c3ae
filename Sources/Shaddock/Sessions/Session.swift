import CShaddockLoop
import ShaddockProtocol

/// A client's session (Pomelo's FrontendSession): who the client is (`uid`
/// once bound), its settings, and the way to reach it.
///
/// A session belongs to its connection's loop. Its state (`uid`, settings,
/// `onClosed`) is read and changed on that loop's thread: in handlers and
/// filters, including `async` ones, which the gateway runs on the owning
/// loop. `push`, `kick` and `close` work from any thread: off the loop they
/// are posted to it (no lock is taken on a session).
public final class Session: @unchecked Sendable {
    /// Unique in this process.
    public let id: UInt64
    /// The id of the server holding the session (`serverID` in the config).
    public let frontendID: String
    let loop: EventLoop
    /// Cleared when the connection closes (which breaks the cycle with it);
    /// touched only on the loop.
    var connection: Connection?
    public private(set) var uid: String?
    var settings: [String: JSONValue] = [:] {
        didSet { settingsJSON = nil }
    }
    /// The settings as a JSON object, kept between changes: every request
    /// forwarded to a backend carries them.
    var settingsJSON: [UInt8]?
    private var closedCallbacks: [(Session) -> Void] = []
    /// A backend session: the client is on another server (`frontendID`),
    /// and what is done to the session is sent there.
    let isRemote: Bool
    /// On a frontend: the backends that served this session, told when it
    /// closes.
    var backends: [String] = []
    /// The serial filter's queue (see RequestPipeline).
    var serial = SerialQueue()

    init(id: UInt64, connection: Connection, loop: EventLoop) {
        self.id = id
        self.connection = connection
        self.loop = loop
        frontendID = loop.core.config.serverID
        isRemote = false
        loop.core.liveSessions.add(1, ordering: .relaxed)
    }

    /// A backend session, from a frontend's export (Pomelo's BackendSession).
    init(remote export: SessionExport, loop: EventLoop) {
        id = export.sessionID
        frontendID = export.frontendID
        self.loop = loop
        connection = nil
        uid = export.uid
        settings = export.settings
        isRemote = true
        remoteEndpoint = (export.address, 0)
        loop.core.liveSessions.add(1, ordering: .relaxed)
    }

    deinit { loop.core.liveSessions.subtract(1, ordering: .relaxed) }

    /// The client's address and port (computed on first use).
    public var remoteAddress: String { endpoint.address }
    public var remotePort: Int { endpoint.port }
    private var endpoint: (address: String, port: Int) {
        if let e = remoteEndpoint { return e }
        let e = peer()
        remoteEndpoint = e
        return e
    }
    private var remoteEndpoint: (address: String, port: Int)?

    /// The client a trusted proxy named at the WebSocket upgrade.
    func forwarded(from address: String) { remoteEndpoint = (address, 0) }

    private func peer() -> (address: String, port: Int) {
        guard let raw = connection?.raw else { return ("?", 0) }
        var buf = [CChar](repeating: 0, count: 64)
        var port: Int32 = 0
        guard shd_conn_peer(raw, &buf, buf.count, &port) == 0 else { return ("?", 0) }
        return (String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), Int(port))
    }

    /// The loop that holds the session, as a task executor: async work
    /// started outside a handler (in `onClosed`, say) runs there with
    /// `Task(executorPreference: session.executor)`, like a handler.
    public var executor: any TaskExecutor { loop }

    /// Whether the connection is closing or gone.
    public var isClosed: Bool { isRemote ? false : connection?.isClosing ?? true }

    var sessions: SessionService { loop.core.sessions }

    /// Binds the session to a user id. A second bind of the same uid
    /// elsewhere follows `GatewayConfiguration.multiLogin`: allowed, refused
    /// (this throws `SessionError.uidInUse`) or the older sessions are kicked.
    /// Rebinding to another uid throws `SessionError.alreadyBound`.
    public func bind(_ uid: String) throws(SessionError) {
        if let bound = self.uid {
            if bound == uid { return }
            throw .alreadyBound(bound)
        }
        if isRemote {
            guard uid.utf8.count < 255 else { throw .closed }
            self.uid = uid
            sendToFrontend(.bind) { $0.string8(uid) }
            return
        }
        guard !isClosed else { throw .closed }
        try sessions.bind(self, uid: uid)
        self.uid = uid
    }

    /// Undoes `bind`.
    public func unbind() {
        guard let uid else { return }
        if isRemote {
            self.uid = nil
            sendToFrontend(.unbind) { _ in }
            return
        }
        sessions.unbind(self, uid: uid)
        self.uid = nil
    }

    public func set(_ key: String, _ value: JSONValue) { settings[key] = value }
    public func get(_ key: String) -> JSONValue? { settings[key] }
    public func remove(_ key: String) { settings[key] = nil }

    /// Publishes a setting to the session service, where code on other
    /// threads (and, later, backend servers) reads it with
    /// `SessionService.setting(_:of:)` (Pomelo's `session.push(key)`).
    public func pushSetting(_ key: String) {
        if isRemote {
            let value: JSONValue = .object(JSONObject([(key: key, value: settings[key] ?? .null)]))
            sendToFrontend(.settings) { value.write(into: &$0.bytes) }
            return
        }
        sessions.publish(key, settings[key], of: id)
    }

    /// Publishes every setting (Pomelo's `session.pushAll`).
    public func pushAll() {
        if isRemote {
            let value: JSONValue = .object(JSONObject(settings.map { (key: $0.key, value: $0.value) }))
            sendToFrontend(.settings) { value.write(into: &$0.bytes) }
            return
        }
        for key in settings.keys { sessions.publish(key, settings[key], of: id) }
    }

    /// Runs `callback` on the session's loop once the connection has closed,
    /// in registration order. As in Pomelo, the session is already out of the
    /// session service's tables, and still has its uid and settings.
    public func onClosed(_ callback: @escaping (Session) -> Void) {
        if isRemote {
            // Kept by the loop's endpoint until the frontend says it closed.
            let key = RemoteSessionKey(frontendID: frontendID, sessionID: id)
            loop.execute { loop in loop.cluster?.closedCallbacks[key, default: []].append(callback) }
            return
        }
        closedCallbacks.append(callback)
    }

    /// Sends a kick package with `{"reason": reason}`, then closes; after
    /// `milliseconds` if given (a timer on the session's loop). Any thread.
    public func kick(reason: String, afterMilliseconds milliseconds: Int = 0) {
        if isRemote {
            guard milliseconds > 0 else { return sendToFrontend(.kick) { $0.string16(reason) } }
            loop.execute(afterMilliseconds: milliseconds) { _ in self.sendToFrontend(.kick) { $0.string16(reason) } }
            return
        }
        guard milliseconds > 0 else {
            onLoop { $0.connection?.kick(reason: reason) }
            return
        }
        loop.execute(afterMilliseconds: milliseconds) { _ in self.connection?.kick(reason: reason) }
    }

    /// Pushes `route` with `body`; batched with everything else this session
    /// gets in the same loop iteration. Any thread.
    public func push(route: String, body: JSONValue) {
        push(route: route, json: { body.write(into: &$0) })
    }

    /// Pushes `route` with the object `fill` writes. On the session's loop
    /// the members go straight into the loop's output: no tree, no copy.
    /// Any thread.
    public func push(route: String, object fill: (inout JSONObjectWriter) -> Void) {
        push(route: route, json: { JSONObjectWriter.write(into: &$0, fill) })
    }

    /// `json` appends the body's JSON text.
    func push(route: String, json: (inout [UInt8]) -> Void) {
        if isRemote {
            guard route.utf8.count <= 255 else {
                loop.counters.add(.pushesUnencodable)
                return
            }
            var body: [UInt8] = []
            json(&body)
            sendToFrontend(.push) { w in
                w.string8(route)
                w.bytes.append(contentsOf: body)
            }
            return
        }
        if loop.isCurrent {
            guard let connection else {
                // Closed: counted like the same push made from another thread.
                loop.counters.add(.pushesUndeliverable)
                return
            }
            loop.scheduler.stage(route: route, for: connection, body: json)
        } else if let push = loop.core.encodePush(route: route, body: json) {
            loop.post(PushMessage(push, to: [self]))
        }
    }

    /// Closes the connection without a kick. Any thread.
    public func close() {
        if isRemote { return sendToFrontend(.close) { _ in } }
        onLoop { $0.connection?.close(.graceful) }
    }

    /// Runs `body` on the session's loop: now if this is that thread,
    /// otherwise posted to it.
    func onLoop(_ body: @escaping (Session) -> Void) {
        if loop.isCurrent { body(self) } else { loop.post(ClosureMessage { _ in body(self) }) }
    }

    /// The connection closed: unbind, tell the callbacks, forget it.
    func didClose() {
        if let uid { sessions.unbind(self, uid: uid) }
        sessions.remove(self)
        let callbacks = closedCallbacks
        closedCallbacks = []
        for callback in callbacks { callback(self) }
        sessions.notifyClosed(self)
        loop.cluster?.tellBackendsClosed(self)
        uid = nil
        serial.cancelAll()
        connection = nil
    }
}

public enum SessionError: Error, Equatable, CustomStringConvertible, CodedError {
    /// The session is already bound to this other uid.
    case alreadyBound(String)
    /// The multi-login policy is `reject` and the uid is bound elsewhere.
    case uidInUse(String)
    /// The session's connection is closed.
    case closed

    public var code: Int { 500 }

    public var description: String {
        switch self {
        case .alreadyBound(let uid): return "the session is already bound to \(uid)"
        case .uidInUse(let uid): return "\(uid) is already logged in"
        case .closed: return "the session is closed"
        }
    }
}

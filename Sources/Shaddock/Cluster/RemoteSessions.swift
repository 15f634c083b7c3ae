import ShaddockProtocol

#if canImport(Glibc)
import Glibc
#endif

/// What a frontend sends of a session with each forwarded request (Pomelo's
/// session export): enough for the backend to build its backend session.
struct SessionExport {
    var sessionID: UInt64
    var frontendID: String
    var uid: String?
    var address: String
    var settings: [String: JSONValue]

    init(reading reader: inout ClusterReader) throws(ClusterWireError) {
        try self.init(reading: &reader) { _, blob throws(ClusterWireError) in try Self.parseSettings(blob) }
    }

    /// Settings seen before for the same client come from `cache` instead
    /// of being parsed again.
    init(reading reader: inout ClusterReader, cache: inout ExportSettingsCache) throws(ClusterWireError) {
        try self.init(reading: &reader) { key, blob throws(ClusterWireError) in try cache.settings(for: key, blob: blob) }
    }

    private init(reading reader: inout ClusterReader,
                 settings read: (RemoteSessionKey, UnsafeRawBufferPointer) throws(ClusterWireError) -> [String: JSONValue])
        throws(ClusterWireError) {
        sessionID = try reader.u64()
        frontendID = try reader.string8()
        uid = try reader.optionalString8()
        address = try reader.string8()
        let blob = try reader.blob()
        settings = blob.isEmpty ? [:] : try read(RemoteSessionKey(frontendID: frontendID, sessionID: sessionID), blob)
    }

    static func parseSettings(_ blob: UnsafeRawBufferPointer) throws(ClusterWireError) -> [String: JSONValue] {
        guard let object = (try? JSON.parse(blob))?.objectValue else { throw .badValue }
        var settings: [String: JSONValue] = [:]
        for (k, v) in object { settings[k] = v }
        return settings
    }
}

/// The settings a backend loop last read for each client, with the bytes
/// they came from: a session's settings change seldom, so most forwarded
/// requests skip parsing them. A cache, so its bound needs no policy: full,
/// it is emptied; a client's entry goes when its frontend says it closed.
struct ExportSettingsCache {
    static let limit = 16_384
    private var entries: [RemoteSessionKey: (bytes: [UInt8], settings: [String: JSONValue])] = [:]

    mutating func settings(for key: RemoteSessionKey, blob: UnsafeRawBufferPointer) throws(ClusterWireError)
        -> [String: JSONValue] {
        if let hit = entries[key], hit.bytes.count == blob.count,
           hit.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, blob.baseAddress!, blob.count) == 0 }) {
            return hit.settings
        }
        let settings = try SessionExport.parseSettings(blob)
        if entries.count >= Self.limit { entries.removeAll(keepingCapacity: true) }
        entries[key] = (Array(blob), settings)
        return settings
    }

    mutating func forget(_ key: RemoteSessionKey) { entries[key] = nil }
}

extension Session {
    /// The export, as `SessionExport` reads it.
    func writeExport(into writer: inout ClusterWriter) {
        writer.u64(id)
        writer.string8(frontendID)
        writer.optionalString8(uid)
        writer.string8(String(remoteAddress.utf8.prefix(255))!)
        if settings.isEmpty {
            writer.u32(0)
        } else {
            if settingsJSON == nil {
                settingsJSON = JSONValue.object(JSONObject(settings.map { (key: $0.key, value: $0.value) })).serialized
            }
            writer.blob(settingsJSON!)
        }
    }

    /// A frontend remembers which backends served a session, to tell them
    /// when it closes.
    func noteBackend(_ serverID: String) {
        if !backends.contains(serverID) { backends.append(serverID) }
    }

    /// Sends a change to the frontend holding this backend session (its
    /// loop is the low byte of the session id). Any thread.
    func sendToFrontend(_ op: ClusterSessionOp, _ fill: @escaping (inout ClusterWriter) -> Void) {
        let frontendID = self.frontendID
        let id = self.id
        loop.execute { loop in
            guard let endpoint = loop.cluster else { return }
            endpoint.writer = ClusterWriter(reusing: endpoint.writer.bytes)
            endpoint.writer.u8(ClusterKind.session.rawValue)
            endpoint.writer.u8(op.rawValue)
            endpoint.writer.u64(id)
            fill(&endpoint.writer)
            endpoint.send(to: endpoint.subject(frontendID, loop: Int(id & 0xFF)))
        }
    }
}

extension ClusterEndpoint {
    // MARK: Frontend: what backends do to its sessions

    func applySessionOp(_ reader: inout ClusterReader) throws(ClusterWireError) {
        guard let op = ClusterSessionOp(rawValue: try reader.u8()) else { throw .badValue }
        let id = try reader.u64()
        guard let session = loop.connections[id]?.session else {
            loop.counters.add(.pushesUndeliverable)
            return
        }
        switch op {
        case .bind:
            let uid = try reader.string8()
            do { try session.bind(uid) } catch {
                loop.logger.warning("a backend's bind of session \(id) to \(uid) failed: \(error)")
            }
        case .unbind:
            session.unbind()
        case .settings:
            guard let object = (try? JSON.parse(reader.rest()))?.objectValue else { throw .badValue }
            for (k, v) in object {
                session.set(k, v)
                session.pushSetting(k)
            }
        case .push:
            let route = try reader.string8()
            let body = reader.rest()
            guard let connection = session.connection,
                  let push = loop.core.encodePush(route: route, rawBody: body) else { return }
            loop.scheduler.stage(push, for: connection)
        case .kick:
            session.kick(reason: try reader.string16())
        case .close:
            session.close()
        }
    }

    /// Kicks the sessions bound to a uid here, for another server.
    func kickUID(_ reader: inout ClusterReader) throws(ClusterWireError) {
        let uid = try reader.string8()
        let reason = try reader.string16()
        loop.core.sessions.kick(uid: uid, reason: reason, here: true)
    }

    // MARK: Backend: sessions that closed on their frontend

    func sessionClosed(_ reader: inout ClusterReader) throws(ClusterWireError) {
        let export = try SessionExport(reading: &reader)
        let session = Session(remote: export, loop: loop)
        let key = RemoteSessionKey(frontendID: export.frontendID, sessionID: export.sessionID)
        exportSettings.forget(key)
        for callback in closedCallbacks.removeValue(forKey: key) ?? [] { callback(session) }
        loop.core.sessions.notifyClosed(session)
    }

    /// A frontend is gone: its sessions are too.
    func forgetSessions(of frontends: Set<String>) {
        let keys = closedCallbacks.keys.filter { frontends.contains($0.frontendID) }
        for key in keys {
            guard let callbacks = closedCallbacks.removeValue(forKey: key) else { continue }
            let session = Session(remote: SessionExport(id: key.sessionID, frontendID: key.frontendID), loop: loop)
            for callback in callbacks { callback(session) }
        }
    }

    /// A frontend's session closed: the backends that served it hear of it.
    func tellBackendsClosed(_ session: Session) {
        guard !session.backends.isEmpty else { return }
        writer = ClusterWriter(reusing: writer.bytes)
        writer.u8(ClusterKind.closed.rawValue)
        session.writeExport(into: &writer)
        for id in session.backends {
            guard let server = live.byID[id] else { continue }
            send(to: subject(id, loop: Int((session.id >> 8) % UInt64(server.loops))))
        }
    }
}

extension SessionExport {
    init(id: UInt64, frontendID: String) {
        sessionID = id
        self.frontendID = frontendID
        uid = nil
        address = "?"
        settings = [:]
    }
}

extension Cluster {
    /// Kicks a uid's sessions on every other frontend. Any thread.
    func kickEverywhere(uid: String, reason: String) {
        guard uid.utf8.count <= 255, let first = endpoints.first else { return }
        let endpoint = endpoints.first { $0.loop.isCurrent } ?? first
        endpoint.loop.execute { _ in
            for server in endpoint.live.byID.values where server.frontend && server.id != self.me.id {
                endpoint.writer = ClusterWriter(reusing: endpoint.writer.bytes)
                endpoint.writer.u8(ClusterKind.kickUID.rawValue)
                endpoint.writer.string8(uid)
                endpoint.writer.string16(reason)
                endpoint.send(to: self.subject(server: server.id, loop: endpoint.loop.index % server.loops))
            }
        }
    }
}

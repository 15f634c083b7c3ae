import ShaddockProtocol

/// A server of the cluster as its announcements describe it.
public struct ClusterServer: Sendable, Equatable {
    public let id: String
    public let serverType: String
    public let frontend: Bool
    /// Where clients reach a frontend (nil for a backend).
    public let clientHost: String?
    public let clientPort: Int?
    /// When this run of the server started (ms since the epoch), with a
    /// random number: a restarted server with the same id is a new run.
    let started: UInt64
    let nonce: UInt64
    /// Its event loops: messages for one session go to one of them.
    let loops: Int
    /// Its announcement interval, for the three-missed rule.
    let intervalMilliseconds: Int
    /// Set when it announced that it drains: no new work goes to it.
    public let draining: Bool

    /// Newer run of the same id.
    func isNewer(than other: ClusterServer) -> Bool {
        (started, nonce) > (other.started, other.nonce)
    }

    /// The same run of the same id (its other fields may have changed: a
    /// drain, say).
    func isSameRun(as other: ClusterServer) -> Bool {
        (started, nonce) == (other.started, other.nonce)
    }
}

/// The live servers by type, each list sorted by id so that every frontend
/// picks the same server for the same key. Immutable: each loop holds its own
/// reference, replaced through its mailbox when the table changes.
final class LiveServers: Sendable {
    let byType: [String: [ClusterServer]]
    let byID: [String: ClusterServer]

    init(_ servers: [ClusterServer]) {
        var byType: [String: [ClusterServer]] = [:]
        var byID: [String: ClusterServer] = [:]
        for s in servers {
            byID[s.id] = s
            if !s.draining { byType[s.serverType, default: []].append(s) }
        }
        for (k, v) in byType { byType[k] = v.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) } }
        self.byType = byType
        self.byID = byID
    }

    static let empty = LiveServers([])
}

/// Discovery without a master: every server announces itself on
/// `<name>.announce` on start, every interval and when it stops; this table
/// (kept by loop 0) drops a server after three missed announcements, lets a
/// newer run of an id replace the older one, and removes a server at once
/// when it announces a clean stop. Servers whose route dictionary differs
/// from ours are refused and logged.
struct ServerTable {
    private(set) var servers: [String: (server: ClusterServer, lastSeen: UInt64)] = [:]
    let dictionaryVersion: String
    private var refused: Set<String> = []

    init(dictionaryVersion: String) { self.dictionaryVersion = dictionaryVersion }

    enum Change: Equatable { case none, joined(String), left(String), updated }

    /// Applies an announcement; returns what changed for the routing table.
    mutating func apply(_ a: Announcement, now: UInt64, log: (String) -> Void) -> Change {
        if a.dictionaryVersion != dictionaryVersion {
            if refused.insert("\(a.server.id)/\(a.server.started)").inserted {
                log("refusing server \(a.server.id): its route dictionary or protos (\(a.dictionaryVersion)) are not ours (\(dictionaryVersion))")
            }
            return .none
        }
        let id = a.server.id
        if let known = servers[id] {
            if known.server.isNewer(than: a.server) { return .none }  // a stale run
            if a.stopping {
                guard known.server.isSameRun(as: a.server) else { return .none }
                servers[id] = nil
                return .left(id)
            }
            let changed = known.server != a.server
            servers[id] = (a.server, now)
            return changed ? .updated : .none
        }
        if a.stopping { return .none }
        servers[id] = (a.server, now)
        return .joined(id)
    }

    /// Servers silent for three of their intervals are dead.
    /// This server's link to NATS came back: announcements missed while it
    /// was down say nothing of the others, so each gets three intervals
    /// from now (or a NATS outage would remove every server at its end).
    mutating func restartClocks(now: UInt64) {
        for id in servers.keys { servers[id]!.lastSeen = now }
    }

    mutating func expire(now: UInt64, except own: String) -> [String] {
        var dead: [String] = []
        for (id, entry) in servers where id != own {
            if now - entry.lastSeen > UInt64(3 * entry.server.intervalMilliseconds) { dead.append(id) }
        }
        for id in dead { servers[id] = nil }
        return dead.sorted()
    }

    var live: LiveServers { LiveServers(servers.values.map(\.server)) }
}

/// One announcement, as JSON on `<name>.announce` (readable with any NATS
/// tool; a few per second in the whole cluster, so JSON costs nothing).
struct Announcement: Equatable {
    var server: ClusterServer
    var dictionaryVersion: String
    var stopping: Bool

    var json: [UInt8] {
        var fields: [(key: String, value: JSONValue)] = [
            ("id", .string(server.id)), ("type", .string(server.serverType)), ("frontend", .bool(server.frontend)),
            ("started", .number(Double(server.started))), ("nonce", .string(String(server.nonce, radix: 16))),
            ("loops", .number(Double(server.loops))), ("interval", .number(Double(server.intervalMilliseconds))),
            ("dictionary", .string(dictionaryVersion)),
            ("state", .string(stopping ? "stop" : server.draining ? "draining" : "up")),
        ]
        if let h = server.clientHost { fields.append(("clientHost", .string(h))) }
        if let p = server.clientPort { fields.append(("clientPort", .number(Double(p)))) }
        return JSONValue.object(JSONObject(fields)).serialized
    }

    init(server: ClusterServer, dictionaryVersion: String, stopping: Bool) {
        self.server = server
        self.dictionaryVersion = dictionaryVersion
        self.stopping = stopping
    }

    init?(json bytes: UnsafeRawBufferPointer) {
        guard let o = (try? JSON.parse(bytes))?.objectValue,
              let id = o["id"]?.stringValue, !id.isEmpty, let type = o["type"]?.stringValue,
              let started = o["started"]?.doubleValue, let loops = o["loops"]?.intValue, loops > 0,
              let interval = o["interval"]?.intValue, interval > 0,
              let dictionary = o["dictionary"]?.stringValue, let state = o["state"]?.stringValue
        else { return nil }
        let nonce = o["nonce"]?.stringValue.flatMap { UInt64($0, radix: 16) } ?? 0
        server = ClusterServer(id: id, serverType: type, frontend: o["frontend"]?.boolValue ?? false,
                               clientHost: o["clientHost"]?.stringValue, clientPort: o["clientPort"]?.intValue,
                               started: UInt64(started), nonce: nonce, loops: loops,
                               intervalMilliseconds: interval, draining: state == "draining")
        dictionaryVersion = dictionary
        stopping = state == "stop"
    }
}

import Logging
import ShaddockProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Picks the server of a type for a request or a call: Pomelo's
/// `app.route(serverType, fn)`. `servers` are the live servers of the type,
/// sorted by id; return the id of one of them (nil: the default route).
/// The request is nil for a remote call.
public typealias RouteFunction = @Sendable (_ session: Session?, _ request: Request?, _ servers: [ClusterServer]) -> String?

/// What a process knows of the cluster it belongs to: who it is, the
/// subjects, the route functions, the remote methods, and one endpoint per
/// loop. Shared read-only by the loops once the server starts, but for the
/// live table, which each loop holds a copy of.
final class Cluster: @unchecked Sendable {
    let me: ClusterServer
    let options: ClusterOptions
    /// The route dictionary's version, and the protos' when protobuf is on:
    /// servers whose versions differ refuse each other (a forwarded body is
    /// decoded by the server that handles it, with its own schemas).
    let dictionaryVersion: String
    let routeFunctions: [String: RouteFunction]
    let remotes: [String: RemoteMethod]
    let logger: Logger
    /// `<name>.announce`
    let announceSubject: String
    /// Set once the loops exist.
    private(set) var endpoints: [ClusterEndpoint] = []
    /// Set by the first announcement (`/readyz`). Any thread.
    private let announcedOnce = Atomic<Bool>(false)
    var announced: Bool {
        get { announcedOnce.load(ordering: .relaxed) }
        set { announcedOnce.store(newValue, ordering: .relaxed) }
    }
    /// Set when a drain begins: new work is refused with 503 and the
    /// announcements say `draining`.
    let draining = Atomic<Bool>(false)

    init(config: GatewayConfiguration, options: ClusterOptions, application: Application,
         dictionary: RouteDictionary, protoVersion: String?, logger: Logger) {
        self.options = options
        self.logger = logger
        let entry = config.cluster.first { $0.id == config.serverID }
        let frontend = entry?.frontend ?? true
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        me = ClusterServer(id: config.serverID, serverType: config.serverType, frontend: frontend,
                           clientHost: frontend ? (entry?.clientHost ?? entry?.host ?? config.host) : nil,
                           clientPort: frontend ? config.port : nil,
                           started: UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000,
                           nonce: UInt64.random(in: 1...UInt64.max), loops: config.threads,
                           intervalMilliseconds: options.announceIntervalMilliseconds, draining: false)
        dictionaryVersion = Self.version(of: dictionary) + (protoVersion.map { " protos " + $0 } ?? "")
        routeFunctions = application.routeFunctions
        remotes = application.remotes
        announceSubject = options.name + ".announce"
    }

    func attach(_ endpoints: [ClusterEndpoint]) { self.endpoints = endpoints }

    /// The subject of one loop of a server.
    func subject(server id: String, loop: Int) -> String { "\(options.name).to.\(id).\(loop)" }

    /// FNV-1a over the routes in code order: equal on every server built
    /// from the same application and dictionary file.
    static func version(of dictionary: RouteDictionary) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for route in dictionary.routes {
            for b in route.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0x0A) &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }

    /// The server for `serverType`: the route function's pick, else Pomelo's
    /// default, `abs(crc32(uid)) % count` over the live servers sorted by id.
    func pick(_ serverType: Substring, session: Session?, request: Request?, live: LiveServers) -> ClusterServer? {
        guard let servers = live.byType[String(serverType)], !servers.isEmpty else { return nil }
        if let fn = routeFunctions[String(serverType)], let id = fn(session, request, servers) {
            return servers.first { $0.id == id } ?? live.byID[id]
        }
        return servers[Self.defaultIndex(uid: session?.uid, count: servers.count)]
    }

    static func defaultIndex(uid: String?, count: Int) -> Int {
        let crc = Int32(bitPattern: CRC32.checksum((uid ?? "").utf8))
        return Int(crc.magnitude % UInt32(count))
    }
}

extension ClusterServer {
    /// Pomelo's dispatcher: the server at `abs(crc32(key)) % count` of
    /// `servers` (sorted by id, as route functions get them), so that every
    /// server picks the same one for a key. For route functions that route
    /// by something other than the uid (a room id, say).
    public static func pick(byKey key: String, from servers: [ClusterServer]) -> ClusterServer? {
        servers.isEmpty ? nil : servers[Cluster.defaultIndex(uid: key, count: servers.count)]
    }
}

/// The `cluster` section of the configuration: how this server reaches the
/// others.
public struct ClusterOptions: Sendable, Equatable {
    /// The subject prefix: clusters sharing a NATS server stay apart.
    public var name = "shaddock"
    public var nats = NATSOptions()
    /// How long a forwarded request or a remote call may take; the
    /// deadline travels with it.
    public var requestTimeoutMilliseconds = 10_000
    public var announceIntervalMilliseconds = 1000
    /// Forwarded requests and calls a backend loop runs at once; more are
    /// answered 503.
    public var maxInFlightPerLoop = 10_000

    public init() {}
}

/// CRC-32 (IEEE, as zlib and node's `crc` package compute it).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

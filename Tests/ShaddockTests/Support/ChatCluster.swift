import Foundation

/// The chat example as a cluster, as `./run cluster` runs it: nats-server,
/// chat servers and connectors, each a `shaddock serve` process on
/// deploy/chat-cluster/servers.json (client ports and NATS moved to free
/// ones by `--port` and `--nats`; every server gets an admin port).
final class ChatCluster {
    static let all = ["chat-server-1", "chat-server-2", "connector-server-1", "connector-server-2"]
    static let shipped = repositoryRoot.appendingPathComponent("deploy/chat-cluster/servers.json").path
    /// The NATS servers every process is given (one, or a NATS cluster).
    let nats: [NATSTestServer]
    /// Client ports of connector-server-1 and -2.
    private(set) var clientPorts: [Int]
    /// Every server's admin port, by id.
    var adminPorts: [String: Int] = [:]
    var processes: [String: ShaddockProcess] = [:]
    let config: String
    /// Servers that run in a network namespace (by id).
    let namespaces: [String: NetworkNamespace]

    /// Starts `servers` (all four by default). A `connector` section (JSON)
    /// and `cluster` keys (replacing the shipped ones) go into a copy of the
    /// shipped file (neither: the file itself). A server in `namespaces`
    /// runs there; its admin port is out of reach.
    init(servers: [String] = ChatCluster.all, connectorSection: String? = nil, clusterKeys: [String: Any] = [:],
         nats: [NATSTestServer]? = nil, namespaces: [String: NetworkNamespace] = [:]) throws {
        self.nats = try nats ?? [NATSTestServer()]
        self.namespaces = namespaces
        if connectorSection != nil || !clusterKeys.isEmpty {
            let shipped = try Data(contentsOf: URL(fileURLWithPath: Self.shipped))
            var file = try JSONSerialization.jsonObject(with: shipped) as? [String: Any] ?? [:]
            var cluster = file["cluster"] as? [String: Any] ?? [:]
            cluster.merge(clusterKeys) { $1 }
            file["cluster"] = cluster
            if let connectorSection {
                file["connector"] = try JSONSerialization.jsonObject(with: Data(connectorSection.utf8))
            }
            let text = String(decoding: try JSONSerialization.data(withJSONObject: file), as: UTF8.self)
            config = NSTemporaryDirectory() + "shaddock-chat-cluster-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
            try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        } else {
            config = Self.shipped
        }
        clientPorts = try [freeLoopbackPort(), freeLoopbackPort()]
        for id in servers { try start(id) }
        let chats = servers.filter { $0.hasPrefix("chat-") }.count
        for id in servers where id.hasPrefix("connector-") {
            guard waitForListener(port: clientPort(id)), waitForChatServers(id, count: chats) else {
                throw TestFailure("\(id) did not join the cluster:\n\(stopAll())")
            }
        }
    }

    func clientPort(_ connector: String) -> Int { clientPorts[Int(connector.suffix(1))! - 1] }

    /// Starts a server and waits until it listens. A port picked free may
    /// be taken by another test before the server binds it (the server then
    /// exits with "Address already in use"): it starts again on new ports.
    func start(_ id: String) throws {
        let connector = id.hasPrefix("connector-")
        for attempt in 0..<4 {
            let admin = try freeLoopbackPort()
            adminPorts[id] = admin
            if connector && attempt > 0 { clientPorts[Int(id.suffix(1))! - 1] = try freeLoopbackPort() }
            var args = ["serve", "--config", config, "--server-id", id, "--threads", "2", "--admin-port", "\(admin)"]
            for server in nats { args += ["--nats", server.url] }
            if connector { args += ["--port", "\(clientPort(id))"] }
            let process = try ShaddockProcess(args, prefix: namespaces[id]?.prefix ?? [])
            processes[id] = process
            // In a namespace its ports are out of reach: the later waits decide.
            if namespaces[id] != nil { return }
            let port = connector ? clientPort(id) : admin
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && process.isRunning && !canConnect(port: port) { usleep(20_000) }
            if process.isRunning { return }
        }
        throw TestFailure("\(id) did not start:\n\(stopAll())")
    }

    /// Waits until a connector's table lists `count` chat servers.
    func waitForChatServers(_ connector: String, count: Int, timeout: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if chatServers(connector) == count { return true }
            usleep(50_000)
        }
        return false
    }

    /// The chat servers a connector's table lists now (nil: no answer).
    func chatServers(_ connector: String) -> Int? {
        guard let n = try? metric(connector, "shaddock_cluster_servers", ["type": "chat"]) else { return nil }
        return Int(n)
    }

    /// A counter of one server's /metrics.
    func metric(_ id: String, _ name: String, _ labels: [String: String] = [:]) throws -> Double? {
        PrometheusText(try AdminReply.get("/metrics", port: adminPorts[id]!).body).value(name, labels)
    }

    /// Stops every process (SIGTERM, a drain); returns their logs.
    @discardableResult
    func stopAll() -> String {
        var logs = ""
        for (id, p) in processes.sorted(by: { $0.key < $1.key }) {
            let status = p.stop()
            logs += "== \(id) (exit \(status))\n\(p.output.text)"
        }
        processes = [:]
        return logs
    }

    deinit {
        stopAll()
        if config != Self.shipped { try? FileManager.default.removeItem(atPath: config) }
    }
}

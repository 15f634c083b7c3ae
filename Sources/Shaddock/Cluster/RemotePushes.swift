import ShaddockProtocol

/// Pushes that cross servers: a channel's members on other frontends, pushes
/// to uids, and broadcasts. The sender writes one message per frontend
/// (route, session ids, uids, the body's JSON once); the frontend encodes the
/// package once and stages it on the loops holding the sessions.
extension Cluster {
    /// Runs `body` on the calling loop's endpoint, or on loop 0's when the
    /// caller is not a loop.
    func withEndpoint(_ body: @escaping (ClusterEndpoint) -> Void) {
        if let endpoint = endpointHere { return body(endpoint) }
        let endpoint = endpoints[0]
        endpoint.loop.execute { _ in body(endpoint) }
    }

    /// The calling loop's endpoint, if the caller is one of this server's loops.
    var endpointHere: ClusterEndpoint? { endpoints.first { $0.loop.isCurrent } }

    /// One message to each frontend in `groups`; `json` appends the body's
    /// JSON text. On a handler's loop (the common case) it is written into
    /// that loop's reused buffer and sent from there: no copy, no closure.
    func push(route: String, to groups: [RemotePushTargets], json: (inout [UInt8]) -> Void) {
        if let endpoint = endpointHere {
            var body: [UInt8] = []
            swap(&body, &endpoint.pushBody)
            body.removeAll(keepingCapacity: true)
            json(&body)
            endpoint.sendPush(route: route, body: body, to: groups)
            swap(&body, &endpoint.pushBody)
            return
        }
        var body: [UInt8] = []
        json(&body)
        withEndpoint { $0.sendPush(route: route, body: body, to: groups) }
    }

    /// `uids` looked up by every other live frontend: one message each.
    func push(route: String, body: [UInt8], toUidsOnOtherFrontends uids: [String]) {
        withEndpoint { endpoint in
            let groups = endpoint.otherFrontends().map { RemotePushTargets(frontendID: $0.id, uids: uids) }
            endpoint.sendPush(route: route, body: body, to: groups)
        }
    }

    /// One broadcast message to every other live frontend.
    func broadcast(route: String, body: [UInt8], boundOnly: Bool) {
        withEndpoint { $0.sendBroadcast(route: route, body: body, boundOnly: boundOnly) }
    }
}

extension ClusterEndpoint {
    /// The client an async handler on a backend is serving.
    @TaskLocal static var servingTask: RemoteSessionKey?

    /// The loop of `server` a push goes to. A push that a handler makes
    /// while serving a client of that frontend goes to the client's loop,
    /// on the path its answer takes (this loop's NATS connection, that
    /// loop's subscription): the client gets it before the answer, as from
    /// a single process. Other pushes spread by this loop's index.
    func pushLoop(_ server: ClusterServer) -> Int { pushLoop(server, for: serving ?? Self.servingTask) }

    func pushLoop(_ server: ClusterServer, for client: RemoteSessionKey?) -> Int {
        if let client, client.frontendID == server.id {
            let index = Int(client.sessionID & 0xFF)
            if index < server.loops { return index }
        }
        return loop.index % server.loops
    }

    func otherFrontends() -> [ClusterServer] {
        live.byID.values.filter { $0.frontend && $0.id != cluster.me.id }
    }

    // MARK: Sending

    func sendPush(route: String, body: [UInt8], to groups: [RemotePushTargets]) {
        guard route.utf8.count <= 255 else {
            loop.counters.add(.pushesUnencodable, UInt64(groups.reduce(0) { $0 + $1.count }))
            return
        }
        // Targets per message, so that one stays under max_payload.
        let budget = max(link.maxPayload - body.count - 512, 4096)
        for group in groups {
            guard let server = live.byID[group.frontendID], server.frontend else {
                loop.counters.add(.pushesUndeliverable, UInt64(group.count))
                continue
            }
            let subject = subject(server.id, loop: pushLoop(server))
            var ids = group.sessionIDs[...]
            var uids = group.uids[...]
            repeat {
                writer = ClusterWriter(reusing: writer.bytes)
                writer.u8(ClusterKind.push.rawValue)
                writer.string8(route)
                let idCount = min(ids.count, max(budget / 8, 1))
                writer.u32(UInt32(idCount))
                for id in ids.prefix(idCount) { writer.u64(id) }
                ids = ids.dropFirst(idCount)
                let uidCountAt = writer.bytes.count
                writer.u32(0)
                var uidCount: UInt32 = 0
                while let uid = uids.first, writer.bytes.count < budget {
                    uids = uids.dropFirst()
                    guard uid.utf8.count <= 255 else {
                        loop.counters.add(.pushesUnencodable)
                        continue
                    }
                    writer.string8(uid)
                    uidCount += 1
                }
                writer.patchU32(uidCount, at: uidCountAt)
                if riders.take(writer.bytes, body, for: server.id) {
                    loop.counters.add(.clusterPushesOut)
                    loop.counters.add(.clusterPushesInAnswers)
                } else {
                    publish(to: subject, body)
                }
            } while !ids.isEmpty || !uids.isEmpty
        }
    }

    func sendBroadcast(route: String, body: [UInt8], boundOnly: Bool) {
        guard route.utf8.count <= 255 else { return loop.counters.add(.pushesUnencodable) }
        for server in otherFrontends() {
            writer = ClusterWriter(reusing: writer.bytes)
            writer.u8(ClusterKind.broadcast.rawValue)
            writer.u8(boundOnly ? 1 : 0)
            writer.string8(route)
            publish(to: subject(server.id, loop: pushLoop(server)), body)
        }
    }

    /// Publishes the writer's bytes followed by `body`, in one message.
    private func publish(to subject: String, _ body: [UInt8]) {
        var subject = subject
        let result = subject.withUTF8 { s in
            writer.bytes.withUnsafeBytes { head in
                body.withUnsafeBytes { link.publish(subject: UnsafeRawBufferPointer(s), head, $0) }
            }
        }
        switch result {
        case .sent, .buffered: loop.counters.add(.clusterPushesOut)
        case .refusedTooLarge, .droppedBufferFull: loop.counters.add(.pushesUndeliverable)
        }
    }

    // MARK: Receiving (a frontend)

    /// One push for some sessions of this frontend: encoded once here, then
    /// staged on this loop or handed to the loops holding the others.
    func deliverPush(_ reader: inout ClusterReader) throws(ClusterWireError) {
        let route = try reader.string8()
        let idCount = Int(try reader.u32())
        var byLoop = [[UInt64]](repeating: [], count: cluster.endpoints.count)
        for _ in 0..<idCount {
            let id = try reader.u64()
            let index = Int(id & 0xFF)
            if index < byLoop.count { byLoop[index].append(id) } else { loop.counters.add(.pushesUndeliverable) }
        }
        let uidCount = Int(try reader.u32())
        for _ in 0..<uidCount {
            for s in loop.core.sessions.getByUid(try reader.string8()) where s.loop.index < byLoop.count {
                byLoop[s.loop.index].append(s.id)
            }
        }
        loop.counters.add(.clusterPushesIn)
        guard let push = loop.core.encodePush(route: route, rawBody: reader.rest()) else { return }
        for (i, ids) in byLoop.enumerated() where !ids.isEmpty {
            let message = PushMessage(push, toSessionIDs: ids)
            let target = cluster.endpoints[i].loop
            if target === loop { message.deliver(on: loop) } else { target.post(message) }
        }
    }

    func deliverBroadcast(_ reader: inout ClusterReader) throws(ClusterWireError) {
        let boundOnly = try reader.u8() & 1 != 0
        let route = try reader.string8()
        loop.counters.add(.clusterPushesIn)
        guard let push = loop.core.encodePush(route: route, rawBody: reader.rest()) else { return }
        for endpoint in cluster.endpoints {
            let message = PushMessage(broadcast: push, boundOnly: boundOnly)
            if endpoint === self { message.deliver(on: loop) } else { endpoint.loop.post(message) }
        }
    }
}

/// Channel pushes a synchronous handler on a backend makes for its
/// requester's frontend while it serves a request: they ride inside the
/// answer's NATS message (`pushesThenResponse`) instead of one message each,
/// and reach that frontend just before the answer, as from one process.
/// Whatever the answer does not take (a deadline passed, a push too large
/// to ride) goes on its own to the requester's loop.
struct PushRiders {
    /// Set while a handler serves a request that will be answered.
    private(set) var client: RemoteSessionKey?
    /// Each rider as a blob (a 4-byte length and a whole `push` message).
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0
    /// A rider at most this large: the answer must stay well under
    /// `max_payload`, and one large push is no worse off on its own.
    static let maxBytes = 64 * 1024

    mutating func begin(for client: RemoteSessionKey) { self.client = client }

    /// Takes `head` + `body` as a rider if it can ride.
    mutating func take(_ head: [UInt8], _ body: [UInt8], for frontendID: String) -> Bool {
        guard frontendID == client?.frontendID, count < Int(UInt16.max), bytes.count + head.count + body.count <= Self.maxBytes
        else { return false }
        var length = UInt32(head.count + body.count).bigEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: head)
        bytes.append(contentsOf: body)
        count += 1
        return true
    }

    /// The answer took them (or there are none left to send).
    mutating func end() {
        client = nil
        bytes.removeAll(keepingCapacity: true)
        count = 0
    }
}

extension ClusterEndpoint {
    /// Sends on their own the riders that no answer took, then stops
    /// collecting.
    func sendRiders() {
        defer { riders.end() }
        guard riders.count > 0, let client = riders.client else { return }
        guard let server = live.byID[client.frontendID] else {
            return loop.counters.add(.pushesUndeliverable, UInt64(riders.count))
        }
        var subject = subject(server.id, loop: pushLoop(server, for: client))
        subject.withUTF8 { s in
            riders.bytes.withUnsafeBytes { all in
                var reader = ClusterReader(all)
                for _ in 0..<riders.count {
                    guard let message = try? reader.blob() else { break }
                    _ = link.publish(subject: UnsafeRawBufferPointer(s), message)
                }
            }
        }
    }

    /// A frontend: the pushes first (so that the client sees them before
    /// the answer), then the answer. While the link moves off a lame-duck
    /// server a message may arrive on both connections: the pushes are
    /// then delivered with the copy that finds its request waiting only.
    func onPushesThenResponse(_ token: UInt64, _ reader: inout ClusterReader) throws(ClusterWireError) {
        let count = Int(try reader.u16())
        let deliver = !link.isMoving || forwards[token] != nil
        for _ in 0..<count {
            var rider = ClusterReader(try reader.blob())
            guard try rider.kind() == .push else { throw .badValue }
            if deliver { try deliverPush(&rider) } else { loop.counters.add(.pushesUndeliverable) }
        }
        guard try reader.kind() == .response else { throw .badValue }
        try onResponse(token, &reader)
    }
}

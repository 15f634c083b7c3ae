import ShaddockProtocol

/// A request forwarded to a backend, waiting for its answer on the loop
/// that sent it. It ends exactly once: the backend's answer, a no-responders
/// reply (503), the deadline (504) or the link going down (503).
final class PendingForward {
    let token: UInt64
    let serverID: String
    let deadline: UInt64
    private var target: Target

    enum Target {
        /// The fast path: the answer is written to the connection here, then
        /// the after-filters run.
        case connection(Connection, Request, RouteEntry)
        /// A forward awaited by a task (a route with `async` filters).
        case task(CheckedContinuation<ForwardAnswer, Never>)
        case done
    }

    init(token: UInt64, serverID: String, deadline: UInt64, target: Target) {
        self.token = token
        self.serverID = serverID
        self.deadline = deadline
        self.target = target
    }

    /// The client connection waiting (the fast path), if any.
    var connection: Connection? {
        if case .connection(let c, _, _) = target { return c }
        return nil
    }

    func finish(_ answer: ForwardAnswer, endpoint: ClusterEndpoint) {
        let target = self.target
        self.target = .done
        switch target {
        case .connection(let connection, let request, let entry):
            let outcome = answer.outcome(for: request)
            if request.kind == .request, !connection.isClosing {
                // The backend's JSON is encoded here when this client uses
                // protobuf on the route; its protobuf goes as it came.
                if let response = answer.response {
                    connection.writeResponse(id: request.id, response, route: request.routeCode)
                } else if case .error(let code) = answer {
                    connection.writeErrorResponse(id: request.id, code: code, route: request.routeCode)
                }
            }
            for case .sync(let filter) in entry.after { filter(request, connection.session, outcome) }
            connection.forwardFinished()
        case .task(let continuation):
            continuation.resume(returning: answer)
        case .done:
            break
        }
        endpoint.loop.noteIfDrained()
    }
}

/// What a backend answered: the response body as it sent it (JSON, or
/// protobuf encoded with the route's server schema), or a code.
enum ForwardAnswer: Sendable {
    case body([UInt8])
    case protobufBody([UInt8])
    case error(code: Int)

    func outcome(for request: Request) -> Outcome {
        guard request.kind == .request else { return .none }
        if case .error(let code) = self { return .error(code: code) }
        return response.map(Outcome.response) ?? .none
    }

    var response: Response? {
        switch self {
        case .body(let bytes): return .encoded(EncodedJSON(trusted: bytes))
        case .protobufBody(let bytes): return .protobuf(bytes)
        case .error: return nil
        }
    }
}

extension ClusterEndpoint {
    /// doForward: picks the server, sends the request with the session's
    /// export, and waits for the answer (nothing for a notify).
    func forward(_ request: Request, session: Session, target: PendingForward.Target) {
        let type = request.serverType
        guard let server = cluster.pick(type, session: session, request: request, live: live) else {
            loop.counters.add(.forwardNoServer)
            loop.logger.warning("no live \(type) server for \(request.route): answering \(PomeloCode.fail)")
            return PendingForward(token: 0, serverID: "", deadline: 0, target: target).finish(.error(code: PomeloCode.fail), endpoint: self)
        }
        guard link.isUp else {
            loop.counters.add(.forwardDisconnected)
            return PendingForward(token: 0, serverID: "", deadline: 0, target: target)
                .finish(.error(code: PomeloCode.busy), endpoint: self)
        }
        let timeout = UInt64(cluster.options.requestTimeoutMilliseconds)
        let deadline = loop.now + timeout
        session.noteBackend(server.id)
        writer = ClusterWriter(reusing: writer.bytes)
        writer.u8(ClusterKind.request.rawValue)
        // Flags: 1 a notify, 2 the client uses protobuf, 4 the body is
        // protobuf as the client sent it (the backend decodes it).
        let protobufBody = request.protoMessage != nil
        writer.u8((request.kind == .notify ? 1 : 0) | (request.protobuf != nil ? 2 : 0) | (protobufBody ? 4 : 0))
        writer.u32(request.id)
        writer.u16(request.routeCode)
        writer.u32(UInt32(clamping: timeout))
        session.writeExport(into: &writer)
        writer.rest(protobufBody ? request.wire : request.body)
        // One backend loop per session: its messages start in arrival order.
        let subject = subject(server.id, loop: Int((session.id >> 8) % UInt64(server.loops)))
        if request.kind == .notify {
            loop.counters.add(.forwardedNotifies)
            let sent = send(to: subject)
            if sent == .refusedTooLarge || sent == .droppedBufferFull {
                loop.counters.add(.forwardDropped)
            }
            PendingForward(token: 0, serverID: server.id, deadline: 0, target: target).finish(.error(code: 0), endpoint: self)
            return
        }
        let token = newToken()
        let pending = PendingForward(token: token, serverID: server.id, deadline: deadline, target: target)
        let sent = withReplySubject(token) { send(to: subject, replyTo: $0) }
        guard sent == .sent || sent == .buffered else {
            loop.counters.add(.forwardDropped)
            return pending.finish(.error(code: sent == .refusedTooLarge ? PomeloCode.fail : PomeloCode.busy), endpoint: self)
        }
        loop.counters.add(.forwardedRequests)
        forwards[token] = pending
        forwardDeadlines.append((token, deadline))
    }

    /// A backend's answer: `status` 0 and the response body, or 1 and a code.
    func onResponse(_ token: UInt64, _ reader: inout ClusterReader) throws(ClusterWireError) {
        let status = try reader.u8()
        let code = try reader.u16()
        guard let pending = forwards.removeValue(forKey: token) else {
            // While the link moves off a lame-duck server an answer may
            // arrive on both connections: the copy is not late.
            if !link.isMoving { loop.counters.add(.forwardLateAnswers) }
            return
        }
        if status == 0 || status == 2 {
            loop.counters.add(.forwardAnswered)
            let body = Array(reader.rest())
            pending.finish(status == 0 ? .body(body) : .protobufBody(body), endpoint: self)
        } else {
            loop.counters.add(code == PomeloCode.busy ? .forwardBusy : .forwardAnswered)
            pending.finish(.error(code: Int(code)), endpoint: self)
        }
    }

    func noResponders(_ token: UInt64) {
        if let pending = forwards.removeValue(forKey: token) {
            loop.counters.add(.forwardNoResponders)
            loop.logger.warning("forward to \(pending.serverID): no responders (the server is gone); answering \(PomeloCode.busy)")
            pending.finish(.error(code: PomeloCode.busy), endpoint: self)
        } else if let call = calls.removeValue(forKey: token) {
            loop.counters.add(.remoteCallFailures)
            call.completion(.failure(RemoteError(code: PomeloCode.busy, message: "no responders for \(call.name)")))
        }
    }

    func expireForwards(now: UInt64) {
        while forwardDeadlineHead < forwardDeadlines.count, forwardDeadlines[forwardDeadlineHead].at <= now {
            let token = forwardDeadlines[forwardDeadlineHead].token
            forwardDeadlineHead += 1
            if let pending = forwards.removeValue(forKey: token) {
                loop.counters.add(.forwardTimeouts)
                loop.logger.warning("forward to \(pending.serverID): no answer in \(cluster.options.requestTimeoutMilliseconds) ms; answering \(PomeloCode.timeout)")
                pending.finish(.error(code: PomeloCode.timeout), endpoint: self)
            }
        }
        if forwardDeadlineHead > 1024 && forwardDeadlineHead * 2 > forwardDeadlines.count {
            forwardDeadlines.removeFirst(forwardDeadlineHead)
            forwardDeadlineHead = 0
        }
    }
}

extension Cluster {
    /// The forward of a route with `async` filters: the same, awaited.
    func forwardAsync(_ request: Request, _ session: Session) async -> ForwardAnswer {
        let endpoint = endpoints[session.loop.index]
        return await withCheckedContinuation { continuation in
            endpoint.loop.execute { _ in endpoint.forward(request, session: session, target: .task(continuation)) }
        }
    }
}

extension Connection {
    /// A forwarded request was answered (fast path): the serial filter lets
    /// the next one start, and a drain learns the session is idle.
    func forwardFinished() {
        releaseSerial()
        if loop.draining != nil { loop.requestFinished(on: self) }
    }
}

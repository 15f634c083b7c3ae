import ShaddockProtocol

/// A remote call waiting for its result on the loop that made it.
struct PendingCall {
    let name: String
    let deadline: UInt64
    let completion: @Sendable (Result<JSONValue, any Error>) -> Void
}

extension ClusterEndpoint {
    // MARK: Serving forwarded requests (backend)

    /// A frontend's forwarded request: this server's filters and handler run
    /// on a backend session, and the answer goes to the reply subject.
    /// Work whose deadline passed is dropped unanswered (the frontend has
    /// answered 504); a full queue or a drain answers 503.
    func serveRequest(_ reader: inout ClusterReader, replyTo: UnsafeRawBufferPointer?) throws(ClusterWireError) {
        let flags = try reader.u8()
        let id = try reader.u32()
        let routeCode = try reader.u16()
        let budget = try reader.u32()
        let export = try SessionExport(reading: &reader, cache: &exportSettings)
        let body = reader.rest()
        let kind: Request.Kind = flags & 1 != 0 ? .notify : .request
        let reply = replyTo.map(Array.init)
        loop.counters.add(.backendRequests)
        let core = loop.core
        guard Int(routeCode) < core.dictionary.routes.count, let entry = core.backendRoutes[Int(routeCode)] else {
            loop.counters.add(.unknownRoutes)
            loop.logger.warning("forwarded route \(routeCode) has no handler on this server")
            return answerForward(reply, .error(code: PomeloCode.fail), deadline: .max)
        }
        if budget == 0 {
            loop.counters.add(.backendExpired)
            return
        }
        if cluster.draining.load(ordering: .relaxed) || running >= cluster.options.maxInFlightPerLoop {
            loop.counters.add(.backendBusy)
            return answerForward(reply, .error(code: PomeloCode.busy), deadline: .max)
        }
        let session = Session(remote: export, loop: loop)
        // A client that uses protobuf: its body, if it came so, is decoded
        // here with this server's schemas (the same as its frontend's: both
        // announce their version).
        let codec = flags & 2 != 0 ? loop.protobuf : nil
        if flags & 2 != 0 && codec == nil {
            loop.counters.add(.badProtobufBodies)
            loop.logger.warning("\(core.dictionary.routes[Int(routeCode)]): a protobuf client's request, and protobuf is off here")
            return answerForward(reply, .error(code: PomeloCode.fail), deadline: .max)
        }
        if flags & 4 != 0, let codec {
            guard let schema = codec.request(routeCode) else {
                loop.counters.add(.badProtobufBodies)
                loop.logger.warning("\(core.dictionary.routes[Int(routeCode)]): a protobuf body, and no client schema here")
                return answerForward(reply, .error(code: PomeloCode.fail), deadline: .max)
            }
            let read = loop.withProtobufRequest(kind, id: id, route: routeCode, body, schema, codec, entry: entry) {
                serve($0, entry, session, export, reply, budget)
            }
            if !read { answerForward(reply, .error(code: PomeloCode.fail), deadline: .max) }
            return
        }
        serve(Request(kind: kind, id: id, routeCode: routeCode, dictionary: core.dictionary,
                      body: body.isEmpty ? GatewayCore.emptyObject : body, protobuf: codec),
              entry, session, export, reply, budget)
    }

    private func serve(_ request: Request, _ entry: RouteEntry, _ session: Session, _ export: SessionExport,
                       _ reply: [UInt8]?, _ budget: UInt32) {
        let deadline = loop.now + UInt64(budget)
        let client = RemoteSessionKey(frontendID: export.frontendID, sessionID: export.sessionID)
        if !entry.isAsync {
            serving = client
            // A request that gets an answer carries the pushes its handler
            // makes for the requester's frontend (see PushRiders).
            if reply != nil { riders.begin(for: client) }
            let outcome = loop.runInline(request, entry, session)
            serving = nil
            answerForward(reply, outcome, deadline: deadline, schema: request.protobuf?.response(request.routeCode))
            sendRiders()
            return
        }
        running += 1
        // The task runs on this loop (its executor preference), where all of
        // this lives.
        let work = LoopBound((owned: request.owned(), entry: entry, session: session))
        let schema = request.protobuf?.response(request.routeCode)
        Task(executorPreference: loop) {
            let outcome = await Self.$servingTask.withValue(client) {
                await self.loop.runAwaiting(work.value.owned, work.value.entry, work.value.session)
            }
            self.running -= 1
            self.answerForward(reply, outcome, deadline: deadline, schema: schema)
            self.loop.noteIfDrained()
        }
    }

    /// Sends a forwarded request's outcome, unless it is a notify or too late.
    /// With `schema` (the client uses protobuf and the route has a server
    /// schema), a response goes encoded with it (status 2); one that does
    /// not fit is counted and answered 500.
    private func answerForward(_ reply: [UInt8]?, _ outcome: Outcome, deadline: UInt64, schema: ProtoMessage? = nil) {
        if case .none = outcome { return }
        answer(reply, .response, deadline: deadline) { writer in
            if let schema, case .response(let response) = outcome {
                let start = writer.bytes.count
                writer.u8(2); writer.u16(200)
                do {
                    switch response {
                    case .protobuf(let bytes): writer.bytes.append(contentsOf: bytes)
                    case .json(let value): try ProtoEncoder.encode(value, as: schema, into: &writer.bytes)
                    case .encoded(let e): try e.bytes.withUnsafeBytes { try ProtoEncoder.encode(json: $0, as: schema, into: &writer.bytes) }
                    }
                    loop.counters.add(.protobufBodiesOut)
                } catch {
                    loop.counters.add(.protobufEncodeFailures)
                    loop.logger.error("the answer does not fit \(schema.name): \(error)")
                    writer.bytes.removeSubrange(start...)
                    writer.u8(1); writer.u16(UInt16(PomeloCode.fail))
                }
                return
            }
            switch outcome {
            case .response(.encoded(let e)):
                writer.u8(0); writer.u16(200)
                writer.bytes.append(contentsOf: e.bytes)
            case .response(.json(let value)):
                writer.u8(0); writer.u16(200)
                value.write(into: &writer.bytes)
            case .response(.protobuf):
                // Made only for a client that uses protobuf on this route.
                loop.counters.add(.protobufEncodeFailures)
                writer.u8(1); writer.u16(UInt16(PomeloCode.fail))
            case .error(let code):
                writer.u8(1); writer.u16(UInt16(clamping: code))
            case .none:
                break
            }
        }
    }

    /// Publishes an answer of `kind` to `reply`, unless there is none (a
    /// notify) or its deadline passed (the asker has given up: counted).
    private func answer(_ reply: [UInt8]?, _ kind: ClusterKind, deadline: UInt64, _ fill: (inout ClusterWriter) -> Void) {
        guard let reply else { return }
        if loop.now > deadline {
            loop.counters.add(.backendExpired)
            return
        }
        writer = ClusterWriter(reusing: writer.bytes)
        if riders.count > 0 {
            writer.u8(ClusterKind.pushesThenResponse.rawValue)
            writer.u16(UInt16(riders.count))
            writer.bytes.append(contentsOf: riders.bytes)
            riders.end()
        }
        writer.u8(kind.rawValue)
        fill(&writer)
        reply.withUnsafeBytes { r in
            writer.bytes.withUnsafeBytes { _ = link.publish(subject: r, $0) }
        }
    }

    // MARK: Remote calls

    /// Starts a call (on this loop): here when the pick is this server,
    /// otherwise over NATS; `completion` runs on this loop exactly once.
    func call(_ serverType: String, _ name: String, _ arguments: JSONValue, session: Session?, server: String?,
              timeoutMilliseconds: Int, completion: @escaping @Sendable (Result<JSONValue, any Error>) -> Void) {
        loop.counters.add(.remoteCalls)
        let target: ClusterServer?
        if let server { target = live.byID[server] } else {
            target = cluster.pick(Substring(serverType), session: session, request: nil, live: live)
        }
        guard let target else {
            loop.counters.add(.remoteCallFailures)
            return completion(.failure(RemoteError(code: PomeloCode.fail, message: "no live \(server ?? serverType) server")))
        }
        if target.id == cluster.me.id {
            let method = cluster.remotes[name]
            Task(executorPreference: loop) {
                do { completion(.success(try await Application.callLocally(method, name, arguments))) } catch {
                    self.loop.counters.add(.remoteCallFailures)
                    completion(.failure(error))
                }
            }
            return
        }
        guard link.isUp else {
            loop.counters.add(.remoteCallFailures)
            return completion(.failure(RemoteError(code: PomeloCode.busy, message: "NATS is disconnected")))
        }
        writer = ClusterWriter(reusing: writer.bytes)
        writer.u8(ClusterKind.call.rawValue)
        writer.string16(name)
        writer.u32(UInt32(clamping: timeoutMilliseconds))
        arguments.write(into: &writer.bytes)
        let token = newToken()
        let loopIndex = Int((session.map { $0.id >> 8 } ?? UInt64(loop.index)) % UInt64(target.loops))
        let sent = withReplySubject(token) { send(to: subject(target.id, loop: loopIndex), replyTo: $0) }
        guard sent == .sent || sent == .buffered else {
            loop.counters.add(.remoteCallFailures)
            return completion(.failure(RemoteError(code: PomeloCode.fail, message: "the arguments of \(name) are too large")))
        }
        calls[token] = PendingCall(name: name, deadline: loop.now + UInt64(timeoutMilliseconds), completion: completion)
    }

    /// Serves a call from another server.
    func serveCall(_ reader: inout ClusterReader, replyTo: UnsafeRawBufferPointer?) throws(ClusterWireError) {
        let name = try reader.string16()
        let budget = try reader.u32()
        guard let arguments = try? JSON.parse(reader.rest()) else { throw .badValue }
        let reply = replyTo.map(Array.init)
        let deadline = loop.now + UInt64(budget)
        loop.counters.add(.remoteCallsServed)
        if cluster.draining.load(ordering: .relaxed) || running >= cluster.options.maxInFlightPerLoop {
            loop.counters.add(.backendBusy)
            return answerCall(reply, .failure(RemoteError(code: PomeloCode.busy, message: "\(cluster.me.id) is busy")), deadline: .max)
        }
        running += 1
        let method = cluster.remotes[name]
        Task(executorPreference: loop) {
            let result: Result<JSONValue, any Error>
            do { result = .success(try await Application.callLocally(method, name, arguments)) } catch { result = .failure(error) }
            self.running -= 1
            self.answerCall(reply, result, deadline: deadline)
            self.loop.noteIfDrained()
        }
    }

    private func answerCall(_ reply: [UInt8]?, _ result: Result<JSONValue, any Error>, deadline: UInt64) {
        answer(reply, .result, deadline: deadline) { writer in
            switch result {
            case .success(let value):
                writer.u8(0); writer.u16(200)
                value.write(into: &writer.bytes)
            case .failure(let error):
                let e = error as? RemoteError ?? RemoteError(code: (error as? CodedError)?.code ?? PomeloCode.fail, message: "\(error)")
                writer.u8(1); writer.u16(UInt16(clamping: e.code))
                writer.bytes.append(contentsOf: e.message.utf8)
            }
        }
    }

    func onResult(_ token: UInt64, _ reader: inout ClusterReader) throws(ClusterWireError) {
        let status = try reader.u8()
        let code = try reader.u16()
        let rest = reader.rest()
        guard let call = calls.removeValue(forKey: token) else {
            // While the link moves off a lame-duck server an answer may
            // arrive on both connections: the copy is not late.
            if !link.isMoving { loop.counters.add(.forwardLateAnswers) }
            return
        }
        if status == 0, let value = try? JSON.parse(rest) {
            call.completion(.success(value))
        } else {
            loop.counters.add(.remoteCallFailures)
            call.completion(.failure(RemoteError(code: Int(code), message: String(decoding: rest, as: UTF8.self))))
        }
    }

    func expireCalls(now: UInt64) {
        for (token, call) in calls where call.deadline <= now {
            calls[token] = nil
            loop.counters.add(.remoteCallFailures)
            call.completion(.failure(RemoteError(code: PomeloCode.timeout, message: "\(call.name): no answer in time")))
        }
    }
}

/// A value handed to a task that runs on the loop it came from (the task's
/// executor preference is that loop): it never crosses threads.
struct LoopBound<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

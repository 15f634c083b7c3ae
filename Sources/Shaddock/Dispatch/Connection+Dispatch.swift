import Logging
import ShaddockProtocol

/// From a decoded request to its one answer: the built-in filters, the
/// before-filters, the handler, the response, the after-filters. A route
/// whose filters and handler are all synchronous runs inline on the borrowed
/// receive buffer and allocates nothing; anything `async` makes the request
/// own its body and run as a task on this loop (see InFlightRequest).
extension Connection {
    func dispatch(_ request: Request) {
        let core = loop.core
        guard let entry = core.entry(for: request.routeCode) else {
            counters.add(.unknownRoutes)
            logger.warning("no handler for route \(request.route)")
            if request.kind == .request { writeErrorResponse(id: request.id, code: PomeloCode.fail, route: request.routeCode) }
            return
        }
        if let maxLag = core.builtins.maxLag, loop.lagMilliseconds > maxLag {
            counters.add(.tooBusyRefusals)
            logger.warning("refused \(request.route): the loop lags \(loop.lagMilliseconds) ms (toobusy)")
            if request.kind == .request { writeErrorResponse(id: request.id, code: PomeloCode.busy, route: request.routeCode) }
            return
        }
        if core.builtins.serialTimeout != nil {
            if session.serial.busy {
                guard !session.serial.isFull else {
                    counters.add(.serialQueueFull)
                    logger.warning("refused \(request.route): \(SerialQueue.capacity) requests already wait (serial)")
                    if request.kind == .request { writeErrorResponse(id: request.id, code: PomeloCode.busy, route: request.routeCode) }
                    return
                }
                session.serial.push(request.owned())
                return
            }
            session.serial.busy = true
        }
        run(request, entry)
    }

    private func run(_ request: Request, _ entry: RouteEntry) {
        if entry.isAsync {
            InFlightRequest.start(request.owned(), entry, on: self)
            return
        }
        if entry.forwards, let endpoint = loop.cluster {
            return forward(request, entry, endpoint)
        }
        let started = loop.core.builtins.slowHandler != nil ? ContinuousClock.now : nil
        let outcome = loop.runInline(request, entry, session)
        answer(request, outcome)
        for case .sync(let filter) in entry.after { filter(request, session, outcome) }
        if let started { checkSlow(request, since: started) }
        releaseSerial()
    }

    /// doForward with synchronous filters: the global before-filters run
    /// here, then the request leaves on this loop's NATS link; the answer
    /// is written when it comes back to this loop (see PendingForward).
    private func forward(_ request: Request, _ entry: RouteEntry, _ endpoint: ClusterEndpoint) {
        do {
            for case .sync(let filter) in entry.before { try filter(request, session) }
        } catch {
            let outcome = failure(FilterRejection(error: error), request)
            answer(request, outcome)
            for case .sync(let filter) in entry.after { filter(request, session, outcome) }
            releaseSerial()
            return
        }
        // The after-filters see the request once the answer came, when the
        // receive buffer holds other bytes: they get a copy of the body.
        let kept = entry.after.isEmpty
            ? Request(kind: request.kind, id: request.id, routeCode: request.routeCode,
                      dictionary: request.dictionary, body: GatewayCore.emptyObject, protobuf: request.protobuf)
            : request.owned()
        endpoint.forward(request, session: session, target: .connection(self, kept, entry))
    }

    /// Sends the one answer a request gets (nothing for a notify).
    func answer(_ request: Request, _ outcome: Outcome) {
        guard request.kind == .request, !isClosing else { return }
        switch outcome {
        case .response(let r): writeResponse(id: request.id, r, route: request.routeCode)
        case .error(let code): writeErrorResponse(id: request.id, code: code, route: request.routeCode)
        case .none: break
        }
    }

    /// What a thrown error answers: its own code if it has one, else 500.
    func failure(_ error: any Error, _ request: Request) -> Outcome {
        loop.failure(error, request, logger: logger)
    }

    func checkSlow(_ request: Request, since started: ContinuousClock.Instant) {
        guard let threshold = loop.core.builtins.slowHandler else { return }
        let elapsed = ContinuousClock.now - started
        let ms = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        if ms >= Int64(threshold) {
            counters.add(.slowHandlers)
            logger.warning("\(request.route) took \(ms) ms (time filter threshold \(threshold) ms)")
        }
    }

    /// The serial filter: the request holding the session is done (or timed
    /// out), so the next waiting one starts.
    func releaseSerial() {
        guard loop.core.builtins.serialTimeout != nil else { return }
        guard !isClosing, let next = session.serial.pop() else {
            session.serial.busy = false
            return
        }
        guard let entry = loop.core.entry(for: next.routeCode) else { return releaseSerial() }
        run(next, entry)
    }
}

/// A before-filter stopped the request (told apart from a handler failure for
/// the counters and the log).
struct FilterRejection: Error {
    let error: any Error
}

extension GatewayCore {
    /// The handler and filters for a route code: this process's handler, or
    /// the forwarding seam for routes handled elsewhere.
    func entry(for code: UInt16) -> RouteEntry? {
        routes[Int(code)] ?? forwardEntry
    }
}

extension EventLoop {
    /// What a thrown error answers: its own code if it has one, else 500.
    func failure(_ error: any Error, _ request: Request, logger: Logger) -> Outcome {
        let code: Int
        if let rejection = error as? FilterRejection {
            counters.add(.filterRejections)
            code = (rejection.error as? CodedError)?.code ?? PomeloCode.fail
            logger.info("filter refused \(request.route): \(rejection.error)")
        } else if let forwarded = error as? ForwardError {
            code = forwarded.code
        } else if let bad = error as? BadProtobufBody {
            counters.add(.badProtobufBodies)
            code = PomeloCode.fail
            logger.info("\(request.route): \(bad)")
        } else {
            counters.add(.handlerErrors)
            code = (error as? CodedError)?.code ?? PomeloCode.fail
            logger.error("handler \(request.route) failed: \(error)")
        }
        return .error(code: code)
    }

    /// The before-filters and the handler of a route whose filters and
    /// handler are all synchronous, inline: what the request comes to.
    func runInline(_ request: Request, _ entry: RouteEntry, _ session: Session) -> Outcome {
        do {
            do {
                for case .sync(let filter) in entry.before { try filter(request, session) }
            } catch {
                throw FilterRejection(error: error)
            }
            guard case .sync(let handler) = entry.handler else { preconditionFailure("an async route ran inline") }
            let response = try handler(request, session)
            return request.kind == .request ? .response(response) : .none
        } catch {
            return failure(error, request, logger: logger)
        }
    }

    /// The same for any route, as a task: filters and handler awaited.
    func runAwaiting(_ request: Request, _ entry: RouteEntry, _ session: Session) async -> Outcome {
        do {
            do {
                for filter in entry.before {
                    switch filter {
                    case .sync(let f): try f(request, session)
                    case .async(let f): try await f(request, session)
                    }
                }
            } catch {
                throw FilterRejection(error: error)
            }
            let response: Response
            switch entry.handler {
            case .sync(let h): response = try h(request, session)
            case .async(let h): response = try await h(request, session)
            }
            return request.kind == .request ? .response(response) : .none
        } catch {
            return failure(error, request, logger: logger)
        }
    }
}

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
            if request.kind == .request { writeErrorResponse(id: request.id, code: PomeloCode.fail) }
            return
        }
        if let maxLag = core.builtins.maxLag, loop.lagMilliseconds > maxLag {
            counters.add(.tooBusyRefusals)
            logger.warning("refused \(request.route): the loop lags \(loop.lagMilliseconds) ms (toobusy)")
            if request.kind == .request { writeErrorResponse(id: request.id, code: PomeloCode.busy) }
            return
        }
        if core.builtins.serialTimeout != nil {
            if session.serial.busy {
                guard !session.serial.isFull else {
                    counters.add(.serialQueueFull)
                    logger.warning("refused \(request.route): \(SerialQueue.capacity) requests already wait (serial)")
                    if request.kind == .request { writeErrorResponse(id: request.id, code: PomeloCode.busy) }
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
        let started = loop.core.builtins.slowHandler != nil ? ContinuousClock.now : nil
        let outcome: Outcome
        do {
            do {
                for case .sync(let filter) in entry.before { try filter(request, session) }
            } catch {
                throw FilterRejection(error: error)
            }
            guard case .sync(let handler) = entry.handler else { preconditionFailure("an async route ran inline") }
            let response = try handler(request, session)
            outcome = request.kind == .request ? .response(response) : .none
        } catch {
            outcome = failure(error, request)
        }
        answer(request, outcome)
        for case .sync(let filter) in entry.after { filter(request, session, outcome) }
        if let started { checkSlow(request, since: started) }
        releaseSerial()
    }

    /// Sends the one answer a request gets (nothing for a notify).
    func answer(_ request: Request, _ outcome: Outcome) {
        guard request.kind == .request, !isClosing else { return }
        switch outcome {
        case .response(let r): writeResponse(id: request.id, r)
        case .error(let code): writeErrorResponse(id: request.id, code: code)
        case .none: break
        }
    }

    /// What a thrown error answers: its own code if it has one, else 500.
    func failure(_ error: any Error, _ request: Request) -> Outcome {
        let code: Int
        if let rejection = error as? FilterRejection {
            counters.add(.filterRejections)
            code = (rejection.error as? CodedError)?.code ?? PomeloCode.fail
            logger.info("filter refused \(request.route): \(rejection.error)")
        } else {
            counters.add(.handlerErrors)
            code = (error as? CodedError)?.code ?? PomeloCode.fail
            logger.error("handler \(request.route) failed: \(error)")
        }
        return .error(code: code)
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

import ShaddockProtocol

/// A request whose filters or handler are `async`. It runs as a task with its
/// loop as executor preference, so the code between awaits runs on the loop
/// (where its session lives) and the answer is written there. The loop keeps
/// it in `inFlight` until it is done, and each timer tick checks its
/// deadlines (timeout and serial filters).
final class InFlightRequest: @unchecked Sendable {
    let token: UInt64
    let connection: Connection
    let request: Request
    let entry: RouteEntry
    /// Loop time after which the timeout filter answers 504 (0: none).
    let deadline: UInt64
    /// Loop time after which the serial filter lets the next request start
    /// (0: this request does not hold the session).
    var serialDeadline: UInt64
    var answered = false
    let started: ContinuousClock.Instant?

    private init(token: UInt64, connection: Connection, request: Request, entry: RouteEntry) {
        let loop = connection.loop
        let builtins = loop.core.builtins
        self.token = token
        self.connection = connection
        self.request = request
        self.entry = entry
        deadline = builtins.requestTimeout.map { loop.now + $0 } ?? 0
        serialDeadline = builtins.serialTimeout.map { loop.now + $0 } ?? 0
        started = builtins.slowHandler != nil ? ContinuousClock.now : nil
    }

    static func start(_ request: Request, _ entry: RouteEntry, on connection: Connection) {
        let loop = connection.loop
        loop.nextInFlight &+= 1
        let flight = InFlightRequest(token: loop.nextInFlight, connection: connection, request: request, entry: entry)
        loop.inFlight[flight.token] = flight
        connection.counters.add(.asyncRequests)
        Task(executorPreference: loop) { await flight.run() }
    }

    private func run() async {
        let session = connection.session
        let outcome = await connection.loop.runAwaiting(request, entry, session)
        // The executor preference brings the task back to the loop after
        // every await; the check keeps a mistaken hop from touching the
        // connection on another thread.
        precondition(connection.loop.isCurrent, "an async request finished off its loop")
        let sent: Outcome
        if answered {
            // The timeout filter already answered.
            connection.counters.add(.lateAnswers)
            sent = .error(code: PomeloCode.timeout)
        } else {
            answered = true
            connection.answer(request, outcome)
            sent = outcome
        }
        for filter in entry.after {
            switch filter {
            case .sync(let f): f(request, session, sent)
            case .async(let f): await f(request, session, sent)
            }
        }
        if let started { connection.checkSlow(request, since: started) }
        connection.loop.inFlight[token] = nil
        if serialDeadline != 0 { connection.releaseSerial() }
        if connection.loop.draining != nil { connection.loop.requestFinished(on: connection) }
    }

    /// A drain's deadline came first: the request is answered 504 now and
    /// its own answer, if it comes, is dropped.
    func abandon() {
        answered = true
        connection.logger.warning("\(request.route) still running at the drain deadline: answering \(PomeloCode.timeout)")
        connection.answer(request, .error(code: PomeloCode.timeout))
    }

    /// A timer tick: answer 504 past the deadline; let the next serial
    /// request start past the serial timeout.
    func check(now: UInt64) {
        if deadline != 0 && !answered && now >= deadline {
            answered = true
            connection.counters.add(.requestTimeouts)
            connection.logger.warning("\(request.route) has no answer after \(connection.loop.core.builtins.requestTimeout ?? 0) ms: answering \(PomeloCode.timeout)")
            connection.answer(request, .error(code: PomeloCode.timeout))
        }
        if serialDeadline != 0 && now >= serialDeadline {
            serialDeadline = 0
            connection.counters.add(.serialTimeouts)
            connection.logger.warning("\(request.route) held the session past the serial timeout: the next request starts")
            connection.releaseSerial()
        }
    }
}

extension EventLoop {
    func expireInFlight() {
        let now = self.now
        for flight in Array(inFlight.values) { flight.check(now: now) }
    }
}

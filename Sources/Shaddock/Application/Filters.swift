/// Filters wrap handlers, as in Pomelo: before-filters run in order before
/// the handler and may stop the request by throwing (a `CodedError` gives
/// the client its code, any other error `{"code":500}`); after-filters run in
/// order once the answer was sent, and see it without being able to change
/// it. Filters are global or for one server type's routes.
public typealias BeforeFilter = @Sendable (Request, Session) throws -> Void
public typealias AsyncBeforeFilter = @Sendable (Request, Session) async throws -> Void
public typealias AfterFilter = @Sendable (Request, Session, Outcome) -> Void
public typealias AsyncAfterFilter = @Sendable (Request, Session, Outcome) async -> Void

/// What a request came to, as after-filters see it.
public enum Outcome: Sendable {
    /// The handler's response (sent to the client).
    case response(Response)
    /// The client got `{"code": code}`.
    case error(code: Int)
    /// A notify: nothing is sent.
    case none
}

enum Before {
    case sync(BeforeFilter)
    case async(AsyncBeforeFilter)
}

enum After {
    case sync(AfterFilter)
    case async(AsyncAfterFilter)
}

/// Pomelo's built-in handler filters, for every route.
public enum BuiltinFilter: Sendable {
    /// One request at a time per session, in arrival order. A request that
    /// holds the session longer than the timeout lets the next one start
    /// (logged and counted as `serialTimeouts`); it still gets its answer.
    case serial(timeoutMilliseconds: Int)
    /// Logs a warning for every request whose handler took longer.
    case time(thresholdMilliseconds: Int)
    /// Answers `{"code":504}` to a request that has no answer after this
    /// long (checked every timer tick); the late answer is discarded.
    case timeout(milliseconds: Int)
    /// Answers `{"code":503}` while the loop's lag passes the bound.
    case tooBusy(maxLagMilliseconds: Int)
}

/// The built-ins in effect (from the application and the configuration).
struct BuiltinSettings: Sendable {
    var serialTimeout: UInt64?
    var slowHandler: UInt64?
    var requestTimeout: UInt64?
    var maxLag: UInt64?

    mutating func apply(_ f: BuiltinFilter) {
        switch f {
        case .serial(let ms): serialTimeout = UInt64(max(ms, 1))
        case .time(let ms): slowHandler = UInt64(max(ms, 0))
        case .timeout(let ms): requestTimeout = UInt64(max(ms, 1))
        case .tooBusy(let ms): maxLag = UInt64(max(ms, 1))
        }
    }
}

/// Everything that runs for one route: its handler and its filters, global
/// ones first.
struct RouteEntry {
    let handler: RouteHandler
    let before: [Before]
    let after: [After]
    /// Whether the request must own its body and run as a task.
    let isAsync: Bool
    /// doForward: the handler sends the request to another server. With
    /// synchronous filters it takes the fast path (no task; the answer is
    /// written when it arrives on the loop).
    let forwards: Bool
    /// Whether anything reads the body as JSON: not so for a typed handler
    /// or doForward without filters, which take a protobuf body as it came
    /// (and check it where they decode it).
    let readsJSONBody: Bool

    init(handler: RouteHandler, before: [Before], after: [After], forwards: Bool = false, typed: Bool = false) {
        self.handler = handler
        self.before = before
        self.after = after
        self.forwards = forwards
        readsJSONBody = !((typed || forwards) && before.isEmpty && after.isEmpty)
        var isAsync = false
        if case .async = handler, !forwards { isAsync = true }
        for b in before { if case .async = b { isAsync = true } }
        for a in after { if case .async = a { isAsync = true } }
        self.isAsync = isAsync
    }
}

/// A session's serial-filter state: whether a request holds the session, and
/// the requests waiting (each owns its body). Bounded: a request arriving
/// at a full queue is answered `{"code":503}`.
struct SerialQueue {
    static let capacity = 64
    var busy = false
    var waiting: [Request] = []
    var head = 0

    var isFull: Bool { waiting.count - head >= Self.capacity }

    mutating func push(_ r: Request) { waiting.append(r) }

    mutating func pop() -> Request? {
        guard head < waiting.count else {
            if head > 0 { waiting.removeAll(keepingCapacity: true); head = 0 }
            return nil
        }
        let r = waiting[head]
        head += 1
        if head == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            head = 0
        }
        return r
    }

    mutating func cancelAll() {
        waiting.removeAll()
        head = 0
        busy = false
    }
}

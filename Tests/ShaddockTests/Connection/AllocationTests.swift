import CMallocCounter
import Dispatch
@testable import Shaddock
import ShaddockExample
import ShaddockProtocol
import Testing

/// The allocation counter of Tests/CMallocCounter, seen from Swift.
enum MallocCounter {
    /// False in builds where the replacements are compiled out (sanitizers)
    /// or not what the process calls; the allocation tests are then skipped.
    static let isActive = shd_malloc_counter_active() != 0

    static let inactive: Comment = """
        the malloc counter is not in the call path of this build (a sanitizer \
        supplies its own malloc), so allocations cannot be counted
        """

    /// Allocations `body` makes on the calling thread.
    static func count(_ body: () throws -> Void) rethrows -> UInt64 {
        let before = shd_counted_allocations()
        shd_count_allocations_on_this_thread(1)
        defer { shd_count_allocations_on_this_thread(0) }
        try body()
        return shd_counted_allocations() - before
    }
}

extension TestServer {
    /// Runs `body` on the (first) loop's thread and waits until it has run.
    func onLoop(_ body: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        server.loops[0].execute { _ in
            body()
            done.signal()
        }
        done.wait()
    }

    /// Allocations the loop thread makes while `work` drives it from this
    /// thread. Only the loop thread is counted: the client's own allocations
    /// and other tests' are not.
    func loopAllocations(during work: () throws -> Void) rethrows -> UInt64 {
        let before = shd_counted_allocations()
        onLoop { shd_count_allocations_on_this_thread(1) }
        do {
            try work()
        } catch {
            // A loop thread left counting would add to every later window.
            onLoop { shd_count_allocations_on_this_thread(0) }
            throw error
        }
        onLoop { shd_count_allocations_on_this_thread(0) }
        return shd_counted_allocations() - before
    }
}

/// A warm loop serves synchronous requests and echoes WebSocket frames
/// without a single malloc per message: the receive buffer, the pooled write
/// chunks and the JSON scratch are reused, headers are built on the stack.
/// The count covers everything the loop thread does meanwhile (reads, frame
/// and package parsing, route lookup, dispatch, encoding, flushes, timers).
///
/// The counter is one global total fed by the threads switched on, so these
/// tests run one at a time; other suites still run alongside, uncounted.
@Suite(.serialized, .enabled(if: MallocCounter.isActive, MallocCounter.inactive))
struct AllocationTests {
    static let requests = 1_000
    /// Requests (or frames) that go out in one write, in the batch rounds.
    static let batch = 10
    /// Allocations allowed per counted window, whatever its length. Nothing
    /// is expected; a failure names the count so the cause can be traced with
    /// SHD_MALLOC_TRAP=1 under a debugger.
    static let allowance: UInt64 = 0

    static let jsonRoute = "connector.allocHandler.json"

    /// The example app, plus a handler answering a JSON value built once:
    /// its answer is encoded into the loop's reused scratch every time.
    static func app(msg: String = "encoded per request") -> Application {
        let app = ExampleApp.make()
        let reply: JSONValue = ["code": 200, "msg": .string(msg)]
        app.handle(jsonRoute) { _, _ in .json(reply) }
        return app
    }

    /// The counter really sees allocations made inside the Swift runtime
    /// (swift_allocObject in libswiftCore calls malloc): without that, a
    /// zero below would prove nothing.
    @Test func counterSeesSwiftAllocations() {
        final class Box { var value = 0 }
        var kept: [Box] = []
        let n = MallocCounter.count {
            for i in 0..<10 {
                let box = Box()
                box.value = i
                kept.append(box)
            }
        }
        #expect(kept.count == 10)
        #expect(n >= 10, "10 objects allocated, \(n) counted")
        #expect(MallocCounter.count {} == 0)
    }

    @Test(arguments: TransportKind.allCases)
    func requestsAllocateNothingPerMessage(_ kind: TransportKind) throws {
        let server = try TestServer(app: Self.app())
        let client = try PomeloTestClient.ready(kind, port: server.port)
        let dict = try #require((client.handshakeResponse?["sys"] as? [String: Any])?["dict"] as? [String: Int])
        let jsonCode = try #require(dict[Self.jsonRoute].map(UInt16.init))
        let driver = RequestDriver(client: client, jsonCode: jsonCode)

        // Warm up: the receive buffer, write chunks, scratch and tables grow
        // to their working sizes here, once.
        try driver.run(200)

        let once = try server.loopAllocations { try driver.run(Self.requests) }
        let twice = try server.loopAllocations { try driver.run(2 * Self.requests) }
        Self.expectFlat(once, twice, "\(kind): ", per: driver.per, of: "requests")
        #expect(server.counter(.responses) == UInt64(driver.answered))
    }

    /// With permessage-deflate: the requests come compressed and are
    /// inflated by the loop's stream, the answers are compressed by its
    /// deflate stream, both reset per message.
    @Test func deflatedRequestsAllocateNothingPerMessage() throws {
        let msg = String(repeating: "encoded per request, ", count: 8)
        let server = try TestServer(app: Self.app(msg: msg)) {
            $0.compression.deflate = true
            $0.compression.threshold = 16
        }
        let (client, agreed) = try PomeloTestClient.websocketDeflate(port: server.port)
        try #require(agreed != nil)
        _ = try client.connectAndHandshake()
        let dict = try #require((client.handshakeResponse?["sys"] as? [String: Any])?["dict"] as? [String: Int])
        let driver = RequestDriver(client: client, jsonCode: try #require(dict[Self.jsonRoute].map(UInt16.init)), msg: msg)
        try driver.run(200)
        let compressed = server.counter(.deflateMessagesOut)
        let once = try server.loopAllocations { try driver.run(Self.requests) }
        let twice = try server.loopAllocations { try driver.run(2 * Self.requests) }
        Self.expectFlat(once, twice, "deflate: ", per: driver.per, of: "requests")
        #expect(server.counter(.deflateMessagesOut) - compressed >= UInt64(Self.requests), "the answers were compressed")
        #expect(server.counter(.deflateMessagesIn) >= UInt64(3 * Self.requests))
    }

    @Test func echoedFramesAllocateNothingPerFrame() throws {
        let server = try TestServer(mode: .echo)
        let (client, response) = try WebSocketTestClient.connect(port: server.port)
        try #require(response.statusCode == 101)
        let driver = EchoDriver(client: client)

        try driver.run(200)

        let once = try server.loopAllocations { try driver.run(Self.requests) }
        let twice = try server.loopAllocations { try driver.run(2 * Self.requests) }
        Self.expectFlat(once, twice, "", per: driver.per, of: "frames")
    }

    /// The example's `chat.chatHandler.send`, in a room of three on one
    /// loop, allocates nothing, in the debug build the tests run: the body's
    /// members are read in place, the channel is found in the loop's cache,
    /// and the push is written once straight into the loop's arena and
    /// linked for every member (nothing per member, no shared copy).
    /// With permessage-deflate, the push is compressed once into the arena
    /// for the members that agreed on it.
    @Test(arguments: [false, true])
    func aChatSendAllocatesNothing(deflate: Bool) throws {
        let server = try TestServer(app: Self.app()) {
            $0.compression.deflate = deflate
            $0.compression.threshold = 16
        }
        let members = try ["ann", "bob", "cy"].enumerated().map { i, uid in
            let client = i == 1 ? try PomeloTestClient.tcp(port: server.port)
                : deflate ? try PomeloTestClient.websocketDeflate(port: server.port).client
                : try PomeloTestClient.websocket(port: server.port)
            _ = try client.connectAndHandshake()
            try client.request(route: "connector.entryHandler.login", id: 1, body: #"{"uid":"\#(uid)","rid":"trio"}"#)
            while true {
                let m = try client.readMessage(skipHeartbeats: true)
                if m.type == .response { break }
            }
            return client
        }
        // The earlier members hear of the later ones.
        for (client, added) in zip(members, [2, 1]) {
            for _ in 0..<added { #expect(try client.readMessage(skipHeartbeats: true).type == .push) }
        }
        let line = "hi, " + String(repeating: "hello ", count: 10)
        let chatBody = #"{"msg":"\#(line)","from":"ann","target":"*"}"#
        let sender = members[0]
        var id = 1
        func chat(_ n: Int) throws {
            for _ in 0..<n {
                id += 1
                try sender.request(route: "chat.chatHandler.send", id: id, body: #"{"content":"\#(line)","target":"*"}"#)
                var answered = false, pushed = false
                while !(answered && pushed) {
                    let m = try sender.readMessage(skipHeartbeats: true)
                    if m.type == .push { pushed = true } else if m.type == .response, m.id == id { answered = true }
                }
                for other in members.dropFirst() {
                    let m = try other.readMessage(skipHeartbeats: true)
                    #expect(m.type == .push && m.bodyString == chatBody)
                }
            }
        }
        try chat(200)
        let once = try server.loopAllocations { try chat(Self.requests) }
        let twice = try server.loopAllocations { try chat(2 * Self.requests) }
        Self.expectFlat(once, twice, deflate ? "deflate: " : "", per: { "\($0) chats in a room of three" }, of: "chats")
        if deflate { #expect(server.counter(.deflateMessagesOut) >= UInt64(3 * Self.requests), "the pushes were compressed") }
    }

    /// N and 2N messages each stay within the allowance, and twice the
    /// messages never cost more.
    static func expectFlat(_ once: UInt64, _ twice: UInt64, _ prefix: String, per: (Int) -> String, of what: String) {
        #expect(once <= allowance, "\(prefix)\(once) allocations on the loop for \(per(requests))")
        #expect(twice <= allowance, "\(prefix)\(twice) allocations on the loop for \(per(2 * requests))")
        #expect(twice <= once, "\(prefix)allocations grow with the number of \(what): \(once) then \(twice)")
    }
}

/// Drives a Pomelo connection the way a game client does: one request at a
/// time (each waiting for its answer), heartbeats, and rounds of several
/// requests in one write (over WebSocket, several packages in one message).
/// Both handlers are synchronous: the example's entry route (an answer
/// encoded once) and a JSON value encoded per request; routes go both as
/// strings and as dictionary codes.
final class RequestDriver {
    let client: PomeloTestClient
    let jsonCode: UInt16
    private var nextID = 1
    private(set) var answered = 0

    static let entryReply = Array(#"{"code":200,"msg":"game server is ok."}"#.utf8)
    /// The JSON route's answer (`AllocationTests.app(msg:)`).
    let jsonReply: [UInt8]

    init(client: PomeloTestClient, jsonCode: UInt16, msg: String = "encoded per request") {
        self.client = client
        self.jsonCode = jsonCode
        jsonReply = Array(#"{"code":200,"msg":"\#(msg)"}"#.utf8)
    }

    /// What `run(n)` sends: n single requests and as many again in batches.
    func per(_ n: Int) -> String { "\(n) single and \(n) batched requests" }

    private func message(_ id: Int) -> (bytes: [UInt8], reply: [UInt8]) {
        let body = Array("{}".utf8)
        switch id % 3 {
        case 0:
            return (PomeloWire.encodeMessage(type: .request, id: id, route: .name("connector.entryHandler.entry"), body: body),
                    Self.entryReply)
        case 1:
            return (PomeloWire.encodeMessage(type: .request, id: id, route: .code(jsonCode), body: body), jsonReply)
        default:
            return (PomeloWire.encodeMessage(type: .request, id: id, route: .name(AllocationTests.jsonRoute), body: body),
                    jsonReply)
        }
    }

    private func expectAnswer(_ id: Int, _ reply: [UInt8]) throws {
        let m = try client.readMessage(skipHeartbeats: true)
        guard m.type == .response, m.id == id, m.body == reply else {
            throw TestClientError.protocolViolation("request \(id) answered \(m.type) \(m.id ?? -1) \(m.bodyString ?? "")")
        }
        answered += 1
    }

    /// `n` requests one at a time, then `n` more in rounds of
    /// `AllocationTests.batch`, a heartbeat every 100 requests.
    func run(_ n: Int) throws {
        for i in 0..<n {
            let id = nextID
            nextID += 1
            let (bytes, reply) = message(id)
            try client.sendPackage(type: PomeloPackageType.data, body: bytes)
            try expectAnswer(id, reply)
            if i % 100 == 99 { try client.heartbeat() }
        }
        var sent = 0
        while sent < n {
            let count = min(AllocationTests.batch, n - sent)
            let first = nextID
            var packages: [(UInt8, [UInt8])] = []
            var replies: [[UInt8]] = []
            for _ in 0..<count {
                let (bytes, reply) = message(nextID)
                nextID += 1
                packages.append((PomeloPackageType.data, bytes))
                replies.append(reply)
            }
            if sent % 100 == 0 { packages.append((PomeloPackageType.heartbeat, [])) }
            try client.sendPackages(packages)
            for (k, reply) in replies.enumerated() { try expectAnswer(first + k, reply) }
            sent += count
        }
    }
}

/// Drives the echo server: masked binary frames of varied lengths (7-bit and
/// 16-bit length forms) one at a time, then rounds of several frames in one
/// write, and a ping every 100 frames.
final class EchoDriver {
    let client: WebSocketTestClient
    private var sequence = 0

    init(client: WebSocketTestClient) { self.client = client }

    /// What `run(n)` sends: n single frames and as many again in batches.
    func per(_ n: Int) -> String { "\(n) single and \(n) batched frames" }

    private func payload() -> [UInt8] {
        sequence += 1
        let length = [0, 1, 17, 125, 126, 300, 1_000][sequence % 7]
        return (0..<length).map { UInt8(truncatingIfNeeded: $0 &+ sequence) }
    }

    private func expectEcho(_ payload: [UInt8]) throws {
        let m = try client.readMessage()
        guard m.opcode == WSOpcode.binary, m.payload == payload else {
            throw TestClientError.protocolViolation("echo of \(payload.count) bytes came back as opcode \(m.opcode), \(m.payload.count) bytes")
        }
    }

    func run(_ n: Int) throws {
        for i in 0..<n {
            let p = payload()
            try client.sendBinary(p)
            try expectEcho(p)
            if i % 100 == 99 {
                try client.sendPing([1, 2, 3])
                let pong = try client.readMessage()
                guard pong.opcode == WSOpcode.pong, pong.payload == [1, 2, 3] else {
                    throw TestClientError.protocolViolation("ping answered with opcode \(pong.opcode)")
                }
            }
        }
        var sent = 0
        while sent < n {
            let count = min(AllocationTests.batch, n - sent)
            let payloads = (0..<count).map { _ in payload() }
            try client.sendRaw(payloads.flatMap { WebSocketTestClient.rawFrameBytes(opcode: WSOpcode.binary, payload: $0) })
            for p in payloads { try expectEcho(p) }
            sent += count
        }
    }
}

import CShaddockLoop

/// What the gateway counts. Every refusal and every dropped input has a
/// counter, so nothing bad happens silently.
public enum GatewayCounter: Int, CaseIterable, Sendable {
    case connectionsAccepted
    case connectionsClosed
    case websocketUpgrades
    case httpRejected
    case tcpConnections
    /// Connections closed after their transport was decided: with the two
    /// above, the open connections by transport.
    case websocketClosed
    case tcpClosed
    case unknownTransport
    case handshakes
    case handshakeRefused
    case handshakeTimeouts
    /// TLS handshakes not completed within the handshake deadlines (from
    /// accept: `firstByteTimeoutSeconds`, then `handshakeTimeoutSeconds`).
    case tlsHandshakeTimeouts
    case heartbeatTimeouts
    /// Closed without sending a byte within `firstByteTimeoutSeconds`.
    case firstByteTimeouts
    /// Answered 408: no complete upgrade head within `requestHeadTimeoutSeconds`.
    case requestHeadTimeouts
    case heartbeatsReceived
    case ignoredBeforeAck
    case ignoredPackages
    case requests
    case notifies
    case responses
    case unknownRoutes
    case handlerErrors
    case invalidJSONBodies
    case badMessages
    case badPackages
    /// WebSocket messages (fragments joined) over `maxMessageBytes`, and
    /// input past the shim's buffering bound.
    case oversizeMessages
    /// WebSocket frames over `maxFrameBytes`.
    case oversizeFrames
    /// Pomelo packages over `maxPackageBytes`.
    case oversizePackages
    case websocketProtocolErrors
    case websocketTextRefused
    case websocketPings
    case websocketCloses
    case slowConsumerCloses
    case kicks
    /// Host filter: refused before any byte was read.
    case blacklistRefused
    case connectionLimitRefused
    /// Refused at accept: the address had `maxConnectionsPerAddress` open.
    case addressLimitRefused
    /// WebSocket upgrades whose client a trusted HTTP proxy named
    /// (`Forwarded`, `X-Forwarded-For`).
    case forwardedClients
    /// Client messages with Pomelo's gzip flag whose body does not inflate
    /// (corrupt, truncated, or past maxMessageBytes): answered 500.
    case badGzipBodies
    /// Compression (docs/compression.md): client messages inflated
    /// (permessage-deflate), messages sent compressed (permessage-deflate,
    /// Pomelo's gzip flag), and the bytes of those before and after.
    case deflateMessagesIn
    case deflateMessagesOut
    case gzipFlagMessagesOut
    case compressedBytesIn
    case compressedBytesOut
    case inflatedBytesIn
    case uncompressedBytesOut
    /// permessage-deflate messages that do not inflate (close 1007).
    case badDeflateMessages
    /// Connections granted client context takeover, and those refused it
    /// because the loop held `maxTakeoverSessions` already.
    case takeoverGranted
    case takeoverRefused
    /// pomelo-protobuf (docs/protobuf.md): request bodies decoded, answers
    /// encoded; bodies that did not decode (answered 500); answers that did
    /// not fit their schema (answered 500) and pushes that did not (not
    /// sent to protobuf clients).
    case protobufBodiesIn
    case protobufBodiesOut
    case badProtobufBodies
    case protobufEncodeFailures
    /// Requests (answered 429) and notifies (dropped) over the request rate.
    case rateLimited
    /// Connections kicked for going on past the request rate.
    case rateLimitKicks
    /// Sessions kicked by a drain, and requests it answered with an error
    /// because they were still running at its deadline.
    case drainKicks
    case drainAbandoned
    /// Push packages written to connections, and the batches (one write
    /// unit per connection per flush) that carried them.
    case pushes
    case pushBatches
    /// Pushes dropped by the `drop` slow-consumer policy.
    case pushesDropped
    /// Sessions kicked by the `kick` slow-consumer policy.
    case slowConsumerKicks
    /// Pushes to sessions that closed or had not finished their handshake.
    case pushesUndeliverable
    /// Pushes too large for a package (or with a route over 255 bytes).
    case pushesUnencodable
    /// Older sessions kicked because their uid logged in again.
    case multiLoginKicks
    /// Requests that ran as tasks (async handler or filter).
    case asyncRequests
    case filterRejections
    case tooBusyRefusals
    case serialQueueFull
    case serialTimeouts
    case requestTimeouts
    /// Answers that came after the timeout filter had answered.
    case lateAnswers
    case slowHandlers
    // The cluster (docs/cluster.md).
    /// NATS: connections made (first and re-), connections lost, messages
    /// and bytes each way, -ERR lines, unreadable input.
    case natsConnects
    case natsDisconnects
    case natsMessagesOut
    case natsMessagesIn
    case natsBytesOut
    case natsBytesIn
    case natsErrors
    case natsProtocolErrors
    /// Messages over the server's max_payload: refused, never sent.
    case natsPayloadRefused
    /// Messages dropped because the buffer for a down (or stalled) link was full.
    case natsBufferDropped
    /// Forwarded requests and notifies sent, and the outcomes of the
    /// requests: answered by the backend, no live server of the type (500),
    /// no responders (503), the backend's queue full (503), no answer in
    /// time (504), NATS down (503), not sent (too large or buffer full);
    /// and answers that came after the request had ended.
    case forwardedRequests
    case forwardedNotifies
    case forwardAnswered
    case forwardNoServer
    case forwardNoResponders
    case forwardBusy
    case forwardTimeouts
    case forwardDisconnected
    case forwardDropped
    case forwardLateAnswers
    /// A backend: forwarded requests received, dropped past their deadline,
    /// refused with 503 (queue full or draining).
    case backendRequests
    case backendExpired
    case backendBusy
    /// Remote calls made, served, and failed (any error the caller saw).
    case remoteCalls
    case remoteCallsServed
    case remoteCallFailures
    /// Cluster messages that could not be read.
    case clusterBadMessages
    /// Push and broadcast messages sent to other frontends (one per frontend
    /// per push), and received from other servers.
    case clusterPushesOut
    case clusterPushesIn
    case clusterPushesInAnswers
}

/// One loop's counters, written only by that loop's thread.
final class LoopCounters: @unchecked Sendable {
    let values: UnsafeMutablePointer<UInt64>

    init() {
        values = .allocate(capacity: GatewayCounter.allCases.count)
        values.initialize(repeating: 0, count: GatewayCounter.allCases.count)
    }

    deinit { values.deallocate() }

    @inline(__always) func add(_ c: GatewayCounter, _ n: UInt64 = 1) { shd_counter_add(values + c.rawValue, n) }

    func load(_ c: GatewayCounter) -> UInt64 { shd_counter_load(values + c.rawValue) }
}

/// The transport's own counters, from the C shim, summed over the loops.
public struct TransportStats: Sendable, Equatable {
    public var accepted: UInt64 = 0
    public var closed: UInt64 = 0
    public var open: UInt64 = 0
    /// Read callbacks that delivered bytes.
    public var reads: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var bytesOut: UInt64 = 0
    /// Write system calls made by flushes: at most one per connection per
    /// loop iteration, whatever number of messages it carried.
    public var writeCalls: UInt64 = 0
    public var flushes: UInt64 = 0
    /// Writes refused because a connection's unsent bytes would pass its bound.
    public var overflows: UInt64 = 0
    /// Connections closed for sending more unconsumed bytes than allowed.
    public var oversize: UInt64 = 0
    /// Write chunks taken from malloc (the rest come from the loops' pools).
    public var chunksAllocated: UInt64 = 0
    /// Items delivered through the loops' mailboxes (pushes, kicks and task
    /// jobs from other threads), and bounded ones refused because a mailbox
    /// was full.
    public var posted: UInt64 = 0
    public var postRefused: UInt64 = 0
    /// TLS handshakes completed, full and resumed, and by protocol version.
    public var tlsFullHandshakes: UInt64 = 0
    public var tlsResumedHandshakes: UInt64 = 0
    public var tls12: UInt64 = 0
    public var tls13: UInt64 = 0
    /// Handshakes after which the gateway's own record layer carries the
    /// connection (AES-GCM and ChaCha20-Poly1305); the others stay with
    /// OpenSSL's.
    public var tlsOwnRecordLayer: UInt64 = 0
    /// PROXY headers read: with a client address (version 1 and 2), and
    /// without one (a balancer's health check).
    public var proxyHeadersV1: UInt64 = 0
    public var proxyHeadersV2: UInt64 = 0
    public var proxyHeadersLocal: UInt64 = 0
    /// Connections closed over the PROXY protocol: a malformed or truncated
    /// header, a header (or, when required, any connection) from an
    /// untrusted peer, a trusted peer without the required header, a header
    /// not whole in time.
    public var proxyBad: UInt64 = 0
    public var proxyUntrusted: UInt64 = 0
    public var proxyMissing: UInt64 = 0
    public var proxyTimeouts: UInt64 = 0
    /// TLS failures: handshakes that failed (garbage, an alert, nothing in
    /// common), records that failed after the handshake, and plaintext
    /// connections refused because TLS is required.
    public var tlsHandshakeFailures: UInt64 = 0
    public var tlsBadRecords: UInt64 = 0
    public var tlsPlaintextRefused: UInt64 = 0

    mutating func add(_ s: shd_loop_stats_t) {
        accepted += s.accepted
        closed += s.closed
        open += s.open
        reads += s.reads
        bytesIn += s.bytes_in
        bytesOut += s.bytes_out
        writeCalls += s.write_calls
        flushes += s.flushes
        overflows += s.overflows
        oversize += s.oversize
        chunksAllocated += s.chunks_allocated
        posted += s.posted
        postRefused += s.post_refused
        tlsFullHandshakes += s.tls_handshakes
        tlsResumedHandshakes += s.tls_resumed
        tls12 += s.tls12
        tls13 += s.tls13
        tlsOwnRecordLayer += s.tls_own_records
        proxyHeadersV1 += s.proxy_v1
        proxyHeadersV2 += s.proxy_v2
        proxyHeadersLocal += s.proxy_local
        proxyBad += s.proxy_bad
        proxyUntrusted += s.proxy_untrusted
        proxyMissing += s.proxy_missing
        proxyTimeouts += s.proxy_timeout
        tlsHandshakeFailures += s.tls_handshake_failed
        tlsBadRecords += s.tls_bad_record
        tlsPlaintextRefused += s.tls_plaintext_refused
    }
}

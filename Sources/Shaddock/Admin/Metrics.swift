import CShaddockLoop

/// The numbers of one scrape. They are read when `/metrics` is asked for,
/// from the counters the loops keep anyway (each written by its own loop
/// thread, read here with relaxed atomic loads): the hot path does no work
/// for metrics.
struct MetricsSnapshot {
    /// Each loop's `GatewayCounter`s, by raw value.
    var counters: [[UInt64]] = []
    /// The C shim's counters, summed over the loops.
    var transport = TransportStats()
    /// Each loop's lag, in milliseconds.
    var lagMilliseconds: [UInt64] = []
    var sessions = 0
    var boundSessions = 0
    var draining = false
    /// Each loop's NATS link state (cluster only).
    var natsUp: [Bool] = []
    var liveServers: [String: Int] = [:]
    var process: ProcessSample?

    init() {}

    init(loops: [EventLoop], sessions: SessionService, draining: Bool) {
        for loop in loops {
            counters.append(GatewayCounter.allCases.map { loop.counters.load($0) })
            let stats = loop.stats()
            transport.add(stats)
            lagMilliseconds.append(stats.lag_ms)
            if let up = loop.natsUp { natsUp.append(up) }
        }
        liveServers = loops.first?.core.liveServerCounts.withLock { $0 } ?? [:]
        self.sessions = sessions.count
        boundSessions = sessions.boundCount
        self.draining = draining
        process = ProcessSample.read()
    }

    func total(_ c: GatewayCounter) -> UInt64 {
        counters.reduce(0) { $0 &+ $1[c.rawValue] }
    }

    /// Open connections by transport. A loop's counters are read one after
    /// the other while it runs, so a difference is clamped at zero rather
    /// than wrapping when a close was counted after its open was read.
    func openConnections() -> (websocket: UInt64, tcp: UInt64, unknown: UInt64) {
        func open(_ opened: UInt64, _ closed: UInt64) -> UInt64 { opened > closed ? opened - closed : 0 }
        var result: (websocket: UInt64, tcp: UInt64, unknown: UInt64) = (0, 0, 0)
        for c in counters {
            let all = open(c[GatewayCounter.connectionsAccepted.rawValue], c[GatewayCounter.connectionsClosed.rawValue])
            let websocket = open(c[GatewayCounter.websocketUpgrades.rawValue], c[GatewayCounter.websocketClosed.rawValue])
            let tcp = open(c[GatewayCounter.tcpConnections.rawValue], c[GatewayCounter.tcpClosed.rawValue])
            result.websocket += websocket
            result.tcp += tcp
            result.unknown += open(all, websocket + tcp)
        }
        return result
    }
}

/// The Prometheus text exposition (format 0.0.4) of a snapshot.
enum MetricsExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ s: MetricsSnapshot) -> String {
        var samples = [[(labels: String, value: String)]](repeating: [], count: MetricFamily.allCases.count)
        func add(_ family: MetricFamily, _ labels: String, _ value: String) {
            samples[family.rawValue].append((labels, value))
        }
        for c in GatewayCounter.allCases {
            let (family, labels) = c.exposition
            add(family, labels, String(s.total(c)))
        }
        for family in MetricFamily.allCases {
            if let value = family.transportValue(s.transport) { add(family, "", String(value)) }
        }
        let open = s.openConnections()
        let t = s.transport
        add(.tlsHandshakes, #"kind="full""#, String(t.tlsFullHandshakes))
        add(.tlsHandshakes, #"kind="resumed""#, String(t.tlsResumedHandshakes))
        add(.tlsVersions, #"version="1.2""#, String(t.tls12))
        add(.tlsVersions, #"version="1.3""#, String(t.tls13))
        let handshakes = t.tlsFullHandshakes + t.tlsResumedHandshakes
        add(.tlsRecordLayer, #"layer="shaddock""#, String(t.tlsOwnRecordLayer))
        add(.tlsRecordLayer, #"layer="openssl""#, String(handshakes - min(handshakes, t.tlsOwnRecordLayer)))
        add(.proxyHeaders, #"version="1""#, String(t.proxyHeadersV1))
        add(.proxyHeaders, #"version="2""#, String(t.proxyHeadersV2))
        add(.proxyHeaders, #"version="local""#, String(t.proxyHeadersLocal))
        add(.proxyFailures, #"kind="bad""#, String(t.proxyBad))
        add(.proxyFailures, #"kind="untrusted""#, String(t.proxyUntrusted))
        add(.proxyFailures, #"kind="missing""#, String(t.proxyMissing))
        add(.proxyFailures, #"kind="timeout""#, String(t.proxyTimeouts))
        add(.tlsFailures, #"kind="handshake""#, String(t.tlsHandshakeFailures))
        add(.tlsFailures, #"kind="bad_record""#, String(t.tlsBadRecords))
        add(.tlsFailures, #"kind="plaintext_refused""#, String(t.tlsPlaintextRefused))
        add(.connectionsOpen, #"transport="websocket""#, String(open.websocket))
        add(.connectionsOpen, #"transport="tcp""#, String(open.tcp))
        add(.connectionsOpen, #"transport="unknown""#, String(open.unknown))
        add(.sessions, "", String(s.sessions))
        add(.boundSessions, "", String(s.boundSessions))
        for (i, ms) in s.lagMilliseconds.enumerated() {
            add(.loopLag, "loop=\"\(i)\"", String(Double(ms) / 1000))
        }
        add(.draining, "", s.draining ? "1" : "0")
        for (i, up) in s.natsUp.enumerated() { add(.natsConnected, "loop=\"\(i)\"", up ? "1" : "0") }
        for (type, n) in s.liveServers.sorted(by: { $0.key < $1.key }) { add(.liveServers, "type=\"\(type)\"", String(n)) }
        if let p = s.process {
            add(.processCPU, "", String(p.cpuSeconds))
            add(.processResident, "", String(p.residentBytes))
            add(.processVirtual, "", String(p.virtualBytes))
            add(.processOpenFDs, "", String(p.openFDs))
            add(.processMaxFDs, "", String(p.maxFDs))
            add(.processStartTime, "", String(p.startTimeSeconds))
        }

        var out = ""
        out.reserveCapacity(8192)
        for family in MetricFamily.allCases where !samples[family.rawValue].isEmpty {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.isCounter ? "counter" : "gauge")\n"
            for sample in samples[family.rawValue] {
                out += family.name
                if !sample.labels.isEmpty { out += "{\(sample.labels)}" }
                out += " \(sample.value)\n"
            }
        }
        return out
    }
}

/// The metric families `/metrics` lists, in this order.
enum MetricFamily: Int, CaseIterable {
    case connectionsAccepted, connectionsClosed, connectionsOpen, transportConnections, transportConnectionsClosed
    case sessions, boundSessions
    case handshakes, heartbeats, requests, asyncRequests, responses, notifies
    case pushes, pushBatches, pushesNotDelivered, kicks, multiLoginKicks, drainKicks, slowConsumers, slowHandlers
    case websocketPings, websocketCloseFrames
    case errors
    case receivedBytes, sentBytes, reads, writeCalls, flushes, writeOverflows, writeChunksAllocated
    case mailboxPosted, mailboxRefused
    case tlsHandshakes, tlsVersions, tlsRecordLayer, tlsFailures
    case proxyHeaders, proxyFailures
    case compressedMessages, compressionBytes, compressionTakeover
    case protobufBodies
    case loopLag, draining
    case natsConnected, natsConnects, natsDisconnects, natsMessages, natsBytes, natsErrors
    case processCPU, processResident, processVirtual, processOpenFDs, processMaxFDs, processStartTime
    case forwarded, forwardOutcomes, backendRequests, backendRefused, remoteCalls, remoteCallFailures, clusterPushes, clusterPushesInAnswers, liveServers

    var name: String {
        switch self {
        case .connectionsAccepted: return "shaddock_connections_accepted_total"
        case .connectionsClosed: return "shaddock_connections_closed_total"
        case .connectionsOpen: return "shaddock_connections_open"
        case .transportConnections: return "shaddock_transport_connections_total"
        case .transportConnectionsClosed: return "shaddock_transport_connections_closed_total"
        case .sessions: return "shaddock_sessions"
        case .boundSessions: return "shaddock_sessions_bound"
        case .handshakes: return "shaddock_handshakes_total"
        case .heartbeats: return "shaddock_heartbeats_total"
        case .requests: return "shaddock_requests_total"
        case .asyncRequests: return "shaddock_async_requests_total"
        case .responses: return "shaddock_responses_total"
        case .notifies: return "shaddock_notifies_total"
        case .pushes: return "shaddock_pushes_total"
        case .pushBatches: return "shaddock_push_batches_total"
        case .pushesNotDelivered: return "shaddock_pushes_not_delivered_total"
        case .kicks: return "shaddock_kicks_total"
        case .multiLoginKicks: return "shaddock_multi_login_kicks_total"
        case .drainKicks: return "shaddock_drain_kicks_total"
        case .slowConsumers: return "shaddock_slow_consumers_total"
        case .slowHandlers: return "shaddock_slow_handlers_total"
        case .websocketPings: return "shaddock_websocket_pings_total"
        case .websocketCloseFrames: return "shaddock_websocket_close_frames_total"
        case .errors: return "shaddock_errors_total"
        case .receivedBytes: return "shaddock_received_bytes_total"
        case .sentBytes: return "shaddock_sent_bytes_total"
        case .reads: return "shaddock_reads_total"
        case .writeCalls: return "shaddock_write_calls_total"
        case .flushes: return "shaddock_flushes_total"
        case .writeOverflows: return "shaddock_write_overflows_total"
        case .writeChunksAllocated: return "shaddock_write_chunks_allocated_total"
        case .mailboxPosted: return "shaddock_mailbox_posted_total"
        case .mailboxRefused: return "shaddock_mailbox_refused_total"
        case .tlsHandshakes: return "shaddock_tls_handshakes_total"
        case .tlsVersions: return "shaddock_tls_handshakes_by_version_total"
        case .tlsRecordLayer: return "shaddock_tls_record_layer_total"
        case .compressedMessages: return "shaddock_compressed_messages_total"
        case .compressionBytes: return "shaddock_compression_bytes_total"
        case .compressionTakeover: return "shaddock_compression_takeover_total"
        case .protobufBodies: return "shaddock_protobuf_bodies_total"
        case .proxyHeaders: return "shaddock_proxy_headers_total"
        case .proxyFailures: return "shaddock_proxy_failures_total"
        case .tlsFailures: return "shaddock_tls_failures_total"
        case .loopLag: return "shaddock_loop_lag_seconds"
        case .draining: return "shaddock_draining"
        case .natsConnected: return "shaddock_nats_connected"
        case .natsConnects: return "shaddock_nats_connects_total"
        case .natsDisconnects: return "shaddock_nats_disconnects_total"
        case .natsMessages: return "shaddock_nats_messages_total"
        case .natsBytes: return "shaddock_nats_bytes_total"
        case .natsErrors: return "shaddock_nats_errors_total"
        case .forwarded: return "shaddock_forwarded_total"
        case .forwardOutcomes: return "shaddock_forward_outcomes_total"
        case .backendRequests: return "shaddock_backend_requests_total"
        case .backendRefused: return "shaddock_backend_refused_total"
        case .remoteCalls: return "shaddock_remote_calls_total"
        case .remoteCallFailures: return "shaddock_remote_call_failures_total"
        case .clusterPushes: return "shaddock_cluster_pushes_total"
        case .clusterPushesInAnswers: return "shaddock_cluster_pushes_in_answers_total"
        case .liveServers: return "shaddock_cluster_servers"
        case .processCPU: return "process_cpu_seconds_total"
        case .processResident: return "process_resident_memory_bytes"
        case .processVirtual: return "process_virtual_memory_bytes"
        case .processOpenFDs: return "process_open_fds"
        case .processMaxFDs: return "process_max_fds"
        case .processStartTime: return "process_start_time_seconds"
        }
    }

    var isCounter: Bool {
        switch self {
        case .connectionsOpen, .sessions, .boundSessions, .loopLag, .draining, .natsConnected, .liveServers: return false
        case .processResident, .processVirtual, .processOpenFDs, .processMaxFDs, .processStartTime: return false
        default: return true
        }
    }

    var help: String {
        switch self {
        case .connectionsAccepted: return "Client connections accepted, refused ones included."
        case .connectionsClosed: return "Client connections closed."
        case .connectionsOpen:
            return "Client connections open, by transport; unknown: not decided yet (no byte read, or an HTTP request not yet upgraded)."
        case .transportConnections: return "Connections whose transport was decided: WebSocket upgrades and raw TCP connections."
        case .transportConnectionsClosed: return "Connections closed after their transport was decided."
        case .sessions: return "Sessions open."
        case .boundSessions: return "Sessions open and bound to a uid."
        case .handshakes: return "Pomelo handshakes answered with code 200."
        case .heartbeats: return "Heartbeats received."
        case .requests: return "Pomelo requests received."
        case .asyncRequests: return "Requests that ran as tasks (an async handler or filter)."
        case .responses: return "Responses sent."
        case .notifies: return "Pomelo notifies received."
        case .pushes: return "Push packages written to connections."
        case .pushBatches: return "Push batches: one write unit per connection per flush."
        case .pushesNotDelivered:
            return "Pushes not sent: dropped by the drop slow-consumer policy, to a closed or not yet ready session, or too large to encode."
        case .kicks: return "Kick packages sent."
        case .multiLoginKicks: return "Older sessions kicked because their uid logged in again."
        case .drainKicks: return "Sessions kicked by a drain (SIGTERM)."
        case .slowConsumers:
            return "Connections past maxPendingBytes: kicked by the kick policy, or closed because a response did not fit."
        case .slowHandlers: return "Handlers slower than the time filter's threshold."
        case .websocketPings: return "WebSocket pings received."
        case .websocketCloseFrames: return "WebSocket close frames received."
        case .errors: return "Refusals, timeouts and errors, by kind."
        case .receivedBytes: return "Bytes read from client connections."
        case .sentBytes: return "Bytes written to client connections."
        case .reads: return "Reads that delivered bytes."
        case .writeCalls: return "Write system calls (at most one per connection per loop iteration)."
        case .flushes: return "Connections flushed."
        case .writeOverflows: return "Writes refused because a connection's unsent bytes would pass maxPendingBytes."
        case .writeChunksAllocated: return "Write chunks taken from malloc rather than a loop's pool."
        case .mailboxPosted: return "Items delivered through the loops' mailboxes (pushes, kicks and task jobs from other threads)."
        case .mailboxRefused: return "Bounded items refused because a loop's mailbox was full."
        case .tlsHandshakes: return "TLS handshakes completed; kind: full or resumed (a session ticket)."
        case .tlsVersions: return "TLS handshakes completed, by protocol version."
        case .compressedMessages:
            return "Compressed messages: in, client messages inflated (permessage-deflate); out, messages sent compressed, by method (deflate: permessage-deflate, gzip_flag: Pomelo's message flag)."
        case .compressionBytes:
            return "Bytes of the compressed messages: stage raw (before compression, or after inflating) and compressed (on the wire), by direction."
        case .protobufBodies:
            return "pomelo-protobuf bodies: in, requests decoded with the route's client schema; out, answers and pushes encoded with the server schema."
        case .compressionTakeover:
            return "Connections granted client context takeover (an inflate stream of their own), and refused it at maxTakeoverSessions."
        case .proxyHeaders: return "Client addresses that trusted balancers gave; version: 1 or 2 (a PROXY header with the client's address), local (a PROXY header without one: a health check), http (a WebSocket upgrade's Forwarded or X-Forwarded-For)."
        case .proxyFailures: return "Connections closed over the PROXY protocol; kind: bad (malformed or truncated), untrusted (a header, or with required any connection, from an untrusted peer), missing (required but absent), timeout."
        case .tlsRecordLayer: return "TLS connections by the record layer that carries them after the handshake: shaddock (its own, for AES-GCM and ChaCha20-Poly1305; no OpenSSL state kept) or openssl (other ciphers)."
        case .tlsFailures: return "TLS connections closed for a failure; kind: handshake (garbage, an alert, nothing in common), bad_record (after the handshake), plaintext_refused (TLS required), handshake_timeout."
        case .loopLag: return "How late each loop's last timer tick ran."
        case .draining: return "1 while the server drains (/healthz answers 503), else 0."
        case .natsConnected: return "1 while a loop's NATS connection is up, else 0 (cluster only)."
        case .natsConnects: return "NATS connections established, reconnects included."
        case .natsDisconnects: return "NATS connections lost."
        case .natsMessages: return "Messages to and from NATS."
        case .natsBytes: return "Bytes to and from NATS."
        case .natsErrors: return "NATS problems: -ERR lines, unreadable input, messages over max_payload, messages dropped with the link's buffer full."
        case .forwardOutcomes:
            return "How forwarded requests ended: answered, no_server (500), no_responders (503), busy (503), timeout (504), disconnected (503), dropped (not sent), late (an answer after the end)."
        case .forwarded: return "Requests and notifies forwarded to other servers."
        case .backendRequests: return "Forwarded requests received from frontends, and those dropped past their deadline."
        case .backendRefused: return "Forwarded requests and calls refused with 503: the queue was full or the server drains."
        case .remoteCalls: return "Remote calls made (side=caller) and served (side=callee)."
        case .remoteCallFailures: return "Remote calls that ended in an error for the caller."
        case .clusterPushes: return "Push and broadcast messages to other frontends (direction=out, one per frontend per push) and from other servers (direction=in)."
        case .clusterPushesInAnswers: return "Push messages for a requester's frontend carried inside a forwarded request's answer (also counted as direction=out)."
        case .liveServers: return "Live servers of the cluster, by type (this one included)."
        case .processCPU: return "User and system CPU time spent, in seconds."
        case .processResident: return "Resident memory size, in bytes."
        case .processVirtual: return "Virtual memory size, in bytes."
        case .processOpenFDs: return "Open file descriptors."
        case .processMaxFDs: return "The most file descriptors the process may open (its soft limit)."
        case .processStartTime: return "Start time of the process since the epoch, in seconds."
        }
    }

    /// The value of the C shim's counter behind this family, if one is.
    func transportValue(_ t: TransportStats) -> UInt64? {
        switch self {
        case .receivedBytes: return t.bytesIn
        case .sentBytes: return t.bytesOut
        case .reads: return t.reads
        case .writeCalls: return t.writeCalls
        case .flushes: return t.flushes
        case .writeOverflows: return t.overflows
        case .writeChunksAllocated: return t.chunksAllocated
        case .mailboxPosted: return t.posted
        case .mailboxRefused: return t.postRefused
        default: return nil
        }
    }
}

extension GatewayCounter {
    /// Where the counter appears in `/metrics`: its family and labels. The
    /// switch has no default, so a new counter does not build until it has
    /// a place.
    var exposition: (family: MetricFamily, labels: String) {
        switch self {
        case .connectionsAccepted: return (.connectionsAccepted, "")
        case .connectionsClosed: return (.connectionsClosed, "")
        case .websocketUpgrades: return (.transportConnections, #"transport="websocket""#)
        case .tcpConnections: return (.transportConnections, #"transport="tcp""#)
        case .websocketClosed: return (.transportConnectionsClosed, #"transport="websocket""#)
        case .tcpClosed: return (.transportConnectionsClosed, #"transport="tcp""#)
        case .handshakes: return (.handshakes, "")
        case .heartbeatsReceived: return (.heartbeats, "")
        case .requests: return (.requests, "")
        case .asyncRequests: return (.asyncRequests, "")
        case .responses: return (.responses, "")
        case .notifies: return (.notifies, "")
        case .pushes: return (.pushes, "")
        case .pushBatches: return (.pushBatches, "")
        case .pushesDropped: return (.pushesNotDelivered, #"reason="dropped""#)
        case .pushesUndeliverable: return (.pushesNotDelivered, #"reason="undeliverable""#)
        case .pushesUnencodable: return (.pushesNotDelivered, #"reason="unencodable""#)
        case .kicks: return (.kicks, "")
        case .multiLoginKicks: return (.multiLoginKicks, "")
        case .drainKicks: return (.drainKicks, "")
        case .slowConsumerKicks: return (.slowConsumers, #"action="kick""#)
        case .slowConsumerCloses: return (.slowConsumers, #"action="close""#)
        case .slowHandlers: return (.slowHandlers, "")
        case .websocketPings: return (.websocketPings, "")
        case .websocketCloses: return (.websocketCloseFrames, "")
        case .httpRejected: return Self.error("http_rejected")
        case .unknownTransport: return Self.error("unknown_transport")
        case .handshakeRefused: return Self.error("handshake_refused")
        case .handshakeTimeouts: return Self.error("handshake_timeout")
        case .tlsHandshakeTimeouts: return (.tlsFailures, #"kind="handshake_timeout""#)
        case .heartbeatTimeouts: return Self.error("heartbeat_timeout")
        case .firstByteTimeouts: return Self.error("first_byte_timeout")
        case .requestHeadTimeouts: return Self.error("request_head_timeout")
        case .ignoredBeforeAck: return Self.error("ignored_before_ack")
        case .ignoredPackages: return Self.error("ignored_package")
        case .unknownRoutes: return Self.error("unknown_route")
        case .handlerErrors: return Self.error("handler_error")
        case .invalidJSONBodies: return Self.error("invalid_json_body")
        case .badMessages: return Self.error("bad_message")
        case .badPackages: return Self.error("bad_package")
        case .oversizeMessages: return Self.error("oversize_message")
        case .oversizeFrames: return Self.error("oversize_frame")
        case .oversizePackages: return Self.error("oversize_package")
        case .websocketProtocolErrors: return Self.error("websocket_protocol")
        case .websocketTextRefused: return Self.error("websocket_text_refused")
        case .blacklistRefused: return Self.error("blacklisted")
        case .connectionLimitRefused: return Self.error("connection_limit")
        case .addressLimitRefused: return Self.error("address_limit")
        case .forwardedClients: return (.proxyHeaders, #"version="http""#)
        case .badGzipBodies: return Self.error("bad_gzip_body")
        case .deflateMessagesIn: return (.compressedMessages, #"direction="in",method="deflate""#)
        case .deflateMessagesOut: return (.compressedMessages, #"direction="out",method="deflate""#)
        case .gzipFlagMessagesOut: return (.compressedMessages, #"direction="out",method="gzip_flag""#)
        case .compressedBytesIn: return (.compressionBytes, #"direction="in",stage="compressed""#)
        case .compressedBytesOut: return (.compressionBytes, #"direction="out",stage="compressed""#)
        case .inflatedBytesIn: return (.compressionBytes, #"direction="in",stage="raw""#)
        case .uncompressedBytesOut: return (.compressionBytes, #"direction="out",stage="raw""#)
        case .badDeflateMessages: return Self.error("bad_deflate_message")
        case .takeoverGranted: return (.compressionTakeover, #"outcome="granted""#)
        case .takeoverRefused: return (.compressionTakeover, #"outcome="refused""#)
        case .protobufBodiesIn: return (.protobufBodies, #"direction="in""#)
        case .protobufBodiesOut: return (.protobufBodies, #"direction="out""#)
        case .badProtobufBodies: return Self.error("bad_protobuf_body")
        case .protobufEncodeFailures: return Self.error("protobuf_encode_failure")
        case .rateLimited: return Self.error("rate_limited")
        case .rateLimitKicks: return Self.error("rate_limit_kick")
        case .drainAbandoned: return Self.error("drain_abandoned")
        case .filterRejections: return Self.error("filter_rejected")
        case .tooBusyRefusals: return Self.error("too_busy")
        case .serialQueueFull: return Self.error("serial_queue_full")
        case .serialTimeouts: return Self.error("serial_timeout")
        case .requestTimeouts: return Self.error("request_timeout")
        case .lateAnswers: return Self.error("late_answer")
        case .natsConnects: return (.natsConnects, "")
        case .natsDisconnects: return (.natsDisconnects, "")
        case .natsMessagesOut: return (.natsMessages, #"direction="out""#)
        case .natsMessagesIn: return (.natsMessages, #"direction="in""#)
        case .natsBytesOut: return (.natsBytes, #"direction="out""#)
        case .natsBytesIn: return (.natsBytes, #"direction="in""#)
        case .natsErrors: return (.natsErrors, #"kind="err""#)
        case .natsProtocolErrors: return (.natsErrors, #"kind="protocol""#)
        case .natsPayloadRefused: return (.natsErrors, #"kind="max_payload""#)
        case .natsBufferDropped: return (.natsErrors, #"kind="buffer_full""#)
        case .forwardedRequests: return (.forwarded, #"kind="request""#)
        case .forwardedNotifies: return (.forwarded, #"kind="notify""#)
        case .forwardAnswered: return (.forwardOutcomes, #"outcome="answered""#)
        case .forwardNoServer: return (.forwardOutcomes, #"outcome="no_server""#)
        case .forwardNoResponders: return (.forwardOutcomes, #"outcome="no_responders""#)
        case .forwardBusy: return (.forwardOutcomes, #"outcome="busy""#)
        case .forwardTimeouts: return (.forwardOutcomes, #"outcome="timeout""#)
        case .forwardDisconnected: return (.forwardOutcomes, #"outcome="disconnected""#)
        case .forwardDropped: return (.forwardOutcomes, #"outcome="dropped""#)
        case .forwardLateAnswers: return (.forwardOutcomes, #"outcome="late""#)
        case .backendRequests: return (.backendRequests, #"state="received""#)
        case .backendExpired: return (.backendRequests, #"state="expired""#)
        case .backendBusy: return (.backendRefused, "")
        case .remoteCalls: return (.remoteCalls, #"side="caller""#)
        case .remoteCallsServed: return (.remoteCalls, #"side="callee""#)
        case .remoteCallFailures: return (.remoteCallFailures, "")
        case .clusterBadMessages: return Self.error("cluster_bad_message")
        case .clusterPushesOut: return (.clusterPushes, #"direction="out""#)
        case .clusterPushesIn: return (.clusterPushes, #"direction="in""#)
        case .clusterPushesInAnswers: return (.clusterPushesInAnswers, "")
        }
    }

    private static func error(_ kind: String) -> (family: MetricFamily, labels: String) {
        (.errors, "kind=\"\(kind)\"")
    }
}

/// What a scrape reads: the loops, the session table and the health flag.
/// It holds no reference to the server, so the admin thread keeping it does
/// not keep the server alive.
struct MetricsSource: Sendable {
    let loops: [EventLoop]
    let sessions: SessionService
    let health: HealthState

    func render() -> String {
        MetricsExposition.render(MetricsSnapshot(loops: loops, sessions: sessions, draining: health.isDraining))
    }
}

import CShaddockLoop
import ShaddockProtocol

/// Writing to a connection. Headers are composed on the stack and every
/// message is queued as one unit with its body, so nothing is allocated per
/// message and the loop sends each connection's bytes in one write call at
/// the end of the iteration.
extension Connection {
    /// Queues a Pomelo package: `head` (a message header, possibly empty)
    /// then `body`. Over WebSocket the package is one binary message.
    @discardableResult
    func writePackage(_ type: PackageType, head: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> Bool {
        // Pushes staged for this connection go first: the client sees
        // everything in the order it was sent.
        if stagedHead >= 0 { loop.scheduler.flush(self) }
        if deflateWindow != 0 || loop.core.config.compression.messageFlag,
           let sent = writeCompressedPackage(type, head: head, body: body) {
            return sent
        }
        return writePlainPackage(type, head: head, body: body)
    }

    /// The package as it is, over WebSocket in one binary message.
    func writePlainPackage(_ type: PackageType, head: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> Bool {
        let packageLength = Package.headerLength + head.count + body.count
        let frameHeader = transport == .websocket ? WebSocketFrameEncoder.headerLength(payloadLength: packageLength) : 0
        let prefixLength = frameHeader + Package.headerLength + head.count
        return withUnsafeTemporaryAllocation(byteCount: prefixLength, alignment: 8) { prefix in
            var at = 0
            if frameHeader > 0 {
                at = WebSocketFrameEncoder.writeHeader(.binary, payloadLength: packageLength, into: prefix, at: 0)
            }
            at = Package.writeHeader(type, bodyLength: head.count + body.count, into: prefix, at: at)
            if head.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: prefix[at...]).copyMemory(from: head)
            }
            return queue(UnsafeRawBufferPointer(prefix), body)
        }
    }

    @discardableResult
    func writePackage(_ type: PackageType, body: [UInt8]) -> Bool {
        body.withUnsafeBytes { writePackage(type, head: UnsafeRawBufferPointer(start: nil, count: 0), body: $0) }
    }

    /// A whole package already encoded (handshake replies).
    func writeEncodedPackage(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { b in
            let type = PackageType(rawValue: b[0])!
            _ = writePackage(type, head: UnsafeRawBufferPointer(start: nil, count: 0),
                         body: UnsafeRawBufferPointer(rebasing: b[Package.headerLength...]))
        }
    }

    func writeHeartbeat() {
        writePackage(.heartbeat, head: UnsafeRawBufferPointer(start: nil, count: 0),
                     body: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// A response to request `id` with a JSON body.
    func writeResponse(id: UInt32, body: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(byteCount: 1 + Varint.maxLength, alignment: 1) { head in
            let n = Message.writeResponseHeader(id: id, into: head, at: 0)
            writePackage(.data, head: UnsafeRawBufferPointer(rebasing: head[..<n]), body: body)
        }
        counters.add(.responses)
    }

    /// A handler's answer to a request on `route`: JSON, or protobuf when
    /// the client uses it and the route has a server schema.
    func writeResponse(id: UInt32, _ response: Response, route: UInt16) {
        if let schema = responseSchema(route) { return writeProtobufResponse(id: id, response, as: schema, route: route) }
        switch response {
        case .encoded(let e):
            e.bytes.withUnsafeBytes { writeResponse(id: id, body: $0) }
        case .json(let value):
            loop.scratch.removeAll(keepingCapacity: true)
            value.write(into: &loop.scratch)
            loop.scratch.withUnsafeBytes { writeResponse(id: id, body: $0) }
        case .protobuf:
            // Only a request whose route has a server schema for this
            // client is answered so (Request.response(encoding:)).
            counters.add(.protobufEncodeFailures)
            logger.error("\(loop.core.dictionary.routes[Int(route)]): a protobuf answer for a client without its schema")
            writeErrorResponse(id: id, code: PomeloCode.fail)
        }
    }

    /// `{"code":<code>}`, written in the loop's scratch buffer: refusals
    /// under a flood allocate nothing either. On a route with a server
    /// schema for this client, the schema's `code` field (or an empty body,
    /// as Pomelo sends for a body that does not fit).
    func writeErrorResponse(id: UInt32, code: Int, route: UInt16? = nil) {
        loop.scratch.removeAll(keepingCapacity: true)
        if let schema = responseSchema(route) {
            _ = ProtoEncoder.encodeCode(code, as: schema, into: &loop.scratch)
            return loop.scratch.withUnsafeBytes { writeResponse(id: id, body: $0) }
        }
        loop.scratch.append(contentsOf: "{\"code\":".utf8)
        if code < 0 { loop.scratch.append(UInt8(ascii: "-")) }
        let digits = loop.scratch.count
        var n = code.magnitude
        repeat {
            loop.scratch.append(UInt8(ascii: "0") + UInt8(n % 10))
            n /= 10
        } while n > 0
        loop.scratch[digits...].reverse()
        loop.scratch.append(UInt8(ascii: "}"))
        loop.scratch.withUnsafeBytes { writeResponse(id: id, body: $0) }
    }

    /// A WebSocket data message (echo): compressed when agreed and worth it.
    func writeDataMessage(_ opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer) {
        if deflateWindow != 0, writeCompressed(opcode, payload, UnsafeRawBufferPointer(start: nil, count: 0)) != nil { return }
        writeFrame(opcode, payload: payload)
    }

    /// A WebSocket frame (control frames, echo).
    @discardableResult
    func writeFrame(_ opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: WebSocketFrameEncoder.maxHeaderLength, alignment: 8) { h in
            let n = WebSocketFrameEncoder.writeHeader(opcode, payloadLength: payload.count, into: h, at: 0)
            return queue(UnsafeRawBufferPointer(rebasing: h[..<n]), payload)
        }
    }

    func writeClose(_ code: UInt16) {
        let payload = (UInt8(code >> 8), UInt8(truncatingIfNeeded: code))
        withUnsafeBytes(of: payload) { _ = writeFrame(.close, payload: $0) }
    }

    /// Queues bytes; a connection past its bound on unsent bytes is a slow
    /// consumer and is closed.
    func queue(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard !isGone else { return false }
        let rc = shd_conn_write2(raw, a.baseAddress, a.count, b.baseAddress, b.count)
        if rc == 0 { return true }
        if Int(rc) == SHD_EFULL && !isClosing {
            counters.add(.slowConsumerCloses)
            logger.info("closing slow consumer: more than \(limits.maxPendingBytes) bytes unsent")
            close(.abort)
        }
        return false
    }

    /// Sends a kick package with the reason, then closes (over WebSocket
    /// with close code `code`).
    func kick(reason: String, code: WebSocketCloseCode = .normal) {
        guard !isClosing, transport == .websocket || transport == .tcp else { return }
        counters.add(.kicks)
        var body: [UInt8] = []
        JSONValue.object(["reason": .string(reason)]).write(into: &body)
        writePackage(.kick, body: body)
        close(.code(code.rawValue))
    }
}

import ShaddockProtocol

/// permessage-deflate on one connection (docs/compression.md). The
/// connection keeps only the window its messages are compressed with; the
/// zlib streams are the loop's, reset per message, unless the client was
/// granted context takeover (then it has an inflate stream of its own).
extension Connection {
    /// At the upgrade: the agreement with the client's offers, if any, as
    /// the `Sec-WebSocket-Extensions` value to answer with.
    func negotiateDeflate(_ request: UpgradeRequest, _ bytes: UnsafeRawBufferPointer) -> String? {
        let options = loop.core.config.compression
        guard options.deflate, !request.extensions.isEmpty,
              var agreement = DeflateNegotiation.accept(bytes, values: request.extensions, policy: options.policy) else {
            return nil
        }
        let compression = loop.compressionState()
        if agreement.clientTakeover {
            if compression.takeoverSessions < options.maxTakeoverSessions,
               let own = MessageInflater(windowBits: agreement.clientWindowBits, resetsPerMessage: false) {
                takeoverInflater = own
                compression.takeoverSessions += 1
                counters.add(.takeoverGranted)
            } else {
                agreement.clientTakeover = false
                counters.add(.takeoverRefused)
            }
        }
        deflateWindow = UInt8(agreement.serverWindowBits)
        return agreement.responseValue
    }

    /// Gives back a takeover inflate stream (at close).
    func releaseDeflate() {
        guard takeoverInflater != nil else { return }
        takeoverInflater = nil
        loop.compression?.takeoverSessions -= 1
    }

    /// A whole compressed message: inflated within `maxMessageBytes` into
    /// the loop's (or the connection's own) stream, then delivered as any
    /// message. A zip bomb stops at the limit (1009), a corrupt stream gets
    /// 1007, and text is checked for UTF-8 on the inflated bytes.
    func onCompressedMessage(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer,
                             deliver: (WebSocketOpcode, UnsafeRawBufferPointer) -> Void) {
        guard let inflater = takeoverInflater ?? loop.compression?.inflater else {
            logger.warning("closing: no memory for an inflate stream")
            close(.code(WebSocketCloseCode.internalError.rawValue))
            return
        }
        switch inflater.inflate(payload, limit: wsState.maxMessage) {
        case .bytes(let message):
            counters.add(.deflateMessagesIn)
            counters.add(.compressedBytesIn, UInt64(payload.count))
            counters.add(.inflatedBytesIn, UInt64(message.count))
            if opcode == .text && !UTF8Validation.isValid(message) {
                counters.add(.websocketProtocolErrors)
                logger.info("closing WebSocket with 1007: text message is not UTF-8")
                close(.code(WebSocketCloseCode.invalidPayload.rawValue))
                return
            }
            deliver(opcode, message)
        case .tooLarge:
            counters.add(.oversizeMessages)
            logger.info("closing WebSocket with 1009: a compressed message inflates past \(wsState.maxMessage) bytes")
            close(.code(WebSocketCloseCode.messageTooBig.rawValue))
        case .corrupt:
            counters.add(.badDeflateMessages)
            logger.info("closing WebSocket with 1007: a compressed message does not inflate")
            close(.code(WebSocketCloseCode.invalidPayload.rawValue))
        }
    }

    /// A package compressed for this connection: with permessage-deflate
    /// when agreed, else with Pomelo's gzip flag on a data package's body
    /// when configured. Nil when it is not compressed (under the threshold,
    /// or no smaller): the caller sends it as it is.
    func writeCompressedPackage(_ type: PackageType, head: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer) -> Bool? {
        let options = loop.core.config.compression
        if deflateWindow != 0 {
            guard Package.headerLength + head.count + body.count >= options.threshold else { return nil }
            // The package header and head, then the body.
            return withUnsafeTemporaryAllocation(byteCount: Package.headerLength + head.count, alignment: 8) { prefix in
                let at = Package.writeHeader(type, bodyLength: head.count + body.count, into: prefix, at: 0)
                if head.count > 0 { UnsafeMutableRawBufferPointer(rebasing: prefix[at...]).copyMemory(from: head) }
                return writeCompressed(.binary, UnsafeRawBufferPointer(prefix), body)
            }
        }
        // Never on top of permessage-deflate, only on a message's body.
        guard options.messageFlag, type == .data, head.count > 0, body.count >= options.threshold,
              let packed = loop.compressionState().gzipper?.compress(body) else { return nil }
        counters.add(.gzipFlagMessagesOut)
        counters.add(.uncompressedBytesOut, UInt64(body.count))
        counters.add(.compressedBytesOut, UInt64(packed.count))
        return withUnsafeTemporaryAllocation(byteCount: head.count, alignment: 8) { flagged in
            flagged.copyMemory(from: head)
            flagged[0] |= Message.gzipFlag
            return writePlainPackage(type, head: UnsafeRawBufferPointer(flagged), body: packed)
        }
    }

    /// Queues `a` then `b` as one data message compressed for this
    /// connection, if deflate was agreed, the message is at least the
    /// threshold and compressing makes it smaller. Returns nil when it was
    /// not (the caller sends it as is), else whether it was queued.
    func writeCompressed(_ opcode: WebSocketOpcode, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool? {
        guard deflateWindow != 0, let compression = loop.compression, a.count + b.count >= compression.options.threshold,
              let packed = compression.deflater(window: Int(deflateWindow), size: a.count + b.count)?.compress(a, b) else {
            return nil
        }
        counters.add(.deflateMessagesOut)
        counters.add(.uncompressedBytesOut, UInt64(a.count + b.count))
        counters.add(.compressedBytesOut, UInt64(packed.count))
        return withUnsafeTemporaryAllocation(byteCount: WebSocketFrameEncoder.maxHeaderLength, alignment: 8) { h in
            let n = WebSocketFrameEncoder.writeHeader(opcode, payloadLength: packed.count, compressed: true, into: h, at: 0)
            return queue(UnsafeRawBufferPointer(rebasing: h[..<n]), packed)
        }
    }
}

import CShaddockLoop
import ShaddockProtocol

/// The WebSocket side of a connection: frames scanned and unmasked in the
/// loop's buffer, messages handed on where they lie. Only a fragmented
/// message is copied, into `fragments`, because its pieces are not adjacent.
extension Connection {
    func onFrames(_ data: UnsafeMutableRawBufferPointer, from start: Int) -> Int {
        var offset = start
        while offset < data.count && !isClosing {
            // A frame over the message limit is a message over it, refused
            // from the header alike.
            let frameLimit = limits.maxFrameBytes
            switch WebSocketFrameParser.scan(data, at: offset, maxPayload: min(frameLimit, wsState.maxMessage),
                                             deflate: deflateWindow != 0) {
            case .needMore:
                return offset
            case .failure(let code, let why):
                if code == .messageTooBig {
                    counters.add(frameLimit < wsState.maxMessage ? .oversizeFrames : .oversizeMessages)
                }
                websocketFailure(code, why)
                return data.count
            case .frame(let frame):
                onFrame(frame, UnsafeRawBufferPointer(rebasing: data[frame.payload]))
                offset = frame.end
            }
        }
        return data.count
    }

    private func onFrame(_ frame: WebSocketFrame, _ payload: UnsafeRawBufferPointer) {
        // A compressed message's text is checked once inflated.
        switch wsState.step(frame) {
        case .message(let opcode):
            if frame.compressed {
                if opcode == .text && loop.core.mode == .pomelo { return refuseText() }
                onCompressedMessage(opcode, payload) { onMessage($0, $1) }
                return
            }
            if opcode == .text && !beginText(payload, last: true) { return }
            onMessage(opcode, payload)
        case .begin(let opcode):
            if opcode == .text {
                if frame.compressed {
                    if loop.core.mode == .pomelo { return refuseText() }
                } else if !beginText(payload, last: false) {
                    return
                }
            }
            fragments.reserveCapacity(min(wsState.maxMessage, 2 * payload.count + 256))
            fragments.append(contentsOf: payload)
        case .append(let opcode):
            if opcode == .text && !wsState.compressed && !checkText(payload, last: false) { return }
            fragments.append(contentsOf: payload)
        case .finish(let opcode):
            if opcode == .text && !wsState.compressed && !checkText(payload, last: true) { return }
            fragments.append(contentsOf: payload)
            let message = fragments
            // A finished message frees its storage: idle connections hold none.
            fragments = []
            if wsState.compressed {
                message.withUnsafeBytes { onCompressedMessage(opcode, $0) { onMessage($0, $1) } }
            } else {
                message.withUnsafeBytes { onMessage(opcode, $0) }
            }
        case .ping:
            counters.add(.websocketPings)
            writeFrame(.pong, payload: payload)
        case .pong:
            break
        case .close:
            counters.add(.websocketCloses)
            switch WebSocketMessageState.closeReply(payload) {
            case .success(let code):
                // Echo the peer's code, then close our side.
                close(.code(code))
            case .failure(let error):
                websocketFailure(error.code, error.reason)
            }
        case .failure(let code, let why):
            if code == .messageTooBig { counters.add(.oversizeMessages) }
            websocketFailure(code, why)
        }
    }

    /// The first frame of a text message: refused on the Pomelo endpoint
    /// (1003); elsewhere its UTF-8 check starts.
    private func beginText(_ payload: UnsafeRawBufferPointer, last: Bool) -> Bool {
        if loop.core.mode == .pomelo {
            refuseText()
            return false
        }
        textValidation = UTF8Validation.Stream()
        return checkText(payload, last: last)
    }

    /// Checks a piece of a text message as it arrives, so invalid UTF-8
    /// fails the connection at once (RFC 6455 §8.1), not after the rest of a
    /// fragmented message has been collected.
    private func checkText(_ fragment: UnsafeRawBufferPointer, last: Bool) -> Bool {
        if textValidation.feed(fragment) && (!last || textValidation.isComplete) { return true }
        websocketFailure(.invalidPayload, "text message is not UTF-8")
        return false
    }

    /// A whole data message; text is already known to be UTF-8.
    private func onMessage(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) {
        switch loop.core.mode {
        case .echo:
            writeDataMessage(opcode, payload: payload)
        case .pomelo:
            onPomeloMessage(payload)
        }
    }

    /// A binary message holds one or more whole Pomelo packages.
    private func onPomeloMessage(_ payload: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < payload.count && !isClosing {
            switch Package.scan(payload, at: offset, maxBody: limits.maxPackageBytes) {
            case .needMore:
                packageError(.truncated)
                return
            case .failure(let error):
                packageError(error)
                return
            case .package(let type, let body, let end):
                onPackage(type, UnsafeRawBufferPointer(rebasing: payload[body]))
                offset = end
            }
        }
    }

    private func refuseText() {
        counters.add(.websocketTextRefused)
        logger.info("closing: text message on the Pomelo endpoint")
        close(.code(WebSocketCloseCode.unsupportedData.rawValue))
    }

    /// Frames too large are counted by the caller (oversizeFrames).
    private func websocketFailure(_ code: WebSocketCloseCode, _ why: String) {
        if code != .messageTooBig { counters.add(.websocketProtocolErrors) }
        logger.info("closing WebSocket with \(code.rawValue): \(why)")
        close(.code(code.rawValue))
    }
}

import Logging
import ShaddockProtocol

/// The Pomelo protocol over either transport (PROTOCOL.md §4-8). Packages
/// that arrive together are handled in order, each seeing the state the
/// previous one left.
extension Connection {
    func onPackage(_ type: PackageType, _ body: UnsafeRawBufferPointer) {
        switch type {
        case .handshake:
            guard phase == .awaitingHandshake else {
                counters.add(.ignoredPackages)
                return
            }
            onHandshake(body)
        case .handshakeAck:
            guard phase == .awaitingAck else {
                counters.add(.ignoredBeforeAck)
                return
            }
            phase = .working
            writeHeartbeat()
            armHeartbeat()
        case .heartbeat:
            guard phase == .working else {
                counters.add(.ignoredBeforeAck)
                return
            }
            counters.add(.heartbeatsReceived)
            writeHeartbeat()
            armHeartbeat()
        case .data:
            guard phase == .working else {
                counters.add(.ignoredBeforeAck)
                return
            }
            onData(body)
        case .kick:
            counters.add(.ignoredPackages)
        }
    }

    private func armHeartbeat() {
        setDeadline(afterMilliseconds: limits.heartbeatTimeout)
    }

    private func onHandshake(_ body: UnsafeRawBufferPointer) {
        let core = loop.core
        guard let handshake = ClientHandshake(body: body) else {
            refuseHandshake(.badHandshake, "handshake is not JSON with a sys object")
            return
        }
        if let check = core.checkClient, !check(handshake.type, handshake.version) {
            refuseHandshake(.oldClient, "client check refused \(handshake.type ?? "-") \(handshake.version ?? "-")")
            return
        }
        var user: JSONValue?
        if let hook = core.handshakeHook {
            do {
                user = try hook(handshake)
            } catch {
                refuseHandshake(.badHandshake, "handshake hook failed: \(error)")
                return
            }
        }
        counters.add(.handshakes)
        // The schemas in force now are this client's for its whole life.
        protobuf = loop.protobuf
        writeEncodedPackage((protobuf?.responder ?? core.responder).package(for: handshake, user: user))
        phase = .awaitingAck
    }

    private func refuseHandshake(_ code: HandshakeCode, _ why: String) {
        counters.add(.handshakeRefused)
        logger.info("refused handshake (\(code.rawValue)): \(why)")
        writeEncodedPackage(HandshakeResponder.errorPackage(code))
        close(.graceful)
    }

    private func onData(_ bytes: UnsafeRawBufferPointer) {
        let message: MessageView
        do {
            message = try Message.decode(bytes)
        } catch {
            counters.add(.badMessages)
            logger.info("dropped undecodable message: \(error)")
            return
        }
        let kind: Request.Kind
        switch message.type {
        case .request: kind = .request; counters.add(.requests)
        case .notify: kind = .notify; counters.add(.notifies)
        case .response, .push:
            counters.add(.badMessages)
            logger.info("dropped a \(message.type) message from a client")
            return
        }
        let dictionary = loop.core.dictionary
        let code: UInt16?
        if let c = message.routeCode {
            code = c > 0 && Int(c) <= dictionary.count ? c : nil
        } else {
            code = dictionary.code(forRouteBytes: UnsafeRawBufferPointer(rebasing: bytes[message.routeName!]))
        }
        guard let code else {
            counters.add(.unknownRoutes)
            logger.warning("no such route: \(describeRoute(message, bytes))")
            if kind == .request { writeErrorResponse(id: message.id, code: PomeloCode.fail) }
            return
        }
        if let rate = limits.rate, !takeToken(rate, for: kind, id: message.id, route: code) { return }
        var body = UnsafeRawBufferPointer(rebasing: bytes[message.body])
        if message.gzipped {
            // Pomelo's gzip flag: a zlib or gzip body, inflated within
            // maxMessageBytes into the loop's buffer.
            switch loop.bodyInflater?.inflate(body, limit: limits.maxMessageBytes) {
            case .bytes(let inflated):
                body = inflated
            case .tooLarge, .corrupt, nil:
                counters.add(.badGzipBodies)
                logger.info("a gzip-flagged body that does not inflate within \(limits.maxMessageBytes) bytes")
                if kind == .request { writeErrorResponse(id: message.id, code: PomeloCode.fail, route: code) }
                return
            }
        }
        if let codec = protobuf, let schema = codec.request(code) {
            return dispatchProtobuf(kind, id: message.id, route: code, body, schema, codec)
        }
        if !JSON.isValid(body) {
            counters.add(.invalidJSONBodies)
            body = GatewayCore.emptyObject
        }
        dispatch(Request(kind: kind, id: message.id, routeCode: code, dictionary: dictionary, body: body, protobuf: protobuf))
    }

    private func describeRoute(_ m: MessageView, _ bytes: UnsafeRawBufferPointer) -> String {
        if let c = m.routeCode { return "code \(c)" }
        return "\"" + String(decoding: UnsafeRawBufferPointer(rebasing: bytes[m.routeName!]), as: UTF8.self) + "\""
    }
}

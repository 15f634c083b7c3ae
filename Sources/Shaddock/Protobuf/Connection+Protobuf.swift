import ShaddockProtocol

/// pomelo-protobuf bodies on a connection that handshook with schemas
/// (docs/protobuf.md): a request on a route with a client schema is read
/// into JSON text in the loop's buffer (which checks it: one that does not
/// decode is answered 500 and counted), unless only a typed handler or a
/// forward reads it; answers on a route with a server schema are encoded
/// with it.
extension Connection {
    func dispatchProtobuf(_ kind: Request.Kind, id: UInt32, route: UInt16, _ body: UnsafeRawBufferPointer,
                          _ schema: ProtoMessage, _ codec: ProtobufCodec) {
        counters.add(.protobufBodiesIn)
        let dictionary = loop.core.dictionary
        if let entry = loop.core.entry(for: route), !entry.readsJSONBody {
            // A typed handler decodes the bytes itself, a forward sends them
            // on: neither needs the JSON, and each checks the body.
            return dispatch(Request(kind: kind, id: id, routeCode: route, dictionary: dictionary, body: GatewayCore.emptyObject,
                                    protobuf: codec, wire: body))
        }
        loop.requestJSON.removeAll(keepingCapacity: true)
        do {
            try ProtoToJSON.transcode(body, as: schema, into: &loop.requestJSON)
        } catch {
            counters.add(.badProtobufBodies)
            logger.info("\(loop.core.dictionary.routes[Int(route)]): a body that is not a \(schema.name) message: \(error)")
            if kind == .request { writeErrorResponse(id: id, code: PomeloCode.fail, route: route) }
            return
        }
        // The JSON lives in the loop's buffer while the request is
        // dispatched; one that outlives the call owns a copy (Request.owned).
        loop.requestJSON.withUnsafeBytes { json in
            dispatch(Request(kind: kind, id: id, routeCode: route, dictionary: dictionary, body: json,
                             protobuf: codec, wire: body))
        }
    }

    /// The response to a request on `route` whose client uses protobuf and
    /// whose route has a server schema: encoded in the loop's scratch. A
    /// value that does not fit the schema is logged, counted and answered
    /// like an error (500).
    func writeProtobufResponse(id: UInt32, _ response: Response, as schema: ProtoMessage, route: UInt16) {
        loop.scratch.removeAll(keepingCapacity: true)
        do {
            switch response {
            case .protobuf(let bytes):
                counters.add(.protobufBodiesOut)
                return bytes.withUnsafeBytes { writeResponse(id: id, body: $0) }
            case .json(let value):
                try ProtoEncoder.encode(value, as: schema, into: &loop.scratch)
            case .encoded(let e):
                try e.bytes.withUnsafeBytes { try ProtoEncoder.encode(json: $0, as: schema, into: &loop.scratch) }
            }
        } catch {
            counters.add(.protobufEncodeFailures)
            logger.error("\(loop.core.dictionary.routes[Int(route)]): the answer does not fit \(schema.name): \(error)")
            return writeErrorResponse(id: id, code: PomeloCode.fail, route: route)
        }
        counters.add(.protobufBodiesOut)
        loop.scratch.withUnsafeBytes { writeResponse(id: id, body: $0) }
    }

    /// The server schema an answer on `route` is encoded with, if any.
    @inline(__always)
    func responseSchema(_ route: UInt16?) -> ProtoMessage? {
        guard let route, let protobuf else { return nil }
        return protobuf.response(route)
    }
}

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
        let read = loop.withProtobufRequest(kind, id: id, route: route, body, schema, codec,
                                            entry: loop.core.entry(for: route)) { dispatch($0) }
        if !read && kind == .request { writeErrorResponse(id: id, code: PomeloCode.fail, route: route) }
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

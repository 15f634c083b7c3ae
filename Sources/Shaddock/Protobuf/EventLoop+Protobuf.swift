import ShaddockProtocol

extension EventLoop {
    /// A request whose body came as pomelo-protobuf (`schema`'s message), on
    /// a frontend or a backend alike: counted, read into JSON text in
    /// `requestJSON` unless nothing but a typed handler or a forward reads it
    /// (`entry`: they take the bytes and check them where they decode them),
    /// and handed to `run` while that text lives; a request that outlives the
    /// call owns a copy (Request.owned). False when the body does not decode
    /// (counted and logged): the caller answers 500.
    func withProtobufRequest(_ kind: Request.Kind, id: UInt32, route: UInt16, _ body: UnsafeRawBufferPointer,
                             _ schema: ProtoMessage, _ codec: ProtobufCodec, entry: RouteEntry?,
                             _ run: (Request) -> Void) -> Bool {
        counters.add(.protobufBodiesIn)
        let dictionary = core.dictionary
        if let entry, !entry.readsJSONBody {
            run(Request(kind: kind, id: id, routeCode: route, dictionary: dictionary, body: GatewayCore.emptyObject,
                        protobuf: codec, wire: body))
            return true
        }
        requestJSON.removeAll(keepingCapacity: true)
        do {
            try ProtoToJSON.transcode(body, as: schema, into: &requestJSON)
        } catch {
            counters.add(.badProtobufBodies)
            logger.info("\(dictionary.routes[Int(route)]): a body that is not a \(schema.name) message: \(error)")
            return false
        }
        requestJSON.withUnsafeBytes { json in
            run(Request(kind: kind, id: id, routeCode: route, dictionary: dictionary, body: json, protobuf: codec, wire: body))
        }
        return true
    }
}

import ShaddockProtocol

/// The forms a push takes on the way to its receivers: the plain package,
/// its body encoded as pomelo-protobuf for clients that use it (when the
/// push route has a server schema), and either of those compressed
/// (permessage-deflate by window, or Pomelo's gzip flag). Each form is made
/// once per push, at the first receiver that needs it, and appended to the
/// arena; the others link the same bytes.
extension PushScheduler {
    /// Where the push being staged is in plain form.
    enum Plain {
        case arena(Int, Int)
        case shared(EncodedPush)
    }

    enum Choice {
        /// The plain package.
        case plain
        /// Another form, in the arena.
        case form(offset: Int, length: Int, compressed: Bool)
        /// Nothing: the body does not fit the schema this client uses
        /// (counted and logged once per push).
        case unencodable
    }

    /// Window 8 is never agreed (see DeflateNegotiation): free for the gzip flag.
    static let gzipKey: UInt8 = 8

    /// Which compressed form a connection takes: the window bits (9...15) of
    /// permessage-deflate, `gzipKey` for Pomelo's gzip flag, or nil.
    @inline(__always)
    func variantKey(_ c: Connection) -> UInt8? {
        c.deflateWindow != 0 ? c.deflateWindow : messageFlag ? Self.gzipKey : nil
    }

    /// A new push: its forms are made again.
    func forgetVariants() {
        variantsOf = nil
        var k = 0
        while k < variants.count {
            variants[k].offset = -1
            k += 1
        }
        protobufForm.offset = -1
        protobufFormCodec = nil
    }

    /// The form of the push being staged that `c` takes.
    func form(for c: Connection, _ plain: Plain) -> Choice {
        var base = 0
        var source: (offset: Int, length: Int)?
        if let codec = c.protobuf {
            if protobufFormCodec != ObjectIdentifier(codec) {
                // Another client's schemas (one that handshook before a
                // reload): its forms are made anew.
                protobufFormCodec = ObjectIdentifier(codec)
                protobufForm.offset = -1
                for k in 8..<16 { variants[k].offset = -1 }
            }
            if protobufForm.offset == -1 { protobufForm = makeProtobufForm(plain, codec) }
            switch protobufForm.offset {
            case -3: return .unencodable
            case -2: break
            default:
                base = 8
                source = protobufForm
            }
        }
        if let key = variantKey(c) {
            let k = base + Int(key) - 8
            if variants[k].offset == -1 {
                let made: (head: Int, packed: UnsafeRawBufferPointer)?
                if let source {
                    made = arena.withUnsafeBytes { produce(UnsafeRawBufferPointer(rebasing: $0[source.offset..<source.offset + source.length]), key) }
                } else {
                    made = withPlain(plain) { produce($0, key) }
                }
                if let made { variants[k] = keep(made) } else { variants[k].offset = -2 }
            }
            if variants[k].offset >= 0 {
                return .form(offset: variants[k].offset, length: variants[k].length, compressed: key != Self.gzipKey)
            }
        }
        if let source { return .form(offset: source.offset, length: source.length, compressed: false) }
        return .plain
    }

    private func withPlain<R>(_ plain: Plain, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch plain {
        case .arena(let start, let length): return arena.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<start + length])) }
        case .shared(let push): return body(UnsafeRawBufferPointer(push.bytes))
        }
    }

    /// The plain package with its JSON body encoded with the push route's
    /// server schema, appended to the arena: where it is, or -2 (no schema
    /// for the route: the plain package goes) or -3 (the body does not fit).
    /// The body's JSON text is read in place (ProtoEncoder.encode(json:)).
    private func makeProtobufForm(_ plain: Plain, _ codec: ProtobufCodec) -> (offset: Int, length: Int) {
        let dictionary = loop.core.dictionary
        protobufScratch.removeAll(keepingCapacity: true)
        // The package is put together in the scratch: the plain one's
        // headers, then the body encoded anew.
        let made: Int = withPlain(plain) { package in
            guard let (head, route) = PushEncoding.route(ofPackage: package, dictionary: dictionary),
                  let schema = codec.push(route) else { return -2 }
            protobufScratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: package[..<head]))
            do {
                try ProtoEncoder.encode(json: UnsafeRawBufferPointer(rebasing: package[head...]), as: schema, into: &protobufScratch)
            } catch {
                loop.counters.add(.protobufEncodeFailures)
                loop.logger.error("push \(route) not sent to protobuf clients: the body does not fit \(schema.name): \(error)")
                return -3
            }
            return 0
        }
        guard made == 0 else { return (made, 0) }
        let length = protobufScratch.count - Package.headerLength
        guard length <= Package.maxBodyLength else {
            loop.counters.add(.protobufEncodeFailures)
            return (-3, 0)
        }
        protobufScratch[1] = UInt8(truncatingIfNeeded: length >> 16)
        protobufScratch[2] = UInt8(truncatingIfNeeded: length >> 8)
        protobufScratch[3] = UInt8(truncatingIfNeeded: length)
        let at = arena.count
        arena.append(contentsOf: protobufScratch)
        loop.counters.add(.protobufBodiesOut)
        return (at, protobufScratch.count)
    }
}

extension PushEncoding {
    /// A push package's route and where its body starts (after the package
    /// and message headers); nil if it is not a push package.
    static func route(ofPackage package: UnsafeRawBufferPointer, dictionary: RouteDictionary) -> (Int, String)? {
        let flagAt = Package.headerLength
        guard package.count > flagAt + 1 else { return nil }
        if package[flagAt] & 0x01 != 0 {
            guard package.count >= flagAt + 3 else { return nil }
            let code = Int(package[flagAt + 1]) << 8 | Int(package[flagAt + 2])
            guard code < dictionary.routes.count else { return nil }
            return (flagAt + 3, dictionary.routes[code])
        }
        let n = Int(package[flagAt + 1])
        guard package.count >= flagAt + 2 + n else { return nil }
        return (flagAt + 2 + n, String(decoding: UnsafeRawBufferPointer(rebasing: package[flagAt + 2..<flagAt + 2 + n]), as: UTF8.self))
    }
}

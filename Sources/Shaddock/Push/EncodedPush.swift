import ShaddockProtocol

/// A push encoded once as a whole Pomelo package (package header, message
/// header with the route, JSON body): a channel push or a push to many uids
/// sends these same bytes to every receiver, on every loop. The bytes live in
/// memory of their own, so their address stays put while batches are written.
public final class EncodedPush: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer

    init(copying package: [UInt8]) {
        bytes = .allocate(byteCount: package.count, alignment: 8)
        bytes.copyBytes(from: package)
    }

    deinit { bytes.deallocate() }

    var count: Int { bytes.count }
}

enum PushEncoding {
    /// Appends a push package for `route` and `body` to `out`: the route as
    /// its dictionary code when the dictionary is on and has it, otherwise as
    /// a string. Returns false (and appends nothing) if the package would be
    /// larger than a package can be, or the route is longer than 255 bytes.
    static func append(route: String, body: JSONValue, dictionary: RouteDictionary?,
                       into out: inout [UInt8]) -> Bool {
        append(route: route, dictionary: dictionary, into: &out) { body.write(into: &$0) }
    }

    /// The same with a body already serialized (a push from another server).
    static func append(route: String, rawBody: UnsafeRawBufferPointer, dictionary: RouteDictionary?,
                       into out: inout [UInt8]) -> Bool {
        append(route: route, dictionary: dictionary, into: &out) { $0.append(contentsOf: rawBody) }
    }

    /// The same with the body appended by `body`.
    static func append(route: String, dictionary: RouteDictionary?, into out: inout [UInt8],
                               body: (inout [UInt8]) -> Void) -> Bool {
        let start = out.count
        // Four appends, not an array literal (which would be allocated).
        out.append(PackageType.data.rawValue)
        out.append(0)
        out.append(0)
        out.append(0)
        if let code = dictionary?.code(for: route) {
            out.append(MessageType.push.rawValue << 1 | 0x01)
            out.append(UInt8(code >> 8))
            out.append(UInt8(truncatingIfNeeded: code))
        } else {
            let name = route.utf8
            guard name.count <= 255 else {
                out.removeSubrange(start...)
                return false
            }
            out.append(MessageType.push.rawValue << 1)
            out.append(UInt8(name.count))
            out.append(contentsOf: name)
        }
        body(&out)
        let length = out.count - start - Package.headerLength
        guard length <= Package.maxBodyLength else {
            out.removeSubrange(start...)
            return false
        }
        out[start + 1] = UInt8(truncatingIfNeeded: length >> 16)
        out[start + 2] = UInt8(truncatingIfNeeded: length >> 8)
        out[start + 3] = UInt8(truncatingIfNeeded: length)
        return true
    }
}

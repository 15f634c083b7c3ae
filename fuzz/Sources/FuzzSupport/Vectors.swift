import ShaddockProtocol

/// One recorded exchange of `Tests/Vectors/pomelo-wire.json`, read with the
/// gateway's own JSON parser (the file is trusted input).
public struct WireVector {
    public var name: String
    /// "c2s" or "s2c".
    public var direction: String
    /// "tcp" or "ws".
    public var transport: String
    /// The bytes: packages, or a raw HTTP head or frame.
    public var bytes: [UInt8]
    /// The whole WebSocket frame that carried them, when recorded.
    public var frame: [UInt8]?
    public var note: String

    public static func load(_ path: String) -> [WireVector] {
        guard let text = readFile(path) else { fatalError("cannot read \(path)") }
        guard let doc = try? JSON.parse(text), let list = doc.arrayValue else { fatalError("\(path) is not a JSON array") }
        return list.map { v in
            WireVector(name: v["name"]?.stringValue ?? "", direction: v["direction"]?.stringValue ?? "",
                       transport: v["transport"]?.stringValue ?? "", bytes: fromHex(v["hex"]?.stringValue ?? ""),
                       frame: v["ws_frame_hex"]?.stringValue.map(fromHex), note: v["note"]?.stringValue ?? "")
        }
    }

    /// The whole Pomelo packages the bytes hold, in order (none for a raw
    /// HTTP head or frame).
    public var packages: [(type: PackageType, body: [UInt8])] {
        var found: [(type: PackageType, body: [UInt8])] = []
        var offset = 0
        while case .package(let type, let body, let end) = bytes.withUnsafeBytes({
            Package.scan($0, at: offset, maxBody: Package.maxBodyLength)
        }) {
            found.append((type, Array(bytes[body])))
            offset = end
        }
        return offset == bytes.count ? found : []
    }
}

public func fromHex(_ s: String) -> [UInt8] {
    let digits = Array(s.utf8.filter { $0 != UInt8(ascii: " ") })
    return stride(from: 0, to: digits.count - 1, by: 2).map {
        guard let byte = UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16) else { fatalError("not hex: \(s)") }
        return byte
    }
}

/// A pomelo-protobuf body read straight into JSON text: what the gateway
/// hands handlers that read a request's members in place (`JSONSlice`), and
/// how a body is checked on arrival. The text is exactly what
/// `ProtoDecoder.decode(...).write(into:)` gives, and the same bodies are
/// refused, but no tree is built: a body whose fields each come once (a
/// repeated field's elements together) is written in one pass into the
/// caller's buffer and allocates nothing. A body that repeats a field after
/// another one, or a message of more than 64 fields, takes the tree path.
public enum ProtoToJSON {
    /// Appends `bytes`, decoded as `message`, as JSON to `out`. Nothing is
    /// appended when it throws; the error is the one `ProtoDecoder` throws.
    public static func transcode(_ bytes: UnsafeRawBufferPointer, as message: ProtoMessage,
                                 into out: inout [UInt8]) throws(ProtoError) {
        let start = out.count
        var fast = OnePass(bytes: bytes, at: 0, end: bytes.count)
        let done: Bool
        do {
            done = try fast.message(message, 0, &out)
        } catch {
            // The tree decoder names the field; it refuses what this refused.
            out.removeSubrange(start...)
            _ = try ProtoDecoder.decode(bytes, as: message)
            throw error
        }
        if done { return }
        out.removeSubrange(start...)
        try ProtoDecoder.decode(bytes, as: message).write(into: &out)
    }

    /// The one-pass reader. Its checks are ProtoDecoder.Reader's (whose
    /// key and varint reading it uses), in the same order; it gives up
    /// (false) where the JSON would need a member that is already written to
    /// grow.
    struct OnePass {
        var r: ProtoDecoder.Reader

        init(bytes: UnsafeRawBufferPointer, at: Int, end: Int) { r = ProtoDecoder.Reader(bytes: bytes, at: at, end: end) }

        mutating func message(_ m: ProtoMessage, _ depth: Int, _ out: inout [UInt8]) throws(ProtoError) -> Bool {
            guard depth < ProtoEncoder.maxDepth else { throw .tooDeep }
            guard m.fields.count <= 64 else { return false }
            var seen: UInt64 = 0
            // The field whose member is open (an array still taking elements),
            // and whether it has one yet.
            var open = -1
            var openHasElements = false
            out.append(UInt8(ascii: "{"))
            while r.at < r.end {
                let i = try r.field(of: m)
                let field = m.fields[i]
                let bit: UInt64 = 1 << UInt64(i)
                let repeated = field.label == .repeated
                if seen & bit != 0 {
                    // More elements of the array just written go on; anything
                    // else (a field again, later) is for the tree.
                    guard repeated, open == i else { return false }
                } else {
                    if open >= 0 { out.append(UInt8(ascii: "]")) }
                    if seen != 0 { out.append(UInt8(ascii: ",")) }
                    seen |= bit
                    writeJSONString(field.name, into: &out)
                    out.append(UInt8(ascii: ":"))
                    open = -1
                    if repeated {
                        out.append(UInt8(ascii: "["))
                        open = i
                        openHasElements = false
                    }
                }
                guard repeated else {
                    guard try value(field.type, field.name, depth, &out) else { return false }
                    continue
                }
                // (`out.last` would be generic code, which allocates in
                // debug builds.)
                if case .scalar(let s) = field.type, s.isPackedByCount {
                    let count = try r.varint()
                    guard count <= UInt64(r.end - r.at) else { throw .truncated }
                    var n = 0
                    while n < Int(count) {
                        if openHasElements { out.append(UInt8(ascii: ",")) }
                        openHasElements = true
                        _ = try value(field.type, field.name, depth, &out)
                        n += 1
                    }
                } else {
                    if openHasElements { out.append(UInt8(ascii: ",")) }
                    openHasElements = true
                    guard try value(field.type, field.name, depth, &out) else { return false }
                }
            }
            if open >= 0 { out.append(UInt8(ascii: "]")) }
            if m.requiredMask & ~seen != 0 {
                var i = 0
                while i < m.fields.count {
                    if m.requiredMask & (1 << UInt64(i)) != 0 && seen & (1 << UInt64(i)) == 0 {
                        throw .missingRequired(field: m.fields[i].name)
                    }
                    i += 1
                }
            }
            out.append(UInt8(ascii: "}"))
            return true
        }

        /// One value; false when a nested message needs the tree.
        mutating func value(_ type: ProtoType, _ name: String, _ depth: Int, _ out: inout [UInt8]) throws(ProtoError) -> Bool {
            switch type {
            case .message(let m):
                let n = try r.varint()
                guard n <= UInt64(r.end - r.at) else { throw .truncated }
                var inner = OnePass(bytes: r.bytes, at: r.at, end: r.at + Int(n))
                guard try inner.message(m, depth + 1, &out) else { return false }
                r.at += Int(n)
            case .scalar(.string):
                let n = try r.varint()
                guard n <= UInt64(r.end - r.at) else { throw .truncated }
                let text = UnsafeRawBufferPointer(rebasing: r.bytes[try r.take(Int(n))])
                if UTF8Validation.isValid(text) {
                    writeJSONString(utf8: text, into: &out)
                } else {
                    // CESU-8 from the browser library: rare, so rewritten
                    // through a String.
                    guard let s = ProtoStrings.decode(text) else { throw .badString(field: name) }
                    writeJSONString(s, into: &out)
                }
            case .scalar(.float):
                let at = try r.take(4).lowerBound
                let f = Float(bitPattern: UInt32(littleEndian: r.bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                guard f.isFinite else { throw .outOfRange(field: name) }
                writeJSONNumber(Double(f), into: &out)
            case .scalar(.double):
                let at = try r.take(8).lowerBound
                let d = Double(bitPattern: UInt64(littleEndian: r.bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
                guard d.isFinite else { throw .outOfRange(field: name) }
                writeJSONNumber(d, into: &out)
            case .scalar(.bool):
                appendStatic(try r.varint() != 0 ? "true" : "false", to: &out)
            case .scalar(.uInt32):
                let v = try r.varint()
                guard v <= UInt64(UInt32.max) else { throw .outOfRange(field: name) }
                writeJSONNumber(Double(v), into: &out)
            case .scalar(.uInt64):
                writeJSONNumber(Double(try r.varint()), into: &out)
            case .scalar(.sInt32), .scalar(.int32):
                let v = ProtoWire.unzigzag(try r.varint())
                guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw .outOfRange(field: name) }
                writeJSONNumber(Double(v), into: &out)
            case .scalar(.sInt64):
                writeJSONNumber(Double(ProtoWire.unzigzag(try r.varint())), into: &out)
            }
            return true
        }
    }
}

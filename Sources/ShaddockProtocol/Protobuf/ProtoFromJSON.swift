/// JSON text encoded as pomelo-protobuf without a tree in between: how the
/// gateway encodes a push (its body is JSON text, written once) and a
/// pre-encoded JSON answer for a client that uses protobuf. The bytes and
/// the errors are exactly those of `ProtoEncoder.encode(JSON.parse(text))`:
/// text with ASCII keys, each once per object, unescaped strings, numbers,
/// literals and nesting is read in one pass and allocates nothing; anything
/// else (an escape, a key twice, an error of any kind) takes that tree path.
extension ProtoEncoder {
    /// Appends `json`, the text of an object, encoded as `message`. Nothing
    /// is appended when it throws (a `ProtoError`, or a `JSONError` for text
    /// that is not JSON).
    public static func encode(json: UnsafeRawBufferPointer, as message: ProtoMessage, into out: inout [UInt8]) throws {
        let start = out.count
        var pass = TextPass(JSONSkipper(json))
        if pass.message(message, 0, &out) {
            pass.text.skipWhitespace()
            if pass.text.i == json.count { return }
        }
        out.removeSubrange(start...)
        try encode(JSON.parse(json), as: message, into: &out)
    }

    /// The one pass: false wherever the tree path must decide.
    struct TextPass {
        var text: JSONSkipper

        init(_ text: JSONSkipper) { self.text = text }

        private var b: UnsafeRawBufferPointer { text.b }

        private func at(_ c: Unicode.Scalar) -> Bool { text.i < b.count && b[text.i] == UInt8(ascii: c) }

        /// At a value: its text, and the reader past it.
        private mutating func value() -> UnsafeRawBufferPointer? {
            text.skipWhitespace()
            let start = text.i
            guard text.skipValue() else { return nil }
            return UnsafeRawBufferPointer(rebasing: b[start..<text.i])
        }

        mutating func message(_ m: ProtoMessage, _ depth: Int, _ out: inout [UInt8]) -> Bool {
            guard depth < ProtoEncoder.maxDepth, m.fields.count <= 64 else { return false }
            text.skipWhitespace()
            guard at("{") else { return false }
            text.i += 1
            var seen: UInt64 = 0, present: UInt64 = 0
            text.skipWhitespace()
            if at("}") {
                text.i += 1
            } else {
                while true {
                    text.skipWhitespace()
                    guard at("\"") else { return false }
                    let keyStart = text.i + 1
                    var escaped = false
                    guard text.skipString(escaped: &escaped), !escaped else { return false }
                    let key = UnsafeRawBufferPointer(rebasing: b[keyStart..<text.i - 1])
                    // Non-ASCII keys: the tree finds fields by canonical
                    // equality, which bytes do not decide.
                    var k = 0
                    while k < key.count {
                        guard key[k] < 0x80 else { return false }
                        k += 1
                    }
                    text.skipWhitespace()
                    guard at(":") else { return false }
                    text.i += 1
                    guard let v = value() else { return false }
                    if let i = m.index(utf8: key) {
                        let bit: UInt64 = 1 << UInt64(i)
                        guard seen & bit == 0 else { return false }
                        seen |= bit
                        if !(v.count == 4 && v[0] == UInt8(ascii: "n")) {
                            present |= bit
                            guard member(v, m.fields[i], depth, &out) else { return false }
                        }
                    }
                    text.skipWhitespace()
                    if at(",") {
                        text.i += 1
                        continue
                    }
                    guard at("}") else { return false }
                    text.i += 1
                    break
                }
            }
            return m.requiredMask & ~present == 0
        }

        private mutating func member(_ v: UnsafeRawBufferPointer, _ field: ProtoField, _ depth: Int, _ out: inout [UInt8]) -> Bool {
            guard field.label == .repeated else {
                out.append(contentsOf: field.key)
                return scalarOrMessage(v, field.type, depth, &out)
            }
            guard v.count >= 2, v[0] == UInt8(ascii: "[") else { return false }
            // The elements, counted first: a repeated scalar writes its count
            // before its values.
            var elements = TextPass(JSONSkipper(v))
            elements.text.i = 1
            var count = 0
            elements.text.skipWhitespace()
            if !elements.at("]") {
                while true {
                    guard elements.value() != nil else { return false }
                    count += 1
                    elements.text.skipWhitespace()
                    if elements.at(",") {
                        elements.text.i += 1
                        continue
                    }
                    guard elements.at("]") else { return false }
                    break
                }
            }
            guard count > 0 else { return true }
            let packed: Bool
            if case .scalar(let s) = field.type { packed = s.isPackedByCount } else { packed = false }
            if packed {
                out.append(contentsOf: field.key)
                ProtoWire.appendVarint(UInt64(count), to: &out)
            }
            elements.text.i = 1
            for _ in 0..<count {
                guard let e = elements.value() else { return false }
                if !packed { out.append(contentsOf: field.key) }
                guard scalarOrMessage(e, field.type, depth, &out) else { return false }
                elements.text.skipWhitespace()
                elements.text.i += 1  // the ',' or ']' seen while counting
            }
            return true
        }

        private func scalarOrMessage(_ v: UnsafeRawBufferPointer, _ type: ProtoType, _ depth: Int, _ out: inout [UInt8]) -> Bool {
            switch type {
            case .message(let m):
                let lengthAt = out.count
                out.append(0)
                var inner = TextPass(JSONSkipper(v))
                guard inner.message(m, depth + 1, &out) else { return false }
                ProtoWire.fillLength(at: lengthAt, in: &out)
                return true
            case .scalar(.string):
                guard v.count >= 2, v[0] == UInt8(ascii: "\""), let raw = JSONSlice(v).rawString,
                      UTF8Validation.isValid(raw), !hasControlBytes(raw) else { return false }
                ProtoWire.appendVarint(UInt64(raw.count), to: &out)
                out.append(contentsOf: raw)
                return true
            case .scalar(.bool):
                guard let b = JSONSlice(v).boolValue else { return false }
                out.append(b ? 1 : 0)
                return true
            case .scalar(let s):
                guard let d = number(v) else { return false }
                switch s {
                case .float:
                    let f = Float(d)
                    guard f.isFinite else { return false }
                    ProtoEncoder.appendLittleEndian(UInt64(f.bitPattern), bytes: 4, to: &out)
                case .double:
                    ProtoEncoder.appendLittleEndian(d.bitPattern, bytes: 8, to: &out)
                case .uInt32:
                    guard let n = integer(d, 0...4_294_967_295) else { return false }
                    ProtoWire.appendVarint(UInt64(n), to: &out)
                case .sInt32, .int32:
                    guard let n = integer(d, -2_147_483_648...2_147_483_647) else { return false }
                    ProtoWire.appendVarint(ProtoWire.zigzag(n), to: &out)
                case .uInt64:
                    guard let n = integer(d, 0...9_007_199_254_740_991) else { return false }
                    ProtoWire.appendVarint(UInt64(n), to: &out)
                case .sInt64:
                    guard let n = integer(d, -9_007_199_254_740_991...9_007_199_254_740_991) else { return false }
                    ProtoWire.appendVarint(ProtoWire.zigzag(n), to: &out)
                case .string, .bool:
                    return false
                }
                return true
            }
        }

        /// A number's value as JSON.parse reads it.
        private func number(_ v: UnsafeRawBufferPointer) -> Double? {
            // `v.first` would be generic code, which allocates in debug builds.
            guard v.count > 0, v[0] == UInt8(ascii: "-") || (v[0] >= 0x30 && v[0] <= 0x39),
                  case .number(let d)? = try? JSON.parse(v) else { return nil }
            return d
        }

        /// JSON refuses control characters unescaped in a string.
        private func hasControlBytes(_ s: UnsafeRawBufferPointer) -> Bool {
            var k = 0
            while k < s.count {
                if s[k] < 0x20 { return true }
                k += 1
            }
            return false
        }

        private func integer(_ d: Double, _ range: ClosedRange<Int64>) -> Int64? {
            guard d == d.rounded(), d >= Double(range.lowerBound), d <= Double(range.upperBound) else { return nil }
            return Int64(d)
        }
    }
}

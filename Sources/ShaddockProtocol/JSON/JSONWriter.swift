// JSONWriter: serialises a JSONValue exactly as JavaScript's JSON.stringify
// does (no whitespace, the same string escapes, numbers as Number#toString),
// so clients see the same bytes as from a Node.js Pomelo server and output
// is stable enough to compare byte for byte.

extension JSONValue {
    /// Appends the JSON text exactly as JavaScript's JSON.stringify would produce it.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: appendStatic("null", to: &out)
        case .bool(let b): appendStatic(b ? "true" : "false", to: &out)
        case .number(let d): writeJSONNumber(d, into: &out)
        case .string(let s): writeJSONString(s, into: &out)
        // Indexed loops rather than for-in: unoptimized (debug) code iterates
        // an array of these element types through an unspecialized coroutine
        // that mallocs its frame for every element, and a response encoded
        // here must not allocate in any build (AllocationTests count it).
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var i = 0
            while i < elements.count {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                elements[i].write(into: &out)
                i += 1
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            let members = object.members
            var i = 0
            while i < members.count {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeJSONString(members[i].key, into: &out)
                out.append(UInt8(ascii: ":"))
                members[i].value.write(into: &out)
                i += 1
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public var serialized: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(into: &out)
        return out
    }

    public var jsonString: String {
        String(decoding: serialized, as: UTF8.self)
    }
}

@inline(__always)
func appendStatic(_ s: StaticString, to out: inout [UInt8]) {
    out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
}

// MARK: Strings

private let hexDigits: StaticString = "0123456789abcdef"

/// JSON.stringify escapes only '"', '\\' and C0 controls (with the short
/// forms where JSON has them, else \u00xx in lowercase hex). '/', DEL and
/// non-ASCII, U+2028/9 included, go out verbatim. Lone surrogates, which
/// JavaScript would escape, cannot occur in a Swift String.
func writeJSONString(_ string: String, into out: inout [UInt8]) {
    var string = string
    string.withUTF8 { writeJSONString(utf8: UnsafeRawBufferPointer($0), into: &out) }
}

/// The same for bytes known to be valid UTF-8 (a protobuf body's string).
func writeJSONString(utf8 bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    var run = 0
    for j in 0..<bytes.count {
        let b = bytes[j]
        if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") { continue }
        if j > run { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[run..<j])) }
        run = j + 1
        out.append(UInt8(ascii: "\\"))
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(b)
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        default:
            let hex = hexDigits.utf8Start
            out.append(UInt8(ascii: "u"))
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "0"))
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xF)])
        }
    }
    if bytes.count > run { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[run...])) }
    out.append(UInt8(ascii: "\""))
}

// MARK: Numbers

/// ECMA-262 Number::toString(x) with JSON.stringify's rule that non-finite
/// numbers become null.
func writeJSONNumber(_ x: Double, into out: inout [UInt8]) {
    guard x.isFinite else { return appendStatic("null", to: &out) }
    if x == 0 { return out.append(UInt8(ascii: "0")) }  // -0 too
    if x < 0 { out.append(UInt8(ascii: "-")) }
    let m = x.magnitude
    // Integers below 2^53 are their own shortest digits: print them directly,
    // which is by far the common case (codes, ids, counts, timestamps).
    if m < 9_007_199_254_740_992, m == m.rounded(.towardZero) {
        return appendDecimal(UInt64(m), to: &out)
    }
    writeShortest(m, into: &out)
}

private func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
    var digits = 1
    var probe = value
    while probe >= 10 {
        probe /= 10
        digits += 1
    }
    let start = out.count
    appendZeros(digits, to: &out)
    var v = value
    var k = start + digits
    repeat {
        k -= 1
        out[k] = UInt8(ascii: "0") &+ UInt8(v % 10)
        v /= 10
    } while v != 0
}

/// One append per zero: appending a `repeatElement` collection costs a malloc
/// per element in unoptimized builds (an unspecialized coroutine frame).
private func appendZeros(_ count: Int, to out: inout [UInt8]) {
    var left = count
    while left > 0 {
        out.append(UInt8(ascii: "0"))
        left -= 1
    }
}

/// Re-lays out the shortest round-trip digits that Swift's `description`
/// produces (in whatever format it chose) the way Number::toString does.
private func writeShortest(_ m: Double, into out: inout [UInt8]) {
    var text = m.description
    text.withUTF8 { t in
        // Split "ddd.ddde±xx" into significant digits and the position n of
        // the decimal point relative to them: value = 0.d1d2…dk × 10^n.
        var exponentStart = t.count
        for j in 0..<t.count where t[j] | 0x20 == UInt8(ascii: "e") {
            exponentStart = j
            break
        }
        var exponent = 0
        if exponentStart < t.count {
            var j = exponentStart + 1
            var negative = false
            if t[j] == UInt8(ascii: "-") || t[j] == UInt8(ascii: "+") {
                negative = t[j] == UInt8(ascii: "-")
                j += 1
            }
            while j < t.count {
                exponent = exponent * 10 + Int(t[j] &- 0x30)
                j += 1
            }
            if negative { exponent = -exponent }
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
            var k = 0
            var integerDigits = 0
            var seenPoint = false
            var leadingZeros = 0
            for j in 0..<exponentStart {
                let c = t[j]
                if c == UInt8(ascii: ".") {
                    seenPoint = true
                    continue
                }
                if !seenPoint { integerDigits += 1 }
                if k == 0 && c == UInt8(ascii: "0") {
                    leadingZeros += 1
                    continue
                }
                digits[k] = c
                k += 1
            }
            while k > 1 && digits[k - 1] == UInt8(ascii: "0") { k -= 1 }
            let n = integerDigits + exponent - leadingZeros
            layOut(UnsafeBufferPointer(rebasing: digits[0..<k]), n: n, into: &out)
        }
    }
}

/// Number::toString steps for digits d1…dk with the point at n.
private func layOut(_ d: UnsafeBufferPointer<UInt8>, n: Int, into out: inout [UInt8]) {
    let k = d.count
    if k <= n && n <= 21 {
        out.append(contentsOf: d)
        appendZeros(n - k, to: &out)
    } else if 0 < n && n <= 21 {
        out.append(contentsOf: UnsafeBufferPointer(rebasing: d[0..<n]))
        out.append(UInt8(ascii: "."))
        out.append(contentsOf: UnsafeBufferPointer(rebasing: d[n...]))
    } else if -6 < n && n <= 0 {
        out.append(UInt8(ascii: "0"))
        out.append(UInt8(ascii: "."))
        appendZeros(-n, to: &out)
        out.append(contentsOf: d)
    } else {
        out.append(d[0])
        if k > 1 {
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: UnsafeBufferPointer(rebasing: d[1...]))
        }
        out.append(UInt8(ascii: "e"))
        let e = n - 1
        out.append(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        appendDecimal(UInt64(e.magnitude), to: &out)
    }
}

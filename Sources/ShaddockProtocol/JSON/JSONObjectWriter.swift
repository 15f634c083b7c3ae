// JSONObjectWriter: a JSON object written member by member straight into an
// output buffer (a loop's push arena), with no JSONValue tree in between.
// What it writes is byte for byte what JSON.stringify writes for the same
// members in the same order.

/// Writes one JSON object's members. Made by `JSONObjectWriter.write`, or by
/// the gateway around its own output buffer (a channel push).
public struct JSONObjectWriter {
    /// The output; the object's text is appended to what is already there.
    public internal(set) var bytes: [UInt8]
    private var first = true

    init(taking out: inout [UInt8]) {
        bytes = []
        swap(&bytes, &out)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Appends `{…}` to `out`: the members `fill` adds. No copy of `out`.
    public static func write(into out: inout [UInt8], _ fill: (inout JSONObjectWriter) throws -> Void) rethrows {
        var w = JSONObjectWriter(taking: &out)
        defer {
            w.bytes.append(UInt8(ascii: "}"))
            swap(&w.bytes, &out)
        }
        try fill(&w)
    }

    /// The object `fill` makes, as bytes.
    public static func bytes(_ fill: (inout JSONObjectWriter) throws -> Void) rethrows -> [UInt8] {
        var out: [UInt8] = []
        try write(into: &out, fill)
        return out
    }

    private mutating func key(_ key: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        writeJSONString(key, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func add(_ key: String, _ value: String) {
        self.key(key)
        writeJSONString(value, into: &bytes)
    }

    public mutating func add(_ key: String, _ value: Int) {
        self.key(key)
        writeJSONNumber(Double(value), into: &bytes)
    }

    public mutating func add(_ key: String, _ value: Double) {
        self.key(key)
        writeJSONNumber(value, into: &bytes)
    }

    public mutating func add(_ key: String, _ value: Bool) {
        self.key(key)
        appendStatic(value ? "true" : "false", to: &bytes)
    }

    public mutating func add(_ key: String, _ value: JSONValue) {
        self.key(key)
        value.write(into: &bytes)
    }

    /// A value read from other JSON (a request's member): copied as it
    /// came when that is how JSON.stringify writes it (a string without
    /// escapes, a literal, a plain integer), otherwise parsed and written
    /// again so the output stays canonical.
    public mutating func add(_ key: String, _ value: JSONSlice) {
        self.key(key)
        if value.isCanonical {
            bytes.append(contentsOf: value.bytes)
        } else {
            (value.value ?? .null).write(into: &bytes)
        }
    }

    /// A member whose value `fill` writes as a nested object.
    public mutating func addObject(_ key: String, _ fill: (inout JSONObjectWriter) throws -> Void) rethrows {
        self.key(key)
        try Self.write(into: &bytes, fill)
    }
}

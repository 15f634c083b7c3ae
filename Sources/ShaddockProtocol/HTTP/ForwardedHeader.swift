/// The clients that HTTP reverse proxies name in an upgrade request:
/// `Forwarded` (RFC 7239: its `for=` parameters) or, without it,
/// `X-Forwarded-For`, every header line in order, left (the first proxy's
/// client) to right (the last proxy's).
///
/// Entries are returned as addresses without a port or brackets
/// (`"[2001:db8::1]:4711"` becomes `2001:db8::1`, `"192.0.2.1:80"`
/// `192.0.2.1`), but not validated: `unknown`, an obfuscated `_name`, or
/// garbage come back as they are, for the caller to stop at. Which entry to
/// believe depends on which proxies are trusted: the gateway walks from the
/// right past its trusted proxies (Connection.forwardedClient).
public enum ForwardedHeader {
    public static func clients(_ bytes: UnsafeRawBufferPointer, _ request: UpgradeRequest) -> [Substring] {
        var out: [Substring] = []
        if !request.forwarded.isEmpty {
            for line in request.forwarded {
                for element in split(text(bytes, line), by: ",") {
                    for pair in split(element, by: ";") {
                        guard let eq = pair.firstIndex(of: "=") else { continue }
                        let name = pair[..<eq].trimmingSpaces
                        guard name.lowercased() == "for" else { continue }
                        out.append(address(unquoted(pair[pair.index(after: eq)...].trimmingSpaces)))
                    }
                }
            }
            return out
        }
        for line in request.forwardedFor {
            for entry in split(text(bytes, line), by: ",") {
                out.append(address(entry.trimmingSpaces))
            }
        }
        return out
    }

    private static func text(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Substring {
        Substring(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Splits at `separator` outside double quotes.
    private static func split(_ s: Substring, by separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var start = s.startIndex, quoted = false
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == "\"" { quoted.toggle() } else if c == separator && !quoted {
                parts.append(s[start..<i])
                start = s.index(after: i)
            }
            i = s.index(after: i)
        }
        parts.append(s[start..<s.endIndex])
        return parts
    }

    private static func unquoted(_ s: Substring) -> Substring {
        if s.count >= 2 && s.first == "\"" && s.last == "\"" { return s.dropFirst().dropLast() }
        return s
    }

    /// Without brackets and port: `[v6]:port` and `[v6]` to `v6`,
    /// `v4:port` to `v4`; a bare IPv6 address (more than one colon) is left
    /// whole.
    private static func address(_ s: Substring) -> Substring {
        if s.first == "[", let close = s.firstIndex(of: "]") { return s[s.index(after: s.startIndex)..<close] }
        if let colon = s.firstIndex(of: ":"), s[s.index(after: colon)...].firstIndex(of: ":") == nil { return s[..<colon] }
        return s
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}

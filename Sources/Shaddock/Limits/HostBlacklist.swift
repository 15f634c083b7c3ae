#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Peer addresses refused at accept: Pomelo's connector `blacklist`.
///
/// Pomelo tests every entry as a regular expression against the peer's
/// address. Shaddock keeps that for entries that are patterns, but reads an
/// entry that is an address or a CIDR block as exactly that, so "10.0.0.1"
/// does not also refuse "110.0.0.15", and "::1" and "0:0::1" are one
/// address. An IPv4-mapped IPv6 peer ("::ffff:1.2.3.4") is the IPv4 address
/// it carries, so IPv4 entries refuse it on a dual-stack socket too.
public struct HostBlacklist: Sendable {
    /// Networks by prefix length and family: a lookup masks the peer once per
    /// distinct prefix and asks a set, so a long list is no slower than a
    /// short one. Exact addresses are the full-length prefix.
    private var tables: [Table] = []
    private var patterns: [Pattern] = []

    private struct Table: Sendable {
        let isV4: Bool
        let prefix: Int
        var networks: Set<IPAddress>
    }

    private struct Pattern: @unchecked Sendable {
        // Regex is not Sendable; it is compiled and lowered in init and only read after.
        let regex: Regex<AnyRegexOutput>

        /// A search, as RegExp.test does: `^10\.` is anchored, `10\.` matches anywhere.
        func matches(_ text: String) -> Bool { (try? regex.firstMatch(in: text)) != nil }
    }

    /// Classifies and checks every entry; the error names the first bad one
    /// as `blacklist[i]`.
    public init(_ entries: [String]) throws(ConfigurationError) {
        for (i, entry) in entries.enumerated() {
            let key = "blacklist[\(i)]"
            if entry.isEmpty { throw .invalid(key, "an empty entry would refuse every address") }
            if let address = IPAddress(entry) {
                add(address, prefix: address.bitCount)
            } else if let slash = entry.lastIndex(of: "/"), entry.allSatisfy(\.isCIDRCharacter) {
                let (network, prefix) = try Self.block(entry, slash: slash, key: key)
                add(network, prefix: prefix)
            } else {
                do {
                    let regex = try Regex(entry)
                    // Regex lowers its program on first use; do it now, before
                    // the list is shared by the loop threads.
                    _ = try? regex.firstMatch(in: "")
                    patterns.append(Pattern(regex: regex))
                } catch {
                    throw .invalid(key, "\"\(entry)\" is neither an address, a CIDR block nor a regular expression: \(error)")
                }
            }
        }
        // Exact addresses first: the common case answers on the first set.
        tables.sort { $0.prefix > $1.prefix }
    }

    public var isEmpty: Bool { tables.isEmpty && patterns.isEmpty }

    /// Whether a peer with this numeric address is refused. Patterns are
    /// searched in the address as JavaScript's `RegExp.test` does, and for a
    /// mapped peer also in its IPv4 form.
    /// No entry: contains nothing.
    public static let none = try! HostBlacklist([])

    public func contains(_ address: String) -> Bool {
        let parsed = IPAddress(address)
        if let parsed {
            for table in tables where table.isV4 == parsed.isV4 {
                if table.networks.contains(parsed.masked(table.prefix)) { return true }
            }
        }
        if patterns.isEmpty { return false }
        if patterns.contains(where: { $0.matches(address) }) { return true }
        if let parsed, parsed.isV4, address.contains(":") {
            let dotted = parsed.dotted
            return patterns.contains { $0.matches(dotted) }
        }
        return false
    }

    private mutating func add(_ address: IPAddress, prefix: Int) {
        let network = address.masked(prefix)
        if let i = tables.firstIndex(where: { $0.isV4 == address.isV4 && $0.prefix == prefix }) {
            tables[i].networks.insert(network)
        } else {
            tables.append(Table(isV4: address.isV4, prefix: prefix, networks: [network]))
        }
    }

    /// "a.b.c.d/n" or "v6/n". Host bits past the prefix are ignored.
    private static func block(_ entry: String, slash: String.Index, key: String)
        throws(ConfigurationError) -> (IPAddress, Int)
    {
        let text = String(entry[..<slash])
        guard let address = IPAddress(text) else {
            throw .invalid(key, "\"\(text)\" in \"\(entry)\" is not a numeric IPv4 or IPv6 address")
        }
        let writtenBits = text.contains(":") ? 128 : 32
        let digits = entry[entry.index(after: slash)...]
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy(\.isASCIIDigit),
              let prefix = Int(digits), prefix <= writtenBits
        else {
            throw .invalid(key, "\"\(entry)\": the prefix length must be in 0...\(writtenBits)")
        }
        if writtenBits == 128 && address.isV4 {
            // A mapped block: peers are matched as IPv4, so it becomes an
            // IPv4 block, which needs the whole ::ffff:0:0/96 part fixed.
            guard prefix >= 96 else {
                throw .invalid(key, "\"\(entry)\": an IPv4-mapped block needs a prefix of at least 96")
            }
            return (address, prefix - 96)
        }
        return (address, prefix)
    }
}

extension Character {
    fileprivate var isCIDRCharacter: Bool { isHexDigit || self == "." || self == ":" || self == "/" }
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}

/// A numeric IPv4 or IPv6 address, its bytes in network order packed into
/// two words, so hashing and masking allocate nothing. IPv4 (and IPv4-mapped
/// IPv6) sits in the low 32 bits of `low`.
struct IPAddress: Hashable, Sendable {
    private(set) var high: UInt64 = 0
    private(set) var low: UInt64 = 0
    let isV4: Bool

    /// Parses with inet_pton, which takes only numeric forms: no host names,
    /// no "1.2.3" shorthand, no zone index.
    init?(_ text: String) {
        if text.utf8.contains(0) { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            isV4 = true
            low = UInt64(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeBytes(of: &v6) { bytes in
            for i in 0..<8 { words.0 = words.0 << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { words.1 = words.1 << 8 | UInt64(bytes[i]) }
        }
        if words.0 == 0 && words.1 >> 32 == 0xffff {
            isV4 = true
            low = words.1 & 0xffff_ffff
        } else {
            isV4 = false
            (high, low) = words
        }
    }

    var bitCount: Int { isV4 ? 32 : 128 }

    /// The first `prefix` bits kept, the rest zero.
    func masked(_ prefix: Int) -> IPAddress {
        var m = self
        if isV4 {
            m.low &= Self.mask(prefix + 32)
        } else if prefix <= 64 {
            m.high &= Self.mask(prefix)
            m.low = 0
        } else {
            m.low &= Self.mask(prefix - 64)
        }
        return m
    }

    /// A 64-bit word with its top `bits` bits set.
    private static func mask(_ bits: Int) -> UInt64 {
        bits <= 0 ? 0 : bits >= 64 ? ~0 : ~0 << UInt64(64 - bits)
    }

    /// "a.b.c.d", for an IPv4 address.
    var dotted: String {
        (0..<4).map { String((low >> UInt64(24 - 8 * $0)) & 0xff) }.joined(separator: ".")
    }

    /// The canonical text: dotted for IPv4 (an IPv4-mapped address too),
    /// RFC 5952 for IPv6, as a session's `remoteAddress` shows it.
    var text: String {
        if isV4 { return dotted }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * i))
            bytes[8 + i] = UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * i))
        }
        var out = [CChar](repeating: 0, count: 64)
        guard inet_ntop(AF_INET6, bytes, &out, 64) != nil else { return "?" }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

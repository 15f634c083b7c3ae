// Interim: replaced by the full matcher (exact, CIDR, regular expression).
public struct HostBlacklist: Sendable {
    private let exact: Set<String>
    public init(_ entries: [String]) throws(ConfigurationError) { exact = Set(entries) }
    public func contains(_ address: String) -> Bool { exact.contains(address) }
    public var isEmpty: Bool { exact.isEmpty }
}

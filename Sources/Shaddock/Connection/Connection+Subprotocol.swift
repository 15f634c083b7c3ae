import ShaddockProtocol

extension Connection {
    /// The offered subprotocol the 101 answer names, as a range of the
    /// request's bytes (nil: none), by the configured policy.
    func subprotocol(_ request: UpgradeRequest, _ bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        guard !request.protocols.isEmpty else { return nil }
        switch loop.core.config.subprotocols {
        case .none:
            return nil
        case .firstOffered:
            return request.protocols.first
        case .only(let names):
            return request.protocols.first { range in
                names.contains { $0.utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[range])) }
            }
        }
    }
}

import ShaddockProtocol

/// HTTP reverse proxies in front of the WebSocket endpoint: the client a
/// trusted one names in the upgrade (`Forwarded`, `X-Forwarded-For`)
/// becomes the connection's address, as a PROXY header's does, and the
/// blacklist and the per-address limit judge it again.
extension Connection {
    /// The right-most address that is not one of the trusted proxies, when
    /// the request came from one (nil: the connection keeps its address).
    /// An entry that is not an address (`unknown`, an obfuscated name)
    /// makes the header unusable.
    func forwardedClient(_ request: UpgradeRequest, _ bytes: UnsafeRawBufferPointer) -> String? {
        guard !request.forwarded.isEmpty || !request.forwardedFor.isEmpty else { return nil }
        let trusted = loop.trustedProxies
        guard !trusted.isEmpty, trusted.contains(session.remoteAddress) else { return nil }
        let hops = ForwardedHeader.clients(bytes, request)
        for hop in hops.reversed() {
            guard let address = IPAddress(String(hop)) else { return nil }
            let text = address.text
            if !trusted.contains(text) { return text }
        }
        return hops.first.flatMap { IPAddress(String($0))?.text }
    }

    /// Takes `client` as the connection's address; false when the
    /// blacklist or the per-address limit refuses it (the connection is
    /// then closed without an answer, as at the accept).
    func admitForwarded(_ client: String) -> Bool {
        let previous = session.remoteAddress
        guard client != previous else { return true }
        if !loop.blacklist.isEmpty && loop.blacklist.contains(client) {
            counters.add(.blacklistRefused)
            logger.info("refused \(client) (through \(previous)): blacklisted")
            close(.abort)
            return false
        }
        if countedByAddress, let max = loop.core.addressLimit.max {
            loop.core.addressLimit.release(previous)
            countedByAddress = false
            guard loop.core.addressLimit.acquire(client, max: max) else {
                counters.add(.addressLimitRefused)
                logger.warning("refused \(client) (through \(previous)): it has \(max) connections open (maxConnectionsPerAddress)")
                close(.abort)
                return false
            }
            countedByAddress = true
        }
        counters.add(.forwardedClients)
        session.forwarded(from: client)
        return true
    }
}

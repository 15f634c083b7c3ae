import ShaddockProtocol

/// The per-connection request rate (`GatewayConfiguration.requestRate`): a
/// token bucket refilled from the loop's cached clock, so a check is a few
/// integer operations on the connection's own fields.
extension Connection {
    /// Takes a token for one request or notify. Without one, a request is
    /// answered 429 and a notify dropped, and false is returned; a
    /// connection refused more than `kickAfter` times within a second is
    /// kicked.
    func takeToken(_ rate: RequestRateLimit, for kind: Request.Kind, id: UInt32, route: UInt16) -> Bool {
        let now = loop.now
        let capacity = Int64(rate.burst) * 1000
        if rateStamp == 0 {
            // First use (or the limit was turned on by a reload): a full bucket.
            rateTokens = capacity
        } else {
            // perSecond requests a second is perSecond thousandths a millisecond.
            rateTokens = min(capacity, rateTokens + Int64(now &- rateStamp) * Int64(rate.perSecond))
        }
        rateStamp = now
        if rateTokens >= 1000 {
            rateTokens -= 1000
            return true
        }
        counters.add(.rateLimited)
        if now &- rateWindow >= 1000 {
            rateWindow = now
            rateRefusals = 0
        }
        rateRefusals += 1
        if kind == .request { writeErrorResponse(id: id, code: PomeloCode.rateLimited, route: route) }
        if rateRefusals > rate.kickAfter {
            counters.add(.rateLimitKicks)
            logger.warning("kicking: more than \(rate.kickAfter) messages a second over the request rate (\(rate.perSecond)/s)")
            kick(reason: "request rate")
        }
        return false
    }
}

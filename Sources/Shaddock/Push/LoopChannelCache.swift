import CShaddockLoop

/// The channels a loop's handlers looked up, so that `ChannelService.get` on
/// the message path takes no lock: a hit is a dictionary read on the loop's
/// own thread and one atomic load (the channel's `destroyed` flag). Only a
/// miss reads the service's table under its lock. Loop-confined.
final class LoopChannelCache {
    /// The service this cache reads for (compared by identity only).
    let owner: ObjectIdentifier
    var table: [String: Channel] = [:]

    init(owner: ChannelService) { self.owner = ObjectIdentifier(owner) }

    /// Caches `channel`. Destroyed channels found at hits are dropped then;
    /// those never looked up again are swept at a miss that finds the cache
    /// holding twice the channels that exist (and 64), so it stays bounded
    /// by them.
    func remember(_ channel: Channel, name: String, live: Int) {
        if table.count >= 2 * live + 64 {
            table = table.filter { !$0.value.destroyed.load(ordering: .relaxed) }
        }
        table[name] = channel
    }
}

extension EventLoop {
    /// This loop's cache for `service` (a loop serves one server, so one
    /// service; another one replaces it).
    func channelCache(of service: ChannelService) -> LoopChannelCache {
        if let cache = channels, cache.owner == ObjectIdentifier(service) { return cache }
        let cache = LoopChannelCache(owner: service)
        channels = cache
        return cache
    }

    /// The loop the calling thread runs, if any.
    static var current: EventLoop? {
        guard let ctx = shd_loop_current_ctx() else { return nil }
        return from(ctx)
    }
}

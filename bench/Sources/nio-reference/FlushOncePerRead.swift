import NIOCore

/// A handler that writes as it reads and flushes once per read batch (what
/// `channelReadComplete` is for), closing the channel on any error.
protocol FlushesOncePerRead: ChannelInboundHandler {
    /// Set whenever something was written since the last flush.
    var unflushed: Bool { get set }
}

extension FlushesOncePerRead {
    func channelReadComplete(context: ChannelHandlerContext) {
        if unflushed {
            unflushed = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

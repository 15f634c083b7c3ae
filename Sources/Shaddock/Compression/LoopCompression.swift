import ShaddockProtocol

/// A loop's compression state: every zlib stream its connections use, so
/// that an idle session holds none. One deflate stream per window size in
/// use (15 unless a client asked for less), one inflate stream for every
/// client without context takeover; both reset per message. Made at the
/// first connection that agrees on permessage-deflate. Loop-confined.
final class LoopCompression {
    let options: CompressionOptions
    /// Deflate streams by window bits 9...15, made when first needed; then
    /// the gzip stream of Pomelo's message flag.
    private var deflaters: [MessageDeflater?] = Array(repeating: nil, count: 8)
    /// The shared inflate stream (nil: zlib had no memory for it).
    let inflater: MessageInflater?
    /// Connections holding an inflate stream of their own (client context
    /// takeover), at most `options.maxTakeoverSessions`.
    var takeoverSessions = 0
    private var nextTrim: UInt64 = 0

    init(options: CompressionOptions) {
        self.options = options
        inflater = options.deflate ? MessageInflater() : nil
    }

    /// The deflate stream for a window; nil if zlib had no memory for it
    /// (the message then goes uncompressed).
    func deflater(window: Int) -> MessageDeflater? {
        let i = min(15, max(9, window)) - 9
        if let d = deflaters[i] { return d }
        let d = MessageDeflater(level: options.level, windowBits: i + 9)
        deflaters[i] = d
        return d
    }

    /// The deflate stream for a message of `size` bytes to a client that
    /// agreed on `window`. A message of up to 4 KiB fits in a 4 KiB window,
    /// where it compresses to the same bytes: its stream has a small hash
    /// table, which zlib clears at every reset (64 KiB at window 15, 8 KiB
    /// at 12), and any client window of 12 or more reads it.
    func deflater(window: Int, size: Int) -> MessageDeflater? {
        deflater(window: size <= 4096 ? min(window, 12) : window)
    }

    /// The stream that gzips bodies for Pomelo's message flag.
    var gzipper: MessageDeflater? {
        if let d = deflaters[7] { return d }
        let d = MessageDeflater(level: options.level, gzip: true)
        deflaters[7] = d
        return d
    }

    /// Once a second: buffers grown past 1 MiB by a large message are given
    /// back, so one 16 MiB echo does not stay resident.
    func trim(now: UInt64) {
        guard now >= nextTrim else { return }
        nextTrim = now + 1000
        // Indexed: for-in over the array allocates an iterator in debug builds.
        var i = 0
        while i < deflaters.count {
            deflaters[i]?.shrink(above: 1 << 20)
            i += 1
        }
        inflater?.shrink(above: 1 << 20)
    }
}

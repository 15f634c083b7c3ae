/// Inflates permessage-deflate messages (RFC 7692 §7.2.2): a raw DEFLATE
/// stream whose sync-flush tail (00 00 ff ff) the sender removed. A loop
/// holds one for every connection without context takeover, reset per
/// message; a connection with client context takeover holds its own, with
/// the window it was granted. Not thread-safe.
public final class MessageInflater {
    private let inflater: InflateStream
    /// Whether the stream is reset before each message (no context takeover).
    public let resetsPerMessage: Bool
    /// A sender ended the stream with a final block: the next message starts
    /// a new one even with takeover.
    private var ended = false
    static let tail: (UInt8, UInt8, UInt8, UInt8) = (0x00, 0x00, 0xFF, 0xFF)

    /// `windowBits`: 9 to 15, the largest window the peer may use.
    public init?(windowBits: Int = 15, resetsPerMessage: Bool = true) {
        guard let s = InflateStream(windowBits: -Int32(min(15, max(9, windowBits)))) else { return nil }
        inflater = s
        self.resetsPerMessage = resetsPerMessage
    }

    /// Inflates one whole message's payload to at most `limit` bytes. The
    /// bytes are valid until the next call.
    public func inflate(_ payload: UnsafeRawBufferPointer, limit: Int) -> BodyInflation {
        inflater.begin(resetStream: resetsPerMessage || ended)
        ended = false
        switch inflater.run(payload, limit: limit) {
        case .tooLarge: return .tooLarge
        case .corrupt: return .corrupt
        case .ended(let remaining):
            ended = true
            // A final block ends the message; nothing may follow it.
            return remaining == 0 ? .bytes(inflater.output) : .corrupt
        case .consumed:
            break
        }
        let outcome = withUnsafeBytes(of: Self.tail) { inflater.run($0, limit: limit) }
        switch outcome {
        case .tooLarge: return .tooLarge
        case .corrupt: return .corrupt
        case .ended:
            ended = true
            return .bytes(inflater.output)
        case .consumed:
            // The tail is an empty stored block: a message cut inside a
            // block does not end between blocks after it.
            return inflater.atBlockBoundary ? .bytes(inflater.output) : .corrupt
        }
    }

    /// Gives back an output buffer grown past `bytes`.
    public func shrink(above bytes: Int) { inflater.shrink(above: bytes) }
}

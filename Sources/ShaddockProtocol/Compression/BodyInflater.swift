import CZlib

/// What inflating a body came to.
public enum BodyInflation: Equatable {
    /// The whole body, in the inflater's buffer (valid until its next use).
    case bytes(UnsafeRawBufferPointer)
    /// More than the limit would come out: stopped there.
    case tooLarge
    /// Not a whole zlib or gzip stream: corrupt, truncated, or followed by
    /// more bytes.
    case corrupt

    public static func == (a: BodyInflation, b: BodyInflation) -> Bool {
        switch (a, b) {
        case (.bytes(let x), .bytes(let y)): return x.elementsEqual(y)
        case (.tooLarge, .tooLarge), (.corrupt, .corrupt): return true
        default: return false
        }
    }
}

/// Inflates message bodies compressed with zlib or gzip (Pomelo's gzip
/// flag), telling the two apart by their header (zlib's own detection: the
/// gzip magic 1f 8b, else a zlib header). One stream, reset per body, its
/// output bounded while inflating. Not thread-safe: one per loop.
public final class BodyInflater {
    private let inflater: InflateStream

    public init?() {
        // 15: the largest window; +32: detect a zlib or a gzip header.
        guard let s = InflateStream(windowBits: 15 + 32) else { return nil }
        inflater = s
    }

    /// Inflates `input`, a whole stream, to at most `limit` bytes.
    public func inflate(_ input: UnsafeRawBufferPointer, limit: Int) -> BodyInflation {
        guard !input.isEmpty else { return .corrupt }
        inflater.begin(resetStream: true)
        switch inflater.run(input, limit: limit) {
        case .ended(remaining: 0):
            return .bytes(inflater.output)
        case .tooLarge:
            return .tooLarge
        case .ended, .consumed, .corrupt:
            // Bytes after the stream, a truncated stream, or bad data.
            return .corrupt
        }
    }
}

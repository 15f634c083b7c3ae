import Logging
import ShaddockProtocol

#if canImport(Glibc)
import Glibc
#endif

/// How log lines are written: `"logFormat"` in the connector section.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's stream handler: a line of text per record.
    case text
    /// One JSON object per line, for log collectors: `time` (RFC 3339, UTC,
    /// milliseconds), `level`, `label`, `message`, `metadata` (an object of
    /// strings), `source`.
    case json

    /// The handler factory for `LoggingSystem.bootstrap`.
    public var handler: @Sendable (String) -> any LogHandler {
        switch self {
        case .text: return { StreamLogHandler.standardError(label: $0) }
        case .json: return { JSONLogHandler(label: $0) }
        }
    }
}

/// Writes each record as one JSON object on a line of standard error, in
/// one write, so lines from several threads never interleave.
public struct JSONLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        var fields: JSONObject = [
            "time": .string(Self.timestamp()),
            "level": .string(event.level.rawValue),
            "label": .string(label),
            "message": .string(event.message.description),
            "source": .string(event.source),
        ]
        if let error = event.error { fields["error"] = .string(String(describing: error)) }
        if !all.isEmpty {
            var object = JSONObject()
            for (key, value) in all.sorted(by: { $0.key < $1.key }) { object[key] = .string(value.description) }
            fields["metadata"] = .object(object)
        }
        var bytes = JSONValue.object(fields).serialized
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { raw in
            var at = 0
            while at < raw.count {
                let n = write(2, raw.baseAddress! + at, raw.count - at)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                at += n
            }
        }
    }

    /// Now, as RFC 3339 in UTC with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = [CChar](repeating: 0, count: 32)
        let n = strftime(&text, text.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let millis = now.tv_nsec / 1_000_000
        let fraction = String(millis + 1000).dropFirst()  // zero-padded to 3 digits
        return String(decoding: text[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) + "." + fraction + "Z"
    }
}

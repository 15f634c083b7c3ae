import Foundation

/// A Prometheus text exposition (format 0.0.4) parsed and linted: valid
/// metric and label names, one HELP and one TYPE per family before its
/// samples, a family's samples together, counters named `_total`, no series
/// twice. What breaks a rule is listed in `problems`.
struct PrometheusText {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    private(set) var help: [String: String] = [:]
    private(set) var types: [String: String] = [:]
    private(set) var samples: [Sample] = []
    private(set) var problems: [String] = []

    init(_ text: String) {
        if !text.hasSuffix("\n") { problems.append("the text does not end with a newline") }
        var finished = Set<String>()
        var current: String?
        var series = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let family: String
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count == 4 else { problems.append("bad comment: \(line)"); continue }
                family = String(parts[2])
                let isHelp = parts[1] == "HELP"
                if isHelp {
                    if help[family] != nil { problems.append("HELP twice for \(family)") }
                    if types[family] != nil { problems.append("HELP after TYPE for \(family)") }
                    help[family] = String(parts[3])
                } else {
                    if types[family] != nil { problems.append("TYPE twice for \(family)") }
                    if !["counter", "gauge"].contains(parts[3]) { problems.append("type \(parts[3]) for \(family)") }
                    types[family] = String(parts[3])
                }
                if samples.contains(where: { $0.name == family }) { problems.append("\(parts[1]) after samples of \(family)") }
            } else {
                guard let sample = Self.sample(line) else { problems.append("bad sample: \(line)"); continue }
                family = sample.name
                if types[family] == nil { problems.append("sample of \(family) before its TYPE") }
                let key = family + sample.labels.sorted { $0.key < $1.key }.description
                if !series.insert(key).inserted { problems.append("series twice: \(line)") }
                samples.append(sample)
            }
            if family != current {
                if let current { finished.insert(current) }
                if finished.contains(family) { problems.append("\(family) is not contiguous") }
                current = family
            }
            if !Self.isMetricName(family) { problems.append("invalid metric name \(family)") }
        }
        for (name, type) in types {
            if help[name] == nil { problems.append("no HELP for \(name)") }
            if (type == "counter") != name.hasSuffix("_total") { problems.append("\(type) \(name): only counters end in _total") }
        }
    }

    /// `name{label="value",...} value`
    private static func sample(_ line: Substring) -> Sample? {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
        var head = line[..<space]
        var labels: [String: String] = [:]
        if let brace = head.firstIndex(of: "{") {
            guard head.last == "}" else { return nil }
            let body = head[head.index(after: brace)..<head.index(before: head.endIndex)]
            for pair in body.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[1].count >= 2, parts[1].first == "\"", parts[1].last == "\"" else { return nil }
                let name = String(parts[0])
                let quoted = parts[1].dropFirst().dropLast()
                guard isLabelName(name), labels[name] == nil, !quoted.contains("\""), !quoted.contains("\\") else { return nil }
                labels[name] = String(quoted)
            }
            head = head[..<brace]
        }
        return Sample(name: String(head), labels: labels, value: value)
    }

    static func isMetricName(_ s: String) -> Bool {
        s.range(of: "^[a-zA-Z_:][a-zA-Z0-9_:]*$", options: .regularExpression) != nil
    }

    static func isLabelName(_ s: String) -> Bool {
        s.range(of: "^[a-zA-Z_][a-zA-Z0-9_]*$", options: .regularExpression) != nil && !s.hasPrefix("__")
    }

    /// The value of one series; nil if it is not there.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }
}

/// One request to the admin listener over a real socket; the server closes
/// after answering, so the response is read to EOF.
struct AdminReply {
    var status: Int
    var headers: [String: String]
    var body: String

    static func get(_ path: String, port: Int, method: String = "GET") throws -> AdminReply {
        try send("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n", port: port)
    }

    static func send(_ request: String, port: Int) throws -> AdminReply {
        let socket = try TestSocket(port: port)
        try socket.send(Array(request.utf8))
        return try read(socket)
    }

    /// Reads a response through the server's close.
    static func read(_ socket: TestSocket) throws -> AdminReply {
        var bytes: [UInt8] = []
        while true {
            do { bytes += try socket.readSome() } catch TestClientError.closed { break }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { throw TestClientError.protocolViolation("no head: \(text)") }
        var lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw TestClientError.protocolViolation("bad status line in \(text)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw TestClientError.protocolViolation("bad header \(line)") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return AdminReply(status: status, headers: headers, body: String(text[end.upperBound...]))
    }
}

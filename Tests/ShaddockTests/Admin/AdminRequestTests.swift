@testable import Shaddock
import Testing

/// The admin listener's strict request parser, without sockets.
@Suite struct AdminRequestTests {
    static func scan(_ text: String, max: Int = 8192) -> AdminRequest? {
        Array(text.utf8).withUnsafeBytes { AdminRequest.scan($0, maxHeadBytes: max) }
    }

    static let host = "Host: 127.0.0.1:9100\r\n"

    @Test(arguments: [
        ("GET /metrics HTTP/1.1\r\n\(host)\r\n", AdminRequest.metrics(headOnly: false)),
        ("GET /metrics?name[]=x HTTP/1.1\r\n\(host)Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n\r\n", .metrics(headOnly: false)),
        ("HEAD /metrics HTTP/1.1\r\n\(host)\r\n", .metrics(headOnly: true)),
        ("GET /healthz HTTP/1.0\r\n\r\n", .health(headOnly: false)),
        ("GET /healthz HTTP/1.1\r\nhost:x\r\nContent-Length: 0\r\nUser-Agent: kube-probe/1.29\r\n\r\n", .health(headOnly: false)),
        ("GET / HTTP/1.1\r\n\(host)\r\n", .notFound),
        ("GET /metrics/ HTTP/1.1\r\n\(host)\r\n", .notFound),
        ("POST /metrics HTTP/1.1\r\n\(host)\r\n", .methodNotAllowed),
        ("DELETE /nothing HTTP/1.1\r\n\(host)\r\n", .methodNotAllowed),
    ])
    func requestsAreRouted(_ text: String, _ expected: AdminRequest) {
        #expect(Self.scan(text) == expected)
    }

    @Test(arguments: [
        "GET /metrics HTTP/1.1\r\n\r\n",                              // no Host in 1.1
        "GET /metrics HTTP/1.1\r\n\(host)\(host)\r\n",                // two
        "GET /metrics HTTP/2.0\r\n\(host)\r\n",
        "GET /metrics HTTP/1.1\n\(host)\r\n",                         // bare LF
        "GET /metrics HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n",            // bare CR in a value
        "GET  /metrics HTTP/1.1\r\n\(host)\r\n",
        "GET metrics HTTP/1.1\r\n\(host)\r\n",
        "GET http://h/metrics HTTP/1.1\r\n\(host)\r\n",
        "GET /metrics HTTP/1.1\r\n\(host) folded\r\n\r\n",            // obs-fold
        "GET /metrics HTTP/1.1\r\n\(host)Bad Name: x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n\(host)Content-Length: 3\r\n\r\nabc",
        "GET /metrics HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n",
        "G\u{0}T /metrics HTTP/1.1\r\n\r\n",
    ])
    func malformedRequestsAreBad(_ text: String) {
        #expect(Self.scan(text) == .badRequest)
    }

    /// A valid head is incomplete (nil) up to its last byte, however it is cut.
    @Test func aHeadArrivingInPiecesWaits() {
        let text = "GET /healthz HTTP/1.1\r\n\(Self.host)Accept: */*\r\n\r\n"
        let bytes = Array(text.utf8)
        for n in 0..<bytes.count {
            #expect(bytes[..<n].withUnsafeBytes { AdminRequest.scan($0, maxHeadBytes: 8192) } == nil, "\(n) bytes")
        }
        #expect(Self.scan(text) == .health(headOnly: false))
    }

    /// Garbage is refused on the byte that shows it, not at the limit.
    @Test(arguments: ["\u{16}\u{3}\u{1}", "GET /x\u{1}", "GET /metrics HTTP/1.2", "GET /metrics HTTP/1.1\r\n\(host)\u{7f}"])
    func garbageIsRefusedEarly(_ prefix: String) {
        #expect(Self.scan(prefix) == .badRequest)
    }

    @Test func aHeadOverTheLimitIsBad() {
        let long = "GET /metrics HTTP/1.1\r\n\(Self.host)X-Pad: \(String(repeating: "a", count: 300))\r\n\r\n"
        #expect(Self.scan(long, max: 256) == .badRequest)
        #expect(Self.scan(String(long.prefix(200)), max: 256) == nil)
        #expect(Self.scan(long, max: 1024) == .metrics(headOnly: false))
    }
}

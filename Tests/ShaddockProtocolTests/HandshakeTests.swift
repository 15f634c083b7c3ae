import Foundation
import Testing
@testable import ShaddockProtocol

@Suite struct HandshakeTests {
    static func client(_ json: String) -> ClientHandshake? {
        Array(json.utf8).withUnsafeBytes { ClientHandshake(body: $0) }
    }

    /// The body of the first package of a recorded c2s vector, a handshake.
    static func client(vector name: String) throws -> ClientHandshake {
        let pkg = Vectors.named(name).bytes
        guard case .package(.handshake, let body, _) = pkg.withUnsafeBytes({ Package.scan($0, at: 0, maxBody: 1 << 16) }) else {
            throw HandshakeTestError.notAHandshake(name)
        }
        return try #require(pkg.withUnsafeBytes { ClientHandshake(body: UnsafeRawBufferPointer(rebasing: $0[body])) })
    }

    enum HandshakeTestError: Error { case notAHandshake(String) }

    static func responder(heartbeat: Int = 3, dictionary: Bool = true) throws -> HandshakeResponder {
        HandshakeResponder(heartbeatSeconds: heartbeat, dictionary: dictionary ? try ChatDemo.dictionary() : nil)
    }

    /// The JSON text of a handshake package, after checking its header.
    static func body(_ pkg: [UInt8]) -> String {
        guard case .package(.handshake, let body, pkg.count) = pkg.withUnsafeBytes({ Package.scan($0, at: 0, maxBody: 1 << 20) }) else {
            Issue.record("not one handshake package: \(toHex(pkg.prefix(8)))")
            return ""
        }
        return Array(pkg[body]).text
    }

    @Test(arguments: [
        ("ws.handshake_request", "ws.handshake_response"),
        ("tcp.handshake_request", "tcp.handshake_response"),
        ("lp2.handshake_request", "lp2.handshake_response"),
        ("probe.pipelined_handshake_ack_request", "probe.pipelined_handshake_ack_request_reply"),
    ])
    func fullResponseMatchesTheRecording(_ request: String, _ response: String) throws {
        let r = try Self.responder()
        let client = try Self.client(vector: request)
        #expect(client.dictVersion == nil)
        let got = r.package(for: client)
        let expected = Vectors.named(response).bytes
        #expect(got.text == expected.text)
        #expect(got == expected)
        #expect(r.fullPackage == expected)
    }

    @Test func knownDictVersionGetsTheShortResponse() throws {
        let r = try Self.responder()
        let client = try Self.client(vector: "probe.handshake_known_dictVersion_request")
        #expect(client.dictVersion == ChatDemo.dictVersion)
        let expected = Vectors.named("probe.handshake_known_dictVersion_response").bytes
        #expect(r.package(for: client) == expected)
        #expect(r.currentDictPackage == expected)
        #expect(Self.body(expected) == #"{"code":200,"sys":{"heartbeat":3,"useDict":true}}"#)
    }

    @Test func staleDictVersionGetsTheDictionary() throws {
        let r = try Self.responder()
        let client = try #require(Self.client(#"{"sys":{"type":"x","dictVersion":"AAAAAAAAAAAAAAAAAAAAAA=="}}"#))
        #expect(r.package(for: client) == Vectors.named("ws.handshake_response").bytes)
    }

    @Test func heartbeatZeroIsLeftOut() throws {
        let r = try Self.responder(heartbeat: 0)
        let current = try #require(Self.client(#"{"sys":{"dictVersion":"\#(ChatDemo.dictVersion)"}}"#))
        #expect(Self.body(r.package(for: current)) == #"{"code":200,"sys":{"useDict":true}}"#)
        let fresh = try #require(Self.client(#"{"sys":{}}"#))
        let full = Self.body(r.package(for: fresh))
        #expect(full.hasPrefix(#"{"code":200,"sys":{"dict":{"chat.chatHandler.notify":1,"#))
        #expect(!full.contains("heartbeat"))
        // The same as the recording with the heartbeat member cut out.
        let recorded = Self.body(Vectors.named("ws.handshake_response").bytes)
        #expect(full == recorded.replacingOccurrences(of: #""heartbeat":3,"#, with: ""))
    }

    @Test func noDictionaryLeavesOutEveryDictKey() throws {
        let r = try Self.responder(dictionary: false)
        for json in [#"{"sys":{}}"#, #"{"sys":{"dictVersion":"\#(ChatDemo.dictVersion)"}}"#] {
            let client = try #require(Self.client(json))
            #expect(Self.body(r.package(for: client)) == #"{"code":200,"sys":{"heartbeat":3}}"#)
        }
        #expect(Self.body(r.fullPackage) == #"{"code":200,"sys":{"heartbeat":3}}"#)
        let bare = try Self.responder(heartbeat: 0, dictionary: false)
        #expect(Self.body(bare.fullPackage) == #"{"code":200,"sys":{}}"#)
    }

    @Test func userPayloadGoesLast() throws {
        let r = try Self.responder()
        let user: JSONValue = ["name": "alice", "vip": true]
        let current = try #require(Self.client(#"{"sys":{"dictVersion":"\#(ChatDemo.dictVersion)"}}"#))
        #expect(Self.body(r.package(for: current, user: user))
            == #"{"code":200,"sys":{"heartbeat":3,"useDict":true},"user":{"name":"alice","vip":true}}"#)
        let fresh = try #require(Self.client(#"{"sys":{}}"#))
        let full = Self.body(r.package(for: fresh, user: user))
        let recorded = Self.body(Vectors.named("ws.handshake_response").bytes)
        #expect(full == String(recorded.dropLast()) + #","user":{"name":"alice","vip":true}}"#)
        let noDict = try Self.responder(dictionary: false)
        #expect(Self.body(noDict.package(for: fresh, user: [:])) == #"{"code":200,"sys":{"heartbeat":3},"user":{}}"#)
    }

    @Test func errorPackages() {
        #expect(HandshakeResponder.errorPackage(.badHandshake) == Vectors.named("probe.handshake_bad_json_response").bytes)
        #expect(Self.body(HandshakeResponder.errorPackage(.oldClient)) == #"{"code":501}"#)
    }

    @Test(arguments: ["xyz", "{}", #"{"sys":1}"#, #"{"sys":null}"#, #"{"sys":[]}"#, #"{"sys":"x"}"#, "[]", "", #"{"sys":{}"#, #"{"user":{}}"#])
    func notAHandshake(_ json: String) {
        #expect(Self.client(json) == nil)
    }

    @Test func badJSONVectorIsRefused() {
        let pkg = Vectors.named("probe.handshake_bad_json_request").bytes
        #expect(Array(pkg[4...]).text == "xyz")
        #expect(pkg.withUnsafeBytes { ClientHandshake(body: UnsafeRawBufferPointer(rebasing: $0[4...])) } == nil)
    }

    @Test func parsesSysFields() throws {
        let ws = try Self.client(vector: "ws.handshake_request")
        #expect(ws.type == "js-websocket")
        #expect(ws.version == "0.0.1")
        #expect(ws.dictVersion == nil)
        #expect(ws.user == .object(JSONObject()))
        #expect(ws.sys["protoVersion"] == .number(0))

        let tcp = try Self.client(vector: "tcp.handshake_request")
        #expect(tcp.type == "socket" && tcp.version == "1.1.1")

        let lp2 = try Self.client(vector: "lp2.handshake_request")
        #expect(lp2.type == "desktop" && lp2.version == "0.3.5-release")
        #expect(lp2.user == nil)

        let probe = try Self.client(vector: "probe.handshake_known_dictVersion_request")
        #expect(probe.type == "probe" && probe.dictVersion == ChatDemo.dictVersion)
    }

    @Test func nonStringSysFieldsReadAsNil() throws {
        let c = try #require(Self.client(#"{"sys":{"type":1,"version":null,"dictVersion":{}},"user":[1]}"#))
        #expect(c.type == nil && c.version == nil && c.dictVersion == nil)
        #expect(c.user == [1])
    }
}

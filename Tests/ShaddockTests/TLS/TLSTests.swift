import Foundation
@testable import Shaddock
import ShaddockExample
import ShaddockProtocol
import Testing

/// TLS on the client port over real sockets: Python's ssl module as the
/// Pomelo-over-TLS and wss client, `openssl s_client` for the handshake's
/// details, plain clients on the same port, and the failures counted.
@Suite struct TLSTests {
    static let script = repositoryRoot.appendingPathComponent("Tests/ShaddockTests/Clients/tls_client.py").path

    static func tls(_ files: TLSTestFiles, _ certs: [String] = ["first"]) -> TLSOptions {
        TLSOptions(certificates: certs.map { TLSOptions.Certificate(cert: files.cert($0), key: files.key($0)) })
    }

    static func server(_ configure: (inout GatewayConfiguration, TLSTestFiles) -> Void = { _, _ in }) throws -> (TestServer, TLSTestFiles) {
        let files = try TLSTestFiles.get()
        let server = try TestServer { config in
            config.tls = tls(files)
            configure(&config, files)
        }
        return (server, files)
    }

    /// Runs tls_client.py; returns what it printed.
    static func client(_ mode: String, _ port: Int, _ files: TLSTestFiles, _ more: [String] = []) throws -> [String: Any] {
        let (status, output) = try UnmodifiedClientTests.run("/usr/bin/env", ["python3", script, mode, "\(port)", files.ca] + more)
        #expect(status == 0, "\(output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
    }

    static func sClient(_ port: Int, _ files: TLSTestFiles, _ args: [String] = [], input: String = "") throws -> String {
        try TLSTestFiles.openssl(in: files.folder, ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", files.ca,
                                                    "-servername", "localhost"] + args, input: input)
    }

    static func answers(_ result: [String: Any]) -> [Int] {
        (result["answers"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? Int }
    }

    @Test func pomeloOverTLSWssAndPlainClientsShareThePort() throws {
        let (server, files) = try Self.server()
        let plain = try PomeloTestClient.ready(.websocket, port: server.port)
        let tcp = try Self.client("pomelo", server.port, files, ["3"])
        #expect(tcp["error"] == nil && tcp["version"] as? String == "TLSv1.3" && tcp["cn"] as? String == "first")
        #expect(tcp["handshake"] as? Int == 200 && Self.answers(tcp) == [200, 200, 200])
        let wss = try Self.client("wss", server.port, files, ["2"])
        #expect(wss["error"] == nil && Self.answers(wss) == [200, 200])
        try plain.request(route: "connector.entryHandler.entry", id: 7)
        #expect(try plain.expectResponse(id: 7)["code"] as? Int == 200)
        let stats = server.server.transportStats()
        #expect(stats.tlsFullHandshakes == 2 && stats.tls13 == 2 && stats.tlsHandshakeFailures == 0)
        #expect(stats.tlsOwnRecordLayer == 2, "both carried by the shim's record layer after the handshake")
        #expect(server.counter(.websocketUpgrades) == 2 && server.counter(.tcpConnections) == 1)
    }

    @Test func requiredTLSRefusesPlaintextAndCountsIt() throws {
        let (server, files) = try Self.server { config, _ in config.tls?.required = true }
        let plain = try TestSocket(port: server.port)
        try plain.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(plain.waitForClose())
        #expect(Self.answers(try Self.client("pomelo", server.port, files)) == [200])
        let stats = server.server.transportStats()
        #expect(stats.tlsPlaintextRefused == 1 && stats.tlsFullHandshakes == 1)
        #expect(server.counter(.httpRejected) == 0, "the plaintext never reached the HTTP parser")
    }

    @Test func garbageTruncatedRecordsAndAlertsAreClosedAndCounted() throws {
        let (server, files) = try Self.server()
        // A handshake record type, then no ClientHello.
        let garbage = try TestSocket(port: server.port)
        try garbage.send([0x16, 0x03, 0x01, 0x00, 0x05] + Array("hello".utf8))
        #expect(garbage.waitForClose())
        // A ClientHello, then an alert; half a ClientHello, then FIN.
        #expect(try Self.client("alert", server.port, files)["closed"] as? Bool == true)
        #expect(try Self.client("truncated", server.port, files)["closed"] as? Bool == true)
        // A version the server does not speak: the client gets the alert.
        let old = try Self.sClient(server.port, files, ["-tls1_1"])
        #expect(old.contains("alert protocol version"), "\(old)")
        #expect(server.server.transportStats().tlsHandshakeFailures == 4)
        // The port serves on.
        #expect(Self.answers(try Self.client("pomelo", server.port, files)) == [200])
    }

    @Test func aStalledHandshakeIsClosedAtItsDeadline() throws {
        let (server, _) = try Self.server { config, _ in config.firstByteTimeoutSeconds = 0.3 }
        let stalled = try TestSocket(port: server.port)
        try stalled.send([0x16, 0x03, 0x01])
        #expect(stalled.waitForClose(timeout: 3))
        #expect(server.waitFor(.tlsHandshakeTimeouts, atLeast: 1))
        #expect(server.counter(.firstByteTimeouts) == 0)
    }

    @Test func sessionsResumeWithTicketsOnTLS13And12() throws {
        let (server, files) = try Self.server()
        for version in ["-tls1_3", "-tls1_2"] {
            // No input: a byte that is not a Pomelo package would close the
            // connection, maybe before the TLS 1.3 ticket went out.
            let session = files.folder + "/session\(version)-\(server.port).pem"
            let first = try Self.sClient(server.port, files, [version, "-sess_out", session], input: "")
            #expect(first.contains("New, TLSv1."), "\(first)")
            let again = try Self.sClient(server.port, files, [version, "-sess_in", session], input: "")
            #expect(again.contains("Reused, TLSv1."), "\(again)")
        }
        let stats = server.server.transportStats()
        #expect(stats.tlsResumedHandshakes == 2 && stats.tlsFullHandshakes == 2)
        #expect(stats.tls12 == 2 && stats.tls13 == 2)
    }

    @Test func ticketKeysFromAFileResumeAcrossServers() throws {
        let files = try TLSTestFiles.get()
        let keys = files.folder + "/tickets-\(UUID().uuidString).key"
        _ = FileManager.default.createFile(atPath: keys, contents: Data((0..<160).map { UInt8($0) }))
        func withKeys(_ config: inout GatewayConfiguration, _: TLSTestFiles) { config.tls?.ticketKeyFile = keys }
        let (a, _) = try Self.server(withKeys)
        let (b, _) = try Self.server(withKeys)
        let (c, _) = try Self.server()
        let session = files.folder + "/session-shared-\(a.port).pem"
        _ = try Self.sClient(a.port, files, ["-tls1_2", "-sess_out", session], input: "")
        #expect(try Self.sClient(b.port, files, ["-tls1_2", "-sess_in", session], input: "").contains("Reused"))
        #expect(try Self.sClient(c.port, files, ["-tls1_2", "-sess_in", session], input: "").contains("New,"),
                "a server with keys of its own does not resume it")
    }

    @Test func alpnCipherListRenegotiationAndBothCertificateTypes() throws {
        let (server, files) = try Self.server { config, files in config.tls = Self.tls(files, ["first", "ec"]) }
        let alpn = try Self.sClient(server.port, files, ["-alpn", "h2,http/1.1"], input: "\n")
        #expect(alpn.contains("ALPN protocol: http/1.1"), "\(alpn)")
        #expect(try Self.sClient(server.port, files, ["-alpn", "h2"], input: "\n").contains("No ALPN negotiated"))
        let ecdsa = try Self.sClient(server.port, files, ["-tls1_2", "-sigalgs", "ECDSA+SHA256"], input: "\n")
        #expect(ecdsa.contains("Peer signature type: ECDSA") && ecdsa.contains("CN = ec"), "\(ecdsa)")
        let rsa = try Self.sClient(server.port, files, ["-tls1_2", "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"], input: "\n")
        #expect(rsa.contains("CN = first"), "\(rsa)")
        // No CBC, no RSA key exchange, by default.
        let weak = try Self.sClient(server.port, files, ["-tls1_2", "-cipher", "AES128-SHA"], input: "\n")
        #expect(weak.contains("handshake failure") || weak.contains("no cipher"), "\(weak)")
        // A client's renegotiation is refused; the connection does not go on with it.
        let renegotiate = try Self.sClient(server.port, files, ["-tls1_2"], input: "R\n")
        #expect(renegotiate.contains("RENEGOTIATING"), "\(renegotiate)")
        #expect(!renegotiate.contains("Reused, TLSv1.2") || renegotiate.contains("alert"), "\(renegotiate)")
        #expect(Self.answers(try Self.client("pomelo", server.port, files)) == [200])
    }

    @Test func reloadServesTheNewCertificateWhileSessionsContinue() throws {
        let (server, files) = try Self.server()
        let port = server.port
        let held = Locked<[String: Any]>([:])
        let holder = Thread {
            let result = (try? Self.client("hold", port, files, ["2.0"])) ?? ["error": "no output"]
            held.withLock { $0 = result }
        }
        holder.start()
        // The holder shakes hands with the first certificate before the
        // reload (a busy machine may start Python late).
        for _ in 0..<1000 where server.server.transportStats().tlsFullHandshakes == 0 { usleep(10_000) }
        Thread.sleep(forTimeInterval: 0.2)
        var next = server.server.configuration
        next.tls = Self.tls(files, ["second"])
        try server.server.reload(next)
        let fresh = try Self.client("pomelo", port, files)
        #expect(fresh["cn"] as? String == "second" && Self.answers(fresh) == [200])
        // A bad file is refused: the certificate in use stays.
        var bad = next
        bad.tls = TLSOptions(certificates: [.init(cert: files.cert("first"), key: files.key("stranger"))])
        #expect(throws: ConfigurationError.self) { try server.server.reload(bad) }
        #expect(try Self.client("pomelo", port, files)["cn"] as? String == "second")
        while held.withLock({ $0.isEmpty }) { Thread.sleep(forTimeInterval: 0.05) }
        let result = held.withLock { $0 }
        #expect(result["error"] == nil && result["cn"] as? String == "first", "\(result)")
        #expect((result["answered"] as? Int ?? 0) > 10 && result["answered"] as? Int == result["sent"] as? Int, "\(result)")
    }

    @Test func aMissingOrMismatchedFileStopsTheStartNamingIt() throws {
        let files = try TLSTestFiles.get()
        let missing = files.folder + "/nowhere.pem"
        let cases: [(TLSOptions.Certificate, String)] = [
            (.init(cert: missing, key: files.key("first")), missing),
            (.init(cert: files.cert("first"), key: files.folder + "/nokey.key"), files.folder + "/nokey.key"),
            (.init(cert: files.cert("first"), key: files.key("stranger")), "does not match"),
        ]
        for (certificate, expected) in cases {
            do {
                _ = try TestServer { $0.tls = TLSOptions(certificates: [certificate]) }
                Issue.record("started with \(certificate)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test func theAdminListenerSpeaksTLS() throws {
        let (server, files) = try Self.server { config, _ in
            config.adminPort = 0
            config.tls?.admin = true
        }
        _ = try Self.client("pomelo", server.port, files)
        let port = try #require(server.server.adminPort)
        let page = try Self.sClient(port, files, ["-quiet"], input: "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(page.contains(#"shaddock_tls_handshakes_total{kind="full"} 1"#), "\(page)")
        #expect(page.contains(#"shaddock_tls_record_layer_total{layer="shaddock"} 1"#), "\(page)")
        let plain = try TestSocket(port: port)
        try plain.send(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(plain.waitForClose(), "no plaintext on a TLS admin listener")
    }

    /// Node's own WebSocket (Node 20 with --experimental-websocket; Debian
    /// 12's Node 18 has none, so the test needs a newer one on the PATH):
    /// the chat example over wss:// beside a plain ws:// client on the
    /// same port.
    static let nodeWebSocket: Bool = {
        guard let (status, out) = try? UnmodifiedClientTests.run("/usr/bin/env", [
            "node", "--experimental-websocket", "-e", "console.log(typeof WebSocket)"]) else { return false }
        return status == 0 && out.hasPrefix("function")
    }()

    @Test(.enabled(if: nodeWebSocket, "needs Node 20 or later (its built-in WebSocket)"))
    func nodeOverWssChatsWithAPlainClientOnTheSamePort() throws {
        let files = try TLSTestFiles.get()
        let server = try TestServer(app: ExampleApp.make()) { $0.tls = Self.tls(files) }
        let script = repositoryRoot.appendingPathComponent("Tests/ShaddockTests/Clients/wss_chat.mjs").path
        let (status, output) = try UnmodifiedClientTests.run("/usr/bin/env", [
            "NODE_EXTRA_CA_CERTS=\(files.ca)", "node", "--experimental-websocket", script, "\(server.port)"])
        #expect(status == 0, "\(output)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: Any]], "\(output)")
        let alice = try #require(seen["alice"]), bob = try #require(seen["bob"])
        #expect(alice["handshake"] as? Int == 200 && bob["handshake"] as? Int == 200)
        let chat: [String: Any] = ["msg": "hello over wss", "from": "alice", "target": "*"]
        for who in [alice, bob] {
            let pushes = who["pushes"] as? [[String: Any]] ?? []
            let onChat = pushes.first { $0["route"] as? String == "onChat" }?["body"] as? [String: Any]
            #expect(onChat.map { NSDictionary(dictionary: $0).isEqual(to: chat) } == true, "\(pushes)")
        }
        #expect(server.server.transportStats().tlsFullHandshakes == 1, "alice over TLS, bob plain")
        #expect(server.counter(.websocketUpgrades) == 2)
    }

    /// Pomelo's own JavaScript client files, which this repository does not
    /// carry: a folder with pomelo-jsclient-websocket's lib/pomelo-client.js
    /// and pomelo-protocol's lib/protocol.js, named by SHADDOCK_POMELO_JS.
    static let pomeloJSClient: String? = {
        guard let dir = ProcessInfo.processInfo.environment["SHADDOCK_POMELO_JS"] else { return nil }
        let present = ["pomelo-client.js", "protocol.js"].allSatisfy { FileManager.default.fileExists(atPath: dir + "/" + $0) }
        return present ? dir : nil
    }()

    @Test(.enabled(if: nodeWebSocket && pomeloJSClient != nil,
                   "needs Node 20 or later and Pomelo's JS client files in SHADDOCK_POMELO_JS (docs/testing.md)"))
    func pomelosOwnJSClientChatsOverWssBesideAPlainOne() throws {
        let files = try TLSTestFiles.get()
        let server = try TestServer(app: ExampleApp.make()) { $0.tls = Self.tls(files) }
        let script = repositoryRoot.appendingPathComponent("Tests/ShaddockTests/Clients/pomelo_js_chat.mjs").path
        let (status, output) = try UnmodifiedClientTests.run("/usr/bin/env", [
            "NODE_EXTRA_CA_CERTS=\(files.ca)", "node", "--experimental-websocket", script, Self.pomeloJSClient!, "\(server.port)"])
        #expect(status == 0, "\(output)")
        // The client logs to the console too; the result is the JSON line.
        let line = output.split(separator: "\n").last { $0.hasPrefix("{\"alice\"") } ?? ""
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(output)")
        #expect(seen["error"] == nil, "\(output)")
        for name in ["alice", "bob"] {
            let who = try #require(seen[name] as? [String: Any])
            #expect(who["login"] as? Int == 200 && who["sent"] as? Int == 200, "\(who)")
            let chats = (who["chats"] as? [[String: Any]] ?? []).compactMap { $0["msg"] as? String }
            #expect(chats == ["hello from alice", "hello from bob"], "\(who)")
        }
        #expect(server.server.transportStats().tlsFullHandshakes == 1, "alice over TLS, bob plain")
        #expect(server.counter(.websocketUpgrades) == 2)
    }

    /// Debian's testssl.sh (installed by `./run test`): protocols, cipher
    /// classes, renegotiation and compression, all green.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/testssl"), "testssl.sh is not installed (./run test installs it)"))
    func aTLSScanFindsNothingWeak() throws {
        let (server, files) = try Self.server()
        let report = files.folder + "/testssl-\(server.port).json"
        _ = try UnmodifiedClientTests.run("/usr/bin/testssl", ["--quiet", "--color", "0", "--warnings", "off", "-p", "-s", "-R", "-C",
                                                               "--jsonfile", report, "127.0.0.1:\(server.port)"])
        let findings = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [[String: Any]])
        var byID: [String: (severity: String, finding: String)] = [:]
        for f in findings {
            if let id = f["id"] as? String { byID[id] = (f["severity"] as? String ?? "", f["finding"] as? String ?? "") }
        }
        for id in ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
                   "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"] {
            #expect(byID[id]?.finding == "not offered", "\(id): \(String(describing: byID[id]))")
        }
        for id in ["TLS1_2", "TLS1_3", "cipherlist_STRONG"] {
            #expect(byID[id]?.finding.hasPrefix("offered") == true, "\(id): \(String(describing: byID[id]))")
        }
        for id in ["secure_client_renego", "CRIME_TLS"] {
            #expect(byID[id]?.finding == "not vulnerable", "\(id): \(String(describing: byID[id]))")
        }
        let bad = byID.filter { ["MEDIUM", "HIGH", "CRITICAL", "WARN"].contains($0.value.severity) }
        #expect(bad.isEmpty, "\(bad)")
    }

    @Test func theFileSectionReadsEveryKey() throws {
        let file: JSONValue = ["connector": ["tls": [
            "cert": "a.pem", "key": "/abs/a.key", "certificates": [["cert": "b.pem", "key": "b.key"]],
            "required": true, "ciphers": "ECDHE-RSA-AES128-GCM-SHA256", "ciphersuites": "TLS_AES_128_GCM_SHA256",
            "tickets": false, "ticketKeyFile": "t.key", "ticketRotation": 600, "admin": ["cert": "adm.pem"],
        ]]]
        let config = try GatewayConfiguration(file: file, directory: "/etc/shaddock/", environment: "development", serverID: nil)
        let tls = try #require(config.tls)
        #expect(tls.certificates == [.init(cert: "/etc/shaddock/a.pem", key: "/abs/a.key"),
                                     .init(cert: "/etc/shaddock/b.pem", key: "/etc/shaddock/b.key")])
        #expect(tls.required && !tls.tickets && tls.ticketRotationSeconds == 600)
        #expect(tls.ticketKeyFile == "/etc/shaddock/t.key" && tls.admin)
        #expect(tls.adminCertificates == [.init(cert: "/etc/shaddock/adm.pem", key: "/etc/shaddock/adm.pem")])
        #expect(throws: ConfigurationError.unknownKey("connector.tls.bogus")) {
            _ = try GatewayConfiguration(file: ["connector": ["tls": ["cert": "a", "bogus": 1]]], directory: "",
                                         environment: "development", serverID: nil)
        }
    }
}

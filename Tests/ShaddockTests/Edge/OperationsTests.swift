import Foundation
@testable import Shaddock
import Testing

/// What an operator runs beside the gateway: `shaddock check-config`, and
/// log lines as JSON for a log collector.
@Suite struct OperationsTests {
    static func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shaddock-ops-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Runs the binary to its end; returns the status, standard output and
    /// standard error.
    static func run(_ args: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = ShaddockProcess.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self))
    }

    static let servers = #"""
    {"production": {"connector": [{"id": "connector-1", "host": "127.0.0.1", "port": 4010, "clientPort": 3014, "frontend": true}]},
     "connector": {"maxConnectionsPerAddress": 50, "proxyProtocol": {"trusted": ["10.0.0.0/8"]}, "logFormat": "json"}}
    """#

    @Test func checkConfigPrintsTheSettingsInEffect() throws {
        let dir = try Self.folder()
        try Self.write(Self.servers, dir + "/servers.json")
        let (status, out, err) = try Self.run(["check-config", dir + "/servers.json", "--env", "production"])
        #expect(status == 0, "\(err)")
        #expect(out.contains("port = 3014") && out.contains("serverID = connector-1") && out.contains("maxConnectionsPerAddress = 50"), "\(out)")
        #expect(out.contains("logFormat = json") && out.contains("10.0.0.0/8"), "\(out)")
    }

    @Test func checkConfigNamesWhatIsWrong() throws {
        let dir = try Self.folder()
        try Self.write(#"{"development": {"connector": [{"id": "c", "host": "127.0.0.1", "port": 1, "clientPort": 3010, "frontend": true}]}, "connector": {"bogus": 1}}"#,
                       dir + "/unknown.json")
        var (status, _, err) = try Self.run(["check-config", dir + "/unknown.json"])
        #expect(status == 1 && err.contains("connector.bogus"), "\(err)")
        // A file the settings name is read as start-up reads it.
        let files = try TLSTestFiles.get()
        try Self.write(#"{"connector": {"tls": {"cert": "\#(files.cert("first"))", "key": "\#(files.key("stranger"))"}}}"#, dir + "/tls.json")
        (status, _, err) = try Self.run(["check-config", dir + "/tls.json"])
        #expect(status == 1 && err.contains("does not match") && err.contains(files.key("stranger")), "\(err)")
        (status, _, err) = try Self.run(["check-config", dir + "/missing.json"])
        #expect(status == 1 && err.contains("missing.json"), "\(err)")
        try Self.write(Self.servers, dir + "/servers.json")
        (status, _, err) = try Self.run(["check-config", dir + "/servers.json", "--env", "staging"])
        #expect(status == 1 && err.contains("staging"), "\(err)")
    }

    /// deploy/servers.json, with the certificates and the ticket key file of
    /// the test set-up in place of /etc/shaddock/tls's, checks out for both
    /// of its gateways.
    @Test func theExampleProductionFileChecksOut() throws {
        let dir = try Self.folder()
        let files = try TLSTestFiles.get()
        _ = FileManager.default.createFile(atPath: dir + "/tickets.key", contents: Data(repeating: 7, count: 80))
        var text = try String(contentsOfFile: repositoryRoot.appendingPathComponent("deploy/servers.json").path, encoding: .utf8)
        for (from, to) in [("/etc/shaddock/tls/rsa.pem", files.cert("first")), ("/etc/shaddock/tls/rsa.key", files.key("first")),
                           ("/etc/shaddock/tls/ecdsa.pem", files.cert("ec")), ("/etc/shaddock/tls/ecdsa.key", files.key("ec")),
                           ("/etc/shaddock/tls/tickets.key", dir + "/tickets.key")] {
            #expect(text.contains(from))
            text = text.replacingOccurrences(of: from, with: to)
        }
        try Self.write(text, dir + "/servers.json")
        for id in ["connector-1", "connector-2"] {
            let (status, out, err) = try Self.run(["check-config", dir + "/servers.json", "--env", "production", "--server-id", id])
            #expect(status == 0, "\(err)")
            #expect(out.contains("serverID = \(id)") && out.contains("maxConnections = 1000000") && out.contains("logFormat = json"), "\(out)")
        }
    }

    /// `"logFormat": "json"`: every line is one JSON object with the time,
    /// level, message and metadata.
    @Test func jsonLogLines() throws {
        let dir = try Self.folder()
        let port = try CLITests.freePort()
        try Self.write(#"{"connector": {"logFormat": "json", "threads": 1}}"#, dir + "/json.json")
        let (process, err) = try ShaddockProcess.launch(["serve", "--config", dir + "/json.json", "--host", "127.0.0.1",
                                                         "--port", "\(port)"])
        #expect(waitForListener(port: port))
        process.terminate()
        process.waitUntilExit()
        let lines = err.text.split(separator: "\n")
        #expect(lines.count >= 2, "\(err.text)")
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["level"] is String && object["message"] is String && object["label"] as? String == "shaddock")
            let time = try #require(object["time"] as? String)
            #expect(time.count == 24 && time.hasSuffix("Z") && time.contains("T"), "\(time)")
        }
        let listening = lines.first { $0.contains("listening on 127.0.0.1:\(port)") }
        let object = try #require(try JSONSerialization.jsonObject(with: Data((listening ?? "").utf8)) as? [String: Any])
        #expect((object["metadata"] as? [String: String])?["loop"] == "0", "\(object)")
    }
}

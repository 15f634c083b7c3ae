import Foundation
import ShaddockExample
import Testing

/// An unmodified Pomelo client from its own package (pypomelo 1.0.1, the
/// raw-TCP Python client the wire vectors were recorded with), installed
/// into a virtual environment under the build folder on first use.
@Suite struct UnmodifiedClientTests {
    static let root = repositoryRoot
    static let venv = root.appendingPathComponent(".build/clients/pypomelo")

    /// Runs a command; returns its exit status and standard output.
    @discardableResult
    static func run(_ path: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Installed once per test run: the tests of this suite run in parallel
    /// and must not build the same virtual environment at the same time.
    static let installed: Result<String, any Error> = Result { try install() }

    static func installPypomelo() throws -> String {
        try installed.get()
    }

    private static func install() throws -> String {
        let python = venv.appendingPathComponent("bin/python").path
        if try FileManager.default.isExecutableFile(atPath: python) && run(python, ["-c", "import pypomelo, tornado"]).0 == 0 {
            return python
        }
        let (made, _) = try run("/usr/bin/env", ["python3", "-m", "venv", venv.path])
        try #require(made == 0, "python3 -m venv failed (Debian: apt-get install python3-venv)")
        // pypomelo's TornadoClient uses the callback API that Tornado 6 removed.
        let (installed, _) = try run(python, ["-m", "pip", "install", "-q", "pypomelo==1.0.1", "tornado>=5,<6"])
        try #require(installed == 0, "pip could not install pypomelo and tornado<6")
        return python
    }

    @Test func pypomeloGetsTheExampleReply() throws {
        let python = try Self.installPypomelo()
        let server = try TestServer()
        let script = Self.root.appendingPathComponent("Tests/ShaddockTests/Clients/pypomelo_entry.py").path
        let (status, output) = try Self.run(python, [script, "\(server.port)"])
        #expect(status == 0, "\(output)")
        let reply = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let response = reply?["response"] as? [String: Any]
        #expect(response?["code"] as? Int == 200)
        #expect(response?["msg"] as? String == "game server is ok.")
        #expect(server.counter(.handshakes) == 1)
    }

    /// pypomelo 1.0.1 looks pushed route codes up with integer keys in the
    /// string-keyed table from the handshake, so it fails on any push whose
    /// route is a dictionary code (from Pomelo too: the recorded pushes are
    /// coded). With `useDict` off every route goes as a string, and it works.
    @Test func pypomeloLogsInChatsGetsPushesAndIsKicked() throws {
        let server = try TestServer(app: ExampleApp.make()) { $0.useDictionary = false }
        try Self.runChat(ports: [server.port])
    }

    /// Runs pypomelo_chat.py (alice on the first port, bob on the last) and
    /// checks everything each client saw.
    static func runChat(ports: [Int]) throws {
        let python = try installPypomelo()
        let script = root.appendingPathComponent("Tests/ShaddockTests/Clients/pypomelo_chat.py").path
        let (status, output) = try run(python, [script] + ports.map(String.init))
        #expect(status == 0, "\(output)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: Any]])
        let alice = try #require(seen["alice"]), bob = try #require(seen["bob"])
        let aliceAnswers = try #require(alice["responses"] as? [String: [String: Any]])
        let bobAnswers = try #require(bob["responses"] as? [String: [String: Any]])
        #expect(aliceAnswers["connector.entryHandler.login"]?["users"] as? [String] == ["alice"])
        #expect(bobAnswers["connector.entryHandler.login"]?["users"] as? [String] == ["alice", "bob"])
        #expect(aliceAnswers["chat.chatHandler.send"]?["code"] as? Int == 200)
        #expect(aliceAnswers["connector.entryHandler.kickme"]?["msg"] as? String == "bye")
        #expect((alice["kick"] as? [String: Any])?["reason"] as? String == "see you")
        let chat: [String: String] = ["msg": "hello", "from": "alice", "target": "*"]
        let alicePushes = try #require(alice["pushes"] as? [[Any]])
        #expect(alicePushes.count == 2)
        #expect(alicePushes.first?[0] as? String == "onAdd")
        #expect((alicePushes.first?[1] as? [String: String]) == ["route": "onAdd", "user": "bob"])
        #expect(alicePushes.last?[0] as? String == "onChat")
        #expect((alicePushes.last?[1] as? [String: String]) == chat)
        let bobPushes = try #require(bob["pushes"] as? [[Any]])
        #expect(bobPushes.count == 2)
        #expect((bobPushes.first?[1] as? [String: String]) == chat)
        #expect(bobPushes.last?[0] as? String == "onLeave")
        #expect((bobPushes.last?[1] as? [String: String]) == ["route": "onLeave", "user": "alice"])
    }
}

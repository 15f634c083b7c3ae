import Foundation
import Testing

/// Certificates for the TLS tests, made once per run by the `openssl`
/// command in a temporary folder (no private key is ever committed): a test
/// CA, server certificates it signed for localhost and 127.0.0.1 (RSA
/// "first", RSA "second" for reloads, ECDSA "ec"), and a key that matches
/// none of them.
struct TLSTestFiles: Sendable {
    let folder: String
    var ca: String { folder + "/ca.pem" }
    func cert(_ name: String) -> String { folder + "/\(name).pem" }
    func key(_ name: String) -> String { folder + "/\(name).key" }

    static let shared: Result<TLSTestFiles, any Error> = Result { try make() }

    static func get() throws -> TLSTestFiles { try shared.get() }

    private static func make() throws -> TLSTestFiles {
        let folder = NSTemporaryDirectory() + "shaddock-tls-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let files = TLSTestFiles(folder: folder)
        try openssl(in: folder, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                 "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Shaddock Test CA"])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: folder + "/san.cnf", atomically: true, encoding: .utf8)
        for (name, key) in [("first", ["-newkey", "rsa:2048"]), ("second", ["-newkey", "rsa:2048"]),
                            ("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])] {
            try openssl(in: folder, ["req"] + key + ["-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(in: folder, ["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                                     "-CAcreateserial", "-out", "\(name).pem", "-days", "2", "-extfile", "san.cnf"])
        }
        try openssl(in: folder, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "stranger.key"])
        return files
    }

    /// Runs the openssl command in `folder`. For s_client, `input` is sent
    /// and standard input closed a second later (which ends the session),
    /// or, with `-sess_out`, once the session file has been written (a TLS
    /// 1.3 ticket comes after the handshake). `then` follows `input` half a
    /// second later (s_client reads a command such as `K` alone).
    @discardableResult
    static func openssl(in folder: String, _ args: [String], input: String? = nil, then: String? = nil,
                        timeout: Double = 20) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let stdin = Pipe()
        p.standardInput = stdin
        try p.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        let sessionFile = args.firstIndex(of: "-sess_out").map { args[$0 + 1] }.map {
            $0.hasPrefix("/") ? $0 : folder + "/" + $0
        }
        DispatchQueue.global().async {
            if let then {
                Thread.sleep(forTimeInterval: 0.5)
                stdin.fileHandleForWriting.write(Data(then.utf8))
            }
            if input != nil { Thread.sleep(forTimeInterval: 1) }
            if let sessionFile {
                let until = Date().addingTimeInterval(timeout / 2)
                while !FileManager.default.fileExists(atPath: sessionFile) && Date() < until {
                    Thread.sleep(forTimeInterval: 0.05)
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            try? stdin.fileHandleForWriting.close()
        }
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        killer.cancel()
        let text = String(decoding: data, as: UTF8.self)
        if args.first != "s_client" && p.terminationStatus != 0 {
            throw TLSTestError.openssl(args.joined(separator: " "), text)
        }
        return text
    }
}

enum TLSTestError: Error {
    case openssl(String, String)
}

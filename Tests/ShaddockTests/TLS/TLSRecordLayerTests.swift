import Foundation
@testable import Shaddock
import Testing

/// The shim's own record layer, which carries a TLS connection once OpenSSL
/// has done its handshake: every cipher it takes over, both protocol
/// versions, records split across reads, key updates, damaged records, and
/// a cipher it leaves to OpenSSL.
@Suite struct TLSRecordLayerTests {
    struct Cipher: CustomTestStringConvertible, Sendable {
        let name: String
        let tls12: Bool
        /// The shim's layer carries it (else OpenSSL's does).
        let own: Bool
        var testDescription: String { name }
    }

    static let ciphers = [
        Cipher(name: "TLS_AES_128_GCM_SHA256", tls12: false, own: true),
        Cipher(name: "TLS_AES_256_GCM_SHA384", tls12: false, own: true),
        Cipher(name: "TLS_CHACHA20_POLY1305_SHA256", tls12: false, own: true),
        Cipher(name: "ECDHE-RSA-AES128-GCM-SHA256", tls12: true, own: true),
        Cipher(name: "ECDHE-RSA-AES256-GCM-SHA384", tls12: true, own: true),
        Cipher(name: "ECDHE-RSA-CHACHA20-POLY1305", tls12: true, own: true),
        // CBC is not in the defaults; configured, it stays with OpenSSL.
        Cipher(name: "ECDHE-RSA-AES128-SHA256", tls12: true, own: false),
    ]

    /// Messages of 40 KB each way (three records) with the client's
    /// ciphertext dribbled in pieces of 1 to 1400 bytes: reads end inside
    /// record headers and bodies.
    @Test(arguments: ciphers)
    func largeMessagesCrossRecordsAndReads(_ cipher: Cipher) throws {
        let (server, files) = try TLSTests.server { config, _ in
            if cipher.tls12 { config.tls?.ciphers = cipher.name } else { config.tls?.ciphersuites = cipher.name }
        }
        let result = try TLSTests.client("records", server.port, files, ["3", "40000"] + (cipher.tls12 ? ["tls12"] : []))
        #expect(result["error"] == nil, "\(result)")
        #expect(result["cipher"] as? String == cipher.name && result["version"] as? String == (cipher.tls12 ? "TLSv1.2" : "TLSv1.3"))
        #expect(result["answers"] as? [Int] == [200, 200, 200, 200] && result["echoed"] as? Int == 3, "\(result)")
        let stats = server.server.transportStats()
        #expect(stats.tlsOwnRecordLayer == (cipher.own ? 1 : 0) && stats.tlsBadRecords == 0)
    }

    @Test func damagedAndOversizedRecordsGetAnAlertAndAreCounted() throws {
        let (server, files) = try TLSTests.server()
        let corrupt = try TLSTests.client("corrupt", server.port, files)
        #expect((corrupt["alert"] as? String ?? "").contains("BAD_RECORD_MAC"), "\(corrupt)")
        let overflow = try TLSTests.client("overflow", server.port, files)
        #expect((overflow["alert"] as? String ?? "").contains("RECORD_OVERFLOW"), "\(overflow)")
        #expect(server.server.transportStats().tlsBadRecords == 2)
        // Nobody else noticed.
        #expect(TLSTests.answers(try TLSTests.client("pomelo", server.port, files, ["2"])) == [200, 200])
    }

    /// `K`: s_client's KeyUpdate asking for ours in return; `k`: without.
    /// Either way the request after it is read with the client's new keys
    /// and the answer sealed with the keys the client expects.
    @Test(arguments: ["K", "k"])
    func keyUpdatesBothWays(_ command: String) throws {
        let (server, files) = try TLSTests.server()
        let out = try TLSTestFiles.openssl(
            in: files.folder,
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", files.ca, "-servername", "localhost", "-tls1_3"],
            input: "\(command)\n", then: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(out.contains("KEYUPDATE") && out.contains("HTTP/1.1 400"), "\(out)")
        #expect(!out.lowercased().contains("alert"), "\(out)")
        let stats = server.server.transportStats()
        #expect(stats.tlsOwnRecordLayer == 1 && stats.tlsBadRecords == 0)
    }
}

import Foundation
import Shaddock
import Testing

/// Raw TCP framing: packages split and coalesced arbitrarily.
@Suite struct TCPTransportTests {
    @Test func unknownPackageTypeClosesTheConnection() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.sendRaw([7, 0, 0, 0])
        #expect(client.waitForClose())
        #expect(server.counter(.badPackages) == 1)
    }

    @Test func oversizeLengthIsRefusedFromTheHeader() throws {
        let server = try TestServer { $0.maxMessageBytes = 1024 }
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        // Only the header of a 16 MB package: refused without waiting for it.
        try client.sendRaw([4, 0xFF, 0xFF, 0xFF])
        #expect(client.waitForClose())
        #expect(server.counter(.oversizeMessages) == 1)
    }

    @Test func manyPackagesInOneWriteAndSplitAcrossWrites() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        var bytes: [UInt8] = []
        for id in 1...50 {
            bytes += PomeloWire.encodePackage(type: PomeloPackageType.data, body: PomeloWire.encodeMessage(
                type: .request, id: id, route: .name("connector.entryHandler.entry"), body: Array("{}".utf8)))
        }
        // Two writes, the cut in the middle of a package.
        try client.sendRaw(Array(bytes[..<(bytes.count / 2 + 3)]))
        usleep(20_000)
        try client.sendRaw(Array(bytes[(bytes.count / 2 + 3)...]))
        for id in 1...50 {
            let m = try client.readMessage(skipHeartbeats: true)
            #expect(m.type == .response && m.id == id)
        }
    }
}

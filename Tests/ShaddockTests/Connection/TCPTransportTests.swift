import Foundation
import Shaddock
import Testing

/// Raw TCP framing: packages split and coalesced arbitrarily.
@Suite struct TCPTransportTests {
    /// Requests for the example route with these ids, back to back.
    static func entryRequests(_ ids: ClosedRange<Int>) -> [UInt8] {
        ids.flatMap { id in
            PomeloWire.encodePackage(type: PomeloPackageType.data, body: PomeloWire.encodeMessage(
                type: .request, id: id, route: .name("connector.entryHandler.entry"), body: Array("{}".utf8)))
        }
    }

    @Test func unknownPackageTypeClosesTheConnection() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.sendRaw([7, 0, 0, 0])
        #expect(client.waitForClose())
        #expect(server.counter(.badPackages) == 1)
    }

    @Test func oversizeLengthIsRefusedFromTheHeader() throws {
        let server = try TestServer { $0.maxPackageBytes = 1024 }
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        // Only the header of a 16 MB package: refused without waiting for it,
        // and a TCP client, which has no close code, is told why.
        try client.sendRaw([4, 0xFF, 0xFF, 0xFF])
        try client.expectKicked(reason: "package too large")
        #expect(server.counter(.oversizePackages) == 1)
    }

    /// Everything a connection sends in one loop iteration leaves in one
    /// write call: 50 requests read together are answered by one write, not 50.
    @Test func responsesToOneReadLeaveInOneWrite() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        let bytes = Self.entryRequests(1...50)
        // The loop counts a write after the syscall returns, which can be
        // after the client has read the bytes: let the handshake's writes be
        // counted first, and wait for the responses' to be.
        usleep(50_000)
        let before = server.server.transportStats()
        try client.sendRaw(bytes)
        for id in 1...50 {
            let m = try client.readMessage(skipHeartbeats: true)
            #expect(m.type == .response && m.id == id)
        }
        var after = server.server.transportStats()
        for _ in 0..<400 where after.bytesOut - before.bytesOut < 50 * 45 {
            usleep(5_000)
            after = server.server.transportStats()
        }
        let reads = after.reads - before.reads
        let writes = after.writeCalls - before.writeCalls
        #expect(reads >= 1)
        #expect(writes <= reads, "\(writes) writes for \(reads) reads")
        #expect(after.bytesOut - before.bytesOut == 50 * 45)
    }

    /// A client that sends its last requests and half-closes still gets
    /// every answer before the server closes.
    @Test func halfCloseStillGetsTheAnswers() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        try client.sendRaw(Self.entryRequests(1...20))
        client.socket.shutdownWrite()
        for id in 1...20 {
            let m = try client.readMessage(skipHeartbeats: true)
            #expect(m.type == .response && m.id == id)
        }
        #expect(client.waitForClose())
    }

    @Test func manyPackagesInOneWriteAndSplitAcrossWrites() throws {
        let server = try TestServer()
        let client = try PomeloTestClient.ready(.tcp, port: server.port)
        let bytes = Self.entryRequests(1...50)
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

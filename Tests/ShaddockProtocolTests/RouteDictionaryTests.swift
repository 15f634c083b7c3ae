import Testing
@testable import ShaddockProtocol

@Suite struct RouteDictionaryTests {
    /// The `"dict"` object of the recorded handshake response, byte for byte.
    static var recordedRouteToCode: [UInt8] {
        Array(#"{"chat.chatHandler.notify":1,"chat.chatHandler.send":2,"connector.entryHandler.entry":3,"connector.entryHandler.kickme":4,"connector.entryHandler.login":5,"connector.entryHandler.ping":6,"onChat":7,"onAdd":8,"onLeave":9}"#.utf8)
    }
    static var recordedCodeToRoute: [UInt8] {
        Array(#"{"1":"chat.chatHandler.notify","2":"chat.chatHandler.send","3":"connector.entryHandler.entry","4":"connector.entryHandler.kickme","5":"connector.entryHandler.login","6":"connector.entryHandler.ping","7":"onChat","8":"onAdd","9":"onLeave"}"#.utf8)
    }

    @Test func chatDemoCodesMatchTheRecording() throws {
        let d = try ChatDemo.dictionary()
        #expect(d.count == 9)
        for (route, code) in ChatDemo.codes {
            #expect(d.code(for: route) == code, "\(route)")
            #expect(d.route(forCode: code) == route)
        }
        #expect(d.routes == [""] + ChatDemo.codes.map(\.0))
    }

    @Test func chatDemoVersionMatchesTheRecording() throws {
        #expect(try ChatDemo.dictionary().version == ChatDemo.dictVersion)
    }

    @Test func jsonBytesMatchTheRecording() throws {
        let d = try ChatDemo.dictionary()
        #expect(d.routeToCodeJSON.text == Self.recordedRouteToCode.text)
        #expect(d.codeToRouteJSON.text == Self.recordedCodeToRoute.text)
        // And both appear verbatim in the vector itself, so the constants above cannot drift.
        let recorded = Vectors.named("ws.handshake_response").bytes.text
        #expect(recorded.contains("\"dict\":" + Self.recordedRouteToCode.text))
        #expect(recorded.contains("\"routeToCode\":" + Self.recordedRouteToCode.text))
        #expect(recorded.contains("\"codeToRoute\":" + Self.recordedCodeToRoute.text))
        #expect(recorded.contains("\"dictVersion\":\"\(ChatDemo.dictVersion)\""))
    }

    @Test func handlerOrderDoesNotMatter() throws {
        var rng = SeededRandom(seed: 42)
        let reference = try ChatDemo.dictionary()
        for _ in 0..<20 {
            let d = try RouteDictionary(handlerRoutes: ChatDemo.handlerRoutes.shuffled(using: &rng), userRoutes: ChatDemo.userRoutes)
            #expect(d.routes == reference.routes)
            #expect(d.version == reference.version)
        }
    }

    @Test func userRoutesKeepFileOrder() throws {
        let d = try RouteDictionary(handlerRoutes: ["b.h.m", "a.h.m"], userRoutes: ["zeta", "alpha"])
        #expect(d.routes == ["", "a.h.m", "b.h.m", "zeta", "alpha"])
    }

    @Test func sortIsByUTF16CodeUnits() throws {
        // U+1F600 (UTF-16 0xD83D 0xDE00) sorts before U+FF01 in JavaScript, though
        // by scalar value or UTF-8 it comes after: Pomelo's codes follow JavaScript.
        let d = try RouteDictionary(handlerRoutes: ["a.\u{1F600}", "a.\u{FF01}", "a.Z", "a.a"])
        #expect(d.routes == ["", "a.Z", "a.a", "a.\u{1F600}", "a.\u{FF01}"])
    }

    @Test func duplicateHandlerRoutesCollapse() throws {
        let d = try RouteDictionary(handlerRoutes: ["x.y.z", "x.y.z", "a.b.c"])
        #expect(d.routes == ["", "a.b.c", "x.y.z"])
    }

    /// "é" and "e\u{301}" are equal Swift strings but two JavaScript property
    /// names, so two routes. Found while writing the dictionary check of
    /// fuzz/'s message target, which refuses the input `05 c3a9 0a 65cc81`
    /// (two handler lines) and `03 c3a9 0a 65cc81` (a handler and a user
    /// route) without this.
    @Test func canonicallyEquivalentRoutesAreDistinct() throws {
        let composed = String(decoding: [0xC3, 0xA9], as: UTF8.self)
        let decomposed = String(decoding: [0x65, 0xCC, 0x81], as: UTF8.self)
        let d = try RouteDictionary(handlerRoutes: [composed, decomposed])
        #expect(d.count == 2)
        #expect(d.code(for: decomposed) == 1 && d.code(for: composed) == 2)
        #expect(d.route(forCode: 1).map { Array($0.utf8) } == [0x65, 0xCC, 0x81])
        let u = try RouteDictionary(handlerRoutes: [composed], userRoutes: [decomposed])
        #expect(u.count == 2 && u.code(for: decomposed) == 2)
        #expect(throws: RouteDictionary.BuildError.duplicateRoute(composed)) {
            try RouteDictionary(handlerRoutes: [composed], userRoutes: [composed])
        }
    }

    @Test func codeForEveryRouteBytes() throws {
        let d = try ChatDemo.dictionary()
        for (route, code) in ChatDemo.codes {
            let bytes = Array(route.utf8)
            #expect(bytes.withUnsafeBytes { d.code(forRouteBytes: $0) } == code, "\(route)")
            // Found in the middle of a larger buffer too, as on the wire.
            let framed = [0x00, 0x01, UInt8(bytes.count)] + bytes + Array("{}".utf8)
            #expect(framed.withUnsafeBytes { d.code(forRouteBytes: UnsafeRawBufferPointer(rebasing: $0[3..<3 + bytes.count])) } == code)
        }
    }

    @Test func nearMissesAreNotFound() throws {
        let d = try ChatDemo.dictionary()
        for (route, _) in ChatDemo.codes {
            let bytes = Array(route.utf8)
            let misses: [[UInt8]] = [
                Array(bytes.dropLast()), bytes + [0x00], bytes + Array("x".utf8), [0x20] + bytes,
                bytes.map { $0 == UInt8(ascii: "o") ? UInt8(ascii: "O") : $0 },
            ]
            for miss in misses where miss != bytes {
                #expect(miss.withUnsafeBytes { d.code(forRouteBytes: $0) } == nil, "\(toHex(miss))")
            }
        }
        #expect([UInt8]().withUnsafeBytes { d.code(forRouteBytes: $0) } == nil)
        #expect(d.code(for: "") == nil)
        #expect(d.code(for: "connector.entryHandler.nope") == nil)
    }

    @Test func routeForCodeOutOfRange() throws {
        let d = try ChatDemo.dictionary()
        #expect(d.route(forCode: 0) == nil)
        #expect(d.route(forCode: 10) == nil)
        #expect(d.route(forCode: UInt16.max) == nil)
    }

    @Test func duplicateUserRoute() {
        #expect(throws: RouteDictionary.BuildError.duplicateRoute("onChat")) {
            try RouteDictionary(handlerRoutes: ChatDemo.handlerRoutes, userRoutes: ["onChat", "onAdd", "onChat"])
        }
        // A user route that repeats a handler route would give it two codes.
        #expect(throws: RouteDictionary.BuildError.duplicateRoute("chat.chatHandler.send")) {
            try RouteDictionary(handlerRoutes: ChatDemo.handlerRoutes, userRoutes: ["chat.chatHandler.send"])
        }
    }

    @Test func routeTooLong() throws {
        let long = String(repeating: "r", count: 256)
        #expect(throws: RouteDictionary.BuildError.routeTooLong(long)) {
            try RouteDictionary(handlerRoutes: ["a.b.c", long])
        }
        #expect(throws: RouteDictionary.BuildError.routeTooLong(long)) {
            try RouteDictionary(handlerRoutes: ["a.b.c"], userRoutes: [long])
        }
        // The limit is in bytes: 128 two-byte characters are 256 bytes.
        let wide = String(repeating: "é", count: 128)
        #expect(throws: RouteDictionary.BuildError.routeTooLong(wide)) {
            try RouteDictionary(handlerRoutes: [wide])
        }
        let max = String(repeating: "r", count: 255)
        #expect(try RouteDictionary(handlerRoutes: [max]).code(for: max) == 1)
    }

    @Test func emptyRoute() {
        #expect(throws: RouteDictionary.BuildError.emptyRoute) { try RouteDictionary(handlerRoutes: ["a.b.c", ""]) }
        #expect(throws: RouteDictionary.BuildError.emptyRoute) { try RouteDictionary(handlerRoutes: [], userRoutes: [""]) }
    }

    @Test func emptyDictionary() throws {
        let d = try RouteDictionary(handlerRoutes: [])
        #expect(d.count == 0)
        #expect(d.routeToCodeJSON.text == "{}")
        #expect(d.codeToRouteJSON.text == "{}")
        #expect(d.code(for: "a") == nil)
    }

    /// Enough routes to force collisions in the open-addressing table.
    @Test func manyRoutesAllFound() throws {
        let routes = (0..<3000).map { "s\($0 % 7).h\($0 / 7).m\($0)" }
        let d = try RouteDictionary(handlerRoutes: routes)
        #expect(d.count == 3000)
        for code in 1...UInt16(3000) {
            let r = try #require(d.route(forCode: code))
            #expect(d.code(for: r) == code)
        }
        #expect(d.code(for: "s0.h0.m1") == nil)
    }

    @Test func escapesLikeJSONStringify() throws {
        let d = try RouteDictionary(handlerRoutes: [], userRoutes: ["a\"b", "c\\d"])
        #expect(d.routeToCodeJSON.text == #"{"a\"b":1,"c\\d":2}"#)
        #expect(d.codeToRouteJSON.text == #"{"1":"a\"b","2":"c\\d"}"#)
    }
}

import CShaddockDigest

#if canImport(Glibc)
import Glibc
#endif

/// The route dictionary (PROTOCOL.md §5): codes from 1 for the handler routes
/// sorted as strings, then the user dictionary's push routes in file order.
/// Every server of a cluster computes the same codes and the same version.
/// A class: it is shared, never copied, by every request that resolves a
/// route through it.
public final class RouteDictionary: Sendable {
    public enum BuildError: Error, Equatable, CustomStringConvertible {
        case duplicateRoute(String)
        case emptyRoute
        case routeTooLong(String)
        case tooManyRoutes(Int)

        public var description: String {
            switch self {
            case .duplicateRoute(let r): return "route \"\(r)\" appears twice in the dictionary"
            case .emptyRoute: return "the dictionary has an empty route"
            case .routeTooLong(let r): return "route \"\(r)\" is longer than 255 bytes"
            case .tooManyRoutes(let n): return "\(n) routes do not fit in 16-bit codes"
            }
        }
    }

    /// Routes by code; index 0 is unused (codes start at 1).
    public let routes: [String]
    /// `dictVersion`: base64 of the MD5 of the dictionary's JSON, as Pomelo computes it.
    public let version: String
    /// `{"route":code,...}` exactly as JavaScript's JSON.stringify writes it.
    public let routeToCodeJSON: [UInt8]
    /// `{"1":"route",...}`.
    public let codeToRouteJSON: [UInt8]
    @usableFromInline let table: RouteTable

    public init(handlerRoutes: [String], userRoutes: [String] = []) throws(BuildError) {
        // Routes are told apart by their bytes, as JavaScript tells property
        // names apart by code units: Swift's String equality would take "é"
        // and "e\u{301}" for one route. JavaScript sorts by UTF-16 code units.
        var seen = Set<[UInt8]>()
        var all = handlerRoutes.filter { seen.insert(Array($0.utf8)).inserted }
        all.sort { $0.utf16.lexicographicallyPrecedes($1.utf16) }
        for r in userRoutes {
            if !seen.insert(Array(r.utf8)).inserted { throw .duplicateRoute(r) }
            all.append(r)
        }
        if all.count > Int(UInt16.max) { throw .tooManyRoutes(all.count) }
        for r in all {
            if r.isEmpty { throw .emptyRoute }
            if r.utf8.count > 255 { throw .routeTooLong(r) }
        }
        routes = [""] + all
        count = all.count
        var toCode: [UInt8] = [UInt8(ascii: "{")]
        var toRoute: [UInt8] = [UInt8(ascii: "{")]
        for (i, r) in all.enumerated() {
            if i > 0 {
                toCode.append(UInt8(ascii: ","))
                toRoute.append(UInt8(ascii: ","))
            }
            JSONValue.string(r).write(into: &toCode)
            toCode.append(UInt8(ascii: ":"))
            toCode.append(contentsOf: String(i + 1).utf8)
            toRoute.append(UInt8(ascii: "\""))
            toRoute.append(contentsOf: String(i + 1).utf8)
            toRoute.append(contentsOf: "\":".utf8)
            JSONValue.string(r).write(into: &toRoute)
        }
        toCode.append(UInt8(ascii: "}"))
        toRoute.append(UInt8(ascii: "}"))
        routeToCodeJSON = toCode
        codeToRouteJSON = toRoute
        version = Digest.base64(Digest.md5(toCode))
        table = RouteTable(routes: all)
    }

    /// Routes in the dictionary (the highest code).
    public let count: Int

    public func route(forCode code: UInt16) -> String? {
        code >= 1 && Int(code) < routes.count ? routes[Int(code)] : nil
    }

    public func code(for route: String) -> UInt16? {
        var r = route
        return r.withUTF8 { table.lookup(UnsafeRawBufferPointer($0)) }
    }

    /// The code of a route given as UTF-8 bytes, without making a String.
    @inlinable
    public func code(forRouteBytes bytes: UnsafeRawBufferPointer) -> UInt16? { table.lookup(bytes) }
}

/// Open addressing over FNV-1a hashes of the routes' bytes, so an
/// uncompressed route on the wire is found without allocating a String.
@usableFromInline
struct RouteTable: Sendable {
    @usableFromInline let bytes: [[UInt8]]
    @usableFromInline let slots: [UInt16]  // code, or 0 for empty
    @usableFromInline let mask: Int

    init(routes: [String]) {
        bytes = routes.map { Array($0.utf8) }
        var size = 8
        while size < routes.count * 2 { size <<= 1 }
        var slots = [UInt16](repeating: 0, count: size)
        for (i, b) in bytes.enumerated() {
            var s = b.withUnsafeBytes { RouteTable.hash($0) } & (size - 1)
            while slots[s] != 0 { s = (s + 1) & (size - 1) }
            slots[s] = UInt16(i + 1)
        }
        self.slots = slots
        mask = size - 1
    }

    @inlinable
    static func hash(_ b: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h >> 1)
    }

    @inlinable
    func lookup(_ key: UnsafeRawBufferPointer) -> UInt16? {
        var s = RouteTable.hash(key) & mask
        while true {
            let code = slots[s]
            if code == 0 { return nil }
            let candidate = bytes[Int(code) - 1]
            if candidate.count == key.count,
               key.count == 0 || candidate.withUnsafeBytes({ memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0 }) {
                return code
            }
            s = (s + 1) & mask
        }
    }
}

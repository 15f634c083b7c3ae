import CShaddockLoop
import ShaddockProtocol

/// A client's session: it lives on its connection's loop, and is used from
/// that loop's thread (handlers run there).
public final class Session {
    /// Unique in this process.
    public let id: UInt64
    /// The client's address and port.
    public let remoteAddress: String
    public let remotePort: Int
    unowned(unsafe) let connection: Connection

    init(id: UInt64, connection: Connection, address: String, port: Int) {
        self.id = id
        self.connection = connection
        self.remoteAddress = address
        self.remotePort = port
    }

    /// Whether the connection is closing or gone.
    public var isClosed: Bool { connection.isClosing }

    /// Sends a kick package with `{"reason": reason}`, then closes.
    public func kick(reason: String) { connection.kick(reason: reason) }

    /// Sends a push with `route` and `body`. The route goes as its dictionary
    /// code when it has one.
    public func push(route: String, body: JSONValue) { connection.push(route: route, body: body) }

    /// Closes the connection without a kick.
    public func close() { connection.close(.graceful) }
}

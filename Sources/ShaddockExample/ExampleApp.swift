import Shaddock
import ShaddockProtocol

/// Pomelo's classic chat demo, served by `shaddock serve`: a `connector`
/// that lets users log into rooms, and a `chat` server type that keeps the
/// rooms (channels named after the room id) and relays the chat. In one
/// process both run here; in a cluster (deploy/chat-cluster) the connectors
/// hold the clients and reach the chat server picked for a room by remote
/// calls (`chatRemote`) and forwarded requests (`chat.chatHandler.*`).
public enum ExampleApp {
    /// Push routes, coded in the dictionary after the handler routes.
    public static let userDictionary = ["onChat", "onAdd", "onLeave"]

    /// Who joins or leaves a room, and where the client is.
    struct Member: Codable, Sendable {
        var uid: String
        var rid: String
        var frontendID: String
        var sessionID: UInt64
    }

    public static func make() -> Application {
        let app = Application(serverType: "connector")
        app.userDictionary = userDictionary
        let channels = app.channels

        // A room lives on one chat server: the one its id picks (Pomelo's
        // chat demo routes by `rid` the same way).
        app.route("chat") { session, _, servers in
            guard let rid = session?.get("rid")?.stringValue else { return nil }
            return ClusterServer.pick(byKey: rid, from: servers)?.id
        }

        // Encoded once, captured by the handler: the same bytes every time.
        let entryReply = EncodedJSON(["code": 200, "msg": "game server is ok."])
        app.handle("connector.entryHandler.entry") { _, _ in .encoded(entryReply) }

        // `unowned`: the application keeps its handlers, so a handler that
        // kept the application would keep both alive forever.
        app.handle("connector.entryHandler.login") { [unowned app] (request: Request, session: Session) async throws -> Response in
            let body = request.json
            guard let uid = body["uid"]?.stringValue, !uid.isEmpty,
                  let rid = body["rid"]?.stringValue, !rid.isEmpty else { throw ChatError.badRequest }
            try session.bind(uid)
            session.set("rid", .string(rid))
            session.pushSetting("rid")
            let member = Member(uid: uid, rid: rid, frontendID: session.frontendID, sessionID: session.id)
            let users: [String] = try await app.rpc("chat", "chatRemote.add", member, session: session)
            session.onClosed { closed in
                // On the session's loop, as a handler would run.
                Task(executorPreference: closed.executor) {
                    _ = try? await app.rpc("chat", "chatRemote.kick", member, session: closed, as: Bool.self)
                }
            }
            return .json(["code": 200, "uid": .string(uid), "rid": .string(rid),
                          "users": .array(users.map { .string($0) })])
        }

        app.handle("connector.entryHandler.ping") { _, _ in .json(["code": 200]) }

        let bye = EncodedJSON(["code": 200, "msg": "bye"])
        app.handle("connector.entryHandler.kickme") { request, session in
            let reason = request.json["reason"]?.stringValue ?? "kicked"
            // The answer goes first; the kick follows about 50 ms later.
            session.kick(reason: reason, afterMilliseconds: 50)
            return .encoded(bye)
        }

        // The chat server's side of a login and of a leaving client.
        app.remote("chatRemote.add") { (m: Member) async throws -> [String] in
            let room = channels.create(m.rid)
            // The members already there hear of the newcomer, who is then added.
            room.push(route: "onAdd", body: ["route": "onAdd", "user": .string(m.uid)])
            room.add(uid: m.uid, frontendID: m.frontendID, sessionID: m.sessionID)
            return room.members
        }
        app.remote("chatRemote.kick") { (m: Member) async throws -> Bool in
            // Only if this session is still the uid's member: a newer login
            // of the same uid replaced it otherwise.
            guard let room = channels.get(m.rid),
                  room.leave(uid: m.uid, frontendID: m.frontendID, sessionID: m.sessionID) else { return false }
            room.push(route: "onLeave", body: ["route": "onLeave", "user": .string(m.uid)])
            if room.count == 0 { channels.destroy(m.rid) }
            return true
        }

        let ok = EncodedJSON(["code": 200])
        // The body's members are read in place and the push is written
        // straight into the loop's output: no JSON tree, no lock.
        app.handle("chat.chatHandler.send") { request, session in
            let (uid, room) = try member(session, channels)
            let content = request["content"]
            let target = request["target"]?.stringValue ?? "*"
            func chat(_ o: inout JSONObjectWriter) {
                if let content { o.add("msg", content) } else { o.add("msg", "") }
                o.add("from", uid)
                o.add("target", target)
            }
            if target == "*" {
                room.push(route: "onChat", object: chat)
            } else {
                room.push(route: "onChat", toUids: [target], object: chat)
            }
            return .encoded(ok)
        }

        app.handle("chat.chatHandler.notify") { request, session in
            let (uid, room) = try member(session, channels)
            let content = request["content"]
            room.push(route: "onChat") { o in
                if let content { o.add("msg", content) } else { o.add("msg", "") }
                o.add("from", uid)
                o.add("target", "*")
                o.add("via", "notify")
            }
            return .encoded(ok)
        }
        return app
    }

    /// The session's uid and room; only a logged-in session may chat.
    private static func member(_ session: Session, _ channels: ChannelService) throws -> (String, Channel) {
        guard let uid = session.uid, let rid = session.get("rid")?.stringValue,
              let room = channels.get(rid) else { throw ChatError.notLoggedIn }
        return (uid, room)
    }
}

enum ChatError: Error, CustomStringConvertible {
    case badRequest
    case notLoggedIn

    var description: String {
        switch self {
        case .badRequest: return "login needs a uid and a rid"
        case .notLoggedIn: return "log in first"
        }
    }
}

import Shaddock
import ShaddockProtocol

/// Pomelo's classic chat demo, served by `shaddock serve`: a `connector`
/// that lets users log into rooms, and a `chat` server type whose handlers run
/// in the same process. Rooms are channels named after the room id.
public enum ExampleApp {
    /// Push routes, coded in the dictionary after the handler routes.
    public static let userDictionary = ["onChat", "onAdd", "onLeave"]

    public static func make() -> Application {
        let app = Application(serverType: "connector")
        app.userDictionary = userDictionary
        let channels = app.channels

        // Encoded once, captured by the handler: the same bytes every time.
        let entryReply = EncodedJSON(["code": 200, "msg": "game server is ok."])
        app.handle("connector.entryHandler.entry") { _, _ in .encoded(entryReply) }

        app.handle("connector.entryHandler.login") { request, session in
            let body = request.json
            guard let uid = body["uid"]?.stringValue, !uid.isEmpty,
                  let rid = body["rid"]?.stringValue, !rid.isEmpty else { throw ChatError.badRequest }
            try session.bind(uid)
            session.set("rid", .string(rid))
            session.pushSetting("rid")
            let room = channels.create(rid)
            // The members already there hear of the newcomer, who is then added.
            room.push(route: "onAdd", body: ["route": "onAdd", "user": .string(uid)])
            room.add(uid: uid, session: session)
            session.onClosed { closed in
                // Only if this session is still the uid's member: a newer
                // login of the same uid replaced it otherwise.
                guard room.leave(uid: uid, session: closed) else { return }
                room.push(route: "onLeave", body: ["route": "onLeave", "user": .string(uid)])
                if room.count == 0 { channels.destroy(rid) }
            }
            return .json(["code": 200, "uid": .string(uid), "rid": .string(rid),
                          "users": .array(room.members.map { .string($0) })])
        }

        app.handle("connector.entryHandler.ping") { _, _ in .json(["code": 200]) }

        let bye = EncodedJSON(["code": 200, "msg": "bye"])
        app.handle("connector.entryHandler.kickme") { request, session in
            let reason = request.json["reason"]?.stringValue ?? "kicked"
            // The answer goes first; the kick follows about 50 ms later.
            session.kick(reason: reason, afterMilliseconds: 50)
            return .encoded(bye)
        }

        let ok = EncodedJSON(["code": 200])
        app.handle("chat.chatHandler.send") { request, session in
            let body = request.json
            let (uid, room) = try member(session, channels)
            let target = body["target"]?.stringValue ?? "*"
            let message: JSONValue = ["msg": body["content"] ?? .string(""), "from": .string(uid), "target": .string(target)]
            if target == "*" {
                room.push(route: "onChat", body: message)
            } else {
                room.push(route: "onChat", body: message, toUids: [target])
            }
            return .encoded(ok)
        }

        app.handle("chat.chatHandler.notify") { request, session in
            let (uid, room) = try member(session, channels)
            room.push(route: "onChat", body: ["msg": request.json["content"] ?? .string(""), "from": .string(uid),
                                              "target": "*", "via": "notify"])
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

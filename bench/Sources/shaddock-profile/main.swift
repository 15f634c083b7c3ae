import Shaddock
import ShaddockProtocol

// Shaddock embedded as a user embeds it, with a handler of their own:
// connector.entryHandler.profile answers a player's profile (about 300
// bytes of JSON, encoded per request), the reply the references give with
// --reply profile; connector.entryHandler.move is a typed handler (a
// `Decodable` in, an `Encodable` out: a move of a few scalar fields and a
// string), over JSON, or over pomelo-protobuf with the `protobuf` mode.
//
//   shaddock-profile PORT HEARTBEAT [deflate|protobuf]
let arguments = CommandLine.arguments
guard arguments.count >= 3, let port = Int(arguments[1]), let heartbeat = Int(arguments[2]) else {
    fatalError("usage: shaddock-profile PORT HEARTBEAT [deflate|protobuf]")
}
let profile: JSONValue = [
    "code": 200,
    "player": [
        "guild": "Night Owls", "id": "p-1042",
        "inventory": [["count": 1, "item": "sword"], ["count": 12, "item": "potion"], ["count": 3, "item": "elixir"]],
        "lastSeen": "2026-12-06T21:14:03Z", "level": 37, "name": "Aria Stormwind",
        "quests": ["q-101", "q-117", "q-130"], "stats": ["atk": 212, "def": 174, "hp": 1840, "mp": 620, "spd": 98],
    ],
]
let mode = arguments.count > 3 ? arguments[3] : ""
let app = Application(serverType: "connector")
app.handle("connector.entryHandler.profile") { _, _ in .json(profile) }

struct Move: Decodable, Sendable {
    var entityId: UInt32
    var x: Int32
    var y: Int32
    var speed: Float
    var note: String?
}

struct MoveAck: Encodable, Sendable {
    var code: Int
    var entityId: UInt32
    var x: Int32
    var y: Int32
    var tick: UInt32
    var zone: String
}

app.handle("connector.entryHandler.move") { (move: Move, _: Session) -> MoveAck in
    MoveAck(code: 200, entityId: move.entityId, x: move.x &+ Int32(move.speed), y: move.y, tick: 1, zone: "harbor")
}
if mode == "protobuf" {
    app.protobuf = try ProtobufSchemas(
        client: ["connector.entryHandler.move": ["required uInt32 entityId": 1, "required sInt32 x": 2, "required sInt32 y": 3,
                                                 "required float speed": 4, "optional string note": 5]],
        server: ["connector.entryHandler.move": ["required uInt32 code": 1, "required uInt32 entityId": 2, "required sInt32 x": 3,
                                                 "required sInt32 y": 4, "required uInt32 tick": 5, "optional string zone": 6]])
}
var configuration = GatewayConfiguration()
configuration.host = "127.0.0.1"
configuration.port = port
configuration.threads = 1
configuration.heartbeatSeconds = heartbeat
configuration.logLevel = .error
configuration.compression.deflate = mode == "deflate"
try Server(application: app, configuration: configuration).runUntilSignalled()

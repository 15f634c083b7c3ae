import Shaddock
import ShaddockProtocol

// Shaddock embedded as a user embeds it, with a handler of their own:
// connector.entryHandler.profile answers a player's profile (about 300
// bytes of JSON, encoded per request), the reply the references give with
// --reply profile.
//
//   shaddock-profile PORT HEARTBEAT [deflate]
let arguments = CommandLine.arguments
guard arguments.count >= 3, let port = Int(arguments[1]), let heartbeat = Int(arguments[2]) else {
    fatalError("usage: shaddock-profile PORT HEARTBEAT [deflate]")
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
let app = Application(serverType: "connector")
app.handle("connector.entryHandler.profile") { _, _ in .json(profile) }
var configuration = GatewayConfiguration()
configuration.host = "127.0.0.1"
configuration.port = port
configuration.threads = 1
configuration.heartbeatSeconds = heartbeat
configuration.logLevel = .error
configuration.compression.deflate = arguments.count > 3 && arguments[3] == "deflate"
try Server(application: app, configuration: configuration).runUntilSignalled()

@testable import Shaddock
import ShaddockProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The configuration file (servers.json environments and the connector
/// section) and `validate()`, without a server.
@Suite struct ConfigurationTests {
    /// Pomelo's generated game-server/config/servers.json, unchanged.
    static let pomeloServers = #"""
    {
      "development": {
        "connector": [
          {"id": "connector-server-1", "host": "127.0.0.1", "port": 3150, "clientHost": "127.0.0.1", "clientPort": 3010, "frontend": true},
          {"id": "connector-server-2", "host": "127.0.0.1", "port": 3151, "clientHost": "127.0.0.1", "clientPort": 3011, "frontend": true, "max-connections": 500}
        ],
        "chat": [{"id": "chat-server-1", "host": "127.0.0.1", "port": 6050}]
      },
      "production": {
        "gate": [{"id": "gate-server-1", "host": "10.0.0.1", "clientPort": 3014, "frontend": "true"}],
        "connector": [{"id": "connector-server-1", "host": "10.0.0.2", "port": 3150, "clientPort": 4010, "frontend": true,
                       "args": "--max-old-space-size=2048", "cpu": 1, "auto-restart": true, "restart-force": "false"}],
        "chat": [{"id": "chat-server-1", "host": "10.0.0.3", "port": 6050, "args": ["--inspect"], "cpu": "2"}]
      }
    }
    """#

    static func load(_ json: String, env: String = "development", id: String? = nil, directory: String = "")
        throws(ConfigurationError) -> GatewayConfiguration
    {
        try GatewayConfiguration(file: try! JSON.parse(json), directory: directory, environment: env, serverID: id)
    }

    static func error(_ json: String, env: String = "development", id: String? = nil, directory: String = "") -> ConfigurationError? {
        do { _ = try load(json, env: env, id: id, directory: directory) } catch { return error }
        return nil
    }

    /// A servers.json for one frontend with `section` as the connector section.
    static func withConnector(_ section: String) -> String {
        #"{"connector": {\#(section)}, "development": {"connector": [{"id": "c1", "clientPort": 3010, "frontend": true}]}}"#
    }

    // MARK: servers.json

    @Test func plainServersJSONLoadsAndPicksTheFirstFrontend() throws {
        let config = try Self.load(Self.pomeloServers)
        #expect(config.serverID == "connector-server-1")
        #expect(config.serverType == "connector")
        #expect(config.port == 3010)
        #expect(config.maxConnections == nil)
        #expect(config.host == "0.0.0.0", "clientHost is what clients are told, not where to listen")
        #expect(config.cluster == [
            ServerEntry(id: "connector-server-1", serverType: "connector", host: "127.0.0.1", port: 3150,
                        clientHost: "127.0.0.1", clientPort: 3010, frontend: true),
            ServerEntry(id: "connector-server-2", serverType: "connector", host: "127.0.0.1", port: 3151,
                        clientHost: "127.0.0.1", clientPort: 3011, frontend: true, maxConnections: 500),
            ServerEntry(id: "chat-server-1", serverType: "chat", host: "127.0.0.1", port: 6050),
        ])
        let defaults = GatewayConfiguration()
        #expect(config.heartbeatSeconds == defaults.heartbeatSeconds)
        #expect(config.scheduler == .direct)
        #expect(config.blacklist.isEmpty && config.userDictionary.isEmpty)
    }

    /// A server without `frontend` runs as a backend: no client port.
    /// It needs a cluster: the file's section or --nats.
    @Test func aBackendIsChosenByItsID() throws {
        #expect(Self.error(Self.pomeloServers, id: "chat-server-1") == .invalid(
            "development.chat[0]", "\"chat-server-1\" is a backend (not \"frontend\": true): it runs in a cluster, which needs a \"cluster\" section or --nats"))
        let config = try GatewayConfiguration(file: try! JSON.parse(Self.pomeloServers), directory: "",
                                              environment: "development", serverID: "chat-server-1",
                                              nats: ["nats://127.0.0.1:4222"])
        #expect(config.serverID == "chat-server-1")
        #expect(config.serverType == "chat")
        #expect(!config.isFrontend)
        #expect(config.clusterOptions?.nats.urls == ["nats://127.0.0.1:4222"])
    }

    @Test func theClusterSection() throws {
        let json = #"{"cluster": {"nats": ["nats://127.0.0.1:4222", "localhost:4223"], "name": "game", "requestTimeout": 500, "announceInterval": 250, "maxInFlight": 9, "token": "t"}, "development": {"connector": [{"id": "c1", "clientPort": 3010, "frontend": true}], "area": [{"id": "a1"}]}}"#
        let config = try Self.load(json, id: "a1")
        let options = try #require(config.clusterOptions)
        #expect(options.nats.urls == ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"])
        #expect(options.name == "game")
        #expect(options.requestTimeoutMilliseconds == 500)
        #expect(options.announceIntervalMilliseconds == 250)
        #expect(options.maxInFlightPerLoop == 9)
        #expect(options.nats.token == "t")
        #expect(Self.error(#"{"cluster": {"nats": "http://x"}}"#) == .invalid("cluster.nats", "\"http://x\" is not nats://host:port (or the host does not resolve)"))
        #expect(Self.error(#"{"cluster": {"nats": "nats://127.0.0.1:1", "bogus": 1}}"#) == .unknownKey("cluster.bogus"))
        #expect(Self.error(#"{"cluster": {"nats": []}}"#) == .invalid("cluster.nats", "names no NATS server (nats://host:port)"))
        let dotted = #"{"cluster": {"nats": "nats://127.0.0.1:1"}, "development": {"connector": [{"id": "c.1", "clientPort": 3010, "frontend": true}]}}"#
        #expect(Self.error(dotted) != nil)
    }

    @Test func serverIDChoosesTheEntry() throws {
        let config = try Self.load(Self.pomeloServers, id: "connector-server-2")
        #expect(config.serverID == "connector-server-2")
        #expect(config.port == 3011)
        #expect(config.maxConnections == 500)
        #expect(config.cluster.count == 3)
    }

    @Test func environmentIsChosenAndServerTypesAreInFileOrder() throws {
        let config = try Self.load(Self.pomeloServers, env: "production")
        #expect(config.serverID == "gate-server-1", "gate comes first in the file and is a frontend (\"true\")")
        #expect(config.serverType == "gate")
        #expect(config.port == 3014)
        #expect(config.cluster.map(\.id) == ["gate-server-1", "connector-server-1", "chat-server-1"])
        #expect(config.cluster.map(\.frontend) == [true, true, false])
        #expect(try Self.load(Self.pomeloServers, env: "production", id: "connector-server-1").port == 4010)
    }

    @Test func aFileWithoutEnvironmentsKeepsTheDefaults() throws {
        let empty = try Self.load("{}")
        #expect(empty.serverID == "connector-server-1" && empty.port == 3010 && empty.cluster.isEmpty)
        let named = try Self.load(#"{"connector": {"heartbeat": 4}}"#, env: "anything", id: "edge-7")
        #expect(named.serverID == "edge-7")
        #expect(named.heartbeatSeconds == 4)
    }

    static let serverErrors: [(String, String, String?, ConfigurationError)] = [
        ("[]", "development", nil, .invalid("(top level)", "must be a JSON object")),
        (#"{"development": []}"#, "development", nil,
         .invalid("development", "must be an object of server types (or \"connector\", the connector section)")),
        (#"{"development": {"connector": {}}}"#, "development", nil, .invalid("development.connector", "must be an array of servers")),
        (#"{"development": {"connector": [3]}}"#, "development", nil, .invalid("development.connector[0]", "must be an object")),
        (#"{"development": {"connector": [{"clientPort": 1, "frontend": true}]}}"#, "development", nil,
         .invalid("development.connector[0].id", "is required")),
        (#"{"development": {"connector": [{"id": 1}]}}"#, "development", nil, .invalid("development.connector[0].id", "must be a string")),
        (#"{"development": {"connector": [{"id": "a", "port": "3150"}]}}"#, "development", nil,
         .invalid("development.connector[0].port", "must be an integer")),
        (#"{"development": {"connector": [{"id": "a", "host": 1}]}}"#, "development", nil,
         .invalid("development.connector[0].host", "must be a string")),
        (#"{"development": {"connector": [{"id": "a", "clientHost": false}]}}"#, "development", nil,
         .invalid("development.connector[0].clientHost", "must be a string")),
        (#"{"development": {"connector": [{"id": "a", "clientPort": 1.5}]}}"#, "development", nil,
         .invalid("development.connector[0].clientPort", "must be an integer")),
        (#"{"development": {"connector": [{"id": "a", "frontend": "yes"}]}}"#, "development", nil,
         .invalid("development.connector[0].frontend", "must be true or false")),
        (#"{"development": {"connector": [{"id": "a", "max-connections": "9"}]}}"#, "development", nil,
         .invalid("development.connector[0].max-connections", "must be an integer")),
        (#"{"development": {"connector": [{"id": "a", "args": [1]}]}}"#, "development", nil,
         .invalid("development.connector[0].args[0]", "must be a string")),
        (#"{"development": {"connector": [{"id": "a", "cpu": true}]}}"#, "development", nil,
         .invalid("development.connector[0].cpu", "must be an integer")),
        (#"{"development": {"connector": [{"id": "a", "auto-restart": 1}]}}"#, "development", nil,
         .invalid("development.connector[0].auto-restart", "must be true or false")),
        (#"{"development": {"connector": [{"id": "a", "restart-force": null}]}}"#, "development", nil,
         .invalid("development.connector[0].restart-force", "must be true or false")),
        (#"{"development": {"connector": [{"id": "a", "bogus": 1}]}}"#, "development", nil,
         .unknownKey("development.connector[0].bogus")),
        // In an environment that is not the one chosen.
        (#"{"development": {"connector": [{"id": "a", "clientPort": 1, "frontend": true}]}, "production": {"chat": [{"id": "b", "wsPort": 3}]}}"#,
         "development", nil, .unknownKey("production.chat[0].wsPort")),
        (pomeloServers, "staging", nil,
         .invalid("staging", "no such environment in the file; it has \"development\", \"production\"")),
        (pomeloServers, "development", "chat-server-9", .invalid("development", "no server has the id \"chat-server-9\"")),
        (#"{"development": {"chat": [{"id": "a"}]}}"#, "development", nil,
         .invalid("development", "no frontend server (\"frontend\": true) to run as")),
        (#"{"development": {"connector": [{"id": "a", "frontend": true}]}}"#, "development", nil,
         .invalid("development.connector[0].clientPort", "is required for a frontend server")),
        // Checked by validate() and named by their place in the file.
        (#"{"development": {"connector": [{"id": "a", "frontend": true, "clientPort": 70000}]}}"#, "development", nil,
         .invalid("development.connector[0].clientPort", "70000 is not in 0...65535")),
        (#"{"development": {"connector": [{"id": "a", "frontend": true, "clientPort": 1, "max-connections": 0}]}}"#, "development", nil,
         .invalid("development.connector[0].max-connections", "must be positive")),
        (#"{"development": {"connector": [{"id": "a", "frontend": true, "clientPort": 1}], "chat": [{"id": "b", "port": -1}]}}"#,
         "development", nil, .invalid("development.chat[0].port", "-1 is not in 0...65535")),
        (#"{"development": {"connector": [{"id": "a", "frontend": true, "clientPort": 1}], "chat": [{"id": "a"}]}}"#,
         "development", nil, .invalid("development.chat[0].id", "\"a\" is the id of an earlier server")),
        (#"{"development": {"connector": [{"id": "", "frontend": true, "clientPort": 1}]}}"#, "development", nil,
         .invalid("development.connector[0].id", "must not be empty")),
    ]

    @Test(arguments: serverErrors)
    func serversErrorsNameTheirPath(_ json: String, _ env: String, _ id: String?, _ expected: ConfigurationError) {
        #expect(Self.error(json, env: env, id: id) == expected)
    }

    // MARK: the connector section

    @Test func everyConnectorKeyIsApplied() throws {
        let config = try Self.load(Self.withConnector(#"""
            "host": "::", "threads": 3, "heartbeat": 5, "timeout": 12.5, "handshakeTimeout": 30, "useDict": false,
            "blacklist": ["10.0.0.0/8", "^192\\.168\\."], "scheduler": {"mode": "buffer", "flushInterval": 50},
            "multiLogin": "reject", "slowConsumer": "drop",
            "filters": {"serial": 3000, "time": 200, "timeout": 5000, "toobusy": 70},
            "maxMessageBytes": 1024, "maxRequestHeadBytes": 4096, "maxPendingBytes": 65536,
            "timerTickMilliseconds": 50, "lingerMilliseconds": 100, "logLevel": "debug",
            "firstByteTimeout": 2, "requestHeadTimeout": 3.5, "maxFrameBytes": 2048, "maxPackageBytes": 512,
            "maxConnectionsPerAddress": 20, "requestRate": {"perSecond": 50, "burst": 100, "kickAfter": 25},
            "drainTimeout": 7, "drainKickReason": "maintenance"
            """#))
        #expect(config.host == "::")
        #expect(config.threads == 3)
        #expect(config.heartbeatSeconds == 5)
        #expect(config.heartbeatTimeoutSeconds == 12.5)
        #expect(config.handshakeTimeoutSeconds == 30)
        #expect(config.useDictionary == false)
        #expect(config.blacklist == ["10.0.0.0/8", #"^192\.168\."#])
        #expect(config.scheduler == .buffered(flushIntervalMilliseconds: 50))
        #expect(config.multiLogin == .reject)
        #expect(config.slowConsumer == .dropPushes)
        #expect(config.serialFilterTimeoutMilliseconds == 3000)
        #expect(config.slowHandlerMilliseconds == 200)
        #expect(config.requestTimeoutMilliseconds == 5000)
        #expect(config.maxLoopLagMilliseconds == 70)
        #expect(config.maxMessageBytes == 1024)
        #expect(config.maxRequestHeadBytes == 4096)
        #expect(config.maxPendingBytes == 65536)
        #expect(config.timerTickMilliseconds == 50)
        #expect(config.lingerMilliseconds == 100)
        #expect(config.logLevel == .debug)
        #expect(config.firstByteTimeoutSeconds == 2 && config.requestHeadTimeoutSeconds == 3.5)
        #expect(config.maxFrameBytes == 2048 && config.maxPackageBytes == 512)
        #expect(config.maxConnectionsPerAddress == 20)
        #expect(config.requestRate == RequestRateLimit(perSecond: 50, burst: 100, kickAfter: 25))
        #expect(config.drainTimeoutSeconds == 7 && config.drainKickReason == "maintenance")
        #expect(config.serverID == "c1" && config.port == 3010)
    }

    @Test func connectorDefaultsAndChoices() throws {
        let defaults = try Self.load(Self.withConnector(""))
        #expect(defaults.scheduler == .direct && defaults.multiLogin == .kickOld && defaults.slowConsumer == .kick)
        #expect(defaults.serialFilterTimeoutMilliseconds == nil && defaults.maxLoopLagMilliseconds == nil)
        #expect(defaults.heartbeatTimeoutSeconds == nil && defaults.useDictionary)
        #expect(defaults.maxConnectionsPerAddress == nil && defaults.requestRate == nil)
        #expect(try Self.load(Self.withConnector(#""requestRate": {"perSecond": 40}"#)).requestRate
                == RequestRateLimit(perSecond: 40, burst: 40, kickAfter: 40))
        #expect(try Self.load(Self.withConnector(#""scheduler": {"mode": "buffer"}"#)).scheduler == .buffered(flushIntervalMilliseconds: 20))
        #expect(try Self.load(Self.withConnector(#""scheduler": {}"#)).scheduler == .direct)
        #expect(try Self.load(Self.withConnector(#""scheduler": {"mode": "direct", "flushInterval": 5}"#)).scheduler == .direct)
        #expect(try Self.load(Self.withConnector(#""multiLogin": "allow""#)).multiLogin == .allow)
        #expect(try Self.load(Self.withConnector(#""multiLogin": "kick""#)).multiLogin == .kickOld)
        #expect(try Self.load(Self.withConnector(#""slowConsumer": "kick""#)).slowConsumer == .kick)
    }

    static let connectorErrors: [(String, ConfigurationError)] = [
        (#"{"connector": []}"#, .invalid("connector", "must be an object")),
        (withConnector(#""bogus": 1"#), .unknownKey("connector.bogus")),
        (withConnector(#""heartbeatTimeout": 1"#), .unknownKey("connector.heartbeatTimeout")),
        (withConnector(#""port": 1"#), .unknownKey("connector.port")),
        (withConnector(#""host": 1"#), .invalid("connector.host", "must be a string")),
        (withConnector(#""threads": "2""#), .invalid("connector.threads", "must be an integer")),
        (withConnector(#""heartbeat": 1.5"#), .invalid("connector.heartbeat", "must be an integer")),
        (withConnector(#""timeout": "9""#), .invalid("connector.timeout", "must be a number")),
        (withConnector(#""handshakeTimeout": null"#), .invalid("connector.handshakeTimeout", "must be a number")),
        (withConnector(#""useDict": 1"#), .invalid("connector.useDict", "must be true or false")),
        (withConnector(#""dictionary": ["a"]"#), .invalid("connector.dictionary", "must be a string")),
        (withConnector(#""blacklist": "10.0.0.1""#), .invalid("connector.blacklist", "must be an array of strings")),
        (withConnector(#""blacklist": ["10.0.0.1", 3]"#), .invalid("connector.blacklist[1]", "must be a string")),
        (withConnector(#""scheduler": "buffer""#), .invalid("connector.scheduler", "must be an object")),
        (withConnector(#""scheduler": {"mode": "lazy"}"#), .invalid("connector.scheduler.mode", "must be one of \"direct\", \"buffer\"")),
        (withConnector(#""scheduler": {"mode": "buffer", "flushInterval": 0}"#),
         .invalid("connector.scheduler.flushInterval", "0 is not in 1...10000")),
        (withConnector(#""scheduler": {"flushInterval": 10001}"#),
         .invalid("connector.scheduler.flushInterval", "10001 is not in 1...10000")),
        (withConnector(#""scheduler": {"flushInterval": "20"}"#), .invalid("connector.scheduler.flushInterval", "must be an integer")),
        (withConnector(#""scheduler": {"interval": 20}"#), .unknownKey("connector.scheduler.interval")),
        (withConnector(#""multiLogin": "kickOld""#), .invalid("connector.multiLogin", "must be one of \"allow\", \"reject\", \"kick\"")),
        (withConnector(#""slowConsumer": "block""#), .invalid("connector.slowConsumer", "must be one of \"drop\", \"kick\"")),
        (withConnector(#""filters": [1]"#), .invalid("connector.filters", "must be an object")),
        (withConnector(#""filters": {"serial": "1"}"#), .invalid("connector.filters.serial", "must be an integer")),
        (withConnector(#""filters": {"rate": 1}"#), .unknownKey("connector.filters.rate")),
        (withConnector(#""logLevel": "loud""#),
         .invalid("connector.logLevel", "must be one of \"trace\", \"debug\", \"info\", \"notice\", \"warning\", \"error\", \"critical\"")),
        (withConnector(#""maxMessageBytes": "1""#), .invalid("connector.maxMessageBytes", "must be an integer")),
        (withConnector(#""maxRequestHeadBytes": true"#), .invalid("connector.maxRequestHeadBytes", "must be an integer")),
        (withConnector(#""maxPendingBytes": 1e3"#), .invalid("connector.maxPendingBytes", "must be at least 4096")),
        (withConnector(#""timerTickMilliseconds": 0.5"#), .invalid("connector.timerTickMilliseconds", "must be an integer")),
        (withConnector(#""lingerMilliseconds": []"#), .invalid("connector.lingerMilliseconds", "must be an integer")),
        // Checked by validate() and named by their place in the file.
        (withConnector(#""host": "localhost""#), .invalid("connector.host", "\"localhost\" is not a numeric IPv4 or IPv6 address")),
        (withConnector(#""threads": 0"#), .invalid("connector.threads", "0 is not in 1...256")),
        (withConnector(#""heartbeat": -1"#), .invalid("connector.heartbeat", "must be 0 (off) or positive")),
        (withConnector(#""timeout": 0"#), .invalid("connector.timeout", "must be positive")),
        (withConnector(#""handshakeTimeout": -1"#), .invalid("connector.handshakeTimeout", "must be a positive number of seconds")),
        (withConnector(#""maxMessageBytes": 8"#), .invalid("connector.maxMessageBytes", "8 is not in 16...67108864")),
        (withConnector(#""maxPackageBytes": 16777216"#), .invalid("connector.maxPackageBytes", "16777216 is not in 16...16777215")),
        (withConnector(#""maxFrameBytes": 0"#), .invalid("connector.maxFrameBytes", "0 is not in 16...67108864")),
        (withConnector(#""firstByteTimeout": 0"#), .invalid("connector.firstByteTimeout", "must be a positive number of seconds")),
        (withConnector(#""requestHeadTimeout": "5""#), .invalid("connector.requestHeadTimeout", "must be a number")),
        (withConnector(#""drainTimeout": -1"#), .invalid("connector.drainTimeout", "must be 0 or more seconds")),
        (withConnector(#""maxConnectionsPerAddress": 0"#), .invalid("connector.maxConnectionsPerAddress", "must be positive")),
        (withConnector(#""requestRate": {"burst": 5}"#), .invalid("connector.requestRate.perSecond", "is required")),
        (withConnector(#""requestRate": {"perSecond": 0}"#), .invalid("connector.requestRate.perSecond", "0 is not in 1...1000000")),
        (withConnector(#""requestRate": {"perSecond": 5, "kickAfter": 0}"#), .invalid("connector.requestRate.kickAfter", "must be positive")),
        (withConnector(#""requestRate": {"perSecond": 5, "every": 2}"#), .unknownKey("connector.requestRate.every")),
        (withConnector(#""maxRequestHeadBytes": 100"#), .invalid("connector.maxRequestHeadBytes", "must be at least 256")),
        (withConnector(#""timerTickMilliseconds": 0"#), .invalid("connector.timerTickMilliseconds", "not in 1...10000")),
        (withConnector(#""lingerMilliseconds": 0"#), .invalid("connector.lingerMilliseconds", "must be positive")),
        (withConnector(#""filters": {"serial": 0}"#), .invalid("connector.filters.serial", "must be a positive number of milliseconds")),
        (withConnector(#""filters": {"time": -5}"#), .invalid("connector.filters.time", "must be a positive number of milliseconds")),
        (withConnector(#""filters": {"timeout": 0}"#), .invalid("connector.filters.timeout", "must be a positive number of milliseconds")),
        (withConnector(#""filters": {"toobusy": 0}"#), .invalid("connector.filters.toobusy", "must be a positive number of milliseconds")),
        (withConnector(#""blacklist": ["10.0.0.1", "10.0.0.0/33"]"#),
         .invalid("connector.blacklist[1]", "\"10.0.0.0/33\": the prefix length must be in 0...32")),
    ]

    @Test(arguments: connectorErrors)
    func connectorErrorsNameTheirPath(_ json: String, _ expected: ConfigurationError) {
        #expect(Self.error(json) == expected)
    }

    @Test func aBadRegularExpressionNamesTheEntry() {
        let error = Self.error(Self.withConnector(#""blacklist": ["^10\\.", "(unclosed"]"#))
        guard case .invalid(let key, let why) = error else { Issue.record("no error: \(String(describing: error))"); return }
        #expect(key == "connector.blacklist[1]")
        #expect(why.contains("\"(unclosed\""))
    }

    // MARK: the dictionary file

    @Test func dictionaryIsReadRelativeToTheFile() throws {
        let dir = try TempDirectory()
        try dir.write("config/dictionary.json", #"["onChat", "onAdd", "onLeave"]"#)
        try dir.write("config/servers.json", Self.withConnector(#""dictionary": "dictionary.json""#))
        let config = try GatewayConfiguration.load(path: dir.path + "/config/servers.json")
        #expect(config.userDictionary == ["onChat", "onAdd", "onLeave"])
        #expect(config.serverID == "c1")
        // Absolute paths are taken as they are.
        let absolute = try Self.load(Self.withConnector(#""dictionary": "\#(dir.path)/config/dictionary.json""#), directory: "/nowhere/")
        #expect(absolute.userDictionary.count == 3)
    }

    @Test func dictionaryErrorsNameTheFile() throws {
        let dir = try TempDirectory()
        let base = dir.path + "/"
        func error(_ contents: String?) throws -> ConfigurationError? {
            if let contents { try dir.write("d.json", contents) }
            return Self.error(Self.withConnector(#""dictionary": "d.json""#), directory: base)
        }
        #expect(try error(nil) == .unreadable(base + "d.json", "No such file or directory"))
        if case .unreadable(let path, let why) = try error("[\"a\",") {
            #expect(path == base + "d.json" && why.hasPrefix("not valid JSON"))
        } else { Issue.record("bad JSON accepted") }
        #expect(try error(#"{"onChat": 1}"#) == .invalid(base + "d.json", "must be an array of strings"))
        #expect(try error(#"["onChat", 2]"#) == .invalid(base + "d.json[1]", "must be a string"))
        #expect(try error(#"["onChat", ""]"#) == .invalid(base + "d.json[1]", "must not be empty"))
        #expect(try error(#"["onChat", "onAdd", "onChat"]"#) == .invalid(base + "d.json[2]", "\"onChat\" appears twice"))
        let long = String(repeating: "r", count: 256)
        #expect(try error("[\"\(long)\"]") == .invalid(base + "d.json[0]", "longer than 255 bytes"))
    }

    @Test func aMissingFileIsUnreadable() {
        #expect(throws: ConfigurationError.unreadable("/nonexistent/servers.json", "No such file or directory")) {
            try GatewayConfiguration.load(path: "/nonexistent/servers.json")
        }
    }

    @Test func configuredDictionaryRoutesReachTheServer() throws {
        let app = TestApp.make()
        app.userDictionary = ["onChat"]
        let server = try TestServer(app: app) { $0.userDictionary = ["onChat", "onLeave", "onAdd"] }
        defer { server.server.stop(); server.server.wait() }
        let dictionary = server.server.dictionary
        let chat = try #require(dictionary.code(for: "onChat"))
        // After the application's own routes; one in both is kept once.
        #expect(dictionary.code(for: "onLeave") == chat + 1)
        #expect(dictionary.code(for: "onAdd") == chat + 2)
        #expect(dictionary.routes.count == Int(chat) + 3)
    }

    // MARK: validate() on values set in code

    static let validationErrors: [(String, @Sendable (inout GatewayConfiguration) -> Void, ConfigurationError)] = [
        ("serverID", { $0.serverID = "" }, .invalid("serverID", "must not be empty")),
        ("serverType", { $0.serverType = "" }, .invalid("serverType", "must not be empty")),
        ("maxConnections", { $0.maxConnections = 0 }, .invalid("maxConnections", "must be positive")),
        ("cluster id", { $0.cluster = [ServerEntry(id: "", serverType: "chat")] }, .invalid("cluster[0].id", "must not be empty")),
        ("cluster duplicate", { $0.cluster = [ServerEntry(id: "a", serverType: "x"), ServerEntry(id: "a", serverType: "y")] },
         .invalid("cluster[1].id", "\"a\" is the id of an earlier server")),
        ("cluster clientPort", { $0.cluster = [ServerEntry(id: "a", serverType: "x", clientPort: 65536)] },
         .invalid("cluster[0].clientPort", "65536 is not in 0...65535")),
        ("cluster max-connections", { $0.cluster = [ServerEntry(id: "a", serverType: "x", maxConnections: -1)] },
         .invalid("cluster[0].max-connections", "must be positive")),
        ("blacklist", { $0.blacklist = [""] }, .invalid("blacklist[0]", "an empty entry would refuse every address")),
        ("userDictionary", { $0.userDictionary = ["a", "a"] }, .invalid("userDictionary[1]", "\"a\" appears twice")),
        ("scheduler", { $0.scheduler = .buffered(flushIntervalMilliseconds: 0) },
         .invalid("scheduler.flushInterval", "0 is not in 1...10000")),
        ("serial", { $0.serialFilterTimeoutMilliseconds = 0 }, .invalid("filters.serial", "must be a positive number of milliseconds")),
        ("host", { $0.host = "1.2.3" }, .invalid("host", "\"1.2.3\" is not a numeric IPv4 or IPv6 address")),
    ]

    /// A WebSocket message may pass a package's 3-byte length (Autobahn's
    /// largest messages are 16 MiB); a package may not.
    @Test func messagesMayPassAPackagesLength() {
        var config = GatewayConfiguration()
        config.maxMessageBytes = 16 << 20
        config.maxFrameBytes = 16 << 20
        #expect(throws: Never.self) { try config.validate() }
        config.maxPackageBytes = 16 << 20
        #expect(throws: ConfigurationError.invalid("maxPackageBytes", "16777216 is not in 16...16777215")) { try config.validate() }
        config.maxPackageBytes = 1024
        config.maxMessageBytes = GatewayConfiguration.maxWebSocketMessageBytes + 1
        #expect(throws: ConfigurationError.invalid("maxMessageBytes", "67108865 is not in 16...67108864")) {
            try Server.echo(configuration: config)
        }
    }

    @Test(arguments: validationErrors)
    func validateNamesTheValue(_ name: String, _ change: @Sendable (inout GatewayConfiguration) -> Void, _ expected: ConfigurationError) {
        var config = GatewayConfiguration()
        #expect(throws: Never.self) { try config.validate() }
        change(&config)
        #expect(throws: expected) { try config.validate() }
    }
}

/// A fresh directory under /tmp, removed with what it holds.
final class TempDirectory {
    let path: String
    private var files: [String] = []
    private var directories: [String] = []

    init() throws {
        var template = Array("/tmp/shaddock-config-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ConfigurationError.unreadable("/tmp", "mkdtemp failed") }
        path = String(cString: made)
    }

    func write(_ name: String, _ contents: String) throws {
        let full = path + "/" + name
        if let slash = name.lastIndex(of: "/") {
            let dir = path + "/" + name[..<slash]
            if mkdir(dir, 0o700) == 0 { directories.append(dir) }
        }
        guard let file = fopen(full, "wb") else { throw ConfigurationError.unreadable(full, "fopen failed") }
        fputs(contents, file)
        fclose(file)
        files.append(full)
    }

    deinit {
        for f in files { unlink(f) }
        for d in directories.reversed() { rmdir(d) }
        rmdir(path)
    }
}

extension ConfigurationTests {
    /// `HostBlacklist`: addresses, CIDR blocks and Pomelo's regular expressions.
    @Suite struct Blacklist {
        static func list(_ entries: String...) throws -> HostBlacklist { try HostBlacklist(entries) }

        @Test func emptyListRefusesNothing() throws {
            let list = try HostBlacklist([])
            #expect(list.isEmpty)
            #expect(!list.contains("10.0.0.1"))
            #expect(!list.contains("::1"))
            #expect(try !Self.list("10.0.0.1").isEmpty)
            #expect(try !Self.list("^10\\.").isEmpty)
        }

        @Test func exactIPv4IsTheAddressNotAPattern() throws {
            let list = try Self.list("10.0.0.1", "192.168.1.20")
            #expect(list.contains("10.0.0.1"))
            #expect(list.contains("192.168.1.20"))
            // As a regular expression (Pomelo), "10.0.0.1" would match these.
            #expect(!list.contains("110.0.0.15"))
            #expect(!list.contains("10.0.0.10"))
            #expect(!list.contains("10a0b0c1"))
            #expect(!list.contains("10.0.0.2"))
            #expect(!list.contains("::a00:1"), "an IPv4-compatible IPv6 address is not the IPv4 address")
        }

        @Test func exactIPv6ComparesBytes() throws {
            let list = try Self.list("::1", "2001:DB8::8:800:200C:417A")
            #expect(list.contains("::1"))
            #expect(list.contains("0:0::1"))
            #expect(list.contains("0000:0000:0000:0000:0000:0000:0000:0001"))
            #expect(list.contains("2001:db8:0:0:8:800:200c:417a"))
            #expect(!list.contains("::2"))
            #expect(!list.contains("1::"))
            #expect(!list.contains("0.0.0.1"))
        }

        @Test func mappedPeersAreTheirIPv4Address() throws {
            let v4 = try Self.list("1.2.3.4")
            #expect(v4.contains("::ffff:1.2.3.4"))
            #expect(v4.contains("::FFFF:102:304"))
            #expect(v4.contains("0:0:0:0:0:ffff:0102:0304"))
            #expect(!v4.contains("::ffff:1.2.3.5"))
            let mapped = try Self.list("::ffff:1.2.3.4")
            #expect(mapped.contains("1.2.3.4"))
            #expect(mapped.contains("::ffff:1.2.3.4"))
            #expect(!mapped.contains("1.2.3.5"))
        }

        @Test func ipv4Blocks() throws {
            let list = try Self.list("10.0.0.0/8", "192.168.1.128/25", "172.16.5.4/32")
            #expect(list.contains("10.0.0.0"))
            #expect(list.contains("10.255.255.255"))
            #expect(list.contains("::ffff:10.1.2.3"))
            #expect(!list.contains("11.0.0.0"))
            #expect(!list.contains("9.255.255.255"))
            #expect(list.contains("192.168.1.128"))
            #expect(list.contains("192.168.1.255"))
            #expect(!list.contains("192.168.1.127"))
            #expect(list.contains("172.16.5.4"))
            #expect(!list.contains("172.16.5.5"))
            #expect(!list.contains("::a00:1"))
        }

        @Test func hostBitsPastThePrefixAreIgnored() throws {
            let list = try Self.list("10.1.2.3/8", "2001:db8::1/32")
            #expect(list.contains("10.200.0.1"))
            #expect(list.contains("2001:db8:ffff::"))
        }

        @Test func zeroPrefixCoversOneFamily() throws {
            let v4 = try Self.list("0.0.0.0/0")
            #expect(v4.contains("1.2.3.4") && v4.contains("255.255.255.255") && v4.contains("::ffff:8.8.8.8"))
            #expect(!v4.contains("::1"))
            let v6 = try Self.list("::/0")
            #expect(v6.contains("::1") && v6.contains("2001:db8::1"))
            #expect(!v6.contains("1.2.3.4"))
        }

        @Test func ipv6Blocks() throws {
            let list = try Self.list("2001:db8::/32", "fe80::1:0:0/100", "fd00::5/128")
            #expect(list.contains("2001:db8::1"))
            #expect(list.contains("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"))
            #expect(!list.contains("2001:db9::"))
            #expect(!list.contains("2001:db7:ffff::"))
            // A prefix past the first 64 bits.
            #expect(list.contains("fe80::1:0:0"))
            #expect(list.contains("fe80::1:fff:ffff"))
            #expect(!list.contains("fe80::1:1000:0"))
            #expect(!list.contains("fe80::2:0:0"))
            #expect(list.contains("fd00::5"))
            #expect(!list.contains("fd00::6"))
        }

        @Test func mappedBlocksBecomeIPv4Blocks() throws {
            let list = try Self.list("::ffff:10.0.0.0/104")
            #expect(list.contains("10.1.2.3"))
            #expect(list.contains("::ffff:10.1.2.3"))
            #expect(!list.contains("11.0.0.1"))
            #expect(try Self.list("::ffff:0.0.0.0/96").contains("8.8.8.8"))
        }

        @Test func patternsAreSearchedLikeRegExpTest() throws {
            let anchored = try Self.list(#"^192\.168\."#)
            #expect(anchored.contains("192.168.0.1"))
            #expect(!anchored.contains("10.192.168.1"))
            let anywhere = try Self.list(#"168\.0"#)
            #expect(anywhere.contains("192.168.0.1"))
            #expect(!anywhere.contains("192.168.1.0"))
            // Pomelo's usual entries: a dot matches any character.
            let loose = try Self.list("192.168.1.*")
            #expect(loose.contains("192.168.1.7"))
            #expect(loose.contains("192.168.100.7"))
            #expect(!loose.contains("192.169.1.7"))
            let digits = try Self.list(#"^10\.\d+\.\d+\.1$"#, "^fe80:")
            #expect(digits.contains("10.20.30.1"))
            #expect(!digits.contains("10.20.30.11"))
            #expect(digits.contains("fe80::1"))
            #expect(!digits.contains("fe81::1"))
        }

        @Test func patternsAlsoSeeAMappedPeersIPv4Form() throws {
            let list = try Self.list(#"^10\."#)
            #expect(list.contains("::ffff:10.0.0.1"))
            #expect(list.contains("::ffff:a00:1"))
            #expect(!list.contains("::ffff:11.0.0.1"))
            #expect(try Self.list("^::ffff:").contains("::ffff:11.0.0.1"), "and the text as given")
        }

        @Test func entriesOfEveryKindTogether() throws {
            let list = try Self.list("1.2.3.4", "10.0.0.0/8", "::1", "2001:db8::/32", #"^172\.16\."#)
            for refused in ["1.2.3.4", "10.9.8.7", "::1", "2001:db8::5", "172.16.0.1", "::ffff:1.2.3.4"] {
                #expect(list.contains(refused), "\(refused)")
            }
            for allowed in ["1.2.3.5", "11.0.0.1", "::2", "2001:db9::", "172.17.0.1", "", "not an address"] {
                #expect(!list.contains(allowed), "\(allowed)")
            }
        }

        static let errors: [([String], ConfigurationError)] = [
            ([""], .invalid("blacklist[0]", "an empty entry would refuse every address")),
            (["1.2.3.4", "10.0.0.0/33"], .invalid("blacklist[1]", "\"10.0.0.0/33\": the prefix length must be in 0...32")),
            (["::/129"], .invalid("blacklist[0]", "\"::/129\": the prefix length must be in 0...128")),
            (["10.0.0.0/"], .invalid("blacklist[0]", "\"10.0.0.0/\": the prefix length must be in 0...32")),
            (["10.0.0.0/0008"], .invalid("blacklist[0]", "\"10.0.0.0/0008\": the prefix length must be in 0...32")),
            (["10.0.0.0/8/8"], .invalid("blacklist[0]", "\"10.0.0.0/8\" in \"10.0.0.0/8/8\" is not a numeric IPv4 or IPv6 address")),
            (["10.0.0/8"], .invalid("blacklist[0]", "\"10.0.0\" in \"10.0.0/8\" is not a numeric IPv4 or IPv6 address")),
            (["2001:db8:::/32"], .invalid("blacklist[0]", "\"2001:db8:::\" in \"2001:db8:::/32\" is not a numeric IPv4 or IPv6 address")),
            (["::ffff:10.0.0.0/95"], .invalid("blacklist[0]", "\"::ffff:10.0.0.0/95\": an IPv4-mapped block needs a prefix of at least 96")),
        ]

        @Test(arguments: errors)
        func badEntriesAreNamed(_ entries: [String], _ expected: ConfigurationError) {
            #expect(throws: expected) { try HostBlacklist(entries) }
        }

        @Test(arguments: ["(", "[z-a]", "a{2,1}", #"\"#, "(?<n>a)(?<n>b)"])
        func patternsThatDoNotCompileAreNamed(_ pattern: String) {
            do {
                _ = try HostBlacklist(["10.0.0.1", pattern])
                Issue.record("\(pattern) compiled")
            } catch {
                guard case .invalid(let key, let why) = error else { Issue.record("\(error)"); return }
                #expect(key == "blacklist[1]")
                #expect(why.hasPrefix("\"\(pattern)\" is neither an address, a CIDR block nor a regular expression"))
            }
        }

        @Test(arguments: ["1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4x", "localhost", " 1.2.3.4", "1.2.3.4\u{0}", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9"])
        func onlyNumericAddressesParse(_ text: String) {
            #expect(IPAddress(text) == nil)
        }
    }
}

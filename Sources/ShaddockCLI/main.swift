import ArgumentParser
import Logging
import Shaddock
import ShaddockExample

#if canImport(Glibc)
import Glibc
#endif

struct Shaddock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shaddock",
        abstract: "A Pomelo-compatible edge gateway: WebSocket and raw TCP on one port.",
        subcommands: [Serve.self, Echo.self, CheckConfig.self])
}

/// Options shared by the subcommands.
struct ListenOptions: ParsableArguments {
    @Option(help: "Address to listen on (numeric IPv4 or IPv6).")
    var host: String?

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int?

    @Option(help: "Event loops, one thread each (default: the number of cores).")
    var threads: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Address of the admin listener, /metrics and /healthz (numeric IPv4 or IPv6; default 127.0.0.1).")
    var adminHost: String?

    @Option(help: "Port of the admin listener (0 picks a free one; default: no admin listener).")
    var adminPort: Int?

    @Option(help: "TLS on the port: a PEM certificate file (its chain after it); plain and TLS clients share the port (see docs/tls.md).")
    var tlsCert: String?

    @Option(help: "The certificate's PEM private key file (default: the --tls-cert file).")
    var tlsKey: String?

    @Flag(help: "With --tls-cert: refuse plaintext clients.")
    var tlsRequired = false

    func apply(to config: inout GatewayConfiguration) throws {
        if let tlsCert {
            var tls = config.tls ?? TLSOptions(certificates: [])
            tls.certificates = [TLSOptions.Certificate(cert: tlsCert, key: tlsKey ?? tlsCert)]
            if tlsRequired { tls.required = true }
            config.tls = tls
        } else if tlsKey != nil || tlsRequired {
            throw ValidationError("--tls-key and --tls-required need --tls-cert")
        }
        if let host { config.host = host }
        if let port { config.port = port }
        if let threads { config.threads = threads }
        if let adminHost { config.adminHost = adminHost }
        if let adminPort { config.adminPort = adminPort }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
            config.logLevel = level
        }
        try config.validate()
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway with the example application.")

    @OptionGroup var listen: ListenOptions

    @Option(help: "Heartbeat interval in seconds sent to clients (0 turns heartbeats off).")
    var heartbeat: Int?

    @Option(help: "A configuration file: Pomelo's servers.json, optionally with a \"connector\" section (see docs/configuration.md); options given here override it.")
    var config: String?

    @Option(help: "The environment of the configuration file to run in.")
    var env = "development"

    @Option(help: "This server's id in the configuration file (default: its environment's first frontend server).")
    var serverID: String?

    @Option(help: "A NATS server of the cluster, nats://host:port (repeatable; replaces the file's cluster.nats; see docs/cluster.md).")
    var nats: [String] = []

    func run() throws {
        let configuration = try configuration()
        LoggingSystem.bootstrap(configuration.logFormat.handler)
        let server = try Server(application: ExampleApp.make(), configuration: configuration)
        // SIGHUP reads the file again, with the same options on top.
        let options = self
        try server.runUntilSignalled(reload: config == nil ? nil : { try options.configuration() })
    }

    func configuration() throws -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        if let config {
            configuration = try GatewayConfiguration.load(path: config, environment: env, serverID: serverID, nats: nats)
        } else {
            if let serverID { configuration.serverID = serverID }
            if !nats.isEmpty { throw ValidationError("--nats needs --config: the cluster's servers are listed there") }
        }
        if let heartbeat { configuration.heartbeatSeconds = heartbeat }
        try listen.apply(to: &configuration)
        return configuration
    }
}

struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a plain WebSocket echo server (binary and text) on the same transport.")

    @OptionGroup var listen: ListenOptions

    @Option(help: "Largest message (and frame) accepted and echoed, in bytes (16...\(GatewayConfiguration.maxWebSocketMessageBytes), default 65536).")
    var maxMessageBytes: Int?

    @Flag(help: "Negotiate permessage-deflate with clients that offer it (the connector's compression.deflate).")
    var deflate = false

    @Option(help: "With --deflate: messages of fewer bytes are echoed uncompressed (default 256).")
    var threshold: Int?

    @Option(help: "With --deflate: client context takeover with this window (9...15) for clients that offer client_max_window_bits.")
    var clientTakeover: Int?

    func run() throws {
        var configuration = GatewayConfiguration()
        if let maxMessageBytes {
            configuration.maxMessageBytes = maxMessageBytes
            configuration.maxFrameBytes = maxMessageBytes
        }
        configuration.compression.deflate = deflate
        if let threshold { configuration.compression.threshold = threshold }
        configuration.compression.clientTakeoverWindowBits = clientTakeover
        try listen.apply(to: &configuration)
        LoggingSystem.bootstrap(configuration.logFormat.handler)
        try Server.echo(configuration: configuration).runUntilSignalled()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file as start-up would (the files it names included) and print the settings in effect; exit 1 with the error otherwise.")

    @Argument(help: "Pomelo's servers.json, optionally with a \"connector\" section (see docs/configuration.md).")
    var file: String

    @Option(help: "The environment of the file to check.")
    var env = "development"

    @Option(help: "The server id to check as (default: the environment's first frontend server).")
    var serverID: String?

    func run() throws {
        do {
            let configuration = try GatewayConfiguration.load(path: file, environment: env, serverID: serverID)
            try configuration.check()
            print(configuration.effectiveDescription)
        } catch {
            let message = Array("shaddock: \(file): \(error)\n".utf8)
            _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            throw ExitCode.failure
        }
    }
}

// Logging is bootstrapped by each command, once it knows the format.
Shaddock.main()

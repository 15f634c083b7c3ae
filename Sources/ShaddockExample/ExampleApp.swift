import Shaddock

/// The example application served by `shaddock serve`.
public enum ExampleApp {
    public static func make() -> Application {
        let app = Application(serverType: "connector")
        // Encoded once, captured by the handler: the same bytes every time.
        let entryReply = EncodedJSON(["code": 200, "msg": "game server is ok."])
        app.handle("connector.entryHandler.entry") { _, _ in .encoded(entryReply) }
        return app
    }
}

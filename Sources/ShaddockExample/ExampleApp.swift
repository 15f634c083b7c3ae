import Shaddock

/// The example application served by `shaddock serve`.
public enum ExampleApp {
    /// `{"code":200,"msg":"game server is ok."}`, encoded once.
    static let entryReply = EncodedJSON(["code": 200, "msg": "game server is ok."])

    public static func make() -> Application {
        let app = Application(serverType: "connector")
        app.handle("connector.entryHandler.entry") { _, _ in .encoded(entryReply) }
        return app
    }
}

import ShaddockProtocol

extension TLSOptions {
    /// The file's `connector.tls` section:
    /// `{"cert", "key", "certificates": [{"cert", "key"}], "required",
    /// "ciphers", "ciphersuites", "tickets", "ticketKeyFile",
    /// "ticketRotation", "admin": true | {"cert", "key"}}`. Relative paths
    /// start at `directory`.
    static func from(_ value: JSONValue, path: String, directory: String) throws(ConfigurationError) -> TLSOptions {
        guard let section = value.objectValue else { throw .invalid(path, "must be an object") }
        func file(_ value: JSONValue, _ at: String) throws(ConfigurationError) -> String {
            let name = try value.string(at: at)
            if name.isEmpty { throw .invalid(at, "must name a file") }
            return name.hasPrefix("/") ? name : directory + name
        }
        func pair(_ object: JSONObject, _ at: String) throws(ConfigurationError) -> Certificate {
            var cert: String?, key: String?
            for (k, v) in object {
                switch k {
                case "cert": cert = try file(v, at + ".cert")
                case "key": key = try file(v, at + ".key")
                default: throw .unknownKey(at + "." + k)
                }
            }
            guard let cert else { throw .invalid(at + ".cert", "is required") }
            return Certificate(cert: cert, key: key ?? cert)
        }
        var options = TLSOptions(certificates: [])
        var main: (cert: String?, key: String?)
        for (key, value) in section {
            let at = path + "." + key
            switch key {
            case "cert": main.cert = try file(value, at)
            case "key": main.key = try file(value, at)
            case "certificates":
                guard let list = value.arrayValue else { throw .invalid(at, "must be an array of {\"cert\", \"key\"}") }
                for (i, item) in list.enumerated() {
                    guard let object = item.objectValue else { throw .invalid("\(at)[\(i)]", "must be an object") }
                    options.certificates.append(try pair(object, "\(at)[\(i)]"))
                }
            case "required": options.required = try value.bool(at: at)
            case "ciphers": options.ciphers = try value.string(at: at)
            case "ciphersuites": options.ciphersuites = try value.string(at: at)
            case "tickets": options.tickets = try value.bool(at: at)
            case "ticketKeyFile": options.ticketKeyFile = try file(value, at)
            case "ticketRotation": options.ticketRotationSeconds = try value.number(at: at)
            case "admin":
                if let object = value.objectValue {
                    options.admin = true
                    options.adminCertificates = [try pair(object, at)]
                } else {
                    options.admin = try value.bool(at: at)
                }
            default: throw .unknownKey(at)
            }
        }
        if let cert = main.cert {
            options.certificates.insert(Certificate(cert: cert, key: main.key ?? cert), at: 0)
        } else if main.key != nil {
            throw .invalid(path + ".cert", "a key needs its certificate")
        }
        return options
    }
}

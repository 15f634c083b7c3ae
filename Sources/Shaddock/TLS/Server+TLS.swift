import CShaddockLoop

/// What a server's TLS is made of now: the ticket keys (kept across
/// reloads, so sessions resume after one) and the contexts its loops and
/// its admin listener hand to new connections.
struct ServerTLS {
    var tickets: TicketKeys?
    var context: TLSContext?
    var adminContext: TLSContext?

    /// Reads every certificate and key `options` names (and the ticket key
    /// file), checking each; nothing is applied if one fails.
    static func make(_ options: TLSOptions?, keeping current: ServerTLS) throws(ConfigurationError) -> ServerTLS {
        guard let options else { return ServerTLS(tickets: current.tickets) }
        var made = ServerTLS(tickets: current.tickets)
        if options.tickets, made.tickets == nil { made.tickets = try TicketKeys(options: options) }
        let tickets = options.tickets ? made.tickets : nil
        made.context = try TLSContext(certificates: options.certificates, options: options, tickets: tickets)
        if options.admin {
            made.adminContext = try options.adminCertificates.map { (certs) throws(ConfigurationError) in
                try TLSContext(certificates: certs, options: options, tickets: tickets)
            } ?? made.context
        }
        // Last: a bad certificate leaves the keys as they were too.
        if options.tickets, current.tickets != nil { try made.tickets?.load(options) }
        return made
    }
}

extension EventLoop {
    /// Gives new connections `tls` (nil: plaintext only). On the loop's
    /// thread, or before it runs.
    func use(_ tls: ServerTLS, _ options: TLSOptions?) {
        shd_loop_set_tls(raw, tls.context?.raw, options?.required == true ? 1 : 0)
        if index == 0 {
            if let keys = tls.tickets, let options, options.tickets, options.ticketKeyFile == nil {
                let every = UInt64(options.ticketRotationSeconds * 1000)
                // A reload that changes neither keeps the schedule: reloads
                // more often than the interval must not put rotation off.
                if let r = ticketRotation, r.keys === keys, r.every == every { return }
                ticketRotation = TicketRotation(keys: keys, every: every, next: now + every)
            } else {
                ticketRotation = nil
            }
        }
    }

    /// Loop 0 replaces the process's own ticket key on its timer tick.
    func rotateTicketKeyIfDue() {
        guard let r = ticketRotation, now >= r.next else { return }
        r.keys.rotate()
        ticketRotation?.next = now + r.every
        logger.info("TLS: session-ticket key rotated")
    }
}

/// When loop 0 next replaces the ticket key.
struct TicketRotation {
    let keys: TicketKeys
    let every: UInt64
    var next: UInt64
}

/// A channel member: the session it pushes to, or where another server
/// finds it.
struct ChannelMember {
    /// A session object: local, or a backend session (then it names its
    /// frontend and id).
    var session: Session?
    var frontendID: String
    /// With no session object: the session on `frontendID`; nil means every
    /// session bound to the member's uid there (Pomelo's `channel.add(uid, sid)`).
    var sessionID: UInt64?

    init(session: Session) {
        self.session = session
        frontendID = session.frontendID
        sessionID = session.id
    }

    init(frontendID: String, sessionID: UInt64?) {
        session = nil
        self.frontendID = frontendID
        self.sessionID = sessionID
    }

    /// Whether this member joined with that session (or, with no session
    /// id, on that session's frontend).
    func matches(_ other: Session) -> Bool {
        guard frontendID == other.frontendID else { return false }
        return sessionID.map { $0 == other.id } ?? true
    }
}

/// Where one push goes, grouped so that it is encoded once: this server's
/// sessions by loop, uids bound here (looked up when the push is made), and
/// one group per other frontend, which gets a single message and resolves
/// the ids and uids itself.
struct PushTargets {
    var byLoop: [[Session]]
    var localUids: [String] = []
    var remote: [RemotePushTargets] = []
    private var remoteIndex: [String: Int] = [:]

    init(loops: Int) { byLoop = [[Session]](repeating: [], count: loops) }

    var hasLocal: Bool {
        guard localUids.isEmpty else { return true }
        // Indexed: a closure over generic code allocates in debug builds.
        var i = 0
        while i < byLoop.count {
            if !byLoop[i].isEmpty { return true }
            i += 1
        }
        return false
    }

    /// Adds a member; `me` is this server's id.
    mutating func add(uid: String, _ member: ChannelMember, me: String, sessions: SessionService) {
        if let s = member.session, !s.isRemote {
            byLoop[s.loop.index].append(s)
        } else if member.frontendID == me {
            if let id = member.sessionID {
                if let s = sessions.get(id), s.loop.index < byLoop.count { byLoop[s.loop.index].append(s) }
            } else {
                localUids.append(uid)
            }
        } else {
            let i = remoteIndex[member.frontendID] ?? {
                remote.append(RemotePushTargets(frontendID: member.frontendID))
                remoteIndex[member.frontendID] = remote.count - 1
                return remote.count - 1
            }()
            if let id = member.sessionID { remote[i].sessionIDs.append(id) } else { remote[i].uids.append(uid) }
        }
    }

    /// The sessions by loop, with the local uids looked up now.
    func localSessions(_ sessions: SessionService) -> [[Session]] {
        guard !localUids.isEmpty else { return byLoop }
        var groups = byLoop
        for uid in localUids {
            for s in sessions.getByUid(uid) where s.loop.index < groups.count { groups[s.loop.index].append(s) }
        }
        return groups
    }
}

/// The members of a push that another frontend holds.
struct RemotePushTargets: Sendable {
    let frontendID: String
    var sessionIDs: [UInt64] = []
    var uids: [String] = []

    var count: Int { sessionIDs.count + uids.count }
}

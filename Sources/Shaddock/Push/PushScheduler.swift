import CShaddockLoop
import ShaddockProtocol

/// A loop's push scheduler. Pushes are staged per connection and written as
/// one unit per connection per flush: over WebSocket as few frames as
/// possible (many packages in one binary message, which Pomelo clients
/// decode), over TCP the packages back to back. The C shim then sends each
/// connection's bytes with one write call.
///
/// Direct mode flushes at the end of every loop iteration; buffered mode
/// (Pomelo's `buffer` scheduler) every flush interval, or earlier when the
/// staged bytes pass `maxStagedBytes`. A response or kick for a connection
/// first flushes what is staged for it, so a client sees everything in the
/// order it was sent.
///
/// Staging allocates nothing in a steady flow: single pushes are encoded into
/// one reused arena, shared pushes (channels) are referenced, and the
/// per-connection lists are index chains through one reused entry table.
/// A channel push stages one entry per member, so that table is raw memory:
/// no reference counting and no exclusivity check per member.
final class PushScheduler {
    struct Entry {
        /// -1: the arena; otherwise an index into `shared`.
        var source: Int32
        var offset: Int32
        var length: Int32
        var next: Int32
        /// A permessage-deflate message: sent as a frame of its own, RSV1 set.
        var compressed = false
    }

    /// The entries staged since the last flush.
    struct EntryTable {
        var base: UnsafeMutablePointer<Entry>
        var count = 0
        var capacity: Int

        init(capacity: Int) {
            base = .allocate(capacity: capacity)
            self.capacity = capacity
        }

        mutating func append(_ entry: Entry) -> Int32 {
            if count == capacity {
                let grown = UnsafeMutablePointer<Entry>.allocate(capacity: capacity * 2)
                grown.moveInitialize(from: base, count: count)
                base.deallocate()
                base = grown
                capacity *= 2
            }
            (base + count).initialize(to: entry)
            count += 1
            return Int32(count - 1)
        }
    }

    /// The largest WebSocket message a batch is packed into; a batch that is
    /// larger goes as several messages, split between packages.
    static let maxFrameBytes = 256 * 1024
    /// Staged bytes that force a flush in buffered mode, so that memory stays
    /// bounded whatever the interval.
    static let maxStagedBytes = 4 * 1024 * 1024

    unowned(unsafe) let loop: EventLoop
    let buffered: Bool
    var arena: [UInt8] = []
    private var shared: [EncodedPush] = []
    /// The last shared push staged, compared by identity (no retain).
    private var lastShared: ObjectIdentifier?
    private var sharedBytes = 0
    private let entries: UnsafeMutablePointer<EntryTable>
    private var dirty: [Connection] = []
    private var slices: UnsafeMutablePointer<shd_slice_t>
    private var headers: UnsafeMutableRawPointer
    private var sliceCapacity = 64
    /// The compressed copies of the push being staged, in the arena, by
    /// variant key 8...15 (see variantKey): (offset, length), offset -1
    /// when not made yet, -2 when compressing did not make it smaller.
    /// Reset per push, so a push is compressed once per form, whatever its
    /// receivers.
    /// Entries 8...15 are the same for the protobuf form.
    var variants: [(offset: Int, length: Int)] = Array(repeating: (-1, 0), count: 16)
    /// The shared push the variants are of (nil: a push in the arena).
    var variantsOf: ObjectIdentifier?
    /// The push being staged with its body encoded as pomelo-protobuf, in
    /// the arena, for the schemas `protobufFormCodec`: offset -1 when not
    /// made yet, -2 when its route has no server schema, -3 when the body
    /// does not fit it.
    var protobufForm: (offset: Int, length: Int) = (-1, 0)
    var protobufFormCodec: ObjectIdentifier?
    /// A push body encoded as protobuf, before it joins its package.
    var protobufScratch: [UInt8] = []
    /// Pomelo's gzip flag on pushes to connections without permessage-deflate.
    let messageFlag: Bool
    /// A gzip-flagged package's headers, while its body is compressed
    /// (4 + 1 + 1 + 255 bytes at most).
    let headScratch: UnsafeMutableRawPointer

    init(loop: EventLoop, buffered: Bool) {
        self.loop = loop
        self.buffered = buffered
        messageFlag = loop.core.config.compression.messageFlag
        headScratch = .allocate(byteCount: 264, alignment: 8)
        slices = .allocate(capacity: sliceCapacity)
        headers = .allocate(byteCount: sliceCapacity * WebSocketFrameEncoder.maxHeaderLength, alignment: 8)
        arena.reserveCapacity(16 * 1024)
        entries = .allocate(capacity: 1)
        entries.initialize(to: EntryTable(capacity: 1024))
    }

    deinit {
        slices.deallocate()
        headers.deallocate()
        headScratch.deallocate()
        entries.pointee.base.deallocate()
        entries.deallocate()
    }

    var hasStaged: Bool { !dirty.isEmpty }

    /// Encodes and stages a push for one connection; `body` appends the
    /// body's JSON.
    func stage(route: String, for c: Connection, body: (inout [UInt8]) -> Void) {
        guard accepts(c), let (start, length) = encodeIntoArena(route: route, body: body) else { return }
        if c.protobuf == nil, let key = variantKey(c),
           let made = arena.withUnsafeBytes({ produce(UnsafeRawBufferPointer(rebasing: $0[start..<start + length]), key) }) {
            // For this receiver alone: the compressed package replaces the plain one.
            arena.removeSubrange(start...)
            let (at, n) = keep(made)
            link(c, source: -1, offset: at, length: n, compressed: key != Self.gzipKey)
            return
        }
        if c.protobuf != nil {
            forgetVariants()
            switch form(for: c, .arena(start, length)) {
            case .plain: break
            case .unencodable: return
            case .form(let at, let n, let compressed): return link(c, source: -1, offset: at, length: n, compressed: compressed)
            }
        }
        link(c, source: -1, offset: start, length: length)
    }

    /// Encodes a push once into the arena and stages it for every one of
    /// `sessions` (all of this loop): a channel push whose members are all
    /// here costs no shared copy and no mailbox message.
    func stage(route: String, forSessions sessions: [Session], body: (inout [UInt8]) -> Void) {
        guard let (start, length) = encodeIntoArena(route: route, body: body) else { return }
        forgetVariants()
        sessions.withUnsafeBufferPointer { sessions in
            for i in sessions.indices {
                guard let c = sessions[i].connection else {
                    loop.counters.add(.pushesUndeliverable)
                    continue
                }
                guard accepts(c) else { continue }
                // The bytes stay in the arena for the others even when this
                // member is refused; the check for a flush waits until all
                // are linked.
                switch form(for: c, .arena(start, length)) {
                case .plain: link(c, source: -1, offset: start, length: length, shared: true)
                case .unencodable: break
                case .form(let at, let n, let compressed):
                    link(c, source: -1, offset: at, length: n, shared: true, compressed: compressed)
                }
            }
        }
        if buffered && arena.count + sharedBytes > Self.maxStagedBytes { flushAll() }
    }

    /// Appends a push package to the arena: where it starts and its length,
    /// or nil (counted, logged) when it cannot be encoded.
    private func encodeIntoArena(route: String, body: (inout [UInt8]) -> Void) -> (Int, Int)? {
        let start = arena.count
        let dictionary = loop.core.config.useDictionary ? loop.core.dictionary : nil
        guard PushEncoding.append(route: route, dictionary: dictionary, into: &arena, body: body) else {
            loop.counters.add(.pushesUnencodable)
            loop.logger.warning("push \(route) dropped: too large or the route is too long")
            return nil
        }
        return (start, arena.count - start)
    }

    /// Stages a push encoded once for many connections.
    func stage(_ push: EncodedPush, for c: Connection) {
        guard accepts(c) else { return }
        if lastShared != ObjectIdentifier(push) {
            lastShared = ObjectIdentifier(push)
            shared.append(push)
            sharedBytes += push.count
        }
        if variantsOf != ObjectIdentifier(push) {
            forgetVariants()
            variantsOf = ObjectIdentifier(push)
        }
        switch form(for: c, .shared(push)) {
        case .plain: link(c, source: Int32(shared.count - 1), offset: 0, length: push.count)
        case .unencodable: break
        case .form(let at, let n, let compressed): link(c, source: -1, offset: at, length: n, shared: true, compressed: compressed)
        }
    }

    /// A package compressed for `key`: `head` bytes in `headScratch` (the
    /// package and message headers of a gzip-flagged package; 0 for
    /// permessage-deflate), then the compressed bytes, valid until the next
    /// compression. Nil when the package is under the threshold or
    /// compressing does not make it smaller. `package` may lie in the arena:
    /// nothing here touches the arena.
    func produce(_ package: UnsafeRawBufferPointer, _ key: UInt8) -> (head: Int, packed: UnsafeRawBufferPointer)? {
        let compression = loop.compressionState()
        let counters = loop.counters
        let threshold = compression.options.threshold
        if key != Self.gzipKey {
            guard package.count >= threshold,
                  let packed = compression.deflater(window: Int(key), size: package.count)?.compress(package) else {
                return nil
            }
            counters.add(.deflateMessagesOut)
            counters.add(.uncompressedBytesOut, UInt64(package.count))
            counters.add(.compressedBytesOut, UInt64(packed.count))
            return (0, packed)
        }
        // A push's message header: the flag, then a route code or a
        // length-prefixed route name.
        let flagAt = Package.headerLength
        guard package.count > flagAt + 1 else { return nil }
        let head = flagAt + 1 + (package[flagAt] & 0x01 != 0 ? 2 : 1 + Int(package[flagAt + 1]))
        guard package.count - head >= threshold,
              let packed = compression.gzipper?.compress(UnsafeRawBufferPointer(rebasing: package[head...])) else { return nil }
        headScratch.copyMemory(from: package.baseAddress!, byteCount: head)
        headScratch.storeBytes(of: package[flagAt] | Message.gzipFlag, toByteOffset: flagAt, as: UInt8.self)
        let bodyLength = head - flagAt + packed.count
        headScratch.storeBytes(of: UInt8(truncatingIfNeeded: bodyLength >> 16), toByteOffset: 1, as: UInt8.self)
        headScratch.storeBytes(of: UInt8(truncatingIfNeeded: bodyLength >> 8), toByteOffset: 2, as: UInt8.self)
        headScratch.storeBytes(of: UInt8(truncatingIfNeeded: bodyLength), toByteOffset: 3, as: UInt8.self)
        counters.add(.gzipFlagMessagesOut)
        counters.add(.uncompressedBytesOut, UInt64(package.count - head))
        counters.add(.compressedBytesOut, UInt64(packed.count))
        return (head, packed)
    }

    /// Appends what `produce` made to the arena: where it is. A
    /// permessage-deflate message (no head) is followed by its sync flush's
    /// 00 00 ff ff, outside its length: `write` takes it in when another
    /// compressed push follows in the same message.
    func keep(_ made: (head: Int, packed: UnsafeRawBufferPointer)) -> (offset: Int, length: Int) {
        let at = arena.count
        if made.head > 0 { arena.append(contentsOf: UnsafeRawBufferPointer(start: headScratch, count: made.head)) }
        arena.append(contentsOf: made.packed)
        if made.head == 0 {
            arena.append(0x00)
            arena.append(0x00)
            arena.append(0xFF)
            arena.append(0xFF)
        }
        return (at, made.head + made.packed.count)
    }

    private func accepts(_ c: Connection) -> Bool {
        guard !c.isClosing, c.phase == .working else {
            loop.counters.add(.pushesUndeliverable)
            return false
        }
        return true
    }

    /// `shared`: the arena bytes are linked for several connections, so they
    /// stay when this one is refused, and the caller checks for a flush.
    private func link(_ c: Connection, source: Int32, offset: Int, length: Int, shared: Bool = false,
                      compressed: Bool = false) {
        // The bound on unsent bytes covers what is staged too, so a slow
        // consumer is caught when the push is made, not only at the flush.
        // Every connection of a loop has the same bound (see EventLoop.apply).
        if shd_conn_pending(c.raw) + c.stagedBytes + length > loop.limits.maxPendingBytes {
            if source < 0 && !shared { arena.removeSubrange(offset...) }
            slowConsumer(c)
            return
        }
        let index = entries.pointee.append(Entry(source: source, offset: Int32(offset), length: Int32(length), next: -1,
                                                 compressed: compressed))
        if c.stagedHead < 0 {
            c.stagedHead = index
            dirty.append(c)
        } else {
            entries.pointee.base[Int(c.stagedTail)].next = index
        }
        c.stagedTail = index
        c.stagedBytes += length
        if !shared && buffered && arena.count + sharedBytes > Self.maxStagedBytes { flushAll() }
    }

    private func slowConsumer(_ c: Connection) {
        switch loop.limits.slowConsumer {
        case .dropPushes:
            loop.counters.add(.pushesDropped)
        case .kick:
            guard !c.isClosing else { return }
            loop.counters.add(.slowConsumerKicks)
            c.logger.info("kicking slow consumer: more than \(loop.limits.maxPendingBytes) bytes unsent")
            dropStaged(c)
            c.kick(reason: "slow consumer")
        }
    }

    /// Writes every staged batch.
    func flushAll() {
        guard !dirty.isEmpty else { return }
        // Indexed: for-in allocates an iterator frame in debug builds.
        var k = 0
        while k < dirty.count {
            if dirty[k].stagedHead >= 0 { write(dirty[k]) }
            k += 1
        }
        dirty.removeAll(keepingCapacity: true)
        entries.pointee.count = 0
        shared.removeAll(keepingCapacity: true)
        lastShared = nil
        sharedBytes = 0
        // The arena's offsets are reused from now on.
        forgetVariants()
        if arena.capacity > 4 * Self.maxStagedBytes {
            arena = []
            arena.reserveCapacity(16 * 1024)
        } else {
            arena.removeAll(keepingCapacity: true)
        }
    }

    /// Writes what is staged for one connection now (before a response, a
    /// kick or a close, to keep the order).
    func flush(_ c: Connection) {
        if c.stagedHead >= 0 { write(c) }
    }

    /// Forgets what is staged for a connection that is going away.
    func dropStaged(_ c: Connection) {
        c.stagedHead = -1
        c.stagedTail = -1
        c.stagedBytes = 0
    }

    private func write(_ c: Connection) {
        defer { dropStaged(c) }
        guard !c.isClosing else {
            loop.counters.add(.pushesUndeliverable)
            return
        }
        var count = 0
        var packages: UInt64 = 0
        let table = entries.pointee.base
        var i = c.stagedHead
        while i >= 0 { count += 1; i = table[Int(i)].next }
        // Worst case: a frame header before every package.
        reserve(2 * count)
        var n = 0
        arena.withUnsafeBytes { arenaBytes in
          shared.withUnsafeBufferPointer { shared in
            let websocket = c.transport == .websocket
            // Where the frame being packed has its header slice, and its
            // length so far (a WebSocket message per at most maxFrameBytes).
            var frame = FrameInProgress()
            var i = c.stagedHead
            while i >= 0 {
                let e = table[Int(i)]
                let base = e.source < 0 ? arenaBytes.baseAddress! : UnsafeRawPointer(shared[Int(e.source)].bytes.baseAddress!)
                if e.compressed {
                    // Compressed pushes share a message of their own: each
                    // was compressed alone and sync-flushed, so with the
                    // flush's 00 00 ff ff kept between them (it lies after
                    // each in the arena) they read as one DEFLATE stream of
                    // the packages one after another, and the client gets
                    // them together as it gets plain ones.
                    if frame.slice >= 0 && frame.compressed && frame.length + 4 + Int(e.length) <= Self.maxFrameBytes {
                        slices[n - 1].len += 4
                        frame.length += 4
                    } else {
                        closeFrame(&frame)
                        frame.slice = n
                        frame.length = 0
                        frame.compressed = true
                        n += 1
                    }
                    slices[n] = shd_slice_t(base: base + Int(e.offset), len: Int(e.length))
                    n += 1
                    frame.length += Int(e.length)
                    packages += 1
                    i = e.next
                    continue
                }
                if websocket && (frame.slice < 0 || frame.compressed || frame.length + Int(e.length) > Self.maxFrameBytes) {
                    closeFrame(&frame)
                    frame.slice = n
                    frame.length = 0
                    n += 1
                }
                slices[n] = shd_slice_t(base: base + Int(e.offset), len: Int(e.length))
                n += 1
                frame.length += Int(e.length)
                packages += 1
                i = e.next
            }
            if websocket { closeFrame(&frame) }
          }
        }
        let rc = shd_conn_writev(c.raw, slices, n)
        if rc == 0 {
            loop.counters.add(.pushes, packages)
            loop.counters.add(.pushBatches)
        } else if Int(rc) == SHD_EFULL {
            let policy = loop.limits.slowConsumer
            loop.counters.add(.pushesDropped, policy == .dropPushes ? packages : 0)
            if policy == .kick { slowConsumer(c) }
        } else {
            loop.counters.add(.pushesUndeliverable, packages)
        }
    }

    /// A WebSocket frame being packed in `write`.
    private struct FrameInProgress {
        var slice = -1
        var length = 0
        var headerAt = 0
        var compressed = false
    }

    /// Writes the header of the frame being packed into its slice. A method
    /// with the state passed in, not a nested function: one capturing the
    /// loop's variables would box them on the heap in debug builds.
    private func closeFrame(_ frame: inout FrameInProgress) {
        guard frame.slice >= 0 else { return }
        let h = UnsafeMutableRawBufferPointer(start: headers + frame.headerAt, count: WebSocketFrameEncoder.maxHeaderLength)
        let len = WebSocketFrameEncoder.writeHeader(.binary, payloadLength: frame.length, compressed: frame.compressed,
                                                    into: h, at: 0)
        slices[frame.slice] = shd_slice_t(base: UnsafeRawPointer(h.baseAddress), len: len)
        frame.headerAt += len
        frame.compressed = false
    }

    private func reserve(_ slotsNeeded: Int) {
        guard slotsNeeded > sliceCapacity else { return }
        slices.deallocate()
        headers.deallocate()
        sliceCapacity = max(slotsNeeded, sliceCapacity * 2)
        slices = .allocate(capacity: sliceCapacity)
        headers = .allocate(byteCount: sliceCapacity * WebSocketFrameEncoder.maxHeaderLength, alignment: 8)
    }
}

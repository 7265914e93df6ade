import Crypto

/// The sans-IO transport of one node: turns `send`, `receiveDatagram` and `tick` events into
/// actions (datagrams to transmit, messages delivered, sends confirmed or failed).
///
/// It owns no socket, clock or thread. A driver feeds it events with the current monotonic
/// time `now`, then carries out `takeActions()`, and calls `tick` again at `nextDeadline`.
/// Peers are named by their index in the peers file. Datagrams that are malformed, oversized,
/// from another network, from an unknown peer or a wrong address, from a stale session,
/// replayed or forged are dropped before anything is allocated for them, and counted.
public struct MessageTransport {
    public let configuration: TransportConfiguration
    public let localIndex: Int
    /// This run's session number; must be nonzero and larger than in any earlier run of this node.
    public let session: UInt64
    public let network: NetworkID
    private let peerKeys: [PublicKey]
    private let identity: KeyPair
    /// Links to the peers this node has talked with, created on first use; `slots` finds them.
    var links: [PeerLink] = []
    private var slots: [Int: Int] = [:]
    /// Slots of links with a timer running; `nextDeadline` looks only at these.
    private var active: Set<Int> = []
    private var context: LinkContext
    /// Decryption buffer, reused for every datagram.
    private var scratch: [UInt8]
    /// Peers whose address the driver did not know at start (their host name did not resolve),
    /// with the sender session of the datagram that last located them, 0 before any did. Their
    /// datagrams may come from any address that is no other peer's: the first authenticated one
    /// tells the driver where they are (SPEC.md §2, "Addresses as resolved"), and so does one of a
    /// later session than that: any datagram of an earlier run of the peer still authenticates
    /// (the keys are static), so anyone who once saw one could replay it first, from anywhere, and
    /// pin the peer's traffic to its own address for this whole run; the peer's own datagrams, of
    /// its current (higher) session, win.
    private var locatedSession: [Int: UInt64] = [:]

    /// Marks `peers` as located by their datagrams (the driver has no address for them).
    public mutating func locateByDatagrams(_ peers: some Sequence<Int>) {
        for peer in peers { locatedSession[peer] = 0 }
    }

    /// A transport for the node at `localIndex` of `peers`.
    public init(peers: PeersFile, localIndex: Int, identity: KeyPair, session: UInt64,
                configuration: TransportConfiguration = .init()) throws(TransportError) {
        try self.init(network: peers.networkID, peerKeys: peers.peers.map(\.publicKey), localIndex: localIndex,
                      identity: identity, session: session, configuration: configuration)
    }

    /// The same, from the parts of a peers file: simulations share one key list among many nodes.
    public init(network: NetworkID, peerKeys: [PublicKey], localIndex: Int, identity: KeyPair, session: UInt64,
                configuration: TransportConfiguration = .init()) throws(TransportError) {
        try configuration.validate()
        guard peerKeys.count <= Int(UInt16.max) + 1 else {
            throw .invalidConfiguration("at most \(Int(UInt16.max) + 1) peers")
        }
        guard peerKeys.indices.contains(localIndex) else { throw .unknownPeer(localIndex) }
        guard peerKeys[localIndex] == identity.publicKey else {
            throw .invalidConfiguration("the secret key does not belong to peer \(localIndex) of the peers file")
        }
        guard session != 0 else { throw .invalidConfiguration("session must be nonzero") }
        self.configuration = configuration
        self.localIndex = localIndex
        self.session = session
        self.network = network
        self.peerKeys = peerKeys
        self.identity = identity
        context = LinkContext(configuration: configuration, localIndex: localIndex, localSession: session, network: network)
        scratch = [UInt8](repeating: 0, count: configuration.mtu)
    }

    public var peerCount: Int { peerKeys.count }
    public var metrics: TransportMetrics { context.metrics }

    /// Reassembly memory held for incomplete messages, from all peers or from one.
    public var reassemblyBytes: Int { context.reassemblyBytes }
    public func reassemblyBytes(from peer: Int) -> Int { slots[peer].map { links[$0].inboundBytes } ?? 0 }

    /// Actions produced by the events so far, oldest first; the driver must carry them all out.
    public mutating func takeActions() -> [TransportAction] {
        defer { context.outbox.removeAll(keepingCapacity: true) }
        return context.outbox
    }

    /// Queues `message` for reliable delivery to `peer` and sends what the window allows.
    @discardableResult
    public mutating func send(_ message: [UInt8], to peer: Int, now: Duration) throws(TransportError) -> MessageID {
        guard peerKeys.indices.contains(peer) else { throw .unknownPeer(peer) }
        guard peer != localIndex else { throw .cannotSendToSelf }
        guard message.count <= configuration.maxMessageSize else {
            throw .messageTooLarge(size: message.count, limit: configuration.maxMessageSize)
        }
        guard let slot = ensureLink(peer) else {
            throw .badPeerKey(peer: peer, reason: "key agreement failed (low-order or own key)")
        }
        let id = links[slot].enqueue(message, now: now, context: &context)
        links[slot].flush(now: now, context: &context)
        updateActivity(slot)
        return id
    }

    /// Handles one datagram. `source` is the peer index the driver found for the datagram's
    /// source address, or nil if the address belongs to no peer. Returns the peer of an addressless
    /// peer's first authenticated datagram (no longer addressless: the driver records the datagram's
    /// source address as the peer's, in place of any it had), or of one of a later session than
    /// the datagram that located it, else nil.
    @discardableResult
    public mutating func receiveDatagram(_ datagram: UnsafeRawBufferPointer, from source: Int?, now: Duration) -> Int? {
        context.metrics.datagramsReceived += 1
        context.metrics.bytesReceived += datagram.count
        var located: Int? = nil
        if let reason = admit(datagram, from: source, now: now, located: &located) { context.metrics[reason] += 1 }
        return located
    }

    @discardableResult
    public mutating func receiveDatagram(_ datagram: [UInt8], from source: Int?, now: Duration) -> Int? {
        datagram.withUnsafeBytes { receiveDatagram($0, from: source, now: now) }
    }

    /// Runs every timer due at `now`: acknowledgements, loss detection, retransmission and
    /// message timeouts, paced sends, freeing stale reassemblies.
    public mutating func tick(now: Duration) {
        // In slot order: a Set's order varies from run to run, and the order of the datagrams
        // sent here decides what a seeded fault injector does to each (simulations replay exactly).
        for slot in active.sorted() {
            links[slot].tick(now: now, context: &context)
            updateActivity(slot)
        }
    }

    /// When `tick` must next run, or nil if nothing is pending.
    public var nextDeadline: Duration? {
        var earliest: Duration? = nil
        for slot in active {
            guard let t = links[slot].deadline else { continue }
            if earliest == nil || t < earliest! { earliest = t }
        }
        return earliest
    }

    /// The checks in order of cost; returns why the datagram was dropped, or nil if it was used.
    private mutating func admit(_ datagram: UnsafeRawBufferPointer, from source: Int?, now: Duration,
                                located: inout Int?) -> DropReason? {
        guard datagram.count <= configuration.mtu else { return .oversized }
        guard datagram.count >= DatagramHeader.byteCount + AEADOverhead.tag else { return .malformed }
        guard case let .success(header) = DatagramHeader.parse(datagram) else { return .malformed }
        guard header.networkTag == network.tag else { return .wrongNetwork }
        let sender = Int(header.sender)
        guard Int(header.receiver) == localIndex, peerKeys.indices.contains(sender), sender != localIndex else {
            return .unknownPeer
        }
        guard source == sender
            || (source == nil && locatedSession[sender].map { header.senderSession > $0 } == true)
        else { return .wrongSource }
        let payloadLength = datagram.count - DatagramHeader.byteCount - AEADOverhead.tag
        // Counters and message numbers stay below 2^62 (the varint range of acknowledgements),
        // which also keeps every `+ 1` on them far from overflow.
        guard header.senderSession != 0, header.counter < Varint.max,
              header.kind == .data ? payloadLength > 0 : payloadLength == 0 else {
            return .malformed
        }
        guard let slot = ensureLink(sender) else { return .authenticationFailed }
        let known = links[slot].peerSession
        if header.senderSession < known { return .staleSession }
        if header.senderSession == known, !links[slot].replay.mayAccept(header.counter) { return .replayed }
        // Move the scratch buffer out so it is uniquely referenced while we write into it.
        var plaintext = scratch
        scratch = []
        defer { scratch = plaintext }
        let cipher = links[slot].cipher
        let opened: Bool = plaintext.withUnsafeMutableBytes { buffer in
            let out = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<payloadLength])
            do {
                try cipher.open(datagram, header: header, network: network, into: out)
                return true
            } catch {
                return false
            }
        }
        guard opened else { return .authenticationFailed }
        if source == nil, locatedSession[sender] != nil {
            located = sender
            locatedSession[sender] = header.senderSession
        }
        links[slot].adopt(session: header.senderSession, context: &context)
        links[slot].replay.record(header.counter)
        defer { updateActivity(slot) }
        let addressedToUs = header.receiverSession == session
        switch header.kind {
        case .hello:
            if !addressedToUs { links[slot].replyHello(now: now, context: &context) }
        case .data:
            guard addressedToUs else {
                links[slot].replyHello(now: now, context: &context)
                return .staleSession
            }
            plaintext.withUnsafeBytes { buffer in
                links[slot].receive(payload: UnsafeRawBufferPointer(rebasing: buffer[0..<payloadLength]),
                                       counter: header.counter, now: now, context: &context)
            }
        }
        links[slot].flush(now: now, context: &context)
        return nil
    }

    /// The link to `peer`, created on first use (one key agreement); nil if the key is unusable.
    private mutating func ensureLink(_ peer: Int) -> Int? {
        if let slot = slots[peer] { return slot }
        guard let cipher = try? DatagramCipher(identity: identity, remote: peerKeys[peer], network: network) else {
            return nil
        }
        links.append(PeerLink(peer: peer, cipher: cipher, configuration: configuration))
        slots[peer] = links.count - 1
        return links.count - 1
    }

    private mutating func updateActivity(_ slot: Int) {
        links[slot].refreshDeadline(configuration: configuration)
        if links[slot].deadline != nil {
            active.insert(slot)
        } else {
            active.remove(slot)
        }
    }

    /// The link to `peer`, if this node has talked with it (for tests and diagnostics).
    func link(_ peer: Int) -> PeerLink? { slots[peer].map { links[$0] } }
}

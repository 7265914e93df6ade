/// What a peer link needs from its transport while it handles one event: settings, and the
/// shared outbox, metrics and reassembly total it adds to.
struct LinkContext {
    let configuration: TransportConfiguration
    let localIndex: Int
    let localSession: UInt64
    let network: NetworkID
    var outbox: [TransportAction] = []
    var metrics = TransportMetrics()
    /// Reassembly memory held for all peers together.
    var reassemblyBytes = 0
}

/// Everything this node keeps about one peer: the session pair, the datagram keys and replay
/// window, and both directions of the reliable message stream (see +Sending, +Receiving).
///
/// Messages live in arrays and are reached by index, not in dictionaries: reading a field of
/// a dictionary value copies the whole value, and these values hold several buffers.
struct PeerLink {
    let peer: Int
    let cipher: DatagramCipher

    // Session: the peer's current session (0 = not known yet) and our datagram counter.
    var peerSession: UInt64 = 0
    var replay = ReplayWindow()
    var nextCounter: UInt64 = 1
    var helloRetryAt: Duration?
    var helloAttempts = 0
    var helloReplyAllowedAt: Duration = .zero

    // Sending.
    /// Unfinished outgoing messages in ascending number; the first `window` numbers are open.
    var outgoing: [OutgoingMessage] = []
    var nextMessageNumber: UInt64 = 0
    var roundRobin = 0
    /// Packets carrying chunks that are neither acknowledged nor declared lost.
    var inFlight = SentPacketLog()
    /// The latest packets declared lost, by counter: a late acknowledgement still counts.
    var recentlyLost: [SentPacket] = []
    var largestAcknowledged: UInt64?
    var rtt: RTTEstimator
    var congestion: CongestionController
    var timeoutBackoff = 0
    /// When the probe timer was last armed: the latest chunk-carrying packet or timeout. Timing
    /// from the latest event rather than the oldest packet keeps the timer in the future even
    /// when the backed-off timeout has reached `maxRTO` (RFC 9002 §6.2.1).
    var probeTimerAnchor: Duration = .zero
    /// Packets that may go beyond the congestion window after a timeout, to elicit an ack.
    var probesAllowed = 0
    var lossTimer: Duration?
    var pacingWakeup: Duration?
    /// `nextDeadline`, as of the end of the last event this link handled.
    private(set) var deadline: Duration?

    // Receiving.
    var acks = AckTracker()
    /// Messages being reassembled (few at a time: each holds its whole buffer).
    var inbound: [InboundMessage] = []
    var inboundBytes = 0
    var ledger = DeliveryLedger()

    init(peer: Int, cipher: DatagramCipher, configuration: TransportConfiguration) {
        self.peer = peer
        self.cipher = cipher
        rtt = RTTEstimator(initial: configuration.initialRTT)
        congestion = CongestionController(configuration: configuration)
    }

    /// Takes note of an authenticated datagram's sender session. A newer session means the peer
    /// restarted: what it had received is gone, so our unfinished messages start over, and what
    /// we were reassembling from its old session is freed.
    mutating func adopt(session: UInt64, context: inout LinkContext) {
        guard session > peerSession else { return }
        let restarted = peerSession != 0
        peerSession = session
        replay = ReplayWindow()
        helloRetryAt = nil
        helloAttempts = 0
        // A new session is news worth answering at once, whatever we answered before.
        helloReplyAllowedAt = .zero
        guard restarted else { return }
        acks.reset()
        context.reassemblyBytes -= inboundBytes
        context.metrics.reassembliesAbandoned += inbound.count
        inbound = []
        inboundBytes = 0
        ledger = DeliveryLedger()
        for i in outgoing.indices { outgoing[i].restart() }
        inFlight.removeAll()
        recentlyLost = []
        largestAcknowledged = nil
        lossTimer = nil
        timeoutBackoff = 0
        probesAllowed = 0
    }

    mutating func refreshDeadline(configuration: TransportConfiguration) {
        deadline = nextDeadline(configuration: configuration)
    }

    /// The earliest moment this link needs `tick`, or nil if it is idle.
    func nextDeadline(configuration: TransportConfiguration) -> Duration? {
        var earliest = acks.deadline
        if let t = lossTimer, earliest == nil || t < earliest! { earliest = t }
        if !inFlight.isEmpty {
            let t = probeTimerAnchor + retransmissionTimeout(configuration)
            if earliest == nil || t < earliest! { earliest = t }
        }
        if peerSession == 0, !outgoing.isEmpty {
            let t = helloRetryAt ?? .zero
            if earliest == nil || t < earliest! { earliest = t }
        }
        if let t = pacingWakeup, earliest == nil || t < earliest!, hasSendableChunk { earliest = t }
        if !outgoing.isEmpty, earliest == nil || outgoing[0].deadline < earliest! { earliest = outgoing[0].deadline }
        for i in inbound.indices {
            let t = inbound[i].lastProgress + configuration.reassemblyTimeout
            if earliest == nil || t < earliest! { earliest = t }
        }
        return earliest
    }

    func retransmissionTimeout(_ configuration: TransportConfiguration) -> Duration {
        let base = rtt.timeout(minimum: configuration.minRTO, maximum: configuration.maxRTO,
                               maxAckDelay: configuration.maxAckDelay)
        return timeoutBackoff == 0 ? base : min(base * (1 << min(timeoutBackoff, 16)), configuration.maxRTO)
    }

    /// Runs every timer that is due, then sends what may be sent.
    mutating func tick(now: Duration, context: inout LinkContext) {
        expireMessages(now: now, context: &context)
        expireReassemblies(now: now, context: &context)
        if let lossTimer, lossTimer <= now { detectLosses(now: now, context: &context) }
        if !inFlight.isEmpty, probeTimerAnchor + retransmissionTimeout(context.configuration) <= now {
            onRetransmissionTimeout(now: now, context: &context)
        }
        flush(now: now, context: &context)
    }

    private mutating func expireReassemblies(now: Duration, context: inout LinkContext) {
        let timeout = context.configuration.reassemblyTimeout
        var i = 0
        while i < inbound.count {
            if inbound[i].lastProgress + timeout <= now {
                releaseInbound(at: i, context: &context)
                context.metrics.reassembliesAbandoned += 1
            } else {
                i += 1
            }
        }
    }

    mutating func releaseInbound(at slot: Int, context: inout LinkContext) {
        let cost = inbound[slot].cost
        inbound.remove(at: slot)
        inboundBytes -= cost
        context.reassemblyBytes -= cost
    }
}

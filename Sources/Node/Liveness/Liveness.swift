import Crypto

/// SWIM-lite failure detection as a pure state machine: it says whom to probe and when, and which
/// peers changed status; the node sends the probes and feeds back what arrives.
///
/// Each period the node pings the next peer of a shuffled round-robin order. Without an ack in
/// `probeTimeout` it asks `indirectProbes` other peers to ping the target for it; without any ack by
/// the end of the period the target becomes *suspect*, and *dead* after `suspicionTimeout` more
/// unless anything authentic arrives from it. Any authentic message from a peer counts as proof of
/// life, so a busy network needs few probes. A dead peer that speaks again has rejoined. A peer
/// that stops says so (`leave`, as memberlist's graceful leave): it is *left* at once, with no
/// probe or suspicion, and like a dead one until it speaks again (a restart). Peers in
/// `focus` (those the node is waiting for) are probed before the round-robin whenever they were
/// silent for a period: a round-robin pass over many peers would find a dead group member only
/// after several rounds had waited for it.
public struct Liveness: Sendable {
    public struct Settings: Sendable, Equatable {
        public var probeInterval: Duration
        public var probeTimeout: Duration
        public var indirectProbes: Int
        public var suspicionTimeout: Duration

        public init(probeInterval: Duration = .seconds(1), probeTimeout: Duration = .milliseconds(300),
                    indirectProbes: Int = 2, suspicionTimeout: Duration = .seconds(3)) {
            self.probeInterval = probeInterval
            self.probeTimeout = probeTimeout
            self.indirectProbes = indirectProbes
            self.suspicionTimeout = suspicionTimeout
        }
    }

    /// How long a crashed peer the node waits for (`focus`) takes to be declared dead: up to a
    /// period until it is probed, a period for the probe to go unanswered, then the suspicion.
    /// A join timeout shorter than this makes a crashed member cost its groups the whole join
    /// timeout instead.
    public static func verdictTime(_ settings: Settings) -> Duration {
        settings.probeInterval * 2 + settings.suspicionTimeout
    }

    public enum Status: Sendable, Equatable {
        case alive
        case suspect(since: Duration)
        case dead
        /// Said it was stopping (`Message.leave`).
        case left
    }

    public enum Message: Sendable, Equatable {
        /// "Are you there?" `onBehalfOf` is set when relaying someone else's indirect probe.
        case ping(sequence: UInt32, onBehalfOf: Int?)
        case ack(sequence: UInt32, target: Int)
        /// "Please ping `target` for me."
        case pingRequest(sequence: UInt32, target: Int)
        /// "I am stopping": sent once to every peer by a node that stops before its network does.
        case leave
    }

    public enum Directive: Sendable, Equatable {
        case send(to: Int, Message)
        case statusChanged(peer: Int, Status)
    }

    public let settings: Settings
    public let me: Int
    public private(set) var statuses: [Status]
    private var lastHeard: [Duration]
    private var order: [Int] = []
    private var orderPosition = 0
    private var sequence: UInt32 = 0
    private var probe: (target: Int, sequence: UInt32, sentAt: Duration, indirectSent: Bool)?
    private var nextProbeAt: Duration
    private var relays: [UInt32: (requester: Int, requesterSequence: UInt32)] = [:]
    private var rng: DeterministicRandom
    /// Peers the node is waiting for now (its current group); probed first when silent.
    public var focus: [Int] = []

    public init(me: Int, peerCount: Int, settings: Settings = Settings(), now: Duration, seed: UInt64) {
        self.me = me
        self.settings = settings
        statuses = Array(repeating: .alive, count: peerCount)
        lastHeard = Array(repeating: now, count: peerCount)
        nextProbeAt = now + settings.probeInterval
        rng = DeterministicRandom(seed: seed ^ UInt64(me))
    }

    public func isAlive(_ peer: Int) -> Bool {
        switch statuses[peer] {
        case .alive, .suspect: return true
        case .dead, .left: return false
        }
    }

    /// The earliest time `tick` has something to do.
    public var nextDeadline: Duration {
        var deadline = nextProbeAt
        if let probe, !probe.indirectSent { deadline = min(deadline, probe.sentAt + settings.probeTimeout) }
        for status in statuses { if case let .suspect(since) = status { deadline = min(deadline, since + settings.suspicionTimeout) } }
        return deadline
    }

    /// Any authenticated message from `peer` proves it is alive.
    public mutating func heard(from peer: Int, now: Duration) -> [Directive] {
        guard peer != me, statuses.indices.contains(peer) else { return [] }
        spoke(peer, now: now)
        if statuses[peer] != .alive {
            statuses[peer] = .alive
            return [.statusChanged(peer: peer, .alive)]
        }
        return []
    }

    /// `peer` sent something: no probe of it is outstanding any more.
    private mutating func spoke(_ peer: Int, now: Duration) {
        lastHeard[peer] = now
        if probe?.target == peer { probe = nil }
    }

    public mutating func receive(_ message: Message, from peer: Int, now: Duration) -> [Directive] {
        guard peer != me, statuses.indices.contains(peer) else { return [] }
        if case .leave = message {
            guard statuses[peer] != .left else { return [] }
            spoke(peer, now: now)
            statuses[peer] = .left
            return [.statusChanged(peer: peer, .left)]
        }
        var directives = heard(from: peer, now: now)
        switch message {
        case .leave:
            break
        case let .ping(seq, onBehalfOf):
            directives.append(.send(to: peer, .ack(sequence: seq, target: me)))
            _ = onBehalfOf
        case let .pingRequest(seq, target):
            guard target != me, statuses.indices.contains(target) else { break }
            sequence &+= 1
            relays[sequence] = (peer, seq)
            if relays.count > 4 * statuses.count { relays.removeAll() } // bounded
            directives.append(.send(to: target, .ping(sequence: sequence, onBehalfOf: peer)))
        case let .ack(seq, target):
            if let relay = relays.removeValue(forKey: seq) {
                directives.append(.send(to: relay.requester, .ack(sequence: relay.requesterSequence, target: target)))
            }
            if let probe, probe.sequence == seq, statuses.indices.contains(target), target != me {
                self.probe = nil
                directives += heard(from: target, now: now)
            }
        }
        return directives
    }

    public mutating func tick(now: Duration) -> [Directive] {
        var directives: [Directive] = []
        // Suspects that stayed silent are declared dead.
        for peer in statuses.indices {
            if case let .suspect(since) = statuses[peer], now >= since + settings.suspicionTimeout, lastHeard[peer] <= since {
                statuses[peer] = .dead
                directives.append(.statusChanged(peer: peer, .dead))
            }
        }
        // An unanswered direct probe: ask others to try.
        if let current = probe, !current.indirectSent, now >= current.sentAt + settings.probeTimeout {
            probe?.indirectSent = true
            let helpers = statuses.indices.filter { $0 != me && $0 != current.target && isAlive($0) }
            for helper in pick(settings.indirectProbes, from: helpers) {
                directives.append(.send(to: helper, .pingRequest(sequence: current.sequence, target: current.target)))
            }
        }
        guard now >= nextProbeAt else { return directives }
        nextProbeAt = now + settings.probeInterval
        // The period ended without any ack: suspect the target.
        if let current = probe {
            probe = nil
            if statuses[current.target] == .alive, lastHeard[current.target] < current.sentAt {
                statuses[current.target] = .suspect(since: now)
                directives.append(.statusChanged(peer: current.target, .suspect(since: now)))
            }
        }
        guard let target = nextTarget(now: now) else { return directives }
        sequence &+= 1
        probe = (target, sequence, now, false)
        directives.append(.send(to: target, .ping(sequence: sequence, onBehalfOf: nil)))
        return directives
    }

    /// Round-robin over a fresh shuffle each pass (SWIM's bounded detection time), skipping peers
    /// heard from within the last period: their traffic already proves they are alive.
    private mutating func nextTarget(now: Duration) -> Int? {
        let silent = focus.filter { peer in
            statuses.indices.contains(peer) && peer != me && statuses[peer] == .alive
                && now - lastHeard[peer] >= settings.probeInterval
        }
        if let longest = silent.min(by: { lastHeard[$0] < lastHeard[$1] }) { return longest }
        for _ in 0..<2 * statuses.count {
            if orderPosition >= order.count {
                order = statuses.indices.filter { $0 != me }
                order.shuffle(using: &rng)
                orderPosition = 0
                if order.isEmpty { return nil }
            }
            let candidate = order[orderPosition]
            orderPosition += 1
            if now - lastHeard[candidate] >= settings.probeInterval || !isAlive(candidate) { return candidate }
        }
        return nil
    }

    private mutating func pick(_ count: Int, from candidates: [Int]) -> [Int] {
        var pool = candidates
        pool.shuffle(using: &rng)
        return Array(pool.prefix(count))
    }
}

extension Liveness.Message {
    /// `u8 type || u32 sequence || u16 peer` (peer = on-behalf-of + 1 or 0, or the ack's target).
    public var bytes: [UInt8] {
        func encode(_ type: UInt8, _ seq: UInt32, _ peer: Int) -> [UInt8] {
            var out = [type]
            withUnsafeBytes(of: seq.littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt16(truncatingIfNeeded: peer).littleEndian) { out.append(contentsOf: $0) }
            return out
        }
        switch self {
        case let .ping(seq, onBehalfOf): return encode(1, seq, onBehalfOf.map { $0 + 1 } ?? 0)
        case let .ack(seq, target): return encode(2, seq, target)
        case let .pingRequest(seq, target): return encode(3, seq, target)
        case .leave: return encode(4, 0, 0)
        }
    }

    /// Decodes a liveness message; nil for anything malformed or naming a peer outside `peerCount`.
    public init?(bytes: [UInt8], peerCount: Int) {
        guard bytes.count == 7 else { return nil }
        let seq = UInt32(bytes[1]) | UInt32(bytes[2]) << 8 | UInt32(bytes[3]) << 16 | UInt32(bytes[4]) << 24
        let peer = Int(UInt16(bytes[5]) | UInt16(bytes[6]) << 8)
        switch bytes[0] {
        case 1:
            guard peer <= peerCount else { return nil }
            self = .ping(sequence: seq, onBehalfOf: peer == 0 ? nil : peer - 1)
        case 2:
            guard peer < peerCount else { return nil }
            self = .ack(sequence: seq, target: peer)
        case 3:
            guard peer < peerCount else { return nil }
            self = .pingRequest(sequence: seq, target: peer)
        case 4:
            guard seq == 0, peer == 0 else { return nil }
            self = .leave
        default:
            return nil
        }
    }
}

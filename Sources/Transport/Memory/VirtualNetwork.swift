import Crypto

/// What the virtual network reports to the layer above, in virtual-time order.
public enum VirtualNetworkEvent: Sendable {
    /// `to` received a complete message from `from`.
    case delivered([UInt8], from: Int, to: Int)
    /// The sender `id.peer`'s peer acknowledged the whole message (the sender is `sender`).
    case acknowledged(MessageID, sender: Int)
    case sendFailed(MessageID, SendFailure, sender: Int)
    /// A timer the layer above set with `scheduleWakeup`.
    case wakeup(node: Int, tag: UInt64)
}

/// Timing of the simulated wire: one-way latency, and optionally each node's upload bandwidth
/// (datagrams queue behind each other at the sender, as on a real uplink).
public struct LinkModel: Sendable, Equatable {
    public var latency: Duration
    public var bytesPerSecond: Int?

    public init(latency: Duration = .milliseconds(1), bytesPerSecond: Int? = nil) {
        self.latency = latency
        self.bytesPerSecond = bytesPerSecond
    }
}

/// Many `MessageTransport`s in one process on a virtual clock: one event queue ordered by
/// virtual time, nodes addressed by index, no threads. Datagrams pass through an optional
/// `FaultInjector`. Same seed and same calls give the same run, event for event.
public struct VirtualNetwork {
    private enum Internal {
        case arrival([UInt8], from: Int, to: Int)
        case timer(node: Int)
        case wakeup(node: Int, tag: UInt64)
    }

    public let peers: PeersFile
    public private(set) var now: Duration = .zero
    public var link: LinkModel
    public var faults: FaultInjector?
    private let identities: [KeyPair]
    private let configuration: TransportConfiguration
    private var transports: [MessageTransport?]
    private var sessions: [UInt64]
    private var queue = EventQueue<Internal>()
    /// The time of each node's pending timer entry; older entries in the queue are ignored.
    private var timerAt: [Duration?]
    private var uplinkFreeAt: [Duration]
    private var ready: [(time: Duration, event: VirtualNetworkEvent)] = []
    private var readyHead = 0

    /// A network of the nodes in `peers`, whose secret keys are `identities` (same order).
    public init(peers: PeersFile, identities: [KeyPair], configuration: TransportConfiguration = .init(),
                link: LinkModel = .init(), faults: FaultInjector? = nil) throws(TransportError) {
        guard identities.count == peers.peers.count else {
            throw .invalidConfiguration("\(identities.count) identities for \(peers.peers.count) peers")
        }
        self.peers = peers
        self.identities = identities
        self.configuration = configuration
        self.link = link
        self.faults = faults
        let network = peers.networkID, keys = peers.peers.map(\.publicKey)
        var transports: [MessageTransport?] = []
        transports.reserveCapacity(keys.count)
        for (index, identity) in identities.enumerated() {
            transports.append(try MessageTransport(network: network, peerKeys: keys, localIndex: index, identity: identity,
                                                   session: 1, configuration: configuration))
        }
        self.transports = transports
        sessions = [UInt64](repeating: 1, count: keys.count)
        timerAt = [Duration?](repeating: nil, count: keys.count)
        uplinkFreeAt = [Duration](repeating: .zero, count: keys.count)
    }

    /// `count` nodes with keys from `seed`, named node0..., on made-up addresses.
    public static func generatePeers(count: Int, seed: UInt64) -> (PeersFile, [KeyPair]) {
        var random = DeterministicRandom(seed: seed)
        let identities = (0..<count).map { _ in KeyPair.generate(using: &random) }
        let peers = identities.enumerated().map { i, identity in
            Peer(name: "node\(i)", endpoint: Endpoint(host: .ipv4("10.\(i >> 16 & 255).\(i >> 8 & 255).\(i & 255)"), port: 7000),
                 publicKey: identity.publicKey)
        }
        return (PeersFile(peers: peers), identities)
    }

    public var nodeCount: Int { transports.count }
    public func isOnline(_ node: Int) -> Bool { transports[node] != nil }
    public func metrics(of node: Int) -> TransportMetrics? { transports[node]?.metrics }
    public func transport(of node: Int) -> MessageTransport? { transports[node] }
    /// Events still queued inside the network (datagrams in flight, timers).
    public var pendingCount: Int { queue.count + ready.count - readyHead }

    /// Queues a message from `from` to `to` at the current virtual time.
    @discardableResult
    public mutating func send(_ message: [UInt8], from: Int, to: Int) throws(TransportError) -> MessageID {
        guard transports.indices.contains(from), transports[from] != nil else { throw .unknownPeer(from) }
        let id = try transports[from]!.send(message, to: to, now: now)
        settle(from)
        return id
    }

    /// Asks for a `.wakeup` event for `node` at virtual time `time` (at least now).
    public mutating func scheduleWakeup(node: Int, at time: Duration, tag: UInt64 = 0) {
        queue.schedule(.wakeup(node: node, tag: tag), at: max(time, now))
    }

    /// Takes a node down: its state is lost and datagrams to it vanish.
    public mutating func crash(_ node: Int) {
        transports[node] = nil
        timerAt[node] = nil
    }

    /// Brings a node back with empty state and a new, larger session, as a restarted process.
    public mutating func restart(_ node: Int) throws(TransportError) {
        sessions[node] += 1
        transports[node] = try MessageTransport(network: peers.networkID, peerKeys: peers.peers.map(\.publicKey),
                                                localIndex: node, identity: identities[node], session: sessions[node],
                                                configuration: configuration)
        timerAt[node] = nil
    }

    /// Advances virtual time to the next event the layer above must see and returns it; nil
    /// when nothing is left to happen.
    public mutating func nextEvent() -> (time: Duration, event: VirtualNetworkEvent)? {
        while readyHead == ready.count {
            ready.removeAll(keepingCapacity: true)
            readyHead = 0
            guard let (time, event) = queue.pop() else { return nil }
            now = max(now, time)
            process(event)
        }
        defer { readyHead += 1 }
        return ready[readyHead]
    }

    /// Internal events (datagram arrivals, timers) processed so far: a simulation can bound it
    /// to catch a livelock instead of hanging.
    public private(set) var processedEvents = 0

    /// Every event up to and including virtual time `deadline`, after which `now == deadline`;
    /// stops early, with `now` where it got to, after `maxEvents` internal events.
    public mutating func run(until deadline: Duration, maxEvents: Int = .max) -> [(time: Duration, event: VirtualNetworkEvent)] {
        var events: [(time: Duration, event: VirtualNetworkEvent)] = []
        let limit = processedEvents.addingReportingOverflow(maxEvents).overflow ? Int.max : processedEvents + maxEvents
        while processedEvents < limit {
            events += ready[readyHead...]
            ready.removeAll(keepingCapacity: true)
            readyHead = 0
            guard let next = queue.nextTime, next <= deadline, let (time, event) = queue.pop() else { break }
            now = max(now, time)
            process(event)
        }
        if processedEvents < limit { now = max(now, deadline) }
        return events
    }

    private mutating func process(_ event: Internal) {
        processedEvents += 1
        switch event {
        case let .arrival(datagram, from, to):
            guard transports[to] != nil else { return }
            transports[to]!.receiveDatagram(datagram, from: from, now: now)
            settle(to)
        case let .timer(node):
            guard transports[node] != nil, timerAt[node] == now else { return }
            timerAt[node] = nil
            transports[node]!.tick(now: now)
            settle(node)
        case let .wakeup(node, tag):
            ready.append((now, .wakeup(node: node, tag: tag)))
        }
    }

    /// Carries out a node's actions and keeps its timer entry current.
    private mutating func settle(_ node: Int) {
        for action in transports[node]!.takeActions() {
            switch action {
            case let .transmit(datagram, to):
                carry(datagram, from: node, to: to)
            case let .deliver(message, from):
                ready.append((now, .delivered(message, from: from, to: node)))
            case let .acknowledged(id):
                ready.append((now, .acknowledged(id, sender: node)))
            case let .sendFailed(id, reason):
                ready.append((now, .sendFailed(id, reason, sender: node)))
            }
        }
        if let deadline = transports[node]!.nextDeadline {
            let time = max(deadline, now)
            if timerAt[node] == nil || time < timerAt[node]! {
                timerAt[node] = time
                queue.schedule(.timer(node: node), at: time)
            }
        }
    }

    private mutating func carry(_ datagram: [UInt8], from: Int, to: Int) {
        var departure = now
        if let rate = link.bytesPerSecond, rate > 0 {
            departure = max(now, uplinkFreeAt[from]) + .nanoseconds(Int64(datagram.count) * 1_000_000_000 / Int64(rate))
            uplinkFreeAt[from] = departure
        }
        let arrival = departure + link.latency
        guard faults != nil else {
            queue.schedule(.arrival(datagram, from: from, to: to), at: arrival)
            return
        }
        for copy in faults!.apply(datagram, from: from, to: to, now: now) {
            queue.schedule(.arrival(copy.datagram, from: from, to: to), at: arrival + copy.delay)
        }
    }
}

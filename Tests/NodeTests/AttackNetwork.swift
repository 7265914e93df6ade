import Crypto
@testable import Node
import TestKit
@testable import Transport

/// What an adversarial peer does besides running an honest node machine of its own. Closures so
/// each test scripts one behaviour; they may keep state in the test's own reference types.
final class Adversary {
    /// Each message the adversary's machine sends becomes these messages, sealed by its own
    /// transport: what an authenticated insider can say.
    var rewrite: (_ to: Int, _ message: [UInt8], _ now: Duration) -> [(to: Int, message: [UInt8])] = { to, message, _ in
        [(to, message)]
    }
    /// Raw datagrams to put on the wire when a datagram passes (any pair's): what a network
    /// attacker can do. `source` is the peer whose address the datagram appears to come from.
    var onWire: (_ datagram: [UInt8], _ from: Int, _ to: Int, _ now: Duration) -> [(datagram: [UInt8], source: Int?, to: Int)] = { _, _, _, _ in
        []
    }
}

/// Honest node machines, each over its own sans-IO `MessageTransport`, plus one adversarial peer,
/// on a virtual clock with a toy trainer (each node pulls its model towards its own target, as in
/// `MachineCluster`). Everything between the machines goes through the real transports, so an
/// attack meets every check a real node applies, datagram and message alike. Records what the
/// honest nodes aggregated and the most memory they held at any moment.
struct AttackNetwork {
    enum Event {
        case datagram([UInt8], source: Int?, to: Int)
        case trained(node: Int, round: UInt64)
    }

    static let latency: Duration = .milliseconds(2)
    /// Small budgets so that floods reach them quickly.
    static let bufferBudget = 1 << 20
    static var transportConfiguration: TransportConfiguration {
        var configuration = TransportConfiguration()
        configuration.maxMessageSize = 1 << 20
        configuration.reassemblyBytesPerPeer = 1 << 20
        configuration.reassemblyBytesTotal = 2 << 20
        configuration.messageTimeout = .seconds(4)
        configuration.reassemblyTimeout = .seconds(8)
        return configuration
    }

    let n: Int
    let adversary: Int
    let peers: PeersFile
    let identities: [KeyPair]
    let hooks: Adversary
    var machines: [NodeMachine]
    var transports: [MessageTransport]
    var models: [[Float]]
    let targets: [[Float]]
    let sampleCounts: [Int]
    var now: Duration = .zero
    private var queue = EventQueue<Event>()
    /// The model each node sent into each round, to check averages exactly.
    var sent: [UInt64: [Int: [Float]]] = [:]
    var aggregations: [Int: [NodeMachine.Aggregation]] = [:]
    var stopped: [Int: UInt64] = [:]
    /// Every message an honest node sent to the adversary (what the adversary learns).
    var toAdversary: [(from: Int, message: [UInt8])] = []
    /// The most memory any honest node held at any moment: buffered future-round messages,
    /// reassembly in all and reassembly of the adversary's messages.
    var peakBuffered = 0
    var peakReassembly = 0
    var peakReassemblyFromAdversary = 0

    var honest: [Int] { (0..<n).filter { $0 != adversary } }

    init(n: Int = 5, groupSize: Int = 5, maxRounds: UInt64 = 6, patience: Int = 30, hooks: Adversary) throws {
        self.n = n
        adversary = n - 1
        self.hooks = hooks
        (peers, identities) = VirtualNetwork.generatePeers(count: n, seed: 11)
        let keys = peers.peers.map(\.publicKey)
        let margin = GroupSchedule.mixingMargin(peers: n, groupSize: groupSize)
        machines = (0..<n).map { [peers] i in
            let settings = NodeMachine.Settings(
                networkID: peers.networkID.bytes, peers: keys, me: i, groupSize: groupSize, minimumThreshold: 3,
                phaseTimeout: .seconds(2), joinTimeout: .seconds(5), clipRange: 8, weightCap: 1000,
                convergence: .init(tolerance: 0.02, patience: patience, mixingMargin: margin, maxRounds: maxRounds),
                maximumBufferedBytes: Self.bufferBudget)
            return NodeMachine(settings: settings, seed: [UInt8(i), 9], now: .zero)
        }
        transports = try (0..<n).map { [peers, identities] i in
            try MessageTransport(peers: peers, localIndex: i, identity: identities[i], session: 1,
                                 configuration: Self.transportConfiguration)
        }
        targets = (0..<n).map { i in (0..<6).map { j in Float((i * 7 + j * 3) % 11) / 11 + 1.5 } }
        models = Array(repeating: [Float](repeating: 0, count: 6), count: n)
        sampleCounts = (0..<n).map { 100 + 37 * $0 }
    }

    mutating func run(until end: Duration = .seconds(600)) {
        for i in 0..<n { handle(machines[i].start(now: now), node: i) }
        while now < end, stopped.count < n {
            var next = end
            for i in 0..<n where stopped[i] == nil {
                next = min(next, machines[i].nextDeadline)
                if let deadline = transports[i].nextDeadline { next = min(next, deadline) }
            }
            if let time = queue.nextTime, time <= next, let (_, event) = queue.pop() {
                now = max(now, time)
                process(event)
            } else {
                now = max(now, next)
                for i in 0..<n where stopped[i] == nil {
                    if let deadline = transports[i].nextDeadline, deadline <= now {
                        transports[i].tick(now: now)
                        settle(i)
                    }
                    if machines[i].nextDeadline <= now { handle(machines[i].tick(now: now), node: i) }
                }
            }
            for i in honest {
                peakBuffered = max(peakBuffered, machines[i].bufferedBytes)
                peakReassembly = max(peakReassembly, transports[i].reassemblyBytes)
                peakReassemblyFromAdversary = max(peakReassemblyFromAdversary, transports[i].reassemblyBytes(from: adversary))
            }
        }
    }

    private mutating func process(_ event: Event) {
        switch event {
        case let .datagram(bytes, source, to):
            guard stopped[to] == nil else { return }
            transports[to].receiveDatagram(bytes, from: source, now: now)
            settle(to)
        case let .trained(node, round):
            guard stopped[node] == nil else { return }
            let step = Float(0.5 / Double(round))
            models[node] = zip(models[node], targets[node]).map { $0 + ($1 - $0) * step }
            sent[round, default: [:]][node] = models[node]
            let model = NodeMachine.TrainedModel(parameters: models[node], sampleCount: sampleCounts[node])
            handle(machines[node].trained(model, now: now), node: node)
        }
    }

    /// Carries out a transport's actions: datagrams onto the wire, messages to its machine.
    private mutating func settle(_ node: Int) {
        for action in transports[node].takeActions() {
            switch action {
            case let .transmit(datagram, to):
                queue.schedule(.datagram(datagram, source: node, to: to), at: now + Self.latency)
                for injection in hooks.onWire(datagram, node, to, now) {
                    queue.schedule(.datagram(injection.datagram, source: injection.source, to: injection.to),
                                   at: now + Self.latency + .microseconds(1))
                }
            case let .deliver(message, from):
                handle(machines[node].receive(from: from, bytes: message, now: now), node: node)
            case .acknowledged, .sendFailed:
                break
            }
        }
    }

    private mutating func handle(_ actions: [NodeMachine.Action], node: Int) {
        for action in actions {
            switch action {
            case let .send(to, bytes):
                if to == adversary, node != adversary { toAdversary.append((node, bytes)) }
                let messages = node == adversary ? hooks.rewrite(to, bytes, now) : [(to, bytes)]
                for (recipient, message) in messages {
                    _ = try? transports[node].send(message, to: recipient, now: now)
                }
                settle(node)
            case let .train(round):
                // Nodes train at different speeds, so faster members' messages for a round reach
                // slower ones while they still train, and must wait in their buffers.
                queue.schedule(.trained(node: node, round: round), at: now + .milliseconds(100 + 60 * Int64(node)))
            case let .aggregated(aggregation):
                aggregations[node, default: []].append(aggregation)
                let before = models[node]
                if let average = aggregation.average { models[node] = average }
                let diff = zip(before, models[node]).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
                let norm = before.reduce(0.0) { $0 + Double($1 * $1) }
                let loss = zip(models[node], targets[node]).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
                handle(machines[node].finishRound(aggregation.round, relativeChange: norm > 0 ? (diff / norm).squareRoot() : 1,
                                                  validationLoss: loss, now: now), node: node)
            case .stop:
                stopped[node] = machines[node].lastCompletedRound
            case .checkpoint, .peerStatus, .log, .joining:
                break
            }
        }
    }

    // MARK: What the tests check

    /// Problems with what honest nodes did: a failed round, an honest member missing from an
    /// average, an average that is not the exact weighted mean of what its contributors sent,
    /// or stopping at different rounds.
    /// With `tolerateAdversaryInput`, rounds whose average includes the adversary's input and
    /// rounds that failed are not problems: a member that lies about its own input can always
    /// spoil a sum (model poisoning, outside the threat model, SPEC §12).
    func honestProblems(tolerateAdversaryInput: Bool = false) -> [String] {
        var problems: [String] = []
        for node in honest {
            guard let last = stopped[node] else { problems.append("node \(node) did not stop"); continue }
            if last != stopped[honest[0]] { problems.append("node \(node) stopped after round \(last), node \(honest[0]) after \(stopped[honest[0]] ?? 0)") }
            for aggregation in aggregations[node] ?? [] {
                let where_ = "node \(node) round \(aggregation.round)"
                guard let average = aggregation.average else {
                    if !tolerateAdversaryInput { problems.append("\(where_) failed: \(aggregation.failure ?? "?")") }
                    continue
                }
                if tolerateAdversaryInput, aggregation.contributors.contains(adversary) { continue }
                let missing = aggregation.group.filter { $0 != adversary && !aggregation.contributors.contains($0) }
                if !missing.isEmpty, !tolerateAdversaryInput { problems.append("\(where_) dropped honest members \(missing)") }
                let inputs = aggregation.contributors.compactMap { sent[aggregation.round]?[$0] }
                guard inputs.count == aggregation.contributors.count else {
                    problems.append("\(where_) averaged a model nobody sent")
                    continue
                }
                let weights = aggregation.contributors.map { Double(sampleCounts[$0]) }
                for j in average.indices {
                    let expected = zip(inputs, weights).reduce(0.0) { $0 + Double($1.0[j]) * $1.1 } / weights.reduce(0, +)
                    if abs(Double(average[j]) - expected) > 1e-5 {
                        problems.append("\(where_) coordinate \(j): \(average[j]) instead of \(expected)")
                        break
                    }
                }
            }
        }
        return problems
    }

    /// Honest rounds whose average includes the adversary's model (its genuine traffic still worked).
    var roundsWithAdversary: Int {
        honest.flatMap { aggregations[$0] ?? [] }.filter { $0.average != nil && $0.contributors.contains(adversary) }.count
    }

    /// Honest members whose self-mask seed and mask key the adversary could both rebuild in some
    /// round, from its own shares plus what honest responders sent it (SPEC §7.5): with both, their
    /// masked input would be an open book. Unmask responses are read straight off the wire format
    /// (SPEC §7.4): envelope (9 bytes), header (20), status, then the seed and key bitmaps.
    func exposedToAdversary(threshold: Int) -> [(round: UInt64, member: Int)] {
        var seedHolders: [UInt64: [Int: Set<Int>]] = [:], keyHolders: [UInt64: [Int: Set<Int>]] = [:]
        for (from, message) in toAdversary {
            guard case let .secureAggregation(round, payload)? = NodeEnvelope(bytes: message),
                  payload.count >= 23, payload[1] == 5, payload[20] == 0 else { continue }
            for bit in 0..<8 {
                if payload[21] & (1 << bit) != 0 { seedHolders[round, default: [:]][bit, default: []].insert(from) }
                if payload[22] & (1 << bit) != 0 { keyHolders[round, default: [:]][bit, default: []].insert(from) }
            }
        }
        var exposed: [(UInt64, Int)] = []
        for (round, owners) in seedHolders {
            for (owner, holders) in owners where holders.count + 1 >= threshold
                && (keyHolders[round]?[owner]?.count ?? 0) + 1 >= threshold {
                exposed.append((round, owner))
            }
        }
        return exposed
    }
}

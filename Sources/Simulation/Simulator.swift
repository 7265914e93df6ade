import Crypto
import Foundation
import Learning
import Node
import Privacy
import Transport

/// Many nodes in one process: the same `NodeMachine`s and `NodeLearner`s as `gossipnode run`,
/// over the in-memory `VirtualNetwork` on a virtual clock. Same settings and seed, same run, bit
/// for bit: every source of randomness is seeded and nothing that affects the run depends on the
/// iteration order of a dictionary or set.
public struct Simulator {
    public let settings: Settings
    public let peers: PeersFile
    private let names: [String]
    private let publicKeys: [PublicKey]
    private let weightCap: Double
    private let groupSchedule: GroupSchedule
    /// Computed once: `PeersFile.networkID` hashes the whole peer list.
    private let networkID: [UInt8]
    var network: VirtualNetwork
    var machines: [NodeMachine?]
    var hosts: [NodeHost?]
    var liveCount = 0
    private var rngs: [DeterministicRandom]
    /// Each node's shard until its learner holds it, and again while the node is down: one copy
    /// of the training data in memory, not two.
    var shards: [Dataset?]
    /// The (possibly sampled) test set, and which nodes evaluate on it.
    private let test: Dataset?
    private let evaluated: [Bool]
    public let testExamples: Int
    private let initialModels: (Int) -> ModelCheckpoint
    /// What a crashed node finds on "disk" when it restarts.
    var saved: [(checkpoint: NodeCheckpoint?, ledger: PrivacyLedger?)]
    /// The last round each node joined, kept across its restarts as `run` keeps it on disk.
    var joined: [UInt64]
    var pendingTraining: [NodeMachine.TrainedModel?]
    var scheduledTick: [Duration?]
    private var roundStarted: [UInt64: Duration] = [:]
    private var rows: [UInt64: [RoundRow]] = [:]
    private var bytesAtLastReport: [Int]
    /// Bytes sent and received in a node's earlier lives (its transport's counters restart at 0).
    var bytesOfEarlierLives: [(sent: Int, received: Int)]
    /// Nodes that stopped (rather than crashed): once one has, nodes still down stay down.
    var stoppedCount = 0
    /// Crashed nodes and the round whose start (by the first node to reach it) brings them back.
    var restartAt: [Int: UInt64] = [:]
    /// Nodes whose restart round has come: they boot at their next wakeup.
    var restartDue: Set<Int> = []
    var crashedOnce: Set<Int> = []
    var crashRandom: DeterministicRandom
    /// The highest round any node has started: partitions are switched by it.
    var frontier: UInt64 = 0
    public internal(set) var outcomes: [NodeOutcome]
    /// Disagreement of the models the nodes start from (before round 1).
    public private(set) var initialDisagreement = 0.0
    private let wallStart = Date()
    private let onRound: (RoundSummary) -> Void
    let onLog: (LogLine) -> Void
    private var summarised: UInt64 = 0

    /// - Parameters:
    ///   - data: the training and test sets; node i trains on `partition`'s shard i of N.
    public init(settings: Settings, data: DataSplit, partition: PartitionScheme, dataSeed: UInt64,
                onRound: @escaping (RoundSummary) -> Void = { _ in }, onLog: @escaping (LogLine) -> Void = { _ in }) throws {
        self.settings = settings
        self.onRound = onRound
        self.onLog = onLog
        let (peers, identities) = VirtualNetwork.generatePeers(count: settings.nodes, seed: settings.seed)
        self.peers = peers
        names = peers.peers.map(\.name)
        publicKeys = peers.peers.map(\.publicKey)
        networkID = peers.networkID.bytes
        groupSchedule = GroupSchedule(networkID: networkID, publicKeys: publicKeys, groupSize: settings.groupSize,
                                      mixingMargin: settings.convergence.mixingMargin)
        let injector = settings.faults == FaultPlan() && settings.partitions.isEmpty
            ? nil : FaultInjector(plan: settings.faults, seed: settings.seed)
        network = try VirtualNetwork(peers: peers, identities: identities, configuration: settings.transport,
                                     link: settings.link, faults: injector)
        let assignment = try partition.assign(labels: data.train.labels, classCount: data.train.classCount,
                                              shards: settings.nodes, seed: dataSeed)
        shards = assignment.map { data.train.subset(Array($0.prefix(settings.examplesPerNode ?? $0.count))) }
        weightCap = Double(assignment.reduce(0) { $0 + min($1.count, settings.examplesPerNode ?? $1.count) })
        (test, testExamples) = Self.testSample(data.test, plan: settings.evaluation, seed: dataSeed)
        evaluated = {
            var flags = [Bool](repeating: false, count: settings.nodes)
            for node in settings.evaluation.evaluatedNodes(of: settings.nodes) { flags[node] = true }
            return flags
        }()
        let spec = settings.learner.model, inputs = data.train.featureCount, classes = data.train.classCount
        try spec.validate(inputCount: inputs, classCount: classes)
        let independent = settings.independentInit
        initialModels = { node in
            var random = SeededGenerator(seed: independent ? dataSeed &+ 0x1_0000 &+ UInt64(node) : dataSeed)
            return ModelCheckpoint(model: Model(spec: spec, inputCount: inputs, classCount: classes, rng: &random))
        }
        machines = Array(repeating: nil, count: settings.nodes)
        hosts = Array(repeating: nil, count: settings.nodes)
        rngs = (0..<settings.nodes).map { DeterministicRandom(seed: settings.seed &+ UInt64($0) &* 0x9E37_79B9) }
        saved = Array(repeating: (nil, nil), count: settings.nodes)
        joined = Array(repeating: 0, count: settings.nodes)
        pendingTraining = Array(repeating: nil, count: settings.nodes)
        scheduledTick = Array(repeating: nil, count: settings.nodes)
        bytesAtLastReport = Array(repeating: 0, count: settings.nodes)
        bytesOfEarlierLives = Array(repeating: (0, 0), count: settings.nodes)
        crashRandom = DeterministicRandom(seed: settings.seed ^ 0xC4A5)
        outcomes = peers.peers.map { NodeOutcome(name: $0.name, bytesSent: 0, bytesReceived: 0, crashes: 0) }
        initialDisagreement = independent
            ? Self.disagreement((0..<settings.nodes).map { initialModels($0).model.parameters }) : 0
        for node in 0..<settings.nodes { try boot(node) }
    }

    /// The test examples to evaluate on: all, or a seeded sample of `plan.examples` (kept in order).
    private static func testSample(_ test: Dataset, plan: EvaluationPlan, seed: UInt64) -> (Dataset?, Int) {
        guard test.count > 0, plan.nodes != 0, plan.examples != 0 else { return (nil, 0) }
        guard let wanted = plan.examples, wanted < test.count else { return (test, test.count) }
        var random = SeededGenerator(seed: seed ^ 0x7E57)
        var indices = Array(0..<test.count)
        indices.shuffle(using: &random)
        return (test.subset(indices.prefix(wanted).sorted()), wanted)
    }

    /// Starts (or restarts from its saved state) node `node`.
    mutating func boot(_ node: Int) throws {
        let state = saved[node]
        var checkpoint = initialModels(node)
        if let bytes = state.checkpoint?.model { checkpoint = try ModelCheckpoint(bytes: bytes, source: "node\(node) checkpoint") }
        guard let shard = shards[node] else { throw SimulationError("node\(node) has no training data to start with") }
        var learner = try NodeLearner(settings: settings.learner, shard: shard, initial: checkpoint, stateDirectory: nil)
        shards[node] = nil
        if let ledger = state.ledger { learner.restore(ledger: ledger) }
        if let saved = state.checkpoint { learner.restore(slowMomentumBuffer: saved.slowMomentum) }
        hosts[node] = NodeHost(name: names[node], learner: learner, test: evaluated[node] ? test : nil, checkpoints: nil,
                               evalEvery: settings.evalEvery)
        let machineSettings = NodeMachine.Settings(
            networkID: networkID, peers: publicKeys, me: node, groupSize: settings.groupSize,
            minimumThreshold: settings.minimumThreshold, phaseTimeout: settings.phaseTimeout, joinTimeout: settings.joinTimeout,
            clipRange: settings.clipRange, weightCap: weightCap, convergence: settings.convergence, groupSchedule: groupSchedule)
        var seed = [UInt8](repeating: 0, count: 32)
        seed.withUnsafeMutableBytes { rngs[node].fill($0) }
        machines[node] = NodeMachine(settings: machineSettings, resumeAfter: state.checkpoint?.round ?? 0,
                                     convergence: state.checkpoint?.convergence, joinedBefore: joined[node], seed: seed,
                                     now: network.now)
        liveCount += 1
        handle(machines[node]!.start(now: network.now), node: node)
    }

    /// Runs until every node has stopped (or crashed for good), or `limit` of virtual time passes.
    public mutating func run(limit: Duration = .seconds(86_400)) throws {
        while true {
            try restartIfEveryNodeIsDown()
            guard let (time, event) = network.nextEvent(), time <= limit else { break }
            switch event {
            case let .delivered(bytes, from, to):
                guard machines[to] != nil else { continue }
                handle(machines[to]!.receive(from: from, bytes: bytes, now: time), node: to)
            case let .wakeup(node, tag):
                guard machines[node] != nil else {
                    if tag == 2, restartDue.remove(node) != nil { try restart(node) }
                    continue
                }
                if tag == 1, let model = pendingTraining[node] {
                    pendingTraining[node] = nil
                    handle(machines[node]!.trained(model, now: time), node: node)
                } else if tag == 0 {
                    scheduledTick[node] = nil
                    handle(machines[node]!.tick(now: time), node: node)
                }
            case .acknowledged, .sendFailed:
                continue
            }
            if liveCount == 0 && restartAt.isEmpty && restartDue.isEmpty { break }
        }
        for node in machines.indices {
            if machines[node] != nil { outcomes[node].testAccuracy = hosts[node]?.lastTestAccuracy }
            (outcomes[node].bytesSent, outcomes[node].bytesReceived) = bytes(of: node)
            outcomes[node].pendingRestart = restartAt[node]
        }
    }

    /// Bytes `node` sent and received so far, over all its lives.
    func bytes(of node: Int) -> (sent: Int, received: Int) {
        let metrics = network.metrics(of: node) ?? TransportMetrics()
        return (bytesOfEarlierLives[node].sent + metrics.bytesSent, bytesOfEarlierLives[node].received + metrics.bytesReceived)
    }

    /// A line for the operator: an injected fault (crash, restart, partition) or a node's own log.
    public enum LogLine: Sendable, Equatable {
        case fault(String)
        case node(Int, String)

        public var text: String {
            switch self {
            case let .fault(text): return text
            case let .node(node, text): return "node\(node): \(text)"
            }
        }
    }

    /// Virtual time now, and wall-clock time since the simulator was made.
    public var virtualSeconds: Double { network.now.seconds }
    public var wallSeconds: Double { Date().timeIntervalSince(wallStart) }

    /// Datagrams each fault touched so far.
    public var faultCounts: FaultCounts { network.faults?.counts ?? FaultCounts() }

    private mutating func handle(_ actions: [NodeMachine.Action], node: Int) {
        let now = network.now
        for action in actions {
            guard machines[node] != nil else { return }
            switch action {
            case let .send(to, bytes):
                _ = try? network.send(bytes, from: node, to: to)
            case let .train(round):
                advanceFrontier(to: round)
                if maybeCrash(node, at: round) { return }
                roundStarted[round] = roundStarted[round] ?? now
                do {
                    let model = try hosts[node]!.train(rng: &rngs[node])
                    pendingTraining[node] = model
                    let steps = hosts[node]!.learner.settings.localSteps
                    network.scheduleWakeup(node: node, at: now + settings.stepTime * steps, tag: 1)
                } catch {
                    onLog(.node(node, "training failed: \(error)"))
                    stopNode(node, reason: .failure("\(error)"))
                    return
                }
            case let .aggregated(aggregation):
                record(aggregation, node: node, now: now)
            case let .checkpoint(round):
                saved[node] = (hosts[node]!.snapshot(round: round, convergence: machines[node]!.convergence),
                               hosts[node]!.learner.privacyLedger)
            case let .joining(round):
                joined[node] = round
            case let .stop(reason):
                stopNode(node, reason: reason)
                return
            case let .peerStatus(peer, status):
                if case .dead = status { onLog(.node(node, "peer \(peer) declared dead")) }
            case let .log(text):
                onLog(.node(node, text))
            }
        }
        scheduleTick(node)
    }

    /// Applies a round's outcome on the node's host, keeps its row for the summary, and finishes the round.
    private mutating func record(_ aggregation: NodeMachine.Aggregation, node: Int, now: Duration) {
        let (change, loss, report) = hosts[node]!.apply(aggregation, names: names)
        var filled = report
        (filled.bytesSent, filled.bytesReceived) = bytes(of: node)
        filled.seconds = (now - (roundStarted[aggregation.round] ?? now)).seconds
        let sentThisRound = max(0, filled.bytesSent - bytesAtLastReport[node])
        bytesAtLastReport[node] = filled.bytesSent
        if aggregation.failure == nil { outcomes[node].roundsAggregated += 1 } else { outcomes[node].roundsFailed += 1 }
        // A node that comes back late to a round already summarised (after a restart) is left out.
        if aggregation.round > summarised {
            rows[aggregation.round, default: []].append(
                RoundRow(node: node, report: filled, parameters: hosts[node]!.learner.parameters, bytesThisRound: sentThisRound))
        }
        if let failure = aggregation.failure { onLog(.node(node, "round \(aggregation.round) failed: \(failure)")) }
        handle(machines[node]!.finishRound(aggregation.round, relativeChange: change, validationLoss: loss, now: now),
               node: node)
        summarise()
    }

    private mutating func scheduleTick(_ node: Int) {
        guard let machine = machines[node] else { return }
        let deadline = max(machine.nextDeadline, network.now)
        if let scheduled = scheduledTick[node], scheduled <= deadline { return }
        scheduledTick[node] = deadline
        network.scheduleWakeup(node: node, at: deadline, tag: 0)
    }

    private mutating func stopNode(_ node: Int, reason: StopReason) {
        outcomes[node].stopRound = machines[node]?.lastCompletedRound
        // As in `run`: counted over all the node's lives, so a restart does not hide earlier rounds.
        outcomes[node].reason = reason.unlessNoRoundAggregated(completed: outcomes[node].roundsAggregated,
                                                               failed: outcomes[node].roundsFailed)
        outcomes[node].testAccuracy = hosts[node]?.finalTestAccuracy()
        outcomes[node].epsilon = hosts[node]?.learner.epsilon
        (outcomes[node].bytesSent, outcomes[node].bytesReceived) = bytes(of: node)
        machines[node] = nil
        liveCount -= 1
        stoppedCount += 1
        summarise()
    }

    /// Emits the summary of every round that all running nodes have applied (rounds that every
    /// node skipped while catching up have no summary).
    mutating func summarise() {
        while let round = rows.keys.min() {
            // A node that has applied `round` has a later lastCompletedRound; the scan stops at
            // the first node still behind, which is early in all but the last call of a round.
            if machines.contains(where: { $0.map { $0.lastCompletedRound < round } ?? false }) { return }
            let done = rows.removeValue(forKey: round) ?? []
            summarised = round
            onRound(Self.summarise(round: round, rows: done.sorted { $0.node < $1.node },
                                   virtualSeconds: network.now.seconds, wallSeconds: Date().timeIntervalSince(wallStart)))
        }
    }
}

/// A simulation that cannot go on (never a node's ordinary failure, which the summary reports).
public struct SimulationError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

import Crypto
import Foundation
import Learning
import Node
import Privacy
import Transport

/// Many nodes in one process: the same `NodeMachine`s and `NodeLearner`s as `gossipnode run`,
/// over the in-memory `VirtualNetwork` on a virtual clock. Same settings and seed, same run.
public struct Simulator {
    public struct Settings: Sendable {
        public var nodes: Int
        public var seed: UInt64
        /// Machine settings for every node (peers, network id and index are filled in per node).
        public var groupSize: Int
        public var minimumThreshold: Int
        public var phaseTimeout: Duration
        public var joinTimeout: Duration
        public var clipRange: Double
        public var convergence: ConvergenceRule.Settings
        public var learner: NodeLearner.Settings
        public var evalEvery: Int
        /// Virtual time one local optimisation step takes (so rounds take time as on a machine).
        public var stepTime: Duration
        public var faults: FaultPlan
        public var link: LinkModel
        /// node → (crash round, restart round or nil): the node dies when it starts `crash round`.
        public var crashes: [Int: (crash: UInt64, restart: UInt64?)]
        /// Probability that a node crashes at any round start (and restarts two rounds later).
        public var crashRate: Double
        public var transport: TransportConfiguration

        public init(nodes: Int, seed: UInt64, groupSize: Int, minimumThreshold: Int = 3,
                    phaseTimeout: Duration = .seconds(5), joinTimeout: Duration = .seconds(20), clipRange: Double = 8,
                    convergence: ConvergenceRule.Settings, learner: NodeLearner.Settings, evalEvery: Int = 1,
                    stepTime: Duration = .milliseconds(2), faults: FaultPlan = FaultPlan(), link: LinkModel = LinkModel(),
                    crashes: [Int: (crash: UInt64, restart: UInt64?)] = [:], crashRate: Double = 0,
                    transport: TransportConfiguration = TransportConfiguration()) {
            self.nodes = nodes
            self.seed = seed
            self.groupSize = groupSize
            self.minimumThreshold = minimumThreshold
            self.phaseTimeout = phaseTimeout
            self.joinTimeout = joinTimeout
            self.clipRange = clipRange
            self.convergence = convergence
            self.learner = learner
            self.evalEvery = evalEvery
            self.stepTime = stepTime
            self.faults = faults
            self.link = link
            self.crashes = crashes
            self.crashRate = crashRate
            self.transport = transport
        }
    }

    /// The network-wide view of one round, once every live node has applied it.
    public struct RoundSummary: Sendable {
        public var round: UInt64
        public var nodesReporting: Int
        public var meanTestAccuracy: Double?
        public var minTestAccuracy: Double?
        public var maxTestAccuracy: Double?
        /// max over nodes of ‖θ_node − mean θ‖ / ‖mean θ‖.
        public var disagreement: Double
        public var failedGroups: Int
        public var dropouts: Int
        public var meanBytesPerNode: Double
        public var meanEpsilon: Double?
        public var virtualSeconds: Double
        public var wallSeconds: Double
    }

    public struct NodeOutcome: Sendable {
        public var name: String
        public var stopRound: UInt64?
        public var reason: StopReason?
        public var testAccuracy: Double?
        public var epsilon: Double?
        public var bytesSent: Int
        public var bytesReceived: Int
    }

    public let settings: Settings
    public let peers: PeersFile
    private var network: VirtualNetwork
    private var machines: [NodeMachine?]
    private var hosts: [NodeHost?]
    private var rngs: [DeterministicRandom]
    private let shards: [Dataset]
    private let test: Dataset?
    private let initial: ModelCheckpoint
    /// What a crashed node finds on "disk" when it restarts.
    private var saved: [(checkpoint: NodeCheckpoint?, ledger: PrivacyLedger?)]
    private var pendingTraining: [NodeMachine.TrainedModel?]
    private var scheduledTick: [Duration?]
    private var roundStarted: [UInt64: Duration] = [:]
    private var reports: [UInt64: [Int: RoundReport]] = [:]
    private var parametersAt: [UInt64: [Int: [Float]]] = [:]
    private var restartAt: [Int: UInt64] = [:]
    private var crashedOnce: Set<Int> = []
    private var crashRandom: DeterministicRandom
    public private(set) var outcomes: [NodeOutcome]
    private let wallStart = Date()
    private let onRound: (RoundSummary) -> Void
    private let onLog: (String) -> Void
    private var summarised: UInt64 = 0

    /// - Parameters:
    ///   - data: the training and test sets; node i trains on `partition`'s shard i of N.
    public init(settings: Settings, data: DataSplit, partition: PartitionScheme, dataSeed: UInt64,
                onRound: @escaping (RoundSummary) -> Void = { _ in }, onLog: @escaping (String) -> Void = { _ in }) throws {
        self.settings = settings
        self.onRound = onRound
        self.onLog = onLog
        let (peers, identities) = VirtualNetwork.generatePeers(count: settings.nodes, seed: settings.seed)
        self.peers = peers
        network = try VirtualNetwork(peers: peers, identities: identities, configuration: settings.transport,
                                     link: settings.link, faults: FaultInjector(plan: settings.faults, seed: settings.seed))
        let assignment = try partition.assign(labels: data.train.labels, classCount: data.train.classCount,
                                              shards: settings.nodes, seed: dataSeed)
        shards = assignment.map { data.train.subset($0) }
        test = data.test.count > 0 ? data.test : nil
        var initRandom = SeededGenerator(seed: dataSeed)
        initial = ModelCheckpoint(model: Model(spec: settings.learner.model, inputCount: data.train.featureCount,
                                               classCount: data.train.classCount, rng: &initRandom))
        machines = Array(repeating: nil, count: settings.nodes)
        hosts = Array(repeating: nil, count: settings.nodes)
        rngs = (0..<settings.nodes).map { DeterministicRandom(seed: settings.seed &+ UInt64($0) &* 0x9E37_79B9) }
        saved = Array(repeating: (nil, nil), count: settings.nodes)
        pendingTraining = Array(repeating: nil, count: settings.nodes)
        scheduledTick = Array(repeating: nil, count: settings.nodes)
        crashRandom = DeterministicRandom(seed: settings.seed ^ 0xC4A5)
        outcomes = peers.peers.map { NodeOutcome(name: $0.name, bytesSent: 0, bytesReceived: 0) }
        for node in 0..<settings.nodes { try boot(node) }
    }

    /// Starts (or restarts from its saved state) node `node`.
    private mutating func boot(_ node: Int) throws {
        let state = saved[node]
        var checkpoint = initial
        if let bytes = state.checkpoint?.model { checkpoint = try ModelCheckpoint(bytes: bytes, source: "node\(node) checkpoint") }
        var learner = try NodeLearner(settings: settings.learner, shard: shards[node], initial: checkpoint, stateDirectory: nil)
        if let ledger = state.ledger { learner.restore(ledger: ledger) }
        hosts[node] = NodeHost(name: peers.peers[node].name, learner: learner, test: test, checkpoints: nil,
                               evalEvery: settings.evalEvery)
        let machineSettings = NodeMachine.Settings(
            networkID: peers.networkID.bytes, peers: peers.peers.map(\.publicKey), me: node, groupSize: settings.groupSize,
            minimumThreshold: settings.minimumThreshold, phaseTimeout: settings.phaseTimeout, joinTimeout: settings.joinTimeout,
            clipRange: settings.clipRange, weightCap: Double(shards.map(\.count).reduce(0, +)), convergence: settings.convergence)
        var seed = [UInt8](repeating: 0, count: 32)
        seed.withUnsafeMutableBytes { rngs[node].fill($0) }
        machines[node] = NodeMachine(settings: machineSettings, resumeAfter: state.checkpoint?.round ?? 0,
                                     convergence: state.checkpoint?.convergence, seed: seed, now: network.now)
        handle(machines[node]!.start(now: network.now), node: node)
    }

    /// Runs until every node has stopped (or crashed for good), or `limit` of virtual time passes.
    public mutating func run(limit: Duration = .seconds(86_400)) throws {
        while let (time, event) = network.nextEvent(), time <= limit {
            switch event {
            case let .delivered(bytes, from, to):
                guard machines[to] != nil else { continue }
                handle(machines[to]!.receive(from: from, bytes: bytes, now: time), node: to)
            case let .wakeup(node, tag):
                guard machines[node] != nil else {
                    if tag == 2, restartAt[node] != nil { try restart(node) }
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
            if machines.allSatisfy({ $0 == nil }) && restartAt.isEmpty { break }
        }
        for node in machines.indices where machines[node] != nil {
            outcomes[node].testAccuracy = hosts[node]?.lastTestAccuracy
        }
    }

    private mutating func handle(_ actions: [NodeMachine.Action], node: Int) {
        let now = network.now
        for action in actions {
            guard machines[node] != nil else { return }
            switch action {
            case let .send(to, bytes):
                _ = try? network.send(bytes, from: node, to: to)
            case let .train(round):
                if maybeCrash(node, at: round) { return }
                roundStarted[round] = roundStarted[round] ?? now
                do {
                    let model = try hosts[node]!.train(rng: &rngs[node])
                    pendingTraining[node] = model
                    let steps = hosts[node]!.learner.settings.localSteps
                    network.scheduleWakeup(node: node, at: now + settings.stepTime * steps, tag: 1)
                } catch {
                    onLog("node\(node): training failed: \(error)")
                    stopNode(node, reason: .failure("\(error)"))
                    return
                }
            case let .aggregated(aggregation):
                let names = peers.peers.map(\.name)
                let (change, loss, report) = hosts[node]!.apply(aggregation, names: names)
                var filled = report
                let metrics = network.metrics(of: node) ?? TransportMetrics()
                filled.bytesSent = metrics.bytesSent
                filled.bytesReceived = metrics.bytesReceived
                filled.seconds = (now - (roundStarted[aggregation.round] ?? now)).seconds
                reports[aggregation.round, default: [:]][node] = filled
                if let failure = aggregation.failure { onLog("node\(node): round \(aggregation.round) failed: \(failure)") }
                parametersAt[aggregation.round, default: [:]][node] = hosts[node]!.learner.parameters
                handle(machines[node]!.finishRound(aggregation.round, relativeChange: change, validationLoss: loss, now: now),
                       node: node)
                summarise()
            case let .checkpoint(round):
                saved[node] = (NodeCheckpoint(round: round, convergence: machines[node]!.convergence,
                                              model: hosts[node]!.learner.checkpoint().serialized()),
                               hosts[node]!.learner.privacyLedger)
            case let .stop(reason):
                stopNode(node, reason: reason)
                return
            case let .peerStatus(peer, status):
                if case .dead = status { onLog("node\(node): peer \(peer) declared dead") }
            case let .log(text):
                onLog("node\(node): \(text)")
            }
        }
        scheduleTick(node)
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
        outcomes[node].reason = reason
        outcomes[node].testAccuracy = hosts[node]?.finalTestAccuracy()
        outcomes[node].epsilon = hosts[node]?.learner.epsilon
        let metrics = network.metrics(of: node) ?? TransportMetrics()
        outcomes[node].bytesSent = metrics.bytesSent
        outcomes[node].bytesReceived = metrics.bytesReceived
        machines[node] = nil
        summarise()
    }

    /// Crashes `node` if the schedule or the crash rate says so when it starts `round`.
    private mutating func maybeCrash(_ node: Int, at round: UInt64) -> Bool {
        var restart: UInt64?
        if let planned = settings.crashes[node], planned.crash == round, !crashedOnce.contains(node) {
            crashedOnce.insert(node)
            restart = planned.restart
        } else if settings.crashRate > 0, Double(crashRandom.nextUInt64() >> 11) / Double(1 << 53) < settings.crashRate {
            restart = round + 2
        } else {
            return false
        }
        onLog("node\(node): crashed at the start of round \(round)" + (restart.map { "; restarts at round \($0)" } ?? ""))
        // What is on disk survives: the last checkpoint and the ledger (saved before every send).
        saved[node].ledger = hosts[node]?.learner.privacyLedger
        network.crash(node)
        machines[node] = nil
        hosts[node] = nil
        pendingTraining[node] = nil
        scheduledTick[node] = nil
        if let restart {
            restartAt[node] = restart
            // Restart after about (restart - round) rounds' worth of virtual time.
            let roundTime = settings.stepTime * settings.learner.localSteps + settings.phaseTimeout
            network.scheduleWakeup(node: node, at: network.now + roundTime * Int(restart - round), tag: 2)
        } else {
            outcomes[node].reason = .failure("crashed at round \(round)")
        }
        return true
    }

    private mutating func restart(_ node: Int) throws {
        restartAt[node] = nil
        try network.restart(node)
        onLog("node\(node): restarted from its checkpoint of round \(saved[node].checkpoint?.round ?? 0)")
        try boot(node)
    }

    /// Emits the summary of every round that all running nodes have applied.
    private mutating func summarise() {
        let running = machines.indices.filter { machines[$0] != nil }
        while true {
            let round = summarised + 1
            guard let done = reports[round] else { return }
            let waiting = running.filter { node in done[node] == nil && (machines[node]?.lastCompletedRound ?? 0) < round }
            guard waiting.isEmpty else { return }
            summarised = round
            let rows = Array(done.values)
            let accuracies = rows.compactMap(\.testAccuracy)
            let epsilons = rows.compactMap(\.epsilon)
            let models = Array(parametersAt[round, default: [:]].values)
            onRound(RoundSummary(
                round: round, nodesReporting: rows.count,
                meanTestAccuracy: accuracies.isEmpty ? nil : accuracies.reduce(0, +) / Double(accuracies.count),
                minTestAccuracy: accuracies.min(), maxTestAccuracy: accuracies.max(),
                disagreement: Self.disagreement(models),
                failedGroups: rows.filter { $0.failure != nil }.count,
                dropouts: rows.reduce(0) { $0 + $1.dropouts.count },
                meanBytesPerNode: rows.isEmpty ? 0 : Double(rows.reduce(0) { $0 + $1.bytesSent }) / Double(rows.count),
                meanEpsilon: epsilons.isEmpty ? nil : epsilons.reduce(0, +) / Double(epsilons.count),
                virtualSeconds: network.now.seconds, wallSeconds: Date().timeIntervalSince(wallStart)))
            reports[round] = nil
            parametersAt[round] = nil
        }
    }

    /// max over models of ‖θ − mean‖ / ‖mean‖.
    static func disagreement(_ models: [[Float]]) -> Double {
        guard let first = models.first, models.count > 1 else { return 0 }
        var mean = [Double](repeating: 0, count: first.count)
        for model in models { for i in model.indices { mean[i] += Double(model[i]) } }
        for i in mean.indices { mean[i] /= Double(models.count) }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var worst = 0.0
        for model in models {
            var distance = 0.0
            for i in model.indices {
                let d = Double(model[i]) - mean[i]
                distance += d * d
            }
            worst = max(worst, distance.squareRoot())
        }
        return norm > 0 ? worst / norm : worst
    }
}

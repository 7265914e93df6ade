import Foundation
import Learning
import Node
import Simulation
import Transport

/// `gossipnode simulate`: N real nodes in one process over the in-memory network, on a virtual clock.
enum SimulateCommand {
    static let simulationOptions: [OptionSpec] = [
        .value("nodes", "n", help: "Simulated nodes; node I (0-based) trains on shard I+1/N.", default: "10"),
        .value("examples-per-node", "n", help: "Keep at most this many training examples of each node's shard (to compare node counts at equal data per node).",
               derivedDefault: "the whole shard"),
        .value("eval-nodes", "n", help: "Evaluate test accuracy on this many evenly spaced nodes only (0: none).",
               derivedDefault: "all"),
        .value("eval-examples", "n", help: "Evaluate on this many test examples, sampled once with --seed.",
               derivedDefault: "the whole test set"),
        .value("init", "how", help: "shared: every node starts from the same model (as in 'run'); independent: each node from its own random model (a mixing experiment, with --local-steps 0).",
               default: "shared"),
        .value("step-ms", "ms", help: "Virtual time one local optimisation step takes.", default: "2"),
        .flag("json", help: "Write one JSON object per round and one for the summary instead of text."),
        .flag("verbose", help: "Also print every node's log lines (failed rounds, dead peers) on standard error."),
    ]

    /// `run`'s training flags without those that `simulate` decides itself.
    static var trainingOptions: [OptionSpec] {
        TrainingFlags.options.compactMap { option in
            switch option.name {
            case "shard", "threads", "standardize": return nil
            case "partition": return .value("data-partition", "scheme", help: option.help, default: option.defaultValue)
            case "seed": return .value("seed", "n", help: "Seed for everything: keys, initialisation, partitioning, shuffling, faults.",
                                       default: "1")
            default: return option
            }
        }
    }

    static let command = Command(
        name: "simulate",
        abstract: "Simulate N nodes in one process over an in-memory network with injected faults.",
        discussion: """
        Runs the same node and secure-aggregation state machines as 'run', one per simulated node,
        over an in-memory network on a virtual clock (no sockets, no threads): datagrams are still
        encrypted, chunked and acknowledged, and the faults below apply to them. Node I trains on
        shard I+1/N of the data, dealt by --data-partition (--partition splits the network). After
        every round, once all live nodes have applied it, prints the test accuracy across nodes
        (mean, standard deviation, min and max), the disagreement between the nodes' models (max
        over nodes of |θ - mean θ| / |mean θ|), failed groups and dropouts, bytes sent per node,
        and virtual and wall time; then a summary. The same flags and --seed give the same run,
        bit for bit. Partitions and restarts happen when the first node starts their round (a
        restart at once if every node is down). Exits 1 when a node that was not crashed for good
        failed (a node that aggregated no round failed) or never stopped, or no node finished; a
        run whose estimated memory exceeds the machine's is refused before it starts.
        """,
        options: simulationOptions + NodeFlags.options + trainingOptions + TrainingPrivacyFlags.options + FaultFlags.options,
        run: { args, console in
            let configuration = try SimulateConfiguration(args)
            return try configuration.run(console: console)
        })
}

/// The validated settings of `simulate`.
struct SimulateConfiguration {
    let nodes: Int
    let examplesPerNode: Int?
    let evalNodes: Int?
    let evalExamples: Int?
    let independentInit: Bool
    let stepTime: Duration
    let json: Bool
    let verbose: Bool
    let node: NodeFlags
    let training: TrainingFlags
    let privacy: TrainingPrivacyFlags
    let faults: FaultFlags

    init(_ args: ParsedArguments) throws {
        nodes = try args.int("nodes", in: 3...20_000)!
        examplesPerNode = try args.int("examples-per-node", in: 2...Int.max)
        evalNodes = try args.int("eval-nodes", in: 0...Int.max)
        evalExamples = try args.int("eval-examples", in: 0...Int.max)
        switch args.string("init")! {
        case "shared": independentInit = false
        case "independent": independentInit = true
        case let other: throw args.invalid("init", other, "expected shared or independent")
        }
        stepTime = .microseconds(Int64(try args.double("step-ms", in: 0...60_000)! * 1000))
        json = args.flag("json")
        verbose = args.flag("verbose")
        node = try NodeFlags(args)
        training = try TrainingFlags(args, partitionOption: "data-partition")
        privacy = try TrainingPrivacyFlags(args)
        faults = try FaultFlags(args, nodes: nodes, rounds: node.rounds)
    }

    func run(console: Console) throws -> Int32 {
        var data = try training.source.load()
        let perNode = min(data.train.count / nodes, examplesPerNode ?? .max)
        guard perNode >= 2 else {
            throw ConfigurationError("\(training.source) has \(data.train.count) training examples: too few for \(nodes) nodes "
                                     + "(each needs at least 2)")
        }
        // As `train` and `run` do, before any node is made: a model that cannot read these data or is too large.
        try training.model.validate(inputCount: data.train.featureCount, classCount: data.train.classCount)
        try checkMemory(data: data)
        if let noise = privacy.inputNoise {
            var rng = SeededGenerator(seed: training.seed ^ 0x1A9E)
            noise.apply(to: &data.train, rng: &rng)
        }
        let learner = try node.learner(training: training, privacy: privacy, shardSize: perNode - max(1, perNode / 10))
        let settings = Simulator.Settings(
            nodes: nodes, seed: training.seed, groupSize: node.groupSize, minimumThreshold: node.threshold,
            phaseTimeout: node.phaseTimeout, joinTimeout: node.joinTimeout, clipRange: node.clipRange,
            convergence: node.convergence(peers: nodes), learner: learner, evalEvery: node.evalEvery,
            examplesPerNode: examplesPerNode, evaluation: .init(nodes: evalNodes, examples: evalExamples), independentInit: independentInit,
            stepTime: stepTime, faults: faults.plan, partitions: faults.partitions,
            crashes: faults.crashes, crashRate: faults.crashRate)
        let output = SimulationOutput(json: json, console: console)
        let verbose = self.verbose
        var simulator = try Simulator(
            settings: settings, data: data, partition: training.partition, dataSeed: training.seed,
            onRound: { output.round($0) },
            onLog: { line in
                if case .fault = line { console.err(line.text) } else if verbose { console.err(line.text) }
            })
        output.header(self, simulator: simulator, data: data, learner: learner)
        try simulator.run()
        return output.summary(simulator)
    }

    /// Refuses a run whose estimated memory exceeds the machine's physical memory (it would swap
    /// for hours or abort on an allocation), naming the flags that size it.
    func checkMemory(data: DataSplit, physicalMemory: Int? = Simulator.MemoryEstimate.physicalMemory) throws {
        guard let physicalMemory,
              let parameters = training.model.parameterCount(inputCount: data.train.featureCount, classCount: data.train.classCount)
        else { return }
        let dataBytes = MemoryLayout<Float>.size * (data.train.features.count + data.test.features.count)
        let estimate = Simulator.MemoryEstimate(nodes: nodes, parameters: parameters, dataBytes: dataBytes)
        guard estimate.bytes > physicalMemory else { return }
        throw ConfigurationError("--nodes \(nodes) with --model \(training.model) (\(parameters) parameters) needs about "
                                 + Self.gigabytes(estimate.bytes) + " of memory, but this machine has "
                                 + Self.gigabytes(physicalMemory) + ": use fewer nodes or a smaller model")
    }

    private static func gigabytes(_ bytes: Int) -> String { String(format: "%.1f GB", Double(bytes) / 1e9) }
}

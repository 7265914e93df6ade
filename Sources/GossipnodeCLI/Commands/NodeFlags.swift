import Learning
import Node
import Privacy
import SecureAggregation

/// The round, group and convergence flags shared by `run` and `simulate`.
struct NodeFlags {
    static let options: [OptionSpec] = [
        .value("rounds", "n", help: "Stop after this many rounds at the latest.", default: "50"),
        .value("group-size", "k", help: "Peers per secure-aggregation group (at least 3; groups are k to 2k-1).", default: "5"),
        .value("threshold", "t", help: "Shamir threshold: members needed to finish a round (raised to a strict majority of the group and at least 3).",
               default: "3"),
        .value("local-steps", "n", help: "Local optimisation steps per round.", default: "50"),
        .value("local-epochs", "e", help: "Local passes over the shard per round (instead of --local-steps)."),
        .value("tolerance", "x", help: "Relative model change or validation-loss improvement below which a round counts as converged.",
               default: "0.002"),
        .value("patience", "n", help: "Network-wide converged rounds before the nodes agree to stop.", default: "3"),
        .value("phase-timeout", "seconds", help: "How long a secure-aggregation phase waits for slow members.", default: "10"),
        .value("join-timeout", "seconds", help: "How long a node waits for its group to finish training and join.", default: "60"),
        .value("clip-range", "b", help: "Parameters are clipped to [-b, b] for fixed-point encoding (clipping is counted and reported).",
               default: "8"),
        .value("slow-momentum", "beta", help: "Momentum across rounds (SlowMo): adopt start + m, m = beta*m + (average - start), start being where the round's training began; 0 adopts the average.",
               default: "0"),
        .value("proximal-mu", "mu", help: "FedProx: local training also minimises mu/2 * ||w - w0||^2, w0 being where the round's training began, so models on skewed shards drift less from their group's; 0: plain local training.",
               default: "0"),
        .value("eval-every", "n", help: "Evaluate on the test set every N rounds and at the end (0: only at the end).", default: "1"),
    ]

    let rounds: UInt64
    let groupSize: Int
    let threshold: Int
    let localSteps: Int?
    let localEpochs: Double?
    let tolerance: Double
    let patience: Int
    let phaseTimeout: Duration
    let joinTimeout: Duration
    let clipRange: Double
    let slowMomentum: Double
    let proximalMu: Double
    let evalEvery: Int

    init(_ args: ParsedArguments) throws {
        rounds = UInt64(try args.int("rounds", in: 1...1_000_000)!)
        groupSize = try args.int("group-size", in: 3...SecAggConfiguration.maximumGroupSize)!
        threshold = try args.int("threshold", in: 3...SecAggConfiguration.maximumGroupSize)!
        guard threshold <= groupSize else {
            throw args.invalid("threshold", String(threshold), "must not exceed --group-size \(groupSize)")
        }
        if args.wasGiven("local-steps") && args.wasGiven("local-epochs") {
            throw UsageError("give --local-steps or --local-epochs, not both")
        }
        localEpochs = try args.double("local-epochs", in: 0.001...10_000)
        localSteps = localEpochs == nil ? try args.int("local-steps", in: 0...10_000_000)! : nil
        tolerance = try args.double("tolerance", in: 0...1)!
        patience = try args.int("patience", in: 1...32)!
        phaseTimeout = .milliseconds(Int(try args.double("phase-timeout", in: 0.01...3600)! * 1000))
        joinTimeout = .milliseconds(Int(try args.double("join-timeout", in: 0.01...86_400)! * 1000))
        clipRange = try args.double("clip-range", in: 1e-6...1e6)!
        slowMomentum = try args.double("slow-momentum", in: 0...0.99)!
        proximalMu = try args.double("proximal-mu", in: 0...1000)!
        evalEvery = try args.int("eval-every", in: 0...1_000_000)!
    }

    /// Local steps per round for a shard of `shardSize` examples.
    func stepsPerRound(shardSize: Int, batchSize: Int, dp: DPSGD?) -> Int {
        if let localSteps { return localSteps }
        let perEpoch = dp?.stepsPerEpoch(datasetSize: shardSize) ?? max(1, (shardSize + batchSize - 1) / batchSize)
        return max(1, Int((Double(perEpoch) * (localEpochs ?? 1)).rounded()))
    }

    func convergence(peers: Int) -> ConvergenceRule.Settings {
        ConvergenceRule.Settings(tolerance: tolerance, patience: patience,
                                 mixingMargin: GroupSchedule.mixingMargin(peers: peers, groupSize: groupSize),
                                 maxRounds: rounds)
    }

    /// The learner settings for one node: model and optimizer from `training`, DP from `privacy`
    /// (σ calibrated for the whole run when --target-epsilon is given).
    func learner(training: TrainingFlags, privacy: TrainingPrivacyFlags, shardSize: Int) throws -> NodeLearner.Settings {
        var dp: DPSGD?
        if privacy.dp {
            // Calibrate for the whole run: rounds × steps per round.
            let plain = try privacy.algorithm(batchSize: training.batchSize, datasetSize: shardSize, epochs: 1)
            let steps = stepsPerRound(shardSize: shardSize, batchSize: training.batchSize, dp: plain)
            let epochs = max(1, Int((Double(steps) * Double(rounds) / Double(plain.stepsPerEpoch(datasetSize: shardSize))).rounded(.up)))
            dp = try privacy.algorithm(batchSize: training.batchSize, datasetSize: shardSize, epochs: epochs)
        }
        let steps = stepsPerRound(shardSize: shardSize, batchSize: training.batchSize, dp: dp)
        // A larger pull overshoots the anchor every step, and the model diverges.
        if proximalMu * Double(training.learningRate) > 1 {
            throw UsageError("--proximal-mu \(proximalMu) with --lr \(training.learningRate): mu × lr must be at most 1")
        }
        return NodeLearner.Settings(model: training.model, sgd: training.sgd(totalSteps: steps * Int(rounds)),
                                    batchSize: training.batchSize, localSteps: steps, threads: training.threads,
                                    dp: dp?.options, delta: privacy.delta, budget: privacy.budget, slowMomentum: slowMomentum,
                                    proximalMu: proximalMu)
    }
}

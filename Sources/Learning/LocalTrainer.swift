import CKernels

/// What a run of local steps did.
public struct TrainingSummary: Equatable, Sendable {
    public var steps = 0
    public var examples = 0
    public var lossSum = 0.0
    public var correct = 0
    /// Privacy parameters of the DP steps taken, run-length encoded (empty without DP).
    public var privacySteps: [DPStepRun] = []
    /// True when the algorithm refused a step (privacy budget) before the requested count.
    public var stoppedEarly = false

    public init() {}

    public var meanLoss: Double { examples > 0 ? lossSum / Double(examples) : 0 }
    public var trainingAccuracy: Double { examples > 0 ? Double(correct) / Double(examples) : 0 }

    mutating func record(_ outcome: StepOutcome) {
        steps += 1
        examples += outcome.examples
        lossSum += outcome.lossSum
        correct += outcome.correct
        if let dp = outcome.privacy {
            if privacySteps.last?.step == dp { privacySteps[privacySteps.count - 1].count += 1 }
            else { privacySteps.append(DPStepRun(step: dp, count: 1)) }
        }
    }
}

/// Trains a model in place on local data: the entry point a node calls between aggregation rounds.
/// Holds the model, optimizer state and reusable buffers; randomness is injected per call.
public struct LocalTrainer<Algorithm: TrainingAlgorithm> {
    public var model: Model
    public var optimizerState: OptimizerState
    public var options: SGDOptions
    public var algorithm: Algorithm
    public let threads: Int
    /// FedProx's pull towards an anchor in every step; nil: none.
    public var proximal: ProximalTerm?
    private var workspace: Workspace?

    public init(model: Model, optimizerState: OptimizerState? = nil, options: SGDOptions, algorithm: Algorithm, threads: Int = 1) {
        self.model = model
        self.optimizerState = optimizerState ?? OptimizerState(parameterCount: model.parameterCount)
        self.options = options
        self.algorithm = algorithm
        self.threads = max(1, threads)
    }

    /// Takes up to `steps` optimisation steps on `data` (fewer if the algorithm stops).
    public mutating func train<R: RandomNumberGenerator>(steps: Int, on data: Dataset, rng: inout R) -> TrainingSummary {
        ck_enable_flush_to_zero()
        let capacity = algorithm.maximumBatchSize(datasetSize: data.count)
        if workspace == nil || workspace!.capacity < capacity || workspace!.layers != model.layers {
            workspace = Workspace(model: model, capacity: capacity, threads: threads)
        }
        let workspace = self.workspace!
        // The caller may have changed the model since the last call (a node aggregates between calls).
        workspace.replicate(parameters: model.parameters, velocity: optimizerState.velocity)
        defer { workspace.endReplication() }
        var summary = TrainingSummary()
        for _ in 0..<steps {
            guard let outcome = algorithm.computeGradient(model: model, data: data, workspace: workspace, rng: &rng) else {
                summary.stoppedEarly = true
                break
            }
            optimizerState.apply(options, from: workspace, to: &model.parameters, proximal: proximal)
            summary.record(outcome)
        }
        return summary
    }

    /// Takes `epochs` passes' worth of steps.
    public mutating func train<R: RandomNumberGenerator>(epochs: Int, on data: Dataset, rng: inout R) -> TrainingSummary {
        train(steps: epochs * algorithm.stepsPerEpoch(datasetSize: data.count), on: data, rng: &rng)
    }
}

/// The privacy parameters of one DP-SGD step, for the Rényi-DP accountant: Poisson sampling rate q
/// and noise multiplier σ (noise standard deviation divided by the clipping norm).
public struct DPStep: Hashable, Sendable, CustomStringConvertible {
    public let samplingRate: Double
    public let noiseMultiplier: Double

    public init(samplingRate: Double, noiseMultiplier: Double) {
        self.samplingRate = samplingRate
        self.noiseMultiplier = noiseMultiplier
    }

    public var description: String { "(q=\(samplingRate), σ=\(noiseMultiplier))" }
}

/// `count` consecutive steps with the same privacy parameters (run-length form for the accountant).
public struct DPStepRun: Equatable, Sendable {
    public let step: DPStep
    public var count: Int

    public init(step: DPStep, count: Int) {
        self.step = step
        self.count = count
    }
}

/// What one step computed.
public struct StepOutcome: Sendable {
    /// Sum of the per-example losses of the examples the step used.
    public var lossSum: Double
    public var examples: Int
    public var correct: Int
    /// Set for differentially private steps.
    public var privacy: DPStep?

    public init(lossSum: Double, examples: Int, correct: Int, privacy: DPStep? = nil) {
        self.lossSum = lossSum
        self.examples = examples
        self.correct = correct
        self.privacy = privacy
    }
}

/// How one optimisation step picks its examples and forms the gradient that SGD applies:
/// plain minibatches here, DP-SGD in the Privacy module.
public protocol TrainingAlgorithm {
    /// Steps in one pass over `datasetSize` examples.
    func stepsPerEpoch(datasetSize: Int) -> Int
    /// The largest batch a step may load (sizes the workspace).
    func maximumBatchSize(datasetSize: Int) -> Int
    /// Loads a batch and leaves the averaged gradient in `workspace.gradient`; nil means stop
    /// before this step (for example, a privacy budget would be exceeded).
    mutating func computeGradient<R: RandomNumberGenerator>(
        model: Model, data: Dataset, workspace: Workspace, rng: inout R) -> StepOutcome?
}

/// Plain minibatch SGD: a fresh shuffle each epoch, consecutive batches of `batchSize`, the last one
/// smaller if the data do not divide evenly; the gradient is the batch mean.
public struct MinibatchGradient: TrainingAlgorithm {
    public let batchSize: Int
    private var order: [Int] = []
    private var cursor = 0

    public init(batchSize: Int) {
        precondition(batchSize > 0)
        self.batchSize = batchSize
    }

    public func stepsPerEpoch(datasetSize: Int) -> Int { (datasetSize + batchSize - 1) / batchSize }

    public func maximumBatchSize(datasetSize: Int) -> Int { min(batchSize, max(datasetSize, 1)) }

    public mutating func computeGradient<R: RandomNumberGenerator>(
        model: Model, data: Dataset, workspace: Workspace, rng: inout R) -> StepOutcome? {
        if cursor >= order.count || order.count != data.count {
            order = Array(0..<data.count)
            order.shuffle(using: &rng)
            cursor = 0
        }
        let end = min(cursor + min(batchSize, workspace.capacity), order.count)
        workspace.loadBatch(data, indices: order[cursor..<end])
        cursor = end
        let (lossSum, correct) = workspace.forwardBackward(model.parameters, lossScale: 1 / Float(max(workspace.batchSize, 1)))
        workspace.accumulateParameterGradients()
        return StepOutcome(lossSum: lossSum, examples: workspace.batchSize, correct: correct)
    }
}

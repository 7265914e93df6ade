import Dispatch

/// Settings of a centralised training run (`gossipnode train`).
public struct TrainingRunOptions: Sendable {
    public var model: ModelSpec
    public var epochs: Int
    public var sgd: SGDOptions
    public var seed: UInt64
    public var threads: Int
    /// Evaluate on the test set every this many epochs (and after the last); 0 never.
    public var evalEvery: Int
    /// Standardise each feature with training-set mean and deviation (stored with the model).
    public var standardize: Bool

    public init(model: ModelSpec, epochs: Int, sgd: SGDOptions, seed: UInt64 = 1, threads: Int = 1,
                evalEvery: Int = 1, standardize: Bool = false) {
        self.model = model
        self.epochs = epochs
        self.sgd = sgd
        self.seed = seed
        self.threads = threads
        self.evalEvery = evalEvery
        self.standardize = standardize
    }
}

/// One line of training progress.
public struct EpochReport: Sendable {
    public let epoch: Int
    public let steps: Int
    public let trainLoss: Double
    public let trainAccuracy: Double
    /// Test-set evaluation, when this epoch was evaluated.
    public let test: Evaluation?
    /// Training examples per second of training time (evaluation excluded).
    public let samplesPerSecond: Double
    /// Wall time since the run started, evaluation included.
    public let elapsedSeconds: Double
    /// Of `elapsedSeconds`, the time spent evaluating on the test set so far.
    public let evaluationSeconds: Double
    /// CPU seconds of the process since the run started (every thread), and of those the
    /// evaluation's: compares the work of training with a network's on a noisy host.
    public let cpuSeconds: Double
    public let evaluationCPUSeconds: Double
    /// Every DP step taken so far in the run (empty without DP).
    public let privacySteps: [DPStepRun]
    /// True when the algorithm stopped the run early (privacy budget reached).
    public let stoppedEarly: Bool
}

/// A whole centralised training run: initialise, train epoch by epoch, report, return the checkpoint.
public enum TrainingRun {
    /// With `options.standardize`, `data` is standardised in place (taking it `inout` avoids a
    /// copy of the training set: 188 MB for Fashion-MNIST).
    /// Every draw (the model's initialisation, then shuffling and sampling) comes from `--seed`'s
    /// stream: the same options give the same run.
    public static func run<Algorithm: TrainingAlgorithm>(
        data: inout DataSplit, options: TrainingRunOptions, algorithm: Algorithm,
        report: (EpochReport) -> Void
    ) throws -> ModelCheckpoint {
        let standardization = try prepare(&data, options)
        var rng = SeededGenerator(seed: options.seed)
        let model = Model(spec: options.model, inputCount: data.train.featureCount, classCount: data.train.classCount, rng: &rng)
        return try train(model, data: data, options: options, algorithm: algorithm, standardization: standardization,
                         rng: &rng, report: report)
    }

    /// The model is initialised from `--seed`, but the training draws from `training`. For DP-SGD,
    /// whose Poisson sampling and noise must be secret: drawn from the public `--seed`, anyone
    /// could replay both, and the trained model had no privacy at all, whatever ε was reported.
    public static func run<Algorithm: TrainingAlgorithm, Training: RandomNumberGenerator>(
        data: inout DataSplit, options: TrainingRunOptions, algorithm: Algorithm, training: inout Training,
        report: (EpochReport) -> Void
    ) throws -> ModelCheckpoint {
        let standardization = try prepare(&data, options)
        var initialisation = SeededGenerator(seed: options.seed)
        let model = Model(spec: options.model, inputCount: data.train.featureCount, classCount: data.train.classCount,
                          rng: &initialisation)
        return try train(model, data: data, options: options, algorithm: algorithm, standardization: standardization,
                         rng: &training, report: report)
    }

    private static func prepare(_ data: inout DataSplit, _ options: TrainingRunOptions) throws -> Standardization? {
        var standardization: Standardization?
        if options.standardize {
            let fitted = Standardization(fitting: data.train)
            data.train.standardize(with: fitted)
            data.test.standardize(with: fitted)
            standardization = fitted
        }
        try options.model.validate(inputCount: data.train.featureCount, classCount: data.train.classCount)
        return standardization
    }

    private static func train<Algorithm: TrainingAlgorithm, R: RandomNumberGenerator>(
        _ model: Model, data: DataSplit, options: TrainingRunOptions, algorithm: Algorithm,
        standardization: Standardization?, rng: inout R, report: (EpochReport) -> Void
    ) throws -> ModelCheckpoint {
        var trainer = LocalTrainer(model: model, options: options.sgd, algorithm: algorithm, threads: options.threads)
        let start = ProcessClock.wallSeconds(), cpuStart = ProcessClock.cpuSeconds()
        var privacy: [DPStepRun] = []
        var evaluationSeconds = 0.0, evaluationCPUSeconds = 0.0
        for epoch in 1...max(options.epochs, 1) {
            let epochStart = ProcessClock.wallSeconds()
            let summary = trainer.train(epochs: 1, on: data.train, rng: &rng)
            let trainSeconds = ProcessClock.wallSeconds() - epochStart
            for run in summary.privacySteps {
                if privacy.last?.step == run.step { privacy[privacy.count - 1].count += run.count } else { privacy.append(run) }
            }
            let last = epoch == options.epochs || summary.stoppedEarly
            let evaluate = options.evalEvery > 0 && (epoch % options.evalEvery == 0 || last)
            let evaluationStart = ProcessClock.wallSeconds(), evaluationCPUStart = ProcessClock.cpuSeconds()
            let test = evaluate ? Evaluation(model: trainer.model, data: data.test, threads: options.threads) : nil
            evaluationSeconds += ProcessClock.wallSeconds() - evaluationStart
            evaluationCPUSeconds += ProcessClock.cpuSeconds() - evaluationCPUStart
            report(EpochReport(epoch: epoch, steps: summary.steps, trainLoss: summary.meanLoss, trainAccuracy: summary.trainingAccuracy,
                               test: test, samplesPerSecond: Double(summary.examples) / max(trainSeconds, 1e-9),
                               elapsedSeconds: ProcessClock.wallSeconds() - start,
                               evaluationSeconds: evaluationSeconds,
                               cpuSeconds: ProcessClock.cpuSeconds() - cpuStart, evaluationCPUSeconds: evaluationCPUSeconds,
                               privacySteps: privacy, stoppedEarly: summary.stoppedEarly))
            if last { break }
        }
        return ModelCheckpoint(model: trainer.model, standardization: standardization, optimizer: trainer.optimizerState)
    }
}

import Learning
import Privacy

extension InputNoise.ParseError: ConfigurationProblem {}

/// The DP-SGD and input-noise flags shared by `train` and `run`, validated together.
struct TrainingPrivacyFlags {
    static let options: [OptionSpec] = [
        .flag("dp", help: "Train with DP-SGD: Poisson sampling, per-example clipping, Gaussian noise (the recommended guarantee)."),
        .value("noise-multiplier", "sigma", help: "DP-SGD noise standard deviation over the clip norm."),
        .value("clip-norm", "c", help: "DP-SGD per-example gradient L2 bound.", default: "1"),
        .value("delta", "d", help: "The δ at which ε is reported and budgets are checked.", default: "1e-5"),
        .value("epsilon", "e", help: "Privacy budget: training stops cleanly before a step would exceed ε."),
        .value("target-epsilon", "e", help: "Pick the smallest noise multiplier that reaches this ε at the end of the run: after --epochs epochs (train), or --rounds rounds of local steps rounded up to whole epochs of the shard (run, simulate)."),
        .value("input-noise", "noise", help: "gaussian:S or laplace:B noise added once to the training features: the data masking of older designs, a weak guarantee (see SPEC.md §9); prefer --dp."),
    ]

    let dp: Bool
    let noiseMultiplier: Double?
    let clipNorm: Float
    let delta: Double
    let budget: PrivacyBudget?
    let targetEpsilon: Double?
    let inputNoise: InputNoise?

    init(_ args: ParsedArguments) throws {
        dp = args.flag("dp")
        // Bounds that keep noise and clipped gradients finite in Float32 arithmetic (σ·C ≤ 1e10):
        // beyond them every step would be NaN and every round would fail.
        noiseMultiplier = try args.double("noise-multiplier", in: PrivacyRun.noiseMultiplierRange)
        clipNorm = Float(try args.double("clip-norm", in: 0...1_000_000)!)
        delta = try args.double("delta")!
        targetEpsilon = try args.double("target-epsilon")
        inputNoise = try args.string("input-noise").map(InputNoise.parse)
        for name in ["noise-multiplier", "epsilon", "target-epsilon"] where args.wasGiven(name) && !dp {
            throw UsageError("--\(name) needs --dp")
        }
        guard clipNorm > 0 else { throw args.invalid("clip-norm", args.string("clip-norm") ?? "", "expected a number above 0") }
        try PrivacyRun.validate(delta: delta)
        if let epsilon = try args.double("epsilon") { budget = try PrivacyBudget(epsilon: epsilon, delta: delta) } else { budget = nil }
        if dp {
            switch (noiseMultiplier, targetEpsilon) {
            case (nil, nil): throw UsageError("--dp needs --noise-multiplier or --target-epsilon")
            case (.some, .some): throw UsageError("give --noise-multiplier or --target-epsilon, not both")
            case (let sigma?, nil): try PrivacyRun.validate(samplingRate: 1, noiseMultiplier: sigma)
            case (nil, let epsilon?): try PrivacyRun.validate(epsilon: epsilon)
            }
        }
    }

    /// The DP-SGD algorithm for `datasetSize` examples and `epochs` epochs, calibrating σ if asked.
    func algorithm(batchSize: Int, datasetSize: Int, epochs: Int) throws -> DPSGD {
        var options = DPSGDOptions(clipNorm: clipNorm, noiseMultiplier: noiseMultiplier ?? 1, expectedBatchSize: batchSize)
        if let target = targetEpsilon {
            let q = options.samplingRate(datasetSize: datasetSize)
            let steps = epochs * DPSGD(options: options).stepsPerEpoch(datasetSize: datasetSize)
            options.noiseMultiplier = try PrivacyAccountant().noiseMultiplier(forEpsilon: target, samplingRate: q, steps: steps, delta: delta)
        }
        return DPSGD(options: options, budget: budget)
    }

    /// ε spent by the DP steps of a run at this δ.
    func epsilon(_ steps: [DPStepRun]) -> Double? {
        guard dp else { return nil }
        let runs = steps.compactMap { try? PrivacyRun(samplingRate: $0.step.samplingRate, noiseMultiplier: $0.step.noiseMultiplier, steps: $0.count) }
        return (try? PrivacyAccountant().guarantee(of: runs, delta: delta))?.epsilon ?? (steps.isEmpty ? 0 : nil)
    }
}

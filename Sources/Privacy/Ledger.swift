/// The privacy a node has spent: a compact history of (q, σ, steps) runs and the RDP curve they
/// compose to. Consecutive steps with the same q and σ merge into one run, so a whole training
/// history is a handful of lines however many steps it took.
public struct PrivacyLedger: Sendable {
    public let accountant: PrivacyAccountant
    public private(set) var runs: [PrivacyRun] = []
    /// The composed RDP curve of every recorded step.
    public private(set) var spent: RDPCurve
    /// The last (q, σ) step curve, kept because training records the same mechanism every step.
    private var cachedStep: (samplingRate: Double, noiseMultiplier: Double, curve: RDPCurve)?

    public init(accountant: PrivacyAccountant = PrivacyAccountant()) {
        self.accountant = accountant
        spent = .zero(orders: accountant.orders)
    }

    public init(runs: [PrivacyRun], accountant: PrivacyAccountant = PrivacyAccountant()) throws(PrivacyParameterError) {
        self.init(accountant: accountant)
        for run in runs {
            try record(samplingRate: run.samplingRate, noiseMultiplier: run.noiseMultiplier, steps: run.steps)
        }
    }

    /// Total number of recorded steps over all runs.
    public var totalSteps: Int {
        runs.reduce(0) { total, run in
            let (sum, overflow) = total.addingReportingOverflow(run.steps)
            return overflow ? Int.max : sum
        }
    }

    /// The (ε, δ) guarantee of everything recorded.
    public func guarantee(delta: Double) throws(PrivacyParameterError) -> PrivacyGuarantee {
        try spent.guarantee(delta: delta)
    }

    /// Adds `steps` steps of the sampled Gaussian mechanism with (q, σ).
    public mutating func record(samplingRate q: Double, noiseMultiplier sigma: Double, steps: Int) throws(PrivacyParameterError) {
        let run = try PrivacyRun(samplingRate: q, noiseMultiplier: sigma, steps: steps)
        guard steps > 0 else { return }
        let step = try stepCurve(q, sigma)
        cachedStep = (q, sigma, step)
        spent = spent.composed(with: step, times: steps)
        if let last = runs.last, last.samplingRate == q, last.noiseMultiplier == sigma,
           last.steps <= PrivacyRun.maximumSteps - steps {
            runs[runs.count - 1].steps += steps
        } else {
            runs.append(run)
        }
    }

    /// The curve after also taking `steps` steps with (q, σ), without recording them.
    public func projected(samplingRate q: Double, noiseMultiplier sigma: Double, steps: Int) throws(PrivacyParameterError) -> RDPCurve {
        spent.composed(with: try stepCurve(q, sigma), times: steps)
    }

    private func stepCurve(_ q: Double, _ sigma: Double) throws(PrivacyParameterError) -> RDPCurve {
        if let cachedStep, cachedStep.samplingRate == q, cachedStep.noiseMultiplier == sigma { return cachedStep.curve }
        return try accountant.stepCurve(samplingRate: q, noiseMultiplier: sigma)
    }
}

extension PrivacyLedger: Equatable {
    /// Two ledgers are equal when they record the same runs (the curve follows from them).
    public static func == (lhs: PrivacyLedger, rhs: PrivacyLedger) -> Bool {
        lhs.runs == rhs.runs && lhs.accountant.orders == rhs.accountant.orders
    }
}

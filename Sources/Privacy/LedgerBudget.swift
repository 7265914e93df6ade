/// A privacy budget (ε, δ) and the question training asks before every step: may I take the
/// next steps with (q, σ) and still be within it?
public struct PrivacyBudget: Sendable, Equatable {
    public let epsilon: Double
    public let delta: Double

    public init(epsilon: Double, delta: Double) throws(PrivacyParameterError) {
        try PrivacyRun.validate(epsilon: epsilon)
        try PrivacyRun.validate(delta: delta)
        self.epsilon = epsilon
        self.delta = delta
    }

    /// The answer to "may I take these steps?", with the ε before and after them.
    public struct Check: Sendable, Equatable {
        public let allowed: Bool
        /// ε spent so far at the budget's δ.
        public let spent: PrivacyGuarantee
        /// ε if the steps were taken.
        public let afterSteps: PrivacyGuarantee
    }

    public func check(_ ledger: PrivacyLedger, samplingRate q: Double, noiseMultiplier sigma: Double,
                      steps: Int = 1) throws(PrivacyParameterError) -> Check {
        let after = try ledger.projected(samplingRate: q, noiseMultiplier: sigma, steps: steps).guarantee(validDelta: delta)
        return Check(allowed: after.epsilon <= epsilon, spent: ledger.spent.guarantee(validDelta: delta), afterSteps: after)
    }

    /// How many more steps with (q, σ) fit in the budget after what the ledger has spent.
    public func remainingSteps(_ ledger: PrivacyLedger, samplingRate q: Double,
                               noiseMultiplier sigma: Double) throws(PrivacyParameterError) -> Int {
        try ledger.accountant.maximumSteps(after: ledger.spent, samplingRate: q, noiseMultiplier: sigma,
                                           epsilon: epsilon, delta: delta)
    }
}

/// The Rényi-DP accountant for DP-SGD: turns (q, σ, steps) histories into (ε, δ) guarantees,
/// and answers the two inverse questions (which σ, how many steps) for a budget.
public struct PrivacyAccountant: Sendable {
    public let orders: [Double]

    public init(orders: [Double] = RenyiOrders.standard) {
        precondition(orders.allSatisfy { $0 > 1 }, "Rényi orders must exceed 1")
        self.orders = orders
    }

    /// The RDP curve of one step of the sampled Gaussian mechanism.
    public func stepCurve(samplingRate q: Double, noiseMultiplier sigma: Double) throws(PrivacyParameterError) -> RDPCurve {
        try PrivacyRun.validate(samplingRate: q, noiseMultiplier: sigma)
        return RDPCurve(orders: orders, values: orders.map {
            SampledGaussian.rdp(samplingRate: q, noiseMultiplier: sigma, order: $0)
        })
    }

    /// The composed curve of a history of runs (heterogeneous q and σ add order by order).
    public func curve(of runs: [PrivacyRun]) throws(PrivacyParameterError) -> RDPCurve {
        var total = RDPCurve.zero(orders: orders)
        for run in runs where run.steps > 0 {
            total = total.composed(with: try stepCurve(samplingRate: run.samplingRate,
                                                       noiseMultiplier: run.noiseMultiplier), times: run.steps)
        }
        return total
    }

    /// (ε, δ) after `steps` steps with sampling rate q and noise multiplier σ.
    public func guarantee(samplingRate q: Double, noiseMultiplier sigma: Double, steps: Int,
                          delta: Double) throws(PrivacyParameterError) -> PrivacyGuarantee {
        try guarantee(of: [PrivacyRun(samplingRate: q, noiseMultiplier: sigma, steps: steps)], delta: delta)
    }

    /// (ε, δ) after a history of runs.
    public func guarantee(of runs: [PrivacyRun], delta: Double) throws(PrivacyParameterError) -> PrivacyGuarantee {
        try PrivacyRun.validate(delta: delta)
        return try curve(of: runs).guarantee(validDelta: delta)
    }
}

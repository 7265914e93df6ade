/// The inverse questions of accounting: the least noise that meets a budget, and the most steps
/// that fit in one. Both rely on ε growing with steps and shrinking with σ.
extension PrivacyAccountant {

    /// The smallest noise multiplier σ (to relative precision `tolerance`) whose ε after `steps`
    /// steps at sampling rate q stays within `epsilon` at δ. Bisection on log σ.
    public func noiseMultiplier(forEpsilon epsilon: Double, samplingRate q: Double, steps: Int,
                                delta: Double, tolerance: Double = 1e-6) throws(PrivacyParameterError) -> Double {
        try PrivacyRun.validate(epsilon: epsilon)
        try PrivacyRun.validate(delta: delta)
        try PrivacyRun.validate(samplingRate: q, noiseMultiplier: 1)
        guard steps >= 1 else { throw PrivacyParameterError("steps must be at least 1, got \(steps)") }
        func fits(_ sigma: Double) throws(PrivacyParameterError) -> Bool {
            try guarantee(samplingRate: q, noiseMultiplier: sigma, steps: steps, delta: delta).epsilon <= epsilon
        }
        // Bracket: `low` misses the budget, `high` meets it.
        var low = 0.0, high = 1.0
        let largest = PrivacyRun.noiseMultiplierRange.upperBound
        while try !fits(high) {
            guard high < largest else {
                throw PrivacyParameterError("no noise multiplier up to \(largest) reaches epsilon \(epsilon) at delta \(delta) for \(steps) steps at sampling rate \(q)")
            }
            low = high
            high = min(high * 2, largest)
        }
        if low == 0 {
            low = high / 2
            while try fits(low) {
                high = low
                low /= 2
                // The budget is met even with the least noise accounted: that least noise it is.
                if low < PrivacyRun.noiseMultiplierRange.lowerBound { return PrivacyRun.noiseMultiplierRange.lowerBound }
            }
        }
        while (high - low) > tolerance * high {
            let middle = (low * high).squareRoot()
            if try fits(middle) { high = middle } else { low = middle }
        }
        return high
    }

    /// The largest number of further steps with (q, σ) after the spent curve `spent` that keeps
    /// ε within `epsilon` at δ; 0 if even one step would exceed it. Capped at `limit`.
    public func maximumSteps(after spent: RDPCurve? = nil, samplingRate q: Double, noiseMultiplier sigma: Double,
                             epsilon: Double, delta: Double, limit: Int = 1 << 40) throws(PrivacyParameterError) -> Int {
        try PrivacyRun.validate(epsilon: epsilon)
        try PrivacyRun.validate(delta: delta)
        let step = try stepCurve(samplingRate: q, noiseMultiplier: sigma)
        let base = spent ?? RDPCurve.zero(orders: orders)
        func fits(_ steps: Int) -> Bool { base.composed(with: step, times: steps).guarantee(validDelta: delta).epsilon <= epsilon }
        guard fits(1) else { return 0 }
        // Exponential search for a failing count, then bisection between the last fit and it.
        var good = 1, bad = 2
        while fits(bad) {
            good = bad
            guard bad < limit else { return limit }
            bad = Swift.min(bad * 2, limit)
            if bad == good { return limit }
        }
        while bad - good > 1 {
            let middle = good + (bad - good) / 2
            if fits(middle) { good = middle } else { bad = middle }
        }
        return good
    }
}

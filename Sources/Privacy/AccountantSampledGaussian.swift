import Foundation

/// Rényi divergence of the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019): one step
/// that includes each record with probability q and adds N(0, σ²) noise to a sum of
/// sensitivity-1 contributions.
///
/// The RDP at order α is log(A_α)/(α−1) with A_α = E_{z∼N(0,σ²)}[((1−q) + q·e^{(2z−1)/(2σ²)})^α].
/// Integer α expands A_α by the binomial theorem (exact). Fractional α splits the integral at
/// z₀ = σ²·log(1/q − 1) + ½, where both summands are equal, and expands each side as a binomial
/// series in the smaller summand; the series terms are summed in absolute value, which
/// upper-bounds A_α (terms past i > α alternate in sign), exactly as dp-accounting and Opacus do.
enum SampledGaussian {
    /// A fractional-order series that has not converged after this many terms drops that order
    /// (returns +∞), which can only make the final ε larger: conservative, never optimistic.
    static let maximumSeriesTerms = 1000

    /// ε(α) of one step. Requires 0 < q ≤ 1, σ > 0, α > 1 (`PrivacyAccountant` checks them).
    static func rdp(samplingRate q: Double, noiseMultiplier sigma: Double, order alpha: Double) -> Double {
        if q == 1 { return alpha / (2 * sigma * sigma) }
        let logA = alpha == alpha.rounded() && alpha < Double(Int32.max)
            ? logAInteger(q: q, sigma: sigma, alpha: Int(alpha))
            : logAFractional(q: q, sigma: sigma, alpha: alpha)
        return logA / (alpha - 1)
    }

    /// log A_α = log Σᵢ C(α,i) qⁱ (1−q)^{α−i} e^{(i²−i)/(2σ²)} for integer α.
    static func logAInteger(q: Double, sigma: Double, alpha: Int) -> Double {
        let logQ = log(q), log1mQ = log1p(-q), twoSigmaSquared = 2 * sigma * sigma
        var logBinomial = 0.0  // log C(α, i), updated incrementally
        var sum = LogMath.Sum()
        for i in 0...alpha {
            let n = Double(i)
            sum.add(logBinomial + n * logQ + Double(alpha - i) * log1mQ + (n * n - n) / twoSigmaSquared)
            logBinomial += log(Double(alpha - i)) - log(n + 1)
        }
        return sum.value
    }

    /// log A_α for fractional α by the two-sided series of MTZ 2019 §3.3.
    static func logAFractional(q: Double, sigma: Double, alpha: Double) -> Double {
        let logQ = log(q), log1mQ = log1p(-q), twoSigmaSquared = 2 * sigma * sigma
        let z0 = sigma * sigma * log(1 / q - 1) + 0.5
        let erfcScale = 1 / (2.squareRoot() * sigma)
        let logHalf = log(0.5)
        var below = LogMath.Sum(), above = LogMath.Sum()
        var logBinomial = 0.0  // log |C(α, i)|
        var previousBelow = -Double.infinity, previousAbove = -Double.infinity
        for i in 0..<maximumSeriesTerms {
            let n = Double(i), j = alpha - n
            // z ≤ z₀: the (1−q) summand dominates; expand in powers of the q summand.
            let termBelow = logBinomial + n * logQ + j * log1mQ + (n * n - n) / twoSigmaSquared
                + logHalf + LogMath.logErfc((n - z0) * erfcScale)
            // z ≥ z₀: the q summand dominates; expand in powers of the (1−q) summand.
            let termAbove = logBinomial + j * logQ + n * log1mQ + (j * j - j) / twoSigmaSquared
                + logHalf + LogMath.logErfc((z0 - j) * erfcScale)
            below.add(termBelow)
            above.add(termAbove)
            var total = LogMath.Sum()
            total.add(below.value)
            total.add(above.value)
            // Stop once both sides are shrinking and the newest terms are below e⁻³⁰ of the total.
            if termBelow < previousBelow, termAbove < previousAbove, Swift.max(termBelow, termAbove) < total.value - 30 {
                return total.value
            }
            previousBelow = termBelow
            previousAbove = termAbove
            logBinomial += log(abs(alpha - n)) - log(n + 1)
        }
        return .infinity
    }
}

import Foundation

/// An (ε, δ)-DP guarantee and the Rényi order that gave it.
public struct PrivacyGuarantee: Sendable, Equatable {
    public let epsilon: Double
    public let delta: Double
    /// The order α whose bound gave the smallest ε; nil when no order gives a finite bound
    /// (then ε is +∞).
    public let order: Double?
}

extension RDPCurve {
    /// The smallest ε such that the mechanism is (ε, δ)-DP, minimised over the grid.
    ///
    /// Per order: ε = r + log(1 − 1/α) − (log δ + log α)/(α − 1) (Balle et al. 2020, Thm. 21;
    /// Canonne, Kamath, Steinke 2020, Prop. 12), valid for α > 1 and used for α > 1.01 where it
    /// is numerically stable. When δ² > 1 − e^{−r} the mechanism is already (0, δ)-DP, because
    /// total variation ≤ √(1 − e^{−KL}) and KL ≤ r (RDP grows with α). ε is never below 0.
    public func guarantee(delta: Double) throws(PrivacyParameterError) -> PrivacyGuarantee {
        try PrivacyRun.validate(delta: delta)
        return guarantee(validDelta: delta)
    }

    /// `guarantee(delta:)` for a δ already checked to lie in (0, 1).
    func guarantee(validDelta delta: Double) -> PrivacyGuarantee {
        var best = Double.infinity
        var bestOrder: Double? = nil
        let logDelta = log(delta)
        for (alpha, r) in zip(orders, values) {
            let epsilon: Double
            if r.isNaN || r == .infinity {
                continue
            } else if r <= 0 || delta * delta + expm1(-r) > 0 {
                epsilon = 0
            } else if alpha > 1.01 {
                epsilon = r + log1p(-1 / alpha) - (logDelta + log(alpha)) / (alpha - 1)
            } else {
                continue
            }
            if epsilon < best {
                best = epsilon
                bestOrder = alpha
            }
        }
        return PrivacyGuarantee(epsilon: Swift.max(0, best), delta: delta, order: bestOrder)
    }
}

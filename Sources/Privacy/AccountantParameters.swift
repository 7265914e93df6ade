/// A sampling rate, noise multiplier, δ or ε outside the range where the accountant's
/// mathematics holds; the message names the parameter and the value.
public struct PrivacyParameterError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One homogeneous stretch of training: `steps` steps, each sampling records with probability
/// `samplingRate` (q) and adding Gaussian noise of `noiseMultiplier` (σ) times the clip norm.
public struct PrivacyRun: Sendable, Equatable, Hashable, Codable {
    public let samplingRate: Double
    public let noiseMultiplier: Double
    public var steps: Int

    public init(samplingRate: Double, noiseMultiplier: Double, steps: Int) throws(PrivacyParameterError) {
        try Self.validate(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier)
        guard steps >= 0, steps <= Self.maximumSteps else {
            throw PrivacyParameterError("steps must be from 0 to \(Self.maximumSteps), got \(steps)")
        }
        self.samplingRate = samplingRate
        self.noiseMultiplier = noiseMultiplier
        self.steps = steps
    }

    /// More steps than any training will take (2⁵⁰), small enough that step counts stay exact
    /// as Doubles and sums of runs cannot overflow.
    public static let maximumSteps = 1 << 50

    /// q ∈ (0, 1] and σ > 0, both finite.
    public static func validate(samplingRate q: Double, noiseMultiplier sigma: Double) throws(PrivacyParameterError) {
        guard q.isFinite, q > 0, q <= 1 else {
            throw PrivacyParameterError("sampling rate must be in (0, 1], got \(q)")
        }
        guard noiseMultiplierRange.contains(sigma) else {
            throw PrivacyParameterError("noise multiplier must be from \(noiseMultiplierRange.lowerBound) to \(noiseMultiplierRange.upperBound), got \(sigma)")
        }
    }

    /// The noise multipliers σ accounted, given and calibrated: below 0.001 ε overflows to
    /// infinity for any useful run, and above 10⁴ the noise (σ·C) stops being finite in the
    /// float arithmetic of training; calibration (`noiseMultiplier(forEpsilon:)`) stays inside too,
    /// so every σ it picks can be given again with `--noise-multiplier`.
    public static let noiseMultiplierRange = 0.001...10_000.0

    /// The smallest δ accepted: far below any meaningful one, and above the subnormal numbers,
    /// where the numeric kernels' flush-to-zero setting would change the accountant's arithmetic.
    public static let smallestDelta = 1e-300

    /// δ ∈ (0, 1).
    public static func validate(delta: Double) throws(PrivacyParameterError) {
        guard delta.isFinite, delta >= smallestDelta, delta < 1 else {
            throw PrivacyParameterError("delta must be in [\(smallestDelta), 1), got \(delta)")
        }
    }

    /// ε > 0, finite.
    public static func validate(epsilon: Double) throws(PrivacyParameterError) {
        guard epsilon.isFinite, epsilon > 0 else {
            throw PrivacyParameterError("epsilon must be a finite number above 0, got \(epsilon)")
        }
    }

    private enum CodingKeys: String, CodingKey { case samplingRate = "q", noiseMultiplier = "sigma", steps }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(samplingRate: container.decode(Double.self, forKey: .samplingRate),
                      noiseMultiplier: container.decode(Double.self, forKey: .noiseMultiplier),
                      steps: container.decode(Int.self, forKey: .steps))
    }
}

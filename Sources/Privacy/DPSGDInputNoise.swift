import Learning

/// The seed project's "data masking": noise added once to every feature of the local training data
/// before training (`--input-noise gaussian:S` or `laplace:B`). It is kept for comparison only.
/// It gives no useful formal guarantee: Laplace noise of scale B on d features in [0, 1] makes each
/// released example ε = d/B differentially private (784/B for Fashion-MNIST, e.g. ε = 78 at B = 10,
/// where images are already unrecognisable to the model), Gaussian noise gives a comparably weak
/// (ε, δ), and neither bounds what the trained model reveals about the training set as a whole.
/// DP-SGD (`--dp`) is the recommended guarantee.
public enum InputNoise: Equatable, Sendable, CustomStringConvertible {
    case gaussian(stddev: Double)
    case laplace(scale: Double)

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public static func parse(_ text: String) throws -> InputNoise {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        // Features are scaled to about [0, 1]; a scale above 1e6 only overflows Float32 arithmetic.
        if parts.count == 2, let value = Double(parts[1]), value > 0, value <= 1e6 {
            if parts[0] == "gaussian" { return .gaussian(stddev: value) }
            if parts[0] == "laplace" { return .laplace(scale: value) }
        }
        throw ParseError(description: "'\(text)' is not gaussian:S or laplace:B with a number above 0, at most 1e6")
    }

    public var description: String {
        switch self {
        case .gaussian(let s): "gaussian:\(s)"
        case .laplace(let b): "laplace:\(b)"
        }
    }

    /// Adds independent noise to every feature of `data`.
    public func apply<R: RandomNumberGenerator>(to data: inout Dataset, rng: inout R) {
        data.withMutableFeatures { features in
            switch self {
            case .gaussian(let stddev):
                for i in features.indices { features[i] += Float(stddev * rng.nextGaussian()) }
            case .laplace(let scale):
                for i in features.indices {
                    // Inverse CDF: the difference of two exponentials is Laplace.
                    features[i] += Float(scale * (_log(rng.nextOpenUnit()) - _log(rng.nextOpenUnit())))
                }
            }
        }
    }
}

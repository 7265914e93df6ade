import Foundation

/// Log-space arithmetic for the accountant: the sampled Gaussian mechanism's moments span
/// hundreds of orders of magnitude, so every sum is carried as a logarithm.
enum LogMath {
    /// A running log(Σ exp(termᵢ)) that stays exact when terms are far apart in magnitude.
    struct Sum {
        private(set) var max = -Double.infinity
        private var scaled = 0.0

        mutating func add(_ logTerm: Double) {
            guard logTerm > -.infinity else { return }
            if logTerm <= max {
                scaled += Foundation.exp(logTerm - max)
            } else {
                scaled = scaled * Foundation.exp(max - logTerm) + 1
                max = logTerm
            }
        }

        var value: Double { max == -.infinity ? -.infinity : max + Foundation.log(scaled) }
    }

    /// log(erfc(x)), accurate where erfc itself underflows (x above ~26).
    static func logErfc(_ x: Double) -> Double {
        if x < 20 { return Foundation.log(Foundation.erfc(x)) }
        // Asymptotic series: erfc(x) = exp(-x²)/(x√π) · Σₖ (-1)ᵏ (2k-1)!! / (2x²)ᵏ.
        // At x ≥ 20 the ratio of successive terms is below (2k-1)/800, so 8 terms reach 1e-20.
        let inverse = 1 / (2 * x * x)
        var term = 1.0, series = 1.0
        for k in 1...8 {
            term *= -Double(2 * k - 1) * inverse
            series += term
        }
        return -x * x - Foundation.log(x) - 0.5 * Foundation.log(Double.pi) + Foundation.log(series)
    }
}

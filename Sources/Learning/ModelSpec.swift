/// The architecture named by `--model`: `logreg` (one dense layer) or `mlp:H[,H2...]` (dense layers
/// with ReLU between them, then a dense output layer).
public enum ModelSpec: Equatable, Hashable, Sendable, CustomStringConvertible {
    case logisticRegression
    case mlp(hidden: [Int])

    public static func parse(_ text: String) throws -> ModelSpec {
        if text == "logreg" { return .logisticRegression }
        if text.hasPrefix("mlp:") {
            let sizes = text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            if !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= 1 << 16 }) {
                return .mlp(hidden: sizes.compactMap { $0 })
            }
        }
        throw DataError(file: "--model", "'\(text)' is not logreg or mlp:H[,H2...] with positive layer sizes")
    }

    public var description: String {
        switch self {
        case .logisticRegression: "logreg"
        case .mlp(let hidden): "mlp:" + hidden.map(String.init).joined(separator: ",")
        }
    }

    /// Number of parameters on `inputCount` features and `classCount` classes; nil if it overflows.
    public func parameterCount(inputCount: Int, classCount: Int) -> Int? {
        let widths = widths(inputCount: inputCount, classCount: classCount)
        var total = 0
        for i in 0..<widths.count - 1 {
            let (weights, o1) = widths[i].multipliedReportingOverflow(by: widths[i + 1])
            let (layer, o2) = weights.addingReportingOverflow(widths[i + 1])
            let (sum, o3) = total.addingReportingOverflow(layer)
            if o1 || o2 || o3 { return nil }
            total = sum
        }
        return total
    }

    /// Widths from input to output, e.g. [784, 256, 10].
    public func widths(inputCount: Int, classCount: Int) -> [Int] {
        switch self {
        case .logisticRegression: [inputCount, classCount]
        case .mlp(let hidden): [inputCount] + hidden + [classCount]
        }
    }
}

/// Where one dense layer's parameters sit in the flat vector: the weight matrix `inputs x outputs`
/// row-major (`W[i * outputs + j]` links input i to output j), then `outputs` biases; y = x W + b.
public struct DenseLayout: Equatable, Sendable {
    public let inputs: Int
    public let outputs: Int
    public let weightOffset: Int
    public var biasOffset: Int { weightOffset + inputs * outputs }
    public var end: Int { biasOffset + outputs }
}

/// The architecture named by `--model`: `logreg` (one dense layer), `mlp:H[,H2...]` (dense layers
/// with ReLU between them, then a dense output layer) or `cnn[:C1,C2...[:H...]]` (5x5 convolutions
/// with C1, C2... filters, each followed by ReLU and 2x2 max-pooling, then an MLP head with hidden
/// layers H...; plain `cnn` is `cnn:16,32:128`). A CNN reads its inputs as square one-channel images.
public enum ModelSpec: Equatable, Hashable, Sendable, CustomStringConvertible {
    case logisticRegression
    case mlp(hidden: [Int])
    case cnn(channels: [Int], hidden: [Int])

    public static let defaultCNN = ModelSpec.cnn(channels: [16, 32], hidden: [128])
    /// The widest layer `--model` accepts; stated in the error so a refused size says why.
    public static let maxLayerSize = 1 << 16
    public static let maxConvolutions = 4

    public static func parse(_ text: String) throws -> ModelSpec {
        if text == "logreg" { return .logisticRegression }
        if text.hasPrefix("mlp:"), let hidden = sizes(text.dropFirst(4)) { return .mlp(hidden: hidden) }
        if text == "cnn" { return defaultCNN }
        if text.hasPrefix("cnn:") {
            let parts = text.dropFirst(4).split(separator: ":", omittingEmptySubsequences: false)
            if parts.count <= 2, let channels = sizes(parts[0]), channels.count <= maxConvolutions {
                if parts.count == 1 { return .cnn(channels: channels, hidden: []) }
                if let hidden = sizes(parts[1]) { return .cnn(channels: channels, hidden: hidden) }
            }
        }
        throw DataError(file: "--model", "'\(text)' is not logreg, mlp:H[,H2...] or cnn[:C1[,C2...][:H[,H2...]]] "
            + "with layer sizes from 1 to \(maxLayerSize) (at most \(maxConvolutions) convolutions)")
    }

    /// Comma-separated sizes from 1 to `maxLayerSize`, or nil.
    private static func sizes(_ text: Substring) -> [Int]? {
        let sizes = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= maxLayerSize }) else { return nil }
        return sizes.compactMap { $0 }
    }

    public var description: String {
        func list(_ sizes: [Int]) -> String { sizes.map(String.init).joined(separator: ",") }
        switch self {
        case .logisticRegression: return "logreg"
        case .mlp(let hidden): return "mlp:" + list(hidden)
        case .cnn(let channels, let hidden): return "cnn:" + list(channels) + (hidden.isEmpty ? "" : ":" + list(hidden))
        }
    }

    /// Number of parameters on `inputCount` features and `classCount` classes; nil if it overflows
    /// or the inputs do not fit the architecture (see `architecture`).
    public func parameterCount(inputCount: Int, classCount: Int) -> Int? {
        guard let (convolutions, widths) = try? architecture(inputCount: inputCount, classCount: classCount) else { return nil }
        return Self.parameterCount(convolutions: convolutions, widths: widths)
    }

    /// Parameters of these layers (see `architecture`); nil if the count overflows.
    private static func parameterCount(convolutions: [ConvolutionLayout], widths: [Int]) -> Int? {
        var total = 0
        for layer in convolutions {
            let (sum, overflow) = total.addingReportingOverflow(layer.parameterCount)
            if overflow { return nil }
            total = sum
        }
        for i in 0..<widths.count - 1 {
            let (weights, o1) = widths[i].multipliedReportingOverflow(by: widths[i + 1])
            let (layer, o2) = weights.addingReportingOverflow(widths[i + 1])
            let (sum, o3) = total.addingReportingOverflow(layer)
            if o1 || o2 || o3 { return nil }
            total = sum
        }
        return total
    }

    /// Throws, naming the problem, unless a model of this spec can read `inputCount` features.
    /// Also refuses models too large to train here rather than failing to allocate them: more
    /// than `maximumParameters`, or more than `maximumActivationsPerExample` floats of a
    /// convolution's buffers per example (its patches and outputs; a batch holds one set per example).
    public func validate(inputCount: Int, classCount: Int) throws {
        let (convolutions, widths) = try architecture(inputCount: inputCount, classCount: classCount)
        guard let count = Self.parameterCount(convolutions: convolutions, widths: widths), count <= Self.maximumParameters else {
            throw DataError(file: "--model", "\(self) on \(inputCount) inputs has too many parameters (at most \(Self.maximumParameters))")
        }
        let activations = convolutions.reduce(0) { $0 + $1.positions * ($1.patchSize + 2 * $1.filters) }
        guard activations <= Self.maximumActivationsPerExample else {
            throw DataError(file: "--model", "\(self) on \(inputCount) inputs needs \(activations) floats of convolution buffers per example (at most \(Self.maximumActivationsPerExample))")
        }
    }

    /// 2^28 parameters (1 GiB of floats, before the optimizer's copy).
    public static let maximumParameters = 1 << 28
    /// 2^22 floats (16 MiB) per example; `cnn` on 28x28 images needs about 64k.
    public static let maximumActivationsPerExample = 1 << 22

    /// The convolution layers (in order, parameter offsets from 0) and the dense widths from the
    /// dense head's input to the output, e.g. ([], [784, 256, 10]). Throws when a CNN's inputs are
    /// not a square one-channel image at least large enough for its convolutions.
    public func architecture(inputCount: Int, classCount: Int) throws -> (convolutions: [ConvolutionLayout], widths: [Int]) {
        switch self {
        case .logisticRegression: return ([], [inputCount, classCount])
        case .mlp(let hidden): return ([], [inputCount] + hidden + [classCount])
        case .cnn(let channels, let hidden):
            var side = Int(Double(inputCount).squareRoot().rounded())
            guard side * side == inputCount else {
                throw DataError(file: "--model", "\(self) needs square one-channel images, but the data have \(inputCount) features")
            }
            var layers: [ConvolutionLayout] = [], depth = 1, offset = 0
            for filters in channels {
                guard side >= ConvolutionLayout.kernel + 1 else {
                    throw DataError(file: "--model", "\(self): \(side)x\(side) feature maps are too small for convolution \(layers.count + 1) (needs at least \(ConvolutionLayout.kernel + 1))")
                }
                let layer = ConvolutionLayout(side: side, channels: depth, filters: filters, weightOffset: offset)
                layers.append(layer)
                offset = layer.end
                side = layer.pooledSide
                depth = filters
            }
            return (layers, [side * side * depth] + hidden + [classCount])
        }
    }
}

/// Where one convolution layer's parameters sit in the flat vector, and its shapes. The layer reads
/// a `side x side x channels` feature map (row-major, channels last), convolves it with `filters`
/// 5x5 kernels (stride 1, no padding), adds a bias per filter, applies ReLU and 2x2 max-pooling
/// (stride 2; an odd last row or column is dropped). Weights are `patchSize x filters` row-major:
/// `W[((dy * 5 + dx) * channels + c) * filters + f]` links input (y + dy, x + dx, c) to filter f at
/// (y, x); then `filters` biases. As a GEMM: one row per output position, `patch x W + b`.
public struct ConvolutionLayout: Equatable, Sendable {
    public static let kernel = 5
    public let side: Int
    public let channels: Int
    public let filters: Int
    public let weightOffset: Int

    /// Inputs per example.
    public var inputs: Int { side * side * channels }
    /// Side of the convolution's output map.
    public var outputSide: Int { side - Self.kernel + 1 }
    /// Output positions per example (rows of the GEMM).
    public var positions: Int { outputSide * outputSide }
    /// Inputs one output position reads.
    public var patchSize: Int { Self.kernel * Self.kernel * channels }
    /// Side of the pooled output map.
    public var pooledSide: Int { outputSide / 2 }
    /// Outputs per example after pooling.
    public var outputs: Int { pooledSide * pooledSide * filters }
    public var biasOffset: Int { weightOffset + patchSize * filters }
    public var end: Int { biasOffset + filters }
    public var parameterCount: Int { end - weightOffset }
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

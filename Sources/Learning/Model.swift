/// A feed-forward classifier: its architecture and every parameter in one flat `[Float]`, laid out
/// layer by layer, convolutions (`ConvolutionLayout`) first, then dense layers (`DenseLayout`); the
/// aggregation layer sees only this vector.
public struct Model: Equatable, Sendable {
    public let spec: ModelSpec
    public let inputCount: Int
    public let classCount: Int
    /// Convolution layers before the dense ones (empty for logreg and MLPs).
    public let convolutions: [ConvolutionLayout]
    /// Dense layers; the first reads the last convolution's pooled output (or the inputs).
    public let layers: [DenseLayout]
    /// All weights and biases; `parameters.count == parameterCount`.
    public var parameters: [Float]

    public var parameterCount: Int { layers.last?.end ?? 0 }

    /// A freshly initialised model: He-normal weights (std sqrt(2/fan_in)) for layers followed by
    /// ReLU, Glorot-uniform for the output layer, zero biases. The spec must fit the inputs
    /// (`ModelSpec.validate`).
    public init(spec: ModelSpec, inputCount: Int, classCount: Int, rng: inout some RandomNumberGenerator) {
        self.init(spec: spec, inputCount: inputCount, classCount: classCount)
        for layer in convolutions {
            let std = (2 / Double(layer.patchSize)).squareRoot()
            for w in layer.weightOffset..<layer.biasOffset { parameters[w] = Float(rng.nextGaussian() * std) }
        }
        for (index, layer) in layers.enumerated() {
            let isOutput = index == layers.count - 1
            let fanIn = Double(layer.inputs), fanOut = Double(layer.outputs)
            for w in layer.weightOffset..<layer.biasOffset {
                if isOutput {
                    let limit = (6 / (fanIn + fanOut)).squareRoot()
                    parameters[w] = Float((2 * rng.nextOpenUnit() - 1) * limit)
                } else {
                    parameters[w] = Float(rng.nextGaussian() * (2 / fanIn).squareRoot())
                }
            }
        }
    }

    /// A model with the given parameters, checked against the architecture.
    public init(spec: ModelSpec, inputCount: Int, classCount: Int, parameters: [Float]) throws {
        let expected = spec.parameterCount(inputCount: inputCount, classCount: classCount)
        guard inputCount > 0, classCount > 0, parameters.count == expected else {
            throw DataError(file: "model", "\(spec) on \(inputCount) inputs and \(classCount) classes has \(expected.map(String.init) ?? "too many") parameters, got \(parameters.count)")
        }
        self.init(spec: spec, inputCount: inputCount, classCount: classCount, allocate: false)
        self.parameters = parameters
    }

    private init(spec: ModelSpec, inputCount: Int, classCount: Int, allocate: Bool = true) {
        self.spec = spec
        self.inputCount = inputCount
        self.classCount = classCount
        guard let (convolutions, widths) = try? spec.architecture(inputCount: inputCount, classCount: classCount) else {
            preconditionFailure("\(spec) does not fit \(inputCount) inputs: call ModelSpec.validate first")
        }
        self.convolutions = convolutions
        var layers: [DenseLayout] = []
        var offset = convolutions.last?.end ?? 0
        for i in 0..<widths.count - 1 {
            let layer = DenseLayout(inputs: widths[i], outputs: widths[i + 1], weightOffset: offset)
            layers.append(layer)
            offset = layer.end
        }
        self.layers = layers
        self.parameters = allocate ? [Float](repeating: 0, count: offset) : []
    }
}

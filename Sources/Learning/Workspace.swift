import CKernels

/// Reusable buffers for forward and backward passes over batches of up to `capacity` examples.
/// Backpropagation is split in two so that DP-SGD can clip per example without materialising
/// per-example gradients: `backpropagate()` leaves each dense layer's input rows and output-gradient
/// rows in place (`layerInput`, `layerOutputGradient`), callers may rescale those rows per example,
/// and `accumulateParameterGradients()` then forms the summed weight gradients with one GEMM per layer.
public final class Workspace {
    public let layers: [DenseLayout]
    public let capacity: Int
    public let threads: Int
    /// Rows in the current batch.
    public private(set) var batchSize = 0
    /// Labels of the current batch.
    public private(set) var labels: [Int32]
    /// Gradient of the summed (or rescaled) loss, in the model's flat parameter layout.
    public private(set) var gradient: [Float]

    // activations[0] is the input batch; activations[l + 1] is layer l's output (after ReLU for hidden layers).
    private let activations: [UnsafeMutablePointer<Float>]
    // outputGradients[l]: gradient of the loss with respect to layer l's output before ReLU.
    private let outputGradients: [UnsafeMutablePointer<Float>]
    private var exampleLosses: [Float]

    public init(model: Model, capacity: Int, threads: Int = 1) {
        precondition(capacity > 0 && threads > 0)
        layers = model.layers
        self.capacity = capacity
        self.threads = threads
        labels = [Int32](repeating: 0, count: capacity)
        gradient = [Float](repeating: 0, count: model.parameterCount)
        exampleLosses = [Float](repeating: 0, count: capacity)
        let widths = [model.layers[0].inputs] + model.layers.map(\.outputs)
        activations = widths.map { width in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: capacity * width)
            p.initialize(repeating: 0, count: capacity * width)
            return p
        }
        outputGradients = model.layers.map { layer in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: capacity * layer.outputs)
            p.initialize(repeating: 0, count: capacity * layer.outputs)
            return p
        }
    }

    deinit {
        activations.forEach { $0.deallocate() }
        outputGradients.forEach { $0.deallocate() }
    }

    /// Copies the examples at `indices` (at most `capacity`) into the input buffer.
    public func loadBatch(_ data: Dataset, indices: some Collection<Int>) {
        precondition(indices.count <= capacity && data.featureCount == layers[0].inputs)
        let d = data.featureCount
        data.features.withUnsafeBufferPointer { src in
            for (row, index) in indices.enumerated() {
                (activations[0] + row * d).update(from: src.baseAddress! + index * d, count: d)
                labels[row] = data.labels[index]
            }
        }
        batchSize = indices.count
    }

    /// Runs the network on the loaded batch; logits end up in `logits`.
    public func forward(_ parameters: [Float]) {
        parameters.withUnsafeBufferPointer { p in
            for (l, layer) in layers.enumerated() {
                Kernels.gemm(m: batchSize, n: layer.outputs, k: layer.inputs,
                             a: activations[l], lda: layer.inputs, b: p.baseAddress! + layer.weightOffset, ldb: layer.outputs,
                             c: activations[l + 1], ldc: layer.outputs,
                             bias: p.baseAddress! + layer.biasOffset, relu: l < layers.count - 1, threads: threads)
            }
        }
    }

    /// Logits of the current batch, `batchSize x classCount` row-major.
    public var logits: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: activations[layers.count], count: batchSize * layers[layers.count - 1].outputs)
    }

    /// Softmax cross-entropy of the batch: returns the summed loss and the number of correct
    /// predictions, and sets the output gradient to `scale * (softmax - onehot)` per example
    /// (scale 1/B gives the mean loss's gradient; DP-SGD uses 1 and clips per example).
    @discardableResult
    public func softmaxCrossEntropy(scale: Float) -> (lossSum: Double, correct: Int) {
        let classes = layers[layers.count - 1].outputs
        let z = activations[layers.count], g = outputGradients[layers.count - 1]
        var lossSum = 0.0, correct = 0
        for row in 0..<batchSize {
            let zr = z + row * classes, gr = g + row * classes
            var maxValue = zr[0], argmax = 0
            for j in 1..<classes where zr[j] > maxValue { maxValue = zr[j]; argmax = j }
            var sum: Float = 0
            for j in 0..<classes {
                let e = _expf(zr[j] - maxValue)
                gr[j] = e
                sum += e
            }
            let label = Int(labels[row])
            let inverse = 1 / sum
            let loss = _logf(sum) - (zr[label] - maxValue)
            exampleLosses[row] = loss
            lossSum += Double(loss)
            if argmax == label { correct += 1 }
            for j in 0..<classes { gr[j] = gr[j] * inverse * scale }
            gr[label] -= scale
        }
        return (lossSum, correct)
    }

    /// Per-example losses of the last `softmaxCrossEntropy` call.
    public var losses: ArraySlice<Float> { exampleLosses[0..<batchSize] }

    /// Propagates the output gradient down to every layer's output gradient (ReLU masks applied).
    public func backpropagate(_ parameters: [Float]) {
        parameters.withUnsafeBufferPointer { p in
            for l in stride(from: layers.count - 1, to: 0, by: -1) {
                let layer = layers[l]
                let below = outputGradients[l - 1]
                // dA_{l-1} = G_l W_l^T; op(B) = W^T is W read transposed (row stride = outputs).
                Kernels.gemm(transB: true, m: batchSize, n: layer.inputs, k: layer.outputs,
                             a: outputGradients[l], lda: layer.outputs, b: p.baseAddress! + layer.weightOffset, ldb: layer.outputs,
                             c: below, ldc: layer.inputs, threads: threads)
                ck_relu_backward(below, activations[l], batchSize * layer.inputs)
            }
        }
    }

    /// Layer `layer`'s inputs for the whole batch, `batchSize x inputs` row-major.
    public func layerInputs(_ layer: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: activations[layer], count: batchSize * layers[layer].inputs)
    }

    /// The loss gradient with respect to layer `layer`'s (pre-ReLU) outputs, `batchSize x outputs`.
    public func layerOutputGradients(_ layer: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: outputGradients[layer], count: batchSize * layers[layer].outputs)
    }

    /// Row `example` of layer `layer`'s input (what the layer multiplied by its weights).
    public func layerInput(_ layer: Int, example: Int) -> UnsafeBufferPointer<Float> {
        let width = layers[layer].inputs
        return UnsafeBufferPointer(start: activations[layer] + example * width, count: width)
    }

    /// Row `example` of the loss gradient with respect to layer `layer`'s (pre-ReLU) output.
    public func layerOutputGradient(_ layer: Int, example: Int) -> UnsafeBufferPointer<Float> {
        let width = layers[layer].outputs
        return UnsafeBufferPointer(start: outputGradients[layer] + example * width, count: width)
    }

    /// Multiplies every layer's output-gradient row i by scales[i]: by linearity this scales example
    /// i's whole gradient (the DP-SGD clipping factor).
    public func scaleExampleGradients(_ scales: [Float]) {
        precondition(scales.count == batchSize)
        for (l, layer) in layers.enumerated() {
            ck_scale_rows(outputGradients[l], batchSize, layer.outputs, scales)
        }
    }

    /// Sets `gradient` to the sum over the batch of each example's (scaled) parameter gradient:
    /// dW_l = A_{l-1}^T G_l, db_l = column sums of G_l.
    public func accumulateParameterGradients() {
        let rows = batchSize
        gradient.withUnsafeMutableBufferPointer { grad in
            for (l, layer) in layers.enumerated() {
                Kernels.gemm(transA: true, m: layer.inputs, n: layer.outputs, k: rows,
                             a: activations[l], lda: layer.inputs, b: outputGradients[l], ldb: layer.outputs,
                             c: grad.baseAddress! + layer.weightOffset, ldc: layer.outputs, threads: threads)
                ck_column_sums(outputGradients[l], rows, layer.outputs, grad.baseAddress! + layer.biasOffset)
            }
        }
    }

    /// Gives mutable access to the gradient (DP noise, accumulation over chunks).
    public func withMutableGradient<T>(_ body: (inout [Float]) -> T) -> T { body(&gradient) }
}

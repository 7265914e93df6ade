import CKernels

/// Reusable buffers for forward and backward passes over batches of up to `capacity` examples.
/// Backpropagation is split in two so that DP-SGD can clip per example without materialising
/// per-example gradients: `backpropagate()` leaves each dense layer's input rows and output-gradient
/// rows in place (`layerInput`, `layerOutputGradient`), callers may rescale those rows per example,
/// and `accumulateParameterGradients()` then forms the summed weight gradients with one GEMM per layer.
///
/// With several threads a step has three fork-joins: the forward and backward passes split the
/// batch's rows (rows are independent), the weight gradient splits every layer's weight rows
/// (each thread sums over the whole batch), and the SGD update (`sgdUpdate`). Nothing splits a
/// sum, so results are bit-identical for every thread count. During training each forked thread
/// reads its own copy of the parameters (`replicate`), which the update keeps identical.
/// Measured alternatives (scripts/bench-train.sh): splitting each layer's output columns instead
/// kept each core's weights in place but packed the batch twice, and fusing the SGD update into
/// the GEMM stalled it on the parameter loads; both were slower.
public final class Workspace {
    public let convolutions: [ConvolutionLayout]
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
    // Per-example losses (a raw buffer: threads write disjoint rows of it concurrently).
    private let exampleLosses: UnsafeMutablePointer<Float>
    // The loaded batch's dataset rows; the next forward pass copies them in, each thread its own.
    private let rowIndices: UnsafeMutablePointer<Int>
    private var pendingInputs: Dataset?
    // Multiply-adds per example in one pass: what decides whether a fork pays.
    private let weightCount: Int
    // Convolution layers (see `ConvolutionLayout`), per layer c and batch-sized: featureMaps[c] is
    // its input (featureMaps[0] the images, the last one activations[0]), patches[c] its im2col
    // rows (examples x positions x patchSize), convOutputs[c] its output after ReLU, before
    // pooling, poolArgmax[c] which output each pooled value came from, convGradients[c] the loss
    // gradient at its output before ReLU, mapGradients[c] at its pooled output (featureMaps[c + 1]).
    // patchGradients holds the gradient at one layer's patches on the way down (not for layer 0).
    private let featureMaps: [UnsafeMutablePointer<Float>]
    private let patches: [UnsafeMutablePointer<Float>]
    private let convOutputs: [UnsafeMutablePointer<Float>]
    private let poolArgmax: [UnsafeMutablePointer<Int32>]
    private let convGradients: [UnsafeMutablePointer<Float>]
    private let mapGradients: [UnsafeMutablePointer<Float>]
    private let patchGradients: UnsafeMutablePointer<Float>?
    private var weightGradients: [WeightGradient]

    public init(model: Model, capacity: Int, threads: Int = 1) {
        precondition(capacity > 0 && threads > 0)
        convolutions = model.convolutions
        layers = model.layers
        self.capacity = capacity
        self.threads = threads
        weightCount = model.layers.reduce(0) { $0 + $1.inputs * $1.outputs }
            + model.convolutions.reduce(0) { $0 + $1.positions * $1.patchSize * $1.filters }
        labels = [Int32](repeating: 0, count: capacity)
        gradient = [Float](repeating: 0, count: model.parameterCount)
        exampleLosses = Self.zeroed(capacity)
        rowIndices = Self.zeroed(capacity)
        let widths = [model.layers[0].inputs] + model.layers.map(\.outputs)
        activations = widths.map { Self.zeroed(capacity * $0) }
        outputGradients = model.layers.map { Self.zeroed(capacity * $0.outputs) }
        let convolutions = model.convolutions
        featureMaps = convolutions.isEmpty ? [activations[0]]
            : convolutions.map { Self.zeroed(capacity * $0.inputs) } + [activations[0]]
        patches = convolutions.map { Self.zeroed(capacity * $0.positions * $0.patchSize) }
        convOutputs = convolutions.map { Self.zeroed(capacity * $0.positions * $0.filters) }
        convGradients = convolutions.map { Self.zeroed(capacity * $0.positions * $0.filters) }
        mapGradients = convolutions.map { Self.zeroed(capacity * $0.outputs) }
        poolArgmax = convolutions.map { Self.zeroed(capacity * $0.outputs) }
        let widestPatches = convolutions.dropFirst().map { $0.positions * $0.patchSize }.max()
        patchGradients = widestPatches.map { Self.zeroed(capacity * $0) }
        weightGradients = []  // every stored property must be set before `self` can describe its buffers
        weightGradients = Self.weightGradients(self)
    }

    private static func zeroed<T: Numeric>(_ count: Int) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: count)
        p.initialize(repeating: 0, count: count)
        return p
    }

    /// Features per example: the first convolution's input map, or the first dense layer's inputs.
    private var inputWidth: Int { convolutions.first?.inputs ?? layers[0].inputs }

    deinit {
        activations.forEach { $0.deallocate() }
        outputGradients.forEach { $0.deallocate() }
        featureMaps.dropLast().forEach { $0.deallocate() }
        (patches + convOutputs + convGradients + mapGradients).forEach { $0.deallocate() }
        poolArgmax.forEach { $0.deallocate() }
        patchGradients?.deallocate()
        endReplication()
        exampleLosses.deallocate()
        rowIndices.deallocate()
    }

    /// Selects the examples at `indices` (at most `capacity`) as the batch. Their features are
    /// copied into the input buffer by the next forward pass (in parallel, each thread its rows).
    public func loadBatch(_ data: Dataset, indices: some Collection<Int>) {
        precondition(indices.count <= capacity && data.featureCount == inputWidth)
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < data.count)
            rowIndices[row] = index
            labels[row] = data.labels[index]
        }
        batchSize = indices.count
        pendingInputs = data
    }

    /// Runs the network on the loaded batch; logits end up in `logits`.
    public func forward(_ parameters: [Float]) {
        withPendingInputs { inputs in
            parameters.withUnsafeBufferPointer { p in
                let shards = rowShards()
                Kernels.parallelFor(shards.count) { forward(p.baseAddress!, rows: shards[$0], inputs: inputs) }
            }
        }
    }

    /// One data-parallel training pass in a single fork-join: each thread runs the forward pass,
    /// softmax cross-entropy (see `softmaxCrossEntropy`) and backpropagation on its own rows.
    /// Rows are independent until the parameter gradients are summed, so nothing is shared.
    @discardableResult
    public func forwardBackward(_ parameters: [Float], lossScale: Float) -> (lossSum: Double, correct: Int) {
        let shards = rowShards()
        var correct = [Int](repeating: 0, count: shards.count)
        withPendingInputs { inputs in
            parameters.withUnsafeBufferPointer { p in
                correct.withUnsafeMutableBufferPointer { correct in
                    Kernels.parallelFor(shards.count) { shard in
                        let rows = shards[shard]
                        let p = shard > 0 && shard <= replicas.count ? UnsafePointer(replicas[shard - 1].parameters) : p.baseAddress!
                        forward(p, rows: rows, inputs: inputs)
                        correct[shard] = softmaxCrossEntropy(rows: rows, scale: lossScale)
                        backpropagate(p, rows: rows)
                    }
                }
            }
        }
        return (summedLoss(), correct.reduce(0, +))
    }

    /// The batch's rows in at most `threads` contiguous shards of whole micro-tiles (8 rows), fewer
    /// when the batch is too small for a fork to pay (below ~1M multiply-adds per shard).
    private func rowShards() -> [Range<Int>] {
        Self.tiles(batchSize, into: shardCount(rows: batchSize))
    }

    private func shardCount(rows: Int) -> Int { max(1, min(threads, rows / 8, rows * weightCount / 1_000_000)) }

    // MARK: Parameter replicas

    /// One private copy of the parameters and velocity per forked thread beyond the first, kept
    /// bit-identical to the caller's by `sgdUpdate`. Shard s > 0 of `forwardBackward` reads copy
    /// s, which stays in that thread's cache. Without copies, each step every thread rewrites its
    /// band of the shared weights while the other core holds those lines (it read them all in its
    /// forward pass) and then reads the other band back: measured with scripts/bench-train.sh, the
    /// 2-thread SGD update cost 4.7x its share of the 1-thread one, and copies took 2 threads from
    /// 1.56x to 1.71x one thread, at the price of each thread updating every parameter.
    private var replicas: [(parameters: UnsafeMutablePointer<Float>, velocity: UnsafeMutablePointer<Float>)] = []

    /// Whether `forwardBackward` reads replicas (between `replicate` and `endReplication`).
    public var isReplicated: Bool { !replicas.isEmpty }

    /// Copies `parameters` and `velocity` into one replica per forked thread beyond the first, when
    /// a full batch forks; until `endReplication`, the parameters may change only by `sgdUpdate`.
    public func replicate(parameters: [Float], velocity: [Float]) {
        endReplication()
        precondition(parameters.count == gradient.count && velocity.count == gradient.count)
        let count = shardCount(rows: capacity) - 1
        guard count > 0 else { return }
        replicas = (0..<count).map { _ in
            let copy = (parameters: UnsafeMutablePointer<Float>.allocate(capacity: parameters.count),
                        velocity: UnsafeMutablePointer<Float>.allocate(capacity: velocity.count))
            parameters.withUnsafeBufferPointer { copy.parameters.initialize(from: $0.baseAddress!, count: $0.count) }
            velocity.withUnsafeBufferPointer { copy.velocity.initialize(from: $0.baseAddress!, count: $0.count) }
            return copy
        }
    }

    /// Drops the replicas: passes read the parameters they are given again.
    public func endReplication() {
        for copy in replicas {
            copy.parameters.deallocate()
            copy.velocity.deallocate()
        }
        replicas = []
    }

    /// The SGD-with-momentum step (`ck_sgd_momentum`) with `gradient` on `parameters` and
    /// `velocity`: on each replica's own thread as well when replicated, else each band of
    /// `parameterBands` on the thread that formed its gradient. With `proximal`, FedProx's term
    /// mu * (w - anchor) joins the gradient (`ck_sgd_momentum_proximal`).
    func sgdUpdate(parameters: UnsafeMutablePointer<Float>, velocity: UnsafeMutablePointer<Float>, rate: Float, momentum: Float, decay: Float,
                   proximal: (anchor: UnsafePointer<Float>, mu: Float)? = nil) {
        gradient.withUnsafeBufferPointer { g in
            let g = g.baseAddress!, count = gradient.count
            func step(_ w: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
                if let proximal {
                    ck_sgd_momentum_proximal(w + range.lowerBound, v + range.lowerBound, g + range.lowerBound,
                                             proximal.anchor + range.lowerBound, range.count, rate, momentum, decay, proximal.mu)
                } else {
                    ck_sgd_momentum(w + range.lowerBound, v + range.lowerBound, g + range.lowerBound, range.count, rate, momentum, decay)
                }
            }
            if isReplicated {
                let replicas = replicas
                Kernels.parallelFor(replicas.count + 1) { copy in
                    let (w, v) = copy == 0 ? (parameters, velocity) : replicas[copy - 1]
                    step(w, v, 0..<count)
                }
            } else {
                Kernels.forEachRange(in: parameterBands.isEmpty ? [[0..<count]] : parameterBands) { range in
                    step(parameters, velocity, range)
                }
            }
        }
    }

    /// 0..<total in at most `count` contiguous ranges of whole micro-tiles (multiples of 8 rows,
    /// but the last).
    private static func tiles(_ total: Int, into count: Int) -> [Range<Int>] {
        let step = max(1, ((total + count - 1) / count + 7) / 8 * 8)
        return stride(from: 0, to: total, by: step).map { $0..<min($0 + step, total) }
    }

    /// Calls `body` with the features of a batch loaded since the last forward pass (nil if none).
    private func withPendingInputs(_ body: (UnsafePointer<Float>?) -> Void) {
        guard let data = pendingInputs, batchSize > 0 else { return body(nil) }
        pendingInputs = nil
        data.features.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// The forward pass of `rows`, first copying their features in when `inputs` is given.
    private func forward(_ p: UnsafePointer<Float>, rows: Range<Int>, inputs: UnsafePointer<Float>?) {
        if let inputs {
            let d = inputWidth
            for row in rows { (featureMaps[0] + row * d).update(from: inputs + rowIndices[row] * d, count: d) }
        }
        for (c, layer) in convolutions.enumerated() {
            Convolution.im2col(layer, input: featureMaps[c], rows: rows, patches: patches[c])
            let positions = layer.positions
            Kernels.gemm(m: rows.count * positions, n: layer.filters, k: layer.patchSize,
                         a: patches[c] + rows.lowerBound * positions * layer.patchSize, lda: layer.patchSize,
                         b: p + layer.weightOffset, ldb: layer.filters,
                         c: convOutputs[c] + rows.lowerBound * positions * layer.filters, ldc: layer.filters,
                         bias: p + layer.biasOffset, relu: true)
            Convolution.maxPool(layer, convOutput: convOutputs[c], rows: rows, pooled: featureMaps[c + 1], argmax: poolArgmax[c])
        }
        for (l, layer) in layers.enumerated() {
            Kernels.gemm(m: rows.count, n: layer.outputs, k: layer.inputs,
                         a: activations[l] + rows.lowerBound * layer.inputs, lda: layer.inputs,
                         b: p + layer.weightOffset, ldb: layer.outputs,
                         c: activations[l + 1] + rows.lowerBound * layer.outputs, ldc: layer.outputs,
                         bias: p + layer.biasOffset, relu: l < layers.count - 1)
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
        let correct = softmaxCrossEntropy(rows: 0..<batchSize, scale: scale)
        return (summedLoss(), correct)
    }

    /// Softmax cross-entropy of `rows`: per-example losses into `exampleLosses`, output gradients,
    /// and the number of correct predictions.
    private func softmaxCrossEntropy(rows: Range<Int>, scale: Float) -> Int {
        let classes = layers[layers.count - 1].outputs
        let z = activations[layers.count], g = outputGradients[layers.count - 1]
        var correct = 0
        for row in rows {
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
            exampleLosses[row] = _logf(sum) - (zr[label] - maxValue)
            if argmax == label { correct += 1 }
            for j in 0..<classes { gr[j] = gr[j] * inverse * scale }
            gr[label] -= scale
        }
        return correct
    }

    /// The batch's summed loss, in row order (so it does not depend on the thread count).
    private func summedLoss() -> Double {
        UnsafeBufferPointer(start: exampleLosses, count: batchSize).reduce(0.0) { $0 + Double($1) }
    }

    /// Propagates the output gradient down to every layer's output gradient (ReLU masks applied).
    public func backpropagate(_ parameters: [Float]) {
        parameters.withUnsafeBufferPointer { p in
            let shards = rowShards()
            Kernels.parallelFor(shards.count) { backpropagate(p.baseAddress!, rows: shards[$0]) }
        }
    }

    private func backpropagate(_ p: UnsafePointer<Float>, rows: Range<Int>) {
        for l in stride(from: layers.count - 1, to: convolutions.isEmpty ? 0 : -1, by: -1) {
            let layer = layers[l]
            let below = (l > 0 ? outputGradients[l - 1] : mapGradients[convolutions.count - 1]) + rows.lowerBound * layer.inputs
            // dA_{l-1} = G_l W_l^T; op(B) = W^T is W read transposed (row stride = outputs).
            Kernels.gemm(transB: true, m: rows.count, n: layer.inputs, k: layer.outputs,
                         a: outputGradients[l] + rows.lowerBound * layer.outputs, lda: layer.outputs,
                         b: p + layer.weightOffset, ldb: layer.outputs, c: below, ldc: layer.inputs)
            // Pooled convolution outputs have no ReLU of their own: the mask applies before pooling.
            if l > 0 { ck_relu_backward(below, activations[l] + rows.lowerBound * layer.inputs, rows.count * layer.inputs) }
        }
        for c in convolutions.indices.reversed() {
            let layer = convolutions[c], positions = layer.positions
            let outputs = rows.lowerBound * positions * layer.filters
            Convolution.unpool(layer, pooledGradient: mapGradients[c], argmax: poolArgmax[c], rows: rows, gradient: convGradients[c])
            ck_relu_backward(convGradients[c] + outputs, convOutputs[c] + outputs, rows.count * positions * layer.filters)
            guard c > 0, let patchGradients else { continue }
            // dPatches = G W^T, then each patch's gradient is added back where the patch was read.
            Kernels.gemm(transB: true, m: rows.count * positions, n: layer.patchSize, k: layer.filters,
                         a: convGradients[c] + outputs, lda: layer.filters, b: p + layer.weightOffset, ldb: layer.filters,
                         c: patchGradients + rows.lowerBound * positions * layer.patchSize, ldc: layer.patchSize)
            Convolution.col2im(layer, patchGradients: patchGradients, rows: rows, inputGradient: mapGradients[c - 1])
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
        for (c, layer) in convolutions.enumerated() {
            ck_scale_rows(convGradients[c], batchSize, layer.positions * layer.filters, scales)
        }
    }

    /// Sets `gradient` to the sum over the batch of each example's (scaled) parameter gradient:
    /// dW = A^T G, db = column sums of G for every layer (a convolution's A holds its patches, one
    /// row per output position). One fork-join: each thread owns a band of every layer's weight
    /// rows and sums over the whole batch, so no partial gradients are merged and the result is the
    /// same for every thread count.
    public func accumulateParameterGradients() {
        let examples = batchSize
        let bands = max(1, min(threads, examples * weightCount / 1_000_000))
        if parameterBands.count != bands {
            weightRowBands = weightGradients.map { Self.tiles($0.rows, into: bands) }
            parameterBands = (0..<bands).map { band in
                weightGradients.indices.compactMap { g -> Range<Int>? in
                    guard band < weightRowBands[g].count else { return nil }
                    let w = weightGradients[g], rows = weightRowBands[g][band]
                    return w.weightOffset + rows.lowerBound * w.columns..<w.weightOffset + rows.upperBound * w.columns
                } + (band == bands - 1 ? weightGradients.map { $0.biasOffset..<$0.biasOffset + $0.columns } : [])
            }
        }
        let rowBands = weightRowBands
        gradient.withUnsafeMutableBufferPointer { grad in
            let grad = grad.baseAddress!
            Kernels.parallelFor(bands) { band in
                for (g, w) in weightGradients.enumerated() where band < rowBands[g].count {
                    let band = rowBands[g][band]
                    if !band.isEmpty {
                        Kernels.gemm(transA: true, m: band.count, n: w.columns, k: examples * w.samplesPerExample,
                                     a: w.input + band.lowerBound, lda: w.rows, b: w.outputGradient, ldb: w.columns,
                                     c: grad + w.weightOffset + band.lowerBound * w.columns, ldc: w.columns)
                    }
                }
                if band == bands - 1 {
                    for w in weightGradients { ck_column_sums(w.outputGradient, examples * w.samplesPerExample, w.columns, grad + w.biasOffset) }
                }
            }
        }
    }

    /// One layer's weight gradient as a GEMM over `samplesPerExample` rows per example: dW (`rows x
    /// columns`, at `weightOffset`) = input^T outputGradient, db (at `biasOffset`) = column sums.
    private struct WeightGradient {
        let input: UnsafeMutablePointer<Float>
        let outputGradient: UnsafeMutablePointer<Float>
        let rows: Int
        let columns: Int
        let samplesPerExample: Int
        let weightOffset: Int
        let biasOffset: Int
    }

    /// Every layer's weight gradient, convolutions first.
    private static func weightGradients(_ w: Workspace) -> [WeightGradient] {
        let (convolutions, layers, patches, convGradients) = (w.convolutions, w.layers, w.patches, w.convGradients)
        let (activations, outputGradients) = (w.activations, w.outputGradients)
        return convolutions.indices.map { c in
            let layer = convolutions[c]
            return WeightGradient(input: patches[c], outputGradient: convGradients[c], rows: layer.patchSize, columns: layer.filters,
                                  samplesPerExample: layer.positions, weightOffset: layer.weightOffset, biasOffset: layer.biasOffset)
        } + layers.indices.map { l in
            let layer = layers[l]
            return WeightGradient(input: activations[l], outputGradient: outputGradients[l], rows: layer.inputs, columns: layer.outputs,
                                  samplesPerExample: 1, weightOffset: layer.weightOffset, biasOffset: layer.biasOffset)
        }
    }

    /// Each example's squared gradient norm over the convolution layers' parameters (zeros without
    /// convolutions): DP-SGD adds it to the dense layers' norms before clipping. A convolution's
    /// per-example weight gradient sums over positions, so unlike a dense layer's it is formed
    /// (one small GEMM per example and layer) rather than factored.
    public func convolutionGradientSquaredNorms() -> [Float] {
        var norms = [Float](repeating: 0, count: batchSize)
        guard !convolutions.isEmpty else { return norms }
        let shards = rowShards()
        let scratchSize = convolutions.map { $0.patchSize * $0.filters + $0.filters }.max()!
        norms.withUnsafeMutableBufferPointer { norms in
            Kernels.parallelFor(shards.count) { shard in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchSize)
                defer { scratch.deallocate() }
                for row in shards[shard] {
                    var total: Float = 0
                    for (c, layer) in convolutions.enumerated() {
                        let count = layer.patchSize * layer.filters, positions = layer.positions
                        let g = convGradients[c] + row * positions * layer.filters
                        Kernels.gemm(transA: true, m: layer.patchSize, n: layer.filters, k: positions,
                                     a: patches[c] + row * positions * layer.patchSize, lda: layer.patchSize,
                                     b: g, ldb: layer.filters, c: scratch, ldc: layer.filters)
                        ck_column_sums(g, positions, layer.filters, scratch + count)
                        for i in 0..<(count + layer.filters) { total += scratch[i] * scratch[i] }
                    }
                    norms[row] = total
                }
            }
        }
        return norms
    }

    /// The flat parameter ranges whose gradient each thread formed in the last
    /// `accumulateParameterGradients`: without replicas the optimizer updates the same bands on
    /// the same threads, while they are still in that core's cache (measured: a 2-thread run that
    /// updated all 200k parameters on one thread spent 5x longer in the update than a 1-thread
    /// run), and DP-SGD adds each band's noise there.
    public private(set) var parameterBands: [[Range<Int>]] = []
    /// Per `weightGradients` entry, its weight rows in the bands of `parameterBands`.
    private var weightRowBands: [[Range<Int>]] = []

    /// Gives mutable access to the gradient (DP noise, accumulation over chunks).
    public func withMutableGradient<T>(_ body: (inout [Float]) -> T) -> T { body(&gradient) }
}

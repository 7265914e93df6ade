import CKernels
import Learning

/// Settings of DP-SGD (Abadi et al. 2016) as run here: Poisson sampling with rate
/// q = expectedBatchSize / N, per-example clipping to L2 norm `clipNorm`, Gaussian noise of standard
/// deviation `noiseMultiplier * clipNorm` on the summed clipped gradient, divided by expectedBatchSize.
public struct DPSGDOptions: Equatable, Sendable {
    public var clipNorm: Float
    public var noiseMultiplier: Double
    public var expectedBatchSize: Int

    public init(clipNorm: Float = 1, noiseMultiplier: Double, expectedBatchSize: Int) {
        precondition(clipNorm > 0 && noiseMultiplier >= 0 && expectedBatchSize > 0)
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.expectedBatchSize = expectedBatchSize
    }

    /// The sampling rate for a dataset of `count` examples.
    public func samplingRate(datasetSize count: Int) -> Double {
        min(1, Double(expectedBatchSize) / Double(max(count, 1)))
    }
}

/// DP-SGD as a `TrainingAlgorithm`. Per-example gradient norms of dense layers are exact "ghost"
/// norms: example i's weight gradient in layer l is the outer product a_i g_iᵀ of its layer input
/// and output gradient, so ‖∇W‖² + ‖∇b‖² = (‖a_i‖² + 1)·‖g_i‖², and no per-example gradient is
/// ever formed. Clipping then scales each example's output-gradient rows by min(1, C/‖∇_i‖)
/// (backpropagation is linear in them) before the one summed weight-gradient GEMM per layer.
/// Every step records its (q, σ) in `ledger`; with a `budget`, a step that would exceed it is refused.
public struct DPSGD: TrainingAlgorithm {
    public let options: DPSGDOptions
    public let budget: PrivacyBudget?
    /// Every step taken by this instance.
    public private(set) var ledger: PrivacyLedger
    private var accumulator: [Float] = []

    public init(options: DPSGDOptions, budget: PrivacyBudget? = nil, ledger: PrivacyLedger = PrivacyLedger()) {
        self.options = options
        self.budget = budget
        self.ledger = ledger
    }

    /// One epoch is 1/q steps: on average every example is seen once.
    public func stepsPerEpoch(datasetSize: Int) -> Int {
        max(1, Int((1 / options.samplingRate(datasetSize: datasetSize)).rounded()))
    }

    /// Room for a Poisson batch up to ~8 standard deviations above its mean; larger batches are
    /// processed in several chunks.
    public func maximumBatchSize(datasetSize: Int) -> Int {
        let mean = Double(options.expectedBatchSize)
        return max(1, min(datasetSize, Int(mean + 8 * mean.squareRoot() + 16)))
    }

    public mutating func computeGradient<R: RandomNumberGenerator>(
        model: Model, data: Dataset, workspace: Workspace, rng: inout R) -> StepOutcome? {
        let q = options.samplingRate(datasetSize: data.count)
        let step = DPStep(samplingRate: q, noiseMultiplier: options.noiseMultiplier)
        if let budget {
            // Without a valid budget check no step may be taken.
            guard let check = try? budget.check(ledger, samplingRate: q, noiseMultiplier: options.noiseMultiplier),
                  check.allowed else { return nil }
        }
        // Recorded first, and a step the ledger cannot record is never taken: σ outside the
        // accountant's range, or 0 (no privacy at all), once trained on with the step silently
        // left out of the ledger, and the ε reported was below what was spent.
        guard (try? ledger.record(samplingRate: q, noiseMultiplier: options.noiseMultiplier, steps: 1)) != nil else { return nil }
        let batch = Self.poissonSample(count: data.count, rate: q, rng: &rng)
        var outcome = Self.privateGradient(model: model, data: data, indices: batch, options: options, workspace: workspace,
                                           noiseSeed: rng.nextSeed512(), accumulator: &accumulator)
        outcome.privacy = step
        return outcome
    }

    /// Poisson sampling: each of `count` indices independently with probability `rate`, drawn by
    /// geometric skips (cost proportional to the batch, not the dataset).
    public static func poissonSample<R: RandomNumberGenerator>(count: Int, rate: Double, rng: inout R) -> [Int] {
        if rate >= 1 { return Array(0..<count) }
        guard rate > 0 else { return [] }
        let logMiss = _log1p(-rate)
        var indices: [Int] = []
        indices.reserveCapacity(Int(Double(count) * rate * 1.2) + 8)
        var index = -1
        while true {
            let skip = min((_log(rng.nextOpenUnit()) / logMiss).rounded(.down), Double(count))
            index += 1 + Int(skip)
            if index >= count { return indices }
            indices.append(index)
        }
    }

    /// Sum over `indices` of each example's gradient clipped to `clipNorm`, plus N(0, (σC)²) noise
    /// per coordinate, divided by the expected batch size, left in `workspace.gradient`.
    /// Batches larger than the workspace are processed in chunks and summed.
    public static func privateGradient(model: Model, data: Dataset, indices: [Int], options: DPSGDOptions,
                                       workspace: Workspace, noiseSeed: [UInt64], accumulator: inout [Float]) -> StepOutcome {
        precondition(noiseSeed.count == 8)
        let scale = 1 / Float(options.expectedBatchSize)
        var outcome = StepOutcome(lossSum: 0, examples: indices.count, correct: 0)
        var start = 0, chunks = 0
        repeat {
            let end = min(start + workspace.capacity, indices.count)
            workspace.loadBatch(data, indices: indices[start..<end])
            let (lossSum, correct) = workspace.forwardBackward(model.parameters, lossScale: 1)
            outcome.lossSum += lossSum
            outcome.correct += correct
            let norms = exampleGradientNorms(workspace)
            let factors = norms.map { min(1, options.clipNorm / ($0 + 1e-6)) * scale }
            workspace.scaleExampleGradients(factors)
            workspace.accumulateParameterGradients()
            if end < indices.count || chunks > 0 {
                if accumulator.count != model.parameterCount || chunks == 0 {
                    accumulator = [Float](repeating: 0, count: model.parameterCount)
                }
                workspace.withMutableGradient { gradient in
                    accumulator.withUnsafeMutableBufferPointer { sum in
                        gradient.withUnsafeBufferPointer { g in ck_axpy(sum.baseAddress!, g.baseAddress!, g.count, 1) }
                    }
                }
            }
            chunks += 1
            start = end
        } while start < indices.count
        workspace.withMutableGradient { gradient in
            if chunks > 1 { gradient = accumulator }
            addGaussianNoise(to: &gradient, stddev: Float(options.noiseMultiplier) * options.clipNorm * scale,
                             seed: noiseSeed, bands: chunks > 1 ? nil : workspace.parameterBands)
        }
        return outcome
    }

    /// Each example's full-gradient L2 norm from the workspace's layer inputs and output gradients.
    public static func exampleGradientNorms(_ workspace: Workspace) -> [Float] {
        let rows = workspace.batchSize
        var total = workspace.convolutionGradientSquaredNorms()
        var inputs = [Float](repeating: 0, count: rows), outputs = [Float](repeating: 0, count: rows)
        for (l, layer) in workspace.layers.enumerated() {
            ck_row_squared_norms(workspace.layerInputs(l).baseAddress, rows, layer.inputs, &inputs)
            ck_row_squared_norms(workspace.layerOutputGradients(l).baseAddress, rows, layer.outputs, &outputs)
            for i in 0..<rows { total[i] += (inputs[i] + 1) * outputs[i] }
        }
        return total.map { $0.squareRoot() }
    }

    /// Noise block size: each block has its own stream of the step's seed, so the noise does not
    /// depend on how many threads fill it, or in which pieces.
    static let noiseBlock = 1 << 16

    /// Adds independent N(0, stddev²) noise to every coordinate. With `bands` (per thread, ranges
    /// that together cover every coordinate once; `Workspace.parameterBands`), each thread fills
    /// its own ranges: the gradient the thread formed, and will hand to the optimizer on the same
    /// thread, stays in its core's cache.
    public static func addGaussianNoise(to values: inout [Float], stddev: Float, seed: [UInt64], bands: [[Range<Int>]]? = nil) {
        guard stddev > 0, !values.isEmpty else { return }
        let bands = bands ?? [[0..<values.count]]
        seed.withUnsafeBufferPointer { seedPointer in
            values.withUnsafeMutableBufferPointer { out in
                Kernels.forEachRange(in: bands) { range in
                    precondition(range.upperBound <= out.count)
                    // The range piece by piece, each piece within one noise block.
                    var start = range.lowerBound
                    while start < range.upperBound {
                        let block = start / noiseBlock
                        let end = min(range.upperBound, (block + 1) * noiseBlock)
                        ck_gaussian_noise(out.baseAddress! + start, end - start, stddev, seedPointer.baseAddress!,
                                          UInt64(block), start - block * noiseBlock, 1)
                        start = end
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) func _log(_ x: Double) -> Double { log(x) }
@inline(__always) func _log1p(_ x: Double) -> Double { log1p(x) }

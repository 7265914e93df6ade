import Foundation
import Learning
import Testing
@testable import Privacy

/// DP-SGD mechanics: exact ghost norms, clipping of every example, noise of the right scale,
/// Poisson sampling, budget stop, and the input-noise seed technique.
@Suite struct DPSGDTests {
    static func model(_ spec: String, inputs: Int, classes: Int, seed: UInt64 = 3) throws -> Model {
        var rng = SeededGenerator(seed: seed)
        return Model(spec: try ModelSpec.parse(spec), inputCount: inputs, classCount: classes, rng: &rng)
    }

    /// Rows with very different scales, so some gradients are far above the clip norm and some below.
    static func craftedData(inputs: Int, classes: Int, count: Int) throws -> Dataset {
        var rng = SeededGenerator(seed: 11)
        var features: [Float] = []
        for row in 0..<count {
            let scale: Float = row % 3 == 0 ? 100 : (row % 3 == 1 ? 0.01 : 1)
            features += (0..<inputs).map { _ in scale * Float(rng.nextGaussian()) }
        }
        return try Dataset(features: features, labels: (0..<count).map { Int32($0 % classes) }, featureCount: inputs, classCount: classes)
    }

    /// One example's gradient of its own loss, by the ordinary (non-private) path.
    static func exampleGradient(_ model: Model, _ data: Dataset, _ index: Int) -> [Float] {
        let workspace = Workspace(model: model, capacity: 1)
        workspace.loadBatch(data, indices: [index])
        workspace.forward(model.parameters)
        workspace.softmaxCrossEntropy(scale: 1)
        workspace.backpropagate(model.parameters)
        workspace.accumulateParameterGradients()
        return workspace.gradient
    }

    static func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    @Test(arguments: [("logreg", 9), ("mlp:6", 9), ("mlp:7,5", 9), ("cnn:3,2:5", 256)])
    func ghostNormsEqualMaterialisedPerExampleNorms(spec: String, inputs: Int) throws {
        let model = try Self.model(spec, inputs: inputs, classes: 4)
        let data = try Self.craftedData(inputs: inputs, classes: 4, count: 9)
        let workspace = Workspace(model: model, capacity: 9)
        workspace.loadBatch(data, indices: 0..<9)
        workspace.forward(model.parameters)
        workspace.softmaxCrossEntropy(scale: 1)
        workspace.backpropagate(model.parameters)
        let ghost = DPSGD.exampleGradientNorms(workspace)
        for i in 0..<9 {
            let exact = Self.norm(Self.exampleGradient(model, data, i))
            #expect(abs(Double(ghost[i]) - exact) <= 1e-4 * exact + 1e-7, "example \(i): ghost \(ghost[i]), exact \(exact)")
        }
    }

    @Test func clippingBoundsEveryExampleAndSumsClippedGradients() throws {
        let model = try Self.model("mlp:8,6", inputs: 12, classes: 3)
        let data = try Self.craftedData(inputs: 12, classes: 3, count: 12)
        let clip: Float = 2
        let options = DPSGDOptions(clipNorm: clip, noiseMultiplier: 0, expectedBatchSize: 1)
        let workspace = Workspace(model: model, capacity: 5) // smaller than the batch: exercises chunking
        var accumulator: [Float] = []
        var expected = [Float](repeating: 0, count: model.parameterCount)
        var clippedSome = false, unclippedSome = false
        for i in 0..<12 {
            // Alone, each example contributes at most C.
            _ = DPSGD.privateGradient(model: model, data: data, indices: [i], options: options, workspace: workspace,
                                      noiseSeed: [UInt64](repeating: 1, count: 8), accumulator: &accumulator)
            let alone = workspace.gradient
            #expect(Self.norm(alone) <= Double(clip) * (1 + 1e-5), "example \(i) contributes \(Self.norm(alone))")
            let raw = Self.exampleGradient(model, data, i)
            let rawNorm = Self.norm(raw)
            if rawNorm > Double(clip) { clippedSome = true } else { unclippedSome = true }
            let factor = Float(min(1, Double(clip) / (rawNorm + 1e-6)))
            for j in expected.indices { expected[j] += factor * raw[j] }
        }
        #expect(clippedSome && unclippedSome, "the crafted batch mixes large and small gradients")
        _ = DPSGD.privateGradient(model: model, data: data, indices: Array(0..<12), options: options, workspace: workspace,
                                  noiseSeed: [UInt64](repeating: 1, count: 8), accumulator: &accumulator)
        let worst = zip(workspace.gradient, expected).map { Double(abs($0 - $1)) }.max() ?? 0
        #expect(worst < 1e-4 * max(1, Self.norm(expected)), "batch gradient differs from the sum of clipped gradients by \(worst)")
    }

    /// Noise filled in arbitrary pieces (odd offsets inside and across 65,536-value blocks, on
    /// several threads) equals the noise filled in one go, value for value.
    @Test func noiseDoesNotDependOnHowItIsSplit() {
        let count = 200_003, seed: [UInt64] = (0..<8).map { 0x9E37 &* ($0 + 1) }
        var whole = [Float](repeating: 1, count: count)
        DPSGD.addGaussianNoise(to: &whole, stddev: 0.5, seed: seed)
        let cuts = [0, 7, 33, 65_535, 65_537, 70_001, 131_072, 131_101, 199_990, count]
        let pieces = zip(cuts, cuts.dropFirst()).map { $0..<$1 }
        var split = [Float](repeating: 1, count: count)
        DPSGD.addGaussianNoise(to: &split, stddev: 0.5, seed: seed,
                               bands: [pieces.enumerated().filter { $0.offset % 2 == 0 }.map(\.element),
                                       pieces.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)])
        #expect(split == whole)
        #expect(Set(whole).count > count / 2, "the noise is not constant")
    }

    @Test func noiseHasStandardDeviationSigmaTimesClipOverBatch() throws {
        let model = try Self.model("mlp:128", inputs: 784, classes: 10)   // 101,770 coordinates
        let data = try Self.craftedData(inputs: 784, classes: 10, count: 8)
        let sigma = 1.7, clip: Float = 0.8, batch = 32
        func gradient(_ noise: Double, threads: Int, seed: UInt64) -> [Float] {
            let workspace = Workspace(model: model, capacity: 8, threads: threads)
            var accumulator: [Float] = []
            _ = DPSGD.privateGradient(model: model, data: data, indices: Array(0..<8),
                                      options: DPSGDOptions(clipNorm: clip, noiseMultiplier: noise, expectedBatchSize: batch),
                                      workspace: workspace, noiseSeed: (0..<8).map { seed &+ $0 }, accumulator: &accumulator)
            return workspace.gradient
        }
        let clean = gradient(0, threads: 1, seed: 1)
        let noisy = gradient(sigma, threads: 1, seed: 1)
        #expect(gradient(sigma, threads: 2, seed: 1) == noisy, "noise must not depend on the thread count")
        let noise = zip(noisy, clean).map { Double($0 - $1) }
        let n = Double(noise.count)
        let mean = noise.reduce(0, +) / n
        let variance = noise.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
        let kurtosis = noise.map { pow($0 - mean, 4) }.reduce(0, +) / n / (variance * variance)
        let expected = sigma * Double(clip) / Double(batch)
        // Standard error of the variance estimate is sqrt(2/n) = 0.44%: 1.5% catches a σ off by 1%.
        #expect(abs(variance / (expected * expected) - 1) < 0.015, "std \(variance.squareRoot()), expected \(expected)")
        #expect(abs(mean) < 4 * expected / n.squareRoot())
        #expect(abs(kurtosis - 3) < 0.1, "Gaussian tails: kurtosis \(kurtosis)")
        let other = zip(gradient(sigma, threads: 1, seed: 99), clean).map { Double($0 - $1) }
        let correlation = zip(noise, other).map { $0 * $1 }.reduce(0, +) / n / (expected * expected)
        #expect(abs(correlation) < 0.02, "different seeds give independent noise")
    }

    @Test func poissonSamplingHasBinomialSizes() {
        var rng = SeededGenerator(seed: 5)
        let n = 10_000, q = 0.01
        let sizes = (0..<400).map { _ in Double(DPSGD.poissonSample(count: n, rate: q, rng: &rng).count) }
        let mean = sizes.reduce(0, +) / 400
        let variance = sizes.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 399
        #expect(abs(mean - 100) < 2.5)
        #expect(abs(variance / 99 - 1) < 0.25)
        let one = DPSGD.poissonSample(count: n, rate: q, rng: &rng)
        #expect(one == one.sorted() && Set(one).count == one.count && (one.last ?? 0) < n)
        #expect(DPSGD.poissonSample(count: 7, rate: 1, rng: &rng) == Array(0..<7))
    }

    @Test func trainingStopsBeforeExceedingTheBudget() throws {
        let split = try DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load()
        let model = try Self.model("logreg", inputs: 784, classes: 10)
        let budget = try PrivacyBudget(epsilon: 2, delta: 1e-5)
        let options = DPSGDOptions(clipNorm: 1, noiseMultiplier: 1.2, expectedBatchSize: 100)
        var trainer = LocalTrainer(model: model, options: SGDOptions(learningRate: 0.1), algorithm: DPSGD(options: options, budget: budget))
        var rng = SeededGenerator(seed: 1)
        let summary = trainer.train(steps: 10_000, on: split.train, rng: &rng)
        #expect(summary.stoppedEarly && summary.steps > 0 && summary.steps < 10_000)
        #expect(summary.privacySteps == [DPStepRun(step: DPStep(samplingRate: 0.05, noiseMultiplier: 1.2), count: summary.steps)])
        let ledger = trainer.algorithm.ledger
        #expect(ledger.totalSteps == summary.steps)
        #expect(try ledger.guarantee(delta: 1e-5).epsilon <= 2)
        let oneMore = try budget.check(ledger, samplingRate: 0.05, noiseMultiplier: 1.2)
        #expect(!oneMore.allowed)
    }

    /// A step the ledger cannot record is not taken: with σ = 0 (no privacy) or σ outside the
    /// accountant's range, DP-SGD used to train on while leaving every step out of the ledger, so
    /// the ε reported (0) was below what was spent. `run` and `train` refuse such σ; the algorithm
    /// must not depend on that.
    @Test func aStepTheLedgerCannotRecordIsNotTaken() throws {
        let data = try Self.craftedData(inputs: 12, classes: 3, count: 12)
        let model = try Self.model("logreg", inputs: 12, classes: 3)
        for sigma in [0, 2e4, 1e-4] {
            let options = DPSGDOptions(clipNorm: 1, noiseMultiplier: sigma, expectedBatchSize: 4)
            var trainer = LocalTrainer(model: model, options: SGDOptions(learningRate: 0.1), algorithm: DPSGD(options: options))
            var rng = SeededGenerator(seed: 1)
            let summary = trainer.train(steps: 5, on: data, rng: &rng)
            #expect(summary.steps == 0 && summary.stoppedEarly, "σ = \(sigma): \(summary.steps) steps")
            #expect(trainer.model.parameters == model.parameters, "σ = \(sigma)")
            #expect(trainer.algorithm.ledger.totalSteps == 0)
        }
    }

    @Test func dpTrainingOnSubsetLearns() throws {
        let split = try DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load()
        let model = try Self.model("mlp:64", inputs: 784, classes: 10)
        let dp = DPSGD(options: DPSGDOptions(clipNorm: 1, noiseMultiplier: 0.8, expectedBatchSize: 64))
        var trainer = LocalTrainer(model: model, options: SGDOptions(learningRate: 0.1, momentum: 0.9), algorithm: dp, threads: 2)
        var rng = SeededGenerator(seed: 2)
        let summary = trainer.train(epochs: 4, on: split.train, rng: &rng)
        let accuracy = Evaluation(model: trainer.model, data: split.test).accuracy
        #expect(summary.steps == 4 * 31)
        #expect(accuracy > 0.65, "DP-SGD accuracy \(accuracy)")
    }

    /// Poisson batches, clipping and noise through the trainer, with the second thread on its own
    /// parameter replica, also when the model changes between calls: bit-identical to one thread.
    @Test func dpTrainingIsTheSameOnOneAndTwoThreads() throws {
        let split = try DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load()
        let initial = try Self.model("mlp:64", inputs: 784, classes: 10)
        func train(threads: Int) -> [Float] {
            let dp = DPSGD(options: DPSGDOptions(clipNorm: 1, noiseMultiplier: 0.8, expectedBatchSize: 64))
            var trainer = LocalTrainer(model: initial, options: SGDOptions(learningRate: 0.1, momentum: 0.9), algorithm: dp, threads: threads)
            var rng = SeededGenerator(seed: 3)
            _ = trainer.train(steps: 5, on: split.train, rng: &rng)
            trainer.model.parameters = trainer.model.parameters.map { $0 * 0.5 }
            _ = trainer.train(steps: 5, on: split.train, rng: &rng)
            return trainer.model.parameters
        }
        let one = train(threads: 1), two = train(threads: 2)
        #expect(one != initial.parameters)
        #expect(zip(one, two).filter { $0 != $1 }.count == 0, "parameters differ between 1 and 2 threads")
    }

    @Test func inputNoiseHasTheStatedScale() throws {
        for (noise, variance) in [(InputNoise.gaussian(stddev: 0.3), 0.09), (.laplace(scale: 0.2), 0.08)] {
            var data = try Dataset(features: [Float](repeating: 0.5, count: 40_000), labels: [Int32](repeating: 0, count: 40_000),
                                   featureCount: 1, classCount: 2)
            var rng = SeededGenerator(seed: 4)
            noise.apply(to: &data, rng: &rng)
            let deviations = data.features.map { Double($0) - 0.5 }
            let measured = deviations.map { $0 * $0 }.reduce(0, +) / 40_000
            #expect(abs(measured / variance - 1) < 0.05, "\(noise): variance \(measured)")
        }
        #expect(try InputNoise.parse("laplace:0.5") == .laplace(scale: 0.5))
        for bad in ["laplace", "gaussian:-1", "uniform:1", "gaussian:x"] { #expect(throws: InputNoise.ParseError.self) { try InputNoise.parse(bad) } }
    }
}

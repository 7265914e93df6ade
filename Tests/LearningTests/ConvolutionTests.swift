import Foundation
import Testing
@testable import Learning

/// The CNN (`--model cnn`): its forward pass against a direct convolution, its gradients against
/// finite differences (GradientCheckTests), thread-count invariance, parsing and shape errors,
/// export, and learning on the committed subset.
@Suite struct ConvolutionTests {
    static func randomModel(_ spec: String, inputs: Int, classes: Int, seed: UInt64) throws -> Model {
        var rng = SeededGenerator(seed: seed)
        var model = Model(spec: try ModelSpec.parse(spec), inputCount: inputs, classCount: classes, rng: &rng)
        // Non-zero biases so that bias gradients and ReLU masks are exercised.
        for i in model.parameters.indices { model.parameters[i] += Float(0.1 * rng.nextGaussian()) }
        return model
    }

    static func randomData(inputs: Int, classes: Int, count: Int, seed: UInt64) throws -> Dataset {
        var rng = SeededGenerator(seed: seed)
        return try Dataset(features: (0..<(count * inputs)).map { _ in Float(rng.nextGaussian()) },
                           labels: (0..<count).map { Int32($0 % classes) }, featureCount: inputs, classCount: classes)
    }

    /// Logits computed the textbook way: direct 5x5 convolution, ReLU, 2x2 max-pool, dense layers.
    static func naiveLogits(_ model: Model, image: [Float]) -> [Float] {
        var map = image
        for layer in model.convolutions {
            let p = model.parameters, k = ConvolutionLayout.kernel, out = layer.outputSide
            var conv = [Float](repeating: 0, count: out * out * layer.filters)
            for y in 0..<out {
                for x in 0..<out {
                    for f in 0..<layer.filters {
                        var sum = p[layer.biasOffset + f]
                        for dy in 0..<k {
                            for dx in 0..<k {
                                for c in 0..<layer.channels {
                                    let w = p[layer.weightOffset + ((dy * k + dx) * layer.channels + c) * layer.filters + f]
                                    sum += w * map[((y + dy) * layer.side + x + dx) * layer.channels + c]
                                }
                            }
                        }
                        conv[(y * out + x) * layer.filters + f] = max(sum, 0)
                    }
                }
            }
            let half = layer.pooledSide
            map = [Float](repeating: 0, count: half * half * layer.filters)
            for y in 0..<half {
                for x in 0..<half {
                    for f in 0..<layer.filters {
                        let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { conv[((2 * y + $0) * out + 2 * x + $1) * layer.filters + f] }
                        map[(y * half + x) * layer.filters + f] = window.max()!
                    }
                }
            }
        }
        for (l, layer) in model.layers.enumerated() {
            var next = [Float](repeating: 0, count: layer.outputs)
            for j in 0..<layer.outputs {
                var sum = model.parameters[layer.biasOffset + j]
                for i in 0..<layer.inputs { sum += map[i] * model.parameters[layer.weightOffset + i * layer.outputs + j] }
                next[j] = l < model.layers.count - 1 ? max(sum, 0) : sum
            }
            map = next
        }
        return map
    }

    @Test(arguments: [("cnn:3", 144), ("cnn:2,3:4", 256), ("cnn:2,3:4", 289)])
    func forwardMatchesADirectConvolution(spec: String, inputs: Int) throws {
        let model = try Self.randomModel(spec, inputs: inputs, classes: 4, seed: 3)
        let data = try Self.randomData(inputs: inputs, classes: 4, count: 5, seed: 4)
        let workspace = Workspace(model: model, capacity: 5)
        workspace.loadBatch(data, indices: 0..<5)
        workspace.forward(model.parameters)
        for row in 0..<5 {
            let expected = Self.naiveLogits(model, image: Array(data.features[row * inputs..<(row + 1) * inputs]))
            for j in 0..<4 {
                let got = workspace.logits[row * 4 + j]
                #expect(abs(got - expected[j]) <= 1e-4 * max(1, abs(expected[j])), "example \(row) class \(j): \(got) vs \(expected[j])")
            }
        }
    }

    /// Rows split in the passes and weight rows in the gradient, never a sum: parameters after
    /// training equal the one-thread run's bit for bit (odd batch size included).
    @Test func threadCountDoesNotChangeTraining() throws {
        let data = try Self.randomData(inputs: 256, classes: 3, count: 90, seed: 8)
        func train(threads: Int) throws -> [Float] {
            var rng = SeededGenerator(seed: 2)
            let model = try Self.randomModel("cnn:4,6:8", inputs: 256, classes: 3, seed: 1)
            var trainer = LocalTrainer(model: model, options: SGDOptions(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4),
                                       algorithm: MinibatchGradient(batchSize: 45), threads: threads)
            _ = trainer.train(steps: 4, on: data, rng: &rng)
            return trainer.model.parameters
        }
        let one = try train(threads: 1)
        #expect(try train(threads: 2) == one)
        #expect(one != (try Self.randomModel("cnn:4,6:8", inputs: 256, classes: 3, seed: 1)).parameters)
    }

    @Test func specsParseAndPrint() throws {
        #expect(try ModelSpec.parse("cnn") == .cnn(channels: [16, 32], hidden: [128]))
        #expect(try ModelSpec.parse("cnn:8") == .cnn(channels: [8], hidden: []))
        for text in ["cnn:16,32:128", "cnn:8", "cnn:4,8,16:64,32"] {
            #expect(try ModelSpec.parse(text).description == text)
        }
        for bad in ["cnn:", "cnn:0", "cnn:8:", "cnn:8::4", "cnn:1,2,3,4,5", "cnn:8:4:2", "cnnx"] {
            #expect(throws: DataError.self, "\(bad)") { try ModelSpec.parse(bad) }
        }
    }

    /// A layer too wide is refused with the allowed range; the message used to say only
    /// "positive layer sizes", which `mlp:100000` is.
    @Test func aRefusedLayerSizeIsToldTheAllowedRange() throws {
        #expect(try ModelSpec.parse("mlp:65536") == .mlp(hidden: [65_536]))
        for bad in ["mlp:100000", "mlp:65537", "mlp:0", "cnn:8:70000"] {
            let error = #expect(throws: DataError.self, "\(bad)") { try ModelSpec.parse(bad) }
            #expect(error?.problem.contains("layer sizes from 1 to 65536") == true, "\(bad): \(String(describing: error))")
        }
        let deep = #expect(throws: DataError.self) { try ModelSpec.parse("cnn:1,2,3,4,5") }
        #expect(deep?.problem.contains("at most 4 convolutions") == true)
    }

    @Test func imagesThatDoNotFitAreRefusedWithAReason() throws {
        #expect(ModelSpec.defaultCNN.parameterCount(inputCount: 784, classCount: 10) == 16 * 25 + 16 + 32 * 400 + 32 + 512 * 128 + 128 + 128 * 10 + 10)
        try ModelSpec.defaultCNN.validate(inputCount: 784, classCount: 10)
        let notSquare = #expect(throws: DataError.self) { try ModelSpec.defaultCNN.validate(inputCount: 785, classCount: 10) }
        #expect(notSquare?.problem.contains("square") == true)
        let tooSmall = #expect(throws: DataError.self) { try ModelSpec.parse("cnn:4,4").validate(inputCount: 64, classCount: 10) }
        #expect(tooSmall?.problem.contains("too small for convolution 2") == true)
        #expect(ModelSpec.defaultCNN.parameterCount(inputCount: 785, classCount: 10) == nil)
        // Too large to allocate: refused with a reason instead of failing to allocate.
        let huge = #expect(throws: DataError.self) { try ModelSpec.parse("mlp:65536,65536").validate(inputCount: 784, classCount: 10) }
        #expect(huge?.problem.contains("too many parameters") == true)
        let wide = #expect(throws: DataError.self) { try ModelSpec.parse("cnn:65536").validate(inputCount: 784, classCount: 10) }
        #expect(wide?.problem.contains("floats of convolution buffers per example") == true)
        // A checkpoint whose spec does not fit its input count is refused too.
        var rng = SeededGenerator(seed: 1)
        let model = Model(spec: .cnn(channels: [2], hidden: []), inputCount: 36, classCount: 2, rng: &rng)
        #expect(throws: DataError.self) {
            try Model(spec: .cnn(channels: [2], hidden: []), inputCount: 64, classCount: 2, parameters: model.parameters)
        }
    }

    @Test func checkpointAndExportKeepTheConvolutions() throws {
        let model = try Self.randomModel("cnn:3:5", inputs: 100, classes: 4, seed: 6)
        #expect(try ModelCheckpoint(bytes: ModelCheckpoint(model: model).serialized()).model == model)
        let text = String(decoding: NPZExport.archive(ModelCheckpoint(model: model)), as: UTF8.self)
        #expect(text.contains("conv0.weight.npy") && text.contains("'shape': (5, 5, 1, 3)") && text.contains("conv0.bias.npy"))
        #expect(text.contains("layer0.weight.npy") && text.contains("'shape': (27, 5)"))
    }

    @Test func cnnOnCommittedSubsetBeats75Percent() throws {
        var split = try DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load()
        let sgd = SGDOptions(learningRate: 0.05, momentum: 0.9, schedule: .cosine(totalSteps: 3 * 32))
        let options = TrainingRunOptions(model: .cnn(channels: [8, 16], hidden: []), epochs: 3, sgd: sgd, seed: 1, threads: 2, evalEvery: 3)
        var last: EpochReport?
        _ = try TrainingRun.run(data: &split, options: options, algorithm: MinibatchGradient(batchSize: 64)) { last = $0 }
        let accuracy = try #require(last?.test?.accuracy)
        #expect(accuracy > 0.75, "test accuracy \(accuracy)")
    }
}

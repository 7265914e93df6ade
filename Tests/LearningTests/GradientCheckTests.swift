import Testing
@testable import Learning

/// Back-propagated gradients of every layer (dense and convolution weights and biases, ReLU,
/// max-pooling, softmax cross-entropy) against central finite differences of the loss.
@Suite struct GradientCheckTests {
    static func meanLoss(_ model: Model, _ workspace: Workspace) -> Double {
        workspace.forward(model.parameters)
        return workspace.softmaxCrossEntropy(scale: 0).lossSum / Double(workspace.batchSize)
    }

    @Test(arguments: [("logreg", 9), ("mlp:6", 9), ("mlp:5,4", 9), ("cnn:2", 144), ("cnn:2,3:4", 289)])
    func matchesFiniteDifferences(spec: String, inputs: Int) throws {
        var rng = SeededGenerator(seed: 7)
        let classes = 4, batch = 5
        var model = Model(spec: try ModelSpec.parse(spec), inputCount: inputs, classCount: classes, rng: &rng)
        // Non-zero biases so that bias gradients and ReLU masks are exercised.
        for i in model.parameters.indices { model.parameters[i] += Float(0.1 * rng.nextGaussian()) }
        let data = try Dataset(features: (0..<(batch * inputs)).map { _ in Float(rng.nextGaussian()) },
                               labels: (0..<batch).map { Int32($0 % classes) }, featureCount: inputs, classCount: classes)
        let workspace = Workspace(model: model, capacity: batch)
        workspace.loadBatch(data, indices: 0..<batch)
        workspace.forward(model.parameters)
        workspace.softmaxCrossEntropy(scale: 1 / Float(batch))
        workspace.backpropagate(model.parameters)
        workspace.accumulateParameterGradients()
        let analytic = workspace.gradient

        let h: Float = 1e-3
        var worst = 0.0
        let ranges = model.convolutions.map { $0.weightOffset..<$0.end } + model.layers.map { $0.weightOffset..<$0.end }
        #expect(ranges.reduce(0) { $0 + $1.count } == model.parameterCount)
        for (l, range) in ranges.enumerated() {
            for index in range {
                var probe = model
                probe.parameters[index] += h
                let up = Self.meanLoss(probe, workspace)
                probe.parameters[index] -= 2 * h
                let down = Self.meanLoss(probe, workspace)
                let numeric = (up - down) / Double(2 * h)
                let error = abs(numeric - Double(analytic[index])) / max(1e-2, abs(numeric) + abs(Double(analytic[index])))
                worst = max(worst, error)
                #expect(error < 2e-2, "layer \(l) parameter \(index): numeric \(numeric), analytic \(analytic[index])")
            }
        }
        #expect(worst < 2e-2)
    }

    @Test func softmaxCrossEntropyOfUniformLogitsIsLogClasses() throws {
        var rng = SeededGenerator(seed: 1)
        var model = Model(spec: .logisticRegression, inputCount: 3, classCount: 5, rng: &rng)
        model.parameters = [Float](repeating: 0, count: model.parameterCount)
        let data = try Dataset(features: [1, 2, 3], labels: [2], featureCount: 3, classCount: 5)
        let workspace = Workspace(model: model, capacity: 1)
        workspace.loadBatch(data, indices: [0])
        #expect(abs(Self.meanLoss(model, workspace) - log(5.0)) < 1e-6)
    }
}

import Foundation

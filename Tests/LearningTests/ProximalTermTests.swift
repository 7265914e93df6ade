import CKernels
import Foundation
import Testing
import TestKit
@testable import Learning

/// FedProx's proximal term: the update adds mu * (w - anchor) to the gradient, so local training
/// stays nearer the anchor the larger mu is, and mu = 0 trains exactly as without the term.
@Suite struct ProximalTermTests {
    /// With a zero gradient and no momentum a step moves w towards the anchor by rate * mu of the
    /// gap; with momentum the pull accumulates in the velocity like any gradient.
    @Test func aStepPullsTowardsTheAnchorByRateTimesMu() {
        var w: [Float] = [1, -3, 0.5], v: [Float] = [0, 0, 0]
        let g: [Float] = [0, 0, 0], anchor: [Float] = [0, 1, 0.5]
        ck_sgd_momentum_proximal(&w, &v, g, anchor, 3, 0.5, 0, 0, 0.5)
        #expect(w == [0.75, -2, 0.5])
        var w2: [Float] = [2], v2: [Float] = [1]
        ck_sgd_momentum_proximal(&w2, &v2, [0.25], [1], 1, 0.5, 0.5, 0.25, 2)
        // v = 0.5*1 + (0.25 + 0.25*2 + 2*(2 - 1)) = 3.25; w = 2 - 0.5*3.25
        #expect(v2 == [3.25] && w2 == [0.375])
    }

    /// On real data: the distance from the anchor after 30 steps falls as mu grows; mu = 0 gives
    /// the plain run bit for bit; two threads (parameter replicas) give the one-thread run bit for
    /// bit with the term, as without it.
    @Test func trainingStaysNearerTheAnchorAsMuGrows() throws {
        let split = try DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load()
        func train(mu: Float?, threads: Int = 1) -> [Float] {
            var rng = SeededGenerator(seed: 11)
            let model = Model(spec: .mlp(hidden: [64]), inputCount: split.train.featureCount, classCount: split.train.classCount, rng: &rng)
            var trainer = LocalTrainer(model: model, options: SGDOptions(learningRate: 0.05, momentum: 0.9),
                                       algorithm: MinibatchGradient(batchSize: 64), threads: threads)
            trainer.proximal = mu.map { ProximalTerm(anchor: model.parameters, mu: $0) }
            _ = trainer.train(steps: 30, on: split.train, rng: &rng)
            return trainer.model.parameters
        }
        var rng = SeededGenerator(seed: 11)
        let anchor = Model(spec: .mlp(hidden: [64]), inputCount: split.train.featureCount, classCount: split.train.classCount, rng: &rng).parameters
        func distance(_ w: [Float]) -> Double { zip(w, anchor).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot() }
        let plain = train(mu: nil)
        #expect(train(mu: 0) == plain)
        let distances = [plain, train(mu: 1), train(mu: 5), train(mu: 20)].map(distance)
        #expect(zip(distances, distances.dropFirst()).allSatisfy { $0 > $1 }, "\(distances)")
        #expect(distances[3] < distances[0] / 2, "\(distances)")
        #expect(train(mu: 5, threads: 2) == train(mu: 5))
    }
}

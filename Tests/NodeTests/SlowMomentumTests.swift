import Foundation
import Learning
import Testing
import TestKit
@testable import Node

@Suite struct SlowMomentumTests {
    @Test func withoutMomentumTheAverageIsAdoptedUnchanged() {
        var slow = SlowMomentum(factor: 0)
        #expect(slow.step(start: [1, 2], average: [3, 5]) == [3, 5])
        #expect(slow.buffer.isEmpty)
    }

    /// m ← β·m + (x̄ − x₀), adopt x₀ + m: the first round adopts the average, later rounds add β of
    /// the previous move (values chosen to be exact in binary floating point).
    @Test func theMoveOfEachRoundCarriesBetaOfThePreviousOne() {
        var slow = SlowMomentum(factor: 0.5)
        #expect(slow.step(start: [1, 2], average: [2, 2]) == [2, 2])
        #expect(slow.buffer == [1, 0])
        #expect(slow.step(start: [2.5, 2], average: [3, 1]) == [3.5, 1])
        #expect(slow.buffer == [1, -1])
        #expect(slow.step(start: [3.5, 1], average: [3.5, 1]) == [4, 0.5])
        #expect(slow.buffer == [0.5, -0.5])
    }

    /// Through the learner: the round's start is where `trainRound` began, and the buffer survives
    /// a checkpoint and restore, so a restarted node moves exactly as one that never stopped.
    @Test func theLearnerMovesFromWhereTrainingStartedAndRestoresItsBuffer() throws {
        var rng = SeededGenerator(seed: 5)
        let features = (0..<(40 * 3)).map { _ in Float(rng.nextGaussian()) }
        let labels = (0..<40).map { Int32($0 % 2) }
        let shard = try Dataset(features: features, labels: labels, featureCount: 3, classCount: 2)
        let settings = NodeLearner.Settings(model: .logisticRegression, sgd: SGDOptions(learningRate: 0.1, momentum: 0),
                                            batchSize: 8, localSteps: 3, threads: 1, dp: nil, delta: 1e-5, budget: nil,
                                            slowMomentum: 0.5)
        let initial = ModelCheckpoint(model: Model(spec: .logisticRegression, inputCount: 3, classCount: 2, rng: &rng))
        var learner = try NodeLearner(settings: settings, shard: shard, initial: initial, stateDirectory: nil)

        var expected = SlowMomentum(factor: 0.5)
        var trainingRandom = SeededGenerator(seed: 9)
        for round in 1...3 {
            let start = learner.parameters
            let trained = try learner.trainRound(rng: &trainingRandom).model.parameters
            #expect(trained != start)
            let average = trained.map { $0 * 0.75 + Float(round) * 0.01 }
            _ = learner.adopt(average)
            #expect(learner.parameters == expected.step(start: start, average: average))
        }
        #expect(learner.slowMomentum.buffer == expected.buffer && !expected.buffer.isEmpty)

        let saved = NodeCheckpoint(round: 3, convergence: ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 2, maxRounds: 9)),
                                   model: learner.checkpoint().serialized(), slowMomentum: learner.slowMomentum.buffer)
        let loaded = try NodeCheckpoint(bytes: saved.serialized(), source: "c")
        var restarted = try NodeLearner(settings: settings, shard: shard, initial: try ModelCheckpoint(bytes: loaded.model),
                                        stateDirectory: nil)
        restarted.restore(slowMomentumBuffer: loaded.slowMomentum)
        #expect(restarted.slowMomentum == learner.slowMomentum)
        #expect(restarted.parameters == learner.parameters)
    }
}

/// `--proximal-mu`: each round's local training is pulled towards where that round began, the
/// model adopted from the last group average, not towards the initial model.
@Suite struct ProximalLearnerTests {
    @Test func eachRoundIsPulledTowardsItsOwnStart() throws {
        var rng = SeededGenerator(seed: 5)
        let features = (0..<(60 * 3)).map { _ in Float(rng.nextGaussian()) }
        let labels = (0..<60).map { Int32($0 % 3 == 0 ? 1 : 0) }
        let shard = try Dataset(features: features, labels: labels, featureCount: 3, classCount: 2)
        let initial = ModelCheckpoint(model: Model(spec: .logisticRegression, inputCount: 3, classCount: 2, rng: &rng))
        func learner(mu: Double) throws -> NodeLearner {
            try NodeLearner(settings: NodeLearner.Settings(model: .logisticRegression, sgd: SGDOptions(learningRate: 0.2, momentum: 0),
                                                           batchSize: 8, localSteps: 20, threads: 1, dp: nil, delta: 1e-5, budget: nil,
                                                           proximalMu: mu),
                            shard: shard, initial: initial, stateDirectory: nil)
        }
        func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() }
        var plain = try learner(mu: 0), pulled = try learner(mu: 4)
        for round in 1...3 {
            // Both adopt the same far-away "group average"; the pulled one must stay near it.
            let average = initial.model.parameters.map { $0 + Float(round) }
            _ = plain.adopt(average)
            _ = pulled.adopt(average)
            var r1 = SeededGenerator(seed: UInt64(round)), r2 = SeededGenerator(seed: UInt64(round))
            let free = try plain.trainRound(rng: &r1).model.parameters
            let held = try pulled.trainRound(rng: &r2).model.parameters
            #expect(distance(held, average) < distance(free, average) / 2, "round \(round): \(distance(held, average)) vs \(distance(free, average))")
        }
    }
}

import Foundation
import Learning
import Privacy

/// Carries out a node machine's non-network actions: local training, applying and evaluating an
/// aggregate, checkpoints and reports. The UDP runner and the simulator both use it; they differ
/// only in how bytes move and how time passes.
public struct NodeHost {
    public let name: String
    public var learner: NodeLearner
    public let test: Dataset?
    public let checkpoints: CheckpointStore?
    /// Evaluate on the test set every this many rounds and on the last round (0: only the last).
    public let evalEvery: Int
    /// Also keep every round's model beside the checkpoint (`CheckpointStore.roundModelPath`).
    public let keepRoundModels: Bool
    /// Whether the model this host resumed was already trained in some round without DP-SGD
    /// (`NodeCheckpoint.trainedWithoutPrivacy`). Sticky: a later run with `--dp` cannot make the
    /// ledger account for what was learned before it.
    public var resumedTrainedWithoutPrivacy = false
    /// Written into every checkpoint (`NodeCheckpoint.owner`): this node's public key, base64.
    public var owner: String?
    private var lastTraining: (loss: Double, steps: Int) = (0, 0)
    /// The test accuracy of the current model, if it has been evaluated since it last changed.
    public private(set) var lastTestAccuracy: Double?

    public init(name: String, learner: NodeLearner, test: Dataset?, checkpoints: CheckpointStore?, evalEvery: Int,
                keepRoundModels: Bool = false) {
        self.name = name
        self.learner = learner
        self.test = test
        self.checkpoints = checkpoints
        self.evalEvery = max(0, evalEvery)
        self.keepRoundModels = keepRoundModels
    }

    /// Trains one round (the ledger is saved before this returns).
    public mutating func train(rng: inout some RandomNumberGenerator) throws -> NodeMachine.TrainedModel {
        let result = try learner.trainRound(rng: &rng)
        lastTraining = (result.loss, result.steps)
        lastTestAccuracy = nil
        return result.model
    }

    /// Applies a round's outcome and evaluates; returns what the machine's `finishRound` needs and
    /// the report (bytes and time are filled in by the driver).
    public mutating func apply(_ aggregation: NodeMachine.Aggregation, names: [String],
                               isLastRound: Bool = false) -> (relativeChange: Double, validationLoss: Double, report: RoundReport) {
        let change = aggregation.average.map { learner.adopt($0) } ?? 0
        let evaluateTest = isLastRound || (evalEvery > 0 && aggregation.round % UInt64(evalEvery) == 0)
        let validationLoss = learner.validationLoss()
        // Test-set evaluation is monitoring, not protocol work: timed apart so that benchmarks can
        // leave it out of the time a network needs to reach an accuracy.
        let evaluationStart = Date()
        let tested = evaluateTest ? test.map(learner.evaluate(on:)) : nil
        let evaluationSeconds = Date().timeIntervalSince(evaluationStart)
        let evaluation = NodeLearner.Evaluation(validationLoss: validationLoss, testAccuracy: tested?.accuracy, testLoss: tested?.meanLoss)
        lastTestAccuracy = evaluation.testAccuracy
        let report = RoundReport(
            node: name, round: aggregation.round, group: aggregation.group.map { names[$0] },
            dropouts: aggregation.dropouts.map { names[$0] }, failure: aggregation.failure, trainLoss: lastTraining.loss,
            localSteps: lastTraining.steps, validationLoss: evaluation.validationLoss, testAccuracy: evaluation.testAccuracy,
            epsilon: learner.epsilon, clippedCoordinates: aggregation.clippedCoordinates, bytesSent: 0, bytesReceived: 0, seconds: 0)
        var timed = report
        timed.evaluationSeconds = evaluationSeconds
        return (change, evaluation.validationLoss, timed)
    }

    /// What a checkpoint of `round` holds: the model with its optimizer state and the learner's
    /// slow-momentum buffer, with the machine's convergence state (also what the simulator keeps).
    public func snapshot(round: UInt64, convergence: ConvergenceRule) -> NodeCheckpoint {
        NodeCheckpoint(round: round, convergence: convergence, model: learner.checkpoint().serialized(),
                       slowMomentum: learner.slowMomentum.buffer,
                       trainedWithoutPrivacy: resumedTrainedWithoutPrivacy || learner.settings.dp == nil, owner: owner)
    }

    /// Saves the checkpoint of `round` with the machine's convergence state.
    public func checkpoint(round: UInt64, convergence: ConvergenceRule) throws {
        try checkpoints?.save(snapshot(round: round, convergence: convergence))
    }

    /// With `keepRoundModels`, keeps the round's model on its own (after its checkpoint: a record,
    /// not state a restart needs).
    public func keepRoundModel(round: UInt64) throws {
        // Parameters only: the optimizer state would double the disk a long run's record takes.
        guard let checkpoints, keepRoundModels else { return }
        do {
            try checkpoints.saveRoundModel(ModelCheckpoint(model: learner.model).serialized(), round: round)
        } catch {
            let why = (error as? DataError)?.problem
                ?? (error as? AtomicFileError).map { "\($0.operation) failed: \(String(cString: strerror($0.code)))" }
                ?? FileAccess.systemReason(of: error)
            throw CheckpointError(path: checkpoints.roundModelPath(round: round), problem: "not writable (--keep-round-models): \(why)")
        }
    }

    /// The test accuracy of the current model, evaluating now if that has not been done; nil for
    /// a diverged model (NaN weights predict one class: a chance-level figure that is no result).
    public mutating func finalTestAccuracy() -> Double? {
        guard let test, learner.parameters.allSatisfy(\.isFinite) else { return nil }
        if let lastTestAccuracy { return lastTestAccuracy }
        let accuracy = learner.evaluate(test: test).testAccuracy
        lastTestAccuracy = accuracy
        return accuracy
    }
}

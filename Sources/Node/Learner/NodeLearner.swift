import Foundation
import Learning
import Privacy

/// A node's local learning between aggregation rounds: its private shard, its model and optimizer,
/// DP-SGD with the persisted privacy ledger, and evaluation. Shared by `run` and `simulate`.
///
/// The ledger is saved *before* `trainRound` returns parameters, so no model reflecting a step can
/// be sent or checkpointed before the step is on disk (SPEC.md §9).
public struct NodeLearner {
    public struct Settings: Sendable {
        public var model: ModelSpec
        public var sgd: SGDOptions
        public var batchSize: Int
        /// Optimisation steps per round.
        public var localSteps: Int
        public var threads: Int
        /// DP-SGD settings; nil trains without differential privacy.
        public var dp: DPSGDOptions?
        public var delta: Double
        public var budget: PrivacyBudget?
        /// β of `SlowMomentum`; 0 adopts each round's average unchanged.
        public var slowMomentum: Double
        /// FedProx's μ (`ProximalTerm`), the anchor being where each round's training begins; 0: none.
        public var proximalMu: Double

        public init(model: ModelSpec, sgd: SGDOptions, batchSize: Int, localSteps: Int, threads: Int,
                    dp: DPSGDOptions?, delta: Double, budget: PrivacyBudget?, slowMomentum: Double = 0, proximalMu: Double = 0) {
            self.model = model
            self.sgd = sgd
            self.batchSize = batchSize
            self.localSteps = localSteps
            self.threads = threads
            self.dp = dp
            self.delta = delta
            self.budget = budget
            self.slowMomentum = slowMomentum
            self.proximalMu = proximalMu
        }
    }

    /// What evaluation reports after a round.
    public struct Evaluation: Sendable {
        public var validationLoss: Double
        public var testAccuracy: Double?
        public var testLoss: Double?
    }

    private enum Trainer {
        case plain(LocalTrainer<MinibatchGradient>)
        case dp(LocalTrainer<DPSGD>)
    }

    public let settings: Settings
    public let train: Dataset
    public let validation: Dataset
    private var trainer: Trainer
    private var ledger: PrivacyLedger
    /// Where the current round's training started, kept only with slow momentum.
    private var roundStart: [Float]?
    /// The slow-momentum buffer (checkpointed with the model).
    public private(set) var slowMomentum: SlowMomentum
    private let ledgerStore: LedgerStore?
    /// The parameters after the last training or aggregation.
    public var parameters: [Float] {
        switch trainer {
        case let .plain(t): return t.model.parameters
        case let .dp(t): return t.model.parameters
        }
    }

    /// - Parameters:
    ///   - shard: this node's training data; a tenth (at least one example) is held out for validation.
    ///   - initial: the model to start from (same seed on every node, so all start alike), or a checkpoint.
    ///   - stateDirectory: where the privacy ledger lives; nil keeps it in memory (simulation).
    public init(settings: Settings, shard: Dataset, initial: ModelCheckpoint, stateDirectory: String?) throws {
        self.settings = settings
        slowMomentum = SlowMomentum(factor: Float(settings.slowMomentum))
        let holdout = max(1, shard.count / 10)
        guard shard.count > holdout else {
            throw DataError(file: "shard", "has \(shard.count) examples; a node needs at least 2")
        }
        validation = shard.subset(Array(0..<holdout))
        train = shard.subset(Array(holdout..<shard.count))
        ledgerStore = stateDirectory.map { LedgerStore(stateDirectory: $0) }
        ledger = try ledgerStore?.load() ?? PrivacyLedger()
        if let dp = settings.dp {
            let algorithm = DPSGD(options: dp, budget: settings.budget, ledger: ledger)
            trainer = .dp(LocalTrainer(model: initial.model, optimizerState: initial.optimizer, options: settings.sgd,
                                       algorithm: algorithm, threads: settings.threads))
        } else {
            trainer = .plain(LocalTrainer(model: initial.model, optimizerState: initial.optimizer, options: settings.sgd,
                                          algorithm: MinibatchGradient(batchSize: settings.batchSize), threads: settings.threads))
        }
    }

    /// The privacy spent so far (what the ledger file holds after every round).
    public var privacyLedger: PrivacyLedger { ledger }

    /// Restores the spent privacy after a restart whose ledger was kept outside a state directory
    /// (simulation); the training algorithm continues from it.
    public mutating func restore(ledger restored: PrivacyLedger) {
        ledger = restored
        if case var .dp(t) = trainer, let dp = settings.dp {
            t.algorithm = DPSGD(options: dp, budget: settings.budget, ledger: restored)
            trainer = .dp(t)
        }
    }

    /// Restores the slow-momentum buffer saved with a checkpoint (ignored if it does not fit).
    public mutating func restore(slowMomentumBuffer buffer: [Float]) {
        guard buffer.count == parameters.count else { return }
        slowMomentum = SlowMomentum(factor: slowMomentum.factor, buffer: buffer)
    }

    /// ε spent so far at the configured δ (nil without DP).
    public var epsilon: Double? {
        guard settings.dp != nil else { return nil }
        return (try? ledger.guarantee(delta: settings.delta))?.epsilon ?? .infinity
    }

    /// Runs one round of local training, saves the privacy ledger, and returns what to aggregate.
    public mutating func trainRound(rng: inout some RandomNumberGenerator) throws -> (model: NodeMachine.TrainedModel, loss: Double, steps: Int) {
        roundStart = slowMomentum.factor > 0 ? parameters : nil
        let proximal = settings.proximalMu > 0 ? ProximalTerm(anchor: parameters, mu: Float(settings.proximalMu)) : nil
        switch trainer {
        case var .plain(t):
            t.proximal = proximal
            let summary = t.train(steps: settings.localSteps, on: train, rng: &rng)
            t.proximal = nil  // the anchor is this round's alone: no model copy kept until the next
            trainer = .plain(t)
            return (NodeMachine.TrainedModel(parameters: t.model.parameters, sampleCount: train.count), summary.meanLoss, summary.steps)
        case var .dp(t):
            t.proximal = proximal
            let summary = t.train(steps: settings.localSteps, on: train, rng: &rng)
            t.proximal = nil
            trainer = .dp(t)
            ledger = t.algorithm.ledger
            // Write-ahead: the steps are on disk before the model that reflects them goes anywhere.
            // Also once with no step (a budget too small for one): a DP checkpoint without a ledger
            // beside it means a lost ledger, and `run --dp` refuses to resume it.
            if let ledgerStore, summary.steps > 0 || !FileManager.default.fileExists(atPath: ledgerStore.path) {
                _ = try ledgerStore.save(ledger, delta: settings.delta)
            }
            let exhausted = summary.stoppedEarly || summary.steps < settings.localSteps
            return (NodeMachine.TrainedModel(parameters: t.model.parameters, sampleCount: train.count,
                                             budgetExhausted: exhausted), summary.meanLoss, summary.steps)
        }
    }

    /// Replaces the parameters with the group's average (moved by slow momentum, if on); returns
    /// ‖new − old‖ / ‖old‖.
    public mutating func adopt(_ groupAverage: [Float]) -> Double {
        let old = parameters
        guard groupAverage.count == old.count else { return .infinity }
        let average = roundStart.map { slowMomentum.step(start: $0, average: groupAverage) } ?? groupAverage
        roundStart = nil
        switch trainer {
        case var .plain(t): t.model.parameters = average; trainer = .plain(t)
        case var .dp(t): t.model.parameters = average; trainer = .dp(t)
        }
        var diff = 0.0, norm = 0.0
        for i in old.indices {
            let d = Double(average[i] - old[i])
            diff += d * d
            norm += Double(old[i]) * Double(old[i])
        }
        return norm > 0 ? (diff / norm).squareRoot() : .infinity
    }

    public var model: Model {
        switch trainer {
        case let .plain(t): return t.model
        case let .dp(t): return t.model
        }
    }

    /// Validation loss on the held-out part of the shard, and test metrics when a test set is given.
    public func evaluate(test: Dataset?) -> Evaluation {
        let tested = test.map(evaluate(on:))
        return Evaluation(validationLoss: validationLoss(), testAccuracy: tested?.accuracy, testLoss: tested?.meanLoss)
    }

    /// Mean loss on the held-out part of the shard (what the convergence rule watches).
    public func validationLoss() -> Double {
        evaluate(on: validation).meanLoss
    }

    /// Metrics of the current model on `data`.
    public func evaluate(on data: Dataset) -> Learning.Evaluation {
        Learning.Evaluation(model: model, data: data, threads: settings.threads)
    }

    /// The model and optimizer state, as the checkpoint stores them.
    public func checkpoint() -> ModelCheckpoint {
        switch trainer {
        case let .plain(t): return ModelCheckpoint(model: t.model, optimizer: t.optimizerState)
        case let .dp(t): return ModelCheckpoint(model: t.model, optimizer: t.optimizerState)
        }
    }
}

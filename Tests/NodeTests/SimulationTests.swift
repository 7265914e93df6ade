import Foundation
import Learning
import Node
import Testing
import TestKit
import Transport
@testable import Simulation

/// Whole networks of real node machines, learners and transports on the in-memory network.
@Suite(.serialized) struct SimulationTests {
    static let data: DataSplit = {
        (try? DataSource.fashionMNIST(directory: DataSource.committedSubsetDirectory()).load())!
    }()

    func settings(nodes: Int = 8, rounds: UInt64 = 12, faults: FaultPlan = FaultPlan(), seed: UInt64 = 1,
                  crashes: [Int: (crash: UInt64, restart: UInt64?)] = [:]) -> Simulator.Settings {
        let learner = NodeLearner.Settings(model: .logisticRegression, sgd: SGDOptions(learningRate: 0.05, momentum: 0.9),
                                           batchSize: 32, localSteps: 10, threads: 1, dp: nil, delta: 1e-5, budget: nil)
        return Simulator.Settings(nodes: nodes, seed: seed, groupSize: 4,
                                  convergence: .init(tolerance: 0.001, patience: 3, mixingMargin: 2, maxRounds: rounds),
                                  learner: learner, evalEvery: 4, faults: faults, crashes: crashes)
    }

    func run(_ settings: Simulator.Settings) throws -> (Simulator, [Simulator.RoundSummary]) {
        let collected = LockedBox<[Simulator.RoundSummary]>([])
        var simulator = try Simulator(settings: settings, data: Self.data, partition: .iid, dataSeed: 1,
                                      onRound: { summary in collected.mutate { $0.append(summary) } })
        try simulator.run()
        return (simulator, collected.value)
    }

    @Test func eightNodesLearnAndStopTogether() throws {
        let (simulator, rounds) = try run(settings())
        let stops = simulator.outcomes.map(\.stopRound)
        #expect(stops.allSatisfy { $0 == 12 }, "\(stops)")
        #expect(rounds.count == 12)
        #expect(rounds.allSatisfy { $0.failedGroups == 0 })
        let accuracies = simulator.outcomes.compactMap(\.testAccuracy)
        #expect(accuracies.count == 8)
        #expect(accuracies.allSatisfy { $0 > 0.70 }, "\(accuracies)")
        // Gossip keeps the nodes' models close to each other.
        #expect(rounds.last!.disagreement < 0.1)
    }

    @Test func theSameSeedGivesTheSameRun() throws {
        let (a, _) = try run(settings(rounds: 3))
        let (b, _) = try run(settings(rounds: 3))
        #expect(a.outcomes.map(\.testAccuracy) == b.outcomes.map(\.testAccuracy))
        #expect(a.outcomes.map(\.bytesSent) == b.outcomes.map(\.bytesSent))
    }

    @Test func lossDuplicationAndReorderingDoNotStopConvergence() throws {
        let faults = FaultPlan(FaultSettings(drop: 0.2, duplicate: 0.2, reorder: 0.2))
        let (simulator, rounds) = try run(settings(rounds: 8, faults: faults))
        #expect(simulator.outcomes.allSatisfy { $0.stopRound == 8 })
        #expect(simulator.outcomes.compactMap(\.testAccuracy).allSatisfy { $0 > 0.65 })
        #expect(rounds.reduce(0) { $0 + $1.failedGroups } <= 4)
    }

    @Test func aCrashedNodeRestartsFromItsCheckpointAndTheOthersFinish() throws {
        let (simulator, _) = try run(settings(rounds: 10, crashes: [3: (crash: 4, restart: 6)]))
        for (index, outcome) in simulator.outcomes.enumerated() {
            #expect(outcome.stopRound != nil, "node \(index) did not finish: \(String(describing: outcome.reason))")
        }
        #expect(simulator.outcomes.compactMap(\.testAccuracy).allSatisfy { $0 > 0.65 })
    }
}

/// A value shared with escaping callbacks in tests.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}

import Node
import Transport

extension Simulator {
    public struct Settings: Sendable {
        public var nodes: Int
        public var seed: UInt64
        /// Machine settings for every node (peers, network id and index are filled in per node).
        public var groupSize: Int
        public var minimumThreshold: Int
        public var phaseTimeout: Duration
        public var joinTimeout: Duration
        public var clipRange: Double
        public var convergence: ConvergenceRule.Settings
        public var learner: NodeLearner.Settings
        public var evalEvery: Int
        /// Keep at most this many examples of each node's shard (nil: all), so runs with different
        /// node counts can give every node the same amount of data.
        public var examplesPerNode: Int?
        /// Which nodes evaluate on which test examples (test accuracy is the costly part of a round).
        public var evaluation: EvaluationPlan
        /// Each node starts from its own random model instead of the shared one: a pure mixing
        /// experiment (with zero local steps) measures how fast averaging removes disagreement.
        public var independentInit: Bool
        /// Virtual time one local optimisation step takes (so rounds take time as on a machine).
        public var stepTime: Duration
        public var faults: FaultPlan
        /// Partitions in force by round rather than by time (rounds are what a user reasons about).
        public var partitions: [RoundPartition]
        public var link: LinkModel
        /// node → (crash round, restart round or nil): the node dies when it starts `crash round`
        /// (or the first round it trains for after it, if it skips that round catching up) and boots
        /// from its last checkpoint when the first node starts `restart round` (at once if that has passed).
        public var crashes: [Int: (crash: UInt64, restart: UInt64?)]
        /// Probability that a node crashes at any round start (and restarts two rounds later).
        public var crashRate: Double
        public var transport: TransportConfiguration

        public init(nodes: Int, seed: UInt64, groupSize: Int, minimumThreshold: Int = 3,
                    phaseTimeout: Duration = .seconds(5), joinTimeout: Duration = .seconds(20), clipRange: Double = 8,
                    convergence: ConvergenceRule.Settings, learner: NodeLearner.Settings, evalEvery: Int = 1,
                    examplesPerNode: Int? = nil, evaluation: EvaluationPlan = EvaluationPlan(), independentInit: Bool = false,
                    stepTime: Duration = .milliseconds(2), faults: FaultPlan = FaultPlan(), partitions: [RoundPartition] = [],
                    link: LinkModel = LinkModel(), crashes: [Int: (crash: UInt64, restart: UInt64?)] = [:], crashRate: Double = 0,
                    transport: TransportConfiguration = TransportConfiguration()) {
            self.nodes = nodes
            self.seed = seed
            self.groupSize = groupSize
            self.minimumThreshold = minimumThreshold
            self.phaseTimeout = phaseTimeout
            self.joinTimeout = joinTimeout
            self.clipRange = clipRange
            self.convergence = convergence
            self.learner = learner
            self.evalEvery = evalEvery
            self.examplesPerNode = examplesPerNode
            self.evaluation = evaluation
            self.independentInit = independentInit
            self.stepTime = stepTime
            self.faults = faults
            self.partitions = partitions
            self.link = link
            self.crashes = crashes
            self.crashRate = crashRate
            self.transport = transport
        }
    }

    /// Nodes split into sides that cannot reach each other from the moment the first node starts
    /// round `rounds.lowerBound` until the first node starts the round after `rounds.upperBound`.
    /// Nodes on no side reach everyone.
    public struct RoundPartition: Sendable, Equatable {
        public var sides: [Set<Int>]
        public var rounds: ClosedRange<UInt64>

        public init(sides: [Set<Int>], rounds: ClosedRange<UInt64>) {
            self.sides = sides
            self.rounds = rounds
        }
    }

    /// Test accuracy for a sample: `nodes` evenly spaced nodes (nil: all) on `examples` test
    /// examples drawn once with the seed (nil: the whole test set). Every node still computes its
    /// validation loss every round, which the convergence rule needs.
    public struct EvaluationPlan: Sendable, Equatable {
        public var nodes: Int?
        public var examples: Int?

        public init(nodes: Int? = nil, examples: Int? = nil) {
            self.nodes = nodes
            self.examples = examples
        }

        /// The evaluated nodes among `count`, in increasing order.
        public func evaluatedNodes(of count: Int) -> [Int] {
            guard let sample = nodes, sample < count else { return Array(0..<count) }
            return (0..<sample).map { $0 * count / sample }
        }
    }
}

import Node

extension Simulator {
    /// The network-wide view of one round, once every live node has applied it.
    public struct RoundSummary: Sendable, Equatable {
        public var round: UInt64
        public var nodesReporting: Int
        /// Nodes whose test accuracy this round went into the statistics below.
        public var nodesEvaluated: Int
        public var meanTestAccuracy: Double?
        /// Population standard deviation of the nodes' test accuracies.
        public var stdTestAccuracy: Double?
        public var minTestAccuracy: Double?
        public var maxTestAccuracy: Double?
        /// max over nodes of ‖θ_node − mean θ‖ / ‖mean θ‖.
        public var disagreement: Double
        /// Distinct groups whose aggregation failed (their members kept their own models).
        public var failedGroups: Int
        public var groups: Int
        /// Distinct members left out of a completed group average.
        public var dropouts: Int
        /// Coordinates the nodes' fixed-point encodings clipped to ±`--clip-range` this round, summed.
        public var clippedCoordinates: Int
        /// Mean bytes a reporting node sent during this round, and in total so far.
        public var bytesPerNode: Double
        public var totalBytesPerNode: Double
        public var meanEpsilon: Double?
        public var virtualSeconds: Double
        public var wallSeconds: Double
    }

    public struct NodeOutcome: Sendable, Equatable {
        public var name: String
        public var stopRound: UInt64?
        public var reason: StopReason?
        public var testAccuracy: Double?
        public var epsilon: Double?
        /// Over all of the node's lives (a restart starts a new transport whose counters start at 0).
        public var bytesSent: Int
        public var bytesReceived: Int
        public var crashes: Int
        /// Rounds the node applied a group average in, and rounds whose aggregation failed, over all its lives.
        public var roundsAggregated = 0
        public var roundsFailed = 0
        /// The restart round of a node still down when the run ended (the others stopped before it came).
        public var pendingRestart: UInt64?
    }

    /// One node's part of a round, as the summary needs it.
    struct RoundRow {
        var node: Int
        var report: RoundReport
        var parameters: [Float]
        var bytesThisRound: Int
    }

    /// The summary of `rows` (sorted by node, so sums are added in the same order every run).
    static func summarise(round: UInt64, rows: [RoundRow], virtualSeconds: Double, wallSeconds: Double) -> RoundSummary {
        let accuracies = rows.compactMap(\.report.testAccuracy)
        let epsilons = rows.compactMap(\.report.epsilon)
        let mean = accuracies.isEmpty ? nil : accuracies.reduce(0, +) / Double(accuracies.count)
        let std = mean.map { m in (accuracies.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(accuracies.count)).squareRoot() }
        let groups = Set(rows.map(\.report.group))
        let failed = Set(rows.filter { $0.report.failure != nil }.map(\.report.group))
        let count = Double(max(rows.count, 1))
        return RoundSummary(
            round: round, nodesReporting: rows.count, nodesEvaluated: accuracies.count,
            meanTestAccuracy: mean, stdTestAccuracy: std, minTestAccuracy: accuracies.min(), maxTestAccuracy: accuracies.max(),
            disagreement: disagreement(rows.map(\.parameters)),
            failedGroups: failed.count, groups: groups.count,
            dropouts: Set(rows.flatMap(\.report.dropouts)).count,
            clippedCoordinates: rows.reduce(0) { $0 + $1.report.clippedCoordinates },
            bytesPerNode: Double(rows.reduce(0) { $0 + $1.bytesThisRound }) / count,
            totalBytesPerNode: Double(rows.reduce(0) { $0 + $1.report.bytesSent }) / count,
            meanEpsilon: epsilons.isEmpty ? nil : epsilons.reduce(0, +) / Double(epsilons.count),
            virtualSeconds: virtualSeconds, wallSeconds: wallSeconds)
    }

    /// max over models of ‖θ − mean‖ / ‖mean‖ (the absolute distance when the mean is zero).
    static func disagreement(_ models: [[Float]]) -> Double {
        guard let first = models.first, models.count > 1 else { return 0 }
        let d = first.count
        var mean = [Double](repeating: 0, count: d)
        mean.withUnsafeMutableBufferPointer { m in
            for model in models where model.count == d {
                model.withUnsafeBufferPointer { x in for i in 0..<d { m[i] += Double(x[i]) } }
            }
            for i in 0..<d { m[i] /= Double(models.count) }
        }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var worst = 0.0
        mean.withUnsafeBufferPointer { m in
            for model in models {
                guard model.count == d else { worst = .infinity; continue }
                var distance = 0.0
                model.withUnsafeBufferPointer { x in
                    for i in 0..<d {
                        let e = Double(x[i]) - m[i]
                        distance += e * e
                    }
                }
                worst = max(worst, distance.squareRoot())
            }
        }
        return norm > 0 ? worst / norm : worst
    }
}

import Foundation

/// One line of a node's progress: what the round did and what it cost (SPEC.md §8).
public struct RoundReport: Sendable, Equatable {
    public var node: String
    public var round: UInt64
    public var group: [String]
    public var dropouts: [String]
    /// nil when the round aggregated; the reason when it failed and the node kept its own model.
    public var failure: String?
    public var trainLoss: Double
    public var localSteps: Int
    public var validationLoss: Double
    public var testAccuracy: Double?
    public var epsilon: Double?
    public var clippedCoordinates: Int
    public var bytesSent: Int
    public var bytesReceived: Int
    public var seconds: Double
    /// Seconds since the node started (wall clock in `run`, virtual in `simulate`).
    public var elapsed: Double = 0
    /// When the round ended, in seconds since 1970 (`run` only): lines up the reports of nodes that
    /// started at different moments.
    public var time: Double?
    /// CPU seconds the node's process used since it started running (`run` only; simulated nodes
    /// share one process): with `elapsed`, shows what a round costs apart from the host's load.
    public var cpuSeconds: Double?
    /// Seconds this round spent evaluating the test set (monitoring, not protocol work), part of `seconds`.
    public var evaluationSeconds: Double = 0
    /// Seconds of local training, and from then until the group's aggregate arrived (waiting for
    /// the group to finish training, plus secure aggregation), both part of `seconds`.
    public var trainingSeconds: Double = 0
    public var aggregationSeconds: Double = 0

    public init(node: String, round: UInt64, group: [String], dropouts: [String], failure: String?, trainLoss: Double,
                localSteps: Int, validationLoss: Double, testAccuracy: Double?, epsilon: Double?, clippedCoordinates: Int,
                bytesSent: Int, bytesReceived: Int, seconds: Double) {
        self.node = node
        self.round = round
        self.group = group
        self.dropouts = dropouts
        self.failure = failure
        self.trainLoss = trainLoss
        self.localSteps = localSteps
        self.validationLoss = validationLoss
        self.testAccuracy = testAccuracy
        self.epsilon = epsilon
        self.clippedCoordinates = clippedCoordinates
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.seconds = seconds
    }

    public var text: String {
        var line = "\(node) round \(round)  group \(group.count)"
        line += dropouts.isEmpty ? "" : " (dropped: \(dropouts.joined(separator: ",")))"
        if let failure { line += "  FAILED (kept own model): \(failure)" }
        line += "  loss \(ReportText.fixed(trainLoss, 4))  val-loss \(ReportText.fixed(validationLoss, 4))"
        if let testAccuracy { line += "  test-acc \(ReportText.percent(testAccuracy))" }
        if let epsilon { line += "  ε \(ReportText.fixed(epsilon, 3))" }
        if clippedCoordinates > 0 { line += "  clipped \(clippedCoordinates)" }
        line += "  sent \(Self.bytes(bytesSent))  recv \(Self.bytes(bytesReceived))  \(ReportText.fixed(seconds, 2))s"
        return line
    }

    public var json: String {
        var fields: [String] = [
            "\"event\":\"round\"", "\"node\":\(ReportText.jsonString(node))", "\"round\":\(round)",
            "\"group\":[\(group.map(ReportText.jsonString).joined(separator: ","))]",
            "\"dropouts\":[\(dropouts.map(ReportText.jsonString).joined(separator: ","))]",
            "\"failure\":\(failure.map(ReportText.jsonString) ?? "null")",
            "\"train_loss\":\(ReportText.jsonNumber(trainLoss))", "\"local_steps\":\(localSteps)",
            "\"validation_loss\":\(ReportText.jsonNumber(validationLoss))",
            "\"test_accuracy\":\(ReportText.jsonNumber(testAccuracy))",
            "\"epsilon\":\(ReportText.jsonNumber(epsilon))",
            "\"clipped\":\(clippedCoordinates)", "\"bytes_sent\":\(bytesSent)", "\"bytes_received\":\(bytesReceived)",
            "\"seconds\":\(ReportText.jsonNumber(seconds))", "\"elapsed\":\(ReportText.jsonNumber(elapsed))",
            time.map { String(format: "\"time\":%.3f", $0) } ?? "",
            cpuSeconds.map { "\"cpu_seconds\":\(ReportText.jsonNumber($0))" } ?? "",
            "\"evaluation_seconds\":\(ReportText.jsonNumber(evaluationSeconds))",
            "\"training_seconds\":\(ReportText.jsonNumber(trainingSeconds))",
            "\"aggregation_seconds\":\(ReportText.jsonNumber(aggregationSeconds))",
        ]
        fields.removeAll { $0.isEmpty }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func bytes(_ count: Int) -> String {
        if count >= 1 << 20 { return String(format: "%.1fMB", Double(count) / Double(1 << 20)) }
        if count >= 1 << 10 { return String(format: "%.1fKB", Double(count) / Double(1 << 10)) }
        return "\(count)B"
    }
}

import Foundation
import Learning
import Node
import Simulation

/// What `simulate` prints: a header, one line per round and a summary, as text or JSON lines.
struct SimulationOutput {
    let json: Bool
    let console: Console

    func header(_ configuration: SimulateConfiguration, simulator: Simulator, data: DataSplit, learner: NodeLearner.Settings) {
        let settings = simulator.settings
        let evaluated = settings.evaluation.evaluatedNodes(of: settings.nodes).count
        let tested = simulator.testExamples == 0 ? 0 : evaluated
        if json {
            let fields = [
                "\"event\":\"start\"", "\"nodes\":\(settings.nodes)", "\"group_size\":\(settings.groupSize)",
                "\"max_rounds\":\(settings.convergence.maxRounds)", "\"model\":" + ReportText.jsonString("\(learner.model)"),
                "\"data\":" + ReportText.jsonString("\(configuration.training.source)"),
                "\"examples_per_node\":\(Self.examplesPerNode(settings, data))", "\"local_steps\":\(learner.localSteps)",
                "\"slow_momentum\":" + ReportText.jsonNumber(learner.slowMomentum),
                "\"proximal_mu\":" + ReportText.jsonNumber(learner.proximalMu),
                "\"seed\":\(settings.seed)", "\"faults\":" + ReportText.jsonString(configuration.faults.description),
                "\"evaluated_nodes\":\(tested)", "\"test_examples\":\(simulator.testExamples)",
                "\"initial_disagreement\":" + ReportText.jsonNumber(simulator.initialDisagreement),
                "\"rss_mb\":" + ReportText.jsonNumber(ProcessMemory.residentMegabytes()),
            ]
            console.out("{" + fields.joined(separator: ",") + "}")
            return
        }
        console.out("simulating \(settings.nodes) nodes: \(learner.model) on \(configuration.training.source), "
                    + "about \(Self.examplesPerNode(settings, data)) examples each (\(configuration.training.partition)), "
                    + "\(learner.localSteps) local steps, groups of \(min(settings.groupSize, settings.nodes))+, "
                    + "up to \(settings.convergence.maxRounds) rounds, seed \(settings.seed)"
                    + (learner.slowMomentum > 0 ? ", slow momentum \(learner.slowMomentum)" : "")
                    + (learner.proximalMu > 0 ? ", proximal mu \(learner.proximalMu)" : "")
                    + (settings.independentInit ? ", independent initial models" : ""))
        console.out("faults: \(configuration.faults.description)")
        console.out(tested == 0 ? "test accuracy: not evaluated"
                    : "test accuracy: \(tested) of \(settings.nodes) nodes on \(simulator.testExamples) of \(data.test.count) test examples"
                      + (settings.evalEvery == 0 ? ", at the end only" : settings.evalEvery > 1 ? ", every \(settings.evalEvery) rounds" : ""))
        console.out("initial disagreement \(ReportText.fixed(simulator.initialDisagreement, 4))")
    }

    func round(_ summary: Simulator.RoundSummary) {
        if json {
            let fields = [
                "\"event\":\"round\"", "\"round\":\(summary.round)", "\"nodes\":\(summary.nodesReporting)",
                "\"evaluated\":\(summary.nodesEvaluated)",
                "\"test_accuracy_mean\":" + ReportText.jsonNumber(summary.meanTestAccuracy),
                "\"test_accuracy_std\":" + ReportText.jsonNumber(summary.stdTestAccuracy),
                "\"test_accuracy_min\":" + ReportText.jsonNumber(summary.minTestAccuracy),
                "\"test_accuracy_max\":" + ReportText.jsonNumber(summary.maxTestAccuracy),
                "\"disagreement\":" + ReportText.jsonNumber(summary.disagreement),
                "\"groups\":\(summary.groups)", "\"failed_groups\":\(summary.failedGroups)", "\"dropouts\":\(summary.dropouts)",
                "\"clipped\":\(summary.clippedCoordinates)",
                "\"bytes_per_node\":" + ReportText.jsonNumber(summary.bytesPerNode),
                "\"total_bytes_per_node\":" + ReportText.jsonNumber(summary.totalBytesPerNode),
                "\"epsilon\":" + ReportText.jsonNumber(summary.meanEpsilon),
                "\"virtual_s\":" + ReportText.jsonNumber(summary.virtualSeconds), "\"wall_s\":" + ReportText.jsonNumber(summary.wallSeconds),
                "\"rss_mb\":" + ReportText.jsonNumber(ProcessMemory.residentMegabytes()),
            ]
            console.out("{" + fields.joined(separator: ",") + "}")
            return
        }
        var line = "round \(summary.round)  nodes \(summary.nodesReporting)"
        if let mean = summary.meanTestAccuracy, let std = summary.stdTestAccuracy,
           let low = summary.minTestAccuracy, let high = summary.maxTestAccuracy {
            line += "  test-acc " + ReportText.percent(mean) + " ±" + ReportText.fixed(100 * std, 2)
                + " [" + ReportText.percent(low) + ", " + ReportText.percent(high) + "]"
        }
        line += "  disagreement " + ReportText.fixed(summary.disagreement, 4)
        line += "  failed \(summary.failedGroups)/\(summary.groups) groups  dropouts \(summary.dropouts)"
        if summary.clippedCoordinates > 0 { line += "  clipped \(summary.clippedCoordinates)" }
        if let epsilon = summary.meanEpsilon { line += "  ε " + ReportText.fixed(epsilon, 3) }
        line += "  sent/node " + Self.bytes(summary.bytesPerNode)
        line += "  virtual " + ReportText.fixed(summary.virtualSeconds, 1) + "s  wall " + ReportText.fixed(summary.wallSeconds, 1) + "s"
        console.out(line)
    }

    /// Prints the summary and returns the exit code: 1 when a node that was not crashed for good
    /// failed (a node that aggregated no round failed) or never stopped, or when no node finished
    /// at all. Crashes are the injected faults: a node crashed for good, or still down because the
    /// others stopped before its restart round, is reported but not a failure by itself.
    func summary(_ simulator: Simulator) -> Int32 {
        let outcomes = simulator.outcomes
        let stopped = outcomes.filter { $0.stopRound != nil }
        let stopRounds = stopped.compactMap(\.stopRound)
        let accuracies = outcomes.compactMap(\.testAccuracy)
        let crashedForGood = outcomes.filter { if case .failure(let why)? = $0.reason { return why.hasPrefix("crashed") }; return false }
        let down = outcomes.filter { $0.pendingRestart != nil }
        let stoppedFailing = stopped.filter { if case .failure? = $0.reason { return true }; return false }.count
        let failed = outcomes.count - stopped.count - crashedForGood.count - down.count + stoppedFailing
        let finished = stopped.count - stoppedFailing
        let reasonCounts = Dictionary(grouping: stopped.compactMap { $0.reason?.description }, by: { $0 })
            .mapValues(\.count).sorted { $0.key < $1.key }
        let reasons = reasonCounts.map { "\($0.value) \($0.key)" }.sorted()
        let meanAccuracy = accuracies.isEmpty ? nil : accuracies.reduce(0, +) / Double(accuracies.count)
        let bytes = outcomes.isEmpty ? 0 : Double(outcomes.reduce(0) { $0 + $1.bytesSent }) / Double(outcomes.count)
        let counts = simulator.faultCounts
        let crashes = outcomes.reduce(0) { $0 + $1.crashes }
        let rss = ProcessMemory.peakResidentMegabytes()
        let wall = simulator.wallSeconds
        let cpu = ProcessClock.cpuSeconds()
        if json {
            let fields = [
                "\"event\":\"summary\"", "\"nodes\":\(outcomes.count)", "\"stopped\":\(stopped.count)",
                "\"failed\":\(failed)", "\"finished\":\(finished)", "\"down_at_end\":\(down.count)", "\"crashes\":\(crashes)", "\"crashed_for_good\":\(crashedForGood.count)",
                "\"stop_round_min\":\(stopRounds.min().map(String.init) ?? "null")",
                "\"stop_round_max\":\(stopRounds.max().map(String.init) ?? "null")",
                "\"stop_reasons\":{" + reasonCounts.map { ReportText.jsonString($0.key) + ":\($0.value)" }.joined(separator: ",") + "}",
                "\"test_accuracy_mean\":" + ReportText.jsonNumber(meanAccuracy),
                "\"test_accuracy_min\":" + ReportText.jsonNumber(accuracies.min()), "\"test_accuracy_max\":" + ReportText.jsonNumber(accuracies.max()),
                "\"bytes_sent_per_node\":" + ReportText.jsonNumber(bytes),
                "\"datagrams_dropped\":\(counts.dropped)", "\"datagrams_partitioned\":\(counts.partitioned)",
                "\"datagrams_duplicated\":\(counts.duplicated)", "\"datagrams_reordered\":\(counts.reordered)",
                "\"datagrams_corrupted\":\(counts.corrupted)",
                "\"virtual_s\":" + ReportText.jsonNumber(simulator.virtualSeconds), "\"wall_s\":" + ReportText.jsonNumber(wall),
                "\"cpu_s\":" + ReportText.jsonNumber(cpu), "\"peak_rss_mb\":" + ReportText.jsonNumber(rss),
            ]
            console.out("{" + fields.joined(separator: ",") + "}")
        } else {
            var line = "done: \(stopped.count) of \(outcomes.count) nodes stopped"
            if let low = stopRounds.min(), let high = stopRounds.max() {
                line += low == high ? " at round \(low)" : " at rounds \(low)-\(high)"
            }
            if !reasons.isEmpty { line += " (" + reasons.joined(separator: ", ") + ")" }
            if crashes > 0 { line += "; \(crashes) crashes, \(crashedForGood.count) for good" }
            if !down.isEmpty { line += "; \(down.count) down at the end (restart after the last round)" }
            if failed > 0 { line += "; \(failed) FAILED" }
            if finished == 0 && failed == 0 { line += "; no node finished the run: FAILED" }
            console.out(line)
            if let meanAccuracy, let low = accuracies.min(), let high = accuracies.max() {
                console.out("final test accuracy " + ReportText.percent(meanAccuracy) + " [" + ReportText.percent(low) + ", "
                            + ReportText.percent(high) + "] over \(accuracies.count) evaluated nodes")
            }
            console.out("sent " + Self.bytes(bytes) + " per node; datagrams lost \(counts.dropped), partitioned \(counts.partitioned), "
                        + "duplicated \(counts.duplicated), reordered \(counts.reordered), corrupted \(counts.corrupted)")
            console.out("virtual time " + ReportText.fixed(simulator.virtualSeconds, 1) + " s, wall time " + ReportText.fixed(wall, 1)
                        + " s, CPU time " + ReportText.fixed(cpu, 1) + " s, peak RSS " + ReportText.fixed(rss, 0) + " MB")
        }
        return failed > 0 || finished == 0 ? ExitCode.failure : ExitCode.success
    }

    static func examplesPerNode(_ settings: Simulator.Settings, _ data: DataSplit) -> Int {
        min(data.train.count / settings.nodes, settings.examplesPerNode ?? .max)
    }


    static func bytes(_ count: Double) -> String {
        if count >= 1_048_576 { return String(format: "%.2fMB", count / 1_048_576) }
        if count >= 1024 { return String(format: "%.1fKB", count / 1024) }
        return String(format: "%.0fB", count)
    }
}

import Foundation
import Learning
import Testing
import TestKit
@testable import GossipnodeCLI

/// `gossipnode simulate`: flag validation, help, and tiny runs on the committed Fashion-MNIST subset.
@Suite struct SimulateCommandTests {
    static let tiny = ["simulate", "--data", TrainCommandTests.data, "--nodes", "6", "--group-size", "3", "--rounds", "2",
                       "--model", "logreg", "--local-steps", "3", "--batch-size", "16", "--eval-examples", "100"]

    @Test(arguments: [
        (["--nodes", "2"], "--nodes <n>"),
        (["--loss", "1.5"], "--loss <p>"),
        (["--delay", "5:x"], "expected MS or MS:JITTER"),
        (["--crash", "9@2"], "NODE below 6"),
        (["--crash", "1@3:2"], "RESTART after ROUND"),
        (["--crash", "node1@2", "--crash", "1@2"], "node 1 already crashes"),
        (["--crash", "1@1:3"], "round 3 is after --rounds 2"),
        (["--crash", "1@3"], "round 3 is after --rounds 2"),
        (["--partition", "0-3|2-5@1-2"], "node 2 is on two sides"),
        (["--partition", "0-5@1-2"], "at least two sides"),
        (["--partition", "0-2|3-5@4-2"], "round range"),
        (["--partition", "0-2|3-9@1"], "below 6"),
        (["--partition", "0-2|3-5@1-2", "--partition", "0-1|2-5@2-2"], "its rounds overlap those of another --partition (rounds 1-2)"),
        (["--init", "random"], "expected shared or independent"),
        (["--data-partition", "skewed"], "dirichlet"),
        (["--shard", "1/2"], "unknown option '--shard'"),
        (["--crash-rate", "0.9"], "--crash-rate <p>"),
        (["--slow-momentum", "1"], "--slow-momentum <beta>"),
        (["--proximal-mu", "-1"], "--proximal-mu <mu>"),
        (["--proximal-mu", "30", "--lr", "0.05"], "--proximal-mu 30.0 with --lr 0.05: mu × lr must be at most 1"),
        (["--eval-every", "-1"], "--eval-every <n>"),
    ])
    func badFlagsAreUsageErrorsThatNameTheFlag(extra: [String], message: String) {
        let result = runTool(Self.tiny + extra)
        #expect(result.code == 2)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func helpListsEveryFaultFlagWithItsDefault() {
        let help = runTool(["simulate", "--help"])
        #expect(help.code == 0)
        for flag in ["--nodes <n>", "--loss <p>", "--duplicate <p>", "--reorder <p>", "--delay <ms[:jitter]>", "--corrupt <p>",
                     "--crash <node@round[:restart]>", "--crash-rate <p>", "--partition <a|b@from-to>", "--seed <n>", "--json",
                     "--eval-nodes <n>", "--data-partition <scheme>", "--group-size <k>", "--dp"] {
            #expect(help.stdout.contains(flag), "missing \(flag)")
        }
        #expect(help.stdout.contains("(default: 10)"))
        #expect(help.stdout.contains("(can be repeated)"))
        #expect(runTool(["--help"]).stdout.contains("simulate"))
    }

    /// The JSON lines of a run without the fields that measure the machine (wall time, memory).
    static func deterministicPart(_ output: String) -> [String] {
        output.split(separator: "\n").map { line in
            String(line).replacing(/"(wall_s|cpu_s|rss_mb|peak_rss_mb)":[^,}]*/, with: "")
        }
    }

    @Test func aTinyFaultyRunPrintsEveryRoundAndRepeatsExactly() throws {
        let flags = Self.tiny + ["--json", "--loss", "0.05", "--duplicate", "0.05", "--reorder", "0.1", "--delay", "2:1",
                                 "--corrupt", "0.01", "--crash", "2@2", "--seed", "3"]
        let first = runTool(flags)
        // Groups of three need all three (t = k = 3): the dead node's group fails round 2, and a
        // crash just after a round can take a peer's last answers with it, so a node may aggregate
        // no round, which fails the run (exit 1); anything else must not.
        let reasons = try #require(try Self.summary(first.stdout)["stop_reasons"] as? [String: Int])
        #expect(reasons.keys.allSatisfy { $0 == "reached --rounds" || $0.hasPrefix("failed: no round aggregated") }, "\(reasons)")
        #expect(first.code == (reasons.keys.contains { $0.hasPrefix("failed") } ? 1 : 0), "\(first.stderr)")
        let lines = first.stdout.split(separator: "\n")
        #expect(lines.count == 4, "\(first.stdout)")
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.map { $0["event"] as? String } == ["start", "round", "round", "summary"])
        #expect(objects[1]["nodes"] as? Int == 6)
        #expect(objects[2]["nodes"] as? Int == 5) // node 2 crashed for good at round 2
        #expect((objects[2]["test_accuracy_mean"] as? Double ?? 0) > 0.3)
        #expect(objects[3]["crashed_for_good"] as? Int == 1)
        #expect((objects[3]["datagrams_dropped"] as? Int ?? 0) > 0)
        #expect(first.stderr.contains("node2 crashed at the start of round 2"))
        let second = runTool(flags)
        #expect(Self.deterministicPart(second.stdout) == Self.deterministicPart(first.stdout))
        #expect(second.code == first.code)
        let other = runTool(flags.dropLast() + ["4"])
        #expect(Self.deterministicPart(other.stdout) != Self.deterministicPart(first.stdout))
    }

    /// `tiny` with other --rounds, --nodes and --model (flags may not be given twice).
    static func tiny(rounds: Int = 2, nodes: Int = 6, model: String = "logreg") -> [String] {
        var flags = tiny
        flags[flags.firstIndex(of: "--rounds")! + 1] = "\(rounds)"
        flags[flags.firstIndex(of: "--nodes")! + 1] = "\(nodes)"
        flags[flags.firstIndex(of: "--model")! + 1] = model
        return flags
    }

    /// Refused before any node is made, naming the flags: models that do not fit the data, and
    /// runs whose estimated memory (100 nodes x 3 GB of model copies here) exceeds the machine's.
    @Test(arguments: [
        (6, "cnn:16,16,16,16", "too small for convolution 3"),
        (6, "mlp:65536,4096", "too many parameters"),
        (100, "mlp:65536", "--nodes 100 with --model mlp:65536 (52101130 parameters) needs about"),
    ])
    func modelsThatCannotRunAreRefusedUpFront(nodes: Int, model: String, message: String) {
        let result = runTool(Self.tiny(nodes: nodes, model: model))
        #expect(result.code == 2)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    static func summary(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").last)
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// Nodes whose training blew up to NaN stop with a failure, and no accuracy of their NaN models
    /// (one predicted class, ~11%) is reported as if it were a result.
    @Test func aDivergedRunFailsWithoutAnAccuracy() throws {
        var flags = Self.tiny
        flags[flags.firstIndex(of: "--batch-size")! + 1] = "1"
        flags[flags.firstIndex(of: "--local-steps")! + 1] = "50"
        let result = runTool(flags + ["--lr", "1000", "--momentum", "0.9999", "--weight-decay", "10", "--json"])
        #expect(result.code == 1, "\(result.stderr)")
        let summary = result.stdout.split(separator: "\n").last { $0.contains("\"event\":\"summary\"") } ?? ""
        #expect(summary.contains("\"test_accuracy_mean\":null") && summary.contains("\"finished\":0"), "\(summary)")
    }

    /// Every round failing (here every datagram corrupted) leaves each node with its local model
    /// only: the run failed, as `run` says of such a node, even though every node "reached --rounds".
    @Test func aRunInWhichNoRoundAggregatedFails() throws {
        let text = runTool(Self.tiny + ["--corrupt", "1"])
        #expect(text.code == 1, "\(text.stdout)")
        #expect(text.stdout.contains("6 failed: no round aggregated: all 2 failed"), "\(text.stdout)")
        #expect(text.stdout.contains("6 FAILED"))
        let json = try Self.summary(runTool(Self.tiny + ["--corrupt", "1", "--json"]).stdout)
        #expect(json["failed"] as? Int == 6)
        #expect(json["finished"] as? Int == 0)
        // Some failed rounds are no failure while every node aggregated at least once.
        let partial = runTool(Self.tiny(rounds: 3) + ["--partition", "0|1|2|3|4|5@2"])
        #expect(partial.code == 0, "\(partial.stdout)")
    }

    /// All nodes crashed for good: nothing finished, and the bytes they sent are still counted.
    @Test func everyNodeCrashedForGoodIsAFailedRunThatStillCountsItsBytes() throws {
        let crashes = (0..<6).flatMap { ["--crash", "\($0)@2"] }
        let result = runTool(Self.tiny + crashes + ["--json"])
        #expect(result.code == 1)
        let json = try Self.summary(result.stdout)
        #expect(json["crashed_for_good"] as? Int == 6)
        #expect(json["finished"] as? Int == 0)
        #expect((json["bytes_sent_per_node"] as? Double ?? 0) > 1000, "\(json)")
    }

    /// When every node is down nobody can start the round that restarts them: they restart at
    /// once, and the run finishes with the bytes of both lives.
    @Test func whenEveryNodeIsDownPendingRestartsFireAnyway() throws {
        let crashes = (0..<6).flatMap { ["--crash", "\($0)@2:3"] }
        let result = runTool(Self.tiny(rounds: 3) + crashes + ["--json"])
        #expect(result.code == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains("every node is down: restarting node0, node1, node2, node3, node4, node5 now"))
        let json = try Self.summary(result.stdout)
        #expect(json["finished"] as? Int == 6)
        #expect(json["stop_round_max"] as? Int == 3)
        #expect((json["bytes_sent_per_node"] as? Double ?? 0) > 1000)
    }

    /// A random crash is never drawn in the last two rounds, whose restart could not come: the
    /// run ends with every node up and stopped instead of "FAILED" for nodes waiting to restart.
    @Test func randomCrashesLeaveNoRestartAfterTheLastRound() throws {
        for seed in 1...3 {
            let result = runTool(Self.tiny(rounds: 4) + ["--crash-rate", "0.5", "--seed", "\(seed)", "--json"])
            #expect(!result.stderr.contains("start of round 3"))
            #expect(!result.stderr.contains("start of round 4"))
            let json = try Self.summary(result.stdout)
            #expect(json["down_at_end"] as? Int == 0)
            #expect(json["stopped"] as? Int == 6, "\(result.stdout)\n\(result.stderr)")
            // Half the nodes crash in each early round and groups of three need all three, so a
            // node may aggregate no round (exit 1, "no round aggregated"); no other failure.
            let reasons = try #require(json["stop_reasons"] as? [String: Int])
            let noRound = reasons.filter { $0.key.hasPrefix("failed: no round aggregated") }.values.reduce(0, +)
            #expect(noRound + (reasons["reached --rounds"] ?? 0) == 6, "\(reasons)")
            #expect(json["failed"] as? Int == noRound)
            #expect(result.code == (noRound == 0 ? 0 : 1))
        }
    }

    @Test func textOutputHasAHeaderALinePerRoundAndASummary() {
        let result = runTool(Self.tiny + ["--partition", "0-2|3-5@2-2", "--eval-nodes", "2"])
        #expect(result.code == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("simulating 6 nodes: logreg") == true)
        #expect(lines.contains { $0.hasPrefix("faults: partition 3|3 in rounds 2-2") })
        #expect(lines.contains { $0.hasPrefix("test accuracy: 2 of 6 nodes on 100 of 500 test examples") })
        #expect(lines.filter { $0.hasPrefix("round ") }.count == 2)
        #expect(lines.contains { $0.hasPrefix("round 1  nodes 6  test-acc") && $0.contains("disagreement") && $0.contains("sent/node") })
        #expect(lines.contains { $0.hasPrefix("done: 6 of 6 nodes stopped at round 2") })
        #expect(result.stderr.contains("partition into 3|3 nodes as round 2 starts"))
        #expect(!result.stdout.contains("clipped"), "nothing clipped at the default range")
    }

    /// Coordinates clipped by the fixed-point encoding are reported per round, as `--clip-range`'s
    /// help says (run reports them per node; simulate used to say nothing).
    @Test func clippingIsReportedPerRound() throws {
        let text = runTool(Self.tiny + ["--clip-range", "1e-6"])
        #expect(text.code == 0 && text.stdout.split(separator: "\n").contains { $0.hasPrefix("round 1 ") && $0.contains("  clipped ") },
                "\(text.stdout)")
        let json = runTool(Self.tiny + ["--clip-range", "1e-6", "--json"])
        let round = json.stdout.split(separator: "\n").first { $0.contains("\"event\":\"round\"") } ?? ""
        let object = try #require(try JSONSerialization.jsonObject(with: Data(round.utf8)) as? [String: Any])
        #expect((object["clipped"] as? Int ?? 0) > 1000, "\(round)")
    }

    /// `--proximal-mu` reaches every node's training: the header says so, and the run differs
    /// from the same seed without it (a strong pull keeps models nearer each round's start).
    @Test func theProximalTermIsAppliedAndShown() throws {
        let plain = runTool(Self.tiny + ["--json"]), pulled = runTool(Self.tiny + ["--json", "--proximal-mu", "10"])
        #expect(plain.code == 0 && pulled.code == 0, "\(plain.stderr) \(pulled.stderr)")
        #expect(plain.stdout.contains("\"proximal_mu\":0,") && pulled.stdout.contains("\"proximal_mu\":10,"), "\(pulled.stdout.prefix(400))")
        func rounds(_ output: String) -> [String] { output.split(separator: "\n").filter { $0.contains("\"event\":\"round\"") }.map(String.init) }
        #expect(rounds(plain.stdout).count == 2 && rounds(pulled.stdout).count == 2)
        #expect(rounds(plain.stdout) != rounds(pulled.stdout))
        let header = runTool(Self.tiny + ["--proximal-mu", "10"]).stdout.split(separator: "\n").first ?? ""
        #expect(header.hasPrefix("simulating 6 nodes: logreg") && header.contains(", proximal mu 10.0"), "\(header)")
    }
}

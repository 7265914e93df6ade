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
        (["--crash", "node1@2", "--crash", "1@4"], "node 1 already crashes"),
        (["--partition", "0-3|2-5@1-2"], "node 2 is on two sides"),
        (["--partition", "0-5@1-2"], "at least two sides"),
        (["--partition", "0-2|3-5@4-2"], "round range"),
        (["--partition", "0-2|3-9@1"], "below 6"),
        (["--init", "random"], "expected shared or independent"),
        (["--data-partition", "skewed"], "dirichlet"),
        (["--shard", "1/2"], "unknown option '--shard'"),
        (["--crash-rate", "0.9"], "--crash-rate <p>"),
        (["--slow-momentum", "1"], "--slow-momentum <beta>"),
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
        #expect(first.code == 0, "\(first.stderr)")
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
        let other = runTool(flags.dropLast() + ["4"])
        #expect(Self.deterministicPart(other.stdout) != Self.deterministicPart(first.stdout))
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
    }
}

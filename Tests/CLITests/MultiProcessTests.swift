import Foundation
import Testing
import TestKit

/// Real `gossipnode run` processes on loopback, on the committed Fashion-MNIST subset.
@Suite(.serialized) struct MultiProcessTests {
    /// A local network in a temporary directory: keys, peers file, state and output per node.
    final class LocalNetwork: @unchecked Sendable {
        let dir: TemporaryDirectory
        let nodes: Int
        let options: [String]
        var processes: [Int: Process] = [:]
        let binary = ProcessRunner.gossipnode

        init(nodes: Int, basePort: Int, options: [String]) throws {
            dir = try TemporaryDirectory("gossipnode-net")
            self.nodes = nodes
            self.options = options
            var lines: [String] = []
            for i in 1...nodes {
                let made = try ProcessRunner.run(binary, ["keygen", "--out", dir.file("keys/n\(i).key")])
                lines.append("n\(i) 127.0.0.1:\(basePort + i) \(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            _ = try dir.write("peers.txt", lines.joined(separator: "\n") + "\n")
        }

        func start(_ i: Int) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["run", "--peers", dir.file("peers.txt"), "--id", "n\(i)", "--key", dir.file("keys/n\(i).key"),
                                 "--state", dir.file("state/n\(i)"), "--json",
                                 "--data", "fashion-mnist:" + ProcessRunner.packageRoot.appendingPathComponent("data/fashion-mnist-subset").path]
                + options
            let out = dir.file("n\(i).jsonl")
            if !FileManager.default.fileExists(atPath: out) { _ = FileManager.default.createFile(atPath: out, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            processes[i] = process
        }

        func lines(_ i: Int) -> [String] {
            ((try? String(contentsOfFile: dir.file("n\(i).jsonl"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        func events(_ i: Int, _ kind: String) -> [[String: Any]] {
            lines(i).compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { $0["event"] as? String == kind }
        }

        func rounds(_ i: Int) -> [[String: Any]] { events(i, "round") }

        func summary(_ i: Int) -> [String: Any]? {
            lines(i).compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .last { $0["event"] as? String == "summary" }
        }

        /// Waits until `condition` holds or `timeout` seconds pass.
        func wait(timeout: Double, _ condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if condition() { return true }
                usleep(100_000)
            }
            return condition()
        }

        func waitForExit(_ i: Int, timeout: Double) -> Int32? {
            guard let process = processes[i] else { return nil }
            guard wait(timeout: timeout, { !process.isRunning }) else { process.terminate(); return nil }
            return process.terminationStatus
        }

        func stopAll() {
            for process in processes.values where process.isRunning { process.terminate() }
            dir.cleanup()
        }
    }

    /// Also: with --eval-every 0 no round is evaluated, only the final model; --keep-round-models
    /// keeps every round's model, which `eval` scores exactly as the node did (as the checkpoint).
    @Test func fourNodesTrainConvergeAndStopTogether() throws {
        let network = try LocalNetwork(nodes: 4, basePort: 17_300 + Int.random(in: 0..<50) * 10, options: [
            "--model", "logreg", "--rounds", "8", "--local-steps", "20", "--group-size", "4", "--threads", "1",
            "--phase-timeout", "3", "--join-timeout", "20", "--eval-every", "0", "--keep-round-models",
        ])
        defer { network.stopAll() }
        for i in 1...4 { try network.start(i) }
        for i in 1...4 { #expect(network.waitForExit(i, timeout: 120) == 0, "node \(i) did not exit cleanly: \(network.summary(i) ?? [:])") }
        let summaries = (1...4).compactMap { network.summary($0) }
        #expect(summaries.count == 4)
        #expect(Set(summaries.compactMap { $0["rounds"] as? Int }) == [8])
        for summary in summaries { #expect((summary["test_accuracy"] as? Double ?? 0) > 0.65) }
        for i in 1...4 { #expect(network.rounds(i).allSatisfy { ($0["failure"] as? String) == nil }) }

        let rounds = network.rounds(1)
        #expect(rounds.map { $0["round"] as? Int } == Array(1...8))
        // Each line carries when the round ended (Unix time), consistent with its elapsed seconds.
        let times = rounds.compactMap { $0["time"] as? Double }
        #expect(times.count == 8 && times == times.sorted() && abs(times[7] - Date().timeIntervalSince1970) < 300)
        let starts = rounds.compactMap { r in (r["time"] as? Double).flatMap { t in (r["elapsed"] as? Double).map { t - $0 } } }
        #expect((starts.max() ?? 1) - (starts.min() ?? 0) < 0.05, "\(starts)")
        // CPU seconds since the node started running: growing round by round, within what its two
        // threads (protocol loop, training) could use in the elapsed time; the summary's is the last.
        let cpu = rounds.compactMap { $0["cpu_seconds"] as? Double }, elapsed = rounds.compactMap { $0["elapsed"] as? Double }
        #expect(cpu.count == 8 && cpu[0] > 0 && cpu == cpu.sorted() && cpu[7] <= 2 * elapsed[7] + 0.05, "\(cpu) \(elapsed)")
        #expect(try #require(network.summary(1)?["cpu_seconds"] as? Double) >= cpu[7])
        #expect(rounds.allSatisfy { $0["test_accuracy"] as? Double == nil })
        let reported = try #require(network.summary(1)?["test_accuracy"] as? Double)
        func evaluate(_ path: String) throws -> Double {
            let result = runTool(["eval", "--model", path, "--json", "--threads", "1",
                                  "--data", "fashion-mnist:" + ProcessRunner.packageRoot.appendingPathComponent("data/fashion-mnist-subset").path])
            #expect(result.code == 0, "\(result.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            return try #require(json?["accuracy"] as? Double)
        }
        let state = network.dir.file("state/n1")
        #expect(abs(try evaluate(state + "/rounds/round-000008.model") - reported) < 1e-6)
        #expect(abs(try evaluate(state + "/checkpoint") - reported) < 1e-6)
        for round in 1...7 { #expect(FileManager.default.fileExists(atPath: state + "/rounds/round-00000\(round).model")) }
    }

    @Test func aKilledNodeRestartsFromItsCheckpointWithItsSpentPrivacy() throws {
        let network = try LocalNetwork(nodes: 4, basePort: 17_900 + Int.random(in: 0..<50) * 10, options: [
            "--model", "logreg", "--rounds", "14", "--local-steps", "10", "--group-size", "4", "--threads", "1",
            "--phase-timeout", "2", "--join-timeout", "6", "--dp", "--noise-multiplier", "1.1", "--clip-norm", "1",
            "--batch-size", "32",
        ])
        defer { network.stopAll() }
        for i in 1...4 { try network.start(i) }
        // Kill node 3 once it has finished a few rounds.
        #expect(network.wait(timeout: 90) { network.rounds(3).count >= 4 })
        kill(network.processes[3]!.processIdentifier, SIGKILL)
        _ = network.waitForExit(3, timeout: 10)
        let before = network.rounds(3)
        let epsilonBefore = before.compactMap { $0["epsilon"] as? Double }.max() ?? 0
        let roundBefore = before.compactMap { $0["round"] as? Int }.max() ?? 0
        #expect(epsilonBefore > 0)
        // The others keep going without it.
        #expect(network.wait(timeout: 60) { network.rounds(1).count >= roundBefore + 2 })
        try network.start(3)
        for i in 1...4 { #expect(network.waitForExit(i, timeout: 180) == 0, "node \(i) did not exit cleanly: \(network.summary(i) ?? [:])") }
        let after = network.rounds(3).dropFirst(before.count)
        let firstAfter = after.first
        #expect(firstAfter != nil)
        // Resumed after its checkpoint (at least the last round it reported: a round is reported
        // once its checkpoint is on disk), not from scratch, and with at least the privacy it had
        // spent. Catch-up alone would also put its first round after roundBefore, so the start
        // lines are what show the checkpoint was used.
        let starts = network.events(3, "start")
        #expect(starts.count == 2)
        #expect(starts.first?["resumed_after_round"] is NSNull)
        #expect((starts.last?["resumed_after_round"] as? Int ?? 0) >= roundBefore)
        #expect((starts.last?["epsilon"] as? Double ?? 0) >= epsilonBefore)
        #expect((firstAfter?["round"] as? Int ?? 0) > roundBefore)
        #expect((firstAfter?["epsilon"] as? Double ?? 0) >= epsilonBefore)
        for i in 1...4 { #expect(network.summary(i) != nil) }
    }
}

import Foundation
import Testing
import TestKit
@testable import GossipnodeCLI

private func json(_ text: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any])
}

@Suite("gossipnode privacy")
struct PrivacyCommandTests {
    @Test("prints ε and the optimal order; --json carries the same figures")
    func epsilonMode() throws {
        let text = runTool(["privacy", "--sampling-rate", "0.004266666666666667", "--noise-multiplier", "1.1",
                            "--steps", "14062", "--delta", "1e-5"])
        #expect(text.code == 0)
        #expect(text.stdout == "epsilon 2.59656 at delta 1e-05 (optimal Rényi order 8.1)\n")
        let result = runTool(["privacy", "--sampling-rate", "0.004266666666666667", "--noise-multiplier", "1.1",
                              "--steps", "14062", "--json"])
        #expect(result.code == 0)
        let object = try json(result.stdout)
        // dp-accounting 0.6.0 gives 2.5965558697943036 at order 8.1 for the same run.
        let epsilon = try #require(object["epsilon"] as? Double)
        #expect(abs(epsilon - 2.5965558697943036) < 1e-6)
        #expect(object["order"] as? Double == 8.1)
        #expect(object["delta"] as? Double == 1e-5)
    }

    @Test("--epsilon with --steps prints the smallest noise multiplier meeting it")
    func noiseMode() throws {
        let result = runTool(["privacy", "--sampling-rate", "0.01", "--steps", "1000", "--epsilon", "2", "--json"])
        #expect(result.code == 0)
        let sigma = try #require(try json(result.stdout)["noise_multiplier"] as? Double)
        let at = try json(runTool(["privacy", "--sampling-rate", "0.01", "--steps", "1000", "--noise-multiplier", "\(sigma)", "--json"]).stdout)
        let below = try json(runTool(["privacy", "--sampling-rate", "0.01", "--steps", "1000", "--noise-multiplier", "\(sigma * 0.999)", "--json"]).stdout)
        #expect(try #require(at["epsilon"] as? Double) <= 2)
        #expect(try #require(below["epsilon"] as? Double) > 2)
        let text = runTool(["privacy", "--sampling-rate", "0.01", "--steps", "1000", "--epsilon", "2"])
        #expect(text.stdout.hasPrefix("noise multiplier "))
    }

    @Test("--epsilon with --noise-multiplier prints how many steps fit")
    func stepsMode() throws {
        let result = runTool(["privacy", "--sampling-rate", "0.02", "--noise-multiplier", "1", "--epsilon", "1.5", "--json"])
        #expect(result.code == 0)
        let steps = try #require(try json(result.stdout)["steps"] as? Int)
        let over = try json(runTool(["privacy", "--sampling-rate", "0.02", "--noise-multiplier", "1", "--steps", "\(steps + 1)", "--json"]).stdout)
        #expect(steps > 0)
        #expect(try #require(over["epsilon"] as? Double) > 1.5)
        #expect(try json(result.stdout)["steps_at_limit"] as? Bool == false)
        // A budget more steps fit in than a run may have: the answer is a lower bound, and says so.
        let huge = runTool(["privacy", "--sampling-rate", "0.01", "--noise-multiplier", "1e4", "--epsilon", "1e9"])
        #expect(huge.code == 0 && huge.stdout.hasPrefix("at least 1125899906842624 steps fit (the most a run may have)"), "\(huge.stdout)")
    }

    @Test("bad parameters exit 2 with a message naming the option", arguments: [
        (["--sampling-rate", "0", "--noise-multiplier", "1", "--steps", "10"], "--sampling-rate"),
        (["--sampling-rate", "1.5", "--noise-multiplier", "1", "--steps", "10"], "--sampling-rate"),
        (["--sampling-rate", "-0.1", "--noise-multiplier", "1", "--steps", "10"], "--sampling-rate"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "0", "--steps", "10"], "--noise-multiplier"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "-2", "--steps", "10"], "--noise-multiplier"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "nan", "--steps", "10"], "--noise-multiplier"),
        // ε overflows to infinity below σ = 0.001, and a subnormal δ upset the accountant's arithmetic.
        (["--sampling-rate", "0.1", "--noise-multiplier", "1e-300", "--steps", "10"], "expected a number from 0.001 to 10000.0"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "1e-320"], "expected a number in [1e-300, 1)"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "0"], "--delta"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "1"], "--delta"),
        (["--sampling-rate", "0.1", "--noise-multiplier", "1", "--steps", "0"], "--steps"),
        (["--sampling-rate", "0.1", "--steps", "10", "--epsilon", "0"], "--epsilon"),
        (["--noise-multiplier", "1", "--steps", "10"], "--sampling-rate"),
        (["--sampling-rate", "0.1", "--steps", "10"], "two of"),
        (["--steps", "10"], "--sampling-rate"),
        (["--sampling-rate", "0.1", "--steps", "10", "--noise-multiplier", "1", "--epsilon", "1"], "not all three"),
        (["--record", "--sampling-rate", "0.1", "--steps", "10", "--noise-multiplier", "1"], "--state"),
    ])
    func badParameters(_ arguments: [String], _ named: String) {
        let result = runTool(["privacy"] + arguments)
        #expect(result.code == 2)
        #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(named), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    /// A bare `privacy` named only --sampling-rate; fixing that, the user met "give two of" next.
    /// Every missing option is named in one error, as swift-argument-parser does.
    @Test("every missing option is named in one error", arguments: [
        ([], "missing required options '--sampling-rate <q>' and two of '--noise-multiplier <sigma>', '--steps <n>' and '--epsilon <e>' (or '--state <dir>' for a node's spent budget, or '--table <csv>')"),
        (["--steps", "10"], "missing required options '--sampling-rate <q>' and either '--noise-multiplier <sigma>' or '--epsilon <e>' (give two of --noise-multiplier, --steps and --epsilon)"),
        (["--sampling-rate", "0.1"], "missing required options two of '--noise-multiplier <sigma>', '--steps <n>' and '--epsilon <e>'"),
        (["--sampling-rate", "0.1", "--epsilon", "1"], "missing required option either '--noise-multiplier <sigma>' or '--steps <n>' (give two of --noise-multiplier, --steps and --epsilon)"),
        (["--noise-multiplier", "1", "--epsilon", "1"], "missing required option '--sampling-rate <q>'"),
        (["--state", "/", "--record"], "missing required options '--sampling-rate <q>', '--noise-multiplier <sigma>' and '--steps <n>' (with --record)"),
        (["--state", "/", "--record", "--noise-multiplier", "1"], "missing required options '--sampling-rate <q>' and '--steps <n>' (with --record)"),
    ])
    func missingOptionsNamedTogether(_ arguments: [String], _ message: String) {
        let result = runTool(["privacy"] + arguments)
        #expect(result.code == 2)
        #expect(result.stderr.hasPrefix("error: \(message)\nUsage: gossipnode privacy"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("--state shows a node's ledger; --record adds to it; a corrupt ledger is an error naming it")
    func ledger() throws {
        let dir = try TemporaryDirectory("privacy-cli")
        defer { dir.cleanup() }
        let fresh = runTool(["privacy", "--state", dir.path, "--json"])
        #expect(fresh.code == 0)
        #expect(try json(fresh.stdout)["steps"] as? Int == 0)
        for _ in 0..<2 {
            let recorded = runTool(["privacy", "--state", dir.path, "--record", "--sampling-rate", "0.01",
                                    "--noise-multiplier", "1", "--steps", "500"])
            #expect(recorded.code == 0)
        }
        let shown = try json(runTool(["privacy", "--state", dir.path, "--json"]).stdout)
        #expect(shown["steps"] as? Int == 1000)
        let expected = try json(runTool(["privacy", "--sampling-rate", "0.01", "--noise-multiplier", "1", "--steps", "1000", "--json"]).stdout)
        #expect(shown["epsilon"] as? Double == expected["epsilon"] as? Double)

        let ledgerPath = try #require(shown["ledger"] as? String)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ledgerPath))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: ledgerPath))
        let corrupt = runTool(["privacy", "--state", dir.path])
        #expect(corrupt.code == 2)
        #expect(corrupt.stderr.contains(ledgerPath) && corrupt.stderr.contains("corrupt"))
    }

    /// A mistyped state directory used to print "0 steps in 0 runs, epsilon 0" with exit code 0,
    /// and options that --state ignores (--epsilon) were silently dropped.
    @Test func stateMustExistAndTakesNoIgnoredOptions() throws {
        let dir = try TemporaryDirectory("privacy-cli")
        defer { dir.cleanup() }
        let typo = dir.file("stat/alice")
        for extra in [[], ["--record", "--sampling-rate", "0.01", "--noise-multiplier", "1", "--steps", "5"]] {
            let missing = runTool(["privacy", "--state", typo] + extra)
            #expect(missing.code == 2)
            #expect(missing.stderr == "error: no privacy ledger at \(typo)/ledger: \(typo) is not a directory\n", "\(missing.stderr)")
            #expect(missing.stdout.isEmpty && !FileManager.default.fileExists(atPath: typo))
        }
        let file = try dir.write("file", "")
        #expect(runTool(["privacy", "--state", file]).stderr.contains("no privacy ledger at \(file)/ledger: \(file) is not a directory"))
        let empty = runTool(["privacy", "--state", dir.path])
        #expect(empty.code == 0 && empty.stdout.hasPrefix("\(dir.path)/ledger: 0 steps in 0 runs"), "\(empty.stdout)")
        for (extra, message) in [
            (["--epsilon", "1"], "--epsilon does not apply with --state"),
            (["--record", "--sampling-rate", "0.01", "--noise-multiplier", "1", "--steps", "5", "--epsilon", "1"], "--epsilon does not apply with --state"),
            (["--steps", "5"], "--steps does not apply with --state without --record"),
        ] {
            let result = runTool(["privacy", "--state", dir.path] + extra)
            #expect(result.code == 2)
            #expect(result.stderr.hasPrefix("error: \(message)\nUsage: gossipnode privacy"), "\(extra): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("ledger")))
        // Counted in words that agree with the count ("1 runs" before).
        let recorded = runTool(["privacy", "--state", dir.path, "--record", "--sampling-rate", "0.01", "--noise-multiplier", "1", "--steps", "1"])
        #expect(recorded.code == 0, "\(recorded.stderr)")
        let one = runTool(["privacy", "--state", dir.path])
        #expect(one.stdout.hasPrefix("\(dir.path)/ledger: 1 step in 1 run\n"), "\(one.stdout)")
    }

    @Test("--table computes every row; a bad row is an error naming its line")
    func table() throws {
        let dir = try TemporaryDirectory("privacy-cli")
        defer { dir.cleanup() }
        let path = try dir.write("grid.csv", "q,sigma,steps,delta\n0.01,1.0,100,1e-05\n1.0,2.0,10,1e-05\n")
        let result = runTool(["privacy", "--table", path])
        #expect(result.code == 0)
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[2].hasPrefix("1.0,2.0,10,1e-05,"))
        // Row 2 has no subsampling: 10 Gaussian steps with σ = 2 have RDP 10·α/(2σ²) = 1.25α, and
        // the conversion ε = RDP(α) + ln((α−1)/α) − (ln δ + ln α)/(α−1) at the row's order must
        // give the row's ε; over all real orders its minimum is 8.0784 (grid orders: at most 0.1% more).
        let fields = lines[2].split(separator: ",")
        let epsilon = try #require(Double(fields[4])), order = try #require(Double(fields[5]))
        let closedForm = 1.25 * order + log((order - 1) / order) - (log(1e-5) + log(order)) / (order - 1)
        #expect(abs(epsilon - closedForm) < 1e-9 * closedForm, "ε \(epsilon) at order \(order), closed form \(closedForm)")
        #expect(epsilon >= 8.0783 && epsilon <= 8.0784 * 1.001, "ε \(epsilon)")
        // Row 1 (subsampled) agrees with the single-query command.
        let single = runTool(["privacy", "--sampling-rate", "0.01", "--noise-multiplier", "1.0", "--steps", "100", "--delta", "1e-5", "--json"])
        #expect(single.stdout.contains("\"epsilon\":\(lines[1].split(separator: ",")[4])"), "\(single.stdout) vs \(lines[1])")
        let bad = try dir.write("bad.csv", "0.01,1.0,100,1e-05\n0.01,1.0,x,1e-05\n")
        let failed = runTool(["privacy", "--table", bad])
        #expect(failed.code == 2)
        #expect(failed.stderr.contains("\(bad):2:"))
    }

    /// CRLF line endings (a whole file, or one line) read like LF: every row was dropped, or two
    /// rows merged into one, with exit code 0.
    @Test func tableAcceptsCRLF() throws {
        let dir = try TemporaryDirectory("privacy-cli")
        defer { dir.cleanup() }
        let rows = ["q,sigma,steps,delta", "0.01,1.0,100,1e-05", "1.0,2.0,10,1e-05", "0.5,3.0,20,1e-06"]
        let expected = runTool(["privacy", "--table", try dir.write("lf.csv", rows.joined(separator: "\n") + "\n")])
        #expect(expected.code == 0 && expected.stdout.split(separator: "\n").count == 4, "\(expected.stdout)")
        let crlf = runTool(["privacy", "--table", try dir.write("crlf.csv", rows.joined(separator: "\r\n") + "\r\n")])
        #expect(crlf.code == 0 && crlf.stdout == expected.stdout, "\(crlf.stdout)")
        let oneCRLF = runTool(["privacy", "--table", try dir.write("mixed.csv", rows[0...1].joined(separator: "\n") + "\r\n" + rows[2...].joined(separator: "\n"))])
        #expect(oneCRLF.code == 0 && oneCRLF.stdout == expected.stdout, "\(oneCRLF.stdout)")
        let zero = runTool(["privacy", "--table", try dir.write("zero.csv", "0.01,1.0,0,1e-05\n")])
        #expect(zero.code == 2 && zero.stderr.contains(":1: expected 'q,sigma,steps,delta'"), "\(zero.stderr)")
        let bad = try dir.write("bad.csv", "0.01,1.0,100,1e-05\r\n0.01,1.0,x,1e-05\r\n")
        let failed = runTool(["privacy", "--table", bad])
        #expect(failed.code == 2)
        #expect(failed.stderr.contains("\(bad):2: expected 'q,sigma,steps,delta' (steps at least 1), got '0.01,1.0,x,1e-05'"), "\(failed.stderr)")
        // --json: one object per row with the same figures (it used to be ignored).
        let perRow = runTool(["privacy", "--table", try dir.write("j.csv", rows.joined(separator: "\n")), "--json"])
        let objects = try perRow.stdout.split(separator: "\n").map { try json(String($0)) }
        let csv = expected.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        #expect(objects.count == 3 && objects.map { $0["epsilon"] as? Double } == csv.map { Double($0[4]) }, "\(perRow.stdout)")
    }

    /// A child process records steps into the ledger and is SIGKILLed at a random moment; after
    /// each kill a fresh process must load the ledger (never half-written) and find at least every
    /// step whose recording the child confirmed, and no step that was never attempted.
    @Test("kill -9 at random moments never loses confirmed steps nor leaves a torn ledger")
    func killAndRestart() throws {
        let binary = ProcessRunner.gossipnode
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("gossipnode binary not built at \(binary); run swift build --build-tests")
            return
        }
        let dir = try TemporaryDirectory("privacy-kill")
        defer { dir.cleanup() }
        func record(_ steps: Int) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["privacy", "--state", dir.path, "--record", "--sampling-rate", "0.01",
                                 "--noise-multiplier", "1.1", "--steps", "\(steps)"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        // How long one uninterrupted recording takes here, to spread the kills over it.
        let start = Date()
        let first = try record(1)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        let duration = Date().timeIntervalSince(start)
        var confirmed = 1, attempted = 1, killed = 0, completed = 1
        var random = seededRandom(4)
        for round in 0..<30 {
            let steps = round + 2
            let child = try record(steps)
            attempted += steps
            let delay = Double(random.nextUInt64() % 1000) / 1000 * duration * 1.5
            usleep(UInt32(delay * 1_000_000))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            if child.terminationReason == .exit && child.terminationStatus == 0 {
                confirmed += steps
                completed += 1
            } else {
                killed += 1
            }
            let restarted = try ProcessRunner.run(binary, ["privacy", "--state", dir.path, "--json"])
            #expect(restarted.status == 0, "ledger unreadable after a kill: \(restarted.stderr)")
            let total = try #require(try json(restarted.stdout)["steps"] as? Int)
            #expect(total >= confirmed && total <= attempted, "ledger holds \(total) steps; confirmed \(confirmed), attempted \(attempted)")
        }
        print("kill test: \(killed) killed, \(completed) completed, ledger duration \(duration)s")
        #expect(killed > 0 && completed > 1, "kills should land both before and after completion (killed \(killed))")
    }
}

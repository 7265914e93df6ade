import Foundation
import Testing
import TestKit

/// The shell scripts' own options, run with a stand-in for the binary so no node starts and
/// nothing is built: what they pass on and what they refuse.
@Suite struct ScriptsTests {
    static let scripts = ProcessRunner.packageRoot.appendingPathComponent("scripts").path

    /// Runs a script with extra environment variables; output goes through files (no pipe to drain).
    static func run(_ script: String, _ arguments: [String], environment: [String: String] = [:],
                    in dir: TemporaryDirectory) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [scripts + "/" + script] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = dir.file("script.out"), err = dir.file("script.err")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOfFile: out, encoding: .utf8), try String(contentsOfFile: err, encoding: .utf8))
    }

    /// A stand-in for `gossipnode`: records every call, prints a public key for keygen and a
    /// finished node's summary line for run.
    static func stub(in dir: TemporaryDirectory) throws -> (binary: String, calls: String) {
        let calls = dir.file("calls.txt")
        let binary = try dir.write("gossipnode", """
            #!/bin/bash
            echo "$*" >> '\(calls)'
            case $1 in
                keygen) echo 'c3R1YnN0dWJzdHVic3R1YnN0dWJzdHVic3R1YnN0dWI=' ;;
                run) echo '{"event":"summary","rounds":1,"test_accuracy":0.5,"epsilon":null,"bytes_sent":0,"bytes_received":0,"cpu_seconds":0,"reason":"reached --rounds"}' ;;
            esac

            """)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        return (binary, calls)
    }

    /// demo.sh installs what is missing before it starts: run it only where nothing is.
    static let demoNeedsNoInstall = ["libsodium-dev", "pkg-config", "dataset-fashion-mnist"].allSatisfy { package in
        (try? ProcessRunner.run("/usr/bin/dpkg-query", ["-W", "-f=${Status}", package]))?.stdout.contains("install ok installed") == true
    }

    /// demo.sh always used run-local.sh's port 7101 and runs/local, so a second demo (or one beside
    /// another local network) collided with the first; it takes both from DEMO_PORT and DEMO_DIR,
    /// or -p and -d before the node options, which win over the environment.
    @Test(.enabled(if: demoNeedsNoInstall, "demo.sh would install packages"))
    func demoTakesItsPortAndDirectory() throws {
        let dir = try TemporaryDirectory("demo-script"); defer { dir.cleanup() }
        let (binary, calls) = try Self.stub(in: dir)
        func ports(_ runDirectory: String) throws -> [String] {
            try String(contentsOfFile: runDirectory + "/peers.txt", encoding: .utf8).split(separator: "\n")
                .filter { !$0.hasPrefix("#") }.map { String($0.split(separator: " ", omittingEmptySubsequences: true)[1]) }
        }
        func runs() throws -> [String] {
            let lines = try String(contentsOfFile: calls, encoding: .utf8).split(separator: "\n").map(String.init)
            try FileManager.default.removeItem(atPath: calls)
            return lines.filter { $0.hasPrefix("run ") }
        }

        let fromEnvironment = dir.file("from-environment")
        let first = try Self.run("demo.sh", ["-b", binary, "--rounds", "1"],
                                 environment: ["DEMO_PORT": "7930", "DEMO_DIR": fromEnvironment], in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try ports(fromEnvironment) == ["127.0.0.1:7930", "127.0.0.1:7931", "127.0.0.1:7932", "127.0.0.1:7933"])
        let firstRuns = try runs()
        #expect(firstRuns.count == 4)
        for line in firstRuns {
            #expect(line.contains("--peers \(fromEnvironment)/peers.txt") && line.contains("--rounds 1") && line.contains("--group-size 4"), "\(line)")
            #expect(!line.contains("--rounds 30") && !line.contains("--rounds 15"), "\(line)")
        }

        let fromOptions = dir.file("from-options")
        let second = try Self.run("demo.sh", ["-p", "7940", "-d", fromOptions, "-b", binary, "--", "--rounds", "2"],
                                  environment: ["DEMO_PORT": "7930", "DEMO_DIR": fromEnvironment], in: dir)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try ports(fromOptions) == ["127.0.0.1:7940", "127.0.0.1:7941", "127.0.0.1:7942", "127.0.0.1:7943"])
        for line in try runs() {
            #expect(line.contains("--state \(fromOptions)/state/node") && line.contains("--rounds 2"), "\(line)")
        }
    }

    /// A port that is no port is refused, naming where it came from, before anything is installed or built.
    @Test func demoRefusesABadPort() throws {
        let dir = try TemporaryDirectory("demo-script"); defer { dir.cleanup() }
        // The stand-in keeps a script without these checks from building and starting anything real.
        let (binary, _) = try Self.stub(in: dir)
        let cases: [([String], [String: String], String)] = [
            (["-b", binary], ["DEMO_PORT": "abc"], "error: DEMO_PORT 'abc': expected a port from 1 to 65532 (the 4 nodes use it to port+3)\n"),
            (["-b", binary, "-p", "65533"], [:], "error: -p '65533': expected a port from 1 to 65532 (the 4 nodes use it to port+3)\n"),
        ]
        for (arguments, environment, message) in cases {
            let result = try Self.run("demo.sh", arguments, environment: environment.merging(["DEMO_DIR": dir.file("run")]) { $1 }, in: dir)
            #expect(result.status == 2)
            #expect(result.stderr == message, "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.file("run")))
        }
        let help = try Self.run("demo.sh", ["-h"], in: dir)
        #expect(help.status == 0 && help.stdout.contains("Usage: scripts/demo.sh [-p BASE_PORT] [-d RUN_DIR]"), "\(help.stdout)")
    }

    /// The kill-dp, stop and partition scenarios are timed in seconds from round 4: with -r 15 the
    /// disturbed nodes had no rounds left to end clean, and stop and partition failed "healed".
    /// Too few rounds for them is refused before anything is built or started; -h still exits 0.
    @Test func faultTestRefusesTooFewRounds() throws {
        let dir = try TemporaryDirectory("fault-script"); defer { dir.cleanup() }
        // Ports, directory and a binary that fails at once keep a script without the check harmless.
        let safe = ["-p", "7960", "-o", "20", "-d", dir.file("run"), "-b", "/bin/false"]
        let few = try Self.run("fault-test.sh", safe + ["-r", "15", "loss", "stop", "partition"], in: dir)
        #expect(few.status == 2)
        #expect(few.stderr == "error: -r 15: scenarios stop and partition need at least 25 rounds (their faults last seconds, and the nodes must catch up "
                + "and end on clean rounds); give -r 25 or more, or run only baseline, baseline-dp, loss and dup-reorder\n", "\(few.stderr)")
        let all = try Self.run("fault-test.sh", safe + ["-r", "24"], in: dir)
        #expect(all.status == 2 && all.stderr.hasPrefix("error: -r 24: scenarios kill-dp, stop and partition need at least 25 rounds"), "\(all.stderr)")
        let notANumber = try Self.run("fault-test.sh", safe + ["-r", "many", "loss"], in: dir)
        #expect(notANumber.status == 2 && notANumber.stderr == "error: -r 'many': expected a number of rounds, at least 1\n", "\(notANumber.stderr)")
        // The other numbers too, before anything starts (they reached the nodes and the proxy).
        for (arguments, message) in [(["-n", "2"], "error: -n '2': expected a number of nodes from 4 to 64\n"),
                                     (["-k", "x"], "error: -k 'x': expected a group size from 3 to 64\n"),
                                     (["-n", "4", "-p", "65533"], "error: -p '65533': expected a base port from 1 to 65532 (the 4 nodes use it to port+3)\n"),
                                     (["-t", "lots"], "error: -t 'lots': expected accuracy points (a number, e.g. 2.5)\n")] {
            let bad = try Self.run("fault-test.sh", safe + arguments + ["loss"], in: dir)
            #expect(bad.status == 2 && bad.stderr == message, "\(arguments): \(bad.stderr)")
        }
        // Every scenario's name is checked before any runs: an option after the names was run as
        // far as that name, then refused.
        let late = try Self.run("fault-test.sh", safe + ["-r", "30", "loss", "-h"], in: dir)
        #expect(late.status == 2 && late.stderr.hasPrefix("error: unknown scenario '-h' (options go before the scenarios' names)\n"), "\(late.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("run")))

        let help = try Self.run("fault-test.sh", ["-h"], in: dir)
        #expect(help.status == 0 && help.stdout.contains("Usage: scripts/fault-test.sh"), "\(help.stdout)")
    }

    /// run-local.sh checks its own options before it builds or starts anything: a trailing option
    /// with no value died on "unbound variable", and a node count or port that is none reached
    /// make-peers and the nodes.
    @Test func runLocalRefusesBadOptions() throws {
        let dir = try TemporaryDirectory("run-local-script"); defer { dir.cleanup() }
        let (binary, calls) = try Self.stub(in: dir)
        let safe = ["-d", dir.file("run"), "-b", binary]
        let cases: [([String], String)] = [
            (safe + ["-p"], "error: -p needs a value (see -h)\n"),
            (safe + ["-n", "x"], "error: -n 'x': expected a number of nodes from 1 to 1000\n"),
            (safe + ["-n", "0"], "error: -n '0': expected a number of nodes from 1 to 1000\n"),
            (safe + ["-n", "3", "-p", "65534"], "error: -p '65534': expected a port from 1 to 65533 (the 3 nodes use it to port+2)\n"),
        ]
        for (arguments, message) in cases {
            let result = try Self.run("run-local.sh", arguments, in: dir)
            #expect(result.status == 2 && result.stderr == message, "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("run")) && !FileManager.default.fileExists(atPath: calls))
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Learning
import Privacy
import Testing
import TestKit
@testable import GossipnodeCLI
@testable import Node
import Transport

@Suite struct KeysAndRunTests {
    /// The committed Fashion-MNIST subset, for runs that must load data.
    static let subset = "fashion-mnist:" + ProcessRunner.packageRoot.appendingPathComponent("data/fashion-mnist-subset").path

    /// Writes `n` keys and a matching peers file into `dir` with the real commands.
    /// `gossipnode run` as node n1 of the network `makeNetwork` wrote into `dir`.
    func runN1(_ dir: TemporaryDirectory, peers: String, _ extra: [String]) -> (code: Int32, stdout: String, stderr: String) {
        runTool(["run", "--peers", peers, "--id", "n1", "--key", dir.file("keys/n1.key")] + extra)
    }

    /// n keys and a peers file on 127.0.0.1: ports 7201... (fixed, for tests that only check
    /// configurations and name them), or `ports` (free ones, for tests that run nodes).
    /// A 3-node network in `dir` and node n1's state directory, created empty.
    func networkWithEmptyState(_ dir: TemporaryDirectory) throws -> (peers: String, state: String) {
        let peers = try makeNetwork(dir, n: 3)
        let state = dir.file("state/n1")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        return (peers, state)
    }

    func makeNetwork(_ dir: TemporaryDirectory, n: Int, ports: [Int]? = nil) throws -> String {
        var lines = ["# test network"]
        for i in 1...n {
            let result = runTool(["keygen", "--out", dir.file("keys/n\(i).key")])
            #expect(result.code == 0)
            let port = ports?[i - 1] ?? 7200 + i
            lines.append("n\(i) 127.0.0.1:\(port) \(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return try dir.write("peers.txt", lines.joined(separator: "\n") + "\n")
    }

    @Test func keygenWritesAPrivateFileAndPubkeyPrintsTheSameKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.file("keys/a.key")
        let made = runTool(["keygen", "--out", path])
        #expect(made.code == 0)
        #expect(made.stdout.count == 45) // 44 base64 characters and a newline
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(runTool(["pubkey", "--key", path]).stdout == made.stdout)

        let again = runTool(["keygen", "--out", path])
        #expect(again.code == 2)
        #expect(again.stderr.contains("--force"))
        #expect(runTool(["pubkey", "--key", path]).stdout == made.stdout) // untouched
        let forced = runTool(["keygen", "--out", path, "--force"])
        #expect(forced.code == 0)
        #expect(forced.stdout != made.stdout)
    }

    /// keygen --force once replaced a device node (here a FIFO) with a key file; a dangling
    /// symlink said only "File exists".
    @Test func keygenNeverReplacesASpecialFileOrSymlink() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let fifo = dir.file("fifo"), dangling = dir.file("dangling.key")
        #expect(mkfifo(fifo, 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: dir.file("nowhere"))
        for (path, what) in [(fifo, "is a FIFO"), (dangling, "is a symbolic link")] {
            for force in [[], ["--force"]] {
                let result = runTool(["keygen", "--out", path] + force)
                #expect(result.code == 2 && result.stdout.isEmpty)
                #expect(result.stderr.contains("\(path): \(what), not a regular file; refusing to replace it"), "\(result.stderr)")
            }
        }
        #expect(FileKind.of(fifo, followingSymlink: false) == S_IFIFO)
        #expect(FileKind.of(dangling, followingSymlink: false) == S_IFLNK)
        #expect(!FileManager.default.fileExists(atPath: dir.file("nowhere")))
    }

    @Test func runValidatesItsConfigurationAndShorthandMeansRun() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let ok = runTool(["run", "--peers", peers, "--id", "n2", "--key", dir.file("keys/n2.key"), "--dry-run"])
        #expect(ok.code == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("node n2"))
        let shorthand = runTool(["--peers", peers, "--id", "n2", "--key", dir.file("keys/n2.key"), "--dry-run"])
        #expect(shorthand.code == 0)
        #expect(shorthand.stdout == ok.stdout)

        let wrongKey = runTool(["run", "--peers", peers, "--id", "n2", "--key", dir.file("keys/n1.key"), "--dry-run"])
        #expect(wrongKey.code == 2)
        #expect(wrongKey.stderr.contains("does not match the public key of 'n2'"))

        let unknownID = runTool(["run", "--peers", peers, "--id", "n9", "--key", dir.file("keys/n1.key"), "--dry-run"])
        #expect(unknownID.code == 2)
        #expect(unknownID.stderr.contains("no peer named 'n9'"))

        let badThreshold = runTool(["run", "--peers", peers, "--id", "n1", "--key", dir.file("keys/n1.key"),
                                    "--group-size", "3", "--threshold", "4", "--dry-run"])
        #expect(badThreshold.code == 2)
        let badRounds = runTool(["run", "--peers", peers, "--id", "n1", "--key", dir.file("keys/n1.key"), "--rounds", "zero", "--dry-run"])
        #expect(badRounds.code == 2)
        #expect(badRounds.stderr.contains("invalid value 'zero' for '--rounds <n>'"))
        // Datagram size: large when every peer is on loopback, internet-safe otherwise, --mtu wins.
        #expect(ok.stdout.contains("datagrams of up to 61440 bytes"), "\(ok.stdout)")
        let given = runTool(["run", "--peers", peers, "--id", "n2", "--key", dir.file("keys/n2.key"), "--mtu", "1400", "--dry-run"])
        #expect(given.code == 0 && given.stdout.contains("datagrams of up to 1400 bytes"), "\(given.stdout)")
        let remote = try String(contentsOfFile: peers, encoding: .utf8).replacingOccurrences(of: "127.0.0.1:7203", with: "192.0.2.7:7203")
        let mixed = try dir.write("mixed.txt", remote)
        let internet = runTool(["run", "--peers", mixed, "--id", "n2", "--key", dir.file("keys/n2.key"), "--dry-run"])
        #expect(internet.code == 0 && internet.stdout.contains("datagrams of up to 1232 bytes"), "\(internet.stdout)")
        // run used to accept --standardize and ignore it.
        let standardize = runTool(["run", "--peers", peers, "--id", "n1", "--key", dir.file("keys/n1.key"), "--standardize", "--dry-run"])
        #expect(standardize.code == 2)
        #expect(standardize.stderr.contains("unknown option '--standardize'"))
    }

    /// `run` shares `train`'s data flags: a shard count beyond the training examples is refused
    /// before any allocation sized by it (it used to crash with SIGSEGV).
    @Test func runRefusesMoreShardsThanExamples() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let result = runN1(dir, peers: peers, ["--state", dir.file("state"),
                              "--data", Self.subset, "--rounds", "1", "--shard", "1/5000"])
        #expect(result.code == 2, "\(result.stderr)")
        #expect(result.stderr.contains("--shard 1/5000: 5000 shards but only 2000 training examples"), "\(result.stderr)")
    }

    /// `run --help` gave --shard train's default of 1/1; a node without --shard trains on its own
    /// shard, I/N by its position in the peers file.
    @Test func runsHelpGivesTheShardItReallyDefaultsTo() throws {
        let help = RunCommand.command.help.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let saysOwnShard = help.contains("(default: I/N, I being this node's position among the N peers)")
        let saysWhole = help.contains("(default: 1/1)")
        #expect(saysOwnShard && !saysWhole)
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        func shard(_ extra: [String]) throws -> Shard {
            let (args, _) = try ArgumentParser.parse(["--peers", peers, "--id", "n2", "--key", dir.file("keys/n2.key")] + extra,
                                                     options: RunCommand.command.options)
            return try RunConfiguration(args, warn: { _ in }).training.shard
        }
        #expect(try shard([]) == Shard(index: 1, count: 3))
        #expect(try shard(["--shard", "1/1"]) == Shard(index: 0, count: 1))
    }

    /// The warning about a join timeout below the failure detector's verdict came only at the real
    /// start, so the dry run meant to check the flags passed it silently.
    @Test func aDryRunWarnsOfAShortJoinTimeout() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let warning = "[warning] --join-timeout 3.0 s is shorter than the failure detector's verdict on a crashed peer (5.0 s)"
        let short = runN1(dir, peers: peers, ["--state", dir.file("state"), "--data", Self.subset, "--join-timeout", "3", "--dry-run"])
        #expect(short.code == 0 && short.stderr.contains(warning), "\(short.stderr)")
        let usual = runN1(dir, peers: peers, ["--state", dir.file("state"), "--data", Self.subset, "--dry-run"])
        #expect(usual.code == 0 && !usual.stderr.contains("--join-timeout"), "\(usual.stderr)")
    }

    /// A peer's host name that does not resolve (a typo, or a peer not up yet) was reported only
    /// once the socket was open, so a dry run passed it without a word.
    @Test func aDryRunWarnsOfAPeerWhoseNameDoesNotResolve() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let text = try String(contentsOfFile: try makeNetwork(dir, n: 3), encoding: .utf8)
        let peers = try dir.write("unresolved.txt", text.replacingOccurrences(of: "127.0.0.1:7203", with: "no-such-host.invalid:7203"))
        let result = runN1(dir, peers: peers, ["--state", dir.file("state"), "--data", Self.subset, "--dry-run"])
        #expect(result.code == 0, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("[warning] peer n3: ") && result.stderr.contains("no-such-host.invalid")
                && result.stderr.hasSuffix("; it is reached once a datagram from it arrives\n"), "\(result.stderr)")
    }

    /// A damaged checkpoint (a torn copy, a truncated disk) stops `run` with an error naming the
    /// file, never a silent restart from scratch that would forget the spent privacy (SPEC §11).
    @Test func aDamagedCheckpointStopsRunWithItsPath() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let state = dir.file("state/n1")
        let rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 2, maxRounds: 50))
        let checkpoint = NodeCheckpoint(round: 7, convergence: rule, model: [1, 2, 3])
        try CheckpointStore(stateDirectory: state).save(checkpoint)
        let bytes = try checkpoint.serialized()
        for damaged in [Array(bytes.prefix(bytes.count - 3)), [], bytes.map { $0 ^ 0x20 }] {
            try Data(damaged).write(to: URL(fileURLWithPath: state + "/checkpoint"))
            let result = runN1(dir, peers: peers, ["--state", state,
                                  "--data", Self.subset, "--rounds", "1"])
            #expect(result.code == 2, "\(result.stderr)")  // bad input, like a malformed peers file
            #expect(result.stderr.contains("checkpoint \(state)/checkpoint is "), "\(result.stderr)")
        }
    }

    /// Saves a checkpoint of round 7 of a fresh model under the defaults of `run` for three peers
    /// (tolerance 0.002, patience 3) and `rounds`.
    static func saveRound7(state: String, spec: ModelSpec = .logisticRegression, inputs: Int = 784, rounds: UInt64 = 50,
                           trainedWithoutPrivacy: Bool? = nil, owner: String? = nil) throws {
        var rng = SeededGenerator(seed: 1)
        let model = ModelCheckpoint(model: Model(spec: spec, inputCount: inputs, classCount: 10, rng: &rng))
        let margin = GroupSchedule.mixingMargin(peers: 3, groupSize: 5)
        let rule = ConvergenceRule(settings: .init(tolerance: 0.002, patience: 3, mixingMargin: margin, maxRounds: rounds))
        try CheckpointStore(stateDirectory: state).save(NodeCheckpoint(round: 7, convergence: rule, model: model.serialized(),
                                                                      trainedWithoutPrivacy: trainedWithoutPrivacy, owner: owner))
    }

    /// The public key (base64) of peer `name` in a peers file `makeNetwork` wrote.
    static func publicKey(of name: String, in peers: String) throws -> String {
        let line = try String(contentsOfFile: peers, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return String(line?.split(separator: " ").last ?? "")
    }

    /// A checkpoint resumes only on the node that wrote it: a state directory copied from node n2
    /// made n1 resume n2's model and report n2's spent privacy as its own (SPEC §11).
    @Test func aCheckpointOfAnotherNodeIsNotResumed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let state = dir.file("state/n1")
        try Self.saveRound7(state: state, owner: try Self.publicKey(of: "n2", in: peers))
        // The dry run and the start share the check (`RunConfiguration.prepare`).
        let copied = runN1(dir, peers: peers, ["--state", state, "--data", Self.subset, "--model", "logreg", "--dry-run"])
        #expect(copied.code == 2 && copied.stderr.contains("written by node 'n2', not by 'n1'"), "\(copied.stderr)")
        for owner in [try Self.publicKey(of: "n1", in: peers), nil] {
            try Self.saveRound7(state: state, owner: owner)
            let own = runN1(dir, peers: peers, ["--state", state, "--data", Self.subset, "--model", "logreg", "--dry-run"])
            #expect(own.code == 0 && own.stdout.contains("would resume after round 7"), "\(own.stderr)")
        }
    }

    /// A checkpoint resumes only the run that wrote it: the model, the data's shape and the stop
    /// rule must match (a mismatched model once read past its buffers; changed flags were ignored
    /// while the header showed them). A dry run says what it would resume.
    @Test func aCheckpointResumesOnlyTheRunThatWroteIt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let state = dir.file("state/n1")
        func save(_ spec: ModelSpec, inputs: Int, rounds: UInt64) throws {
            try Self.saveRound7(state: state, spec: spec, inputs: inputs, rounds: rounds)
        }
        func run(_ extra: [String], model: String = "logreg") -> (code: Int32, stdout: String, stderr: String) {
            runN1(dir, peers: peers, ["--state", state,
                     "--data", Self.subset, "--model", model] + extra)
        }
        try save(.logisticRegression, inputs: 784, rounds: 50)
        let ok = run(["--dry-run"])
        #expect(ok.code == 0 && ok.stdout.contains("would resume after round 7"), "\(ok.stdout) \(ok.stderr)")
        let json = run(["--dry-run", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["event"] as? String == "dry_run" && object?["would_resume_after_round"] as? Int == 7, "\(json.stdout)")
        let otherRounds = run(["--dry-run", "--rounds", "80"])
        #expect(otherRounds.code == 2 && otherRounds.stderr.contains("written with --rounds 50 (now 80)"), "\(otherRounds.stderr)")
        let otherModel = run(["--dry-run"], model: "mlp:16")
        #expect(otherModel.code == 2 && otherModel.stderr.contains("holds a logreg model, but --model is mlp:16"), "\(otherModel.stderr)")
        try save(.logisticRegression, inputs: 3, rounds: 50)
        for mode in [["--dry-run"], ["--rounds", "50"]] {
            let otherData = run(mode)
            #expect(otherData.code == 2 && otherData.stderr.contains("its model takes 3 features and 10 classes; \(Self.subset) has 784 and 10"),
                    "\(otherData.stderr)")
        }
    }

    /// `run --dp` resumes a checkpoint only if the privacy ledger accounts for all its model
    /// learned. A state trained without --dp and restarted with it once reported only the ε of
    /// the steps after the restart; so did a DP state whose ledger was deleted (SPEC §11).
    @Test func runWithDPRefusesACheckpointItsLedgerDoesNotAccountFor() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let state = dir.file("state/n1")
        func save(withoutPrivacy: Bool?) throws { try Self.saveRound7(state: state, trainedWithoutPrivacy: withoutPrivacy) }
        func run(_ extra: [String]) -> (code: Int32, stdout: String, stderr: String) {
            runN1(dir, peers: peers, ["--state", state, "--data", Self.subset, "--model", "logreg", "--dry-run"] + extra)
        }
        let dp = ["--dp", "--noise-multiplier", "1.1"]
        try save(withoutPrivacy: true)
        let plain = run(dp)
        #expect(plain.code == 2 && plain.stderr.contains("trained without --dp in earlier rounds"), "\(plain.stderr)")
        #expect(run([]).code == 0)  // without --dp nothing is claimed
        for flag in [false, nil] as [Bool?] {
            try save(withoutPrivacy: flag)
            let lost = run(dp)
            #expect(lost.code == 2 && lost.stderr.contains("ledger is missing"), "\(lost.stderr)")
        }
        var ledger = PrivacyLedger()
        try ledger.record(samplingRate: 0.01, noiseMultiplier: 1.1, steps: 70)
        _ = try LedgerStore(stateDirectory: state).save(ledger, delta: 1e-5)
        for flag in [false, nil] as [Bool?] {
            try save(withoutPrivacy: flag)
            let ok = run(dp)
            #expect(ok.code == 0 && ok.stdout.contains("would resume after round 7"), "\(ok.stdout) \(ok.stderr)")
        }
        try save(withoutPrivacy: true)
        #expect(run(dp).code == 2)  // a ledger of later rounds does not cover the earlier ones
    }

    /// A run without `--dp` killed after its first round's masked input left, before any checkpoint,
    /// leaves only its `joined` record; a restart with `--dp` once started over at ε 0 although
    /// that input (and the group average holding it) came from training without DP-SGD.
    @Test func runWithDPRefusesAStateThatJoinedARoundWithoutIt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let (peers, state) = try networkWithEmptyState(dir)
        func run(_ extra: [String]) -> (code: Int32, stdout: String, stderr: String) {
            runN1(dir, peers: peers, ["--state", state, "--data", Self.subset, "--model", "logreg", "--dry-run"] + extra)
        }
        let dp = ["--dp", "--noise-multiplier", "1.1"]
        let network = try PeersFile.load(path: peers).networkID.bytes
        try JoinedRoundStore(stateDirectory: state, trainsWithoutPrivacy: true).save(1, network: network)
        let refused = run(dp)
        #expect(refused.code == 2 && refused.stderr.contains("joined round 1 with a model trained without --dp"), "\(refused.stderr)")
        #expect(run([]).code == 0)  // without --dp nothing is claimed
        try JoinedRoundStore(stateDirectory: state, trainsWithoutPrivacy: false).save(1, network: network)
        let fine = run(dp)
        #expect(fine.code == 0, "\(fine.stderr)")
        // Another network's record says nothing about this one.
        try JoinedRoundStore(stateDirectory: state, trainsWithoutPrivacy: true).save(1, network: [UInt8](repeating: 7, count: 32))
        #expect(run(dp).code == 0)
    }

    /// The state directory's `session` and `joined` records are checked before anything starts,
    /// by a dry run as by the start itself: a dry run once passed a state whose records made the
    /// start fail. A `joined` round beyond --rounds is no record of this run (a node holding it
    /// once trained alone to --rounds, every round failing "joined round R, the last"), and a
    /// record far too large for one is refused without reading it. So is a corrupt privacy ledger.
    @Test func theStateRecordsAreCheckedByADryRunAsAtTheStart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let (peers, state) = try networkWithEmptyState(dir)
        func run(_ extra: [String]) -> (code: Int32, stdout: String, stderr: String) {
            runN1(dir, peers: peers, ["--state", state, "--data", Self.subset, "--model", "logreg", "--rounds", "5"] + extra)
        }
        #expect(run(["--dry-run"]).code == 0)
        let network = JoinedRoundStore.hex(try PeersFile.load(path: peers).networkID.bytes)
        let bad: [(file: String, text: String, says: String)] = [
            ("session", "garbage\n", "not a session number"),
            ("joined", "garbage\n", "not a network id and a round number"),
            ("joined", "\(network) 6\n", "this node joined round 6 of this network, beyond --rounds 5"),
        ]
        for (file, text, says) in bad {
            let path = try dir.write("state/n1/" + file, text)
            let dry = run(["--dry-run"])
            #expect(dry.code == 2 && dry.stderr.contains("\(file): \(says)"), "\(file): \(dry.stderr)")
            try FileManager.default.removeItem(atPath: path)
        }
        // The ledger too (read whether or not --dp is given, like the start; a dry run once passed it).
        let ledger = try dir.write("state/n1/ledger", "garbage\n")
        for dp in [[], ["--dp", "--noise-multiplier", "1.1"]] {
            let dry = run(["--dry-run"] + dp)
            #expect(dry.code == 2 && dry.stderr.contains("privacy ledger \(ledger) is corrupt"), "\(dry.stderr)")
        }
        try FileManager.default.removeItem(atPath: ledger)
        // A huge record (here sparse, 3 GB) is refused unread: it once took minutes and 6 GB of memory.
        for file in ["session", "joined"] {
            let path = try dir.write("state/n1/" + file, "")
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: 3 << 30)
            try handle.close()
            let dry = run(["--dry-run"])
            #expect(dry.code == 2 && dry.stderr.contains("\(file): unreadable (3221225472 bytes, more than the 4096 expected)"),
                    "\(file): \(dry.stderr)")
            try FileManager.default.removeItem(atPath: path)
        }
        _ = try dir.write("state/n1/joined", "\(network) 5\n")  // the last round: the node resumes, and skips it
        #expect(run(["--dry-run"]).code == 0)
        _ = try dir.write("state/n1/joined", "\(network) 6\n")
        let started = run([])
        #expect(started.code == 2 && started.stderr.contains("beyond --rounds 5"), "\(started.stderr)")
    }

    /// --state must be a directory that can be written; a dry run checks the data and the state
    /// directory too, without creating anything.
    @Test func stateAndDataAreCheckedBeforeAnythingRuns() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        func run(_ extra: [String]) -> (code: Int32, stdout: String, stderr: String) {
            runN1(dir, peers: peers, ["--model", "logreg"] + extra)
        }
        let empty = run(["--state", "", "--data", Self.subset, "--dry-run"])
        #expect(empty.code == 2 && empty.stderr.contains("invalid value '' for '--state <dir>'"), "\(empty.stderr)")
        let file = try dir.write("not-a-dir", "x")
        for mode in [["--dry-run"], ["--rounds", "1"]] {
            let result = run(["--state", file, "--data", Self.subset] + mode)
            #expect(result.code == 2 && result.stderr.contains("--state \(file): is a file, not a directory"), "\(result.stderr)")
            let below = run(["--state", file + "/n1", "--data", Self.subset] + mode)
            #expect(below.code == 2 && below.stderr.contains(file), "\(below.stderr)")
        }
        let fresh = dir.file("fresh/n1")
        #expect(run(["--state", fresh, "--data", Self.subset, "--dry-run"]).code == 0)
        #expect(!FileManager.default.fileExists(atPath: fresh), "a dry run creates nothing")
        let noData = run(["--state", fresh, "--data", "fashion-mnist:" + dir.file("nowhere"), "--dry-run"])
        #expect(noData.code == 2 && noData.stderr.contains(dir.file("nowhere")), "\(noData.stderr)")
    }

    /// A node alone (its peers never start) fails every round; it must not report "reached
    /// --rounds" and exit 0 as if it had trained with the network.
    @Test func aNodeWhoseEveryRoundFailedExitsWithAFailure() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3, ports: try freeUDPPorts(3).map(Int.init))
        let result = runN1(dir, peers: peers, ["--state", dir.file("state"),
                              "--data", Self.subset, "--model", "logreg", "--rounds", "2", "--local-steps", "5",
                              "--join-timeout", "1", "--phase-timeout", "0.5", "--json"])
        #expect(result.code == 1, "\(result.stderr)")
        #expect(result.stdout.contains("\"reason\":\"failed: no round aggregated: all 2 failed"), "\(result.stdout)")
        // Its checkpoints name it (a copy of this state on another node is refused).
        let saved = try CheckpointStore(stateDirectory: dir.file("state")).load()
        #expect(saved?.owner == (try Self.publicKey(of: "n1", in: peers)))
        // Each failed round names the peers it went without, in the log and the JSON line.
        #expect(result.stderr.contains("took part in the advertising phase; 3 needed (without n2, n3)"),
                "\(result.stderr)")
        #expect(result.stdout.contains("\"dropouts\":[\"n2\",\"n3\"]"), "\(result.stdout)")
    }

    /// Values that could only make every step NaN are refused up front.
    @Test func flagsThatOverflowTrainingAreRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let peers = try makeNetwork(dir, n: 3)
        let cases: [([String], String)] = [
            (["--clip-norm", "1e308"], "invalid value '1e308' for '--clip-norm <c>'"),
            (["--dp", "--noise-multiplier", "1e308"], "invalid value '1e308' for '--noise-multiplier <sigma>'"),
            (["--dp", "--noise-multiplier", "1e-300"], "invalid value '1e-300' for '--noise-multiplier <sigma>'"),
            (["--input-noise", "gaussian:1e308"], "gaussian:1e308"),
            (["--lr-schedule", "step:1:1e308"], "0 < FACTOR ≤ 1"),
            // A budget no noise multiplier reaches: the dry run calibrates σ as the run would.
            (["--dp", "--target-epsilon", "1e-6"], "no noise multiplier up to 10000.0 reaches epsilon 1e-06"),
        ]
        for (flags, message) in cases {
            let result = runN1(dir, peers: peers, ["--dry-run"] + flags)
            #expect(result.code == 2 && result.stderr.contains(message), "\(flags): \(result.stderr)")
        }
    }

    /// Peers are resolved as the transport will before anything starts, so `--dry-run` catches
    /// what used to fail only live: two spellings of one address (the second node could not bind,
    /// the others never completed a round) and a peer of a family --listen cannot reach (every
    /// send warned, every round timed out).
    @Test func peersAtOneAddressOrUnreachableFromListenAreRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let good = try String(contentsOfFile: try makeNetwork(dir, n: 3), encoding: .utf8)
        for spelling in ["localhost:7201", "[::ffff:127.0.0.1]:7201"] {
            let path = try dir.write("same.txt", good.replacingOccurrences(of: "127.0.0.1:7203", with: spelling))
            let result = runN1(dir, peers: path, ["--dry-run"])
            #expect(result.code == 2 && result.stdout.isEmpty)
            #expect(result.stderr.contains("\(path): peers 'n1' (127.0.0.1:7201) and 'n3' (\(spelling)) are both at 127.0.0.1:7201"),
                    "\(result.stderr)")
        }
        let ipv6 = try dir.write("ipv6.txt", good.replacingOccurrences(of: "127.0.0.1:7203", with: "[::1]:7203"))
        let unreachable = runN1(dir, peers: ipv6, ["--dry-run"])
        #expect(unreachable.code == 2 && unreachable.stdout.isEmpty)
        #expect(unreachable.stderr.contains("\(ipv6): peer 'n3' cannot be reached from --listen 127.0.0.1:7201: [::1]:7203 is IPv6"),
                "\(unreachable.stderr)")
        let reverse = runN1(dir, peers: try dir.write("v4.txt", good), ["--listen", "[::1]:7201", "--dry-run"])
        #expect(reverse.code == 2 && reverse.stderr.contains("peer 'n2' cannot be reached from --listen [::1]:7201"), "\(reverse.stderr)")
        // A dual-stack socket on [::] reaches both families.
        let dual = runN1(dir, peers: ipv6, ["--listen", "[::]:7201", "--dry-run"])
        #expect(dual.code == 0, "\(dual.stderr)")
    }

    /// Every malformed peers file yields exit code 2 and a message naming the file and line.
    @Test func malformedPeersFilesExitWithCode2AndTheLineNumber() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let good = try String(contentsOfFile: try makeNetwork(dir, n: 2), encoding: .utf8)
        let lines = good.split(separator: "\n").map(String.init)
        let key1 = lines[1].split(separator: " ")[2]
        let variants: [(String, Int)] = [
            (lines[0] + "\n" + lines[1] + "\n" + lines[1], 3),                         // duplicate name
            (lines[0] + "\n" + lines[1] + "\nn2 127.0.0.1:7201 " + key1, 3),            // duplicate address
            (lines[0] + "\n" + lines[1] + "\nn2 127.0.0.1:9 " + key1, 3),               // duplicate key
            (lines[0] + "\n" + lines[1] + "\nn2 127.0.0.1:99999 " + key1, 3),           // bad port
            (lines[0] + "\n\n" + "n1 127.0.0.1:7201 AAAA", 3),                          // bad key
            (lines[0] + "\nn1 127.0.0.1:7201", 2),                                      // missing field
            (good + "n3 127.0.0.1:9 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 4),     // low-order key (run used to start)
        ]
        for (i, (text, line)) in variants.enumerated() {
            let path = try dir.write("bad\(i).txt", text + "\n")
            let result = runTool(["run", "--peers", path, "--id", "n1", "--key", dir.file("keys/n1.key"), "--dry-run"])
            #expect(result.code == 2)
            #expect(result.stderr.hasPrefix("error: \(path):\(line): "), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func theRealBinaryExitsWithTheDocumentedCodes() throws {
        let binary = ProcessRunner.gossipnode
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("gossipnode binary not built at \(binary); run swift build --build-tests")
            return
        }
        #expect(try ProcessRunner.run(binary, ["--version"]).status == 0)
        let bad = try ProcessRunner.run(binary, ["keygen", "--nope"])
        #expect(bad.status == 2)
        #expect(bad.stderr.hasPrefix("error: unknown option '--nope'"))
        let missing = try ProcessRunner.run(binary, ["pubkey", "--key", "/nonexistent/key"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/key"))
    }
}

/// The run's summary line in both forms: why it stopped, what it cost (wall and CPU seconds).
@Suite struct RunSummaryTests {
    @Test func summaryLinesCarryTheCPUTime() throws {
        let summary = NodeRunner.Summary(reason: .roundLimit, rounds: 12, testAccuracy: 0.8512, epsilon: nil,
                                         bytesSent: 1000, bytesReceived: 2000, seconds: 4.25, cpuSeconds: 7.5, transport: TransportMetrics())
        let text = RunConfiguration.summaryText(summary, node: "alice")
        #expect(text.hasPrefix("alice stopped: ") && text.contains("after round 12") && text.contains("test-acc 85.12%"))
        #expect(text.hasSuffix("in 4.2 s (7.5 s of CPU)") || text.hasSuffix("in 4.3 s (7.5 s of CPU)"), "\(text)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(RunConfiguration.summaryJSON(summary, node: "alice").utf8)) as? [String: Any])
        #expect(json["cpu_seconds"] as? Double == 7.5 && json["seconds"] as? Double == 4.25 && json["rounds"] as? Int == 12)
        #expect(json["datagrams_dropped"] as? Int == 0 && json["epsilon"] is NSNull)
    }
}

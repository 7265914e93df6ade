import Foundation
@testable import GossipnodeCLI
import CKernels
import Learning
@testable import Node
import Testing
import TestKit
import Transport

/// The built binary when its surroundings fail: output nobody reads, closed streams, too few file
/// descriptors, a full disk. Output is a report; the work (a saved model, a checkpoint, the
/// network's rounds) must not depend on it, and no condition may crash the process.
@Suite struct StreamsAndResourcesTests {
    static let data = "fashion-mnist:" + DataSource.committedSubsetDirectory()

    /// How a process ended, as a shell would say it.
    struct Ending: Equatable, CustomStringConvertible {
        var signal: Int32?
        var status: Int32
        var description: String { signal.map { "killed by signal \($0)" } ?? "exit \(status)" }
    }

    /// Runs the binary with its standard output a pipe whose reading end is already closed (what
    /// `| head -1` becomes once head has its line); standard error goes to `stderr`.
    static func runWithReaderGone(_ arguments: [String], stderr: String) throws -> Ending {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessRunner.gossipnode)
        process.arguments = arguments
        let pipe = Pipe()
        try pipe.fileHandleForReading.close()
        process.standardOutput = pipe
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        try process.run()
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal ? Ending(signal: process.terminationStatus, status: 0)
                                                            : Ending(signal: nil, status: process.terminationStatus)
    }

    /// Runs the binary through bash with `redirections` applied (e.g. `>&-`), returning how it
    /// ended (bash's `$?`: 128 + N for signal N) and its captured streams.
    static func runRedirected(_ redirections: String, _ arguments: [String]) throws -> ProcessRunner.Result {
        try ProcessRunner.run("/bin/bash", ["-c", "\"$0\" \"$@\" \(redirections)", ProcessRunner.gossipnode] + arguments)
    }

    @Test func trainWhoseOutputNobodyReadsStillSavesItsModel() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let model = dir.file("model.bin")
        let ending = try Self.runWithReaderGone(["train", "--data", Self.data, "--model", "logreg", "--epochs", "1",
                                                 "--threads", "1", "--save", model], stderr: dir.file("err"))
        #expect(ending == Ending(signal: nil, status: 0), "\((try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? "")")
        #expect(FileManager.default.fileExists(atPath: model))
    }

    /// A reader that stops reading but keeps the pipe open (a paused `| less`): once the pipe
    /// is full the process used to block on its next line for as long as the reader slept (for a
    /// node: its run loop, so it stopped answering its peers). Lines that find no room within a
    /// second are dropped and the work goes on. The pipe is shrunk to two pages (poll counts a pipe
    /// with every page in use as full, so about one page is written) so that `train`'s 120
    /// per-epoch lines (~13 KB) fill it.
    @Test func outputToAStalledReaderIsDroppedInsteadOfBlocking() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let model = dir.file("model.bin")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessRunner.gossipnode)
        process.arguments = ["train", "--data", Self.data, "--model", "logreg", "--epochs", "120", "--threads", "1", "--save", model]
        let pipe = Pipe()
        let setPipeSize: Int32 = 1031 // F_SETPIPE_SZ
        #expect(fcntl(pipe.fileHandleForWriting.fileDescriptor, setPipeSize, 8192) == 8192)
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        let finished = !process.isRunning
        // SIGKILL: a process blocked in a write may have SIGTERM blocked in that thread.
        if !finished { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try #require(finished, "train blocked on its output")
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: model))
        let read = pipe.fileHandleForReading.availableData
        #expect(read.count > 4_000 && read.count <= 8_192, "\(read.count) bytes")
        try pipe.fileHandleForReading.close()
    }

    /// A node run with its standard output closed: the descriptor must not be reused for the
    /// socket or a state file (the next line would go there). Without peers it fails its only
    /// round and says so (exit 1), with its checkpoint written.
    @Test func aNodeWithItsStandardOutputClosedRunsToTheEnd() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let result = try Self.runRedirected(">&-", Self.loneNode(dir, peers: try Self.peers(in: dir)))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("round 1 failed"))
        #expect(!result.stderr.contains("Fatal error"))
        #expect(FileManager.default.fileExists(atPath: dir.file("state/checkpoint")))
    }

    /// A network of three peers in `dir` (keys and peers file), none of them running.
    static func peers(in dir: TemporaryDirectory, firstPort: Int? = nil) throws -> String {
        var lines: [String] = []
        let free = try freeUDPPorts(3)
        for i in 1...3 {
            let made = try ProcessRunner.run(ProcessRunner.gossipnode, ["keygen", "--out", dir.file("n\(i).key")])
            let port = i == 1 && firstPort != nil ? firstPort! : Int(free[i - 1])
            lines.append("n\(i) 127.0.0.1:\(port) \(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return try dir.write("peers.txt", lines.joined(separator: "\n") + "\n")
    }

    /// Node n1 of `peers` alone (it fails its rounds: nobody else runs).
    static func loneNode(_ dir: TemporaryDirectory, peers: String, state: String? = nil, rounds: Int = 1, steps: Int = 2,
                         joinTimeout: Int = 1) -> [String] {
        ["run", "--peers", peers, "--id", "n1", "--key", dir.file("n1.key"), "--state", state ?? dir.file("state"),
         "--data", data, "--model", "logreg", "--threads", "1", "--local-steps", "\(steps)", "--rounds", "\(rounds)",
         "--phase-timeout", "1", "--join-timeout", "\(joinTimeout)"]
    }

    /// A node none of whose peers runs (they stopped, or never came up) stops once the failure
    /// detector has held them all dead for --alone-timeout, exit 1 saying why: it held each of its
    /// 50 rounds for the 60 s join timeout (50 minutes) before.
    @Test func aNodeWhosePeersAreAllGoneStopsAfterTheAloneTimeout() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let peers = try Self.peers(in: dir)
        let started = Date()
        let result = try ProcessRunner.run(ProcessRunner.gossipnode,
                                           Self.loneNode(dir, peers: peers, rounds: 50, joinTimeout: 60) + ["--alone-timeout", "1"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.contains("too few peers have been alive for any group to aggregate for 1.0 s"), "\(result.stdout)")
        #expect(Date().timeIntervalSince(started) < 55, "took \(Date().timeIntervalSince(started)) s")
    }

    /// Too few file descriptors made libdispatch abort the node (SIGILL) once it ran. A soft limit
    /// is raised; a hard limit too low is refused before anything starts, saying what to change.
    @Test func aNodeUnderALowOpenFileLimitRaisesItOrRefusesToStart() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let peers = try Self.peers(in: dir)
        let refused = try ProcessRunner.run("/bin/bash", ["-c", "ulimit -n 6; exec \"$0\" \"$@\"", ProcessRunner.gossipnode]
                                            + Self.loneNode(dir, peers: peers))
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("open-file limit (ulimit -n) is 6"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("state")))
        let raised = try ProcessRunner.run("/bin/bash", ["-c", "ulimit -Sn 6; exec \"$0\" \"$@\"", ProcessRunner.gossipnode]
                                           + Self.loneNode(dir, peers: peers))
        #expect(raised.status == 1, "\(raised.stderr)")
        #expect(raised.stderr.contains("round 1 failed"))
        #expect(FileManager.default.fileExists(atPath: dir.file("state/checkpoint")))
    }

    @Test func closedStandardStreamsAreNoCrash() throws {
        let privacy = try Self.runRedirected(">&-", ["privacy", "--sampling-rate", "0.01", "--noise-multiplier", "1.1",
                                                   "--steps", "100", "--delta", "1e-5"])
        #expect(privacy.status == 0, "\(privacy.stderr)")
        let usage = try Self.runRedirected("2>&-", ["train", "--epochs", "zero"])
        #expect(usage.status == 2)
    }

    /// A small tmpfs mounted in `dir` and filled, so that
    /// writing any file there fails with ENOSPC. Nil where it cannot be mounted (not root).
    final class FullFileSystem {
        let path: String
        /// `before` writes what the file system holds before it is filled.
        init?(in dir: TemporaryDirectory, before: (String) throws -> Void = { _ in }) throws {
            path = dir.file("full")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            guard getuid() == 0,
                  try ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", path]).status == 0 else { return nil }
            try before(path)
            _ = try ProcessRunner.run("/bin/dd", ["if=/dev/zero", "of=\(path)/fill", "bs=4k"])
        }
        deinit { _ = try? ProcessRunner.run("/bin/umount", [path]) }
    }

    /// The model could not be written after training (a full disk): a runtime failure, exit 1,
    /// not the configuration error (exit 2, "nothing was started") it was reported as.
    @Test func trainThatCannotSaveAfterTrainingFailsWithCode1() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        guard let full = try FullFileSystem(in: dir) else { return }
        let model = full.path + "/model.bin"
        let result = try ProcessRunner.run(ProcessRunner.gossipnode, ["train", "--data", Self.data, "--model", "logreg",
                                                                      "--epochs", "1", "--threads", "1", "--save", model])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("\(model): cannot write (No space left on device)"), "\(result.stderr)")
        #expect(result.stdout.contains("epoch 1/1"))
    }

    /// The last round's checkpoint could not be written (a full disk): the node reported the round
    /// anyway and, its stop reason "reached --rounds" replacing the failure, exited 0, though a
    /// restart would redo that round. It must fail (exit 1) naming the file, report only the
    /// rounds it kept, and leave the previous checkpoint intact.
    @Test func aNodeWhoseLastCheckpointCannotBeWrittenFailsAndKeepsThePreviousOne() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let peers = try Self.peers(in: dir)
        var state = ""
        guard let full = try FullFileSystem(in: dir, before: { path in
            state = path + "/state"
            var rng = SeededGenerator(seed: 1)
            let model = ModelCheckpoint(model: Model(spec: .logisticRegression, inputCount: 784, classCount: 10, rng: &rng))
            let rule = ConvergenceRule(settings: .init(tolerance: 0.002, patience: 3,
                                                       mixingMargin: GroupSchedule.mixingMargin(peers: 3, groupSize: 5), maxRounds: 2))
            try CheckpointStore(stateDirectory: state).save(NodeCheckpoint(round: 1, convergence: rule, model: model.serialized()))
        }) else { return }
        _ = full
        let result = try ProcessRunner.run(ProcessRunner.gossipnode, Self.loneNode(dir, peers: peers, state: state, rounds: 2))
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("cannot save the round's state: cannot write \(state)/checkpoint"), "\(result.stderr)")
        #expect(result.stdout.contains("resuming after round 1"))
        #expect(!result.stdout.contains("n1 round 2"), "\(result.stdout)")
        #expect(result.stdout.contains("after round 1;"), "\(result.stdout)")
        #expect(try CheckpointStore(stateDirectory: state).load()?.round == 1)
    }

    /// A port another process holds is a configuration error (exit 2), and that code promises
    /// nothing was started: the state directory, created before the socket is bound, used to stay.
    /// A dry run says so too (it used to report the node ready).
    @Test func aPortInUseLeavesNoStateBehind() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let peers = try Self.peers(in: dir, firstPort: Int(UInt16(bigEndian: address.sin_port)))
        for dryRun in [true, false] {
            let result = try ProcessRunner.run(ProcessRunner.gossipnode, Self.loneNode(dir, peers: peers) + (dryRun ? ["--dry-run"] : []))
            #expect(result.status == 2, "\(result.stderr)")
            #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(UInt16(bigEndian: address.sin_port)): bind failed: Address already in use"))
            #expect(!FileManager.default.fileExists(atPath: dir.file("state")))
        }
        // A state directory that existed stays, without the lock file this start made.
        try FileManager.default.createDirectory(atPath: dir.file("state"), withIntermediateDirectories: false)
        #expect(try ProcessRunner.run(ProcessRunner.gossipnode, Self.loneNode(dir, peers: peers)).status == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("state")) == [])
    }

    /// The transport session (the first half of every nonce) must grow across restarts even when
    /// the wall clock stepped back: a restart below the last session had every peer drop the
    /// node's datagrams as stale until the clock caught up, and an equal one would repeat nonces.
    /// `run` keeps the last session in the state directory and starts above it (SPEC §3.3).
    @Test func aRestartTakesASessionAboveTheLastOneWhateverTheClock() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let state = dir.file("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        #expect(try SessionFloor.next(stateDirectory: state, wallClock: 500) == 500)
        try SessionFloor.record(900, stateDirectory: state)
        #expect(try SessionFloor.next(stateDirectory: state, wallClock: 500) == 901)  // the clock stepped back
        #expect(try SessionFloor.next(stateDirectory: state, wallClock: 5_000) == 5_000)
        let mode = try FileManager.default.attributesOfItem(atPath: SessionFloor.path(stateDirectory: state))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        _ = try dir.write("state/session", "garbage\n")
        #expect(throws: ConfigurationError.self) { try SessionFloor.next(stateDirectory: state) }

        // A real start after the last session was recorded a day ahead of this clock.
        let peers = try Self.peers(in: dir)
        let ahead = UInt64(Date().timeIntervalSince1970 + 86_400) * 1_000_000_000
        _ = try dir.write("state/session", "\(ahead)\n")
        let result = try ProcessRunner.run(ProcessRunner.gossipnode, Self.loneNode(dir, peers: peers))
        #expect(result.status == 1, "\(result.stderr)")  // alone: no round aggregated
        let recorded = try String(contentsOfFile: dir.file("state/session"), encoding: .utf8)
        #expect(recorded == "\(ahead + 1)\n", "\(recorded)")
        // It recorded joining round 1 before advertising in it: a restart will not join it again.
        let joined = JoinedRoundStore(stateDirectory: state)
        let network = try PeersFile.load(path: peers).networkID.bytes
        // Trained without --dp: the record says so, and a restart with --dp is refused (KeysAndRunTests).
        #expect(try joined.load(network: network) == .init(round: 1, withoutPrivacy: true))
        #expect(try joined.load(network: [UInt8](repeating: 0, count: 32)) == .init(round: 0, withoutPrivacy: false))  // another network's rounds
        _ = try dir.write("state/joined", "x\n")
        #expect(throws: DataError.self) { try joined.load(network: network) }
    }

    /// A node holds its secret key, every round's mask secrets and its unmasked model in memory; a
    /// crash must not write them into a core file or hand them to a crash reporter. `run`, `keygen`
    /// and `pubkey` forbid core dumps before they read or make a key (RLIMIT_CORE 0, and on Linux
    /// not dumpable), whatever limit they were started with.
    @Test func commandsHoldingAKeyCannotDumpCore() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let peers = try Self.peers(in: dir)
        let script = """
            ulimit -c unlimited 2>/dev/null || ulimit -S -c "$(ulimit -H -c)"
            echo "shell $(ulimit -c)"
            "$0" "$@" > "$OUT" 2>&1 & pid=$!
            for _ in $(seq 600); do grep -q '"event":"start"' "$OUT" && break; sleep 0.05; done
            grep 'Max core file size' /proc/$pid/limits
            wait $pid
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script, ProcessRunner.gossipnode] + Self.loneNode(dir, peers: peers) + ["--json"]
        process.environment = ProcessInfo.processInfo.environment.merging(["OUT": dir.file("node.out")]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = text.split(separator: "\n").map(String.init)
        // Tests that ran `run` or `keygen` in this process already set its hard limit to 0, which
        // children inherit and cannot raise without privilege: then only the check below shows it.
        if lines.first != "shell 0" {
            let limit = lines.first { $0.hasPrefix("Max core file size") }?.split(separator: " ", omittingEmptySubsequences: true)
            #expect(limit.map { Array($0.suffix(3)) } == ["0", "0", "bytes"], "\(text)")
        }
        // In this process (nothing else here turns it off): keygen leaves it undumpable.
        _ = runTool(["keygen", "--out", dir.file("k.key")])
        #if os(Linux)
        #expect(ck_is_dumpable() == 0)
        #endif
        var limit = rlimit()
        #if os(Linux)
        let core = __rlimit_resource_t(RLIMIT_CORE.rawValue)
        #else
        let core = RLIMIT_CORE
        #endif
        #expect(getrlimit(core, &limit) == 0 && limit.rlim_cur == 0 && limit.rlim_max == 0)
    }

    /// With --keep-round-models, a round model that cannot be written stops the node, but the
    /// round's checkpoint was saved first: the round is kept, so it is reported and counted.
    @Test func aRoundModelThatCannotBeKeptStopsTheNodeAfterReportingItsSavedRound() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let peers = try Self.peers(in: dir)
        try FileManager.default.createDirectory(atPath: dir.file("state"), withIntermediateDirectories: true)
        _ = try dir.write("state/rounds", "")
        let result = try ProcessRunner.run(ProcessRunner.gossipnode, Self.loneNode(dir, peers: peers) + ["--keep-round-models"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("not writable (--keep-round-models)"), "\(result.stderr)")
        #expect(result.stdout.contains("n1 round 1"), "\(result.stdout)")
        #expect(result.stdout.contains("after round 1;"), "\(result.stdout)")
        #expect(try CheckpointStore(stateDirectory: dir.file("state")).load()?.round == 1)
    }

    /// Starts the binary with standard output and error going to files `out` and `err` in `dir`,
    /// and returns once its JSON start line is out (the node runs).
    static func startedNode(_ arguments: [String], in dir: TemporaryDirectory) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessRunner.gossipnode)
        process.arguments = arguments
        let out = dir.file("out"), err = dir.file("err")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("\"event\":\"start\"") {
            usleep(20_000)
        }
        return process
    }

    /// Sends `signal` to a node from `startedNode` after `delay` microseconds, waits for it to
    /// end, and returns what it wrote.
    static func signalled(_ process: Process, _ signal: Int32, after delay: useconds_t,
                          in dir: TemporaryDirectory) -> (stdout: String, stderr: String) {
        usleep(delay)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return ((try? String(contentsOfFile: dir.file("out"), encoding: .utf8)) ?? "",
                (try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? "")
    }

    /// A stop signal, or the hang-up of a closing terminal (which used to kill the node mid-round,
    /// exit 129, without a summary): the node finishes what it is doing, checkpoints and says why.
    @Test(arguments: [SIGTERM, SIGHUP])
    func aSignalStopsTheNodeCleanly(signal: Int32) throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let process = try Self.startedNode(Self.loneNode(dir, peers: try Self.peers(in: dir), rounds: 3, steps: 3000) + ["--json"],
                                           in: dir)
        let (stdout, stderr) = Self.signalled(process, signal, after: 200_000, in: dir)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(process.terminationStatus) \(stdout) \(stderr)")
        #expect(stdout.contains("\"reason\":\"stopped by signal\""), "\(stdout)")
    }

    /// A second process on a running node's state directory (another node, `privacy --record`)
    /// would overwrite its checkpoints or lose its ledger updates: refused, naming the holder; free
    /// again once the node has stopped, whatever way it stopped.
    @Test func aStateDirectoryInUseIsRefused() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let node = Self.loneNode(dir, peers: try Self.peers(in: dir), rounds: 3, steps: 3000)
        let process = try Self.startedNode(node + ["--json"], in: dir)
        let record = ["privacy", "--state", dir.file("state"), "--record", "--sampling-rate", "0.01",
                      "--noise-multiplier", "1", "--steps", "10"]
        let inUse = "in use by process \(process.processIdentifier)"
        for second in [node + ["--dry-run"], node, record] {
            let refused = try ProcessRunner.run(ProcessRunner.gossipnode, second)
            #expect(refused.status == 2 && refused.stderr.contains(inUse), "\(second): \(refused.stderr)")
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let recorded = try ProcessRunner.run(ProcessRunner.gossipnode, record)
        #expect(recorded.status == 0, "\(recorded.stderr)")
    }

    /// SIGTERM during a DP round whose ledger cannot be written (a full disk): the node stops after
    /// the training in progress, whose ledger save fails. That failure is the outcome (exit 1); the
    /// signal's stop used to replace it with "stopped by signal", exit 0.
    @Test func aStopSignalDoesNotHideALedgerThatCouldNotBeWritten() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let peers = try Self.peers(in: dir)
        guard let full = try FullFileSystem(in: dir, before: { path in
            try FileManager.default.createDirectory(atPath: path + "/state", withIntermediateDirectories: true)
        }) else { return }
        let process = try Self.startedNode(Self.loneNode(dir, peers: peers, state: full.path + "/state", steps: 2000)
                                           + ["--dp", "--noise-multiplier", "1", "--json"], in: dir)
        // Into the 2,000 local steps (seconds in a debug build).
        let (stdout, stderr) = Self.signalled(process, SIGTERM, after: 300_000, in: dir)
        #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(stdout) \(stderr)")
        #expect(stdout.contains("\"reason\":\"failed: training failed: cannot write \(full.path)/state/ledger"), "\(stdout)")
    }

    /// A node killed while it wrote its checkpoint or ledger leaves the temporary file behind, as
    /// large as the checkpoint; one per such kill used to stay forever. A node starting removes
    /// those of processes no longer running, and nothing else. So for `joined` (written every
    /// round) and `session`, whose temporaries were once left to pile up.
    @Test func aStartingNodeRemovesTheTemporaryFilesOfKilledWrites() throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let peers = try Self.peers(in: dir)
        var dead: Int32 = 4_000_000
        while kill(dead, 0) == 0 || errno != ESRCH { dead -= 1 }
        let stale = [".checkpoint.tmp-\(dead)-17", ".ledger.tmp-\(dead)-3", ".joined.tmp-\(dead)-9", ".session.tmp-\(dead)-4"]
        let kept = [".checkpoint.tmp-1-5", "notes.tmp-\(dead)-1"] // PID 1 is running; another file
        try FileManager.default.createDirectory(atPath: dir.file("state"), withIntermediateDirectories: true)
        for name in stale + kept { _ = try dir.write("state/" + name, String(repeating: "x", count: 1000)) }
        let dry = try ProcessRunner.run(ProcessRunner.gossipnode, Self.loneNode(dir, peers: peers) + ["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect((stale + kept).allSatisfy { FileManager.default.fileExists(atPath: dir.file("state/" + $0)) }) // a dry run changes nothing
        let result = try ProcessRunner.run(ProcessRunner.gossipnode, Self.loneNode(dir, peers: peers))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(stale.allSatisfy { !FileManager.default.fileExists(atPath: dir.file("state/" + $0)) })
        #expect(kept.allSatisfy { FileManager.default.fileExists(atPath: dir.file("state/" + $0)) })
    }
}

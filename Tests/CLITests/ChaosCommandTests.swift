import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import GossipnodeCLI
import Testing
import TestKit
import Transport

@Suite struct ChaosCommandTests {
    static func peers(ports: [Int]) throws -> (TemporaryDirectory, String, PeersFile) {
        let dir = try TemporaryDirectory("gossipnode-chaos")
        var random = seededRandom(3)
        let text = ports.enumerated().map { i, port in
            "node\(i + 1) 127.0.0.1:\(port) \(KeyPair.generate(using: &random).publicKey.base64)"
        }.joined(separator: "\n") + "\n"
        let path = try dir.write("peers.txt", text)
        return (dir, path, try PeersFile.parse(text, file: path))
    }

    @Test func partitionsNameSidesByPeerNameIndexOrRangeWithOptionalTimes() throws {
        let (dir, _, peers) = try Self.peers(ports: [7001, 7002, 7003, 7004])
        defer { dir.cleanup() }
        let timed = try ChaosCommand.parsePartition("node1,node2|2-3@5-12.5", peers: peers)
        #expect(timed.sides == [[0, 1], [2, 3]] && timed.from == 5 && timed.until == 12.5)
        let open = try ChaosCommand.parsePartition("0|node4@3-", peers: peers)
        #expect(open.sides == [[0], [3]] && open.from == 3 && open.until == nil)
        for bad in ["node1", "node1|node9", "0-4|1", "node1|node1", "0|1@5-5", "0|1@x-3", "0|1@2"] {
            #expect(throws: UsageError.self, "\(bad)") { try ChaosCommand.parsePartition(bad, peers: peers) }
        }
        // A partition without times is part of the base faults; with times it is a phase over them.
        let plan = try ChaosCommand.controlPlan("--loss 0.1 --partition 0-1|2-3@2-4 --delay 5:2", peers: peers)
        #expect(plan.base.drop == 0.1 && plan.base.delay == .milliseconds(5) && plan.base.jitter == .milliseconds(2))
        #expect(plan.settings(at: .seconds(3)).partition == [[0, 1], [2, 3]] && plan.settings(at: .seconds(3)).drop == 0.1)
        #expect(plan.settings(at: .seconds(5)).partition.isEmpty)
    }

    /// `A>B` cuts one way: A's datagrams never reach B, B's still reach A (A hears B, B never
    /// hears A), the asymmetric partition real routes produce and `|` cannot express.
    @Test func aOneWayCutDropsOnlyTheFirstSidesDatagrams() throws {
        let (dir, _, peers) = try Self.peers(ports: [7001, 7002, 7003, 7004])
        defer { dir.cleanup() }
        let cut = try ChaosCommand.parsePartition("0-1>node3", peers: peers)
        #expect(cut.sides == [[0, 1], [2]] && cut.oneWay)
        #expect(!(try ChaosCommand.parsePartition("0-1|2", peers: peers)).oneWay)
        #expect(throws: UsageError.self) { try ChaosCommand.parsePartition("0>1|2", peers: peers) }
        let plan = try ChaosCommand.controlPlan("--partition 0-1>2", peers: peers)
        var injector = FaultInjector(plan: plan, seed: 1)
        #expect(injector.apply([1], from: 0, to: 2, now: .zero).isEmpty)
        #expect(injector.apply([1], from: 1, to: 2, now: .zero).isEmpty)
        #expect(injector.apply([1], from: 2, to: 0, now: .zero).count == 1)
        #expect(injector.apply([1], from: 3, to: 0, now: .zero).count == 1 && injector.apply([1], from: 0, to: 3, now: .zero).count == 1)
        #expect(injector.counts.partitioned == 2)
        #expect(ChaosCommand.describe(plan, peers) == "one-way cut node1,node2>node3")
    }

    @Test func badFlagsAreUsageErrorsAndStartNothing() throws {
        let (dir, path, _) = try Self.peers(ports: [7001, 7002, 7003])
        defer { dir.cleanup() }
        let out = dir.file("proxied.txt")
        for (flags, message) in [(["--loss", "1.5"], "--loss"), (["--delay", "5:x"], "--delay"),
                                 (["--partition", "node1|nobody"], "nobody"), (["--port-offset", "70000"], "--port-offset")] {
            let result = runTool(["chaos", "--peers", path, "--proxied-peers", out] + flags)
            #expect(result.code == 2 && result.stderr.contains(message), "\(flags): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        // A stand-in at another peer's real address took that peer's port, whose node then failed
        // to bind; offset 0 took every node's own.
        for offset in ["1", "0"] {
            let taken = runTool(["chaos", "--peers", path, "--proxied-peers", out, "--port-offset", offset, "--duration", "0.1"])
            #expect(taken.code == 2 && taken.stderr.contains("node1: stand-in 127.0.0.1:700\(1 + Int(offset)!) (port offset \(offset)) is the real address of 'node\(1 + Int(offset)!)'"),
                    "\(taken.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        // Stand-ins on ::1 cannot send to IPv4 peers: refused before anything is written, where it
        // used to write a proxied peers file through which no datagram could ever be relayed.
        let unreachable = runTool(["chaos", "--peers", path, "--proxied-peers", out, "--bind", "[::1]", "--duration", "0.1"])
        #expect(unreachable.code == 2 && unreachable.stderr.contains("node1: cannot stand in at [::1]:8001 for 127.0.0.1:7001"),
                "\(unreachable.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// Times beyond one year, infinite or not numbers are refused by the one parser the flag and
    /// the control file share: exit 2 on the command line, a thrown error (a warning) in a running proxy.
    @Test func partitionTimesMustBeFiniteAndBounded() throws {
        let (dir, path, peers) = try Self.peers(ports: [7001, 7002])
        defer { dir.cleanup() }
        for times in ["inf-", "1e19-", "0-1e20", "1e308-", "0-inf", "nan-", "0-nan", "31536001-", "-1-2"] {
            let text = "0|1@\(times)"
            #expect(throws: UsageError("'\(times)' is not a time range FROM-UNTIL in seconds from 0 to 31536000 with FROM < UNTIL")) {
                try ChaosCommand.parsePartition(text, peers: peers)
            }
            #expect(throws: UsageError.self, "\(text)") { try ChaosCommand.controlPlan("--partition \(text)", peers: peers) }
            let result = runTool(["chaos", "--peers", path, "--proxied-peers", dir.file("proxied.txt"), "--partition", text])
            #expect(result.code == 2 && result.stderr.contains("for '--partition"), "\(text): \(result.stderr)")
        }
        let year = try ChaosCommand.parsePartition("0|1@0-31536000", peers: peers)
        #expect(year.from == 0 && year.until == 31_536_000)
        #expect(!FileManager.default.fileExists(atPath: dir.file("proxied.txt")))
    }

    /// --proxied-peers naming the real peers file, however spelt, or something that is not a
    /// regular file, is refused before anything is written.
    @Test func refusesToOverwriteThePeersFileOrASpecialFile() throws {
        let (dir, path, _) = try Self.peers(ports: [7001, 7002])
        defer { dir.cleanup() }
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let hardLink = dir.file("hard.txt"), symlink = dir.file("link.txt"), fifo = dir.file("fifo")
        try FileManager.default.linkItem(atPath: path, toPath: hardLink)
        try FileManager.default.createSymbolicLink(atPath: symlink, withDestinationPath: path)
        #expect(mkfifo(fifo, 0o600) == 0)
        let spellings = [path, dir.path + "/./peers.txt", hardLink, symlink]
        for out in spellings {
            let result = runTool(["chaos", "--peers", path, "--proxied-peers", out, "--duration", "0.1"])
            #expect(result.code == 2, "\(out): \(result.stderr)")
            #expect(result.stderr.contains("invalid value '\(out)' for '--proxied-peers <file>': is the --peers file itself"), "\(result.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
        #expect(FileKind.of(symlink, followingSymlink: false) == S_IFLNK)
        let result = runTool(["chaos", "--peers", path, "--proxied-peers", fifo, "--duration", "0.1"])
        #expect(result.code == 2 && result.stderr.contains("'--proxied-peers <file>': is a FIFO, not a regular file"), "\(result.stderr)")
        #expect(FileKind.of(fifo, followingSymlink: false) == S_IFIFO)
    }

    /// The control file is read only when it is a small regular file: a FIFO would block the
    /// proxy's loop on the read, a directory or a huge file is a wrong path. Each is reported once
    /// per change, and a regular file written later is read.
    @Test func theControlFileIsReadOnlyWhenItIsASmallRegularFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.file("control")
        var watcher = ControlFile(path: path)
        #expect(try watcher.changed() == nil)  // absent from the start: nothing to change
        #expect(mkfifo(path, 0o600) == 0)
        #expect(throws: ConfigurationError("is a FIFO, not a regular file; not read")) { try watcher.changed() }
        #expect(try watcher.changed() == nil, "reported once")
        unlink(path)
        #expect(mkdir(path, 0o700) == 0)
        #expect(throws: ConfigurationError("is a directory, not a regular file; not read")) { try watcher.changed() }
        rmdir(path)
        _ = try dir.write("control", String(repeating: "x", count: ControlFile.maximumSize + 1))
        #expect(throws: ConfigurationError.self) { try watcher.changed() }
        _ = try dir.write("control", "--loss 0.1\n")
        #expect(try watcher.changed() == "--loss 0.1")
    }

    @Test func writesTheProxiedPeersAndReportsCounters() throws {
        let ports = [Int](repeating: 0, count: 3).indices.map { 30_000 + Int.random(in: 0..<5_000) * 3 + $0 }
        let (dir, path, real) = try Self.peers(ports: ports)
        defer { dir.cleanup() }
        let out = dir.file("proxied.txt")
        let result = runTool(["chaos", "--peers", path, "--proxied-peers", out, "--port-offset", "3", "--loss", "0.3",
                              "--duration", "0.3", "--json"])
        #expect(result.code == 0, "\(result.stderr)")
        let proxied = try PeersFile.load(path: out)
        #expect(proxied.peers.map(\.name) == real.peers.map(\.name))
        #expect(proxied.peers.map(\.publicKey) == real.peers.map(\.publicKey))
        #expect(proxied.peers.map { Int($0.endpoint.port) } == ports.map { $0 + 3 })
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("\"event\":\"ready\"") == true && lines.first?.contains("loss 0.3") == true)
        #expect(lines.last?.hasPrefix("{\"event\":\"counters\"") == true && lines.last?.contains("\"received\":0") == true)
    }
}

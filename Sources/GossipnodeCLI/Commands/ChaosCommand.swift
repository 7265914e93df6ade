import Dispatch
import Foundation
import Node
import Privacy
import Transport

/// `gossipnode chaos`: a UDP proxy between real nodes on one host that drops, duplicates,
/// reorders, delays, corrupts and partitions their datagrams, seeded (see `ChaosProxy`).
enum ChaosCommand {
    static let command = Command(
        name: "chaos",
        abstract: "Relay real nodes' UDP traffic through a proxy that injects faults.",
        discussion: """
        Reads the real peers file and opens, for every peer, a stand-in socket on the peer's host
        at its port + --port-offset, then writes --proxied-peers: the same names and keys at the
        stand-in addresses. Start each node with the proxied file and --listen on its real
        address (its line in the real file); every datagram then passes the proxy, which
        forwards it from the sender's stand-in, so it still comes from the address the receiver
        expects for the sender. Faults are seeded (--seed) and counted. Fault times count in
        seconds from the proxy's start: --partition node1,node2|node3,node4@20-35 separates the
        two sides from second 20 to 35 (sides list names, or 0-based indices and ranges like 0-2;
        without @ the partition lasts the whole run). With --control FILE, the proxy watches FILE:
        while it holds fault options (same syntax, e.g. "--loss 0.3 --partition 0-1|2-3"), they
        replace the command line's faults; when it is empty or missing, the command line's
        faults apply again. Runs until SIGINT/SIGTERM/SIGHUP or --duration, then prints its counters
        (also every --report-every seconds with --json).
        """,
        options: [
            .value("peers", "file", help: "The real peers file.", default: "peers/list.txt"),
            .value("proxied-peers", "file", help: "Where to write the peers file with the proxy's stand-in addresses (not --peers; replaces only a regular file).",
                   required: true),
            .value("port-offset", "n", help: "A peer's stand-in listens at its real port plus this.", default: "1000"),
            .value("bind", "host", help: "Host of every stand-in (an IPv4 or [IPv6] literal).", derivedDefault: "each peer's own host"),
        ] + faultOptions + [
            .value("control", "file", help: "Fault options in this file, re-read when it changes, replace the command line's while it is non-empty."),
            .value("seed", "n", help: "Seed of the fault decisions.", default: "1"),
            .value("duration", "seconds", help: "Stop after this long."),
            .flag("json", help: "Write JSON lines: ready, fault changes, counters."),
            .value("report-every", "seconds", help: "With --json, print the counters this often.", default: "5"),
        ],
        run: { args, console in
            let peersPath = try args.required("peers")
            let peers = try PeersFile.load(path: peersPath)
            let out = try args.required("proxied-peers")
            if sameFile(out, peersPath) {
                throw args.invalid("proxied-peers", out, "is the --peers file itself, which must not be overwritten with the stand-in addresses")
            }
            if let refusal = FileKind.replacementRefusal(at: out) { throw args.invalid("proxied-peers", out, refusal) }
            let plan = try faultPlan(args, peers: peers)
            let offset = try args.int("port-offset", in: -65_534...65_534)!
            var bindHost: Endpoint.Host?
            if let text = args.string("bind") {
                do { bindHost = try Endpoint(parsing: text.contains(":") && !text.hasPrefix("[") ? "[\(text)]:1" : "\(text):1").host } catch {
                    throw args.invalid("bind", text, "\(error)")
                }
            }
            let seed = try args.int("seed", in: 0...Int.max)!
            let duration = try args.double("duration", in: 0.1...maxSeconds)
            let every = try args.double("report-every", in: 0.1...86_400)!
            let json = args.flag("json")
            let control = args.string("control")

            let proxy: ChaosProxy
            do {
                proxy = try ChaosProxy(realPeers: peers, standIns: try ChaosProxy.standIns(for: peers, portOffset: offset, bindHost: bindHost),
                                       faults: FaultInjector(plan: plan, seed: UInt64(seed)))
            } catch let error as ChaosProxyError {
                throw ConfigurationError("\(peersPath): \(error.message)")
            }
            try AtomicFile.write(Data(proxy.proxiedPeers.render().utf8), to: out)
            let ready = "\(peers.peers.count) stand-ins from port offset \(offset); proxied peers in \(out); faults: \(describe(plan, peers))"
            console.out(json ? "{\"event\":\"ready\",\"peers\":\(peers.peers.count),\"proxied_peers\":\(ReportText.jsonString(out)),"
                        + "\"faults\":\(ReportText.jsonString(describe(plan, peers)))}" : "chaos: " + ready)

            let stop = StopSignal()
            var watcher = control.map { ControlFile(path: $0) }
            var nextReport = every
            while !stop.requested {
                try proxy.pump(timeout: .milliseconds(50))
                let elapsed = proxy.elapsed().seconds
                if let limit = duration, elapsed >= limit { break }
                if var current = watcher {
                    do {
                        if let text = try current.changed() {
                            let updated = text.isEmpty ? plan : try controlPlan(text, peers: peers)
                            proxy.plan = updated
                            let what = text.isEmpty ? "command line's: " + describe(plan, peers) : describe(updated, peers)
                            console.out(json ? "{\"event\":\"faults\",\"elapsed\":\(ReportText.jsonFixed(elapsed, 3)),\"faults\":\(ReportText.jsonString(what))}"
                                        : String(format: "chaos: %.1f s: faults now %@", elapsed, what))
                        }
                    } catch {
                        console.err("warning: \(current.path): \(error); keeping the faults in force")
                    }
                    watcher = current
                }
                if json, elapsed >= nextReport {
                    console.out(countersJSON(proxy))
                    nextReport += every
                }
            }
            console.out(json ? countersJSON(proxy) : countersText(proxy))
            return ExitCode.success
        })

    /// The fault flags (shared by the command line and the control file).
    static let faultOptions: [OptionSpec] = FaultFlags.datagramOptions + [
        .value("partition", "sides[@from-until]", help: "Sides separated by '|' that cannot reach each other, from second FROM to UNTIL (UNTIL may be empty: to the end); sides separated by '>' instead cut one way: a side's datagrams do not reach the sides after it, theirs still reach it.",
               repeatable: true),
    ]

    static func faultPlan(_ args: ParsedArguments, peers: PeersFile) throws -> FaultPlan {
        var base = try FaultFlags.datagramFaults(args)
        var phases: [FaultPlan.Phase] = []
        for text in args.strings("partition") {
            let partition: (sides: [Set<Int>], oneWay: Bool, from: Double, until: Double?)
            do { partition = try parsePartition(text, peers: peers) } catch let problem as UsageError {
                throw args.invalid("partition", text, problem.message)
            }
            guard partition.from > 0 || partition.until != nil else {
                base.partition = partition.sides
                base.oneWay = partition.oneWay
                continue
            }
            var settings = base
            settings.partition = partition.sides
            settings.oneWay = partition.oneWay
            phases.append(FaultPlan.Phase(from: milliseconds(partition.from * 1000),
                                          until: partition.until.map { milliseconds($0 * 1000) } ?? .seconds(Int64.max / 4),
                                          settings: settings))
        }
        // Timed partitions keep the base faults; a base partition applies outside them.
        return FaultPlan(base, phases: phases)
    }

    /// A control file's text: the same fault options, whitespace-separated.
    static func controlPlan(_ text: String, peers: PeersFile) throws -> FaultPlan {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
        let (parsed, _) = try ArgumentParser.parse(words, options: faultOptions)
        return try faultPlan(parsed, peers: peers)
    }

    /// The longest --duration and the latest partition time: one year.
    static let maxSeconds = 31_536_000.0

    /// `SIDE|SIDE[|...][@FROM-UNTIL]`, or with `>` between the sides for a one-way cut; a side is a
    /// comma list of peer names, 0-based indices and ranges I-J.
    static func parsePartition(_ text: String, peers: PeersFile) throws -> (sides: [Set<Int>], oneWay: Bool, from: Double, until: Double?) {
        let halves = text.split(separator: "@", omittingEmptySubsequences: false)
        guard (1...2).contains(halves.count) else { throw UsageError("expected SIDES or SIDES@FROM-UNTIL") }
        var from = 0.0, until: Double? = nil
        if halves.count == 2 {
            // Bounded like --duration, so inf, nan or 1e20 never reach the Duration arithmetic.
            func seconds(_ text: Substring) -> Double? { Double(text).flatMap { (0...maxSeconds).contains($0) ? $0 : nil } }
            let ends = halves[1].split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count == 2, let start = seconds(ends[0]), ends[1].isEmpty || (seconds(ends[1]).map { $0 > start } ?? false) else {
                throw UsageError("'\(halves[1])' is not a time range FROM-UNTIL in seconds from 0 to \(Int(maxSeconds)) with FROM < UNTIL")
            }
            from = start
            until = ends[1].isEmpty ? nil : seconds(ends[1])
        }
        let oneWay = halves[0].contains(">")
        guard !(oneWay && halves[0].contains("|")) else { throw UsageError("separate the sides by '|' (both ways) or '>' (one way), not both") }
        var sides: [Set<Int>] = [], seen = Set<Int>()
        for sideText in halves[0].split(separator: oneWay ? ">" : "|", omittingEmptySubsequences: false) {
            var side = Set<Int>()
            for item in sideText.split(separator: ",", omittingEmptySubsequences: false) {
                let members: [Int]
                if let index = peers.index(of: String(item)) {
                    members = [index]
                } else {
                    let ends = item.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
                    guard (1...2).contains(ends.count), let low = ends[0], let high = ends[ends.count - 1],
                          0 <= low, low <= high, high < peers.peers.count else {
                        throw UsageError("'\(item)' is not a peer name, nor an index or range I-J below \(peers.peers.count)")
                    }
                    members = Array(low...high)
                }
                for member in members {
                    guard seen.insert(member).inserted else { throw UsageError("\(peers.peers[member].name) is on two sides") }
                    side.insert(member)
                }
            }
            sides.append(side)
        }
        guard sides.count >= 2 else { throw UsageError("a partition needs at least two sides separated by '|' or '>'") }
        return (sides, oneWay, from, until)
    }

    /// Whether two paths name one file, however spelt (symlinks, hard links): same device and inode.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat(), y = stat()
        return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    static func describe(_ plan: FaultPlan, _ peers: PeersFile) -> String {
        func settings(_ s: FaultSettings) -> String {
            var parts: [String] = []
            if s.drop > 0 { parts.append("loss \(s.drop)") }
            if s.duplicate > 0 { parts.append("duplicate \(s.duplicate)") }
            if s.reorder > 0 { parts.append("reorder \(s.reorder) by \(s.reorderDelay)") }
            if s.delay > .zero || s.jitter > .zero { parts.append("delay \(s.delay) + jitter \(s.jitter)") }
            if s.corrupt > 0 { parts.append("corrupt \(s.corrupt)") }
            if !s.partition.isEmpty {
                parts.append((s.oneWay ? "one-way cut " : "partition ")
                             + s.partition.map { $0.sorted().map { peers.peers[$0].name }.joined(separator: ",") }.joined(separator: s.oneWay ? ">" : "|"))
            }
            return parts.isEmpty ? "none" : parts.joined(separator: ", ")
        }
        var text = settings(plan.base)
        for phase in plan.phases {
            text += String(format: "; from %.1f s", phase.from.seconds)
            if phase.until < .seconds(Int64.max / 8) { text += String(format: " to %.1f s", phase.until.seconds) }
            text += ": " + settings(phase.settings)
        }
        return text
    }

    static func countersJSON(_ proxy: ChaosProxy) -> String {
        let c = proxy.counters, f = proxy.faultCounts
        let fields: [(String, Int)] = [
            ("received", c.received), ("bytes_received", c.bytesReceived), ("forwarded", c.forwarded),
            ("bytes_forwarded", c.bytesForwarded), ("dropped", f.dropped), ("partitioned", f.partitioned),
            ("duplicated", f.duplicated), ("reordered", f.reordered), ("corrupted", f.corrupted), ("delayed", c.delayed),
            ("unknown_source", c.unknownSource), ("send_errors", c.sendErrors), ("receive_errors", c.receiveErrors),
        ]
        return "{\"event\":\"counters\",\"elapsed\":\(ReportText.jsonFixed(proxy.elapsed().seconds, 3)),"
            + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func countersText(_ proxy: ChaosProxy) -> String {
        let c = proxy.counters, f = proxy.faultCounts
        return String(format: "chaos: %.1f s: ", proxy.elapsed().seconds)
            + "received \(c.received), forwarded \(c.forwarded) (\(c.delayed) delayed); dropped \(f.dropped), "
            + "partitioned \(f.partitioned), duplicated \(f.duplicated), reordered \(f.reordered), corrupted \(f.corrupted); "
            + "unknown source \(c.unknownSource), send errors \(c.sendErrors), receive errors \(c.receiveErrors)"
    }

    static func milliseconds(_ value: Double) -> Duration { .microseconds(Int64((value * 1000).rounded())) }
}

/// A file re-read whenever its modification time or size changes; a missing file reads as empty.
struct ControlFile {
    let path: String
    private var lastSeen: [Int]? = nil

    init(path: String) { self.path = path }

    /// The most a control file may hold: a few fault options, not a log file by mistake.
    static let maximumSize = 64 * 1024

    /// The file's text if it changed since the last call (the first call reports any content).
    /// Throws, once per change, for what must not be read: a FIFO would block the proxy's loop,
    /// a directory or a huge file is a wrong path.
    mutating func changed() throws -> String? {
        var info = stat()
        let exists = stat(path, &info) == 0
        let stamp = exists ? [Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec), Int(info.st_size), Int(info.st_ino)] : []
        if lastSeen == nil && !exists { lastSeen = [] }
        guard stamp != lastSeen else { return nil }
        lastSeen = stamp
        guard exists else { return "" }
        if let kind = FileKind.notRegular(info.st_mode) { throw ConfigurationError("\(kind); not read") }
        guard Int(info.st_size) <= Self.maximumSize else {
            throw ConfigurationError("\(info.st_size) bytes, more than a control file's \(Self.maximumSize); not read")
        }
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Set by SIGINT, SIGTERM or SIGHUP (a closing terminal), so the counters are still printed.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.lock.withLock { self?.flag = true } }
            source.resume()
            sources.append(source)
        }
    }

    deinit { sources.forEach { $0.cancel() } }

    var requested: Bool { lock.withLock { flag } }
}

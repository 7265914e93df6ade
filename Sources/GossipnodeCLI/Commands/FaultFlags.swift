import Simulation
import Transport

/// The fault-injection flags of `simulate`, parsed and checked against the node count.
struct FaultFlags {
    /// Per-datagram faults, shared with `gossipnode chaos`.
    static let datagramOptions: [OptionSpec] = [
        .value("loss", "p", help: "Probability that a datagram is lost.", default: "0"),
        .value("duplicate", "p", help: "Probability that a datagram arrives twice.", default: "0"),
        .value("reorder", "p", help: "Probability that a datagram is held back by --reorder-delay so later ones overtake it.", default: "0"),
        .value("reorder-delay", "ms", help: "How long a reordered datagram is held back.", default: "10"),
        .value("delay", "ms[:jitter]", help: "Extra one-way delay of every datagram in milliseconds, plus a uniform random part up to JITTER.",
               default: "0"),
        .value("corrupt", "p", help: "Probability that one bit of a datagram is flipped (the receiver must reject it).", default: "0"),
    ]

    /// Reads the per-datagram fault flags.
    static func datagramFaults(_ args: ParsedArguments) throws -> FaultSettings {
        var base = FaultSettings()
        base.drop = try args.double("loss", in: 0...0.99)!
        base.duplicate = try args.double("duplicate", in: 0...1)!
        base.reorder = try args.double("reorder", in: 0...1)!
        base.reorderDelay = .microseconds(Int64((try args.double("reorder-delay", in: 0...60_000)! * 1000).rounded()))
        base.corrupt = try args.double("corrupt", in: 0...1)!
        let delayText = args.string("delay")!
        guard let delay = parseDelay(delayText) else {
            throw args.invalid("delay", delayText, "expected MS or MS:JITTER, milliseconds from 0 to 60000")
        }
        (base.delay, base.jitter) = delay
        return base
    }

    static let options: [OptionSpec] = datagramOptions + [
        .value("crash", "node@round[:restart]", help: "Node NODE (0-based index or name) dies as it starts ROUND (or the first round it starts after it, if it skips ROUND catching up) and, if RESTART is given, restarts from its last checkpoint when the first node starts round RESTART (or at once if every node is down then, or RESTART has passed). ROUND and RESTART may not exceed --rounds.",
               repeatable: true),
        .value("crash-rate", "p", help: "Probability that a node crashes as it starts any round but the last two (it restarts two rounds later, or at once if every node is down then).", default: "0"),
        .value("partition", "a|b@from-to", help: "Split the nodes into sides that cannot reach each other while the first node is in rounds FROM to TO; sides are lists of indices and ranges, e.g. 0-3|4-7@5-8 (nodes on no side reach everyone); repeatable for rounds that do not overlap.",
               repeatable: true),
    ]

    let plan: FaultPlan
    let crashes: [Int: (crash: UInt64, restart: UInt64?)]
    let crashRate: Double
    let partitions: [Simulator.RoundPartition]

    /// `rounds`: --rounds; a crash or restart scheduled after it could never happen.
    init(_ args: ParsedArguments, nodes: Int, rounds: UInt64) throws {
        plan = FaultPlan(try Self.datagramFaults(args))
        crashRate = try args.double("crash-rate", in: 0...0.5)!
        var crashes: [Int: (crash: UInt64, restart: UInt64?)] = [:]
        for text in args.strings("crash") {
            guard let crash = Self.parseCrash(text, nodes: nodes) else {
                throw args.invalid("crash", text, "expected NODE@ROUND or NODE@ROUND:RESTART with NODE below \(nodes), "
                                   + "ROUND at least 1 and RESTART after ROUND")
            }
            // A restart that cannot come would leave the node down and the run failed for a typo.
            if let late = [crash.round, crash.restart].compactMap({ $0 }).first(where: { $0 > rounds }) {
                throw args.invalid("crash", text, "round \(late) is after --rounds \(rounds): it would never come")
            }
            guard crashes[crash.node] == nil else { throw args.invalid("crash", text, "node \(crash.node) already crashes") }
            crashes[crash.node] = (crash.round, crash.restart)
        }
        self.crashes = crashes
        var partitions: [Simulator.RoundPartition] = []
        for text in args.strings("partition") {
            let partition: Simulator.RoundPartition
            do { partition = try Self.parsePartition(text, nodes: nodes) } catch {
                throw args.invalid("partition", text, error.message)
            }
            // One cut at a time: with overlapping rounds only one would apply, silently.
            if let other = partitions.first(where: { $0.rounds.overlaps(partition.rounds) }) {
                throw args.invalid("partition", text, "its rounds overlap those of another --partition "
                                   + "(rounds \(other.rounds.lowerBound)-\(other.rounds.upperBound)); one partition at a time")
            }
            partitions.append(partition)
        }
        self.partitions = partitions
    }

    /// `MS` or `MS:JITTER`.
    static func parseDelay(_ text: String) -> (Duration, Duration)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return nil }
        let values = parts.compactMap { Double($0) }
        guard values.count == parts.count, values.allSatisfy({ $0.isFinite && (0...60_000).contains($0) }) else { return nil }
        func duration(_ ms: Double) -> Duration { .microseconds(Int64((ms * 1000).rounded())) }
        return (duration(values[0]), duration(values.count > 1 ? values[1] : 0))
    }

    /// `NODE@ROUND[:RESTART]`, NODE an index or a simulated node's name (`node7`).
    static func parseCrash(_ text: String, nodes: Int) -> (node: Int, round: UInt64, restart: UInt64?)? {
        let halves = text.split(separator: "@", omittingEmptySubsequences: false)
        guard halves.count == 2, let node = parseNode(halves[0], nodes: nodes) else { return nil }
        let rounds = halves[1].split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(rounds.count), let round = UInt64(rounds[0]), round >= 1 else { return nil }
        guard rounds.count == 2 else { return (node, round, nil) }
        guard let restart = UInt64(rounds[1]), restart > round else { return nil }
        return (node, round, restart)
    }

    struct PartitionProblem: Error { let message: String }

    /// `SIDE|SIDE[|SIDE...]@FROM-TO` (or `@ROUND`), each SIDE a comma list of indices and `I-J` ranges.
    static func parsePartition(_ text: String, nodes: Int) throws(PartitionProblem) -> Simulator.RoundPartition {
        let halves = text.split(separator: "@", omittingEmptySubsequences: false)
        guard halves.count == 2 else { throw PartitionProblem(message: "expected SIDES@FROM-TO, e.g. 0-3|4-7@5-8") }
        guard let rounds = parseRange(halves[1]), rounds.lowerBound >= 1 else {
            throw PartitionProblem(message: "'\(halves[1])' is not a round range FROM-TO with 1 <= FROM <= TO")
        }
        var sides: [Set<Int>] = []
        var seen = Set<Int>()
        for sideText in halves[0].split(separator: "|", omittingEmptySubsequences: false) {
            var side = Set<Int>()
            for item in sideText.split(separator: ",", omittingEmptySubsequences: false) {
                guard let range = parseRange(item), range.upperBound < UInt64(nodes) else {
                    throw PartitionProblem(message: "'\(item)' is not a node index or range I-J below \(nodes)")
                }
                for node in range.map({ Int($0) }) {
                    guard seen.insert(node).inserted else { throw PartitionProblem(message: "node \(node) is on two sides") }
                    side.insert(node)
                }
            }
            sides.append(side)
        }
        guard sides.count >= 2 else { throw PartitionProblem(message: "a partition needs at least two sides separated by '|'") }
        return Simulator.RoundPartition(sides: sides, rounds: rounds)
    }

    /// `I` or `I-J` with I <= J.
    private static func parseRange(_ text: Substring) -> ClosedRange<UInt64>? {
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(ends.count), let low = UInt64(ends[0]), let high = UInt64(ends[ends.count - 1]), low <= high else {
            return nil
        }
        return low...high
    }

    private static func parseNode(_ text: Substring, nodes: Int) -> Int? {
        let digits = text.hasPrefix("node") ? text.dropFirst(4) : text
        guard let node = Int(digits), (0..<nodes).contains(node) else { return nil }
        return node
    }

    /// How the faults read in a header line ("none" when there are none).
    var description: String {
        var parts: [String] = []
        let base = plan.base
        if base.drop > 0 { parts.append("loss \(base.drop)") }
        if base.duplicate > 0 { parts.append("duplicate \(base.duplicate)") }
        if base.reorder > 0 { parts.append("reorder \(base.reorder)") }
        if base.corrupt > 0 { parts.append("corrupt \(base.corrupt)") }
        if base.delay > .zero || base.jitter > .zero { parts.append("delay \(base.delay)+\(base.jitter) jitter") }
        if !crashes.isEmpty { parts.append("\(crashes.count) scheduled crash" + (crashes.count == 1 ? "" : "es")) }
        if crashRate > 0 { parts.append("crash rate \(crashRate)") }
        for partition in partitions {
            parts.append("partition \(partition.sides.map { "\($0.count)" }.joined(separator: "|")) in rounds "
                         + "\(partition.rounds.lowerBound)-\(partition.rounds.upperBound)")
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

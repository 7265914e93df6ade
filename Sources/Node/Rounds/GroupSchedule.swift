import Crypto
import Foundation

/// Every round's groups, chosen so that news spreads to every peer within the mixing margin:
/// the property the coordinator-free stop rule rests on (SPEC.md §6, §10).
///
/// Round r uses the first candidate grouping (`GroupAssignment` attempt 0, 1, ...) with which the
/// M rounds ending at r mix completely: whatever any peer knew before round r − M + 1 reaches every
/// peer by the end of round r, one group hop per round. Random groupings alone miss that often for
/// some sizes (N = 64, K = 4: about nine windows in ten at the old margin ⌈log N / log K⌉ + 1), so
/// the stop rule could not count on it. The choice for round r depends on the choices before it,
/// so a schedule computes rounds in order and remembers them (one byte per round); every node
/// computes the same choices from public data. Shared by the machines of a simulation.
public final class GroupSchedule: @unchecked Sendable {
    public let networkID: [UInt8]
    public let publicKeys: [PublicKey]
    public let groupSize: Int
    /// M: every M consecutive rounds mix (unless no attempt does, which tests have seen only with a
    /// margin too short for the network: then the closest attempt is used).
    public let mixingMargin: Int
    /// Candidates tried per round (every attempt byte) before settling for the one that comes
    /// closest (fewest peers' news short of some peer), which leaves that window unmixed. At the margin `mixingMargin(peers:groupSize:)` gives, rounds need about
    /// 1.01 attempts on average, but a frontier can be hard: in a model of N = 169, K = 3 one
    /// window in 300 rounds needed attempt 92 (64 attempts, the first limit, left it unmixed).
    public static let maximumAttempts = 256

    private let lock = NSLock()
    /// `attempts[i]` is the attempt round i + 1 uses; rounds 1...attempts.count are decided.
    private var attempts: [UInt8] = []
    /// The assignments of the last M - 1 decided rounds, oldest first: the window's known part.
    private var frontier: [GroupAssignment] = []
    private var recent: [(round: UInt64, assignment: GroupAssignment)] = []
    private var unmixed = 0
    /// Rounds decided so far whose window did not mix with any attempt (diagnostics and tests).
    public var unmixedWindows: Int { lock.withLock { unmixed } }

    public init(networkID: [UInt8], publicKeys: [PublicKey], groupSize: Int, mixingMargin: Int) {
        precondition(groupSize >= 1 && !publicKeys.isEmpty && mixingMargin >= 1)
        self.networkID = networkID
        self.publicKeys = publicKeys
        self.groupSize = groupSize
        self.mixingMargin = mixingMargin
    }

    /// True when this schedule serves exactly these parameters (arrays sharing storage compare in O(1)).
    public func serves(networkID: [UInt8], publicKeys: [PublicKey], groupSize: Int, mixingMargin: Int) -> Bool {
        groupSize == self.groupSize && mixingMargin == self.mixingMargin && networkID == self.networkID
            && publicKeys == self.publicKeys
    }

    /// Round `round`'s groups. The first call for a far round decides every round before it:
    /// O(round · N (log N + M·N/64)) once, then O(1) for the rounds near the last one asked.
    public func assignment(round: UInt64) -> GroupAssignment {
        lock.withLock {
            if let hit = recent.first(where: { $0.round == round }) { return hit.assignment }
            decide(through: round)
            let made = round == 0 ? candidate(round: 0, attempt: 0)
                : frontierAssignment(round: round) ?? candidate(round: round, attempt: attempts[Int(round - 1)])
            recent.append((round, made))
            if recent.count > 8 { recent.removeFirst() }
            return made
        }
    }

    /// The attempt `round` uses (decides the rounds up to it if needed).
    public func attempt(round: UInt64) -> UInt8 {
        lock.withLock {
            guard round > 0 else { return 0 }
            decide(through: round)
            return attempts[Int(round - 1)]
        }
    }

    private func candidate(round: UInt64, attempt: UInt8) -> GroupAssignment {
        GroupAssignment(round: round, attempt: attempt, networkID: networkID, publicKeys: publicKeys, groupSize: groupSize)
    }

    private func frontierAssignment(round: UInt64) -> GroupAssignment? {
        let decided = UInt64(attempts.count)
        guard round <= decided, decided - round < UInt64(frontier.count) else { return nil }
        return frontier[frontier.count - 1 - Int(decided - round)]
    }

    private func decide(through round: UInt64) {
        let peers = publicKeys.count
        let groupCount = max(1, peers / groupSize)
        // With one group every round mixes; with windows so short that even the largest groups
        // could not reach N peers, no attempt can mix and trying would only cost time.
        let largest = (peers + groupCount - 1) / groupCount
        let canMix = groupCount > 1 && pow(Double(largest), Double(mixingMargin)) >= Double(peers)
        while UInt64(attempts.count) < round {
            let r = UInt64(attempts.count) + 1
            var decided = (attempt: UInt8(0), assignment: candidate(round: r, attempt: 0))
            if canMix, r >= UInt64(mixingMargin) {
                var fewest = Self.unreachedPairs(frontier + [decided.assignment], peers: peers)
                for attempt in 1..<Self.maximumAttempts where fewest > 0 {
                    let made = candidate(round: r, attempt: UInt8(attempt))
                    let unreached = Self.unreachedPairs(frontier + [made], peers: peers)
                    if unreached < fewest { (fewest, decided) = (unreached, (UInt8(attempt), made)) }
                }
                if fewest > 0 { unmixed += 1 }
            }
            attempts.append(decided.attempt)
            frontier.append(decided.assignment)
            if frontier.count > mixingMargin - 1 { frontier.removeFirst(frontier.count - (mixingMargin - 1)) }
        }
    }

    /// How many (origin, peer) pairs are left where news the origin held before `window`'s first
    /// round has not reached the peer by its last, when in each round every member of a group
    /// learns what any member knew. 0: the window mixes.
    static func unreachedPairs(_ window: [GroupAssignment], peers: Int) -> Int {
        let words = (peers + 63) / 64
        // heard[v * words ..< (v + 1) * words]: the peers whose news v holds.
        var heard = [UInt64](repeating: 0, count: peers * words)
        for v in 0..<peers { heard[v * words + v / 64] |= 1 << UInt64(v % 64) }
        var union = [UInt64](repeating: 0, count: words)
        for assignment in window {
            for group in assignment.groups {
                for w in 0..<words { union[w] = 0 }
                for v in group { for w in 0..<words { union[w] |= heard[v * words + w] } }
                for v in group { for w in 0..<words { heard[v * words + w] = union[w] } }
            }
        }
        let reached = heard.reduce(0) { $0 + $1.nonzeroBitCount }
        return peers * peers - reached
    }

    /// The mixing margin M for N peers in groups of target size K: 1 with one group, else the fewest
    /// rounds after which random grouping leaves, in expectation, at most one (origin, peer) pair
    /// the origin's news has not reached. A peer misses an origin's news after m rounds with
    /// probability about u_m = u_{m-1}^s = (1 - 1/N)^(s^m), s the smallest group size (its whole
    /// group must have missed it the round before), so M = min { m : N² (1 - 1/N)^(s^m) ≤ 1 }.
    /// At that margin a random grouping mixes most windows and the schedule's retries do the rest.
    public static func mixingMargin(peers: Int, groupSize: Int) -> Int {
        let groupCount = max(1, peers / max(1, groupSize))
        guard peers > 1, groupCount > 1 else { return 1 }
        let smallest = Double(peers / groupCount)
        guard smallest >= 2 else { return 32 } // pairs or singletons barely mix; refused elsewhere
        let n = Double(peers)
        // s^m ≥ 2 ln N / -ln(1 - 1/N)
        let needed = 2 * log(n) / -log1p(-1 / n)
        var margin = 1, reach = smallest
        while reach < needed && margin < 32 { reach *= smallest; margin += 1 }
        return margin
    }
}

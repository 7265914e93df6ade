/// Says since when too few nodes have been alive for any group of the network to aggregate, and
/// whether that has lasted the alone timeout.
///
/// Only the failure detector's verdicts move it (`update` after a status change), not the clock: a
/// node woken from a long freeze probes its peers afresh before any is dead, and reads what they
/// sent meanwhile (SPEC §8, alone).
struct AloneWatch: Sendable {
    /// The fewest live nodes, the watching one included, with which any group of the network can
    /// aggregate: the threshold of its smallest group (the threshold grows with the size). N peers
    /// in groups of K form G = max(1, N / K) groups of N / G (rounded down) or one more members
    /// (`GroupAssignment`), so the smallest may be larger than K: 7 peers in groups of 4 form one
    /// group of 7, which needs 4, not the 3 of a group of 4.
    let quorum: Int
    /// How long the node goes on below `quorum` before it stops; nil: until its stop rule.
    let timeout: Duration?
    /// Since when fewer than `quorum` nodes have been alive; nil while enough are.
    private(set) var since: Duration?

    init(peerCount: Int, groupSize: Int, minimumThreshold: Int, timeout: Duration?) {
        let smallestGroup = peerCount / max(1, peerCount / groupSize)
        quorum = GroupAssignment.threshold(groupSize: smallestGroup, minimum: minimumThreshold)
        self.timeout = timeout
    }

    /// The failure detector changed a verdict: `aliveCount` nodes, the watching one included, are
    /// alive (or suspect) now.
    mutating func update(aliveCount: Int, now: Duration) {
        since = aliveCount < quorum ? (since ?? now) : nil
    }

    /// When the node, still below `quorum`, is due to stop; nil when it is not below it or has no timeout.
    var deadline: Duration? {
        guard let since, let timeout else { return nil }
        return since + timeout
    }

    /// Whether the node has been below `quorum` for the whole timeout at `now`.
    func hasTimedOut(now: Duration) -> Bool {
        deadline.map { now >= $0 } ?? false
    }
}

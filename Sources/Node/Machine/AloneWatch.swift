/// Says since when too few nodes have been alive for any group of the network to aggregate, and
/// whether that has lasted the alone timeout.
///
/// Only the failure detector's verdicts move it (`update` after a status change), not the clock: a
/// node woken from a long freeze probes its peers afresh before any is dead, and reads what they
/// sent meanwhile (SPEC §8, alone).
struct AloneWatch: Sendable {
    /// The fewest live nodes, the watching one included, with which any group of the network can
    /// aggregate: the threshold of its smallest group (groups have `groupSize` to twice that less
    /// one members, or every peer when there are fewer, and the threshold grows with the size).
    let quorum: Int
    /// How long the node goes on below `quorum` before it stops; nil: until its stop rule.
    let timeout: Duration?
    /// Since when fewer than `quorum` nodes have been alive; nil while enough are.
    private(set) var since: Duration?

    init(peerCount: Int, groupSize: Int, minimumThreshold: Int, timeout: Duration?) {
        quorum = GroupAssignment.threshold(groupSize: min(peerCount, groupSize), minimum: minimumThreshold)
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

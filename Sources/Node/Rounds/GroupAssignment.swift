import Crypto

/// Which peers aggregate together in a round: a pure function of public data that every node
/// computes identically (SPEC.md §6), so no message ever decides membership.
public struct GroupAssignment: Sendable, Equatable {
    /// Member lists (peer indices in peers-file order), one per group.
    public let groups: [[Int]]
    /// `groupOf[peer]` is the index into `groups` for that peer.
    public let groupOf: [Int]

    /// Candidate `attempt` for `round`'s groups among `publicKeys` (peers-file order) with target
    /// size `groupSize`. Which attempt a round uses is `GroupSchedule`'s choice: ask it, not this.
    ///
    /// Peers are ordered by a hash of (network id, round, attempt, public key), and position j of
    /// that order joins group j mod G with G = max(1, N / K): sizes are K...2K-1, or N when N < K.
    public init(round: UInt64, attempt: UInt8, networkID: [UInt8], publicKeys: [PublicKey], groupSize: Int) {
        precondition(groupSize >= 1 && !publicKeys.isEmpty)
        let n = publicKeys.count
        let groupCount = max(1, n / groupSize)
        var prefix = Array("gossipnode/groups/v2".utf8) + networkID
        withUnsafeBytes(of: round.littleEndian) { prefix.append(contentsOf: $0) }
        prefix.append(attempt)
        let order = publicKeys.indices.map { i in (key: KDF.hash(prefix + publicKeys[i].bytes, outputLength: 16), index: i) }
            .sorted { a, b in a.key == b.key ? a.index < b.index : a.key.lexicographicallyPrecedes(b.key) }
        var groups = [[Int]](repeating: [], count: groupCount)
        var groupOf = [Int](repeating: 0, count: n)
        for (position, entry) in order.enumerated() {
            groups[position % groupCount].append(entry.index)
            groupOf[entry.index] = position % groupCount
        }
        self.groups = groups.map { $0.sorted() }
        self.groupOf = groupOf
    }

    /// The members of `peer`'s group, in peers-file order.
    public func members(of peer: Int) -> [Int] { groups[groupOf[peer]] }

    /// The Shamir threshold of a group of `size` members: at least a strict majority (so that
    /// members with different views of who dropped cannot both unmask, SPEC.md §7.5), at least 3
    /// (with two survivors each would learn the other's input), at least the configured
    /// `minimum`, at most the group size.
    public static func threshold(groupSize size: Int, minimum: Int) -> Int {
        min(size, max(minimum, size / 2 + 1, 3))
    }
}

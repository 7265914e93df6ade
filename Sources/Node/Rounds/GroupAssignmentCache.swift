import Crypto
import Foundation

/// Each round's `GroupAssignment`, computed once and shared by the machines of one process.
///
/// Every node computes the same O(N log N) assignment each round; a simulation of N nodes would
/// compute it N times per round. Machines given a cache ask it instead; it answers only for the
/// network, peers and group size it was made for and otherwise returns nil, so the machine
/// computes the assignment itself and behaves exactly as without a cache.
public final class GroupAssignmentCache: @unchecked Sendable {
    private let networkID: [UInt8]
    private let publicKeys: [PublicKey]
    private let groupSize: Int
    private let capacity: Int
    private let lock = NSLock()
    private var recent: [(round: UInt64, assignment: GroupAssignment)] = []

    /// Keeps the assignments of the `capacity` most recently asked rounds.
    public init(networkID: [UInt8], publicKeys: [PublicKey], groupSize: Int, capacity: Int = 4) {
        self.networkID = networkID
        self.publicKeys = publicKeys
        self.groupSize = groupSize
        self.capacity = max(1, capacity)
    }

    /// Round `round`'s assignment, or nil when the cache was made for other parameters.
    public func assignment(round: UInt64, networkID: [UInt8], publicKeys: [PublicKey], groupSize: Int) -> GroupAssignment? {
        // Arrays sharing storage compare in O(1), which is the case this cache is for.
        guard groupSize == self.groupSize, networkID == self.networkID, publicKeys == self.publicKeys else { return nil }
        return lock.withLock {
            if let hit = recent.first(where: { $0.round == round }) { return hit.assignment }
            let made = GroupAssignment(round: round, networkID: networkID, publicKeys: publicKeys, groupSize: groupSize)
            recent.append((round, made))
            if recent.count > capacity { recent.removeFirst() }
            return made
        }
    }
}

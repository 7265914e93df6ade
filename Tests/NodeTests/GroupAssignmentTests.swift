import Crypto
import Testing
import TestKit
@testable import Node

@Suite struct GroupAssignmentTests {
    func keys(_ n: Int, seed: UInt64 = 1) -> [PublicKey] {
        var rng = seededRandom(seed)
        return (0..<n).map { _ in KeyPair.generate(using: &rng).publicKey }
    }

    @Test(arguments: [(1, 5), (4, 5), (5, 5), (8, 3), (17, 5), (100, 8), (1000, 5)])
    func everyPeerIsInExactlyOneGroupOfTheRightSize(n: Int, k: Int) {
        let assignment = GroupAssignment(round: 3, attempt: 0, networkID: [1, 2, 3], publicKeys: keys(n), groupSize: k)
        let all = assignment.groups.flatMap { $0 }
        #expect(all.sorted() == Array(0..<n))
        #expect(assignment.groups.count == max(1, n / k))
        for (g, members) in assignment.groups.enumerated() {
            #expect(members == members.sorted())
            if n >= k { #expect(members.count >= k && members.count <= 2 * k - 1) }
            for m in members { #expect(assignment.groupOf[m] == g) }
        }
        let sizes = assignment.groups.map(\.count)
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
    }

    @Test func everyNodeComputesTheSameGroupsAndRoundsReshuffle() {
        let peers = keys(40)
        let a = GroupAssignment(round: 7, attempt: 0, networkID: [9], publicKeys: peers, groupSize: 5)
        let b = GroupAssignment(round: 7, attempt: 0, networkID: [9], publicKeys: peers, groupSize: 5)
        #expect(a == b)
        #expect(GroupAssignment(round: 8, attempt: 0, networkID: [9], publicKeys: peers, groupSize: 5) != a)
        #expect(GroupAssignment(round: 7, attempt: 0, networkID: [8], publicKeys: peers, groupSize: 5) != a)
        #expect(GroupAssignment(round: 7, attempt: 1, networkID: [9], publicKeys: peers, groupSize: 5) != a)
    }

    @Test func oneGroupHoldsEveryPeerWhenTheGroupIsLarge() {
        let assignment = GroupAssignment(round: 1, attempt: 0, networkID: [], publicKeys: keys(6), groupSize: 10)
        #expect(assignment.groups == [Array(0..<6)])
    }

    /// Over many rounds, each pair of peers meets about as often as random grouping predicts:
    /// a fixed seating plan would leave most pairs never meeting.
    @Test func pairsMeetAsOftenAsRandomGroupingPredicts() {
        let n = 20, k = 5, rounds = 400
        let peers = keys(n)
        var meetings = [[Int]](repeating: [Int](repeating: 0, count: n), count: n)
        for r in 0..<rounds {
            let groups = GroupAssignment(round: UInt64(r), attempt: 0, networkID: [7], publicKeys: peers, groupSize: k).groups
            for g in groups { for a in g { for b in g where a < b { meetings[a][b] += 1 } } }
        }
        let expected = Double(rounds) * Double(k - 1) / Double(n - 1) // ≈ 84
        for a in 0..<n { for b in (a + 1)..<n {
            #expect(Double(meetings[a][b]) > expected * 0.55 && Double(meetings[a][b]) < expected * 1.45)
        } }
    }

    @Test func thresholdIsAStrictMajorityAtLeast() {
        #expect(GroupAssignment.threshold(groupSize: 5, minimum: 2) == 3)
        #expect(GroupAssignment.threshold(groupSize: 4, minimum: 2) == 3)
        #expect(GroupAssignment.threshold(groupSize: 6, minimum: 2) == 4)
        #expect(GroupAssignment.threshold(groupSize: 9, minimum: 7) == 7)
        #expect(GroupAssignment.threshold(groupSize: 3, minimum: 5) == 3)
        for k in 3...20 {
            let t = GroupAssignment.threshold(groupSize: k, minimum: 1)
            #expect(2 * t > k && t >= 3 && t <= k)
        }
    }
}

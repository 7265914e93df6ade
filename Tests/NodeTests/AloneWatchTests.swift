import Crypto
import Testing
import TestKit
@testable import Node

@Suite struct AloneWatchTests {
    /// The quorum is the threshold of the network's smallest group: `groupSize` members when K
    /// divides the peers into groups of K, or every peer when there are fewer.
    @Test func theQuorumIsTheSmallestGroupsThreshold() {
        #expect(AloneWatch(peerCount: 8, groupSize: 4, minimumThreshold: 3, timeout: nil).quorum == 3)
        #expect(AloneWatch(peerCount: 20, groupSize: 5, minimumThreshold: 2, timeout: nil).quorum == 3)
        // 20 peers in groups of 8 form two groups of 10, which need 6.
        #expect(AloneWatch(peerCount: 20, groupSize: 8, minimumThreshold: 2, timeout: nil).quorum == 6)
        #expect(AloneWatch(peerCount: 20, groupSize: 5, minimumThreshold: 4, timeout: nil).quorum == 4)
        // Fewer peers than a group: the one group holds them all.
        #expect(AloneWatch(peerCount: 6, groupSize: 10, minimumThreshold: 2, timeout: nil).quorum == 4)
        // Fewer than 2K peers form one group of them all, larger than K: 7 in groups of 4 need 4.
        #expect(AloneWatch(peerCount: 7, groupSize: 4, minimumThreshold: 3, timeout: nil).quorum == 4)
        #expect(AloneWatch(peerCount: 14, groupSize: 5, minimumThreshold: 2, timeout: nil).quorum == 4)
    }

    /// Against the definition: the smallest threshold over the groups `GroupAssignment` forms.
    @Test func theQuorumMatchesTheGroupsFormed() {
        var rng = seededRandom(3)
        let keys = (0..<40).map { _ in KeyPair.generate(using: &rng).publicKey }
        for n in 1...40 {
            for k in 1...(n + 2) {
                let groups = GroupAssignment(round: 1, attempt: 0, networkID: [1], publicKeys: Array(keys[0..<n]), groupSize: k).groups
                for minimum in [0, 3, 5, 50] {
                    let expected = groups.map { GroupAssignment.threshold(groupSize: $0.count, minimum: minimum) }.min()!
                    let quorum = AloneWatch(peerCount: n, groupSize: k, minimumThreshold: minimum, timeout: nil).quorum
                    #expect(quorum == expected, "\(n) peers, groups of \(k), minimum threshold \(minimum)")
                }
            }
        }
    }

    /// Two survivors of a network whose groups need three are as stuck as one alone.
    @Test func belowTheQuorumIsAloneEvenWithSurvivors() {
        var watch = AloneWatch(peerCount: 8, groupSize: 4, minimumThreshold: 3, timeout: .seconds(30))
        watch.update(aliveCount: 3, now: .seconds(1))
        #expect(watch.since == nil && watch.deadline == nil)
        watch.update(aliveCount: 2, now: .seconds(5))
        #expect(watch.since == .seconds(5) && watch.deadline == .seconds(35))
    }

    /// Later verdicts while still below the quorum keep the first time it fell below; one that
    /// brings it back to the quorum clears it, and the next fall starts afresh.
    @Test func theWatchStartsAtTheFirstFallAndClearsOnRecovery() {
        var watch = AloneWatch(peerCount: 5, groupSize: 5, minimumThreshold: 3, timeout: .seconds(10))
        watch.update(aliveCount: 2, now: .seconds(4))
        watch.update(aliveCount: 1, now: .seconds(9))
        watch.update(aliveCount: 2, now: .seconds(12))
        #expect(watch.since == .seconds(4))
        #expect(!watch.hasTimedOut(now: .milliseconds(13_999)))
        #expect(watch.hasTimedOut(now: .seconds(14)))
        watch.update(aliveCount: 3, now: .seconds(15))
        #expect(watch.since == nil && !watch.hasTimedOut(now: .seconds(100)))
        watch.update(aliveCount: 1, now: .seconds(101))
        #expect(watch.deadline == .seconds(111))
    }

    @Test func withoutATimeoutItNeverTimesOut() {
        var watch = AloneWatch(peerCount: 8, groupSize: 4, minimumThreshold: 3, timeout: nil)
        watch.update(aliveCount: 1, now: .seconds(1))
        #expect(watch.since == .seconds(1))
        #expect(watch.deadline == nil && !watch.hasTimedOut(now: .seconds(1_000_000)))
    }
}

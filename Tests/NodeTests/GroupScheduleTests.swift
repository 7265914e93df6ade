import Crypto
import Foundation
import Testing
import TestKit
@testable import Node

/// The group schedule makes "news reaches every node within the mixing margin" a property of the
/// schedule, which the stop rule (SPEC.md §10) rests on, instead of a likely outcome.
@Suite struct GroupScheduleTests {
    /// Whether news any peer held before `window` reaches every peer by its end, one group hop per
    /// round: written plainly with sets, apart from the schedule's bit matrix.
    static func mixes(_ window: [[[Int]]], peers: Int) -> Bool { unreachedPairs(window, peers: peers) == 0 }

    /// The (origin, peer) pairs whose news has not met by the window's end.
    static func unreachedPairs(_ window: [[[Int]]], peers: Int) -> Int {
        var heard = (0..<peers).map { Set([$0]) }
        for groups in window {
            for group in groups {
                let union = group.reduce(into: Set<Int>()) { $0.formUnion(heard[$1]) }
                for v in group { heard[v] = union }
            }
        }
        return heard.reduce(0) { $0 + peers - $1.count }
    }

    /// The old margin, ⌈log N / log K⌉ + 1, which random grouping missed for many sizes.
    static func oldMargin(peers: Int, groupSize: Int) -> Int {
        Int((log(Double(peers)) / log(Double(groupSize))).rounded(.up)) + 1
    }

    static let sizes = [(8, 4), (12, 4), (16, 4), (20, 5), (27, 3), (60, 4), (64, 4), (100, 5), (26, 10), (169, 3), (200, 5)]

    @Test(arguments: sizes)
    func everyWindowOfTheMarginMixes(n: Int, k: Int) {
        let keys = GroupAssignmentTests().keys(n, seed: UInt64(n * 31 + k))
        let margin = GroupSchedule.mixingMargin(peers: n, groupSize: k)
        let schedule = GroupSchedule(networkID: [UInt8(n), 7], publicKeys: keys, groupSize: k, mixingMargin: margin)
        let rounds = n == 169 ? 300 : n >= 100 ? 60 : 150
        let groups = (1...rounds).map { schedule.assignment(round: UInt64($0)).groups }
        for end in margin...rounds {
            #expect(Self.mixes(Array(groups[(end - margin)..<end]), peers: n), "rounds \(end - margin + 1)...\(end) do not mix")
        }
        #expect(schedule.unmixedWindows == 0)
    }

    /// Every size from 2K to 100 peers for K = 3...10: no round lacks a mixing candidate in the
    /// first 30 rounds, and rounds need few candidates (the margin is not too tight).
    @Test func everySmallNetworkFindsMixingRoundsCheaply() {
        var rounds = 0, candidates = 0
        for k in 3...10 {
            for n in (2 * k)...100 {
                let margin = GroupSchedule.mixingMargin(peers: n, groupSize: k)
                let schedule = GroupSchedule(networkID: [UInt8(n), UInt8(k)], publicKeys: GroupAssignmentTests().keys(n, seed: UInt64(k)),
                                             groupSize: k, mixingMargin: margin)
                for r in UInt64(margin)...30 { candidates += Int(schedule.attempt(round: r)) + 1; rounds += 1 }
                #expect(schedule.unmixedWindows == 0, "N \(n) K \(k)")
            }
        }
        #expect(Double(candidates) / Double(rounds) < 1.5, "\(candidates) candidates for \(rounds) rounds")
    }

    /// Without the retries the property fails: at the old margin nearly every window of random
    /// groupings of 64 peers in groups of 4 leaves someone's news short of someone, and even at
    /// the new margin some windows of some sizes do, which the schedule's later attempts repair.
    @Test func randomGroupingAloneDoesNotMix() {
        let keys = GroupAssignmentTests().keys(64, seed: 3)
        let random = (1...40).map { GroupAssignment(round: UInt64($0), attempt: 0, networkID: [1], publicKeys: keys, groupSize: 4).groups }
        let old = Self.oldMargin(peers: 64, groupSize: 4)
        let unmixed = (old...40).filter { !Self.mixes(Array(random[($0 - old)..<$0]), peers: 64) }.count
        #expect(unmixed > 20, "only \(unmixed) of \(40 - old + 1) windows failed to mix")
        var retried = 0
        for (n, k) in Self.sizes where n < 100 {
            let schedule = GroupSchedule(networkID: [UInt8(n)], publicKeys: GroupAssignmentTests().keys(n, seed: 5), groupSize: k,
                                         mixingMargin: GroupSchedule.mixingMargin(peers: n, groupSize: k))
            retried += (1...150).filter { schedule.attempt(round: UInt64($0)) > 0 }.count
        }
        #expect(retried > 0)
    }

    /// With a margin too short for any candidate to mix (25 peers in groups of 5 mix in two rounds
    /// only if the second round's groups each take one peer of every first-round group: about one
    /// grouping in 25,000), each round takes the candidate that comes closest, not attempt 0.
    @Test func whenNoCandidateMixesTheClosestIsUsed() {
        let keys = GroupAssignmentTests().keys(25, seed: 4)
        let schedule = GroupSchedule(networkID: [3], publicKeys: keys, groupSize: 5, mixingMargin: 2)
        var previous = schedule.assignment(round: 1).groups
        for round in UInt64(2)...5 {
            let unreached = (0..<GroupSchedule.maximumAttempts).map { attempt in
                Self.unreachedPairs([previous, GroupAssignment(round: round, attempt: UInt8(attempt), networkID: [3],
                                                               publicKeys: keys, groupSize: 5).groups], peers: 25)
            }
            let fewest = unreached.min()!
            #expect(fewest > 0 && fewest < unreached[0], "round \(round): attempt 0 leaves \(unreached[0]), best \(fewest)")
            let chosen = schedule.attempt(round: round)
            #expect(Int(chosen) == unreached.firstIndex(of: fewest), "round \(round)")
            previous = schedule.assignment(round: round).groups
        }
        #expect(schedule.unmixedWindows == 4)
    }

    /// Round r's groups depend on the rounds before it; a node asking for a far round first (one
    /// that catches up, or restarts from a checkpoint) gets what a node that ran every round got.
    @Test func theOrderOfQuestionsDoesNotChangeTheAnswers() {
        let keys = GroupAssignmentTests().keys(16, seed: 9)
        let margin = GroupSchedule.mixingMargin(peers: 16, groupSize: 4)
        let inOrder = GroupSchedule(networkID: [2], publicKeys: keys, groupSize: 4, mixingMargin: margin)
        let jumping = GroupSchedule(networkID: [2], publicKeys: keys, groupSize: 4, mixingMargin: margin)
        let answers = (1...95).map { inOrder.assignment(round: UInt64($0)) }
        for round in [90, 3, 45, 91, 2, 95, 1, 44, 60] {
            #expect(jumping.assignment(round: UInt64(round)) == answers[round - 1], "round \(round)")
        }
        #expect(jumping.assignment(round: 0) == GroupAssignment(round: 0, attempt: 0, networkID: [2], publicKeys: keys, groupSize: 4))
    }

    @Test func theMarginIsTheMeanFieldRoundsToReachEveryPair() {
        #expect(GroupSchedule.mixingMargin(peers: 4, groupSize: 5) == 1)
        #expect(GroupSchedule.mixingMargin(peers: 9, groupSize: 5) == 1)
        #expect(GroupSchedule.mixingMargin(peers: 8, groupSize: 4) == 3)
        #expect(GroupSchedule.mixingMargin(peers: 20, groupSize: 5) == 3)
        #expect(GroupSchedule.mixingMargin(peers: 64, groupSize: 4) == 5)
        #expect(GroupSchedule.mixingMargin(peers: 200, groupSize: 5) == 5)
        for k in 3...10 {
            for n in (2 * k)...300 {
                let margin = GroupSchedule.mixingMargin(peers: n, groupSize: k)
                let largest = Double((n + n / k - 1) / (n / k))
                // Never below the rounds the largest groups need to reach everyone at all.
                #expect(pow(largest, Double(margin)) >= Double(n), "N \(n) K \(k)")
                #expect(margin <= Self.oldMargin(peers: n, groupSize: k) + 2, "N \(n) K \(k)")
            }
        }
    }

    /// The stop rule's premise, end to end: after round r every node's converged bit for round
    /// r − M is the AND of every node's own decision in that round. In each round one random node
    /// (or none) is not converged, so a node its news misses would see a wrong bit.
    @Test(arguments: [(16, 4), (27, 3), (64, 4)])
    func convergedBitsAtTheMarginAreTheWholeNetworksAnd(n: Int, k: Int) {
        let keys = GroupAssignmentTests().keys(n, seed: 21)
        let margin = GroupSchedule.mixingMargin(peers: n, groupSize: k)
        let schedule = GroupSchedule(networkID: [4], publicKeys: keys, groupSize: k, mixingMargin: margin)
        #expect(Self.wrongBits(n: n, margin: margin, rounds: 120) { schedule.assignment(round: $0).groups } == 0)
    }

    /// The same drive finds wrong bits with random groupings at the old margin (the check works).
    @Test func randomGroupingAtTheOldMarginGivesWrongBits() {
        let keys = GroupAssignmentTests().keys(64, seed: 21)
        let wrong = Self.wrongBits(n: 64, margin: Self.oldMargin(peers: 64, groupSize: 4), rounds: 120) {
            GroupAssignment(round: $0, attempt: 0, networkID: [4], publicKeys: keys, groupSize: 4).groups
        }
        #expect(wrong > 0)
    }

    /// Drives N convergence rules through `rounds` rounds of `groups` and counts (node, round)
    /// pairs whose bit for round r − margin differs from the AND of all nodes' decisions then.
    static func wrongBits(n: Int, margin: Int, rounds: Int, groups: (UInt64) -> [[Int]]) -> Int {
        var rng = seededRandom(UInt64(n))
        let settings = ConvergenceRule.Settings(tolerance: 0.01, patience: 63 - margin, mixingMargin: margin, maxRounds: 10_000)
        var rules = [ConvergenceRule](repeating: ConvergenceRule(settings: settings), count: n)
        var losses = [Double](repeating: 1, count: n)
        var allConverged: [UInt64: Bool] = [:]
        var wrong = 0
        for r in UInt64(1)...UInt64(rounds) {
            let improving = rng.nextUInt64() % 2 == 0 ? Int(rng.nextUInt64() % UInt64(n)) : nil
            allConverged[r] = improving == nil
            let annotations = rules.map(\.annotation)
            for group in groups(r) {
                for i in group {
                    if i == improving { losses[i] /= 2 }
                    rules[i].record(round: r, relativeChange: i == improving ? 0.5 : 0.001, validationLoss: losses[i],
                                    heard: group.filter { $0 != i }.map { annotations[$0] })
                }
            }
            guard r > UInt64(margin) else { continue }
            let expected = allConverged[r - UInt64(margin)]!
            wrong += rules.filter { (($0.convergedBits >> UInt64(margin)) & 1 == 1) != expected }.count
        }
        return wrong
    }
}

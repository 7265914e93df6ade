import Crypto
import Testing
import TestKit
@testable import Node

@Suite struct ConvergenceRuleTests {
    let settings = ConvergenceRule.Settings(tolerance: 0.01, patience: 3, mixingMargin: 4, maxRounds: 1000)

    @Test func annotationRoundTripsAndRejectsGarbage() {
        let a = ConvergenceRule.Annotation(round: 9, convergedBits: 0xF0F0_0000_0000_0001, stopRound: 0x0102_0304_0506_0708)
        #expect(ConvergenceRule.Annotation(bytes: a.bytes) == a)
        #expect(ConvergenceRule.Annotation(bytes: []) == nil)
        #expect(ConvergenceRule.Annotation(bytes: Array(a.bytes.dropLast())) == nil)
        var wrongVersion = a.bytes
        wrongVersion[0] = 2
        #expect(ConvergenceRule.Annotation(bytes: wrongVersion) == nil)
    }

    @Test func aLoneNodeStopsAfterPatiencePlusMargin() {
        var rule = ConvergenceRule(settings: settings)
        var stoppedAt: UInt64?
        for r in UInt64(1)...100 {
            // Improves for 10 rounds, then flat.
            let loss = r <= 10 ? 1.0 / Double(r) : 0.1
            rule.record(round: r, relativeChange: r <= 10 ? 0.1 : 0.001, validationLoss: loss, heard: [])
            if rule.shouldStop(after: r) != nil { stoppedAt = r; break }
        }
        // Converged rounds start at 11; rounds 11-13 are old enough (margin 4) at round 17, which
        // proposes a stop two margins out.
        #expect(stoppedAt == 25)
    }

    @Test func roundLimitStops() {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 4, maxRounds: 5))
        for r in UInt64(1)...4 {
            rule.record(round: r, relativeChange: 1, validationLoss: 1 / Double(r), heard: [])
            #expect(rule.shouldStop(after: r) == nil)
        }
        #expect(rule.shouldStop(after: 5) == .roundLimit)
    }

    @Test func aStillImprovingPeerHoldsEveryoneBack() {
        var converged = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 2, mixingMargin: 4, maxRounds: 1000))
        for r in UInt64(1)...7 { converged.record(round: r, relativeChange: 0, validationLoss: 1, heard: []) }
        let proposed = converged.annotation.stopRound
        #expect(proposed > 0)
        // A peer that is still improving hears the proposal and pushes the stop later.
        var improving = ConvergenceRule(settings: settings)
        #expect(proposed == 14) // rounds 1-2 converged (no model change), seen 4 rounds later at round 6: 6 + 2·4
        improving.record(round: 8, relativeChange: 0.5, validationLoss: 0.5, heard: [converged.annotation])
        #expect(improving.annotation.stopRound == 16) // pushed to 8 + 2·4 (8 + 4 <= 14: still time)
        #expect(improving.annotation.convergedBits & 1 == 0)
        converged.record(round: 8, relativeChange: 0, validationLoss: 1, heard: [improving.annotation])
        #expect(converged.annotation.stopRound == 16)
        #expect(converged.annotation.convergedBits & 1 == 0) // the improving peer's round-8 news
        // In the last margin before the stop, the stop round is final: no more pushes.
        improving.record(round: 13, relativeChange: 0.5, validationLoss: 0.1, heard: [])
        #expect(improving.annotation.stopRound == 16)
    }

    /// A failed round leaves the model unmixed (relative change 0): it must not count as converged,
    /// or a partitioned side that fails every round would agree to stop on its own.
    @Test func failedRoundsAreNoEvidenceOfConvergence() {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 2, mixingMargin: 1, maxRounds: 1000))
        for r in UInt64(1)...20 {
            rule.record(round: r, relativeChange: 0, validationLoss: 1, heard: [], aggregated: false)
            #expect(rule.shouldStop(after: r) == nil)
        }
        #expect(!rule.locallyConverged && rule.annotation.convergedBits == 0)
        // Nor does it push a stop the others agreed on: a node left alone must still stop.
        var other = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 2, mixingMargin: 1, maxRounds: 1000))
        for r in UInt64(1)...22 {
            other.record(round: r, relativeChange: r < 20 ? 0.5 : 0, validationLoss: r < 20 ? 1 / Double(r) : 0.05, heard: [])
        }
        let agreed = other.annotation.stopRound
        #expect(agreed == 24)
        rule.record(round: 21, relativeChange: 0, validationLoss: 1, heard: [other.annotation], aggregated: false)
        #expect(rule.annotation.stopRound == agreed)
        rule.record(round: 22, relativeChange: 0, validationLoss: 1, heard: [], aggregated: false)
        #expect(rule.shouldStop(after: agreed) != nil)
    }

    /// Converged in rounds 2-4 as far as it knows, but round 5, which carries the others' news of
    /// round 4, failed (the network split as it began): no proposal, or a side cut off from a
    /// member not converged in round 4 stops on its own while that member runs on (found with
    /// `simulate --nodes 3 --group-size 3 --partition '0-1|2@5-9'`: stop rounds 7 and 14).
    @Test func aFailedRoundProposesNoStop() {
        var rule = ConvergenceRule(settings: .init(tolerance: 0.01, patience: 3, mixingMargin: 1, maxRounds: 1000))
        rule.record(round: 1, relativeChange: 0.5, validationLoss: 1, heard: [])
        for r in UInt64(2)...4 { rule.record(round: r, relativeChange: 0, validationLoss: 1, heard: []) }
        #expect(rule.stopRound == 0)
        rule.record(round: 5, relativeChange: 0, validationLoss: 1, heard: [], aggregated: false)
        #expect(rule.stopRound == 0)
        // Round 5's clear bit holds proposals off until three aggregated rounds followed it.
        for r in UInt64(6)...8 {
            rule.record(round: r, relativeChange: 0, validationLoss: 1, heard: [])
            #expect(rule.stopRound == 0)
        }
        rule.record(round: 9, relativeChange: 0, validationLoss: 1, heard: [])
        #expect(rule.stopRound == 11)
    }

    /// N nodes in reshuffled groups of K: nodes converge at different rounds; all must stop at the
    /// same round, and none before the last node's streak reached patience.
    @Test(arguments: [(20, 5), (60, 4), (200, 8)])
    func allNodesStopTogether(n: Int, k: Int) {
        var rng = seededRandom(UInt64(n))
        let keys = (0..<n).map { _ in KeyPair.generate(using: &rng).publicKey }
        let margin = GroupSchedule.mixingMargin(peers: n, groupSize: k)
        let settings = ConvergenceRule.Settings(tolerance: 0.01, patience: 3, mixingMargin: margin, maxRounds: 500)
        var rules = [ConvergenceRule](repeating: ConvergenceRule(settings: settings), count: n)
        // Node i keeps improving until round convergeAt[i].
        let convergeAt = (0..<n).map { _ in UInt64(5 + rng.nextUInt64() % 30) }
        var stoppedAt = [UInt64?](repeating: nil, count: n)
        let schedule = GroupSchedule(networkID: [1], publicKeys: keys, groupSize: k, mixingMargin: margin)
        for r in UInt64(1)...400 where stoppedAt.contains(where: { $0 == nil }) {
            let groups = schedule.assignment(round: r).groups
            let annotations = rules.map(\.annotation)
            for group in groups {
                for i in group where stoppedAt[i] == nil {
                    let improving = r < convergeAt[i]
                    rules[i].record(round: r, relativeChange: improving ? 0.2 : 0.001,
                                    validationLoss: improving ? 1.0 / Double(r) : 1.0 / Double(convergeAt[i]),
                                    heard: group.filter { $0 != i && stoppedAt[$0] == nil }.map { annotations[$0] })
                }
            }
            for i in 0..<n where stoppedAt[i] == nil && rules[i].shouldStop(after: r) != nil { stoppedAt[i] = r }
        }
        let stops = stoppedAt.compactMap { $0 }
        #expect(stops.count == n)
        #expect(Set(stops).count == 1, "stop rounds differ: \(Set(stops).sorted())")
        let lastConvergence = convergeAt.max()!
        #expect(stops.min()! >= lastConvergence + UInt64(settings.patience))
    }
}

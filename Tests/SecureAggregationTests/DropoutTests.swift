import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// Members vanish at every point of the round; as long as t remain, every live member gets the
/// exact sum of exactly the contributors it reports.
@Suite struct DropoutTests {
    /// Where a member crashes, and whether its input still counts.
    static let crashPoints: [(kind: SecAggMessageKind, counts: Bool)] = [
        (.advertise, false),      // never joins
        (.shares, false),         // advertised, then gone before sharing
        (.maskedInput, false),    // shared, then gone: its mask key is reconstructed
        (.unmaskRequest, true),   // sent its masked input, then gone: its b is reconstructed
        (.unmaskResponse, true),  // gone while others unmask
    ]

    func runWithCrashes(k: Int, t: Int? = nil, d: Int = 70, crashes: [Int: SecAggMessageKind],
                        seed: UInt64) -> (group: SecAggLocalGroup, outcomes: [SecAggLocalGroup.Outcome?], inputs: [[UInt32]]) {
        var group = Fixture.group(k: k, t: t, d: d, seed: seed)
        group.crashBefore = crashes
        let inputs = Fixture.inputs(k: k, d: d, seed: seed &+ 1)
        let outcomes = group.run(inputs: inputs)
        return (group, outcomes, inputs)
    }

    @Test(arguments: [5, 8], 0..<5)
    func oneMemberDropsAtEachPoint(k: Int, point: Int) {
        let (kind, counts) = Self.crashPoints[point]
        let victim = 2
        let (group, outcomes, inputs) = runWithCrashes(k: k, crashes: [victim: kind], seed: UInt64(10 * k + point))
        let contributors = (0..<k).filter { $0 != victim || counts }
        let expected = Fixture.sum(inputs, of: contributors)
        for m in 0..<k where m != victim {
            #expect(outcomes[m]?.result?.contributors == contributors, "k=\(k) crash before \(kind): member \(m)")
            #expect(outcomes[m]?.result?.sum == expected, "k=\(k) crash before \(kind): member \(m)")
        }
        #expect(outcomes[victim] == nil)
        #expect(group.rejections.isEmpty, "\(group.rejections.map(\.reason))")
    }

    @Test func dropoutsAtEveryPointInOneRound() {
        // k = 12, t = 7: one member lost at each of the five points leaves 7 live members.
        let crashes: [Int: SecAggMessageKind] = [1: .advertise, 2: .shares, 3: .maskedInput, 4: .unmaskRequest, 5: .unmaskResponse]
        let (_, outcomes, inputs) = runWithCrashes(k: 12, crashes: crashes, seed: 77)
        let contributors = [0, 4, 5, 6, 7, 8, 9, 10, 11]
        let expected = Fixture.sum(inputs, of: contributors)
        for m in [0, 6, 7, 8, 9, 10, 11] {
            #expect(outcomes[m]?.result?.contributors == contributors, "member \(m)")
            #expect(outcomes[m]?.result?.sum == expected, "member \(m)")
        }
    }

    @Test func severalDropoutsAtTheSamePoints() {
        // k = 9, t = 5: two lost after sharing, one after its masked input, one while unmasking.
        let crashes: [Int: SecAggMessageKind] = [1: .maskedInput, 2: .maskedInput, 3: .unmaskRequest, 4: .unmaskResponse]
        let (_, outcomes, inputs) = runWithCrashes(k: 9, crashes: crashes, seed: 78)
        let contributors = [0, 3, 4, 5, 6, 7, 8]
        for m in [0, 5, 6, 7, 8] {
            #expect(outcomes[m]?.result?.contributors == contributors, "member \(m)")
            #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: contributors), "member \(m)")
        }
    }

    @Test func membersStartingAtDifferentTimesStillMeet() {
        var group = Fixture.group(k: 6, d: 40, seed: 5)
        group.startTimes = [.zero, .seconds(3), .seconds(9), .milliseconds(1), .seconds(4), .seconds(2)]
        let inputs = Fixture.inputs(k: 6, d: 40, seed: 6)
        let outcomes = group.run(inputs: inputs)
        for m in 0..<6 { #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: Array(0..<6)), "member \(m)") }
    }

    @Test func aMemberStartingAfterTheAdvertiseDeadlineIsLeftOut() {
        var group = Fixture.group(k: 5, d: 40, seed: 15)
        group.startTimes = [.zero, .zero, .zero, .zero, .seconds(25)]
        let inputs = Fixture.inputs(k: 5, d: 40, seed: 16)
        let outcomes = group.run(inputs: inputs)
        for m in 0..<4 {
            #expect(outcomes[m]?.result?.contributors == [0, 1, 2, 3])
            #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: [0, 1, 2, 3]))
        }
        // The latecomer hears from nobody in time and fails cleanly instead of waiting forever.
        guard case .failed = outcomes[4] else { Issue.record("latecomer: \(String(describing: outcomes[4]))"); return }
    }

    @Test func aShareArrivingTooLateLeavesOnlyItsRecipientOut() {
        // Member 3's shares reach member 0 after 0's share deadline: 3 masks with 0 but 0 does
        // not mask with 3 (0 holds 3's early input for those shares, then drops it when its share
        // phase ends). Those two inputs cannot both be summed; the other members, who got 3's
        // input first, drop 0, recover its mask key and still get an exact sum.
        var group = Fixture.group(k: 5, d: 60, seed: 40)
        group.transit = { envelope in
            guard envelope.from == 3, envelope.to == 0, envelope.kind == .shares else { return [envelope] }
            var late = envelope
            late.delay = .seconds(15)
            return [late]
        }
        let inputs = Fixture.inputs(k: 5, d: 60, seed: 41)
        let outcomes = group.run(inputs: inputs)
        for m in 1..<5 {
            #expect(outcomes[m]?.result?.contributors == [1, 2, 3, 4], "member \(m)")
            #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: [1, 2, 3, 4]), "member \(m)")
        }
        guard case let .failed(.viewsDiffer(_, dropped)) = outcomes[0] else { Issue.record("member 0: \(String(describing: outcomes[0]))"); return }
        #expect(dropped == [3], "member 0's own view, which its failure reports")
    }

    // MARK: Fewer than t

    @Test(arguments: [SecAggMessageKind.advertise, .shares, .maskedInput])
    func fewerThanThresholdFailsBeforeAnySecretMoves(kind: SecAggMessageKind) {
        // k = 5, t = 3: three members vanish, two remain.
        var responsesWithShares = 0
        var group = Fixture.group(k: 5, d: 30, seed: 90)
        group.crashBefore = [1: kind, 2: kind, 4: kind]
        group.observe = { envelope in
            if envelope.kind == .unmaskResponse { responsesWithShares += 1 }
        }
        let outcomes = group.run(inputs: Fixture.inputs(k: 5, d: 30, seed: 91))
        for m in [0, 3] {
            guard case let .failed(.tooFewMembers(_, present, threshold, absent)) = outcomes[m] else {
                Issue.record("member \(m): \(String(describing: outcomes[m]))"); continue
            }
            #expect(present < threshold)
            // The failure names whom the group lacked, not only how many (SPEC §8, reports).
            #expect(absent == [1, 2, 4], "member \(m)")
        }
        #expect(responsesWithShares == 0)
    }

    @Test func tooFewRespondersTimesOutWithoutReconstructingAnything() {
        // k = 5, t = 3: all five send masked inputs, then three vanish before answering requests.
        var group = Fixture.group(k: 5, d: 30, seed: 92)
        group.crashBefore = [2: .unmaskResponse, 3: .unmaskResponse, 4: .unmaskResponse]
        var audit = ShareAudit(group)
        group.observe = { audit.record($0) }
        let outcomes = group.run(inputs: Fixture.inputs(k: 5, d: 30, seed: 93))
        for m in [0, 1] {
            guard case let .failed(.unmaskTimedOut(_, survivors, dropped, votes, voters)) = outcomes[m] else {
                Issue.record("member \(m): \(String(describing: outcomes[m]))"); continue
            }
            // The failure says what the member saw: everyone survived, and the three requests
            // that can have arrived (2, 3 and 4 vanished before answering, after requesting or
            // not) all voted for that view, short of nothing but answers.
            #expect(survivors == [0, 1, 2, 3, 4] && dropped.isEmpty && votes == voters && voters >= 2, "\(outcomes[m]!)")
        }
        // Every member masked, so every view is the same and nobody dropped: a responder may reveal
        // survivors' self-mask seeds, but never a mask key (with a member's seed, its key would
        // unmask its input); the two survivors answered each other with seed shares only.
        let revealedKeys = audit.received.keys.filter { $0.kind == .key }
        #expect(revealedKeys.isEmpty, "mask-key shares revealed for \(revealedKeys.map(\.owner))")
        let responders = Set(audit.received.values.flatMap { $0.values.flatMap { $0 } })
        #expect(responders == [0, 1], "seed shares came from \(responders)")
    }
}

import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// Unmask answers whose shares were changed (a lying responder, or an owner whose shares do not
/// match its advertisement). With exactly t shares Shamir cannot tell a wrong share; every
/// reconstructed secret is checked against its owner's advertisement (the seed commitment for b,
/// the mask key for msk), other t-subsets of the shares held are tried, and a secret none of them
/// gives fails the round: never a wrong sum reported as right (SPEC §7.1).
@Suite struct CorruptedShareTests {
    /// Bytes of the share of `memberPosition`-th requested secret in an unmask response for a
    /// group of five (seed shares first, then key shares, each in ascending member order).
    static func shareBytes(at position: Int) -> Range<Int> {
        let first = SecAggWire.headerByteCount + 1 + 2 * MemberSet.bitmapByteCount(groupSize: 5)
        return (first + 32 * position)..<(first + 32 * (position + 1))
    }

    /// `envelope` with `range` changed by bytes drawn for its sender, so no two corrupted shares
    /// differ from the genuine ones by related amounts (equal changes can cancel in interpolation).
    static func corrupting(_ envelope: Harness.Envelope, _ range: Range<Int>) -> Harness.Envelope {
        var bytes = envelope.bytes
        var rng = seededRandom(UInt64(1_000 + envelope.from))
        for (i, noise) in zip(range, rng.bytes(range.count)) { bytes[i] ^= noise | 1 }
        return .init(from: envelope.from, to: envelope.to, bytes: bytes)
    }

    func expectedSum(_ harness: Harness, of members: [Int]) -> [UInt32] {
        members.reduce([UInt32](repeating: 0, count: harness.inputs[0].count)) { sum, m in zip(sum, harness.inputs[m]).map { $0 &+ $1 } }
    }

    /// Member 0's four answers held back; each of them carries shares of b_1...b_4.
    func heldAnswersToMemberZero() -> Harness {
        var harness = Harness(k: 5)
        harness.startAll()
        harness.pump(hold: { $0.to == 0 && $0.kind == .unmaskResponse })
        #expect(harness.held.count == 4)
        return harness
    }

    @Test func oneLyingResponderIsOutvotedByTheOtherShares() {
        var harness = heldAnswersToMemberZero()
        // The first answer used (member 0's own share, then the earliest answers) lies about b_1.
        harness.held[0] = Self.corrupting(harness.held[0], Self.shareBytes(at: 0))
        harness.releaseHeld()
        harness.expectEveryoneHasTheWholeSum()
    }

    @Test func seedSharesNoTOfWhichMatchTheCommitmentFailTheRound() {
        var harness = heldAnswersToMemberZero()
        // Every answer lies about b_2: member 0 holds one genuine share of it, t = 3 are needed.
        harness.held = harness.held.map { Self.corrupting($0, Self.shareBytes(at: 1)) }
        harness.releaseHeld()
        #expect(harness.results[0] == nil)
        #expect(harness.failures[0] == .reconstructionFailed(member: 2))
        for m in 1..<5 { #expect(harness.results[m]?.sum == expectedSum(harness, of: [0, 1, 2, 3, 4])) }
    }

    /// Member 4 drops after sharing (given up on by everyone); member 0's three answers, which
    /// carry shares of b_1, b_2, b_3 and then of member 4's mask key, are returned held back.
    func droppedMemberAndHeldAnswersToMemberZero() -> (Harness, answers: [Harness.Envelope]) {
        var harness = Harness(k: 5)
        harness.startAll()
        harness.pump(hold: { $0.from == 4 && $0.kind == .maskedInput })
        for m in 0..<4 { harness.perform(harness.sessions[m].giveUp(on: 4, now: .zero), by: m) }
        harness.pump(hold: { $0.from == 4 || ($0.to == 0 && $0.kind == .unmaskResponse) })
        let answers = harness.held.filter { $0.from != 4 && $0.to == 0 && $0.kind == .unmaskResponse }
        #expect(answers.count == 3)
        harness.held = []
        return (harness, answers)
    }

    /// More answers may still come from member 4 itself (it is only given up on), so member 0
    /// fails at its unmask deadline.
    @Test func keySharesNoTOfWhichGiveTheAdvertisedKeyFailTheRoundAtTheDeadline() {
        let (held, answers) = droppedMemberAndHeldAnswersToMemberZero()
        var harness = held
        harness.queue = answers.map { Self.corrupting($0, Self.shareBytes(at: 3)) }
        harness.pump()
        #expect(harness.results[0] == nil && harness.failures[0] == nil)
        harness.perform(harness.sessions[0].tick(now: .seconds(1_000)), by: 0)
        #expect(harness.results[0] == nil)
        #expect(harness.failures[0] == .reconstructionFailed(member: 4))
        for m in 1..<4 { #expect(harness.results[m]?.sum == expectedSum(harness, of: [0, 1, 2, 3])) }
    }

    @Test func oneLyingKeyShareIsOutvotedToo() {
        var (harness, answers) = droppedMemberAndHeldAnswersToMemberZero()
        answers[0] = Self.corrupting(answers[0], Self.shareBytes(at: 3))
        harness.queue = answers
        harness.pump()
        #expect(harness.failures[0] == nil)
        #expect(harness.results[0]?.sum == expectedSum(harness, of: [0, 1, 2, 3]))
    }

    /// The subset search finds the genuine secret whichever share is wrong, and gives up when
    /// fewer than t shares are genuine.
    @Test func reconstructionTriesOtherSubsetsOfTheShares() throws {
        var rng = seededRandom(7)
        let secret = SecretBytes(copying: rng.bytes(32))
        let shares = try Shamir.split(secret, threshold: 3, count: 5, using: &rng)
        func lying(_ positions: Set<Int>) -> [ShamirShare] {
            shares.enumerated().map { position, share in
                guard positions.contains(position) else { return share }
                // Noise in every byte: changes to a few bytes of two shares can cancel.
                var noise = seededRandom(UInt64(100 + position))
                let value = zip(share.value.copyBytes(), noise.bytes(32)).map { $0 ^ ($1 | 1) }
                return ShamirShare(index: share.index, value: SecretBytes(copying: value))
            }
        }
        func reconstruct(_ shares: [ShamirShare], budget: Int = 9) -> (SecretBytes?, budgetLeft: Int) {
            var budget = budget
            let found = ShareCollector.reconstruct(shares, threshold: 3, budget: &budget) { $0 == secret ? $0 : nil }
            return (found, budget)
        }
        #expect(reconstruct(shares) == (secret, 9))
        for liar in 0..<5 { #expect(reconstruct(lying([liar])).0 == secret) }
        // Shares 0, 2, 4 genuine: the fifth of the ten subsets in order.
        #expect(reconstruct(lying([1, 3])) == (secret, 5))
        // Shares 2, 3, 4 genuine: the last subset, nine past the first.
        #expect(reconstruct(lying([0, 1])) == (secret, 0))
        #expect(reconstruct(lying([0, 1]), budget: 8).0 == nil)
        #expect(reconstruct(lying([0, 2, 4])).0 == nil)
        #expect(reconstruct(Array(shares.prefix(2))).0 == nil)
    }
}

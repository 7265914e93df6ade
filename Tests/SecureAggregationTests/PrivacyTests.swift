import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// What members must not learn: another member's individual input.
@Suite struct PrivacyTests {
    /// Every coalition of at most `size` members of `members`.
    static func coalitions(of members: [Int], upTo size: Int) -> [Set<Int>] {
        var result: [Set<Int>] = [[]]
        for member in members {
            result += result.filter { $0.count < size }.map { $0.union([member]) }
        }
        return result.filter { !$0.isEmpty }
    }

    /// Member `late` delivers its masked input to `reached` only, then vanishes, so the others
    /// see it as dropped while `reached` see it as a survivor.
    /// With `delayRequests`, the requests of `reached` reach the others only after those decided.
    func runSplitView(k: Int, late: Int, reached: Set<Int>, seed: UInt64, delayRequests: Bool = false)
        -> (outcomes: [SecAggLocalGroup.Outcome?], inputs: [[UInt32]], audit: ShareAudit, t: Int) {
        var group = Fixture.group(k: k, d: 50, seed: seed)
        group.crashBefore = [late: .unmaskRequest]
        group.transit = { envelope in
            if envelope.from == late && envelope.kind == .maskedInput && !reached.contains(envelope.to) { return [] }
            if delayRequests, envelope.kind == .unmaskRequest, reached.contains(envelope.from), !reached.contains(envelope.to) {
                var held = envelope
                held.delay = .seconds(15)
                return [held]
            }
            return [envelope]
        }
        var audit = ShareAudit(group)
        group.observe = { audit.record($0) }
        let inputs = Fixture.inputs(k: k, d: 50, seed: seed &+ 1)
        let outcomes = group.run(inputs: inputs)
        return (outcomes, inputs, audit, group.sessions[0].configuration.threshold)
    }

    /// The invariant behind §7.5, over 300 seeded random rounds (k = 3-8, every legal t, members
    /// starting up to 3 s apart, a crash before any kind of message, lost messages, late ones and
    /// a few past a deadline, which split views): for each member, the shares that leave its
    /// holders in unmask answers are all of one kind, never of both its self-mask seed and its
    /// mask key; and every member that completes has the exact sum of its contributors.
    @Test func randomFaultsNeverRevealBothSecretsOfAMember() {
        let kinds: [SecAggMessageKind] = [.advertise, .shares, .maskedInput, .unmaskRequest, .unmaskResponse]
        var completed = 0, splitRounds = 0
        for seed in UInt64(1)...300 {
            var rng = seededRandom(seed &* 7919)
            let k = 3 + Int(rng.nextUInt64() % 6)
            let tMin = max(k / 2 + 1, 3)
            let t = tMin + Int(rng.nextUInt64() % UInt64(k - tMin + 1))
            var group = Fixture.group(k: k, t: t, d: 8, seed: seed)
            for _ in 0..<(rng.nextUInt64() % 2) {
                group.crashBefore[Int(rng.nextUInt64() % UInt64(k))] = kinds[Int(rng.nextUInt64() % 5)]
            }
            group.startTimes = (0..<k).map { _ in .milliseconds(Int64(rng.nextUInt64() % 3000)) }
            let lossIn100 = rng.nextUInt64() % 3
            var network = seededRandom(seed &+ 55)
            group.transit = { envelope in
                guard network.nextUInt64() % 100 >= lossIn100 else { return [] }
                var late = envelope
                switch network.nextUInt64() % 40 {
                case 0: late.delay = .milliseconds(Int64(8_000 + network.nextUInt64() % 10_000))  // past a deadline
                case 1...6: late.delay = .milliseconds(Int64(network.nextUInt64() % 3_000))
                default: break
                }
                return [late]
            }
            var revealedKinds: [Int: Set<ShareAudit.Kind>] = [:]
            var anyDeclined = false
            let configuration = group.sessions[0].configuration
            group.observe = { envelope in
                let message = try? SecAggWire.decode(envelope.bytes, from: envelope.from, configuration)
                if case .unmaskResponse(.declined)? = message { anyDeclined = true }
                guard case let .unmaskResponse(.shares(seed, key))? = message else { return }
                for owner in seed.keys { revealedKinds[owner, default: []].insert(.seed) }
                for owner in key.keys { revealedKinds[owner, default: []].insert(.key) }
            }
            let inputs = Fixture.inputs(k: k, d: 8, seed: seed &+ 1)
            let outcomes = group.run(inputs: inputs)
            if anyDeclined { splitRounds += 1 }
            for (owner, revealed) in revealedKinds where revealed.count > 1 {
                Issue.record("seed \(seed), k \(k), t \(t): both secrets of member \(owner) were revealed")
            }
            for (m, outcome) in outcomes.enumerated() {
                guard let result = outcome?.result else { continue }
                completed += 1
                #expect(result.sum == Fixture.sum(inputs, of: result.contributors), "seed \(seed), member \(m)")
            }
        }
        // The schedules exercise what matters (seen: 379 completions, 50 rounds with a refusal).
        #expect(completed > 300 && splitRounds > 30, "\(completed) completions, \(splitRounds) rounds with a refusal")
    }

    @Test func differingViewsNeverExposeTheDisputedMember() {
        // k = 5, t = 3: members 0, 1 saw member 4's input, members 2, 3 did not.
        let (outcomes, _, audit, t) = runSplitView(k: 5, late: 4, reached: [0, 1], seed: 31)
        // Two views of two votes each: neither reaches t = 3, so nobody completes, and each member
        // fails naming its own view and its two votes (the majority case is the test below).
        #expect(t == 3)
        for m in 0..<4 {
            guard case let .failed(.unmaskTimedOut(_, survivors, dropped, votes, _))? = outcomes[m] else {
                Issue.record("member \(m): \(String(describing: outcomes[m]))"); continue
            }
            #expect(dropped == (m < 2 ? [] : [4]) && survivors == (m < 2 ? [0, 1, 2, 3, 4] : [0, 1, 2, 3]))
            #expect(votes == 2)
        }
        // No member alone, and no coalition of up to t-1 members pooling everything they hold
        // and received, can reconstruct both secrets of any member.
        for coalition in Self.coalitions(of: [0, 1, 2, 3], upTo: t - 1) {
            #expect(audit.fullyExposed(threshold: t, pool: coalition, groupSize: 5).isEmpty, "\(coalition)")
        }
    }

    @Test func respondersThatDecidedFirstStillServeNoSecondView() {
        // As above, but members 2 and 3 fix their view before any request of 0 or 1 reaches them:
        // each responder's first vote is a different view. Two views of two votes each: no
        // view reaches t = 3, so nobody answers and nobody completes.
        let (outcomes, _, audit, t) = runSplitView(k: 5, late: 4, reached: [0, 1], seed: 34, delayRequests: true)
        for m in 0..<4 {
            guard case .failed = outcomes[m] else { Issue.record("member \(m): \(String(describing: outcomes[m]))"); continue }
        }
        for coalition in Self.coalitions(of: [0, 1, 2, 3], upTo: t - 1) {
            #expect(audit.fullyExposed(threshold: t, pool: coalition, groupSize: 5).isEmpty, "\(coalition)")
        }
    }

    @Test func theMajorityViewCompletesAndTheMinorityFailsCleanly() {
        // k = 7, t = 4: members 0-3 saw member 6's input (a majority view), 4 and 5 did not.
        let (outcomes, inputs, audit, t) = runSplitView(k: 7, late: 6, reached: [0, 1, 2, 3], seed: 32)
        for m in 0..<4 {
            #expect(outcomes[m]?.result?.contributors == Array(0..<7), "member \(m)")
            #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: Array(0..<7)), "member \(m)")
        }
        for m in [4, 5] {
            guard case let .failed(.viewsDiffer(_, dropped)) = outcomes[m] else {
                Issue.record("member \(m): \(String(describing: outcomes[m]))"); continue
            }
            #expect(dropped == [6], "member \(m) reports its own view: it never saw member 6's input")
        }
        for coalition in Self.coalitions(of: Array(0..<6), upTo: t - 1) {
            #expect(audit.fullyExposed(threshold: t, pool: coalition, groupSize: 7).isEmpty, "\(coalition)")
        }
    }

    @Test func colludersBelowTheThresholdSeeOnlyUniformNoise() throws {
        // k = 5, t = 3: members 0 and 1 collude against member 4 in a normal round.
        let k = 5, d = 20_000, target = 4
        let colluders = [0, 1]
        var group = Fixture.group(k: k, d: d, seed: 33)
        let t = group.sessions[0].configuration.threshold
        let colluderKeys = colluders.map { group.sessions[$0].maskKeys! }
        let targetKey = group.sessions[target].maskKeys!.secretKey
        var maskedInput: [UInt8] = []
        var payloadOffset = 0
        var keyShares: [ShamirShare] = []
        var audit = ShareAudit(group)
        let configuration = group.sessions[0].configuration
        group.observe = { envelope in
            audit.record(envelope)
            guard colluders.contains(envelope.to), envelope.from == target,
                  let message = try? SecAggWire.decode(envelope.bytes, from: target, configuration) else { return }
            if case let .shares(keyShare, _, _, _) = message {
                keyShares.append(ShamirShare(index: UInt8(envelope.to + 1), value: keyShare))
            }
            if case let .maskedInput(_, _, offset) = message, maskedInput.isEmpty { maskedInput = envelope.bytes; payloadOffset = offset }
        }
        let inputs = Fixture.inputs(k: k, d: d, seed: 34)
        group.run(inputs: inputs)

        // Their t-1 shares of the target's mask key do not determine it.
        #expect(keyShares.count == t - 1)
        #expect(throws: CryptoError.self) { try Shamir.combine(keyShares, threshold: t) }
        #expect(try Shamir.combine(keyShares, threshold: t - 1) != targetKey)

        // The target survived, so the colluders legitimately learned b_target; strip it and the
        // pairwise masks they share with the target. Its masks with honest members remain.
        let seedHolders = audit.pooledHolders(of: .init(owner: target, kind: .seed), pool: Set(colluders))
        #expect(seedHolders.count >= t)
        let seedShares = try seedShareValues(audit: audit, target: target, colluders: colluders, group: group)
        let selfSeed = try Shamir.combine(Array(seedShares.prefix(t)), threshold: t)
        var residual = [UInt32](repeating: 0, count: d)
        let payload = payloadOffset
        maskedInput.withUnsafeBytes { raw in
            residual.withUnsafeMutableBufferPointer {
                MaskKernels.addLittleEndian(UnsafeRawBufferPointer(rebasing: raw[payload...]), into: $0)
            }
        }
        var terms = [MaskTerm(seed: selfSeed, negate: true)]
        let targetMaskKey = try #require(group.sessions[0].maskKeyOf[target])
        for (i, c) in colluders.enumerated() {
            let pair = try PairwiseSeed.derive(ownKeys: colluderKeys[i], ownIndex: c, peerKey: targetMaskKey,
                                               peerIndex: target, context: configuration.context)
            terms.append(MaskTerm(seed: pair, negate: !PairwiseSeed.isNegated(owner: target, partner: c)))
        }
        residual.withUnsafeMutableBufferPointer { MaskKernels.apply(terms, to: $0) }
        let difference = zip(residual, inputs[target]).map { $0 &- $1 }
        #expect(difference.filter { $0 == 0 }.count < 3)
        let meanOnes = Double(difference.reduce(0) { $0 + $1.nonzeroBitCount }) / Double(d)
        #expect(abs(meanOnes - 16) < 0.1)
    }

    /// The seed shares of `target` that reached the colluders, rebuilt from the audit's record.
    func seedShareValues(audit: ShareAudit, target: Int, colluders: [Int], group: SecAggLocalGroup) throws -> [ShamirShare] {
        audit.revealedValues[ShareAudit.Secret(owner: target, kind: .seed)]?
            .filter { colluders.contains($0.key.recipient) }
            .map { ShamirShare(index: UInt8($0.key.holder + 1), value: $0.value) }
            .sorted { $0.index < $1.index }
            .reduce(into: [ShamirShare]()) { unique, share in
                if !unique.contains(where: { $0.index == share.index }) { unique.append(share) }
            } ?? []
    }
}

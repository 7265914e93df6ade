import Crypto
@testable import SecureAggregation
import Testing
import TestKit

/// Messages from elsewhere, replays, truncations and garbage are rejected with a reason and
/// never crash a session or change its result.
@Suite struct HostileInputTests {
    func started(_ configuration: SecAggConfiguration, seed: UInt64 = 1) -> SecAggSession {
        var rng = seededRandom(seed)
        var session = SecAggSession(configuration: configuration, rng: &rng)
        _ = try! session.start(input: Array(repeating: 0, count: configuration.vectorLength), now: .zero)
        return session
    }

    /// Member 1's advertisement in a session configured like `configuration`.
    func advertisement(_ configuration: SecAggConfiguration, seed: UInt64 = 2) -> [UInt8] {
        var rng = seededRandom(seed)
        var sender = SecAggSession(configuration: try! configuration.forMember(1), rng: &rng)
        let actions = try! sender.start(input: Array(repeating: 0, count: configuration.vectorLength), now: .zero)
        guard case let .send(_, bytes) = actions[0] else { return [] }
        return bytes
    }

    @Test func messagesBoundToAnotherRoundGroupNetworkOrSetupAreRejected() throws {
        let base = Fixture.configuration(k: 4, d: 24)
        var session = started(base)
        let members = base.members
        let others: [SecAggConfiguration] = [
            Fixture.configuration(k: 4, d: 24, round: 6),
            Fixture.configuration(k: 4, d: 24, group: 3),
            Fixture.configuration(k: 4, d: 24, networkID: [UInt8](repeating: 8, count: 32)),
            Fixture.configuration(k: 4, d: 25),
            Fixture.configuration(k: 4, t: 4, d: 24),
            try SecAggConfiguration(networkID: Fixture.networkID, round: 5, group: 2, members: [members[1], members[0], members[2], members[3]],
                                    me: 0, threshold: 3, vectorLength: 24, phaseTimeout: .seconds(10)),
        ]
        for other in others {
            #expect(throws: SecAggRejection.wrongContext) { try session.receive(from: 1, bytes: advertisement(other), now: .zero) }
        }
        // The same advertisement with the right binding is accepted once (and answered with a copy
        // of this member's own, which went out before it came); a copy of it changes nothing (members
        // re-send theirs, §7.1); another one from the same member is a duplicate.
        let genuine = advertisement(base)
        let answer = try session.receive(from: 1, bytes: genuine, now: .zero)
        guard case let .send(to, bytes)? = answer.first else { Issue.record("no copy of the own advertisement"); return }
        #expect(answer.count == 1 && to == 1 && SecAggMessageKind(rawValue: bytes[1]) == .advertise)
        #expect(try session.receive(from: 1, bytes: genuine, now: .zero).isEmpty)
        #expect(throws: SecAggRejection.duplicate(.advertise)) { try session.receive(from: 1, bytes: advertisement(base, seed: 3), now: .zero) }
    }

    @Test func aWholeRoundReplayedIntoTheNextRoundChangesNothing() {
        var recorded: [SecAggLocalGroup.Envelope] = []
        var previous = try! SecAggLocalGroup(configuration: Fixture.configuration(k: 5, d: 30, round: 5), seed: 1)
        previous.observe = { recorded.append($0) }
        previous.run(inputs: Fixture.inputs(k: 5, d: 30, seed: 2))

        var next = try! SecAggLocalGroup(configuration: Fixture.configuration(k: 5, d: 30, round: 6), seed: 1)
        var replayed = recorded[...]
        next.transit = { envelope in
            // Every genuine message is preceded by a stale one on the same channel.
            var out: [SecAggLocalGroup.Envelope] = []
            if let index = replayed.firstIndex(where: { $0.from == envelope.from && $0.to == envelope.to }) {
                out.append(replayed[index])
                replayed.remove(at: index)
            }
            return out + [envelope]
        }
        let inputs = Fixture.inputs(k: 5, d: 30, seed: 3)
        let outcomes = next.run(inputs: inputs)
        for m in 0..<5 { #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: Array(0..<5))) }
        #expect(!next.rejections.isEmpty)
        #expect(next.rejections.allSatisfy { $0.reason == .wrongContext })
    }

    @Test func duplicatedMessagesAreRejectedAsDuplicates() {
        var group = try! SecAggLocalGroup(configuration: Fixture.configuration(k: 6, d: 30), seed: 4)
        group.transit = { [$0, $0] }
        let inputs = Fixture.inputs(k: 6, d: 30, seed: 5)
        let outcomes = group.run(inputs: inputs)
        for m in 0..<6 { #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: Array(0..<6))) }
        for (envelope, reason) in group.rejections {
            guard case .duplicate = reason else { Issue.record("\(envelope): \(reason)"); continue }
        }
        #expect(group.rejections.count > 30)
    }

    @Test func everyTruncationOfEveryMessageTypeIsRejected() {
        let captured = Harness.capture(k: 4)
        #expect(captured.count == SecAggMessageKind.allCases.count)
        for (kind, envelope) in captured {
            var session = started(Fixture.configuration(k: 4, d: 24), seed: 9)
            for length in 0..<envelope.bytes.count {
                do {
                    _ = try session.receive(from: 1, bytes: Array(envelope.bytes.prefix(length)), now: .zero)
                    Issue.record("\(kind) cut to \(length) bytes was accepted")
                } catch {
                    guard case .malformed = error else { Issue.record("\(kind) cut to \(length): \(error)"); continue }
                }
            }
        }
    }

    @Test func randomGarbageAndMutationsNeverCrash() {
        let captured = Harness.capture(k: 4)
        var rng = seededRandom(11)
        var accepted = [0, 0, 0]  // by kind of input below
        for round in 0..<3_000 {
            var session = started(Fixture.configuration(k: 4, d: 24), seed: UInt64(round % 7))
            var bytes: [UInt8]
            let template = Array(captured.values)[round % captured.count].bytes
            switch round % 3 {
            case 0: // pure garbage
                bytes = rng.bytes(Int(rng.nextUInt64() % 160))
            case 1: // a real message with a few random bytes changed
                bytes = template
                for _ in 0..<(1 + rng.nextUInt64() % 4) { bytes[Int(rng.nextUInt64() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.nextUInt64()) }
            default: // a real header, a garbage body
                bytes = Array(template.prefix(SecAggWire.headerByteCount)) + rng.bytes(Int(rng.nextUInt64() % 120))
                bytes[1] = UInt8(1 + rng.nextUInt64() % 5)
            }
            let from = Int(rng.nextUInt64() % 6) - 1
            if (try? session.receive(from: from, bytes: bytes, now: .zero)) != nil {
                accepted[round % 3] += 1
                // Senders outside the group (-1, 4) or the member itself (0) are refused whatever the bytes.
                #expect((1...3).contains(from), "accepted \(bytes.count) bytes from \(from)")
            }
            _ = session.tick(now: .seconds(1_000))
        }
        // Garbage never carries this session's context (network, round, group, members, sizes);
        // only mutations that left a message well-formed and bound to this session get through
        // (a changed key or masked value is indistinguishable from a genuine one).
        #expect(accepted[0] == 0, "pure garbage accepted \(accepted[0]) times")
        #expect(accepted[1] > 0, "no mutation got through: the loop never reached the parsers' accepting paths")
    }

    @Test func garbageInterleavedWithARoundLeavesTheSumExact() {
        var group = try! SecAggLocalGroup(configuration: Fixture.configuration(k: 5, d: 40), seed: 21)
        var rng = seededRandom(22)
        group.transit = { envelope in
            var copies = [envelope]
            var truncated = envelope.bytes
            truncated.removeLast(1 + Int(rng.nextUInt64() % UInt64(truncated.count)))
            copies.append(.init(from: envelope.from, to: envelope.to, bytes: truncated))
            var wrongContext = envelope.bytes
            wrongContext[2 + Int(rng.nextUInt64() % 16)] ^= 0x5a
            copies.append(.init(from: envelope.from, to: envelope.to, bytes: wrongContext))
            copies.append(.init(from: envelope.from, to: envelope.to, bytes: rng.bytes(Int(rng.nextUInt64() % 300))))
            return copies
        }
        let inputs = Fixture.inputs(k: 5, d: 40, seed: 23)
        let outcomes = group.run(inputs: inputs)
        for m in 0..<5 { #expect(outcomes[m]?.result?.sum == Fixture.sum(inputs, of: Array(0..<5))) }
        #expect(group.rejections.count >= 3 * 5 * 4 * 4)
    }

    @Test func messagesNameTheirSessionForRouting() {
        let here = Fixture.configuration(k: 4, d: 24), next = Fixture.configuration(k: 4, d: 24, round: 6)
        #expect(SecAggSession.sessionTag(ofMessage: advertisement(here)) == here.sessionTag)
        #expect(SecAggSession.sessionTag(ofMessage: advertisement(next)) == next.sessionTag)
        #expect(here.sessionTag != next.sessionTag)
        #expect(SecAggSession.sessionTag(ofMessage: [1, 1, 2]) == nil)
    }

    // MARK: Specific checks

    @Test func senderIndicesAreChecked() {
        var session = started(Fixture.configuration(k: 4, d: 24))
        let bytes = advertisement(Fixture.configuration(k: 4, d: 24))
        for bad in [-1, 0, 4, 99] {
            #expect(throws: SecAggRejection.notAPeer(bad)) { try session.receive(from: bad, bytes: bytes, now: .zero) }
        }
        #expect(throws: SecAggRejection.wrongSender(claimed: 1, actual: 2)) { try session.receive(from: 2, bytes: bytes, now: .zero) }
        var otherVersion = bytes
        otherVersion[0] = 1   // before advertisements carried the seed commitment
        #expect(throws: SecAggRejection.unsupportedVersion(1)) { try session.receive(from: 1, bytes: otherVersion, now: .zero) }
    }

    @Test func aLowOrderMaskKeyIsRefused() throws {
        let configuration = Fixture.configuration(k: 4, d: 24)
        var session = started(configuration)
        let weak = try PublicKey(bytes: [UInt8](repeating: 0, count: 32))
        let bytes = SecAggWire.advertise(maskKey: weak, seedCommitment: Array(repeating: 0, count: 32), annotation: [],
                                         try configuration.forMember(1))
        #expect(throws: SecAggRejection.weakMaskKey) { try session.receive(from: 1, bytes: bytes, now: .zero) }
    }

    /// A group of four whose messages of `kind` to member 0 are all held back, and member 1's.
    func heldFromMemberOne(_ kind: SecAggMessageKind) throws -> (Harness, genuine: Harness.Envelope) {
        var harness = Harness(k: 4)
        harness.startAll()
        harness.pump(hold: { $0.kind == kind && $0.to == 0 })
        return (harness, try #require(harness.held.first { $0.from == 1 }))
    }

    @Test func maskedInputsWithImpossibleMaskSetsAreRefused() throws {
        var (harness, genuine) = try heldFromMemberOne(.maskedInput)
        let bitmapAt = SecAggWire.headerByteCount
        var selfMasked = genuine.bytes
        selfMasked[bitmapAt] |= 1 << 1
        var outsider = genuine.bytes
        outsider[bitmapAt] |= 1 << 6
        // Member 1's partners are 0, 2 and 3: key fingerprints of 1, 0, 2, 3 follow the bitmap.
        let keysAt = bitmapAt + MemberSet.bitmapByteCount(groupSize: 4)
        let width = SecAggWire.keyFingerprintByteCount
        var withoutMe = genuine.bytes
        withoutMe[bitmapAt] &= ~1
        withoutMe.removeSubrange((keysAt + width)..<(keysAt + 2 * width))
        var tooLong = genuine.bytes
        tooLong += [0, 0, 0, 0]
        let expected: [([UInt8], String)] = [(selfMasked, "a member cannot mask with itself"),
                                             (outsider, "mask set bitmap names a member beyond the group"),
                                             (tooLong, "masked input of 100 bytes, expected 96")]
        for (bad, why) in expected {
            #expect(throws: SecAggRejection.malformed(why)) { try harness.sessions[0].receive(from: 1, bytes: bad, now: .zero) }
        }
        // Member 0 masked with member 1, so an input claiming otherwise cannot be summed.
        #expect(throws: SecAggRejection.inconsistentMaskSet(member: 1)) {
            try harness.sessions[0].receive(from: 1, bytes: withoutMe, now: .zero)
        }
        // Made with another key of its sender (another incarnation), or masked with a key of
        // member 0 or 2 other than theirs: the masks would neither cancel nor be removable.
        for (position, member) in [(0, 1), (1, 0), (2, 2)] {
            var otherKey = genuine.bytes
            otherKey[keysAt + width * position] ^= 1
            #expect(throws: SecAggRejection.otherMaskKey(member: member)) {
                try harness.sessions[0].receive(from: 1, bytes: otherKey, now: .zero)
            }
        }
        _ = try harness.sessions[0].receive(from: 1, bytes: genuine.bytes, now: .zero)
        #expect(throws: SecAggRejection.duplicate(.maskedInput)) { try harness.sessions[0].receive(from: 1, bytes: genuine.bytes, now: .zero) }
    }

    @Test func unmaskRequestsThatWouldExposeTooFewInputsAreRefused() throws {
        var harness = Harness(k: 5)
        harness.startAll()
        harness.pump(hold: { $0.kind == .unmaskRequest && $0.to == 0 })
        let configuration = try harness.configuration.forMember(1)
        let cases: [(MemberSet, MemberSet, String)] = [
            (MemberSet([1, 2]), MemberSet([0, 3, 4]), "2 survivors, fewer than 3"),  // would unmask a sum of two
            (MemberSet([0, 2, 3, 4]), MemberSet(), "requester is not among its survivors"),
            (MemberSet([1, 2, 3]), MemberSet([3, 4]), "a member is both survivor and dropped"),
        ]
        for (survivors, dropped, why) in cases {
            let bytes = SecAggWire.unmaskRequest(survivors: survivors, dropped: dropped, configuration)
            #expect(throws: SecAggRejection.invalidRequest(why)) { try harness.sessions[0].receive(from: 1, bytes: bytes, now: .zero) }
        }
        let genuine = try #require(harness.held.first { $0.from == 1 })
        _ = try harness.sessions[0].receive(from: 1, bytes: genuine.bytes, now: .zero)
        #expect(throws: SecAggRejection.duplicate(.unmaskRequest)) { try harness.sessions[0].receive(from: 1, bytes: genuine.bytes, now: .zero) }
    }

    /// Shares carry the fingerprint of their sender's mask key: shares of another incarnation of
    /// the sender are refused, whether its advertisement came before them or after.
    @Test func sharesMadeWithAnotherKeyAreRefused() throws {
        var (harness, genuine) = try heldFromMemberOne(.shares)
        var otherKey = genuine.bytes
        otherKey[otherKey.count - 1] ^= 1
        #expect(throws: SecAggRejection.otherMaskKey(member: 1)) { try harness.sessions[0].receive(from: 1, bytes: otherKey, now: .zero) }
        _ = try harness.sessions[0].receive(from: 1, bytes: genuine.bytes, now: .zero)

        // Shares first, then an advertisement with another key than the shares name.
        var late = Harness(k: 4)
        for m in [0, 2, 3] { late.perform(try! late.sessions[m].start(input: late.inputs[m], now: .zero), by: m) }
        late.pump()
        late.perform(try! late.sessions[1].start(input: late.inputs[1], now: .zero), by: 1)
        late.pump(hold: { $0.from == 1 && $0.to == 0 })
        let advertisement = try #require(late.held.first { $0.kind == .advertise })
        let shares = try #require(late.held.first { $0.kind == .shares })
        _ = try late.sessions[0].receive(from: 1, bytes: shares.bytes, now: .zero)
        var otherAdvertisement = advertisement.bytes
        otherAdvertisement[SecAggWire.headerByteCount] ^= 1
        #expect(throws: SecAggRejection.otherMaskKey(member: 1)) {
            try late.sessions[0].receive(from: 1, bytes: otherAdvertisement, now: .zero)
        }
        _ = try late.sessions[0].receive(from: 1, bytes: advertisement.bytes, now: .zero)
    }

    @Test func responsesWithUnrequestedSharesAreRefused() throws {
        var harness = Harness(k: 5)
        harness.startAll()
        harness.pump(hold: { $0.kind == .unmaskResponse && $0.to == 0 })
        #expect(harness.sessions[0].phase == .unmasking)
        // Nobody dropped, so member 0 asked for no key shares.
        let share = SecretBytes(copying: [UInt8](repeating: 1, count: 32))
        let bytes = SecAggWire.unmaskResponse(.shares(seed: [:], key: [2: share]), try harness.configuration.forMember(1))
        #expect(throws: SecAggRejection.malformed("unmask response carries shares that were not requested")) {
            try harness.sessions[0].receive(from: 1, bytes: bytes, now: .zero)
        }
        // The genuine answers still complete the round.
        for envelope in harness.held where envelope.to == 0 {
            harness.perform(try harness.sessions[0].receive(from: envelope.from, bytes: envelope.bytes, now: .zero), by: 0)
        }
        #expect(harness.results[0]?.sum == Fixture.sum(harness.inputs, of: Array(0..<5)))
    }

    @Test func aClosedSessionRejectsEverything() {
        let configuration = Fixture.configuration(k: 4, d: 24)
        var session = started(configuration)
        _ = session.tick(now: .seconds(10))            // advertise deadline: alone, waits once more
        #expect(session.phase == .advertising)
        _ = session.tick(now: .seconds(20))            // still alone: fails
        #expect(session.phase == .failed)
        _ = session.tick(now: .seconds(1_000))         // lingering over: closes
        #expect(session.isClosed)
        #expect(session.nextDeadline == nil)
        #expect(throws: SecAggRejection.unexpected(.advertise, phase: .closed)) {
            try session.receive(from: 1, bytes: advertisement(configuration), now: .seconds(1_001))
        }
    }

    @Test func misuseByTheDriverIsReported() {
        let configuration = Fixture.configuration(k: 4, d: 24)
        var rng = seededRandom(1)
        var session = SecAggSession(configuration: configuration, rng: &rng)
        #expect(throws: SecAggUsageError.wrongInputLength(expected: 24, actual: 3)) { try session.start(input: [1, 2, 3], now: .zero) }
        #expect(throws: SecAggUsageError.annotationTooLong(65)) {
            try session.start(input: Array(repeating: 0, count: 24), annotation: Array(repeating: 0, count: 65), now: .zero)
        }
        _ = try? session.start(input: Array(repeating: 0, count: 24), now: .zero)
        #expect(throws: SecAggUsageError.alreadyStarted) { try session.start(input: Array(repeating: 0, count: 24), now: .zero) }
    }

    @Test func unsafeConfigurationsAreRefused() {
        let keys = Fixture.members(6)
        func make(_ members: [PublicKey], t: Int, d: Int = 10, network: Int = 32, timeout: Duration = .seconds(1)) throws {
            _ = try SecAggConfiguration(networkID: [UInt8](repeating: 0, count: network), round: 0, group: 0, members: members,
                                        me: 0, threshold: t, vectorLength: d, phaseTimeout: timeout)
        }
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(2)), t: 2) }   // k < 3
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(4)), t: 2) }   // t <= k/2
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(3)), t: 2) }   // t < 3
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(6)), t: 3) }   // t = k/2
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(5)), t: 6) }   // t > k
        #expect(throws: SecAggConfigurationError.self) { try make([keys[0], keys[1], keys[0]], t: 3) }
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(5)), t: 3, d: 0) }
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(5)), t: 3, network: 31) }
        #expect(throws: SecAggConfigurationError.self) { try make(Array(keys.prefix(5)), t: 3, timeout: .zero) }
        #expect(throws: Never.self) { try make(Array(keys.prefix(5)), t: 3) }
        #expect(throws: Never.self) { try make(Array(keys.prefix(3)), t: 3) }
    }
}

import Crypto
@testable import Node
import Testing
import TestKit
@testable import Transport

/// A peer that misbehaves — garbage, replays, impersonation, floods, lies about dropouts — in a
/// group of five real node machines over real transports. Whatever it does, honest nodes never
/// crash, finish every round with the exact average of the honest members (and of the adversary
/// when its genuine messages got through), never let it rebuild both secrets of an honest member,
/// hold bounded memory, and count what they refused.
@Suite struct AdversarialPeerTests {
    /// The round of a node envelope, and the envelope with another round (or kind) written in.
    static func round(of message: [UInt8]) -> UInt64 {
        guard case let .secureAggregation(round, _)? = NodeEnvelope(bytes: message) else { return 0 }
        return round
    }

    static func withRound(_ message: [UInt8], _ round: UInt64) -> [UInt8] {
        guard case let .secureAggregation(_, payload)? = NodeEnvelope(bytes: message) else { return message }
        return NodeEnvelope.secureAggregation(round: round, payload: payload).bytes
    }

    static func metrics(_ net: AttackNetwork) -> NodeMachine.Metrics {
        net.honest.reduce(into: NodeMachine.Metrics()) { total, node in
            let m = net.machines[node].metrics
            total.rejectedMessages += m.rejectedMessages
            total.staleMessages += m.staleMessages
            total.droppedBufferedMessages += m.droppedBufferedMessages
            total.roundsSkipped += m.roundsSkipped
        }
    }

    static func expectUnharmed(_ net: AttackNetwork, rounds: UInt64? = 6, adversaryContributes: Bool,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        let problems = net.honestProblems()
        #expect(problems.isEmpty, "\(problems.prefix(5))", sourceLocation: sourceLocation)
        if let rounds {
            #expect(net.honest.allSatisfy { net.stopped[$0] == rounds }, "\(net.stopped)", sourceLocation: sourceLocation)
        }
        if adversaryContributes {
            #expect(net.roundsWithAdversary == net.honest.count * Int(net.stopped[net.honest[0]] ?? 0),
                    "the adversary's genuine messages still counted", sourceLocation: sourceLocation)
        }
        let exposed = net.exposedToAdversary(threshold: 3)
        #expect(exposed.isEmpty, "the adversary could unmask \(exposed)", sourceLocation: sourceLocation)
        #expect(net.peakBuffered <= AttackNetwork.bufferBudget, sourceLocation: sourceLocation)
        #expect(net.peakReassemblyFromAdversary <= AttackNetwork.transportConfiguration.peerReassemblyLimit,
                sourceLocation: sourceLocation)
        #expect(net.peakReassembly <= AttackNetwork.transportConfiguration.totalReassemblyLimit, sourceLocation: sourceLocation)
    }

    @Test func garbageIsCountedAndChangesNothing() throws {
        final class State { var random = seededRandom(21) }
        let state = State()
        let hooks = Adversary()
        hooks.rewrite = { to, message, _ in
            var out = [(to, message)]
            let r = state.random.nextUInt64()
            let junk = state.random.bytes(Int(r % 300))
            out.append((to, junk))                                                             // random bytes
            out.append((to, NodeEnvelope.secureAggregation(round: Self.round(of: message), payload: junk).bytes))
            out.append((to, NodeEnvelope.liveness(round: 1, payload: Array(junk.prefix(7))).bytes))       // bad liveness
            out.append((to, [UInt8(3 + r % 250)] + junk))                                       // unknown kind
            out.append((to, Array(message.prefix(Int(r % UInt64(message.count))))))           // truncated
            var flipped = message
            let bit = Int(r >> 20) % ((message.count - 9) * 8)
            flipped[9 + bit / 8] ^= 1 << UInt8(bit % 8)                                        // one bit off
            out.append((to, flipped))
            return out
        }
        var net = try AttackNetwork(hooks: hooks)
        net.run()
        Self.expectUnharmed(net, adversaryContributes: true)
        #expect(Self.metrics(net).rejectedMessages > 100)
    }

    @Test func replayedOldRoundsAreStale() throws {
        final class History { var sent: [Int: [[UInt8]]] = [:] }
        let history = History()
        let hooks = Adversary()
        hooks.rewrite = { to, message, _ in
            // Every earlier message to this peer again, before the genuine one.
            let earlier = history.sent[to, default: []].filter { Self.round(of: $0) < Self.round(of: message) }
            history.sent[to, default: []].append(message)
            return earlier.map { (to, $0) } + [(to, message)]
        }
        var net = try AttackNetwork(hooks: hooks)
        net.run()
        Self.expectUnharmed(net, adversaryContributes: true)
        #expect(Self.metrics(net).staleMessages + Self.metrics(net).rejectedMessages > 50)
    }

    @Test func claimingToBeAnotherMemberIsRefused() throws {
        let hooks = Adversary()
        hooks.rewrite = { to, message, _ in
            guard case let .secureAggregation(round, payload)? = NodeEnvelope(bytes: message), payload.count >= 20 else {
                return [(to, message)]
            }
            // The same message claiming each honest member as sender (SPEC §7.4 header bytes 18-19).
            var out: [(Int, [UInt8])] = []
            for claimed in 0..<4 {
                var forged = payload
                forged[18] = UInt8(claimed)
                forged[19] = 0
                out.append((to, NodeEnvelope.secureAggregation(round: round, payload: forged).bytes))
            }
            return out + [(to, message)]
        }
        var net = try AttackNetwork(hooks: hooks)
        net.run()
        Self.expectUnharmed(net, adversaryContributes: true)
        #expect(Self.metrics(net).rejectedMessages >= 3 * 4 * 4)
    }

    /// Large messages for the current round and for far rounds ahead, plus claims of rounds an
    /// honest node must never jump to: memory stays within the budgets, honest future-round
    /// messages are not crowded out, nobody skips a round, and all stop together on convergence.
    /// A peer that claims a later round has, by its own word, left the round: honest members stop
    /// waiting for it (SPEC §8), so its lies exclude only itself.
    @Test func floodsOfOversizedAndFarFutureMessagesStayBounded() throws {
        final class Counter { var sent = 0 }
        let counter = Counter()
        let hooks = Adversary()
        hooks.rewrite = { to, message, _ in
            counter.sent += 1
            let round = Self.round(of: message)
            let big = [UInt8](repeating: UInt8(counter.sent & 0xFF), count: counter.sent % 8 == 0 ? 400_000 : 10_000)
            return [(to, message),
                    (to, NodeEnvelope.secureAggregation(round: round, payload: big).bytes),
                    (to, NodeEnvelope.secureAggregation(round: round + 1 + UInt64(counter.sent % 40), payload: Array(big.prefix(3_000))).bytes),
                    (to, Self.withRound(message, round + 500)),
                    (to, Self.withRound(message, .max))]
        }
        var net = try AttackNetwork(maxRounds: 1000, patience: 2, hooks: hooks)
        net.run()
        Self.expectUnharmed(net, rounds: nil, adversaryContributes: false)
        let stops = net.honest.compactMap { net.stopped[$0] }
        #expect(stops.count == 4 && Set(stops).count == 1 && stops[0] < 100, "converged together: \(stops)")
        let metrics = Self.metrics(net)
        #expect(metrics.roundsSkipped == 0, "one peer's claims never drag a node ahead")
        #expect(metrics.droppedBufferedMessages > 0 && metrics.rejectedMessages > 0)
        #expect(net.honest.allSatisfy { net.machines[$0].highestRoundSeen < 100 })
    }

    /// The adversary asks to unmask with a view in which an honest member dropped (to get its
    /// mask key besides its seed). The honest members agree on the true view, so it never gets
    /// a quorum: every honest responder refuses it, and no honest secret is exposed.
    @Test func lyingAboutDropoutsGetsRefused() throws {
        let hooks = Adversary()
        hooks.rewrite = { to, message, _ in
            guard case let .secureAggregation(round, payload)? = NodeEnvelope(bytes: message),
                  payload.count == 22, payload[1] == 4 else { return [(to, message)] }
            var lie = payload
            let victim = (Int(round) + to) % 4
            lie[20] &= ~(1 << UInt8(victim))  // not among the survivors...
            lie[21] |= 1 << UInt8(victim)     // ...but dropped: asks for its mask key shares
            return [(to, NodeEnvelope.secureAggregation(round: round, payload: lie).bytes)]
        }
        var net = try AttackNetwork(hooks: hooks)
        net.run()
        // Its input counted (the honest view holds it), its own session fails: nobody answered it.
        Self.expectUnharmed(net, adversaryContributes: true)
        #expect((net.aggregations[net.adversary] ?? []).allSatisfy { $0.average == nil })
        let answers = net.toAdversary.filter {
            guard case let .secureAggregation(_, payload)? = NodeEnvelope(bytes: $0.message) else { return false }
            return payload.count > 20 && payload[1] == 5
        }
        #expect(!answers.isEmpty && answers.allSatisfy { Self.payload($0.message)[20] == 1 }, "every answer is a refusal")
    }

    /// The adversary's masked input names mask partners it did not use: about the recipient
    /// itself (which the recipient can check) or, differently to each recipient, about others
    /// (equivocation, which no single member can detect). Its input may then be refused, make
    /// an honest input look inconsistent, or spoil a sum it got into (as any lying input can:
    /// poisoning is outside the threat model), so rounds may fail; but no honest node crashes or
    /// hangs, a sum without the liar's input is exact, and no honest secret pair is exposed.
    @Test(arguments: [false, true])
    func lyingAboutMaskPartnersExposesNobody(aboutOthers: Bool) throws {
        let hooks = Adversary()
        hooks.rewrite = { to, message, _ in
            guard case let .secureAggregation(round, payload)? = NodeEnvelope(bytes: message),
                  payload.count > 21, payload[1] == 3 else { return [(to, message)] }
            var lie = payload
            lie[20] ^= 1 << UInt8(aboutOthers ? (to + 1) % 4 : to)
            return [(to, NodeEnvelope.secureAggregation(round: round, payload: lie).bytes)]
        }
        var net = try AttackNetwork(hooks: hooks)
        net.run()
        let problems = net.honestProblems(tolerateAdversaryInput: true)
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(net.honest.allSatisfy { net.stopped[$0] == 6 })
        #expect(net.exposedToAdversary(threshold: 3).isEmpty)
        // The exactness check above covers rounds that completed without the liar: a lie the
        // recipient can check must leave some (the liar excluded), or that check saw nothing.
        let withoutLiar = net.honest.flatMap { net.aggregations[$0] ?? [] }
            .filter { $0.average != nil && $0.group.contains(net.adversary) && !$0.contributors.contains(net.adversary) }
        if !aboutOthers { #expect(!withoutLiar.isEmpty, "no round completed with the liar excluded") }
        // Either way the exactness check must have had sums to check: honest averages without the liar.
        let checked = net.honest.flatMap { net.aggregations[$0] ?? [] }.filter { $0.average != nil && !$0.contributors.contains(net.adversary) }
        #expect(!checked.isEmpty, "no honest sum without the liar's input completed")
        #expect(Self.metrics(net).rejectedMessages > 0)
        #expect(net.peakBuffered <= AttackNetwork.bufferBudget)
    }

    /// The exposure audit itself: two honest responders' seed shares and two key shares of the
    /// same member reaching the adversary (which holds a share of each) make three of each.
    @Test func theExposureAuditSeesAFullPair() throws {
        var net = try AttackNetwork(hooks: Adversary())
        func response(from responder: Int, seeds: UInt8, keys: UInt8) -> (Int, [UInt8]) {
            var payload = [UInt8](repeating: 0, count: 23)
            payload[1] = 5
            payload[21] = seeds
            payload[22] = keys
            return (responder, NodeEnvelope.secureAggregation(round: 3, payload: payload).bytes)
        }
        net.toAdversary = [response(from: 0, seeds: 0b10, keys: 0), response(from: 2, seeds: 0b10, keys: 0b10)]
        #expect(net.exposedToAdversary(threshold: 3).isEmpty)
        net.toAdversary.append(response(from: 3, seeds: 0, keys: 0b10))
        #expect(net.exposedToAdversary(threshold: 3).map(\.member) == [1])
    }

    static func payload(_ message: [UInt8]) -> [UInt8] {
        guard case let .secureAggregation(_, payload)? = NodeEnvelope(bytes: message) else { return [] }
        return payload
    }
}

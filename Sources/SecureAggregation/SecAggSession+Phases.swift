import Crypto

/// The phase transitions of SPEC §7.1: each one fixes what this member decided in the phase it
/// leaves and emits that phase's messages.
extension SecAggSession {
    /// Moves on early when everything a phase waits for has arrived.
    mutating func advance(now: Duration) -> [SecAggAction] {
        var actions: [SecAggAction] = []
        while true {
            switch phase {
            case .advertising where (0..<k).allSatisfy({ maskKeyOf[$0] != nil || givenUp.contains($0) }):
                let present = maskKeyOf.filter { $0 != nil }.count
                guard present >= t else {
                    return actions + fail(tooFew(.advertising, taking: (0..<k).filter { maskKeyOf[$0] != nil }), now: now)
                }
                actions += enterSharing(now: now)
            case .sharing where sharedWith.allSatisfy({ heldKeyShareOf[$0] != nil || givenUp.contains($0) }):
                actions += enterMasking(now: now)
            case .masking where awaitedInputs.isSubset(of: survivors.union(givenUp)):
                actions += enterUnmasking(now: now)
            case .unmasking where collector?.isReadyToReconstruct == true:
                actions += complete(now: now)
            default:
                return actions
            }
        }
    }

    /// Share: send each member who advertised its shares of this member's two secrets.
    ///
    /// Leaving the advertise phase early because members were given up on, this member must
    /// still wait for the shares of members whose failure detectors reached no verdict yet: they
    /// may wait for the missing advertisements until their own advertise deadline, so the share
    /// phase lasts until a phase timeout after this member's.
    mutating func enterSharing(now: Duration) -> [SecAggAction] {
        sharedWith = MemberSet((0..<k).filter { maskKeyOf[$0] != nil })
        phase = .sharing
        let others = sharedWith.count < k ? max(now, advertiseDeadline ?? now) : now
        nextDeadline = others + configuration.phaseTimeout
        return sharedWith.filter { $0 != me }.map { v in
            .send(to: v, bytes: SecAggWire.shares(keyShare: ownKeyShares[v], seedShare: ownSeedShares[v],
                                                  roster: sharedWith, senderKey: maskKeyOf[me]!, configuration))
        }
    }

    /// Masked inputs this member waits for: its mask partners', and those of every member that
    /// shared with it, since each member sends its input to its whole roster (below).
    var awaitedInputs: MemberSet {
        maskedWith.union(MemberSet((0..<k).filter { heldKeyShareOf[$0] != nil })).union(MemberSet([me]))
    }

    /// Masked input: mask with every member that advertised, received our shares and sent us theirs,
    /// and send the input to every member of this member's roster, partner or not.
    ///
    /// Why the whole roster: a member whose roster lacks u (it gave up on u just before u's
    /// advertisement came, as after u restarted) does not mask with u, while the rest of the
    /// group does. Sent only to partners, u's input never reached that member nor its input u, so
    /// each dropped the other and the group's views split three ways, failing the round for all.
    /// A non-partner sums an input that does not mask with it like any other (its pairwise masks
    /// with the partners cancel), and u's roster members hold u's shares, so they wait for it.
    /// Members given up on get it only if they are partners: a dead member needs no large message.
    mutating func enterMasking(now: Duration) -> [SecAggAction] {
        maskedWith = MemberSet(sharedWith.filter { v in
            v != me && heldKeyShareOf[v] != nil && pairSeedOf[v] != nil && !mustNotMaskWith.contains(v)
        })
        guard maskedWith.count + 1 >= t, let selfSeed else {
            return fail(tooFew(.sharing, taking: Array(maskedWith) + [me]), now: now)
        }
        let pairwise = maskedWith.compactMap { v in
            pairSeedOf[v].map { MaskTerm(seed: $0, negate: PairwiseSeed.isNegated(owner: me, partner: v)) }
        }
        if sum.isEmpty { sum = Array(repeating: 0, count: configuration.vectorLength) }
        // Every owner's key is held: a partner's pair seed was derived from it, and this member's own.
        let keys = SecAggWire.maskedInputKeyOwners(sender: me, partners: maskedWith).compactMap { maskKeyOf[$0] }
        assert(keys.count == maskedWith.count + 1)
        let message = SecAggWire.maskedInput(maskedWith: maskedWith, keys: keys, configuration) { payload in
            input.withUnsafeBufferPointer { x in
                sum.withUnsafeMutableBufferPointer { s in
                    MaskKernels.mask(input: x, pairwise: pairwise, selfMask: selfSeed, sum: s, message: payload)
                }
            }
        }
        input = []
        // Inputs still held: their senders' shares never came, so this member does not mask with
        // them while they masked with it; their pairwise masks could not cancel.
        heldInputs = [:]
        survivors.insert(me)
        maskSetOf[me] = maskedWith
        phase = .masking
        nextDeadline = now + configuration.phaseTimeout
        maskingDeadline = nextDeadline
        return sharedWith.filter { $0 != me && (maskedWith.contains($0) || !givenUp.contains($0)) }
            .map { .send(to: $0, bytes: message) }
    }

    /// Unmask: fix the survivor and dropped sets, and ask every other member for the shares needed.
    ///
    /// Leaving the masked-input phase early (every input it waited for came), this member must
    /// still wait for the votes and answers of members that wait for an input it did not need (one
    /// from a member it did not mask with, which crashed before sending it): they unmask only at
    /// their own masked-input deadline. So the unmask phase lasts until a phase timeout after this
    /// member's masked-input deadline. With a phase timeout from entering, the member that finished
    /// first timed out just as the others' votes arrived, while they completed with its answers
    /// (§15's kill scenario, about one run in ten once rounds took ~30 ms).
    mutating func enterUnmasking(now: Duration) -> [SecAggAction] {
        guard survivors.count >= t else {
            return fail(tooFew(.masking, taking: Array(survivors)), now: now)
        }
        dropped = survivors.reduce(MemberSet()) { $0.union(maskSetOf[$1]) }.subtracting(survivors)
        _ = quorum.vote(me, for: UnmaskView(survivors: survivors, dropped: dropped))
        var collector = ShareCollector(seedOf: survivors.subtracting(MemberSet([me])), keyOf: dropped, threshold: t)
        for u in collector.seedMembers { if let share = heldSeedShareOf[u] { collector.add(seedOf: u, from: me, share) } }
        for v in collector.keyMembers { if let share = heldKeyShareOf[v] { collector.add(keyOf: v, from: me, share) } }
        self.collector = collector
        phase = .unmasking
        nextDeadline = max(now, maskingDeadline ?? now) + configuration.phaseTimeout
        let request = SecAggWire.unmaskRequest(survivors: survivors, dropped: dropped, configuration)
        return (0..<k).filter { $0 != me }.map { SecAggAction.send(to: $0, bytes: request) } + answerRequests()
    }

    /// Reconstructs every secret the view needs, checked against its owner's advertisement, then
    /// removes every mask from the running sum and reports it. A secret no t of the shares held
    /// reconstruct (a responder lied, or an owner dealt shares that do not match what it
    /// advertised) waits for more answers while any can come, then fails the round: the sum is
    /// never unmasked with a wrong secret.
    mutating func complete(now: Duration) -> [SecAggAction] {
        guard var collector else { return [] }
        var seeds: [(member: Int, seed: SecretBytes)] = []
        var keys: [(member: Int, keys: KeyPair)] = []
        var unverifiable = MemberSet()
        var budget = ShareCollector.extraSubsetsPerAttempt
        for (u, shares) in collector.seedShares.sorted(by: { $0.key < $1.key }) {
            let commitment = seedCommitmentOf[u]
            let seed = ShareCollector.reconstruct(shares, threshold: t, budget: &budget) { seed in
                SeedCommitment.make(seed: seed, owner: u, context: configuration.context) == commitment ? seed : nil
            }
            if let seed { seeds.append((u, seed)) } else { unverifiable.insert(u) }
        }
        for (v, shares) in collector.keyShares.sorted(by: { $0.key < $1.key }) {
            let advertised = maskKeyOf[v]
            let pair = ShareCollector.reconstruct(shares, threshold: t, budget: &budget) { secret -> KeyPair? in
                guard let pair = try? KeyPair(secretKey: secret), advertised == nil || advertised == pair.publicKey else { return nil }
                return pair
            }
            if let pair { keys.append((v, pair)) } else { unverifiable.insert(v) }
        }
        guard unverifiable.isEmpty else {
            collector.attemptFailed(for: unverifiable)
            self.collector = collector
            return failIfUnrecoverable(now: now)
        }
        var terms = seeds.map { MaskTerm(seed: $0.seed, negate: true) }
        for (v, pair) in keys {
            for u in survivors where maskSetOf[u].contains(v) {
                guard let peerKey = maskKeyOf[u],
                      let seed = try? PairwiseSeed.derive(ownKeys: pair, ownIndex: v, peerKey: peerKey,
                                                          peerIndex: u, context: configuration.context) else {
                    return fail(.reconstructionFailed(member: v), now: now)
                }
                // u's input carries +PRG(s_uv) when u < v; remove it with the opposite sign.
                terms.append(MaskTerm(seed: seed, negate: !PairwiseSeed.isNegated(owner: u, partner: v)))
            }
        }
        sum.withUnsafeMutableBufferPointer { MaskKernels.apply(terms, to: $0) }
        let result = SecAggResult(sum: sum, contributors: Array(survivors), annotations: annotations)
        sum = []
        finish(.completed, now: now)
        return [.completed(result)]
    }

    /// Fails the round with `reconstructionFailed` once every other member has answered or
    /// refused while a secret still fails its check: no share that could help is coming.
    mutating func failIfUnrecoverable(now: Duration) -> [SecAggAction] {
        guard responded.count == k - 1, let member = collector?.unverifiable.min() else { return [] }
        return fail(.reconstructionFailed(member: member), now: now)
    }

    /// `.tooFewMembers` for a phase in which only `taking` (member indices) took part.
    func tooFew(_ phase: SecAggPhase, taking: [Int]) -> SecAggFailure {
        let present = Set(taking)
        return .tooFewMembers(phase: phase, present: present.count, threshold: t,
                              absent: (0..<k).filter { !present.contains($0) })
    }

    mutating func fail(_ failure: SecAggFailure, now: Duration) -> [SecAggAction] {
        sum = []
        input = []
        finish(.failed, now: now)
        return [.failed(failure)]
    }

    /// Terminal: keep answering unmask requests until the round is over for everyone, then close.
    mutating func finish(_ terminal: SecAggPhase, now: Duration) {
        phase = terminal
        heldInputs = [:]
        collector = nil
        maskKeys = nil
        selfSeed = nil
        nextDeadline = max(now + configuration.phaseTimeout, closingTime ?? now)
    }

    /// Drops every secret; later messages are rejected.
    mutating func close() {
        phase = .closed
        nextDeadline = nil
        ownKeyShares = []
        ownSeedShares = []
        pairSeedOf = Array(repeating: nil, count: k)
        heldKeyShareOf = Array(repeating: nil, count: k)
        heldSeedShareOf = Array(repeating: nil, count: k)
        sum = []
        input = []
    }
}

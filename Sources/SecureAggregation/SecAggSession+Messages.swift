import Crypto

/// What a session does with each decoded message. Every check happens before any state changes,
/// so a rejected message leaves the session exactly as it was.
extension SecAggSession {
    mutating func acceptAdvertisement(from v: Int, maskKey: PublicKey, seedCommitment: [UInt8],
                                      annotation: [UInt8]) throws(SecAggRejection) {
        // After this member's own unmask decision a new mask key could no longer be used.
        guard maskKeyOf[v] == nil else { throw .duplicate(.advertise) }
        guard phase < .unmasking else { throw .unexpected(.advertise, phase: phase) }
        // Shares already taken were made by an incarnation of v with another key (v restarted).
        if let early = shareKeyOf[v], early != SecAggWire.keyFingerprint(maskKey) { throw .otherMaskKey(member: v) }
        guard let maskKeys,
              let seed = try? PairwiseSeed.derive(ownKeys: maskKeys, ownIndex: me, peerKey: maskKey,
                                                  peerIndex: v, context: configuration.context) else {
            throw .weakMaskKey
        }
        maskKeyOf[v] = maskKey
        seedCommitmentOf[v] = seedCommitment
        pairSeedOf[v] = seed
        annotations[v] = annotation
    }

    mutating func acceptShares(from v: Int, keyShare: SecretBytes, seedShare: SecretBytes,
                               roster: MemberSet, senderKey: [UInt8], now: Duration) throws(SecAggRejection) {
        // Nobody can hold this member's advertisement, hence send it shares, before it started.
        guard phase != .idle else { throw .unexpected(.shares, phase: phase) }
        guard roster.contains(me) else { throw .malformed("shares from a roster without their recipient") }
        guard heldKeyShareOf[v] == nil else { throw .duplicate(.shares) }
        // Shares of an incarnation of v other than the one whose advertisement is held (v was
        // killed after advertising and restarted into this round with a new key): its secrets
        // would fail their checks at unmasking, failing the round for this member.
        if let key = maskKeyOf[v] {
            guard SecAggWire.keyFingerprint(key) == senderKey else { throw .otherMaskKey(member: v) }
        } else {
            shareKeyOf[v] = senderKey
        }
        // Kept even when v's masked input never comes: other members may need v's key from us.
        heldKeyShareOf[v] = keyShare
        heldSeedShareOf[v] = seedShare
        // v closed its roster without the members this member still waits for: they can never
        // mask with v, and waiting for them would make this member late for v's share deadline
        // (members enter a round at different times after a failure). Stop waiting for them,
        // as for a member given up on; their advertisements are still accepted if they come.
        if phase == .advertising {
            for w in 0..<k where w != me && !roster.contains(w) && maskKeyOf[w] == nil { givenUp.insert(w) }
            // v waits for this member's shares for one phase timeout from about now: waiting longer
            // for an advertisement v holds and this member lacks (its sender froze or crashed while
            // sending it) fails v's round, and with it the group's. Close the roster within half a
            // phase timeout, leaving the other half for this member's shares to reach v.
            let latest = now + configuration.phaseTimeout / 2
            if let deadline = nextDeadline, latest < deadline { nextDeadline = latest }
        }
        if let early = heldInputs.removeValue(forKey: v) {
            // Judged now as if it had come after the shares; rejected here means rejected then.
            try? acceptMaskedInput(from: v, maskedWith: early.partners, keys: early.keys, bytes: early.bytes,
                                   payloadOffset: early.payloadOffset)
        }
    }

    /// Adds v's masked input to the running sum if its mask partners are consistent with every
    /// input already summed: for each summed u, v masked with u exactly when u masked with v.
    /// Otherwise the pairwise mask of u and v would not cancel and could not be removed.
    mutating func acceptMaskedInput(from v: Int, maskedWith partners: MemberSet, keys: [UInt8], bytes: [UInt8],
                                    payloadOffset: Int) throws(SecAggRejection) {
        guard !survivors.contains(v) else { throw .duplicate(.maskedInput) }
        guard phase >= .advertising, phase <= .masking else { throw .unexpected(.maskedInput, phase: phase) }
        guard maskKeyOf[v] != nil else { throw .missingAdvertisement(member: v) }
        // Every key the input was masked with must be the one this member holds for its owner
        // (its own included): an input of a restarted incarnation of v, or one masked with a
        // restarted member's old key, would leave masks that neither cancel nor can be removed,
        // a wrong sum no check could catch. Keys of members whose advertisement never came here
        // cannot be compared; their masks cancel against the partner's own input or are removed
        // from the shares of the key that partner advertised.
        let width = SecAggWire.keyFingerprintByteCount
        for (position, member) in SecAggWire.maskedInputKeyOwners(sender: v, partners: partners).enumerated() {
            guard let key = maskKeyOf[member] else { continue }
            guard SecAggWire.keyFingerprint(key).elementsEqual(keys[(width * position)..<(width * (position + 1))]) else {
                throw .otherMaskKey(member: member)
            }
        }
        for u in survivors where u != me && partners.contains(u) != maskSetOf[u].contains(v) {
            throw .inconsistentMaskSet(member: v)
        }
        let masksWithMe = partners.contains(me)
        if phase == .masking {
            guard masksWithMe == maskedWith.contains(v) else { throw .inconsistentMaskSet(member: v) }
        } else if masksWithMe {
            // Early input (this member has not masked yet): it will mask with v, so v must qualify.
            guard phase == .sharing, sharedWith.contains(v), pairSeedOf[v] != nil, !mustNotMaskWith.contains(v) else {
                throw .inconsistentMaskSet(member: v)
            }
            if heldKeyShareOf[v] == nil {
                // v masked with this member, so it holds our shares and sent its own before its
                // input; but messages complete out of order (a lost datagram of the small shares
                // message is resent after the large input completed). Hold the input until v's
                // shares come; dropping it would leave this member waiting for it, then unmasking
                // with a view nobody else has. Held at most once per member, until Masked input.
                guard heldInputs[v] == nil else { throw .duplicate(.maskedInput) }
                heldInputs[v] = (partners, keys, bytes, payloadOffset)
                return
            }
        } else {
            mustNotMaskWith.insert(v)
        }
        if sum.isEmpty { sum = Array(repeating: 0, count: configuration.vectorLength) }
        bytes.withUnsafeBytes { raw in
            sum.withUnsafeMutableBufferPointer { s in
                MaskKernels.addLittleEndian(UnsafeRawBufferPointer(rebasing: raw[payloadOffset...]), into: s)
            }
        }
        survivors.insert(v)
        maskSetOf[v] = partners
    }

    mutating func acceptRequest(from requester: Int, survivors requested: MemberSet,
                                dropped requestedDropped: MemberSet) throws(SecAggRejection) -> [SecAggAction] {
        guard phase != .idle else { throw .unexpected(.unmaskRequest, phase: phase) }
        guard quorum.votes[requester] == nil else { throw .duplicate(.unmaskRequest) }
        guard requested.contains(requester) else { throw .invalidRequest("requester is not among its survivors") }
        guard requested.isDisjoint(with: requestedDropped) else { throw .invalidRequest("a member is both survivor and dropped") }
        // Below t survivors the "sum" would expose too few inputs (SPEC §7.5).
        guard requested.count >= t else { throw .invalidRequest("\(requested.count) survivors, fewer than \(t)") }
        _ = quorum.vote(requester, for: UnmaskView(survivors: requested, dropped: requestedDropped))
        return answerRequests()
    }

    /// Once a view has t votes, sends every requester of that view the shares this member holds,
    /// and every requester of another view a refusal. Until then requests wait.
    mutating func answerRequests() -> [SecAggAction] {
        guard let chosen = quorum.chosen else { return [] }
        var actions: [SecAggAction] = []
        for (requester, view) in quorum.votes.sorted(by: { $0.key < $1.key }) where requester != me && !answered.contains(requester) {
            answered.insert(requester)
            guard view == chosen else {
                actions.append(.send(to: requester, bytes: SecAggWire.unmaskResponse(.declined, configuration)))
                continue
            }
            var seed: [Int: SecretBytes] = [:], key: [Int: SecretBytes] = [:]
            for u in view.survivors where u != requester { seed[u] = heldSeedShareOf[u] }
            for v in view.dropped { key[v] = heldKeyShareOf[v] }
            actions.append(.send(to: requester, bytes: SecAggWire.unmaskResponse(.shares(seed: seed, key: key), configuration)))
        }
        return actions
    }

    mutating func acceptResponse(from responder: Int, _ response: UnmaskResponse,
                                 now: Duration) throws(SecAggRejection) -> [SecAggAction] {
        // Answers beyond the t needed still arrive after completion: harmless, nothing to do.
        if phase == .completed || phase == .failed { return [] }
        guard phase == .unmasking, var collector else { throw .unexpected(.unmaskResponse, phase: phase) }
        guard !responded.contains(responder) else { throw .duplicate(.unmaskResponse) }
        switch response {
        case .declined:
            responded.insert(responder)
            declined += 1
            // At most k-1 others can answer; t-1 of them must agree with this member's view.
            if declined > k - t { return fail(.viewsDiffer(declined: declined, dropped: Array(dropped)), now: now) }
            // The last answer may be a refusal after the shares held failed their check.
            return failIfUnrecoverable(now: now)
        case let .shares(seed, key):
            guard MemberSet(seed.keys).isSubset(of: collector.seedMembers),
                  MemberSet(key.keys).isSubset(of: collector.keyMembers) else {
                throw .malformed("unmask response carries shares that were not requested")
            }
            responded.insert(responder)
            for (u, share) in seed { collector.add(seedOf: u, from: responder, share) }
            for (v, share) in key { collector.add(keyOf: v, from: responder, share) }
            self.collector = collector
        }
        return []
    }
}

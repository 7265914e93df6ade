import Crypto

/// One member's side of one secure-aggregation round: a sans-IO state machine (SPEC §7).
///
/// The driver feeds it events — `start`, `receive`, `tick` — each with the current time, and
/// carries out the actions it returns. It never touches a socket, clock or thread; all its
/// randomness is drawn from the `RandomSource` given to `init`. Messages must arrive over an
/// authenticated channel, so the `from` index of `receive` is trusted; everything inside a
/// message is checked.
///
/// After `completed` or `failed` the session lingers to answer other members' unmask requests
/// until every member of the round must have finished (`closingTime`), then closes: secrets are
/// dropped and `isClosed` turns true, and the driver may discard it.
public struct SecAggSession: Sendable {
    public let configuration: SecAggConfiguration
    public internal(set) var phase: SecAggPhase = .idle
    /// When `tick` next has something to do; nil when nothing is pending.
    public internal(set) var nextDeadline: Duration?
    /// Annotations of every member whose advertisement arrived (this member's after `start`).
    public internal(set) var annotations: [Int: [UInt8]] = [:]

    // This member's secrets, made at init.
    var maskKeys: KeyPair?
    var selfSeed: SecretBytes?
    /// Shamir shares of this member's mask key and self-mask seed, one per member (x = index + 1).
    var ownKeyShares: [SecretBytes] = []
    var ownSeedShares: [SecretBytes] = []
    var input: [UInt32] = []

    // What the other members advertised and shared.
    var maskKeyOf: [PublicKey?]
    /// Each member's advertised commitment to its self-mask seed (this member's own at init).
    var seedCommitmentOf: [[UInt8]?]
    /// s_{me,v}, derived as soon as v's mask key arrives.
    var pairSeedOf: [SecretBytes?]
    /// Shares of each member's secrets that this member holds (its own included).
    var heldKeyShareOf: [SecretBytes?]
    var heldSeedShareOf: [SecretBytes?]

    /// Members this member sent shares to (itself included); fixed on entering Share.
    var sharedWith = MemberSet()
    /// Members this member's masked input is masked with; fixed on entering Masked input.
    var maskedWith = MemberSet()
    /// Members whose early masked input was summed although they did not mask with this member,
    /// so this member must not mask with them either.
    var mustNotMaskWith = MemberSet()
    /// Masked inputs that arrived, in the share phase, before their senders' shares.
    var heldInputs: [Int: (partners: MemberSet, keys: [UInt8], bytes: [UInt8], payloadOffset: Int)] = [:]
    /// The key fingerprint of shares that came before their sender's advertisement.
    var shareKeyOf: [Int: [UInt8]] = [:]

    // The running sum and whose masked inputs it holds, with the partners each one masked with.
    var sum: [UInt32] = []
    var survivors = MemberSet()
    /// Members the driver reported unreachable: phases stop waiting for them (as at a deadline).
    var givenUp = MemberSet()
    /// Members whose advertisement came after this member had sent its own, which got a copy.
    var readvertisedTo = MemberSet()
    var maskSetOf: [MemberSet]

    // Unmasking, as the requester.
    var dropped = MemberSet()
    var collector: ShareCollector?
    var responded = MemberSet()
    var declined = 0

    // Unmasking, as a responder for everyone else.
    var quorum: ViewQuorum
    var answered = MemberSet()

    /// Draws the per-round mask key pair and self-mask seed from `rng` and splits both t-of-k.
    public init(configuration: SecAggConfiguration, rng: inout some RandomSource) {
        self.configuration = configuration
        let k = configuration.groupSize
        maskKeyOf = Array(repeating: nil, count: k)
        seedCommitmentOf = Array(repeating: nil, count: k)
        pairSeedOf = Array(repeating: nil, count: k)
        heldKeyShareOf = Array(repeating: nil, count: k)
        heldSeedShareOf = Array(repeating: nil, count: k)
        maskSetOf = Array(repeating: MemberSet(), count: k)
        quorum = ViewQuorum(threshold: configuration.threshold)

        let keys = KeyPair.generate(using: &rng)
        let seed = SecretBytes(count: MaskPRG.seedByteCount, using: &rng)
        guard let keyShares = try? Shamir.split(keys.secretKey, threshold: configuration.threshold, count: k, using: &rng),
              let seedShares = try? Shamir.split(seed, threshold: configuration.threshold, count: k, using: &rng)
        else { preconditionFailure("SecAggConfiguration guarantees 3 <= t <= k <= 255") }
        maskKeys = keys
        selfSeed = seed
        ownKeyShares = keyShares.map(\.value)
        ownSeedShares = seedShares.map(\.value)
        maskKeyOf[me] = keys.publicKey
        seedCommitmentOf[me] = SeedCommitment.make(seed: seed, owner: configuration.me, context: configuration.context)
        heldKeyShareOf[me] = ownKeyShares[me]
        heldSeedShareOf[me] = ownSeedShares[me]
    }

    var me: Int { configuration.me }
    var k: Int { configuration.groupSize }
    var t: Int { configuration.threshold }
    public var isClosed: Bool { phase == .closed }
    /// Started but has not sent its masked input: no other member can have summed it.
    public var isBeforeMasking: Bool { phase == .advertising || phase == .sharing }

    /// True once this member has answered the unmask request of every other member whose masked
    /// input it summed: a member that has finished can then leave without stranding anyone.
    public var hasAnsweredEverySurvivor: Bool {
        phase.isTerminal && survivors.subtracting(MemberSet([me])).isSubset(of: answered)
    }
    /// Set by `start`: when this session closes at the earliest.
    var closingTime: Duration?
    /// Set by `start`: when the advertise phase ends at the latest.
    var advertiseDeadline: Duration?
    /// Set on entering the masked-input phase: when that phase ends at the latest.
    var maskingDeadline: Duration?
    /// Whether the advertise phase already waited its one extra timeout for too few members.
    var advertiseExtended = false

    /// A member that shares this round started at most one advertise timeout before or after this
    /// one and ends its unmask phase at most an advertise timeout and three phase timeouts after
    /// its start; until then it may still need this member's answers.
    static func closingTime(startedAt start: Duration, _ configuration: SecAggConfiguration) -> Duration {
        start + configuration.advertiseTimeout * 2 + configuration.phaseTimeout * 3
    }

    /// Bytes of vector state this session holds: the running sum, the input until masked, and
    /// masked inputs held for their senders' shares (only when messages arrive out of order).
    /// O(d) whatever the group size, plus up to k-1 held inputs while the share phase lasts.
    public var retainedVectorBytes: Int {
        4 * (sum.capacity + input.capacity) + heldInputs.values.reduce(0) { $0 + $1.bytes.capacity }
    }

    /// The session tag a message claims (see `SecAggConfiguration.sessionTag`), or nil when it is
    /// too short to be a secure-aggregation message. Claims are checked again by `receive`.
    public static func sessionTag(ofMessage bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count >= SecAggWire.headerByteCount else { return nil }
        return Array(bytes[2..<(2 + SecAggWire.contextPrefixByteCount)])
    }

    // MARK: Events

    /// Joins the round with `input` (d words, already fixed-point encoded) and a small public
    /// annotation that every member receives with the advertisement.
    public mutating func start(input: [UInt32], annotation: [UInt8] = [],
                               now: Duration) throws(SecAggUsageError) -> [SecAggAction] {
        guard phase == .idle else { throw .alreadyStarted }
        guard input.count == configuration.vectorLength else {
            throw .wrongInputLength(expected: configuration.vectorLength, actual: input.count)
        }
        guard annotation.count <= SecAggConfiguration.maximumAnnotationByteCount else {
            throw .annotationTooLong(annotation.count)
        }
        guard let advertisement = advertisement(annotation: annotation) else { return [] }
        self.input = input
        annotations[me] = annotation
        var actions = (0..<k).filter { $0 != me }.map { SecAggAction.send(to: $0, bytes: advertisement) }
        phase = .advertising
        nextDeadline = now + configuration.advertiseTimeout
        advertiseDeadline = nextDeadline
        closingTime = Self.closingTime(startedAt: now, configuration)
        actions += advance(now: now)
        return actions
    }

    /// This member's advertisement carrying `annotation`, while it still holds its mask key.
    func advertisement(annotation: [UInt8]) -> [UInt8]? {
        guard let maskKeys, let seedCommitment = seedCommitmentOf[me] else { return nil }
        return SecAggWire.advertise(maskKey: maskKeys.publicKey, seedCommitment: seedCommitment, annotation: annotation, configuration)
    }

    /// Handles one message from member `from`. A rejected message throws and changes nothing.
    public mutating func receive(from: Int, bytes: [UInt8], now: Duration) throws(SecAggRejection) -> [SecAggAction] {
        guard (0..<k).contains(from), from != me else { throw .notAPeer(from) }
        let message = try SecAggWire.decode(bytes, from: from, configuration)
        guard phase != .closed else { throw .unexpected(message.kind, phase: phase) }
        var actions: [SecAggAction]
        switch message {
        case let .advertise(maskKey, seedCommitment, annotation):
            // A copy of an advertisement already held (its sender re-sent it, below) changes nothing.
            if maskKeyOf[from] == maskKey, seedCommitmentOf[from] == seedCommitment, annotations[from] == annotation { return [] }
            try acceptAdvertisement(from: from, maskKey: maskKey, seedCommitment: seedCommitment, annotation: annotation)
            // Ours went out before theirs came: if `from` was down or restarting then, it never got
            // ours, and without it would leave this member out of its roster while this member masks
            // with it, splitting the group's views (a restarted node rejoining a round its group had
            // started failed that round for all, §7.1). One copy per member; a duplicate is a no-op.
            actions = []
            if phase != .idle, !readvertisedTo.contains(from), let annotation = annotations[me],
               let advertisement = advertisement(annotation: annotation) {
                readvertisedTo.insert(from)
                actions = [.send(to: from, bytes: advertisement)]
            }
        case let .shares(keyShare, seedShare, roster, senderKey):
            try acceptShares(from: from, keyShare: keyShare, seedShare: seedShare, roster: roster, senderKey: senderKey, now: now)
            actions = []
        case let .maskedInput(maskedWith, keys, payloadOffset):
            try acceptMaskedInput(from: from, maskedWith: maskedWith, keys: keys, bytes: bytes, payloadOffset: payloadOffset)
            actions = []
        case let .unmaskRequest(survivors, dropped):
            actions = try acceptRequest(from: from, survivors: survivors, dropped: dropped)
        case let .unmaskResponse(response):
            actions = try acceptResponse(from: from, response, now: now)
        }
        // A member given up on that speaks in this round again was wrongly given up on (a frozen
        // process wakes): wait for it again, within the deadlines, like everyone else. Otherwise
        // this member could skip its shares while it masks with us, and our views would split.
        givenUp.remove(from)
        if !phase.isTerminal { actions += advance(now: now) }
        return actions
    }

    /// The driver's failure detector says `member` is unreachable: stop waiting for it in this and
    /// later phases, exactly as if each phase's deadline had passed without its message. Messages
    /// that arrive from it afterwards are still accepted where the phase allows.
    public mutating func giveUp(on member: Int, now: Duration) -> [SecAggAction] {
        guard (0..<k).contains(member), member != me, !phase.isTerminal else { return [] }
        givenUp.insert(member)
        return phase == .idle ? [] : advance(now: now)
    }

    /// Ends the current phase if its deadline has passed.
    public mutating func tick(now: Duration) -> [SecAggAction] {
        guard let deadline = nextDeadline, now >= deadline else { return [] }
        var actions: [SecAggAction]
        switch phase {
        case .idle, .closed:
            return []
        case .advertising:
            let present = maskKeyOf.filter { $0 != nil }.count
            let awaited = (0..<k).contains { maskKeyOf[$0] == nil && !givenUp.contains($0) }
            if present < t, awaited, !advertiseExtended {
                // Too few yet, but members not known dead may only be late (a group slowed by an
                // earlier failure starts its rounds skewed): wait one more advertise timeout once.
                advertiseExtended = true
                nextDeadline = now + configuration.advertiseTimeout
                advertiseDeadline = nextDeadline
                closingTime = (closingTime ?? now) + configuration.advertiseTimeout
                return []
            }
            guard present >= t else {
                return fail(tooFew(.advertising, taking: (0..<k).filter { maskKeyOf[$0] != nil }), now: now)
            }
            actions = enterSharing(now: now)
        case .sharing:
            actions = enterMasking(now: now)
        case .masking:
            actions = enterUnmasking(now: now)
        case .unmasking:
            if let member = collector?.unverifiable.min() {
                return fail(.reconstructionFailed(member: member), now: now)
            }
            let view = UnmaskView(survivors: survivors, dropped: dropped)
            return fail(.unmaskTimedOut(missing: collector?.missing ?? [], survivors: Array(survivors), dropped: Array(dropped),
                                        votes: quorum.votes.values.filter { $0 == view }.count, voters: quorum.votes.count), now: now)
        case .completed, .failed:
            close()
            return []
        }
        if !phase.isTerminal { actions += advance(now: now) }
        return actions
    }
}

import Crypto
import SecureAggregation

/// The node's round logic as a pure state machine (SPEC.md §8): it decides when to train, whom to
/// aggregate with, what to send, and when to stop. The shell that drives it (UDP and a real clock in
/// `gossipnode run`, the in-memory network in `simulate`) trains, evaluates, checkpoints and moves
/// bytes; the machine never touches a socket, a clock, a file or a thread.
///
/// A round: `.train(r)` → the shell trains and calls `trained` → the machine encodes the model and
/// runs secure aggregation with round r's group → `.aggregated` with the group's average (or nil
/// when the round failed) → the shell applies it, evaluates and calls `finishRound` → the machine
/// updates the convergence rule and asks for a checkpoint and the next round, or stops.
public struct NodeMachine: Sendable {
    public struct Settings: Sendable {
        public var networkID: [UInt8]
        /// Every peer's static public key, in peers-file order.
        public var peers: [PublicKey]
        /// This node's index in `peers`.
        public var me: Int
        public var groupSize: Int
        /// The smallest threshold the operator accepts; groups use at least a strict majority.
        public var minimumThreshold: Int
        public var phaseTimeout: Duration
        /// How long a member waits for the rest of its group to finish training and advertise.
        public var joinTimeout: Duration
        /// Parameters are clipped to ±clipRange for fixed-point encoding.
        public var clipRange: Double
        /// Sample counts are divided by this before weighting (a network-wide constant).
        public var weightCap: Double
        public var convergence: ConvergenceRule.Settings
        public var liveness: Liveness.Settings
        /// Bytes of messages for rounds this node has not reached yet that it keeps.
        public var maximumBufferedBytes: Int
        /// Shared by the machines of a simulation so each round's groups are decided once; nil
        /// (the default, one node per process), or one made for other parameters, makes the machine
        /// its own.
        public var groupSchedule: GroupSchedule?
        /// How long the node goes on while the failure detector holds so many peers dead that no
        /// group of this network could reach its threshold with the rest (every other peer dead,
        /// or two survivors where groups need three) before it stops with a failure; nil: until
        /// its stop rule. A node restarted after the rest of its network stopped (or cut off from
        /// all of it) would otherwise hold every remaining round for a join timeout, `--rounds` ×
        /// `--join-timeout` in all, for peers that are gone.
        public var aloneTimeout: Duration?

        public init(networkID: [UInt8], peers: [PublicKey], me: Int, groupSize: Int, minimumThreshold: Int,
                    phaseTimeout: Duration, joinTimeout: Duration, clipRange: Double, weightCap: Double,
                    convergence: ConvergenceRule.Settings, liveness: Liveness.Settings = .init(),
                    maximumBufferedBytes: Int = 64 << 20, groupSchedule: GroupSchedule? = nil, aloneTimeout: Duration? = nil) {
            self.networkID = networkID
            self.peers = peers
            self.me = me
            self.groupSize = groupSize
            self.minimumThreshold = minimumThreshold
            self.phaseTimeout = phaseTimeout
            self.joinTimeout = joinTimeout
            self.clipRange = clipRange
            self.weightCap = weightCap
            self.convergence = convergence
            self.liveness = liveness
            self.maximumBufferedBytes = maximumBufferedBytes
            self.groupSchedule = groupSchedule
            self.aloneTimeout = aloneTimeout
        }
    }

    /// The result of local training, handed back by the shell.
    public struct TrainedModel: Sendable {
        public var parameters: [Float]
        /// Examples this node trained on (its weight in the group average).
        public var sampleCount: Int
        /// True when the privacy budget allowed no (or no more) training: propose stopping.
        public var budgetExhausted: Bool

        public init(parameters: [Float], sampleCount: Int, budgetExhausted: Bool = false) {
            self.parameters = parameters
            self.sampleCount = sampleCount
            self.budgetExhausted = budgetExhausted
        }
    }

    /// What a round's aggregation produced, for the shell to apply and report.
    public struct Aggregation: Sendable {
        public var round: UInt64
        /// Peer indices of the group, this node included.
        public var group: [Int]
        /// Peers whose models are in the average (empty when the round failed).
        public var contributors: [Int]
        /// The group's weighted average, or nil when the round failed (keep the local model).
        public var average: [Float]?
        public var failure: String?
        /// Peers this node counted as dropped: the group minus the contributors when the round
        /// completed; this node's unmask view when the round failed because views differed (a
        /// member that gave up on a peer just before it came back); the members that did not take
        /// part when too few did; empty for other failures.
        public var dropouts: [Int] = []
        /// Coordinates clipped by this node's fixed-point encoding this round.
        public var clippedCoordinates: Int
    }

    public enum Action: Sendable {
        case send(to: Int, bytes: [UInt8])
        /// Train local steps for `round` on the current model, then call `trained`.
        case train(round: UInt64)
        /// Apply and evaluate the aggregate, then call `finishRound`.
        case aggregated(Aggregation)
        /// Persist a checkpoint of `round` (model, and this machine's `convergence`).
        case checkpoint(round: UInt64)
        /// Record, before carrying out the actions after it (which send this round's
        /// advertisement), that this node joins `round`: a run that restarts must be told it
        /// (`joinedBefore`) and never join that round again (SPEC §7.1, one incarnation per round).
        case joining(round: UInt64)
        case stop(StopReason)
        case peerStatus(peer: Int, Liveness.Status)
        case log(String)
    }

    public enum Phase: Sendable, Equatable {
        case idle
        case training(round: UInt64)
        case aggregating(round: UInt64)
        case applying(round: UInt64)
        /// Decided to stop; still answering the unmask requests of members a phase behind.
        case draining(StopReason, until: Duration)
        case stopped
    }

    /// Counters for reports and tests.
    public struct Metrics: Sendable, Equatable {
        public var staleMessages = 0
        public var rejectedMessages = 0
        public var bufferedMessages = 0
        public var droppedBufferedMessages = 0
        public var roundsCompleted = 0
        public var roundsFailed = 0
        public var roundsSkipped = 0
    }

    public let settings: Settings
    public private(set) var phase: Phase = .idle
    public private(set) var convergence: ConvergenceRule
    public private(set) var liveness: Liveness
    public private(set) var metrics = Metrics()
    /// The highest round at least two peers have shown us (one peer alone, honest or not, cannot
    /// drag a node ahead): a node whose own round is hopeless catches up to it.
    public var highestRoundSeen: UInt64 { roundsShown.highest }
    /// The highest round each peer's messages have named (at most --rounds).
    private var roundsShown: RoundsShown

    private var session: SecAggSession?
    /// The model given to the current session, kept so the node can take it to a later round
    /// if the session's group moves on before it has masked.
    private var advertisedModel: TrainedModel?
    private var sessionGroup: [Int] = []
    private var codec: FixedPointCodec?
    private var clipped = 0
    /// Finished sessions of earlier rounds, kept until they close: members a phase behind still
    /// need their answers.
    private var lingering: [(round: UInt64, group: [Int], session: SecAggSession)] = []
    /// Messages for rounds this node has not reached yet.
    private var futureMessages: FutureMessageBuffer
    /// Bytes of messages held for rounds this node has not reached yet.
    public var bufferedBytes: Int { futureMessages.bytes }
    private var stopAfterRound: StopReason?
    private var rng: DeterministicRandom
    /// Every round's groups, mixing within the convergence rule's margin.
    private let groups: GroupSchedule

    /// The last round an earlier run of this node joined (`Action.joining`), 0 if none: this run
    /// joins only later rounds. An earlier run that advertised in a round left its mask key with
    /// the group, its shares and perhaps its masked input; a second incarnation in that round
    /// would advertise a second key, deal shares of new secrets, send a second masked input
    /// computed from a retraining, and answer unmask requests with a fresh record of votes that
    /// knows nothing of what the first one revealed. It joins the next round instead (its
    /// training still counts), and the round it left goes on without it.
    public let joinedBefore: UInt64

    /// - Parameters:
    ///   - resumeAfter: the last round completed before a restart (0 on a first start).
    ///   - convergence: the convergence state restored from the checkpoint, if any.
    ///   - joinedBefore: the last round an earlier run joined (`Action.joining`), 0 if none.
    ///   - seed: randomness for mask keys and rounding; from the OS CSPRNG in production.
    public init(settings: Settings, resumeAfter round: UInt64 = 0, convergence: ConvergenceRule? = nil,
                joinedBefore: UInt64 = 0, seed: [UInt8], now: Duration) {
        self.settings = settings
        self.joinedBefore = joinedBefore
        self.convergence = convergence ?? ConvergenceRule(settings: settings.convergence)
        liveness = Liveness(me: settings.me, peerCount: settings.peers.count, settings: settings.liveness,
                            now: now, seed: UInt64(settings.me))
        rng = DeterministicRandom(seed: seed)
        let margin = settings.convergence.mixingMargin
        if let shared = settings.groupSchedule, shared.serves(networkID: settings.networkID, publicKeys: settings.peers,
                                                               groupSize: settings.groupSize, mixingMargin: margin) {
            groups = shared
        } else {
            groups = GroupSchedule(networkID: settings.networkID, publicKeys: settings.peers, groupSize: settings.groupSize,
                                   mixingMargin: margin)
        }
        futureMessages = FutureMessageBuffer(maximumBytes: settings.maximumBufferedBytes)
        alone = AloneWatch(peerCount: settings.peers.count, groupSize: settings.groupSize,
                           minimumThreshold: settings.minimumThreshold, timeout: settings.aloneTimeout)
        roundsShown = RoundsShown(peerCount: settings.peers.count, reached: round)
        lastCompletedRound = round
    }

    /// The last round this node completed (aggregated or failed) and applied.
    public private(set) var lastCompletedRound: UInt64

    /// The earliest time `tick` has work.
    public var nextDeadline: Duration {
        var deadline = liveness.nextDeadline
        if let d = session?.nextDeadline { deadline = min(deadline, d) }
        if case let .draining(_, until) = phase { deadline = min(deadline, until) }
        if let since = holdingSince { deadline = min(deadline, since + settings.joinTimeout) }
        // Only where `stopIfAlone` acts: a deadline passed while applying or draining would ask for
        // a tick at once, again and again, until the phase ends (`run` spinning a core).
        if let d = alone.deadline, canStopAlone { deadline = min(deadline, d) }
        for old in lingering { if let d = old.session.nextDeadline { deadline = min(deadline, d) } }
        return deadline
    }

    // MARK: Events

    public mutating func start(now: Duration) -> [Action] {
        guard phase == .idle else { return [] }
        if let reason = convergence.shouldStop(after: lastCompletedRound) {
            phase = .stopped
            return [.stop(reason)]
        }
        let round = lastCompletedRound + 1
        phase = .training(round: round)
        return [.train(round: round)]
    }

    /// Local training for the current round finished: join the round's group.
    public mutating func trained(_ model: TrainedModel, now: Duration) -> [Action] {
        guard case let .training(trainedFor) = phase else { return [.log("training result ignored in phase \(phase)")] }
        // A diverged model can never be aggregated (its encoding refuses non-finite numbers), so
        // every later round would fail too: stop, keeping the last good checkpoint.
        if let bad = model.parameters.firstIndex(where: { !$0.isFinite }) {
            return stopBeforeTheNetwork(.failure("training diverged in round \(trainedFor): parameter \(bad) is \(model.parameters[bad]); "
                                                 + "lower --lr (or the DP noise), or check the data"))
        }
        // Out of budget: the stop is proposed when a round completes (`finishRound`), two mixing
        // margins after the round the node actually ran, which a catch-up makes later than this one.
        if model.budgetExhausted { stopAfterRound = .privacyBudget }
        // Catch up: if the round trained for can no longer gather its group, join the network's.
        let caughtUp = roundToJoin(trained: trainedFor)
        // Never a round an earlier run of this node joined (one incarnation per round).
        let target = max(caughtUp, joinedBefore + 1)
        guard target <= settings.convergence.maxRounds else {
            let (_, group, _) = myGroup(round: trainedFor)
            return finishAggregation(round: trainedFor, group: group, result: nil,
                                     failure: "an earlier run of this node joined round \(joinedBefore), the last")
        }
        let note: [Action] = target == trainedFor ? []
            : caughtUp == target ? [.log("skipping round \(trainedFor): \(movedOn(round: trainedFor)); joining round \(target)")]
            : [.log("skipping round \(trainedFor): an earlier run of this node joined round \(joinedBefore); joining round \(target)")]
        return note + join(round: target, after: trainedFor, with: model, now: now)
    }

    /// Starts round `round`'s session with `model`, trained for round `trainedFor` (an earlier
    /// round when catching up: its training still counts).
    private mutating func join(round: UInt64, after trainedFor: UInt64, with model: TrainedModel, now: Duration) -> [Action] {
        if round > trainedFor { metrics.roundsSkipped += Int(clamping: round - trainedFor) }
        advertisedModel = model
        let (assignment, group, threshold) = myGroup(round: round)
        phase = .aggregating(round: round)
        var actions: [Action] = [.joining(round: round)]
        if round > trainedFor { actions += hintSkippedGroups(from: trainedFor, to: round) }
        do {
            let configuration = try SecAggConfiguration(
                networkID: settings.networkID, round: round, group: UInt32(assignment.groupOf[settings.me]),
                members: group.map { settings.peers[$0] }, me: group.firstIndex(of: settings.me)!,
                threshold: threshold, vectorLength: model.parameters.count + 1,
                phaseTimeout: settings.phaseTimeout, advertiseTimeout: settings.joinTimeout)
            let codec = try FixedPointCodec(clipBound: settings.clipRange, maxMembers: group.count,
                                            weightCap: settings.weightCap)
            let encoding = try codec.encode(model.parameters, weight: Double(model.sampleCount), using: &rng)
            var session = SecAggSession(configuration: configuration, rng: &rng)
            let started = try session.start(input: encoding.words, annotation: convergence.annotation.bytes, now: now)
            self.session = session
            self.sessionGroup = group
            liveness.focus = group.filter { $0 != settings.me }
            self.codec = codec
            self.clipped = encoding.clippedCoordinates
            actions += translate(started, round: round)
            for peer in group where peer != settings.me && (!liveness.isAlive(peer) || roundsShown[peer] > round) {
                actions += giveUp(on: peer, now: now)
            }
        } catch {
            return actions + finishAggregation(round: round, group: group, result: nil,
                                               failure: "cannot aggregate: \(error)")
        }
        // Deliver what arrived for this round while we were training.
        for message in futureMessages.take(round: round) { actions += deliverToSession(from: message.from, payload: message.payload, now: now) }
        return actions
    }

    /// A message from an authenticated peer (the transport has verified who sent it).
    public mutating func receive(from peer: Int, bytes: [UInt8], now: Duration) -> [Action] {
        guard settings.peers.indices.contains(peer), peer != settings.me, phase != .stopped else { return [] }
        // A peer's leave is its last word, no proof of life (Liveness.receive marks it left).
        var actions = NodeEnvelope.isLeave(bytes) ? [] : apply(liveness.heard(from: peer, now: now), now: now)
        actions += releaseHeldRound(now: now)
        guard let envelope = NodeEnvelope(bytes: bytes) else {
            metrics.rejectedMessages += 1
            return actions
        }
        switch envelope {
        case let .liveness(round, payload):
            guard let message = Liveness.Message(bytes: payload, peerCount: settings.peers.count),
                  round <= settings.convergence.maxRounds else {
                metrics.rejectedMessages += 1
                return actions
            }
            // The round a peer is in travels with its pings, so a node restarted from an old
            // checkpoint learns where the network is within a liveness period (§8, catching up).
            roundsShown.note(round, shownBy: peer)
            actions += apply(liveness.receive(message, from: peer, now: now), now: now)
        case let .secureAggregation(round, payload):
            actions += routeSecureAggregation(round: round, from: peer, payload: payload, now: now)
        }
        actions += leaveIfLeftBehind(now: now)
        return actions + giveUpIfMovedOn(peer, now: now)
    }

    /// A member that has shown a later round before this node masked has finished this round
    /// without this node's input, or skipped it (catching up), and will send nothing more here:
    /// stop waiting for it, as for a dead member, instead of until the deadline. Not in later
    /// phases: a member that moved on may still answer unmask requests from its lingering session.
    private mutating func giveUpIfMovedOn(_ peer: Int, now: Duration) -> [Action] {
        guard case let .aggregating(round) = phase, session?.isBeforeMasking == true,
              roundsShown[peer] > round, sessionGroup.contains(peer) else { return [] }
        return giveUp(on: peer, now: now)
    }

    /// Catching up before masking. A node that joined round r before it knew the network had
    /// moved on (a restart from an old checkpoint trains before any peer has spoken; a frozen node
    /// wakes in its old session) would wait out r's timeouts while its peers, which see it alive,
    /// wait for it in their later rounds. Once r's group can no longer reach its threshold, the
    /// node leaves r and joins the network's round with the same model. It has sent at most its
    /// advertisement and shares, and members that finished r did so without its masked input, so
    /// none can need an answer from it.
    private mutating func leaveIfLeftBehind(now: Duration) -> [Action] {
        guard case let .aggregating(round) = phase, session?.isBeforeMasking == true, let model = advertisedModel else { return [] }
        let target = roundToJoin(trained: round)
        guard target > round else { return [] }
        session = nil
        codec = nil
        return [.log("left round \(round): \(movedOn(round: round)); joining round \(target)")]
            + join(round: target, after: round, with: model, now: now)
    }

    /// Which members of round `round`'s group counted as gone and the rounds they showed: what a
    /// log reader needs to tell a group that really moved on from a stale or wrong round hint.
    private func movedOn(round: UInt64) -> String {
        let (_, group, threshold) = myGroup(round: round)
        let gone = group.filter { $0 != settings.me && roundsShown[$0] > round }.map { "peer \($0) at \(roundsShown[$0])" }
        return "its group has moved on (\(gone.joined(separator: ", ")); threshold \(threshold) of \(group.count))"
    }

    public mutating func tick(now: Duration) -> [Action] {
        guard phase != .stopped else { return [] }
        var actions = apply(liveness.tick(now: now), now: now)
        if let alone = stopIfAlone(now: now) { return actions + alone }
        actions += releaseHeldRound(now: now)
        for slot in lingering.indices {
            let produced = lingering[slot].session.tick(now: now)
            actions += sends(produced, round: lingering[slot].round, group: lingering[slot].group)
        }
        lingering.removeAll { $0.session.isClosed }
        if case let .aggregating(round) = phase, var current = session {
            let produced = current.tick(now: now)
            session = current
            actions += translate(produced, round: round)
        }
        return actions + finishDraining(now: now)
    }

    /// Stops once no earlier session may still owe an answer, or the drain time is up.
    private mutating func finishDraining(now: Duration) -> [Action] {
        guard case let .draining(reason, until) = phase,
              lingering.allSatisfy({ $0.session.hasAnsweredEverySurvivor }) || now >= until else { return [] }
        phase = .stopped
        lingering = []
        return [.stop(reason)]
    }

    /// The shell applied round `round`'s outcome and evaluated the model.
    public mutating func finishRound(_ round: UInt64, relativeChange: Double, validationLoss: Double,
                                     now: Duration) -> [Action] {
        guard case .applying(round) = phase else { return [.log("finishRound(\(round)) ignored in phase \(phase)")] }
        lastCompletedRound = round
        roundsShown.reached(round)
        convergence.record(round: round, relativeChange: relativeChange, validationLoss: validationLoss,
                           heard: heardAnnotations, aggregated: lastRoundAggregated)
        // Out of budget: propose stopping two mixing margins after this round, the one the node ran.
        // Proposed after the round it trained for, a node that caught up past that round (restarted
        // from an old checkpoint) held a stop round already behind it: it stopped, with the group
        // that heard it, at once, while groups that never heard it ran on (SPEC §10).
        if stopAfterRound == .privacyBudget { convergence.proposeStop(after: round) }
        heardAnnotations = []
        var actions: [Action] = [.checkpoint(round: round)]
        // A node out of budget keeps aggregating its current model (post-processing costs no
        // privacy) until the agreed stop round, so its groups are not left short.
        if let reason = convergence.shouldStop(after: round) {
            phase = .draining(stopAfterRound ?? reason, until: now + settings.phaseTimeout * 2)
            return actions + finishDraining(now: now)
        }
        phase = .training(round: round + 1)
        if enoughMembersAlive(for: round + 1) {
            actions.append(.train(round: round + 1))
        } else {
            holdingSince = now
            actions.append(.log("holding round \(round + 1): fewer than the threshold of its group are alive"))
        }
        return actions
    }

    /// When set, the node has finished a round but holds back the next one's training because
    /// fewer than the threshold of its group are alive: the round could not complete, and training
    /// for it would spend privacy budget and burn a round for nothing (a node cut off by a
    /// partition would otherwise race through its remaining rounds, each failing at once). It
    /// trains when enough members are alive again, or after one join timeout, whichever is first.
    private var holdingSince: Duration?

    private func enoughMembersAlive(for round: UInt64) -> Bool {
        let (_, group, threshold) = myGroup(round: round)
        return group.filter { $0 == settings.me || liveness.isAlive($0) }.count >= threshold
    }

    private mutating func releaseHeldRound(now: Duration) -> [Action] {
        guard let since = holdingSince, case let .training(round) = phase,
              now >= since + settings.joinTimeout || enoughMembersAlive(for: round) else { return [] }
        holdingSince = nil
        return [.train(round: round)]
    }

    /// Stops at once (signal); the shell checkpoints what it has.
    public mutating func stop() -> [Action] {
        guard phase != .stopped else { return [] }
        return stopBeforeTheNetwork(.signal)
    }

    /// A stop of this node alone (a signal, a failure), not the network's agreed one: every peer
    /// still alive is told (`Liveness.Message.leave`), so its groups stop waiting for this node at
    /// once instead of after the failure detector's verdict, and its log says "left", not "failed".
    private mutating func stopBeforeTheNetwork(_ reason: StopReason) -> [Action] {
        let round = currentRound
        phase = .stopped
        session = nil
        lingering = []
        holdingSince = nil
        let leave = NodeEnvelope.liveness(round: round, payload: Liveness.Message.leave.bytes).bytes
        let told = settings.peers.indices.filter { $0 != settings.me && liveness.isAlive($0) }
        return told.map { Action.send(to: $0, bytes: leave) } + [.stop(reason)]
    }

    // MARK: Secure aggregation plumbing

    private var heardAnnotations: [ConvergenceRule.Annotation] = []
    /// Whether the round being applied produced an average (a failed round is no convergence evidence).
    private var lastRoundAggregated = false

    private mutating func routeSecureAggregation(round: UInt64, from peer: Int, payload: [UInt8], now: Duration) -> [Action] {
        // No node runs a round past --rounds: such a message is a lie, and would overflow round arithmetic.
        guard round <= settings.convergence.maxRounds else {
            metrics.rejectedMessages += 1
            return []
        }
        roundsShown.note(round, shownBy: peer)
        switch phase {
        case let .aggregating(current) where round == current:
            return deliverToSession(from: peer, payload: payload, now: now)
        case let .aggregating(current) where round > current,
             let .training(current) where round >= current,
             let .applying(current) where round > current:
            let insertion = futureMessages.insert(round: round, from: peer, payload: payload)
            metrics.droppedBufferedMessages += insertion.evicted + (insertion.kept ? 0 : 1)
            if insertion.kept { metrics.bufferedMessages += 1 }
            return []
        default:
            // A late message for an earlier round: its session may still owe an answer.
            guard let slot = lingering.firstIndex(where: { $0.round == round }),
                  let index = lingering[slot].group.firstIndex(of: peer) else { return stale(from: peer) }
            do {
                let produced = try lingering[slot].session.receive(from: index, bytes: payload, now: now)
                return sends(produced, round: round, group: lingering[slot].group)
            } catch {
                return stale(from: peer)
            }
        }
    }

    /// A node that skips rounds tells the members of its groups in the last rounds it skips (where
    /// lagging peers may still wait for it) the round it is in now, so they stop waiting for it
    /// (`giveUpIfMovedOn`) instead of until their join timeout. One small message per member.
    private func hintSkippedGroups(from trainedFor: UInt64, to round: UInt64) -> [Action] {
        var told = Set([settings.me])
        var hints: [Action] = []
        for skipped in max(trainedFor, round > 3 ? round - 3 : 0)..<round {
            for peer in assignment(round: skipped).members(of: settings.me) where told.insert(peer).inserted { hints.append(roundHint(to: peer)) }
        }
        return hints
    }

    /// A liveness ack nobody asked for: harmless to the receiver's failure detector, and its
    /// envelope carries this node's round.
    private func roundHint(to peer: Int) -> Action {
        translate(.send(to: peer, .ack(sequence: 0, target: settings.me)))
    }

    /// A message for a round this node has left and no session of it can take: its sender is
    /// behind. Answering with a liveness ack (which carries this node's round) tells it at once
    /// that this member has moved on, so it catches up (`leaveIfLeftBehind`) instead of waiting
    /// out its join timeout. One small answer per whole message, only to authenticated peers.
    private mutating func stale(from peer: Int) -> [Action] {
        metrics.staleMessages += 1
        return [roundHint(to: peer)]
    }

    /// Only the sends of a finished session matter: its outcome was already taken.
    private func sends(_ actions: [SecAggAction], round: UInt64, group: [Int]) -> [Action] {
        actions.compactMap { action in
            guard case let .send(to, bytes) = action else { return nil }
            return .send(to: group[to], bytes: NodeEnvelope.secureAggregation(round: round, payload: bytes).bytes)
        }
    }

    /// Round `round`'s groups.
    private func assignment(round: UInt64) -> GroupAssignment {
        groups.assignment(round: round)
    }

    /// Round `round`'s groups, this node's group in it (peer indices) and that group's threshold.
    private func myGroup(round: UInt64) -> (assignment: GroupAssignment, members: [Int], threshold: Int) {
        let assignment = assignment(round: round)
        let members = assignment.members(of: settings.me)
        return (assignment, members, GroupAssignment.threshold(groupSize: members.count, minimum: settings.minimumThreshold))
    }

    /// The round to join after training for `trained`: that round while its group can still
    /// reach the threshold, else the round the network is in. Members that named a later round
    /// have left `trained` behind; groups run at different paces, so a node merely behind another
    /// group keeps its own group's round instead of abandoning it.
    private func roundToJoin(trained: UInt64) -> UInt64 {
        guard highestRoundSeen > trained else { return trained }
        let (_, group, threshold) = myGroup(round: trained)
        let gone = group.filter { $0 != settings.me && roundsShown[$0] > trained }.count
        return group.count - gone < threshold ? highestRoundSeen : trained
    }

    private mutating func deliverToSession(from peer: Int, payload: [UInt8], now: Duration) -> [Action] {
        guard case let .aggregating(round) = phase, var current = session,
              let index = sessionGroup.firstIndex(of: peer) else {
            metrics.rejectedMessages += 1
            return []
        }
        do {
            let produced = try current.receive(from: index, bytes: payload, now: now)
            session = current
            return translate(produced, round: round)
        } catch {
            metrics.rejectedMessages += 1
            return []
        }
    }

    private mutating func translate(_ actions: [SecAggAction], round: UInt64) -> [Action] {
        var out: [Action] = []
        for action in actions {
            switch action {
            case let .send(to, bytes):
                out.append(.send(to: sessionGroup[to], bytes: NodeEnvelope.secureAggregation(round: round, payload: bytes).bytes))
            case let .completed(result):
                out += finishAggregation(round: round, group: sessionGroup, result: result, failure: nil)
            case let .failed(reason):
                // Whom this member counted out (its view when views differed, the members that did
                // not take part when too few did: a partition's other side, a dead peer) become the
                // round's dropouts, which the report names; the failure text leaves them out.
                out += finishAggregation(round: round, group: sessionGroup, result: nil, failure: reason.summary,
                                         failedView: reason.countedOut)
            }
        }
        return out
    }

    /// `failedView`: when views differed, the members (group positions) this node's view dropped.
    private mutating func finishAggregation(round: UInt64, group: [Int], result: SecAggResult?, failure: String?,
                                            failedView: [Int] = []) -> [Action] {
        var aggregation = Aggregation(round: round, group: group, contributors: [], average: nil, failure: failure,
                                      dropouts: failedView.map { group[$0] }, clippedCoordinates: clipped)
        var heard: [ConvergenceRule.Annotation] = []
        if let result, let codec {
            do {
                let average = try codec.decodeAverage(result.sum, contributors: result.contributors.count)
                aggregation.average = average.values.map { Float($0) }
                aggregation.contributors = result.contributors.map { group[$0] }
                aggregation.dropouts = group.filter { !aggregation.contributors.contains($0) }
                metrics.roundsCompleted += 1
            } catch {
                aggregation.failure = "cannot decode the group's sum: \(error)"
                metrics.roundsFailed += 1
            }
            heard = result.annotations.filter { $0.key != group.firstIndex(of: settings.me) }
                .compactMap { ConvergenceRule.Annotation(bytes: $0.value) }
        } else {
            metrics.roundsFailed += 1
            if let annotations = session?.annotations {
                heard = annotations.filter { $0.key != group.firstIndex(of: settings.me) }
                    .compactMap { ConvergenceRule.Annotation(bytes: $0.value) }
            }
        }
        heardAnnotations = heard
        lastRoundAggregated = aggregation.average != nil
        if let session, !session.isClosed { lingering.append((round, group, session)) }
        session = nil
        codec = nil
        advertisedModel = nil
        liveness.focus = []
        phase = .applying(round: round)
        return [.aggregated(aggregation)]
    }

    /// Annotations heard in the round being applied; `finishRound` folds them into the rule.
    public var annotationsHeard: [ConvergenceRule.Annotation] { heardAnnotations }

    /// Liveness directives become actions; a peer declared dead is no longer waited for in the
    /// current round's session (the failure detector ends the wait before the phase deadline).
    private mutating func apply(_ directives: [Liveness.Directive], now: Duration) -> [Action] {
        var actions: [Action] = []
        for directive in directives {
            actions.append(translate(directive))
            if case let .statusChanged(peer, status) = directive {
                if status == .dead || status == .left { actions += giveUp(on: peer, now: now) }
                alone.update(aliveCount: aliveCount, now: now)
            }
        }
        return actions
    }

    /// Since when the failure detector has held too many peers dead for any group to reach its
    /// threshold, and when that makes the node stop.
    private var alone: AloneWatch

    /// This node and the peers it holds alive (or suspect).
    private var aliveCount: Int {
        settings.peers.indices.count { $0 == settings.me || liveness.isAlive($0) }
    }

    /// The stop after `Settings.aloneTimeout` with too few peers alive. The last checkpoint stands
    /// (the round in hand never completed); a failure, since the node did not finish the run with
    /// its network.
    private mutating func stopIfAlone(now: Duration) -> [Action]? {
        guard alone.hasTimedOut(now: now), let limit = alone.timeout, canStopAlone else { return nil }
        let why = "too few peers have been alive for any group to aggregate for \(limit.seconds) s (after round \(lastCompletedRound); "
            + "\(aliveCount) of \(settings.peers.count) nodes alive, a group needs \(alone.quorum)): the rest of the network has stopped "
            + "or cannot be reached; restart this node when its peers run"
        return stopBeforeTheNetwork(.failure(why))
    }

    /// Whether the phase lets the alone timeout stop the node.
    private var canStopAlone: Bool {
        switch phase {
        case .training, .aggregating: return true
        case .idle, .applying, .draining, .stopped: return false  // applying: its checkpoint comes first
        }
    }

    private mutating func giveUp(on peer: Int, now: Duration) -> [Action] {
        guard case let .aggregating(round) = phase, var current = session,
              let index = sessionGroup.firstIndex(of: peer) else { return [] }
        let produced = current.giveUp(on: index, now: now)
        session = current
        return translate(produced, round: round)
    }

    /// The round this node is working on, as its liveness messages show it.
    private var currentRound: UInt64 {
        switch phase {
        case let .training(round), let .aggregating(round), let .applying(round): return round
        case .idle, .draining, .stopped: return lastCompletedRound
        }
    }

    private func translate(_ directive: Liveness.Directive) -> Action {
        switch directive {
        case let .send(to, message):
            return .send(to: to, bytes: NodeEnvelope.liveness(round: currentRound, payload: message.bytes).bytes)
        case let .statusChanged(peer, status): return .peerStatus(peer: peer, status)
        }
    }
}

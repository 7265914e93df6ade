import Crypto
import Testing
import TestKit
@testable import Node

/// N node machines wired directly to each other (no transport) on a virtual clock, with a toy
/// "trainer" that pulls each node's model towards its own target. Checks the machine's logic alone.
struct MachineCluster {
    var machines: [NodeMachine]
    var models: [[Float]]
    var targets: [[Float]]
    var sampleCounts: [Int]
    var now: Duration = .zero
    var queue: [(at: Duration, seq: Int, event: Event)] = []
    var seq = 0
    var crashed: Set<Int> = []
    /// Nodes whose privacy budget allows no more training: their trained models say so.
    var outOfBudget: Set<Int> = []
    /// While `now` is in `cutDuring`, nothing passes between nodes on different sides of `cut`
    /// (a node on no side reaches everyone).
    var cut: [Set<Int>] = []
    var cutDuring: Range<Duration> = .zero ..< .zero
    /// Rounds each node completed while the cut was in force.
    var roundsDuringCut: [Int: Int] = [:]
    var stopped: [Int: (round: UInt64, reason: StopReason)] = [:]
    var aggregations: [Int: [NodeMachine.Aggregation]] = [:]
    /// The model each node sent into each round, to check averages exactly.
    var sent: [UInt64: [Int: [Float]]] = [:]
    /// Rounds in which each node sent secure-aggregation messages.
    var secureAggregationSent: [Int: Set<UInt64>] = [:]
    let trainingTime: (Int) -> Duration

    enum Event {
        case deliver(from: Int, to: Int, bytes: [UInt8])
        case trained(node: Int, round: UInt64)
    }

    init(n: Int, groupSize: Int, dimension: Int = 6, maxRounds: UInt64 = 40, patience: Int = 2, sharedGroups: Bool = false,
         aloneTimeout: Duration? = nil, trainingTime: @escaping (Int) -> Duration = { _ in .milliseconds(100) }) {
        var rng = seededRandom(5)
        let keys = (0..<n).map { _ in KeyPair.generate(using: &rng).publicKey }
        let networkID = [UInt8](repeating: 3, count: 32)
        let margin = GroupSchedule.mixingMargin(peers: n, groupSize: groupSize)
        let schedule = sharedGroups ? GroupSchedule(networkID: networkID, publicKeys: keys, groupSize: groupSize, mixingMargin: margin) : nil
        machines = (0..<n).map { i in
            let settings = NodeMachine.Settings(
                networkID: networkID, peers: keys, me: i, groupSize: groupSize, minimumThreshold: 3,
                phaseTimeout: .seconds(2), joinTimeout: .seconds(5), clipRange: 8, weightCap: 1000,
                convergence: .init(tolerance: 0.02, patience: patience, mixingMargin: margin, maxRounds: maxRounds),
                groupSchedule: schedule, aloneTimeout: aloneTimeout)
            return NodeMachine(settings: settings, seed: [UInt8(i)], now: .zero)
        }
        targets = (0..<n).map { i in (0..<dimension).map { j in Float((i * 7 + j * 3) % 11) / 11 + 1.5 } }
        models = Array(repeating: [Float](repeating: 0, count: dimension), count: n)
        sampleCounts = (0..<n).map { 100 + 37 * $0 }
        self.trainingTime = trainingTime
    }

    mutating func schedule(_ at: Duration, _ event: Event) {
        seq += 1
        queue.append((at, seq, event))
    }

    mutating func handle(_ actions: [NodeMachine.Action], node: Int) {
        for action in actions {
            switch action {
            case let .send(to, bytes):
                if !crashed.contains(node) {
                    if case let .secureAggregation(round, _)? = NodeEnvelope(bytes: bytes) { secureAggregationSent[node, default: []].insert(round) }
                    schedule(now + .milliseconds(5), .deliver(from: node, to: to, bytes: bytes))
                }
            case let .train(round):
                schedule(now + trainingTime(node), .trained(node: node, round: round))
            case let .aggregated(aggregation):
                aggregations[node, default: []].append(aggregation)
                if cutDuring.contains(now) { roundsDuringCut[node, default: 0] += 1 }
                let before = models[node]
                if let average = aggregation.average { models[node] = average }
                let change = relativeChange(before, models[node])
                let loss = zip(models[node], targets[node]).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
                handle(machines[node].finishRound(aggregation.round, relativeChange: change, validationLoss: loss, now: now), node: node)
            case .checkpoint, .peerStatus, .log, .joining:
                break
            case let .stop(reason):
                stopped[node] = (machines[node].lastCompletedRound, reason)
            }
        }
    }

    func relativeChange(_ a: [Float], _ b: [Float]) -> Double {
        let diff = zip(a, b).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        let norm = a.reduce(0.0) { $0 + Double($1 * $1) }
        return norm > 0 ? (diff / norm).squareRoot() : 1
    }

    mutating func run(until end: Duration) {
        for i in machines.indices { handle(machines[i].start(now: now), node: i) }
        while now < end, stopped.count + crashed.count < machines.count {
            let nextTick = machines.indices.filter { !crashed.contains($0) && stopped[$0] == nil }
                .map { machines[$0].nextDeadline }.min() ?? end
            let nextEvent = queue.min { ($0.at, $0.seq) < ($1.at, $1.seq) }
            if let event = nextEvent, event.at <= nextTick {
                queue.removeAll { $0.seq == event.seq }
                now = max(now, event.at)
                switch event.event {
                case let .deliver(from, to, bytes):
                    guard !crashed.contains(to) else { continue }
                    if cutDuring.contains(now), let a = cut.firstIndex(where: { $0.contains(from) }),
                       let b = cut.firstIndex(where: { $0.contains(to) }), a != b { continue }
                    handle(machines[to].receive(from: from, bytes: bytes, now: now), node: to)
                case let .trained(node, round):
                    guard !crashed.contains(node) else { continue }
                    // Toy training with a decaying step: move towards this node's target.
                    let step = Float(0.5 / Double(round))
                    models[node] = zip(models[node], targets[node]).map { $0 + ($1 - $0) * step }
                    sent[round, default: [:]][node] = models[node]
                    let model = NodeMachine.TrainedModel(parameters: models[node], sampleCount: sampleCounts[node],
                                                         budgetExhausted: outOfBudget.contains(node))
                    handle(machines[node].trained(model, now: now), node: node)
                }
            } else {
                now = max(now, nextTick)
                for i in machines.indices where !crashed.contains(i) {
                    handle(machines[i].tick(now: now), node: i)
                }
            }
        }
    }
}

@Suite struct NodeMachineTests {
    @Test func envelopeRoundTripsAndRejectsGarbage() {
        for envelope in [NodeEnvelope.secureAggregation(round: 77, payload: [1, 2, 3]), .liveness(round: 3, payload: [])] {
            #expect(NodeEnvelope(bytes: envelope.bytes) == envelope)
        }
        #expect(NodeEnvelope(bytes: [1, 2, 3]) == nil)
        #expect(NodeEnvelope(bytes: [9] + [UInt8](repeating: 0, count: 8)) == nil)
    }

    @Test func everyRoundAveragesExactlyTheContributorsAndAllStopTogether() {
        var cluster = MachineCluster(n: 12, groupSize: 4)
        cluster.run(until: .seconds(600))
        #expect(cluster.stopped.count == 12)
        let stopRounds = Set(cluster.stopped.values.map(\.round))
        #expect(stopRounds.count == 1, "stop rounds \(stopRounds)")
        // Converged (toy targets are reached after a handful of rounds), well before --rounds.
        #expect(cluster.stopped.values.allSatisfy { if case .converged = $0.reason { return true } else { return false } })
        #expect(cluster.aggregations.values.allSatisfy { $0.count >= 5 && $0.count < 40 })
        for (node, aggregations) in cluster.aggregations {
            for aggregation in aggregations {
                #expect(aggregation.failure == nil, "node \(node) round \(aggregation.round): \(aggregation.failure ?? "")")
                guard let average = aggregation.average else { continue }
                #expect(Set(aggregation.contributors) == Set(aggregation.group))
                // Exact weighted average of what the contributors sent, within fixed-point rounding.
                let inputs = aggregation.contributors.map { cluster.sent[aggregation.round]![$0]! }
                let weights = aggregation.contributors.map { Double(cluster.sampleCounts[$0]) }
                for j in average.indices {
                    let expected = zip(inputs, weights).reduce(0.0) { $0 + Double($1.0[j]) * $1.1 } / weights.reduce(0, +)
                    #expect(abs(Double(average[j]) - expected) < 1e-5)
                }
            }
        }
        // Gossip averaging drives every node to (nearly) the same model.
        let mean = (0..<cluster.models[0].count).map { j in cluster.models.reduce(0) { $0 + $1[j] } / Float(cluster.models.count) }
        for model in cluster.models {
            for j in model.indices { #expect(abs(model[j] - mean[j]) < 0.2) }
        }
    }

    @Test func machinesSharingAGroupCacheRunExactlyAsMachinesComputingTheirOwnGroups() {
        var own = MachineCluster(n: 13, groupSize: 3, maxRounds: 8)
        var shared = MachineCluster(n: 13, groupSize: 3, maxRounds: 8, sharedGroups: true)
        own.run(until: .seconds(600))
        shared.run(until: .seconds(600))
        #expect(own.stopped.count == 13)
        #expect(own.models == shared.models)
        #expect(own.stopped.mapValues(\.round) == shared.stopped.mapValues(\.round))
        #expect(own.aggregations.mapValues { $0.map(\.group) } == shared.aggregations.mapValues { $0.map(\.group) })
    }

    @Test func aCrashedNodeIsADropoutAndTheOthersFinish() {
        var cluster = MachineCluster(n: 8, groupSize: 4, maxRounds: 12)
        cluster.crashed = []
        // Crash node 5 a little after the start.
        cluster.run(until: .milliseconds(150))
        cluster.crashed = [5]
        cluster.run(until: .seconds(900))
        let survivors = (0..<8).filter { $0 != 5 }
        for node in survivors { #expect(cluster.stopped[node] != nil, "node \(node) did not stop") }
        // Rounds with node 5 in the group completed without it (or failed cleanly when too few remained).
        let withFive = survivors.flatMap { cluster.aggregations[$0] ?? [] }.filter { $0.group.contains(5) && $0.round > 1 }
        let completed = withFive.filter { $0.average != nil }
        #expect(!completed.isEmpty, "no round with the crashed node in its group completed")
        for aggregation in completed {
            #expect(!aggregation.contributors.contains(5))
            #expect(aggregation.dropouts == [5], "round \(aggregation.round): dropouts \(aggregation.dropouts)")
            // The exact weighted average of the survivors' inputs: the dropout's mask was removed.
            let average = aggregation.average!
            let inputs = aggregation.contributors.map { cluster.sent[aggregation.round]![$0]! }
            let weights = aggregation.contributors.map { Double(cluster.sampleCounts[$0]) }
            for j in average.indices {
                let expected = zip(inputs, weights).reduce(0.0) { $0 + Double($1.0[j]) * $1.1 } / weights.reduce(0, +)
                #expect(abs(Double(average[j]) - expected) < 1e-5)
            }
        }
    }

    /// Six nodes in one group (threshold 4) split into halves for 30 s: no side can complete a
    /// round. Failed rounds must not count as converged (or everyone "converges" on them and stops
    /// during the split), and a node whose group is below the threshold must not race through its
    /// rounds once the failure detector gives up on the other side (it would reach --rounds, and
    /// spend privacy, for nothing). After the heal they converge and stop together.
    @Test func aSplitNetworkNeitherStopsNorBurnsRoundsUntilItHeals() {
        var cluster = MachineCluster(n: 6, groupSize: 6, maxRounds: 40, patience: 2)
        cluster.cut = [[0, 1, 2], [3, 4, 5]]
        cluster.cutDuring = .milliseconds(250) ..< .seconds(30)
        cluster.run(until: .seconds(900))
        #expect(cluster.stopped.count == 6)
        let failed = (cluster.aggregations[0] ?? []).filter { $0.failure != nil }
        #expect(failed.count >= 3, "rounds failed during the split")
        #expect(cluster.roundsDuringCut.values.allSatisfy { $0 <= 30 / 5 + 2 }, "held back: \(cluster.roundsDuringCut)")
        let stops = Set(cluster.stopped.values.map(\.round))
        #expect(stops.count == 1, "stop rounds \(cluster.stopped.mapValues(\.round))")
        #expect(cluster.stopped.values.allSatisfy { if case .converged = $0.reason { return true } else { return false } })
        // Converged after the heal, on rounds that completed.
        #expect(cluster.stopped.values.allSatisfy { Int($0.round) > (cluster.roundsDuringCut[0] ?? 0) + 2 })
    }

    /// A node restarted after the rest of its network stopped, or left alone by crashes, heard
    /// from nobody and held every remaining round for a join timeout: `--rounds` × `--join-timeout`
    /// (50 minutes by default) before it gave up; so did survivors too few for any group's
    /// threshold. With an alone timeout it stops with a failure that says why once the failure
    /// detector has held that many peers dead that long; survivors enough for a group run on, and
    /// a node cut off for less than the timeout rejoins.
    @Test func aNodeLeftAloneStopsAfterTheAloneTimeout() {
        var alone = MachineCluster(n: 8, groupSize: 4, maxRounds: 40, aloneTimeout: .seconds(30))
        alone.run(until: .milliseconds(150))
        alone.crashed = Set(1..<8)
        alone.run(until: .seconds(900))
        let verdict = alone.stopped[0]
        guard case let .failure(why)? = verdict?.reason else { Issue.record("node 0: \(String(describing: verdict))"); return }
        #expect(why.contains("too few peers have been alive for any group to aggregate for 30.0 s") && why.contains("1 of 8 nodes alive"), "\(why)")
        #expect(alone.now < .seconds(60), "stopped at \(alone.now)")

        // The same crash without the timeout: the node runs on to --rounds, holding each round.
        var patient = MachineCluster(n: 8, groupSize: 4, maxRounds: 40)
        patient.run(until: .milliseconds(150))
        patient.crashed = Set(1..<8)
        patient.run(until: .seconds(900))
        #expect(patient.stopped[0]?.reason == .roundLimit && patient.now > .seconds(150), "\(String(describing: patient.stopped[0])) at \(patient.now)")

        // Two survivors hear each other, but every group needs three: both stop as well. Three
        // survivors could still make a group's threshold, so they run on (to --rounds). The same
        // for a network of three that lost one, whose one group needs all three; and seven in
        // groups of 4 form one group of seven, which needs four: three survivors stop, four run
        // on (their rounds complete, to an agreed stop).
        for (n, survivors, stop) in [(8, 2, true), (8, 3, false), (3, 2, true), (7, 3, true), (7, 4, false)] {
            var few = MachineCluster(n: n, groupSize: 4, maxRounds: 40, aloneTimeout: .seconds(30))
            few.run(until: .milliseconds(150))
            few.crashed = Set(survivors..<n)
            few.run(until: .seconds(900))
            for node in 0..<survivors {
                let verdict = few.stopped[node]
                if !stop {
                    let ranOn = switch verdict?.reason { case .roundLimit?, .converged?: true; default: false }
                    #expect(ranOn, "\(n) nodes, \(survivors) left: node \(node) \(String(describing: verdict))")
                } else if case let .failure(why)? = verdict?.reason {
                    // The first to stop leaves; the other then holds no peer alive.
                    #expect(why.contains("for 30.0 s") && why.contains("of \(n) nodes alive, a group needs \(survivors + 1)"), "\(why)")
                } else {
                    Issue.record("\(n) nodes, \(survivors) left: node \(node) \(String(describing: verdict))")
                }
            }
            if stop { #expect(few.now < .seconds(60), "\(n) nodes, \(survivors) left: stopped at \(few.now)") }
        }

        // Cut off from everyone for 20 s (rounds of 1 s): every peer is declared dead by about
        // 16 s, so a 2 s timeout ends the node while a 10 s one outlasts the cut: the node rejoins
        // and stops with the others.
        for (timeout, outlasted) in [(Duration.seconds(2), false), (.seconds(10), true)] {
            var cut = MachineCluster(n: 8, groupSize: 4, maxRounds: 60, patience: 30, aloneTimeout: timeout,
                                     trainingTime: { _ in .seconds(1) })
            cut.cut = [[0], Set(1..<8)]
            cut.cutDuring = .milliseconds(250) ..< .seconds(20)
            cut.run(until: .seconds(900))
            let others = Set((1..<8).map { "\(cut.stopped[$0]!)" })
            #expect(cut.stopped.count == 8 && others.count == 1 && cut.stopped[1]!.reason.isConverged, "\(cut.stopped)")
            if outlasted {
                #expect(others == ["\(cut.stopped[0]!)"], "\(cut.stopped[0]!)")
            } else if case let .failure(why) = cut.stopped[0]!.reason {
                #expect(why.contains("to aggregate for 2.0 s"), "\(why)")
            } else {
                Issue.record("node 0 cut off: \(cut.stopped[0]!)")
            }
        }
    }

    /// The alone timeout acts only in training and aggregation; a node whose timeout runs out while
    /// it applies a round (the shell evaluating) or drains must not ask for a tick at once: `run`
    /// polled with a zero timeout, spinning a core until the phase ended. It stops at the first
    /// tick once it trains again.
    @Test func anAloneDeadlineOutsideTrainingIsNoBusyWait() {
        let settings = MachineCluster(n: 3, groupSize: 4, aloneTimeout: .seconds(1)).machines[0].settings
        var machine = NodeMachine(settings: settings, seed: [9], now: .zero)
        _ = machine.start(now: .zero)
        _ = machine.trained(.init(parameters: [1, 2, 3, 4, 5, 6], sampleCount: 10), now: .milliseconds(20))
        // Nobody answers: both peers are declared dead, the round fails, and the node applies it.
        var now = Duration.milliseconds(20)
        while now < .seconds(30) {
            now = max(now + .milliseconds(10), min(machine.nextDeadline, .seconds(30)))
            _ = machine.tick(now: now)
        }
        #expect(machine.phase == .applying(round: 1))
        #expect(machine.nextDeadline > now, "next deadline \(machine.nextDeadline) at \(now)")
        _ = machine.finishRound(1, relativeChange: 0, validationLoss: 1, now: now)
        let actions = machine.tick(now: now)
        guard case let .stop(.failure(why))? = actions.last else { Issue.record("\(actions)"); return }
        #expect(why.contains("to aggregate for 1.0 s"), "\(why)")
    }

    /// A node stopped by a signal tells its peers it leaves: within one message delay every one
    /// holds it left (a crash takes the failure detector's verdict, seconds), the group it was in
    /// stops waiting for it, and the rest finish and stop together.
    @Test func aNodeStoppedBySignalLeavesAndItsPeersKnowAtOnce() {
        var cluster = MachineCluster(n: 8, groupSize: 4, maxRounds: 12, patience: 30, trainingTime: { _ in .seconds(1) })
        cluster.run(until: .milliseconds(2_500))
        let stoppedAt = cluster.now
        cluster.handle(cluster.machines[5].stop(), node: 5)
        #expect(cluster.stopped[5]?.reason == .signal)
        cluster.run(until: stoppedAt + .milliseconds(20))
        for peer in (0..<8) where peer != 5 {
            #expect(cluster.machines[peer].liveness.statuses[5] == .left, "node \(peer): \(cluster.machines[peer].liveness.statuses[5])")
        }
        cluster.run(until: .seconds(900))
        let others = (0..<8).filter { $0 != 5 }
        #expect(Set(others.map { cluster.stopped[$0]?.round }) == [12])
        let later = others.flatMap { cluster.aggregations[$0] ?? [] }.filter { $0.group.contains(5) && $0.round > 3 }
        #expect(!later.isEmpty && later.allSatisfy { !$0.contributors.contains(5) })
    }

    /// A round that fails for too few members names the members that did not take part, the
    /// other side of a split here, as its dropouts: the report (and `run`'s line, "dropped: ...")
    /// says whom the group lacked. It only said "only 2 members took part; 3 needed", with no
    /// dropouts, so the log of a partitioned node did not show which peers it could not reach.
    @Test func aRoundFailedForTooFewMembersNamesTheAbsentOnes() {
        var cluster = MachineCluster(n: 8, groupSize: 4, maxRounds: 12, patience: 30)
        cluster.cut = [[0, 1, 2, 3], [4, 5, 6, 7]]
        cluster.cutDuring = .milliseconds(250) ..< .seconds(60)
        cluster.run(until: .seconds(900))
        let failed = cluster.aggregations.flatMap { node, aggregations in
            aggregations.filter { $0.failure?.hasPrefix("only ") == true }.map { (node, $0) }
        }
        #expect(!failed.isEmpty, "no round failed for too few members during the split")
        for (node, aggregation) in failed {
            let side = node < 4 ? Set(0..<4) : Set(4..<8)
            #expect(!aggregation.dropouts.isEmpty && aggregation.dropouts.allSatisfy { !side.contains($0) && aggregation.group.contains($0) },
                    "node \(node) round \(aggregation.round): dropouts \(aggregation.dropouts) of \(aggregation.group)")
        }
    }

    /// Groups run at different paces: a node whose group is still on round r while another group
    /// already advertises round r+1 must stay with its group, not abandon it (which failed or
    /// delayed two rounds: the one it left and the one it joined early).
    @Test func aNodeBehindAnotherGroupStaysWithItsOwn() {
        final class Jitter { var random = seededRandom(3) }
        let jitter = Jitter()
        var cluster = MachineCluster(n: 12, groupSize: 3, maxRounds: 20, patience: 30,
                                     trainingTime: { _ in .milliseconds(10 + Int64(jitter.random.nextUInt64() % 1000)) })
        cluster.run(until: .seconds(600))
        #expect(cluster.stopped.count == 12)
        #expect(Set(cluster.stopped.values.map(\.round)) == [20])
        for node in 0..<12 {
            #expect(cluster.machines[node].metrics.roundsSkipped == 0, "node \(node) skipped")
            for aggregation in cluster.aggregations[node] ?? [] {
                #expect(aggregation.failure == nil && aggregation.contributors == aggregation.group,
                        "node \(node) round \(aggregation.round): \(aggregation.failure ?? "dropouts")")
            }
        }
    }

    @Test func aSlowNodeCatchesUpInsteadOfHoldingOthersBack() {
        // Node 0 trains 20x slower than the rest.
        var cluster = MachineCluster(n: 8, groupSize: 4, maxRounds: 10,
                                     trainingTime: { $0 == 0 ? .seconds(8) : .milliseconds(100) })
        cluster.run(until: .seconds(2000))
        #expect(cluster.stopped.count == 8)
        #expect(cluster.machines[0].metrics.roundsSkipped > 0)
        // The fast nodes finished all their rounds.
        for node in 1..<8 { #expect(cluster.stopped[node]?.round == 10) }
    }
}

/// A node restarted from an old checkpoint trains its next round in a millisecond, before any peer
/// has spoken, and joins a round its group left long ago. Its group's members answer its stale
/// advertisement with their round, so it leaves that round and joins the network's at once,
/// instead of waiting out its join timeout while the others, which see it alive again, wait for
/// it in theirs.
@Suite struct CatchUpTests {
    @Test func aNodeRestartedFromAnOldCheckpointJoinsTheNetworksRoundAtOnce() {
        var cluster = MachineCluster(n: 8, groupSize: 4, maxRounds: 500, patience: 55,
                                     trainingTime: { $0 == 3 ? .milliseconds(1) : .milliseconds(100) })
        cluster.run(until: .milliseconds(150))
        cluster.crashed = [3]
        cluster.run(until: .seconds(8))
        let resumeAfter = cluster.machines[3].lastCompletedRound
        let networkRound = cluster.machines[0].lastCompletedRound
        #expect(networkRound > resumeAfter + 3, "the others went on without node 3")
        let restart = cluster.now
        cluster.crashed = []
        cluster.machines[3] = NodeMachine(settings: cluster.machines[3].settings, resumeAfter: resumeAfter, seed: [33], now: restart)
        cluster.aggregations[3] = []
        cluster.run(until: restart + .seconds(3))
        let after = cluster.aggregations[3] ?? []
        // Within three seconds (the join timeout is five) it aggregated with the network, in a
        // round past the one it resumed at, and never failed a round on the way.
        #expect(after.contains { $0.average != nil && $0.round > networkRound }, "\(after.map { ($0.round, $0.failure) }) \(cluster.machines[3].phase)")
        #expect(after.allSatisfy { $0.failure == nil }, "\(after.map { ($0.round, $0.failure) })")
        #expect(cluster.machines[3].metrics.roundsSkipped >= Int(networkRound - resumeAfter))
        // Nobody else waited for it: every round of the others completed with their whole group.
        for node in 0..<8 where node != 3 {
            for aggregation in (cluster.aggregations[node] ?? []) where aggregation.round > networkRound + 1 {
                #expect(aggregation.failure == nil && aggregation.contributors == aggregation.group,
                        "node \(node) round \(aggregation.round): \(aggregation.failure ?? "dropouts \(aggregation.group)")")
            }
        }
    }
}

extension CatchUpTests {
    /// A node that skips rounds 3...9 to join round 10 tells the members of its groups in the
    /// last three rounds it skips (7, 8, 9), where lagging peers may still wait for it, that it is
    /// in round 10: one liveness message each, whose envelope carries round 10.
    @Test func aNodeThatSkipsRoundsHintsItsLastSkippedGroups() {
        let cluster = MachineCluster(n: 12, groupSize: 3)
        let settings = cluster.machines[0].settings
        var machine = NodeMachine(settings: settings, resumeAfter: 2, seed: [9], now: .zero)
        _ = machine.start(now: .zero)
        // Every peer shows round 10: node 0's round-3 group has left round 3.
        let ping = Liveness.Message.ping(sequence: 1, onBehalfOf: nil).bytes
        for peer in 1..<12 {
            _ = machine.receive(from: peer, bytes: NodeEnvelope.liveness(round: 10, payload: ping).bytes, now: .milliseconds(10))
        }
        let actions = machine.trained(.init(parameters: [1, 2, 3, 4, 5, 6], sampleCount: 10), now: .milliseconds(20))
        #expect(machine.phase == .aggregating(round: 10))
        #expect(machine.metrics.roundsSkipped == 7)
        var hinted: [Int] = []
        for case let .send(to, bytes) in actions {
            guard case let .liveness(round, payload)? = NodeEnvelope(bytes: bytes),
                  case .ack? = Liveness.Message(bytes: payload, peerCount: 12) else { continue }
            #expect(round == 10)
            hinted.append(to)
        }
        let schedule = GroupSchedule(networkID: settings.networkID, publicKeys: settings.peers, groupSize: settings.groupSize,
                                     mixingMargin: settings.convergence.mixingMargin)
        let expected = Set((7...9).flatMap { round in schedule.assignment(round: UInt64(round)).members(of: 0) }).subtracting([0])
        #expect(hinted.sorted() == expected.sorted())
    }

    /// A node restarted from an old checkpoint that finds its privacy budget spent proposes a stop
    /// two mixing margins after the round it joins, not after the round it trained for: it catches
    /// up past the latter, and a stop round already behind it (found with `simulate --crash` and
    /// `--epsilon`) stopped it and its new group at once while the other groups, which never heard
    /// the proposal, ran on to --rounds.
    @Test func aNodeOutOfBudgetAfterCatchingUpProposesAStopEveryoneReaches() {
        var cluster = MachineCluster(n: 8, groupSize: 4, maxRounds: 60, patience: 55,
                                     trainingTime: { $0 == 3 ? .milliseconds(1) : .milliseconds(100) })
        cluster.run(until: .milliseconds(150))
        cluster.crashed = [3]
        let resumeAfter = cluster.machines[3].lastCompletedRound
        let margin = UInt64(cluster.machines[3].settings.convergence.mixingMargin)
        // The others go on without node 3 past the stop round it would propose from its checkpoint.
        while cluster.machines[0].lastCompletedRound < resumeAfter + 2 * margin + 4, cluster.now < .seconds(60) {
            cluster.run(until: cluster.now + .milliseconds(500))
        }
        #expect(cluster.machines[0].lastCompletedRound >= resumeAfter + 2 * margin + 4)
        let restart = cluster.now
        cluster.crashed = []
        cluster.outOfBudget = [3]
        cluster.machines[3] = NodeMachine(settings: cluster.machines[3].settings, resumeAfter: resumeAfter, seed: [33], now: restart)
        cluster.run(until: restart + .seconds(900))
        #expect(cluster.stopped.count == 8)
        let stops = Set(cluster.stopped.values.map(\.round))
        #expect(stops.count == 1 && stops.first! < 60, "stop rounds \(cluster.stopped.mapValues(\.round))")
        #expect(cluster.stopped[3]?.reason == .privacyBudget)
    }

    /// A model that diverged (a NaN or an infinity) can never be encoded for aggregation, so the
    /// node would fail every later round: it stops at once with a failure saying why, sends
    /// nothing but its leave to each peer, and asks for no checkpoint (the last good one stays).
    @Test func aDivergedModelStopsTheNodeWithAFailure() {
        let cluster = MachineCluster(n: 6, groupSize: 3)
        var machine = cluster.machines[0]
        _ = machine.start(now: .zero)
        #expect(machine.phase == .training(round: 1))
        let actions = machine.trained(.init(parameters: [1, 2, .nan, 4, 5, 6], sampleCount: 10), now: .milliseconds(20))
        #expect(machine.phase == .stopped)
        let leave = NodeEnvelope.liveness(round: 1, payload: Liveness.Message.leave.bytes).bytes
        #expect(actions.dropLast().map { "\($0)" } == (1..<6).map { "\(NodeMachine.Action.send(to: $0, bytes: leave))" })
        guard case let .stop(.failure(why))? = actions.last else {
            Issue.record("\(actions)")
            return
        }
        #expect(why.contains("training diverged in round 1: parameter 2 is nan"))
    }
}

/// One incarnation per round (SPEC §7.1): a node killed after it advertised in a round and
/// restarted never takes part in that round again. A second incarnation would advertise a second
/// mask key, deal shares of new secrets, send a masked input of a retrained model, and answer
/// unmask requests with a fresh record of votes that knows nothing of what the first one revealed.
@Suite struct OneIncarnationPerRoundTests {
    /// The machine says it joins a round before anything of that round leaves it.
    @Test func joiningIsRecordedBeforeTheAdvertisementLeaves() {
        let cluster = MachineCluster(n: 4, groupSize: 4)
        var machine = NodeMachine(settings: cluster.machines[0].settings, seed: [9], now: .zero)
        _ = machine.start(now: .zero)
        let actions = machine.trained(.init(parameters: [1, 2, 3, 4, 5, 6], sampleCount: 10), now: .milliseconds(20))
        guard case .joining(round: 1)? = actions.first else { Issue.record("\(actions)"); return }
        #expect(actions.contains { if case .send = $0 { true } else { false } })
    }

    /// Node 3 trains fast, advertises in round 1 while the others still train, and is killed.
    /// Restarted (told it joined round 1) it sends nothing more in round 1, which the others
    /// finish without it, and it aggregates again from a later round on.
    @Test func aNodeRestartedAfterAdvertisingNeverRejoinsThatRound() throws {
        var cluster = MachineCluster(n: 4, groupSize: 4, maxRounds: 30, patience: 25,
                                     trainingTime: { $0 == 3 ? .milliseconds(1) : .milliseconds(100) })
        let round: UInt64 = 1
        cluster.run(until: .milliseconds(50))
        #expect(cluster.machines[3].phase == .aggregating(round: round))
        #expect(cluster.secureAggregationSent[3] == [round])
        cluster.crashed = [3]
        cluster.run(until: .milliseconds(150))
        let restart = cluster.now
        cluster.crashed = []
        cluster.secureAggregationSent[3] = []
        cluster.machines[3] = NodeMachine(settings: cluster.machines[3].settings, resumeAfter: round - 1,
                                          joinedBefore: round, seed: [33], now: restart)
        cluster.aggregations[3] = []
        cluster.run(until: restart + .seconds(20))
        #expect(cluster.secureAggregationSent[3]?.contains(round) == false, "\(cluster.secureAggregationSent[3] ?? [])")
        for node in 0..<3 {
            let aggregation = try #require(cluster.aggregations[node]?.first { $0.round == round })
            #expect(aggregation.failure == nil && aggregation.contributors == [0, 1, 2], "node \(node): \(aggregation)")
        }
        let after = cluster.aggregations[3] ?? []
        #expect(after.allSatisfy { $0.round > round } && after.contains { $0.average != nil }, "\(after.map { ($0.round, $0.failure) })")
    }
}

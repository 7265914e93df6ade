import Learning
import Node
import Transport

/// Injected faults that follow rounds rather than time: partitions, crashes and restarts.
extension Simulator {
    /// Switches partitions on and off, and brings crashed nodes back, as the first node reaches
    /// their rounds.
    mutating func advanceFrontier(to round: UInt64) {
        guard round > frontier else { return }
        frontier = round
        scheduleDueRestarts()
        guard !settings.partitions.isEmpty, network.faults != nil else { return }
        let sides = settings.partitions.last { $0.rounds.contains(round) }?.sides ?? settings.faults.base.partition
        guard network.faults!.plan.base.partition != sides else { return }
        network.faults!.plan.base.partition = sides
        onLog(.fault(sides.isEmpty ? "partition healed as round \(round) starts"
                                   : "partition into \(sides.map { "\($0.count)" }.joined(separator: "|")) nodes as round \(round) starts"))
    }

    /// Rounds after its crash that a node crashed by `crashRate` restarts.
    static let randomRestartDelay: UInt64 = 2

    /// When every node is down and none has stopped, no node can start the rounds that would bring
    /// the crashed ones back: they restart now (by time) instead of the run ending with everyone down.
    /// (Repeated while the restarted nodes crash again as they start their round: a crash rate
    /// below 1 and planned crashes firing once make that end.)
    mutating func restartIfEveryNodeIsDown() throws {
        while liveCount == 0, stoppedCount == 0, restartDue.isEmpty, !restartAt.isEmpty {
            let pending = restartAt.keys.sorted()
            onLog(.fault("every node is down: restarting " + pending.map { "node\($0)" }.joined(separator: ", ")
                         + " now instead of at round " + pending.map { "\(restartAt[$0]!)" }.joined(separator: ", ")
                         + " (no node is left to start it)"))
            for node in pending {
                restartAt[node] = nil
                try restart(node)
            }
        }
    }

    /// Wakes the crashed nodes whose restart round has started (in node order: runs must repeat).
    mutating func scheduleDueRestarts() {
        for node in restartAt.keys.sorted() where restartAt[node]! <= frontier {
            restartAt[node] = nil
            restartDue.insert(node)
            network.scheduleWakeup(node: node, at: network.now, tag: 2)
        }
    }

    /// Crashes `node` if the schedule or the crash rate says so when it starts `round`.
    ///
    /// A scheduled crash fires at the first round the node trains for at or after the planned one:
    /// a node catching up (after a partition or a restart) joins a later round without training
    /// for the ones it skips, and a crash matched to its round exactly never happened, without a word.
    mutating func maybeCrash(_ node: Int, at round: UInt64) -> Bool {
        var restart: UInt64?
        if let planned = settings.crashes[node], planned.crash <= round, !crashedOnce.contains(node) {
            crashedOnce.insert(node)
            restart = planned.restart
        } else if settings.crashRate > 0, round + Self.randomRestartDelay <= settings.convergence.maxRounds,
                  Double(crashRandom.nextUInt64() >> 11) / Double(1 << 53) < settings.crashRate {
            // Not in the last rounds: a crash whose restart round never comes is no restart at all.
            restart = round + Self.randomRestartDelay
        } else {
            return false
        }
        onLog(.fault("node\(node) crashed at the start of round \(round)" + (restart.map { "; restarts at round \($0)" } ?? "")))
        // What is on disk survives: the last checkpoint and the ledger (saved before every send).
        saved[node].ledger = hosts[node]?.learner.privacyLedger
        shards[node] = hosts[node].flatMap { Self.shard(of: $0.learner) }
        bytesOfEarlierLives[node] = bytes(of: node)
        network.crash(node)
        machines[node] = nil
        liveCount -= 1
        hosts[node] = nil
        pendingTraining[node] = nil
        scheduledTick[node] = nil
        outcomes[node].crashes += 1
        if let restart {
            restartAt[node] = restart
            scheduleDueRestarts()
        } else {
            outcomes[node].reason = .failure("crashed at round \(round)")
        }
        summarise()
        return true
    }

    /// The shard a learner was made from: it keeps the validation rows first, then the training rows.
    static func shard(of learner: NodeLearner) -> Dataset? {
        let (validation, train) = (learner.validation, learner.train)
        return try? Dataset(features: validation.features + train.features, labels: validation.labels + train.labels,
                            featureCount: train.featureCount, classCount: train.classCount)
    }

    mutating func restart(_ node: Int) throws {
        try network.restart(node)
        onLog(.fault("node\(node) restarted from its checkpoint of round \(saved[node].checkpoint?.round ?? 0)"))
        try boot(node)
    }
}

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

    /// Wakes the crashed nodes whose restart round has started (in node order: runs must repeat).
    mutating func scheduleDueRestarts() {
        for node in restartAt.keys.sorted() where restartAt[node]! <= frontier {
            restartAt[node] = nil
            restartDue.insert(node)
            network.scheduleWakeup(node: node, at: network.now, tag: 2)
        }
    }

    /// Crashes `node` if the schedule or the crash rate says so when it starts `round`.
    mutating func maybeCrash(_ node: Int, at round: UInt64) -> Bool {
        var restart: UInt64?
        if let planned = settings.crashes[node], planned.crash == round, !crashedOnce.contains(node) {
            crashedOnce.insert(node)
            restart = planned.restart
        } else if settings.crashRate > 0, Double(crashRandom.nextUInt64() >> 11) / Double(1 << 53) < settings.crashRate {
            restart = round + 2
        } else {
            return false
        }
        onLog(.fault("node\(node) crashed at the start of round \(round)" + (restart.map { "; restarts at round \($0)" } ?? "")))
        // What is on disk survives: the last checkpoint and the ledger (saved before every send).
        saved[node].ledger = hosts[node]?.learner.privacyLedger
        shards[node] = hosts[node].flatMap { Self.shard(of: $0.learner) }
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

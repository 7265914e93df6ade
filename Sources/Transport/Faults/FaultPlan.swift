/// The faults applied to datagrams while they are in force. Probabilities are per datagram.
public struct FaultSettings: Sendable, Equatable {
    public var drop: Double = 0
    public var duplicate: Double = 0
    /// Probability that a datagram is held back by `reorderDelay`, so later ones overtake it.
    public var reorder: Double = 0
    public var reorderDelay: Duration = .milliseconds(10)
    /// Extra one-way delay for every datagram, plus a uniform random part up to `jitter`.
    public var delay: Duration = .zero
    public var jitter: Duration = .zero
    /// Probability that one random bit of the datagram is flipped.
    public var corrupt: Double = 0
    /// Nodes in different groups cannot reach each other (nodes in no group reach everyone).
    public var partition: [Set<Int>] = []
    /// The partition cuts one way only: a node's datagrams do not reach the groups after its own,
    /// while theirs still reach it (a broken route or firewall rule: A hears B, B never hears A).
    public var oneWay = false

    public init(drop: Double = 0, duplicate: Double = 0, reorder: Double = 0, reorderDelay: Duration = .milliseconds(10),
                delay: Duration = .zero, jitter: Duration = .zero, corrupt: Double = 0, partition: [Set<Int>] = [],
                oneWay: Bool = false) {
        self.drop = drop
        self.duplicate = duplicate
        self.reorder = reorder
        self.reorderDelay = reorderDelay
        self.delay = delay
        self.jitter = jitter
        self.corrupt = corrupt
        self.partition = partition
        self.oneWay = oneWay
    }

    public static let none = FaultSettings()

    func separates(_ a: Int, _ b: Int) -> Bool {
        guard let groupA = partition.firstIndex(where: { $0.contains(a) }),
              let groupB = partition.firstIndex(where: { $0.contains(b) }) else { return false }
        return oneWay ? groupA < groupB : groupA != groupB
    }
}

/// Faults over time: `base` always, replaced by a phase's settings while that phase lasts
/// (the last matching phase wins), so a test can say "partition from 5 s to 8 s".
public struct FaultPlan: Sendable, Equatable {
    public struct Phase: Sendable, Equatable {
        public var from: Duration
        public var until: Duration
        public var settings: FaultSettings

        public init(from: Duration, until: Duration, settings: FaultSettings) {
            self.from = from
            self.until = until
            self.settings = settings
        }
    }

    public var base: FaultSettings
    public var phases: [Phase]

    public init(_ base: FaultSettings = .none, phases: [Phase] = []) {
        self.base = base
        self.phases = phases
    }

    public func settings(at now: Duration) -> FaultSettings {
        phases.last { $0.from <= now && now < $0.until }?.settings ?? base
    }
}

/// How many datagrams each fault touched.
public struct FaultCounts: Sendable, Equatable {
    public var dropped = 0
    public var partitioned = 0
    public var duplicated = 0
    public var reordered = 0
    public var corrupted = 0

    public init() {}
}

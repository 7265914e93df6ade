/// One node's slice of a dataset split across `count` nodes: `--shard I/N` with I from 1 to N.
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    /// Zero-based index of this shard.
    public let index: Int
    public let count: Int

    /// The most shards `--shard` accepts: far beyond any network this program runs (`simulate` stops
    /// at 20,000 nodes). The real limit, one training example per shard, needs the data and is
    /// checked by `PartitionScheme.shard` before anything is sized by the count.
    public static let maximumCount = 1_000_000

    public init(index: Int, count: Int) throws {
        guard count >= 1 else { throw DataError(file: "--shard", "the shard count must be at least 1") }
        guard count <= Self.maximumCount else {
            throw DataError(file: "--shard", "the shard count must be at most \(Self.maximumCount)")
        }
        guard (0..<count).contains(index) else {
            throw DataError(file: "--shard", "I must be from 1 to \(count)")
        }
        self.index = index
        self.count = count
    }

    /// Parses `I/N` (one-based I, as printed by `description`).
    public static func parse(_ text: String) throws -> Shard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw DataError(file: "--shard", "'\(text)' is not of the form I/N")
        }
        // Every I below 1 is the same error; `i - 1` would overflow at Int.min.
        return try Shard(index: max(i, 0) - 1, count: n)
    }

    /// The whole dataset as one shard.
    public static let whole = Shard(unchecked: 0, count: 1)

    private init(unchecked index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    public var description: String { "\(index + 1)/\(count)" }
}

/// How examples are dealt to shards: `iid` (uniform shuffle) or `dirichlet:ALPHA` (per-class shares
/// drawn from Dirichlet(ALPHA), the label-skew benchmark of Hsu et al. 2019; small ALPHA, strong skew).
/// Every node computes the same global assignment from the shared seed and keeps only its own shard.
public enum PartitionScheme: Equatable, Sendable, CustomStringConvertible {
    case iid
    case dirichlet(alpha: Double)

    public static func parse(_ text: String) throws -> PartitionScheme {
        if text == "iid" { return .iid }
        if text.hasPrefix("dirichlet:"), let alpha = Double(text.dropFirst("dirichlet:".count)), alpha > 0, alpha.isFinite {
            return .dirichlet(alpha: alpha)
        }
        throw DataError(file: "--partition", "'\(text)' is not iid or dirichlet:ALPHA with ALPHA > 0")
    }

    public var description: String {
        switch self {
        case .iid: "iid"
        case .dirichlet(let alpha): "dirichlet:\(alpha)"
        }
    }

    /// Indices of every shard (each sorted), deterministic for `seed`. Dirichlet draws are repeated
    /// (deterministically) until every shard holds at least `min(10, n / (2N))` examples.
    public func assign(labels: [Int32], classCount: Int, shards: Int, seed: UInt64) throws -> [[Int]] {
        var rng = SeededGenerator(seed: seed ^ 0x5041_5254_4954_494F) // "PARTITIO"
        switch self {
        case .iid:
            var order = Array(labels.indices)
            order.shuffle(using: &rng)
            return (0..<shards).map { s in stride(from: s, to: order.count, by: shards).map { order[$0] }.sorted() }
        case .dirichlet(let alpha):
            var byClass = [[Int]](repeating: [], count: classCount)
            for (i, label) in labels.enumerated() { byClass[Int(label)].append(i) }
            let minimum = min(10, labels.count / (2 * shards))
            for _ in 0..<1000 {
                var result = [[Int]](repeating: [], count: shards)
                for members in byClass {
                    var shuffled = members
                    shuffled.shuffle(using: &rng)
                    let gammas = (0..<shards).map { _ in rng.nextGamma(shape: alpha) }
                    let total = gammas.reduce(0, +)
                    var start = 0, cumulative = 0.0
                    for s in 0..<shards {
                        cumulative += gammas[s] / total
                        let end = s == shards - 1 ? shuffled.count : min(shuffled.count, Int((cumulative * Double(shuffled.count)).rounded()))
                        if end > start { result[s].append(contentsOf: shuffled[start..<end]) }
                        start = max(start, end)
                    }
                }
                if result.allSatisfy({ $0.count >= minimum }) { return result.map { $0.sorted() } }
            }
            throw DataError(file: "--partition", "dirichlet:\(alpha) could not give each of \(shards) shards \(minimum) examples; use a larger ALPHA or fewer shards")
        }
    }

    /// This shard's examples of `data`.
    /// More shards than examples is refused first: some shard would be empty, and `assign` builds
    /// one array per shard, so a huge count would exhaust memory.
    public func shard(_ data: Dataset, _ shard: Shard, seed: UInt64) throws -> Dataset {
        if shard.count == 1 { return data }
        guard shard.count <= data.count else {
            throw DataError(file: "--shard \(shard)", "\(shard.count) shards but only \(data.count) training examples (each shard needs at least one)")
        }
        let all = try assign(labels: data.labels, classCount: data.classCount, shards: shard.count, seed: seed)
        return data.subset(all[shard.index])
    }
}

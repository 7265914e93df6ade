import Testing
@testable import Learning

/// Shards: sizes, disjointness, label distributions and determinism.
@Suite struct PartitionTests {
    static let labels: [Int32] = (0..<6000).map { Int32($0 % 10) }

    @Test func iidShardsAreDisjointBalancedAndDeterministic() throws {
        let shards = try PartitionScheme.iid.assign(labels: Self.labels, classCount: 10, shards: 7, seed: 3)
        #expect(shards.map(\.count).max()! - shards.map(\.count).min()! <= 1)
        #expect(Set(shards.joined()).count == Self.labels.count)
        #expect(shards.joined().count == Self.labels.count)
        for shard in shards {
            var counts = [Int](repeating: 0, count: 10)
            for i in shard { counts[Int(Self.labels[i])] += 1 }
            #expect(counts.allSatisfy { $0 > 40 && $0 < 130 }, "iid shard far from uniform: \(counts)")
        }
        #expect(try PartitionScheme.iid.assign(labels: Self.labels, classCount: 10, shards: 7, seed: 3) == shards)
        #expect(try PartitionScheme.iid.assign(labels: Self.labels, classCount: 10, shards: 7, seed: 4) != shards)
    }

    @Test func dirichletSkewsLabelsMoreForSmallAlpha() throws {
        func skew(_ alpha: Double) throws -> Double {
            let shards = try PartitionScheme.dirichlet(alpha: alpha).assign(labels: Self.labels, classCount: 10, shards: 5, seed: 9)
            #expect(Set(shards.joined()).count == Self.labels.count && shards.joined().count == Self.labels.count)
            // Mean over shards of the largest class share.
            return shards.map { shard in
                var counts = [Int](repeating: 0, count: 10)
                for i in shard { counts[Int(Self.labels[i])] += 1 }
                return Double(counts.max()!) / Double(shard.count)
            }.reduce(0, +) / Double(shards.count)
        }
        let strong = try skew(0.1), mild = try skew(100)
        #expect(strong > 0.4, "alpha 0.1 should concentrate labels: \(strong)")
        #expect(mild < 0.15, "alpha 100 should be close to uniform: \(mild)")
    }

    @Test func shardParsingAndErrors() throws {
        let shard = try Shard.parse("2/5")
        #expect(shard.index == 1 && shard.count == 5 && shard.description == "2/5")
        for bad in ["0/5", "6/5", "a/b", "3", "1/0"] { #expect(throws: DataError.self) { try Shard.parse(bad) } }
        #expect(try PartitionScheme.parse("dirichlet:0.5") == .dirichlet(alpha: 0.5))
        for bad in ["dirichlet:0", "dirichlet:-1", "skew"] { #expect(throws: DataError.self) { try PartitionScheme.parse(bad) } }
    }

    /// The count is bounded before any data is read, and an I/N at the extremes of Int is an
    /// error, not an overflow trap.
    @Test(arguments: [
        ("1/0", "the shard count must be at least 1"),
        ("1/-5", "the shard count must be at least 1"),
        ("1/9223372036854775807", "the shard count must be at most 1000000"),
        ("1/1000001", "the shard count must be at most 1000000"),
        ("-9223372036854775808/5", "I must be from 1 to 5"),
        ("9223372036854775807/5", "I must be from 1 to 5"),
    ])
    func shardParsingBoundsTheCount(_ text: String, _ message: String) {
        #expect(throws: DataError(file: "--shard", message)) { try Shard.parse(text) }
    }

    /// Each shard must be able to hold an example; the check comes before `assign` builds one
    /// array per shard (a count of 10^9 used to take gigabytes, and more, crash).
    @Test(arguments: [PartitionScheme.iid, .dirichlet(alpha: 1)])
    func moreShardsThanExamplesIsAnError(_ scheme: PartitionScheme) throws {
        let data = try Dataset(features: (0..<10).map(Float.init), labels: (0..<10).map { Int32($0 % 2) }, featureCount: 1, classCount: 2)
        #expect(throws: DataError(file: "--shard 1/11", "11 shards but only 10 training examples (each shard needs at least one)")) {
            try scheme.shard(data, try Shard.parse("1/11"), seed: 1)
        }
        #expect(throws: DataError(file: "--shard 3/1000000", "1000000 shards but only 10 training examples (each shard needs at least one)")) {
            try scheme.shard(data, try Shard.parse("3/1000000"), seed: 1)
        }
        #expect(try PartitionScheme.iid.shard(data, try Shard.parse("10/10"), seed: 1).count == 1)
    }

    @Test func shardOfDatasetKeepsClassCount() throws {
        let data = try Dataset(features: Self.labels.map(Float.init), labels: Self.labels, featureCount: 1, classCount: 10)
        let part = try PartitionScheme.iid.shard(data, try Shard.parse("3/4"), seed: 1)
        #expect(part.count == 1500 && part.classCount == 10)
        #expect(zip(part.features, part.labels).allSatisfy { Int32($0) == $1 })
    }
}

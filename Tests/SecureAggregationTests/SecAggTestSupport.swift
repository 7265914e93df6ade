import Crypto
@testable import SecureAggregation
import TestKit

/// Shared fixtures: a group's configuration, random inputs, and the sum they must produce.
enum Fixture {
    static let networkID = [UInt8](repeating: 7, count: 32)

    static func members(_ k: Int, seed: UInt64 = 1) -> [PublicKey] {
        var rng = seededRandom(seed)
        return (0..<k).map { _ in KeyPair.generate(using: &rng).publicKey }
    }

    static func configuration(k: Int, t: Int? = nil, d: Int = 37, round: UInt64 = 5, group: UInt32 = 2,
                              networkID: [UInt8] = networkID, me: Int = 0,
                              timeout: Duration = .seconds(10)) -> SecAggConfiguration {
        // Smallest legal threshold: a strict majority, and at least 3.
        let threshold = t ?? max(k / 2 + 1, 3)
        return try! SecAggConfiguration(networkID: networkID, round: round, group: group, members: members(k),
                                        me: me, threshold: threshold, vectorLength: d, phaseTimeout: timeout)
    }

    static func inputs(k: Int, d: Int, seed: UInt64) -> [[UInt32]] {
        var rng = seededRandom(seed)
        return (0..<k).map { _ in (0..<d).map { _ in UInt32(truncatingIfNeeded: rng.nextUInt64()) } }
    }

    /// Σ of the inputs of `members`, word by word mod 2^32.
    static func sum(_ inputs: [[UInt32]], of members: [Int]) -> [UInt32] {
        var total = [UInt32](repeating: 0, count: inputs[0].count)
        for m in members { for i in total.indices { total[i] &+= inputs[m][i] } }
        return total
    }

    static func group(k: Int, t: Int? = nil, d: Int = 37, seed: UInt64 = 9) -> SecAggLocalGroup {
        try! SecAggLocalGroup(configuration: configuration(k: k, t: t, d: d), seed: seed)
    }
}

import Crypto
@testable import SecureAggregation

/// Tallies, from the traffic of a local group, which holders' shares of whose secrets reached
/// whom, so a test can check that nobody could reconstruct what it must not.
struct ShareAudit {
    enum Kind: Hashable { case seed, key }
    struct Secret: Hashable { let owner: Int; let kind: Kind }

    /// For each secret, the holders whose share reached each recipient.
    var received: [Secret: [Int: Set<Int>]] = [:]
    /// Which members hold a share of whose secrets (from Share messages, or their own).
    var holds: [Int: Set<Int>] = [:]
    /// The revealed share values themselves, by (recipient, holder).
    struct Delivery: Hashable { let recipient: Int; let holder: Int }
    var revealedValues: [Secret: [Delivery: SecretBytes]] = [:]

    /// Configurations of every member (needed to decode what they receive).
    let configurations: [SecAggConfiguration]

    init(_ group: SecAggLocalGroup) { configurations = group.sessions.map(\.configuration) }

    mutating func record(_ envelope: SecAggLocalGroup.Envelope) {
        let configuration = configurations[envelope.to]
        guard let message = try? SecAggWire.decode(envelope.bytes, from: envelope.from, configuration) else { return }
        switch message {
        case .shares:
            holds[envelope.to, default: [envelope.to]].insert(envelope.from)
        case let .unmaskResponse(.shares(seed, key)):
            for (owner, value) in seed {
                let secret = Secret(owner: owner, kind: .seed)
                received[secret, default: [:]][envelope.to, default: []].insert(envelope.from)
                revealedValues[secret, default: [:]][Delivery(recipient: envelope.to, holder: envelope.from)] = value
            }
            for (owner, value) in key {
                let secret = Secret(owner: owner, kind: .key)
                received[secret, default: [:]][envelope.to, default: []].insert(envelope.from)
                revealedValues[secret, default: [:]][Delivery(recipient: envelope.to, holder: envelope.from)] = value
            }
        default:
            break
        }
    }

    /// Distinct shares of one secret that the members of `pool` have between them: the shares
    /// they hold themselves plus every share revealed to any of them.
    func pooledHolders(of secret: Secret, pool: Set<Int>) -> Set<Int> {
        var holders = Set<Int>()
        for member in pool where holds[member, default: [member]].contains(secret.owner) || member == secret.owner {
            holders.insert(member)
        }
        for (recipient, from) in received[secret] ?? [:] where pool.contains(recipient) { holders.formUnion(from) }
        return holders
    }

    func maxPooledHolders(threshold: Int, pool: Set<Int>) -> Int {
        var worst = 0
        for owner in 0..<64 {
            for kind in [Kind.seed, .key] {
                worst = max(worst, pooledHolders(of: Secret(owner: owner, kind: kind), pool: pool).count)
            }
        }
        return worst
    }

    /// Members whose seed AND key could both be reconstructed by the pool.
    func fullyExposed(threshold: Int, pool: Set<Int>, groupSize: Int) -> [Int] {
        (0..<groupSize).filter { owner in
            pooledHolders(of: Secret(owner: owner, kind: .seed), pool: pool).count >= threshold
                && pooledHolders(of: Secret(owner: owner, kind: .key), pool: pool).count >= threshold
        }
    }
}

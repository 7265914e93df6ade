import Crypto

/// The rule that keeps differing views from unmasking anyone: for each member, this member uses
/// or reveals shares of its self-mask seed `b` or of its mask key, never both, in one round.
///
/// Its own unmasking decision counts like an answer to itself, so that two colluding members with
/// different views cannot pool one `b` and the other the key of the same member.
struct ResponderLedger: Sendable {
    private(set) var seedRevealed = MemberSet()
    private(set) var keyRevealed = MemberSet()

    /// Records that seed shares of `survivors` and key shares of `dropped` go out, if that is
    /// consistent with everything recorded before; otherwise records nothing and returns false.
    mutating func commit(seedOf survivors: MemberSet, keyOf dropped: MemberSet) -> Bool {
        guard survivors.isDisjoint(with: keyRevealed), dropped.isDisjoint(with: seedRevealed) else { return false }
        seedRevealed = seedRevealed.union(survivors)
        keyRevealed = keyRevealed.union(dropped)
        return true
    }
}

/// Shares gathered for the secrets a requester must reconstruct: `b` of every other survivor and
/// the mask key of every dropped member, until `threshold` distinct shares of each arrived.
struct ShareCollector: Sendable {
    let threshold: Int
    private(set) var seedShares: [Int: [ShamirShare]]
    private(set) var keyShares: [Int: [ShamirShare]]

    init(seedOf survivors: MemberSet, keyOf dropped: MemberSet, threshold: Int) {
        self.threshold = threshold
        seedShares = Dictionary(uniqueKeysWithValues: survivors.map { ($0, []) })
        keyShares = Dictionary(uniqueKeysWithValues: dropped.map { ($0, []) })
    }

    var seedMembers: MemberSet { MemberSet(seedShares.keys) }
    var keyMembers: MemberSet { MemberSet(keyShares.keys) }

    /// Adds the share that member `holder` holds (x = holder + 1); extra shares beyond the
    /// threshold are not needed and are dropped.
    mutating func add(seedOf member: Int, from holder: Int, _ value: SecretBytes) {
        guard var shares = seedShares[member], shares.count < threshold else { return }
        shares.append(ShamirShare(index: UInt8(holder + 1), value: value))
        seedShares[member] = shares
    }

    mutating func add(keyOf member: Int, from holder: Int, _ value: SecretBytes) {
        guard var shares = keyShares[member], shares.count < threshold else { return }
        shares.append(ShamirShare(index: UInt8(holder + 1), value: value))
        keyShares[member] = shares
    }

    var isComplete: Bool {
        seedShares.values.allSatisfy { $0.count >= threshold } && keyShares.values.allSatisfy { $0.count >= threshold }
    }

    /// Members whose secret still lacks shares, ascending.
    var missing: [Int] {
        let short = seedShares.filter { $0.value.count < threshold }.map(\.key)
            + keyShares.filter { $0.value.count < threshold }.map(\.key)
        return Array(MemberSet(short))
    }
}

/// The per-round pairwise mask seed of members u and v, the same from both ends:
/// `KDF(X25519(msk_u, mpk_v), "gossipnode/secagg/pair", ctx || u16 lo || u16 hi || mpk_lo || mpk_hi)`,
/// where lo < hi are the two member indices.
enum PairwiseSeed {
    static let label = "gossipnode/secagg/pair"

    static func derive(ownKeys: KeyPair, ownIndex: Int, peerKey: PublicKey, peerIndex: Int,
                       context: [UInt8]) throws -> SecretBytes {
        let shared = try ownKeys.sharedSecret(with: peerKey)
        let (lowKey, highKey) = ownIndex < peerIndex ? (ownKeys.publicKey, peerKey) : (peerKey, ownKeys.publicKey)
        var input = context
        input.appendLittleEndian(UInt16(min(ownIndex, peerIndex)))
        input.appendLittleEndian(UInt16(max(ownIndex, peerIndex)))
        input += lowKey.bytes
        input += highKey.bytes
        return KDF.derive(from: shared, label: label, context: input)
    }

    /// The sign of v's pairwise mask in u's masked input: + when u < v, − when u > v.
    static func isNegated(owner u: Int, partner v: Int) -> Bool { u > v }
}

import Crypto

/// One member's decision of who survived: the `b` of `survivors` and the mask key of `dropped`
/// must be reconstructed to unmask its sum.
struct UnmaskView: Hashable, Sendable {
    let survivors: MemberSet
    let dropped: MemberSet
}

/// Picks the single view of the round this member helps unmask: the first that `threshold`
/// members voted for (an unmask request is a vote; this member's own decision is its vote).
///
/// Why: members may see different dropouts, and a member who helps with two views would hand
/// out `b` shares of some member w to one requester and key shares of w to another. Colluders
/// pool those with the shares they hold themselves, so even a responder that never reveals both
/// kinds does not stop t-1 colluders from learning x_w (SPEC §7.5). Each member votes once, and
/// two views with t votes each would need 2t > k voters, so at most one view per round is ever
/// answered by anyone, and for each member only one kind of share ever leaves its holders.
struct ViewQuorum: Sendable {
    let threshold: Int
    private(set) var votes: [Int: UnmaskView] = [:]
    private(set) var chosen: UnmaskView?

    init(threshold: Int) { self.threshold = threshold }

    /// Records `member`'s vote; false if it already voted.
    mutating func vote(_ member: Int, for view: UnmaskView) -> Bool {
        guard votes[member] == nil else { return false }
        votes[member] = view
        if chosen == nil, votes.values.filter({ $0 == view }).count >= threshold { chosen = view }
        return true
    }
}

/// Shares gathered for the secrets a requester must reconstruct: `b` of every other survivor and
/// the mask key of every dropped member.
///
/// Every share that arrives is kept, not just the first `threshold`: with exactly t shares Shamir
/// cannot tell a corrupted one, but the owner's advertisement can (SPEC §7.1), and with more than
/// t another t of them can be tried, so one responder that lies does not fail the round.
/// Responders send every share they hold anyway; keeping them reveals nothing more.
struct ShareCollector: Sendable {
    let threshold: Int
    private(set) var seedShares: [Int: [ShamirShare]]
    private(set) var keyShares: [Int: [ShamirShare]]
    /// How many shares were held when reconstruction last failed its check: it is tried again
    /// only once more have come.
    private var sharesAtFailedAttempt: Int?
    /// The members whose secret the last attempt could not reconstruct from shares it accepts.
    private(set) var unverifiable = MemberSet()

    /// How many t-subsets beyond the first one of each secret one attempt may try, over all its
    /// secrets: enough for every subset of a small group's secrets (k = 5: at most 9 more per
    /// secret), and a bound on the work a liar can cause in a large one (a subset costs O(t²)).
    static let extraSubsetsPerAttempt = 64

    init(seedOf survivors: MemberSet, keyOf dropped: MemberSet, threshold: Int) {
        self.threshold = threshold
        seedShares = Dictionary(uniqueKeysWithValues: survivors.map { ($0, []) })
        keyShares = Dictionary(uniqueKeysWithValues: dropped.map { ($0, []) })
    }

    var seedMembers: MemberSet { MemberSet(seedShares.keys) }
    var keyMembers: MemberSet { MemberSet(keyShares.keys) }

    /// Adds the share that member `holder` holds (x = holder + 1).
    mutating func add(seedOf member: Int, from holder: Int, _ value: SecretBytes) {
        seedShares[member]?.append(ShamirShare(index: UInt8(holder + 1), value: value))
    }

    mutating func add(keyOf member: Int, from holder: Int, _ value: SecretBytes) {
        keyShares[member]?.append(ShamirShare(index: UInt8(holder + 1), value: value))
    }

    private var shareCount: Int {
        seedShares.values.reduce(0) { $0 + $1.count } + keyShares.values.reduce(0) { $0 + $1.count }
    }

    /// Every secret has t shares, and some arrived since the last attempt failed.
    var isReadyToReconstruct: Bool {
        seedShares.values.allSatisfy { $0.count >= threshold } && keyShares.values.allSatisfy { $0.count >= threshold }
            && sharesAtFailedAttempt != shareCount
    }

    /// Records that `members` could not be reconstructed from the shares held now.
    mutating func attemptFailed(for members: MemberSet) {
        sharesAtFailedAttempt = shareCount
        unverifiable = members
    }

    /// Members whose secret still lacks shares, ascending.
    var missing: [Int] {
        let short = seedShares.filter { $0.value.count < threshold }.map(\.key)
            + keyShares.filter { $0.value.count < threshold }.map(\.key)
        return Array(MemberSet(short))
    }

    /// The first secret, over t-subsets of `shares` in lexicographic order of their positions,
    /// that `accept` turns into a value; nil when none does. The first subset (the first t shares)
    /// is always tried; each further one spends one of `budget`.
    static func reconstruct<Secret>(_ shares: [ShamirShare], threshold t: Int, budget: inout Int,
                                    accept: (SecretBytes) -> Secret?) -> Secret? {
        guard t >= 1, shares.count >= t else { return nil }
        var chosen = Array(0..<t)
        while true {
            if let secret = try? Shamir.combine(chosen.map { shares[$0] }, threshold: t), let value = accept(secret) {
                return value
            }
            // Next combination: bump the rightmost position that can still move right.
            guard budget > 0, let i = (0..<t).last(where: { chosen[$0] < shares.count - t + $0 }) else { return nil }
            budget -= 1
            chosen[i] += 1
            for j in (i + 1)..<t { chosen[j] = chosen[j - 1] + 1 }
        }
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

/// A member's binding to its self-mask seed, sent in its advertisement:
/// `KDF(b_u, "gossipnode/secagg/seed-commitment", ctx || u16 u)`, 32 bytes.
///
/// Why: with exactly t shares Shamir cannot tell a wrong share from a right one. A reconstructed
/// mask key is checked against the advertised mask key; this is the same check for b_u, so a
/// corrupted seed share fails the round for its requester instead of leaving a wrong sum. It
/// reveals nothing about b_u (a keyed hash of a 32-byte random key) and binds it (finding another
/// seed with the same commitment is a BLAKE2b collision).
enum SeedCommitment {
    static let label = "gossipnode/secagg/seed-commitment"
    static let byteCount = 32

    static func make(seed: SecretBytes, owner: Int, context: [UInt8]) -> [UInt8] {
        var input = context
        input.appendLittleEndian(UInt16(owner))
        return KDF.derive(from: seed, label: label, context: input, outputLength: byteCount).copyBytes()
    }
}

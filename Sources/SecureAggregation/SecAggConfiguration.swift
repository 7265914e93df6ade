import Crypto

/// Everything that binds one secure-aggregation session: which network, round and group, who the
/// members are, the threshold, the vector length and the phase timeouts.
///
/// Every member of a group must build an identical configuration (except `me`); its `context`
/// digest is carried by every message, so a message from another network, round, group, member
/// list, threshold or vector length is rejected.
public struct SecAggConfiguration: Sendable {
    public static let networkIDByteCount = 32
    /// Shamir shares are indexed by one byte (x = index + 1), and bitmaps by member index.
    public static let maximumGroupSize = 255
    /// 2^28 words = 1 GiB per masked input: far above any model this project trains.
    public static let maximumVectorLength = 1 << 28
    public static let maximumAnnotationByteCount = 64

    public let networkID: [UInt8]
    public let round: UInt64
    public let group: UInt32
    /// The members' static public keys, in group order: member i is `members[i]`.
    public let members: [PublicKey]
    /// This member's index in `members`.
    public let me: Int
    /// Shares needed to reconstruct a secret, and the fewest live members a phase may end with.
    public let threshold: Int
    /// Words per input vector (d).
    public let vectorLength: Int
    /// How long each phase waits for messages before going on with whoever answered.
    public let phaseTimeout: Duration
    /// How long the first phase waits for advertisements (members may start at different times).
    public let advertiseTimeout: Duration
    /// H(...) of every field above but `me`: see SPEC §7.
    public let context: [UInt8]

    public var groupSize: Int { members.count }

    /// The 16 bytes of `context` that every message of this session carries: a driver running
    /// several sessions (rounds, groups) routes a message to the session with its tag.
    public var sessionTag: [UInt8] { Array(context.prefix(SecAggWire.contextPrefixByteCount)) }

    public init(networkID: [UInt8], round: UInt64, group: UInt32, members: [PublicKey], me: Int,
                threshold: Int, vectorLength: Int, phaseTimeout: Duration,
                advertiseTimeout: Duration? = nil) throws(SecAggConfigurationError) {
        let k = members.count
        guard networkID.count == Self.networkIDByteCount else {
            throw .invalid("network id must be \(Self.networkIDByteCount) bytes, got \(networkID.count)")
        }
        guard (3...Self.maximumGroupSize).contains(k) else {
            throw .invalid("group size \(k) outside 3...\(Self.maximumGroupSize)")
        }
        guard Set(members).count == k else { throw .invalid("the member list names a key twice") }
        guard (0..<k).contains(me) else { throw .invalid("own index \(me) outside 0..<\(k)") }
        // t > k/2: two members with different views of who dropped need t responders each, and two
        // sets of t out of k always share a member, who reveals only one kind of share (SPEC §7.5).
        guard threshold > k / 2 else {
            throw .invalid("threshold \(threshold) must be more than half the group size \(k)")
        }
        // t >= 3: a member learns the sum of the other survivors; with two survivors that is one
        // member's input in the clear.
        guard threshold >= 3 else {
            throw .invalid("threshold \(threshold) must be at least 3 so no member can learn another's input")
        }
        guard threshold <= k else { throw .invalid("threshold \(threshold) exceeds group size \(k)") }
        guard (1...Self.maximumVectorLength).contains(vectorLength) else {
            throw .invalid("vector length \(vectorLength) outside 1...\(Self.maximumVectorLength)")
        }
        let advertise = advertiseTimeout ?? phaseTimeout
        guard phaseTimeout > .zero, advertise > .zero else { throw .invalid("timeouts must be positive") }

        self.networkID = networkID
        self.round = round
        self.group = group
        self.members = members
        self.me = me
        self.threshold = threshold
        self.vectorLength = vectorLength
        self.phaseTimeout = phaseTimeout
        self.advertiseTimeout = advertise
        self.context = Self.digest(networkID: networkID, round: round, group: group, members: members,
                                   threshold: threshold, vectorLength: vectorLength)
    }

    /// The same session as seen by member `index` (tests and in-process groups).
    public func forMember(_ index: Int) throws(SecAggConfigurationError) -> SecAggConfiguration {
        try SecAggConfiguration(networkID: networkID, round: round, group: group, members: members, me: index,
                                threshold: threshold, vectorLength: vectorLength, phaseTimeout: phaseTimeout,
                                advertiseTimeout: advertiseTimeout)
    }

    /// `ctx = H("gossipnode/secagg/v1" || network_id || u64 round || u32 group || u16 k || u16 t ||
    /// u32 d || members' public keys)`.
    static func digest(networkID: [UInt8], round: UInt64, group: UInt32, members: [PublicKey],
                       threshold: Int, vectorLength: Int) -> [UInt8] {
        var input = Array("gossipnode/secagg/v1".utf8)
        input += networkID
        input.appendLittleEndian(round)
        input.appendLittleEndian(group)
        input.appendLittleEndian(UInt16(members.count))
        input.appendLittleEndian(UInt16(threshold))
        input.appendLittleEndian(UInt32(vectorLength))
        for member in members { input += member.bytes }
        return KDF.hash(input)
    }
}

/// A configuration that cannot run safely; the message says which field and why.
public enum SecAggConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case let .invalid(why): return "invalid secure-aggregation configuration: \(why)"
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

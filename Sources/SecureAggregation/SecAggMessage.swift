import Crypto

/// The five message types of a session, in protocol order.
public enum SecAggMessageKind: UInt8, Sendable, Comparable, CaseIterable {
    case advertise = 1
    case shares = 2
    case maskedInput = 3
    case unmaskRequest = 4
    case unmaskResponse = 5

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// One decoded message. A masked input is not copied out of the datagram: the session adds its
/// words into the running sum straight from the received bytes at `payloadOffset`.
enum SecAggMessage {
    /// The sender's mask key, its commitment to its self-mask seed, and its public annotation.
    case advertise(maskKey: PublicKey, seedCommitment: [UInt8], annotation: [UInt8])
    /// The sender's shares for the recipient, and the members whose advertisements the sender
    /// held when it left the advertise phase (its A set, SPEC §7.1).
    /// `senderKey` fingerprints the mask key the sender advertised: shares of another incarnation
    /// of the sender (it restarted mid-round with a new key) must not be taken for this one's.
    case shares(keyShare: SecretBytes, seedShare: SecretBytes, roster: MemberSet, senderKey: [UInt8])
    /// `keys` fingerprints the sender's mask key and then, in ascending member order, each
    /// partner's as the sender held it: a mask made with a key the recipient does not hold for
    /// that member would neither cancel nor be removable.
    case maskedInput(maskedWith: MemberSet, keys: [UInt8], payloadOffset: Int)
    case unmaskRequest(survivors: MemberSet, dropped: MemberSet)
    case unmaskResponse(UnmaskResponse)

    var kind: SecAggMessageKind {
        switch self {
        case .advertise: return .advertise
        case .shares: return .shares
        case .maskedInput: return .maskedInput
        case .unmaskRequest: return .unmaskRequest
        case .unmaskResponse: return .unmaskResponse
        }
    }
}

/// A responder's answer: its shares of the requested secrets, or a refusal because the request
/// conflicts with what it already revealed this round.
enum UnmaskResponse {
    case declined
    /// Share values indexed by the member whose secret they belong to.
    case shares(seed: [Int: SecretBytes], key: [Int: SecretBytes])
}

/// Byte layouts of SPEC §7.4. Every message starts with
/// `u8 version || u8 type || ctx[0..<16] || u16 sender`; all integers little-endian.
enum SecAggWire {
    /// 2 since advertisements carry the seed commitment; 3 since shares and masked inputs name
    /// the mask keys they were made with.
    static let version: UInt8 = 3
    static let contextPrefixByteCount = 16
    static let headerByteCount = 2 + contextPrefixByteCount + 2
    static let shareByteCount = 32
    /// Bytes of a mask key that name it in shares and masked inputs (its first 8: keys are random
    /// points, and a member that lies about keys can spoil a round anyway).
    static let keyFingerprintByteCount = 8

    static func keyFingerprint(_ key: PublicKey) -> [UInt8] { Array(key.bytes.prefix(keyFingerprintByteCount)) }

    /// Whose mask-key fingerprints a masked input carries, in wire order: the sender's, then each
    /// partner's in ascending member order.
    static func maskedInputKeyOwners(sender: Int, partners: MemberSet) -> [Int] { [sender] + Array(partners) }

    // MARK: Encoding

    static func header(_ kind: SecAggMessageKind, _ configuration: SecAggConfiguration) -> [UInt8] {
        var bytes: [UInt8] = [version, kind.rawValue]
        bytes += configuration.context.prefix(contextPrefixByteCount)
        bytes.appendLittleEndian(UInt16(configuration.me))
        return bytes
    }

    static func advertise(maskKey: PublicKey, seedCommitment: [UInt8], annotation: [UInt8],
                          _ configuration: SecAggConfiguration) -> [UInt8] {
        var bytes = header(.advertise, configuration)
        bytes += maskKey.bytes
        bytes += seedCommitment
        bytes.append(UInt8(annotation.count))
        bytes += annotation
        return bytes
    }

    static func shares(keyShare: SecretBytes, seedShare: SecretBytes, roster: MemberSet, senderKey: PublicKey,
                       _ configuration: SecAggConfiguration) -> [UInt8] {
        var bytes = header(.shares, configuration)
        keyShare.withUnsafeBytes { bytes += $0 }
        seedShare.withUnsafeBytes { bytes += $0 }
        bytes += roster.bitmap(groupSize: configuration.groupSize)
        bytes += keyFingerprint(senderKey)
        return bytes
    }

    /// A masked-input message whose vector part `fill` writes in place (4·d bytes, little-endian words).
    /// `keys`: the mask keys of `maskedInputKeyOwners`, in that order.
    static func maskedInput(maskedWith: MemberSet, keys: [PublicKey], _ configuration: SecAggConfiguration,
                            fill: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
        var bytes = header(.maskedInput, configuration)
        bytes += maskedWith.bitmap(groupSize: configuration.groupSize)
        for key in keys { bytes += keyFingerprint(key) }
        let payloadOffset = bytes.count
        bytes += repeatElement(0, count: 4 * configuration.vectorLength)
        bytes.withUnsafeMutableBytes { fill(UnsafeMutableRawBufferPointer(rebasing: $0[payloadOffset...])) }
        return bytes
    }

    static func unmaskRequest(survivors: MemberSet, dropped: MemberSet, _ configuration: SecAggConfiguration) -> [UInt8] {
        var bytes = header(.unmaskRequest, configuration)
        bytes += survivors.bitmap(groupSize: configuration.groupSize)
        bytes += dropped.bitmap(groupSize: configuration.groupSize)
        return bytes
    }

    static func unmaskResponse(_ response: UnmaskResponse, _ configuration: SecAggConfiguration) -> [UInt8] {
        var bytes = header(.unmaskResponse, configuration)
        switch response {
        case .declined:
            bytes.append(1)
        case let .shares(seed, key):
            bytes.append(0)
            let k = configuration.groupSize
            bytes += MemberSet(seed.keys).bitmap(groupSize: k)
            bytes += MemberSet(key.keys).bitmap(groupSize: k)
            for (_, share) in seed.sorted(by: { $0.key < $1.key }) { share.withUnsafeBytes { bytes += $0 } }
            for (_, share) in key.sorted(by: { $0.key < $1.key }) { share.withUnsafeBytes { bytes += $0 } }
        }
        return bytes
    }

    // MARK: Decoding

    /// Checks the header against the session and parses the body; never traps on any input.
    static func decode(_ bytes: [UInt8], from sender: Int,
                       _ configuration: SecAggConfiguration) throws(SecAggRejection) -> SecAggMessage {
        let k = configuration.groupSize
        guard bytes.count >= headerByteCount else {
            throw .malformed("\(bytes.count) bytes is shorter than the \(headerByteCount)-byte header")
        }
        guard bytes[0] == version else { throw .unsupportedVersion(bytes[0]) }
        guard let kind = SecAggMessageKind(rawValue: bytes[1]) else { throw .malformed("unknown type \(bytes[1])") }
        guard bytes[2..<(2 + contextPrefixByteCount)].elementsEqual(configuration.context.prefix(contextPrefixByteCount)) else {
            throw .wrongContext
        }
        let claimed = Int(bytes[headerByteCount - 2]) | Int(bytes[headerByteCount - 1]) << 8
        guard claimed == sender else { throw .wrongSender(claimed: claimed, actual: sender) }
        var body = bytes[headerByteCount...]
        let bitmapBytes = MemberSet.bitmapByteCount(groupSize: k)

        func take(_ n: Int) throws(SecAggRejection) -> ArraySlice<UInt8> {
            guard body.count >= n else { throw .malformed("\(kind) message truncated") }
            defer { body = body.dropFirst(n) }
            return body.prefix(n)
        }
        func members(_ what: String) throws(SecAggRejection) -> MemberSet {
            guard let set = MemberSet(bitmap: try take(bitmapBytes), groupSize: k) else {
                throw .malformed("\(what) bitmap names a member beyond the group")
            }
            return set
        }
        func end() throws(SecAggRejection) {
            guard body.isEmpty else { throw .malformed("\(body.count) trailing bytes after \(kind) message") }
        }

        switch kind {
        case .advertise:
            let keyBytes = Array(try take(PublicKey.byteCount))
            let commitment = Array(try take(SeedCommitment.byteCount))
            let length = Int(try take(1).first ?? 0)
            guard length <= SecAggConfiguration.maximumAnnotationByteCount else {
                throw .malformed("annotation of \(length) bytes exceeds \(SecAggConfiguration.maximumAnnotationByteCount)")
            }
            let annotation = Array(try take(length))
            try end()
            guard let key = try? PublicKey(bytes: keyBytes) else { throw .malformed("mask key") }
            return .advertise(maskKey: key, seedCommitment: commitment, annotation: annotation)
        case .shares:
            let keyShare = SecretBytes(copying: try take(shareByteCount))
            let seedShare = SecretBytes(copying: try take(shareByteCount))
            let roster = try members("roster")
            let senderKey = Array(try take(keyFingerprintByteCount))
            try end()
            guard roster.contains(sender) else { throw .malformed("a roster without its sender") }
            return .shares(keyShare: keyShare, seedShare: seedShare, roster: roster, senderKey: senderKey)
        case .maskedInput:
            let maskedWith = try members("mask set")
            guard !maskedWith.contains(sender) else { throw .malformed("a member cannot mask with itself") }
            let keys = Array(try take(keyFingerprintByteCount * (1 + maskedWith.count)))
            let payloadOffset = body.startIndex
            guard body.count == 4 * configuration.vectorLength else {
                throw .malformed("masked input of \(body.count) bytes, expected \(4 * configuration.vectorLength)")
            }
            return .maskedInput(maskedWith: maskedWith, keys: keys, payloadOffset: payloadOffset)
        case .unmaskRequest:
            let survivors = try members("survivor")
            let dropped = try members("dropped")
            try end()
            return .unmaskRequest(survivors: survivors, dropped: dropped)
        case .unmaskResponse:
            let status = try take(1).first ?? 255
            if status == 1 {
                try end()
                return .unmaskResponse(.declined)
            }
            guard status == 0 else { throw .malformed("unknown response status \(status)") }
            let seedMembers = try members("seed-share")
            let keyMembers = try members("key-share")
            var seed: [Int: SecretBytes] = [:], key: [Int: SecretBytes] = [:]
            for member in seedMembers { seed[member] = SecretBytes(copying: try take(shareByteCount)) }
            for member in keyMembers { key[member] = SecretBytes(copying: try take(shareByteCount)) }
            try end()
            return .unmaskResponse(.shares(seed: seed, key: key))
        }
    }
}

/// The node-level framing of every message between peers: which subsystem it is for and a round:
/// a secure-aggregation message's round, or the round a liveness message's sender is in (0 before
/// its first). `u8 kind || u64 round || payload` (SPEC.md §8).
public enum NodeEnvelope: Sendable, Equatable {
    case secureAggregation(round: UInt64, payload: [UInt8])
    case liveness(round: UInt64, payload: [UInt8])

    static let headerSize = 9

    public var bytes: [UInt8] {
        switch self {
        case let .secureAggregation(round, payload): return Self.header(1, round) + payload
        case let .liveness(round, payload): return Self.header(2, round) + payload
        }
    }

    private static func header(_ kind: UInt8, _ round: UInt64) -> [UInt8] {
        var out = [kind]
        withUnsafeBytes(of: round.littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// Whether `bytes` frame a secure-aggregation message (read without copying the payload).
    static func isSecureAggregation(_ bytes: [UInt8]) -> Bool { bytes.count >= headerSize && bytes[0] == 1 }

    /// Whether `bytes` frame a peer's leave (`Liveness.Message.leave`).
    static func isLeave(_ bytes: [UInt8]) -> Bool {
        bytes.count == headerSize + 7 && bytes[0] == 2 && Liveness.Message(bytes: Array(bytes[headerSize...]), peerCount: 1) == .leave
    }

    /// Decodes the framing; nil for an unknown kind or a short message.
    public init?(bytes: [UInt8]) {
        guard bytes.count >= Self.headerSize else { return nil }
        let round = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[1 + $1]) << (8 * UInt64($1)) }
        let payload = Array(bytes[Self.headerSize...])
        switch bytes[0] {
        case 1: self = .secureAggregation(round: round, payload: payload)
        case 2: self = .liveness(round: round, payload: payload)
        default: return nil
        }
    }
}

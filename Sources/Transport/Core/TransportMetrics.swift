/// Why an incoming datagram (or one chunk of it) was thrown away.
public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Too short, unknown version or type, or frames that do not parse.
    case malformed
    /// Longer than the configured MTU.
    case oversized
    /// Network tag of another peer list.
    case wrongNetwork
    /// Sender index out of range or this node's own, or addressed to another node.
    case unknownPeer
    /// Came from an address that is not the claimed sender's.
    case wrongSource
    /// From an older session of the sender, or addressed to an older session of this node.
    case staleSession
    /// Counter already seen or too old for the replay window.
    case replayed
    /// AEAD verification failed: forged, corrupted, or keys that do not match.
    case authenticationFailed
    /// A chunk refused because reassembly memory is full (the sender retransmits it later).
    case reassemblyFull

    public var description: String {
        switch self {
        case .malformed: return "malformed"
        case .oversized: return "oversized"
        case .wrongNetwork: return "wrong_network"
        case .unknownPeer: return "unknown_peer"
        case .wrongSource: return "wrong_source"
        case .staleSession: return "stale_session"
        case .replayed: return "replayed"
        case .authenticationFailed: return "authentication_failed"
        case .reassemblyFull: return "reassembly_full"
        }
    }
}

/// Counters of one transport endpoint since it started. Plain values: read, compare, subtract.
public struct TransportMetrics: Sendable, Equatable {
    public var datagramsSent = 0
    public var bytesSent = 0
    public var datagramsReceived = 0
    public var bytesReceived = 0
    public var messagesQueued = 0
    public var messagesDelivered = 0
    public var messagesAcknowledged = 0
    public var messagesFailed = 0
    /// Chunks sent again after being declared lost.
    public var chunksRetransmitted = 0
    /// Packets declared lost, those of them acknowledged afterwards (the loss was spurious:
    /// reordering or delay), and retransmission timeouts.
    public var packetsDeclaredLost = 0
    public var spuriousLosses = 0
    public var retransmissionTimeouts = 0
    /// Chunks that arrived again after their message was complete or the chunk was present.
    public var duplicateChunks = 0
    /// Partial incoming messages freed after `reassemblyTimeout` or when the sender moved on.
    public var reassembliesAbandoned = 0
    private var drops = [Int](repeating: 0, count: DropReason.allCases.count)

    public init() {}

    public subscript(reason: DropReason) -> Int {
        get { drops[reason.rawValue] }
        set { drops[reason.rawValue] = newValue }
    }

    public var datagramsDropped: Int { drops.reduce(0, +) - drops[DropReason.reassemblyFull.rawValue] }

    /// One flat JSON object, for benchmark and log lines.
    public var json: String {
        var fields = [
            ("datagrams_sent", datagramsSent), ("bytes_sent", bytesSent),
            ("datagrams_received", datagramsReceived), ("bytes_received", bytesReceived),
            ("messages_queued", messagesQueued), ("messages_delivered", messagesDelivered),
            ("messages_acknowledged", messagesAcknowledged), ("messages_failed", messagesFailed),
            ("chunks_retransmitted", chunksRetransmitted), ("packets_declared_lost", packetsDeclaredLost),
            ("spurious_losses", spuriousLosses), ("retransmission_timeouts", retransmissionTimeouts),
            ("duplicate_chunks", duplicateChunks),
            ("reassemblies_abandoned", reassembliesAbandoned),
        ]
        for reason in DropReason.allCases { fields.append(("dropped_\(reason)", self[reason])) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }
}

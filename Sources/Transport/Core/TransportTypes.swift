/// Identifies one message sent to one peer: its index and the per-session sequence number.
public struct MessageID: Hashable, Sendable, CustomStringConvertible {
    public let peer: Int
    public let number: UInt64

    public init(peer: Int, number: UInt64) {
        self.peer = peer
        self.number = number
    }

    public var description: String { "message \(number) to peer \(peer)" }
}

/// Why a message could not be confirmed. The peer may still have received it.
public enum SendFailure: Sendable, Equatable {
    /// Not every chunk was acknowledged within `messageTimeout`.
    case timedOut
}

/// What the driver must do after an event. Actions come out in the order they arose.
public enum TransportAction: Sendable {
    /// Send these bytes as one UDP datagram to the peer with this index.
    case transmit([UInt8], to: Int)
    /// A complete message arrived (exactly once per message and sender session).
    case deliver([UInt8], from: Int)
    /// The peer acknowledged every chunk of the message: it has been delivered there.
    case acknowledged(MessageID)
    /// The message was given up; the peer may or may not have received it.
    case sendFailed(MessageID, SendFailure)
}

/// A misuse of the transport by its caller, or a setup problem; never caused by network input.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfiguration(String)
    case unknownPeer(Int)
    case cannotSendToSelf
    case messageTooLarge(size: Int, limit: Int)
    case badPeerKey(peer: Int, reason: String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(text): return "invalid transport configuration: \(text)"
        case let .unknownPeer(index): return "no peer with index \(index)"
        case .cannotSendToSelf: return "cannot send a message to this node itself"
        case let .messageTooLarge(size, limit): return "message of \(size) bytes exceeds the limit of \(limit) bytes"
        case let .badPeerKey(peer, reason): return "peer \(peer) has an unusable public key: \(reason)"
        }
    }
}

/// Tunables of the message transport. Every node of a network must use the same `mtu` (larger
/// datagrams are refused as oversized) and should use the same timeouts.
public struct TransportConfiguration: Sendable, Equatable {
    /// Largest datagram sent or accepted, in bytes of UDP payload. 1232 fits the IPv6 minimum
    /// MTU of 1280 after IPv6 and UDP headers, so no path fragments it.
    public var mtu: Int = 1232
    /// Largest message `send` accepts and a receiver reassembles.
    public var maxMessageSize: Int = 64 << 20
    /// Reassembly memory one peer may hold in this node; chunks of messages that do not fit are
    /// refused (not acknowledged) until memory frees up. Must be at least `maxMessageSize`.
    public var reassemblyBytesPerPeer: Int = 64 << 20
    /// Reassembly memory all peers together may hold in this node.
    public var reassemblyBytesTotal: Int = 256 << 20
    /// A message not fully acknowledged this long after `send` is reported as `sendFailed`.
    public var messageTimeout: Duration = .seconds(30)
    /// A partial incoming message without progress for this long is freed. At least
    /// `messageTimeout`, so a sender always gives up before its receiver forgets.
    public var reassemblyTimeout: Duration = .seconds(60)
    /// Round-trip time assumed before the first measurement.
    public var initialRTT: Duration = .milliseconds(100)
    /// Bounds of the retransmission timeout (before exponential backoff is capped at `maxRTO`).
    public var minRTO: Duration = .milliseconds(10)
    public var maxRTO: Duration = .seconds(2)
    /// Longest a receiver waits before acknowledging; also part of the sender's timeout.
    public var maxAckDelay: Duration = .milliseconds(5)
    /// A receiver acknowledges at once after this many unacknowledged data packets.
    public var ackEveryPackets: Int = 8
    /// Congestion window bounds, in datagrams of `mtu` bytes. The maximum (2.5 MB by default)
    /// keeps three senders at full window within the 8 MiB receive buffer the UDP driver asks for.
    public var initialWindowPackets: Int = 16
    public var minWindowPackets: Int = 8
    public var maxWindowPackets: Int = 2048
    /// The same bound in bytes, for large datagrams (2048 of the default size): the receive
    /// buffer holds bytes, not datagrams. Never below the initial window.
    public var maxWindowBytes: Int = 2048 * 1232

    public init() {}

    /// Smallest MTU that leaves room for the header, the tag and a useful chunk.
    public static let minimumMTU = 128
    /// Largest UDP payload over IPv4.
    public static let maximumMTU = 65_507
    /// The datagram size for a network whose peers are all on this host's loopback interface
    /// (60 KiB, under the interface's 64 KiB MTU for IPv4 and IPv6): nothing fragments there, and
    /// 50 times fewer datagrams cost a third of the CPU per byte (`gossipnode bench-transport --mtu`).
    public static let loopbackMTU = 61_440

    /// Reassembly memory one peer may hold: the budget, raised if need be to hold one message of
    /// `maxMessageSize` with its bookkeeping; otherwise a message `send` accepts could never arrive.
    var peerReassemblyLimit: Int {
        max(reassemblyBytesPerPeer, InboundMessage.cost(length: maxMessageSize, chunkSize: chunkSize))
    }

    var totalReassemblyLimit: Int { max(reassemblyBytesTotal, peerReassemblyLimit) }

    /// Bytes of message data one datagram carries (one byte stays free for an ack-now frame).
    public var chunkSize: Int { mtu - DatagramHeader.byteCount - AEADOverhead.tag - ChunkFrame.headerByteCount - 1 }

    public func validate() throws(TransportError) {
        func fail(_ text: String) -> TransportError { .invalidConfiguration(text) }
        guard (Self.minimumMTU...Self.maximumMTU).contains(mtu) else {
            throw fail("mtu \(mtu) outside \(Self.minimumMTU)...\(Self.maximumMTU)")
        }
        guard maxMessageSize >= 0, maxMessageSize <= Int(UInt32.max) else {
            throw fail("maxMessageSize \(maxMessageSize) outside 0...\(UInt32.max)")
        }
        guard reassemblyBytesPerPeer >= maxMessageSize else {
            throw fail("reassemblyBytesPerPeer must be at least maxMessageSize")
        }
        guard reassemblyBytesTotal >= reassemblyBytesPerPeer else {
            throw fail("reassemblyBytesTotal must be at least reassemblyBytesPerPeer")
        }
        guard messageTimeout > .zero, reassemblyTimeout >= messageTimeout else {
            throw fail("need 0 < messageTimeout <= reassemblyTimeout")
        }
        guard initialRTT > .zero, minRTO > .zero, minRTO <= maxRTO, maxAckDelay >= .zero else {
            throw fail("RTT, RTO and ack delay bounds must be positive and ordered")
        }
        guard ackEveryPackets >= 1, minWindowPackets >= 2, initialWindowPackets >= minWindowPackets,
              maxWindowPackets >= initialWindowPackets, maxWindowBytes > 0 else {
            throw fail("need ackEveryPackets >= 1, 2 <= minWindow <= initialWindow <= maxWindow and maxWindowBytes > 0")
        }
    }
}

package enum AEADOverhead {
    package static let tag = 16
}

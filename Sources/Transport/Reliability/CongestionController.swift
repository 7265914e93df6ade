/// How much a sender may have in flight (a NewReno-style window in bytes) and how fast it may
/// put it on the wire (a token bucket refilled at 1.25 windows per RTT), so a burst neither
/// overruns the receiver's socket buffer nor the path.
struct CongestionController {
    let datagramSize: Int
    let minWindow: Int
    let maxWindow: Int
    private(set) var window: Int
    private var slowStartThreshold = Int.max
    /// Losses of packets sent before this moment belong to a reduction already made.
    private var recoveryStart: Duration?

    private var tokens: Double
    private var lastRefill: Duration?
    private var burst: Double { Double(max(10 * datagramSize, window / 4)) }

    init(configuration: TransportConfiguration) {
        datagramSize = configuration.mtu
        minWindow = configuration.minWindowPackets * configuration.mtu
        window = configuration.initialWindowPackets * configuration.mtu
        maxWindow = max(min(configuration.maxWindowPackets * configuration.mtu, configuration.maxWindowBytes), window)
        tokens = Double(10 * configuration.mtu)
    }

    func allows(bytesInFlight: Int) -> Bool { bytesInFlight < window }

    mutating func onAcknowledged(bytes: Int, sentAt: Duration) {
        if let recoveryStart, sentAt <= recoveryStart { return }
        if window < slowStartThreshold {
            window += bytes
        } else {
            window += max(1, datagramSize * bytes / window)
        }
        window = min(window, maxWindow)
    }

    /// One reduction per round trip, however many packets of it were lost.
    mutating func onLost(sentAt: Duration, now: Duration) {
        if let recoveryStart, sentAt <= recoveryStart { return }
        recoveryStart = now
        window = max(window * 7 / 10, minWindow)
        slowStartThreshold = window
    }

    mutating func onTimeout(now: Duration) {
        recoveryStart = now
        slowStartThreshold = max(window / 2, minWindow)
        window = minWindow
    }

    /// Whether a datagram of `size` may leave now; if not, when it may.
    mutating func pacingDelay(size: Int, now: Duration, smoothedRTT: Duration) -> Duration? {
        refill(now: now, smoothedRTT: smoothedRTT)
        if tokens >= Double(size) { return nil }
        let rate = rateBytesPerSecond(smoothedRTT)
        return .nanoseconds(Int64(((Double(size) - tokens) / rate * 1e9).rounded(.up)) + 1)
    }

    mutating func onSent(size: Int) { tokens -= Double(size) }

    private func rateBytesPerSecond(_ rtt: Duration) -> Double {
        let seconds = max(Double(rtt.components.seconds) + Double(rtt.components.attoseconds) * 1e-18, 1e-6)
        return 1.25 * Double(window) / seconds
    }

    private mutating func refill(now: Duration, smoothedRTT: Duration) {
        defer { lastRefill = now }
        guard let last = lastRefill, now > last else { return }
        let elapsed = now - last
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        tokens = min(burst, tokens + seconds * rateBytesPerSecond(smoothedRTT))
    }
}

/// Smoothed round-trip time and its variation (RFC 6298 / RFC 9002 §5), and the timeout derived from them.
struct RTTEstimator {
    private(set) var smoothed: Duration
    private(set) var variation: Duration
    private(set) var latest: Duration
    private(set) var hasSample = false

    init(initial: Duration) {
        smoothed = initial
        variation = initial / 2
        latest = initial
    }

    /// Adds one measurement; the receiver's reported ack delay is removed when that leaves a
    /// plausible value, so delayed acknowledgements do not inflate the estimate.
    mutating func add(sample: Duration, ackDelay: Duration, maxAckDelay: Duration) {
        guard sample > .zero else { return }
        latest = sample
        var adjusted = sample
        let delay = min(ackDelay, maxAckDelay)
        if sample - delay > .zero { adjusted = sample - delay }
        if !hasSample {
            smoothed = adjusted
            variation = adjusted / 2
            hasSample = true
            return
        }
        let deviation = smoothed > adjusted ? smoothed - adjusted : adjusted - smoothed
        variation = (variation * 3 + deviation) / 4
        smoothed = (smoothed * 7 + adjusted) / 8
    }

    /// Retransmission timeout before backoff: srtt + 4·rttvar + the peer's ack delay, clamped.
    func timeout(minimum: Duration, maximum: Duration, maxAckDelay: Duration) -> Duration {
        let base = smoothed + max(variation * 4, .milliseconds(1)) + maxAckDelay
        return min(max(base, minimum), maximum)
    }

    /// How long after a later packet was acknowledged an earlier one counts as lost (9/8 RTT).
    var lossDelay: Duration {
        max(max(smoothed, latest) * 9 / 8, .milliseconds(1))
    }
}

/// The receiving side's record of which of the peer's packets it accepted, and when it owes
/// an acknowledgement (RFC 9000 §13.2: at once on reordering, a new gap, every few packets or
/// a completed message; otherwise after at most `maxAckDelay`).
struct AckTracker {
    /// Descending, disjoint, non-adjacent; only the newest `AckFrame.maxRanges` are kept.
    private(set) var ranges: [ClosedRange<UInt64>] = []
    private var largestReceivedAt: Duration = .zero
    private var unacknowledged = 0
    private(set) var deadline: Duration?
    private(set) var isUrgent = false

    var owesAck: Bool { deadline != nil }

    mutating func record(_ counter: UInt64, ackEliciting: Bool, now: Duration, configuration: TransportConfiguration) {
        let previousLargest = ranges.first?.upperBound
        insert(counter)
        if previousLargest == nil || counter > previousLargest! { largestReceivedAt = now }
        guard ackEliciting else { return }
        unacknowledged += 1
        if let previousLargest, counter < previousLargest || counter > previousLargest + 1 { isUrgent = true }
        if unacknowledged >= configuration.ackEveryPackets { isUrgent = true }
        if deadline == nil { deadline = now + configuration.maxAckDelay }
        if isUrgent { deadline = now }
    }

    /// Asks for an acknowledgement now (a message just completed).
    mutating func hurry(now: Duration) {
        guard deadline != nil else { return }
        isUrgent = true
        deadline = now
    }

    func frame(now: Duration) -> AckFrame? {
        guard !ranges.isEmpty else { return nil }
        let held = now > largestReceivedAt ? now - largestReceivedAt : .zero
        let micros = UInt64(held.components.seconds) * 1_000_000 + UInt64(held.components.attoseconds / 1_000_000_000_000)
        return AckFrame(ranges: ranges, ackDelayMicros: min(micros, Varint.max))
    }

    mutating func didSendAck() {
        unacknowledged = 0
        deadline = nil
        isUrgent = false
    }

    mutating func reset() { self = AckTracker() }

    private mutating func insert(_ counter: UInt64) {
        // Fast path: the next packet in order.
        if let first = ranges.first, counter == first.upperBound + 1 {
            ranges[0] = first.lowerBound...counter
            return
        }
        var i = 0
        while i < ranges.count, ranges[i].lowerBound > counter { i += 1 }
        // Now ranges[i] (if any) is the first range starting at or below counter.
        if i < ranges.count, ranges[i].contains(counter) { return }
        let joinsAbove = i > 0 && ranges[i - 1].lowerBound == counter + 1
        let joinsBelow = i < ranges.count && ranges[i].upperBound + 1 == counter
        switch (joinsAbove, joinsBelow) {
        case (true, true):
            ranges[i - 1] = ranges[i].lowerBound...ranges[i - 1].upperBound
            ranges.remove(at: i)
        case (true, false):
            ranges[i - 1] = counter...ranges[i - 1].upperBound
        case (false, true):
            ranges[i] = ranges[i].lowerBound...counter
        case (false, false):
            if i == ranges.count, ranges.count >= AckFrame.maxRanges { return }  // older than anything we report
            ranges.insert(counter...counter, at: i)
            if ranges.count > AckFrame.maxRanges { ranges.removeLast() }
        }
    }
}

/// The packets in flight, in counter order. Settled packets (acknowledged or lost) are marked
/// and dropped from the front lazily, so an acknowledgement costs time in proportion to what
/// it acknowledges, not to the size of the window.
struct SentPacketLog {
    private var packets: [SentPacket] = []
    private var head = 0
    private var settledCount = 0
    private(set) var bytesInFlight = 0

    var isEmpty: Bool { head == packets.count }
    /// The oldest packet still in flight.
    var oldest: SentPacket? { isEmpty ? nil : packets[head] }

    mutating func append(_ packet: SentPacket) {
        packets.append(packet)
        bytesInFlight += packet.size
    }

    mutating func removeAll() { self = SentPacketLog() }

    /// Settles and returns the packets in flight whose counters the (descending) ranges contain.
    mutating func acknowledge(_ ranges: [ClosedRange<UInt64>]) -> [SentPacket] {
        guard let lowest = ranges.last?.lowerBound, let largest = ranges.first?.upperBound else { return [] }
        var low = head, high = packets.count
        while low < high {
            let mid = (low + high) / 2
            if packets[mid].counter < lowest { low = mid + 1 } else { high = mid }
        }
        var rangeIndex = ranges.count - 1
        var acknowledged: [SentPacket] = []
        var i = low
        while i < packets.count, packets[i].counter <= largest {
            let counter = packets[i].counter
            while rangeIndex >= 0, ranges[rangeIndex].upperBound < counter { rangeIndex -= 1 }
            if rangeIndex >= 0, ranges[rangeIndex].contains(counter), !packets[i].isSettled {
                acknowledged.append(settle(i))
            }
            i += 1
        }
        trim()
        return acknowledged
    }

    /// Settles and returns the packets below `largest` that count as lost (three counters
    /// behind, or sent `delay` before `now`); also when the next one would.
    mutating func takeLost(below largest: UInt64, delay: Duration, now: Duration) -> (lost: [SentPacket], next: Duration?) {
        var lost: [SentPacket] = []
        var next: Duration? = nil
        var i = head
        while i < packets.count, packets[i].counter < largest {
            if !packets[i].isSettled {
                if largest - packets[i].counter >= 3 || packets[i].sentAt + delay <= now {
                    lost.append(settle(i))
                } else if next == nil || packets[i].sentAt + delay < next! {
                    next = packets[i].sentAt + delay
                }
            }
            i += 1
        }
        trim()
        return (lost, next)
    }

    /// Settles and returns the oldest packet in flight.
    mutating func takeOldest() -> SentPacket? {
        guard !isEmpty else { return nil }
        let packet = settle(head)
        trim()
        return packet
    }

    /// Settles and returns every packet in flight.
    mutating func takeAll() -> [SentPacket] {
        let all = packets[head...].filter { !$0.isSettled }
        removeAll()
        return all
    }

    private mutating func settle(_ index: Int) -> SentPacket {
        packets[index].isSettled = true
        settledCount += 1
        bytesInFlight -= packets[index].size
        return packets[index]
    }

    private mutating func trim() {
        while head < packets.count, packets[head].isSettled {
            head += 1
            settledCount -= 1
        }
        if head == packets.count {
            packets.removeAll(keepingCapacity: true)
            head = 0
            settledCount = 0
        } else if head > 256, head * 2 > packets.count {
            packets.removeFirst(head)
            head = 0
        }
        if settledCount > 256, settledCount * 2 > packets.count - head {
            packets.removeSubrange(0..<head)
            head = 0
            packets.removeAll { $0.isSettled }
            settledCount = 0
        }
    }
}

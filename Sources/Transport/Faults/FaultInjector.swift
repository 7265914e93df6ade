import Crypto

/// Applies a `FaultPlan` to datagrams with a seeded random stream, so a faulty run repeats
/// exactly. Used by both drivers: the virtual network on delivery, the UDP driver on sending.
public struct FaultInjector: Sendable {
    public var plan: FaultPlan
    public private(set) var counts = FaultCounts()
    private var random: DeterministicRandom

    public init(plan: FaultPlan, seed: UInt64) {
        self.plan = plan
        random = DeterministicRandom(seed: seed)
    }

    /// What becomes of one datagram: no copy (lost), one, or two (duplicated), each with the
    /// extra delay it suffers on the way.
    public mutating func apply(_ datagram: [UInt8], from: Int, to: Int, now: Duration) -> [(delay: Duration, datagram: [UInt8])] {
        let settings = plan.settings(at: now)
        if settings.separates(from, to) {
            counts.partitioned += 1
            return []
        }
        if chance(settings.drop) {
            counts.dropped += 1
            return []
        }
        var copies = [(delay: Duration, datagram: [UInt8])]()
        let copyCount = chance(settings.duplicate) ? 2 : 1
        if copyCount == 2 { counts.duplicated += 1 }
        for _ in 0..<copyCount {
            var bytes = datagram
            if chance(settings.corrupt), !bytes.isEmpty {
                let bit = Int(random.nextUInt64() % UInt64(bytes.count * 8))
                bytes[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
                counts.corrupted += 1
            }
            var delay = settings.delay
            if settings.jitter > .zero { delay += settings.jitter * Double.random(in: 0..<1, using: &random) }
            if chance(settings.reorder) {
                delay += settings.reorderDelay
                counts.reordered += 1
            }
            copies.append((delay, bytes))
        }
        return copies
    }

    private mutating func chance(_ probability: Double) -> Bool {
        probability > 0 && Double.random(in: 0..<1, using: &random) < probability
    }
}

/// Momentum on a node's model change per round ("slow momentum", Wang et al., SlowMo, ICLR 2020),
/// a purely local step after averaging: no coordinator, no extra messages.
///
/// A round starts from x₀ (where local training began) and ends with the group's average x̄. Plain
/// gossip averaging adopts x̄. With factor β the node keeps a buffer m ← β·m + (x̄ − x₀) and adopts
/// x₀ + m, so consecutive rounds' moves add up the way SGD momentum adds up steps. x̄ is already the
/// aggregate everyone may see and x₀ is the node's own model, so with DP-SGD this is
/// post-processing and costs no privacy. Simulated with 8 nodes in groups of 4, β = 0.5 reached 85%
/// a round earlier (round 6 instead of 7, two seeds) and ended about half a point more accurate.
public struct SlowMomentum: Sendable, Equatable {
    /// β in [0, 1); 0 adopts the average unchanged.
    public let factor: Float
    /// m, one entry per parameter; empty until the first round with momentum.
    public private(set) var buffer: [Float]

    public init(factor: Float, buffer: [Float] = []) {
        precondition(factor >= 0 && factor < 1, "slow momentum must be in [0, 1)")
        self.factor = factor
        self.buffer = buffer
    }

    /// The model to adopt after a round that started at `start` and averaged to `average`.
    public mutating func step(start: [Float], average: [Float]) -> [Float] {
        guard factor > 0, start.count == average.count else { return average }
        if buffer.count != average.count { buffer = [Float](repeating: 0, count: average.count) }
        var next = average
        let beta = factor
        buffer.withUnsafeMutableBufferPointer { m in
            next.withUnsafeMutableBufferPointer { x in
                start.withUnsafeBufferPointer { x0 in
                    for i in 0..<x.count {
                        m[i] = beta * m[i] + (x[i] - x0[i])
                        x[i] = x0[i] + m[i]
                    }
                }
            }
        }
        return next
    }
}

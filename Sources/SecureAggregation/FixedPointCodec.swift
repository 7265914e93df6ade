import Crypto

/// Turns real-valued parameters into the integers mod 2^32 that secure aggregation sums, and the
/// group's sum back into a sample-weighted average (SPEC §7.3).
///
/// Each coordinate is clipped to [-B, B] (clipping is counted, never silent), multiplied by the
/// member's normalised weight ŵ = min(w, W) / W ∈ [0, 1], scaled by a power of two `scale` and
/// stochastically rounded (unbiased). One extra coordinate carries ŵ at its own power-of-two
/// `weightScale`. Both scales are the largest for which the sum of `maxMembers` encodings stays
/// below 2^31 in absolute value, so the sum read as a signed 32-bit integer never wraps.
public struct FixedPointCodec: Sendable, Equatable {
    /// Sums must stay within a signed 32-bit integer.
    static let limit = Double(Int32.max)

    public let clipBound: Double
    public let maxMembers: Int
    public let weightCap: Double
    /// Integer units per unit of a weighted parameter.
    public let scale: Double
    /// Integer units per unit of normalised weight.
    public let weightScale: Double

    /// - Parameters:
    ///   - clipBound: B; parameters outside [-B, B] are clipped (and counted).
    ///   - maxMembers: the most members whose encodings are ever summed (the group size).
    ///   - weightCap: W; weights (sample counts) are divided by it, larger ones are clipped to it.
    public init(clipBound: Double, maxMembers: Int, weightCap: Double = 1) throws(FixedPointError) {
        guard clipBound.isFinite, clipBound > 0 else { throw .invalidConfiguration("clip bound \(clipBound) must be positive and finite") }
        guard (1...SecAggConfiguration.maximumGroupSize).contains(maxMembers) else {
            throw .invalidConfiguration("member count \(maxMembers) outside 1...\(SecAggConfiguration.maximumGroupSize)")
        }
        guard weightCap.isFinite, weightCap > 0 else { throw .invalidConfiguration("weight cap \(weightCap) must be positive and finite") }
        let k = Double(maxMembers)
        // One member's |q| <= B·s + 1 (rounding up); k of them must stay <= 2^31 - 1.
        guard let scale = Self.largestPowerOfTwo(notAbove: (Self.limit / k - 1) / clipBound, fitting: { k * (clipBound * $0 + 1) <= Self.limit }),
              let weightScale = Self.largestPowerOfTwo(notAbove: Self.limit / k - 1, fitting: { k * ($0 + 1) <= Self.limit })
        else { throw .invalidConfiguration("no scale keeps a sum of \(maxMembers) values within [-2^31, 2^31)") }
        self.clipBound = clipBound
        self.maxMembers = maxMembers
        self.weightCap = weightCap
        self.scale = scale
        self.weightScale = weightScale
    }

    /// Words in an encoding of `parameterCount` parameters: one more, for the weight.
    public func encodedLength(parameterCount: Int) -> Int { parameterCount + 1 }

    /// Encodes `values` with sample weight `weight`, drawing the rounding randomness from `rng`.
    /// Inlinable so callers get it specialised for their float type: unspecialised, the per-element
    /// generic conversions made encoding a 200k-parameter model cost a node 9% of its CPU.
    @inlinable
    public func encode<F: BinaryFloatingPoint>(_ values: [F], weight: Double,
                                               using rng: inout some RandomSource) throws(FixedPointError) -> FixedPointEncoding {
        guard weight.isFinite, weight >= 0 else { throw .invalidWeight(weight) }
        if let bad = values.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(index: bad) }
        let weightClipped = weight > weightCap
        let normalisedWeight = min(weight, weightCap) / weightCap
        var words = [UInt32](repeating: 0, count: values.count + 1)
        var clipped = 0
        let rounding = SecretBytes(count: MaskPRG.seedByteCount, using: &rng)
        words.withUnsafeMutableBufferPointer { out in
            values.withUnsafeBufferPointer { input in
                Self.forEachUniformSlice(seed: rounding, count: out.count) { start, uniforms in
                    for i in 0..<uniforms.count {
                        let index = start + i
                        guard index < input.count else {
                            out[index] = Self.round(normalisedWeight * weightScale, uniform: uniforms[i])
                            continue
                        }
                        var value = Double(input[index])
                        if value > clipBound { value = clipBound; clipped += 1 }
                        if value < -clipBound { value = -clipBound; clipped += 1 }
                        out[index] = Self.round(normalisedWeight * value * scale, uniform: uniforms[i])
                    }
                }
            }
        }
        return FixedPointEncoding(words: words, clippedCoordinates: clipped, weightClipped: weightClipped)
    }

    /// The weighted average of the summed encodings of `contributors` members.
    public func decodeAverage(_ sum: [UInt32], contributors: Int) throws(FixedPointError) -> FixedPointAverage {
        guard let last = sum.last else { throw .malformedSum("empty sum") }
        guard (1...maxMembers).contains(contributors) else {
            throw .malformedSum("\(contributors) contributors, codec allows 1...\(maxMembers)")
        }
        let totalWeight = Double(Int32(bitPattern: last)) / weightScale
        guard totalWeight > 0 else { throw .noWeight }
        let divisor = scale * totalWeight
        let values = sum.dropLast().map { Double(Int32(bitPattern: $0)) / divisor }
        let bound = Double(contributors) * (1 / scale + clipBound / weightScale) / totalWeight
        return FixedPointAverage(values: values, totalWeight: totalWeight * weightCap, errorBound: bound)
    }

    // MARK: Helpers

    /// floor(y) + 1 with probability frac(y), as a two's-complement word: E[result] = y (to 2^-32).
    @inlinable @inline(__always)
    static func round(_ y: Double, uniform: UInt32) -> UInt32 {
        let low = y.rounded(.down)
        let roundUp = Double(uniform) < (y - low) * 4_294_967_296
        return UInt32(truncatingIfNeeded: Int64(low) + (roundUp ? 1 : 0))
    }

    /// Calls `body` with consecutive slices of a uniform 32-bit stream (ChaCha20 keyed by `seed`).
    @usableFromInline
    static func forEachUniformSlice(seed: SecretBytes, count: Int, _ body: (Int, UnsafeBufferPointer<UInt32>) -> Void) {
        let slice = MaskKernels.sliceWords
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: slice) { buffer in
            var start = 0
            while start < count {
                let n = min(slice, count - start)
                let part = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
                part.update(repeating: 0)
                MaskPRG.add(seed: seed, to: part, negate: false, startingAtWord: start)
                body(start, UnsafeBufferPointer(part))
                start += n
            }
        }
    }

    static func largestPowerOfTwo(notAbove bound: Double, fitting fits: (Double) -> Bool) -> Double? {
        guard bound.isFinite, bound > 0 else { return nil }
        var value = Double(sign: .plus, exponent: bound.exponent, significand: 1)
        while value > 0, !fits(value) { value /= 2 }
        return value > 0 ? value : nil
    }
}

/// One member's encoded vector and what encoding had to change.
public struct FixedPointEncoding: Sendable, Equatable {
    public let words: [UInt32]
    /// Coordinates that were outside [-B, B] and were clipped.
    public let clippedCoordinates: Int
    /// Whether the weight exceeded the cap and was clipped to it.
    public let weightClipped: Bool

    @usableFromInline
    init(words: [UInt32], clippedCoordinates: Int, weightClipped: Bool) {
        self.words = words
        self.clippedCoordinates = clippedCoordinates
        self.weightClipped = weightClipped
    }
}

/// A decoded group average.
public struct FixedPointAverage: Sendable, Equatable {
    /// Σ ŵ_u·clip(x_u) / Σ ŵ_u per coordinate, within `errorBound`.
    public let values: [Double]
    /// Σ of the contributors' (capped) weights.
    public let totalWeight: Double
    /// No coordinate of `values` is further than this from the exact weighted average of the
    /// clipped inputs (rounding only; SPEC §7.3).
    public let errorBound: Double
}

public enum FixedPointError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfiguration(String)
    case nonFinite(index: Int)
    case invalidWeight(Double)
    case malformedSum(String)
    case noWeight

    public var description: String {
        switch self {
        case let .invalidConfiguration(why): return "invalid fixed-point configuration: \(why)"
        case let .nonFinite(index): return "parameter \(index) is not a finite number"
        case let .invalidWeight(w): return "weight \(w) must be finite and non-negative"
        case let .malformedSum(why): return "cannot decode sum: \(why)"
        case .noWeight: return "the summed weight is zero: no contributor had any samples"
        }
    }
}

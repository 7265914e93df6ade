import Crypto
import Foundation
@testable import SecureAggregation
import Testing
import TestKit

@Suite struct FixedPointCodecTests {
    @Test func scalesAreTheLargestPowersOfTwoThatCannotWrap() throws {
        for k in [1, 2, 3, 5, 8, 12, 100, 255] {
            for bound in [0.001, 0.5, 1, 8, 1_000, 1e9] {
                let codec = try FixedPointCodec(clipBound: bound, maxMembers: k)
                let limit = Double(Int32.max), kk = Double(k)
                #expect(codec.scale.significand == 1 && codec.weightScale.significand == 1)
                #expect(kk * (bound * codec.scale + 1) <= limit)
                #expect(kk * (bound * codec.scale * 2 + 1) > limit)
                #expect(kk * (codec.weightScale + 1) <= limit)
                #expect(kk * (codec.weightScale * 2 + 1) > limit)
            }
        }
    }

    @Test func sumsAtTheClipLimitsDecodeExactlyThroughSecureAggregation() throws {
        // k = 12 members all at +B (or -B, or beyond and clipped): the worst case for wrapping.
        let k = 12, bound = 8.0, n = 64
        let codec = try FixedPointCodec(clipBound: bound, maxMembers: k, weightCap: 100)
        var rng = seededRandom(1)
        var inputs: [[UInt32]] = []
        for m in 0..<k {
            let values: [Float] = (0..<n).map { i in
                let sign: Float = i % 2 == 0 ? 1 : -1
                return m % 3 == 0 ? sign * Float(bound) * 4 : sign * Float(bound)   // some far beyond the limit
            }
            let encoded = try codec.encode(values, weight: 100, using: &rng)
            #expect(encoded.clippedCoordinates == (m % 3 == 0 ? n : 0))
            inputs.append(encoded.words)
        }
        var group = try SecAggLocalGroup(configuration: Fixture.configuration(k: k, d: n + 1), seed: 2)
        let outcomes = group.run(inputs: inputs)
        let result = try #require(outcomes[0]?.result)
        #expect(result.contributors.count == k)
        let average = try codec.decodeAverage(result.sum, contributors: k)
        #expect(average.totalWeight == 100 * Double(k))
        for (i, value) in average.values.enumerated() {
            #expect(value == (i % 2 == 0 ? bound : -bound))
        }
    }

    @Test(arguments: [3, 8, 12])
    func roundingErrorStaysWithinTheStatedBound(k: Int) throws {
        let bound = 4.0, cap = 1_000.0, n = 5_000
        let codec = try FixedPointCodec(clipBound: bound, maxMembers: k, weightCap: cap)
        var rng = seededRandom(UInt64(k))
        var sum = [UInt32](repeating: 0, count: n + 1)
        var numerator = [Double](repeating: 0, count: n), totalWeight = 0.0
        for _ in 0..<k {
            let weight = Double(1 + rng.nextUInt64() % 1_000)
            let values: [Float] = (0..<n).map { _ in Float(Double(rng.nextUInt64() % 1_000_000) / 1e6 * 5 * bound - 2.5 * bound) }
            let encoded = try codec.encode(values, weight: weight, using: &rng)
            for i in sum.indices { sum[i] &+= encoded.words[i] }
            let w = weight / cap
            for i in 0..<n { numerator[i] += w * min(max(Double(values[i]), -bound), bound) }
            totalWeight += w
        }
        let average = try codec.decodeAverage(sum, contributors: k)
        #expect(average.errorBound < 1e-6)
        #expect(abs(average.totalWeight - totalWeight * cap) <= Double(k) / codec.weightScale * cap)
        var worst = 0.0
        for i in 0..<n {
            let error = abs(average.values[i] - numerator[i] / totalWeight)
            worst = max(worst, error)
        }
        #expect(worst <= average.errorBound)
        #expect(worst > 0) // the test sees rounding at all
    }

    @Test func stochasticRoundingIsUnbiased() throws {
        let codec = try FixedPointCodec(clipBound: 1, maxMembers: 8)
        // A value 0.3 units above an integer: floor would always be 0.3 low, nearest 0.3 low.
        let exact = 1_000.3
        let value = exact / codec.scale
        let n = 100_000
        var rng = seededRandom(5)
        let encoded = try codec.encode([Double](repeating: value, count: n), weight: 1, using: &rng)
        let mean = encoded.words.dropLast().reduce(0.0) { $0 + Double(Int32(bitPattern: $1)) } / Double(n)
        // Bernoulli(0.3) per coordinate: standard error sqrt(0.21 / n) ≈ 0.00145; allow 5 of them.
        #expect(abs(mean - exact) < 0.0073)
        #expect(Set(encoded.words.dropLast()) == [1_000, 1_001])
    }

    @Test func clippingIsCountedNeverSilent() throws {
        let codec = try FixedPointCodec(clipBound: 2, maxMembers: 5, weightCap: 10)
        var rng = seededRandom(6)
        let encoded = try codec.encode([0, 1.99, 2, 2.01, -2, -2.5, 100, -1e30] as [Double], weight: 11, using: &rng)
        #expect(encoded.clippedCoordinates == 4)
        #expect(encoded.weightClipped)
        let inRange = try codec.encode([0.5] as [Float], weight: 10, using: &rng)
        #expect(inRange.clippedCoordinates == 0)
        #expect(!inRange.weightClipped)
    }

    @Test func invalidInputsAndConfigurationsAreRefused() throws {
        let codec = try FixedPointCodec(clipBound: 1, maxMembers: 5)
        var rng = seededRandom(7)
        #expect(throws: FixedPointError.nonFinite(index: 2)) { try codec.encode([0, 1, .nan] as [Float], weight: 1, using: &rng) }
        #expect(throws: FixedPointError.nonFinite(index: 0)) { try codec.encode([.infinity] as [Double], weight: 1, using: &rng) }
        #expect(throws: FixedPointError.invalidWeight(-1)) { try codec.encode([0] as [Float], weight: -1, using: &rng) }
        #expect(throws: FixedPointError.self) { try codec.encode([0] as [Float], weight: .nan, using: &rng) }
        #expect(throws: FixedPointError.self) { try codec.decodeAverage([], contributors: 1) }
        #expect(throws: FixedPointError.self) { try codec.decodeAverage([1, 2], contributors: 6) }
        #expect(throws: FixedPointError.noWeight) { try codec.decodeAverage([5, 0], contributors: 2) }
        for (bound, k, cap) in [(0.0, 5, 1.0), (-1, 5, 1), (.nan, 5, 1), (.infinity, 5, 1), (1, 0, 1), (1, 256, 1), (1, 5, 0), (1, 5, .nan)] {
            #expect(throws: FixedPointError.self) { try FixedPointCodec(clipBound: bound, maxMembers: k, weightCap: cap) }
        }
    }

    @Test func weightedAverageOfAGroupThroughSecureAggregation() throws {
        let k = 6, n = 300
        let codec = try FixedPointCodec(clipBound: 1, maxMembers: k, weightCap: 600)
        var rng = seededRandom(8)
        let weights: [Double] = [600, 100, 250, 0, 37, 600]
        let vectors: [[Float]] = (0..<k).map { (m: Int) -> [Float] in (0..<n).map { (i: Int) -> Float in Float(sin(Double(m * n + i))) } }
        let inputs = try (0..<k).map { try codec.encode(vectors[$0], weight: weights[$0], using: &rng).words }
        var group = try SecAggLocalGroup(configuration: Fixture.configuration(k: k, d: n + 1), seed: 9)
        let result = try #require(group.run(inputs: inputs)[2]?.result)
        let average = try codec.decodeAverage(result.sum, contributors: result.contributors.count)
        // The bound is the codec's own claim: cap it, so that a decoder claiming a loose bound fails.
        #expect(average.errorBound > 0 && average.errorBound < 1e-5, "error bound \(average.errorBound)")
        for i in 0..<n {
            let expected = (0..<k).reduce(0.0) { $0 + weights[$1] * Double(vectors[$1][i]) } / weights.reduce(0, +)
            #expect(abs(average.values[i] - expected) <= average.errorBound)
        }
    }
}

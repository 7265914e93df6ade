import Crypto
@testable import SecureAggregation
import Testing
import TestKit

@Suite struct BuildingBlockTests {
    func seed(_ byte: UInt8) -> SecretBytes { SecretBytes(copying: [UInt8](repeating: byte, count: 32)) }

    @Test func maskingMatchesItsDefinition() {
        let d = 10_007
        let input = Fixture.inputs(k: 1, d: d, seed: 1)[0]
        let pairwise = [MaskTerm(seed: seed(1), negate: false), MaskTerm(seed: seed(2), negate: true), MaskTerm(seed: seed(3), negate: false)]
        var sum = [UInt32](repeating: 5, count: d)
        var message = [UInt8](repeating: 0, count: 4 * d)
        input.withUnsafeBufferPointer { x in
            sum.withUnsafeMutableBufferPointer { s in
                message.withUnsafeMutableBytes { MaskKernels.mask(input: x, pairwise: pairwise, selfMask: seed(4), sum: s, message: $0) }
            }
        }
        let streams = (1...4).map { MaskPRG.expand(seed: seed(UInt8($0)), count: d) }
        for i in 0..<d {
            let pairwiseMasked = input[i] &+ streams[0][i] &- streams[1][i] &+ streams[2][i]
            #expect(sum[i] == 5 &+ pairwiseMasked)
            let word = UInt32(message[4 * i]) | UInt32(message[4 * i + 1]) << 8 | UInt32(message[4 * i + 2]) << 16 | UInt32(message[4 * i + 3]) << 24
            if word != pairwiseMasked &+ streams[3][i] { Issue.record("word \(i)"); break }
        }
    }

    @Test func applyRemovesExactlyWhatMaskingAdded() {
        let d = 9_000
        var vector = Fixture.inputs(k: 1, d: d, seed: 2)[0]
        let original = vector
        let terms = [MaskTerm(seed: seed(7), negate: false), MaskTerm(seed: seed(8), negate: true)]
        vector.withUnsafeMutableBufferPointer { MaskKernels.apply(terms, to: $0) }
        #expect(vector != original)
        let inverse = terms.map { MaskTerm(seed: $0.seed, negate: !$0.negate) }
        vector.withUnsafeMutableBufferPointer { MaskKernels.apply(inverse, to: $0) }
        #expect(vector == original)
    }

    @Test func littleEndianWordsAddAtAnyAlignment() {
        let words: [UInt32] = (0..<37).map { $0 &* 0x0102_0304 &+ 0xdead_beef }
        for offset in 0..<4 {
            var bytes = [UInt8](repeating: 0xff, count: offset)
            for word in words { bytes += [UInt8(word & 0xff), UInt8(word >> 8 & 0xff), UInt8(word >> 16 & 0xff), UInt8(word >> 24)] }
            var sum = [UInt32](repeating: 1, count: words.count)
            bytes.withUnsafeBytes { raw in
                sum.withUnsafeMutableBufferPointer { MaskKernels.addLittleEndian(UnsafeRawBufferPointer(rebasing: raw[offset...]), into: $0) }
            }
            #expect(sum == words.map { $0 &+ 1 })
        }
    }

    @Test func memberSetBitmapsRoundTripAndRejectOutsiders() {
        let set = MemberSet([0, 3, 8, 9, 200, 254])
        #expect(Array(set) == [0, 3, 8, 9, 200, 254])
        #expect(set.count == 6)
        let bytes = set.bitmap(groupSize: 255)
        #expect(bytes.count == 32)
        #expect(MemberSet(bitmap: bytes, groupSize: 255) == set)
        #expect(MemberSet(bitmap: MemberSet([0, 4]).bitmap(groupSize: 5), groupSize: 5) == MemberSet([0, 4]))
        #expect(MemberSet(bitmap: [0b0010_0001], groupSize: 5) == nil)       // member 5 of a group of 5
        #expect(MemberSet(bitmap: [1, 0], groupSize: 5) == nil)               // wrong length
        #expect(set.union(MemberSet([1])).contains(1))
        #expect(set.subtracting(MemberSet([0, 3])) == MemberSet([8, 9, 200, 254]))
        #expect(set.intersection(MemberSet([3, 4])) == MemberSet([3]))
        #expect(!set.contains(-1) && !set.contains(300))
    }

    @Test func pairwiseSeedsAgreeFromBothEndsAndDependOnTheContext() throws {
        var rng = seededRandom(3)
        let a = KeyPair.generate(using: &rng), b = KeyPair.generate(using: &rng)
        let context = [UInt8](repeating: 1, count: 32)
        let ab = try PairwiseSeed.derive(ownKeys: a, ownIndex: 2, peerKey: b.publicKey, peerIndex: 5, context: context)
        let ba = try PairwiseSeed.derive(ownKeys: b, ownIndex: 5, peerKey: a.publicKey, peerIndex: 2, context: context)
        #expect(ab == ba)
        let otherContext = try PairwiseSeed.derive(ownKeys: a, ownIndex: 2, peerKey: b.publicKey, peerIndex: 5,
                                                   context: [UInt8](repeating: 2, count: 32))
        let otherIndices = try PairwiseSeed.derive(ownKeys: a, ownIndex: 2, peerKey: b.publicKey, peerIndex: 6, context: context)
        #expect(ab != otherContext && ab != otherIndices)
    }

    @Test func oneViewAtMostReachesTheQuorum() {
        let a = UnmaskView(survivors: MemberSet([0, 1, 2, 3]), dropped: MemberSet([4]))
        let b = UnmaskView(survivors: MemberSet([0, 1, 2, 3, 4]), dropped: MemberSet())
        var quorum = ViewQuorum(threshold: 3)
        let first = [quorum.vote(0, for: a), quorum.vote(1, for: b), quorum.vote(2, for: a)]
        #expect(first == [true, true, true])
        #expect(quorum.chosen == nil)
        let again = quorum.vote(2, for: b)
        #expect(!again)                             // one vote each
        _ = quorum.vote(3, for: a)
        #expect(quorum.chosen == a)
        _ = quorum.vote(4, for: b)
        #expect(quorum.chosen == a)                 // later votes cannot switch it
    }
}

import Crypto
import Testing
import TestKit

@Suite struct MaskPRGTests {
    func seed(_ value: UInt8) -> SecretBytes { SecretBytes(copying: [UInt8](repeating: value, count: 32)) }

    @Test func sameSeedSameStream() {
        #expect(MaskPRG.expand(seed: seed(1), count: 10_000) == MaskPRG.expand(seed: seed(1), count: 10_000))
    }

    @Test func prefixesAgreeAcrossChunkBoundaries() {
        let long = MaskPRG.expand(seed: seed(2), count: 20_000)
        for n in [1, 15, 16, 17, 4095, 4096, 4097, 8193] {
            #expect(MaskPRG.expand(seed: seed(2), count: n) == Array(long.prefix(n)))
        }
    }

    @Test func differentSeedsGiveIndependentStreams() {
        let a = MaskPRG.expand(seed: seed(3), count: 100_000)
        // Seeds differing in one bit of the last byte: the whole 32 bytes must reach ChaCha20.
        var bytes = [UInt8](repeating: 3, count: 32)
        bytes[31] ^= 1
        let b = MaskPRG.expand(seed: SecretBytes(copying: bytes), count: 100_000)
        let equalWords = zip(a, b).filter { $0 == $1 }.count
        #expect(equalWords < 3) // expected 100000 / 2^32 coincidences
        // Bits of each stream are balanced (mean of ones per word within 0.5% of 16).
        for stream in [a, b] {
            let ones = stream.reduce(0) { $0 + $1.nonzeroBitCount }
            let mean = Double(ones) / Double(stream.count)
            #expect(abs(mean - 16) < 0.08)
        }
        // And the streams are uncorrelated: XOR is balanced too.
        let xorOnes = zip(a, b).reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }
        #expect(abs(Double(xorOnes) / Double(a.count) - 16) < 0.08)
    }

    @Test func addAndSubtractCancelExactly() {
        var rng = seededRandom(4)
        var vector = (0..<10_001).map { _ in UInt32(truncatingIfNeeded: rng.nextUInt64()) }
        let original = vector
        vector.withUnsafeMutableBufferPointer { MaskPRG.add(seed: seed(5), to: $0, negate: false) }
        #expect(vector != original)
        let stream = MaskPRG.expand(seed: seed(5), count: vector.count)
        #expect(vector == zip(original, stream).map { $0 &+ $1 })
        vector.withUnsafeMutableBufferPointer { MaskPRG.add(seed: seed(5), to: $0, negate: true) }
        #expect(vector == original)
    }

    @Test func slicesWithWordOffsetsMatchTheWholeStream() {
        let whole = MaskPRG.expand(seed: seed(6), count: 10_000)
        var sliced = [UInt32](repeating: 0, count: 10_000)
        sliced.withUnsafeMutableBufferPointer { buffer in
            for start in stride(from: 0, to: buffer.count, by: 1_008) { // 1008 = 63 blocks of 16 words
                let end = min(start + 1_008, buffer.count)
                MaskPRG.add(seed: seed(6), to: UnsafeMutableBufferPointer(rebasing: buffer[start..<end]),
                            negate: false, startingAtWord: start)
            }
        }
        #expect(sliced == whole)
    }

    @Test func matchesTheChaCha20TestVector() {
        // RFC 7539 §2.3.2's original-ChaCha20 counterpart: all-zero key and nonce, block 0
        // (the well-known first keystream word 0xade0b876 of ChaCha20 with a zero key).
        let words = MaskPRG.expand(seed: SecretBytes(copying: [UInt8](repeating: 0, count: 32)), count: 4)
        #expect(words == [0xade0_b876, 0x903d_f1a0, 0xe56a_5d40, 0x28bd_8653])
    }
}

import Crypto
import Testing
import TestKit

@Suite struct SecretBytesTests {
    @Test func equalityComparesContents() {
        #expect(SecretBytes(copying: [1, 2, 3]) == SecretBytes(copying: [1, 2, 3]))
        #expect(SecretBytes(copying: [1, 2, 3]) != SecretBytes(copying: [1, 2, 4]))
        #expect(SecretBytes(copying: [1, 2, 3]) != SecretBytes(copying: [1, 2]))
        #expect(SecretBytes(copying: []) == SecretBytes(copying: []))
    }

    /// The error reaches the caller and no SecretBytes exists. (The half-built buffer is wiped and
    /// freed before the rethrow; freed memory cannot be read back without undefined behaviour, so
    /// that part is not observed here.)
    @Test func initializerThatThrowsRethrowsItsError() {
        struct Boom: Error {}
        var filled = false
        #expect(throws: Boom.self) {
            try SecretBytes(count: 8) { buffer in
                buffer.initializeMemory(as: UInt8.self, repeating: 0xA5)
                filled = true
                throw Boom()
            }
        }
        #expect(filled)
    }

    @Test func deterministicRandomIsRepeatableAndSeedSensitive() {
        var a = seededRandom(1), b = seededRandom(1), c = seededRandom(2)
        let x = a.bytes(1000)
        #expect(x == b.bytes(1000))
        #expect(x != c.bytes(1000))
        // Reading in pieces gives the same stream as reading at once.
        var d = seededRandom(1)
        #expect(d.bytes(3) + d.bytes(61) + d.bytes(936) == x)
    }

    /// The stream is ChaCha20's keystream under BLAKE2b(seed), across refill boundaries (every
    /// 512 bytes): compared with the mask expander, which calls ChaCha20 on its own.
    @Test func deterministicRandomIsTheChaCha20KeystreamOfTheHashedSeed() {
        let seed: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0]
        let words = MaskPRG.expand(seed: SecretBytes(copying: KDF.hash(seed, outputLength: 32)), count: 700)
        let expected = words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
        var rng = DeterministicRandom(seed: seed)
        var pieces: [UInt8] = []
        for size in [1, 7, 500, 4, 13, 511, 512, 1000, 252] { pieces += rng.bytes(size) }
        #expect(pieces == expected)
    }

    @Test func streamsKeyedBySystemDiffer() {
        var a = DeterministicRandom.keyedBySystem(), b = DeterministicRandom.keyedBySystem()
        #expect(a.bytes(64) != b.bytes(64))
    }

    @Test func systemRandomProducesDistinctKeys() {
        var rng = SystemRandom()
        #expect(KeyPair.generate(using: &rng).publicKey != KeyPair.generate(using: &rng).publicKey)
    }
}

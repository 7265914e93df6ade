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

    @Test func systemRandomProducesDistinctKeys() {
        var rng = SystemRandom()
        #expect(KeyPair.generate(using: &rng).publicKey != KeyPair.generate(using: &rng).publicKey)
    }
}

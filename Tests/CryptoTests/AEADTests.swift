import Crypto
import Testing
import TestKit

@Suite struct AEADTests {
    let key = SecretBytes(copying: (0..<32).map { UInt8($0) })
    let nonce = [UInt8](repeating: 7, count: AEAD.nonceByteCount)

    @Test(arguments: [0, 1, 15, 16, 17, 1200, 65_536])
    func roundTrip(length: Int) throws {
        var rng = seededRandom(UInt64(length))
        let message = rng.bytes(length)
        let ad: [UInt8] = Array("header".utf8)
        let sealed = try AEAD.seal(message, associatedData: ad, nonce: nonce, key: key)
        #expect(sealed.count == length + AEAD.tagByteCount)
        if length > 16 { #expect(Array(sealed.prefix(length)) != message) }
        #expect(try AEAD.open(sealed, associatedData: ad, nonce: nonce, key: key) == message)
    }

    @Test func everyFlippedBitIsDetected() throws {
        let message: [UInt8] = Array("secret model update".utf8)
        let ad: [UInt8] = [1, 2, 3]
        let sealed = try AEAD.seal(message, associatedData: ad, nonce: nonce, key: key)
        for byte in sealed.indices {
            for bit in 0..<8 {
                var tampered = sealed
                tampered[byte] ^= UInt8(1 << bit)
                #expect(throws: CryptoError.authenticationFailed) {
                    try AEAD.open(tampered, associatedData: ad, nonce: nonce, key: key)
                }
            }
        }
    }

    @Test func wrongAssociatedDataNonceOrKeyFails() throws {
        let sealed = try AEAD.seal([1, 2, 3], associatedData: [9], nonce: nonce, key: key)
        #expect(throws: CryptoError.authenticationFailed) { try AEAD.open(sealed, associatedData: [8], nonce: nonce, key: key) }
        var otherNonce = nonce
        otherNonce[0] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try AEAD.open(sealed, associatedData: [9], nonce: otherNonce, key: key) }
        let otherKey = SecretBytes(copying: [UInt8](repeating: 1, count: 32))
        #expect(throws: CryptoError.authenticationFailed) { try AEAD.open(sealed, associatedData: [9], nonce: nonce, key: otherKey) }
    }

    @Test func truncatedCiphertextAndBadSizesAreRejected() throws {
        let sealed = try AEAD.seal([1, 2, 3], associatedData: [UInt8](), nonce: nonce, key: key)
        for n in 0..<sealed.count {
            #expect(throws: CryptoError.self) { try AEAD.open(Array(sealed.prefix(n)), associatedData: [UInt8](), nonce: nonce, key: key) }
        }
        #expect(throws: CryptoError.invalidLength(what: "AEAD nonce", expected: 24, actual: 12)) {
            try AEAD.seal([1], associatedData: [UInt8](), nonce: [UInt8](repeating: 0, count: 12), key: key)
        }
        #expect(throws: CryptoError.invalidLength(what: "AEAD key", expected: 32, actual: 16)) {
            try AEAD.seal([1], associatedData: [UInt8](), nonce: nonce, key: SecretBytes(copying: [UInt8](repeating: 0, count: 16)))
        }
    }
}

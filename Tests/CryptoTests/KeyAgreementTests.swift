import Crypto
import Testing
import TestKit

@Suite struct KeyAgreementTests {
    @Test func channelKeysMatchAcrossTheTwoEnds() throws {
        var rng = seededRandom(1)
        for _ in 0..<20 {
            let alice = KeyPair.generate(using: &rng)
            let bob = KeyPair.generate(using: &rng)
            let a = try ChannelKeys(local: alice, remote: bob.publicKey)
            let b = try ChannelKeys(local: bob, remote: alice.publicKey)
            #expect(a.transmit == b.receive)
            #expect(a.receive == b.transmit)
            #expect(a.transmit != a.receive)
        }
    }

    @Test func aThirdPartyGetsDifferentKeys() throws {
        var rng = seededRandom(2)
        let alice = KeyPair.generate(using: &rng), bob = KeyPair.generate(using: &rng), eve = KeyPair.generate(using: &rng)
        let ab = try ChannelKeys(local: alice, remote: bob.publicKey)
        let eb = try ChannelKeys(local: eve, remote: bob.publicKey)
        #expect(ab.transmit != eb.transmit)
        #expect(ab.receive != eb.receive)
    }

    @Test func sharedSecretIsSymmetricAndRejectsLowOrderPoints() throws {
        var rng = seededRandom(3)
        let a = KeyPair.generate(using: &rng), b = KeyPair.generate(using: &rng)
        #expect(try a.sharedSecret(with: b.publicKey) == b.sharedSecret(with: a.publicKey))
        let zero = try PublicKey(bytes: [UInt8](repeating: 0, count: 32))
        #expect(throws: CryptoError.weakPublicKey) { try a.sharedSecret(with: zero) }
    }

    /// The small-order points (libsodium's list, including non-canonical encodings) are flagged,
    /// real public keys never are.
    @Test func lowOrderPointsAreRecognised() throws {
        let lowOrder = [
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=", "X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc=",
            "7P///////////////////////////////////////38=", "7f///////////////////////////////////////38=",
            "7v///////////////////////////////////////38=",
        ]
        for text in lowOrder { #expect(try PublicKey(base64: text).isLowOrder, "\(text)") }
        var rng = seededRandom(6)
        for _ in 0..<32 { #expect(!KeyPair.generate(using: &rng).publicKey.isLowOrder) }
        #expect(try !PublicKey(bytes: [UInt8](repeating: 9, count: 32)).isLowOrder)
    }

    @Test func publicKeyIsRecomputedFromTheSecretKey() throws {
        var rng = seededRandom(4)
        let pair = KeyPair.generate(using: &rng)
        let again = try KeyPair(secretKey: SecretBytes(copying: pair.secretKey.copyBytes()))
        #expect(again.publicKey == pair.publicKey)
        #expect(throws: CryptoError.self) { try KeyPair(secretKey: SecretBytes(copying: [1, 2, 3])) }
    }

    @Test func publicKeyBase64RoundTripsAndRejectsBadText() throws {
        var rng = seededRandom(5)
        let key = KeyPair.generate(using: &rng).publicKey
        #expect(key.base64.count == 44)
        #expect(try PublicKey(base64: key.base64) == key)
        for bad in ["", "abc", String(key.base64.dropLast()), key.base64 + "A", key.base64 + "=", " " + key.base64,
                    "!!!!" + key.base64.dropFirst(4), Base64.encode([UInt8](repeating: 1, count: 31))] {
            #expect(throws: CryptoError.self) { try PublicKey(base64: bad) }
        }
    }

    @Test func kdfSeparatesLabelsAndContexts() {
        let key = SecretBytes(copying: [UInt8](repeating: 9, count: 32))
        let a = KDF.derive(from: key, label: "mask", context: [1])
        #expect(a == KDF.derive(from: key, label: "mask", context: [1]))
        #expect(a != KDF.derive(from: key, label: "mask", context: [2]))
        #expect(a != KDF.derive(from: key, label: "maskx", context: [1]))
        // The label is length-prefixed, so moving a byte between label and context changes the output.
        #expect(KDF.derive(from: key, label: "ab", context: [0x63]) != KDF.derive(from: key, label: "abc", context: []))
        #expect(KDF.derive(from: key, label: "mask", context: [1], outputLength: 64).count == 64)
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
    }
}

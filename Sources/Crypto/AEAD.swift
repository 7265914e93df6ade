import CSodium
import Foundation

/// XChaCha20-Poly1305 (IETF) authenticated encryption. The 24-byte nonce is large enough that
/// callers may use a counter or random nonces; the associated data is authenticated, not encrypted.
public enum AEAD {
    public static let keyByteCount = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    public static let nonceByteCount = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagByteCount = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    /// Encrypts `plaintext` and appends the 16-byte tag.
    public static func seal(_ plaintext: some ContiguousBytes, associatedData: some ContiguousBytes,
                            nonce: some ContiguousBytes, key: SecretBytes) throws -> [UInt8] {
        try plaintext.withUnsafeBytes { pt in
            try associatedData.withUnsafeBytes { ad in
                try nonce.withUnsafeBytes { nn in
                    var out = [UInt8](repeating: 0, count: pt.count + tagByteCount)
                    try out.withUnsafeMutableBytes { try seal(pt, associatedData: ad, nonce: nn, key: key, into: $0) }
                    return out
                }
            }
        }
    }

    /// Raw-buffer form: `output` must hold exactly `plaintext.count + tagByteCount` bytes.
    public static func seal(_ plaintext: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
                            nonce: UnsafeRawBufferPointer, key: SecretBytes,
                            into output: UnsafeMutableRawBufferPointer) throws {
        Sodium.ensureInitialised()
        try checkKeyAndNonce(key: key, nonce: nonce)
        guard output.count == plaintext.count + tagByteCount else {
            throw CryptoError.invalidLength(what: "AEAD output", expected: plaintext.count + tagByteCount, actual: output.count)
        }
        var written: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), &written,
                plaintext.nonEmptyBase, UInt64(plaintext.count),
                associatedData.nonEmptyBase, UInt64(associatedData.count),
                nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard rc == 0, Int(written) == output.count else { throw CryptoError.authenticationFailed }
    }

    /// Verifies and decrypts; throws `authenticationFailed` on any tampering.
    public static func open(_ ciphertext: some ContiguousBytes, associatedData: some ContiguousBytes,
                            nonce: some ContiguousBytes, key: SecretBytes) throws -> [UInt8] {
        try ciphertext.withUnsafeBytes { ct in
            try associatedData.withUnsafeBytes { ad in
                try nonce.withUnsafeBytes { nn in
                    guard ct.count >= tagByteCount else { throw CryptoError.authenticationFailed }
                    var out = [UInt8](repeating: 0, count: ct.count - tagByteCount)
                    try out.withUnsafeMutableBytes { try open(ct, associatedData: ad, nonce: nn, key: key, into: $0) }
                    return out
                }
            }
        }
    }

    /// Raw-buffer form: `output` must hold exactly `ciphertext.count - tagByteCount` bytes.
    public static func open(_ ciphertext: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer,
                            nonce: UnsafeRawBufferPointer, key: SecretBytes,
                            into output: UnsafeMutableRawBufferPointer) throws {
        Sodium.ensureInitialised()
        try checkKeyAndNonce(key: key, nonce: nonce)
        guard ciphertext.count >= tagByteCount, output.count == ciphertext.count - tagByteCount else {
            throw CryptoError.authenticationFailed
        }
        var written: UInt64 = 0
        // libsodium needs a valid output pointer even for an empty plaintext.
        var scratch: UInt8 = 0
        let rc: Int32 = withUnsafeMutablePointer(to: &scratch) { scratchPointer in
            let outBase = output.count > 0 ? output.baseAddress!.assumingMemoryBound(to: UInt8.self) : scratchPointer
            return key.withUnsafeBytes { k in
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    outBase, &written, nil,
                    ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count),
                    associatedData.nonEmptyBase, UInt64(associatedData.count),
                    nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard rc == 0 else { throw CryptoError.authenticationFailed }
    }

    private static func checkKeyAndNonce(key: SecretBytes, nonce: UnsafeRawBufferPointer) throws {
        guard key.count == keyByteCount else {
            throw CryptoError.invalidLength(what: "AEAD key", expected: keyByteCount, actual: key.count)
        }
        guard nonce.count == nonceByteCount else {
            throw CryptoError.invalidLength(what: "AEAD nonce", expected: nonceByteCount, actual: nonce.count)
        }
    }
}

/// One readable byte that empty inputs point at: libsodium marks its pointers non-null.
nonisolated(unsafe) private let emptyInput: UnsafeMutablePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    p.initialize(to: 0)
    return p
}()

extension UnsafeRawBufferPointer {
    var nonEmptyBase: UnsafePointer<UInt8> {
        count > 0 ? baseAddress!.assumingMemoryBound(to: UInt8.self) : UnsafePointer(emptyInput)
    }
}

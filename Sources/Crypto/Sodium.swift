import CSodium

/// One-time libsodium initialisation and the errors every wrapper in this module throws.
public enum Sodium {
    /// `sodium_init` is idempotent and thread-safe; a lazily initialised global makes it run once.
    private static let initialised: Bool = sodium_init() >= 0

    /// Call before any libsodium use; traps only if libsodium cannot initialise at all
    /// (no entropy source), in which case nothing in this program could be trusted anyway.
    @inline(__always)
    public static func ensureInitialised() {
        precondition(initialised, "libsodium failed to initialise (sodium_init < 0)")
    }
}

/// Errors from the cryptographic layer. Each names what was wrong without revealing secret data.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidLength(what: String, expected: Int, actual: Int)
    case invalidBase64(what: String)
    case authenticationFailed
    case weakPublicKey
    case keyExchangeFailed
    case invalidShares(String)

    public var description: String {
        switch self {
        case let .invalidLength(what, expected, actual):
            return "\(what) must be \(expected) bytes, got \(actual)"
        case let .invalidBase64(what):
            return "\(what) is not valid base64"
        case .authenticationFailed:
            return "authentication failed (wrong key, tampered data or wrong associated data)"
        case .weakPublicKey:
            return "public key is a low-order point"
        case .keyExchangeFailed:
            return "key exchange failed"
        case let .invalidShares(why):
            return "invalid secret shares: \(why)"
        }
    }
}

/// Constant-time helpers (timing must not depend on secret contents).
public enum ConstantTime {
    /// Equality whose running time depends only on the lengths.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        Sodium.ensureInitialised()
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        let x = Array(a), y = Array(b)
        return x.withUnsafeBytes { xp in
            y.withUnsafeBytes { yp in sodium_memcmp(xp.baseAddress!, yp.baseAddress!, x.count) == 0 }
        }
    }
}

/// Strict base64 (standard alphabet, with padding) as used for keys in files and on the command line.
public enum Base64 {
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        Sodium.ensureInitialised()
        let input = Array(bytes)
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        let length = sodium_base64_encoded_len(input.count, variant)
        var out = [CChar](repeating: 0, count: length)
        input.withUnsafeBufferPointer { ip in
            _ = sodium_bin2base64(&out, length, ip.baseAddress, input.count, variant)
        }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes strictly: no whitespace, no missing padding, no trailing garbage.
    public static func decode(_ text: String, what: String = "value") throws -> [UInt8] {
        Sodium.ensureInitialised()
        let chars = Array(text.utf8)
        if chars.isEmpty { throw CryptoError.invalidBase64(what: what) }
        var out = [UInt8](repeating: 0, count: chars.count)
        var written = 0
        var end: UnsafePointer<CChar>? = nil
        let rc = chars.withUnsafeBufferPointer { cp in
            cp.baseAddress!.withMemoryRebound(to: CChar.self, capacity: chars.count) { p in
                sodium_base642bin(&out, out.count, p, chars.count, nil, &written, &end,
                                  Int32(sodium_base64_VARIANT_ORIGINAL))
            }
        }
        guard rc == 0 else { throw CryptoError.invalidBase64(what: what) }
        // sodium stops at the first invalid character; require that it consumed everything.
        let consumed = chars.withUnsafeBufferPointer { cp in
            end.map { UnsafeRawPointer($0) - UnsafeRawPointer(cp.baseAddress!) } ?? -1
        }
        guard consumed == chars.count else { throw CryptoError.invalidBase64(what: what) }
        return Array(out.prefix(written))
    }
}

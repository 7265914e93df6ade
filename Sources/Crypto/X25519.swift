import CSodium

/// A 32-byte X25519 public key. Public, so plain bytes; printed and parsed as base64.
public struct PublicKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.invalidLength(what: "public key", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = bytes
    }

    public init(base64: String) throws {
        let raw = try Base64.decode(base64, what: "public key")
        try self.init(bytes: raw)
    }

    public var base64: String { Base64.encode(bytes) }
    public var description: String { base64 }

    /// Whether this is a point of small order (in any encoding): X25519 with it yields the
    /// all-zero secret whatever the other key, so it is nobody's real key and no channel with it
    /// is secret. Asked of libsodium: `crypto_scalarmult` refuses exactly these points (-1), and
    /// any clamped scalar, being a multiple of the cofactor 8, maps them to zero.
    public var isLowOrder: Bool {
        Sodium.ensureInitialised()
        let scalar = [UInt8](repeating: 0x55, count: 32)  // public and fixed: nothing secret is computed
        var out = [UInt8](repeating: 0, count: 32)
        return crypto_scalarmult(&out, scalar, bytes) != 0
    }

    /// Byte-wise order, used to give the two ends of a channel distinct roles.
    public static func < (a: PublicKey, b: PublicKey) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// An X25519 key pair: the static identity of a node (used with `crypto_kx`) or a per-round
/// mask key in secure aggregation (used with `crypto_scalarmult`).
public struct KeyPair: Sendable {
    public static let secretKeyByteCount = 32
    public let publicKey: PublicKey
    public let secretKey: SecretBytes

    /// A fresh key pair from `rng`.
    public static func generate(using rng: inout some RandomSource) -> KeyPair {
        let secret = SecretBytes(count: secretKeyByteCount, using: &rng)
        // A random 32-byte string is always a valid X25519 secret (clamping happens inside).
        return try! KeyPair(secretKey: secret)
    }

    /// Recomputes the public key from a stored secret key.
    public init(secretKey: SecretBytes) throws {
        Sodium.ensureInitialised()
        guard secretKey.count == Self.secretKeyByteCount else {
            throw CryptoError.invalidLength(what: "secret key", expected: Self.secretKeyByteCount, actual: secretKey.count)
        }
        var pk = [UInt8](repeating: 0, count: PublicKey.byteCount)
        let rc = secretKey.withUnsafeBytes { sk in
            crypto_scalarmult_base(&pk, sk.bindMemory(to: UInt8.self).baseAddress!)
        }
        guard rc == 0 else { throw CryptoError.keyExchangeFailed }
        self.secretKey = secretKey
        self.publicKey = try PublicKey(bytes: pk)
    }

    /// Raw X25519 Diffie-Hellman. Rejects low-order peer keys (libsodium returns -1 when the
    /// result is all zeros), so a hostile peer cannot force a known shared secret.
    public func sharedSecret(with peer: PublicKey) throws -> SecretBytes {
        try SecretBytes(count: 32) { out in
            let rc = secretKey.withUnsafeBytes { sk in
                crypto_scalarmult(out.bindMemory(to: UInt8.self).baseAddress!,
                                  sk.bindMemory(to: UInt8.self).baseAddress!, peer.bytes)
            }
            guard rc == 0 else { throw CryptoError.weakPublicKey }
        }
    }
}

/// Per-direction symmetric keys between two static identities, from `crypto_kx`.
///
/// The peer with the smaller public key plays kx's "client" role, so both ends compute the
/// roles without talking; `transmit` on one side equals `receive` on the other.
public struct ChannelKeys: Sendable {
    public let receive: SecretBytes
    public let transmit: SecretBytes

    public init(local: KeyPair, remote: PublicKey) throws {
        Sodium.ensureInitialised()
        guard local.publicKey != remote else { throw CryptoError.keyExchangeFailed }
        let n = Int(crypto_kx_SESSIONKEYBYTES)
        var rx = [UInt8](repeating: 0, count: n), tx = [UInt8](repeating: 0, count: n)
        defer { sodium_memzero(&rx, n); sodium_memzero(&tx, n) }
        let rc: Int32 = local.secretKey.withUnsafeBytes { skRaw in
            let sk = skRaw.bindMemory(to: UInt8.self).baseAddress!
            if local.publicKey < remote {
                return crypto_kx_client_session_keys(&rx, &tx, local.publicKey.bytes, sk, remote.bytes)
            } else {
                return crypto_kx_server_session_keys(&rx, &tx, local.publicKey.bytes, sk, remote.bytes)
            }
        }
        guard rc == 0 else { throw CryptoError.weakPublicKey }
        receive = SecretBytes(copying: rx)
        transmit = SecretBytes(copying: tx)
    }
}

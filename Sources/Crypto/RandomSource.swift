import CSodium

/// Where key material and protocol randomness come from. Production uses the operating
/// system's CSPRNG; tests and simulations inject a seeded ChaCha20 stream so runs are repeatable.
public protocol RandomSource {
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

extension RandomSource {
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }

    public mutating func nextUInt64() -> UInt64 {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { fill($0) }
        return value
    }
}

/// The operating system's CSPRNG through libsodium's `randombytes_buf`.
public struct SystemRandom: RandomSource, RandomNumberGenerator, Sendable {
    public init() { Sodium.ensureInitialised() }

    public mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        randombytes_buf(base, buffer.count)
    }

    public mutating func next() -> UInt64 { nextUInt64() }
}

/// A deterministic ChaCha20 keystream from a 32-byte seed: cryptographically strong, repeatable.
/// Tests and `gossipnode simulate --seed` use it; never use a guessable seed in production.
public struct DeterministicRandom: RandomSource, RandomNumberGenerator, Sendable {
    private let key: [UInt8]
    private var block: UInt64 = 0
    private var buffer = [UInt8](repeating: 0, count: 64)
    private var used = 64

    public init(seed: [UInt8]) {
        Sodium.ensureInitialised()
        precondition(!seed.isEmpty, "DeterministicRandom needs a non-empty seed")
        // Hash any seed length to a 32-byte ChaCha20 key.
        key = KDF.hash(seed, outputLength: 32)
    }

    public init(seed: UInt64) {
        self.init(seed: withUnsafeBytes(of: seed.littleEndian) { Array($0) })
    }

    public mutating func fill(_ out: UnsafeMutableRawBufferPointer) {
        var offset = 0
        while offset < out.count {
            if used == 64 { refill() }
            let n = min(64 - used, out.count - offset)
            for i in 0..<n { out[offset + i] = buffer[used + i] }
            used += n
            offset += n
        }
    }

    private mutating func refill() {
        let nonce = [UInt8](repeating: 0, count: Int(crypto_stream_chacha20_NONCEBYTES))
        let zeros = [UInt8](repeating: 0, count: 64)
        buffer.withUnsafeMutableBufferPointer { bp in
            _ = crypto_stream_chacha20_xor_ic(bp.baseAddress!, zeros, 64, nonce, block, key)
        }
        block &+= 1
        used = 0
    }

    public mutating func next() -> UInt64 { nextUInt64() }
}

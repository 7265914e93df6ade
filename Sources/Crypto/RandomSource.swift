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
/// Tests and `gossipnode simulate --seed` use it with a chosen seed; a node's training uses it
/// keyed by the operating system (`keyedBySystem`). Never use a guessable seed in production.
public struct DeterministicRandom: RandomSource, RandomNumberGenerator, Sendable {
    /// Keystream bytes produced per refill: eight ChaCha20 blocks, so a draw of a few bytes costs
    /// a copy, not a cipher call.
    private static let bufferSize = 512
    private static let nonce = [UInt8](repeating: 0, count: Int(crypto_stream_chacha20_NONCEBYTES))
    private let key: [UInt8]
    /// The ChaCha20 block counter of the next refill.
    private var block: UInt64 = 0
    private var buffer = [UInt8](repeating: 0, count: bufferSize)
    private var used = bufferSize

    public init(seed: [UInt8]) {
        Sodium.ensureInitialised()
        precondition(!seed.isEmpty, "DeterministicRandom needs a non-empty seed")
        // Hash any seed length to a 32-byte ChaCha20 key.
        key = KDF.hash(seed, outputLength: 32)
    }

    public init(seed: UInt64) {
        self.init(seed: withUnsafeBytes(of: seed.littleEndian) { Array($0) })
    }

    /// A stream keyed with 32 fresh bytes from the operating system: as unpredictable as
    /// `SystemRandom`, but one system call per stream instead of one per draw. Training draws per
    /// example (shuffling, Poisson sampling), where a system call each cost a node 2% of its CPU.
    public static func keyedBySystem() -> DeterministicRandom {
        var system = SystemRandom()
        var seed = system.bytes(32)
        defer { seed.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) } }
        return DeterministicRandom(seed: seed)
    }

    public mutating func fill(_ out: UnsafeMutableRawBufferPointer) {
        var offset = 0
        while offset < out.count {
            if used == Self.bufferSize { refill() }
            let n = min(Self.bufferSize - used, out.count - offset)
            buffer.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: out[offset..<(offset + n)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[used..<(used + n)]))
            }
            used += n
            offset += n
        }
    }

    private mutating func refill() {
        let blocks = UInt64(Self.bufferSize / 64)
        buffer.withUnsafeMutableBufferPointer { bp in
            // libsodium has no counter-offset keystream call, so XOR the keystream into zeros.
            bp.update(repeating: 0)
            _ = crypto_stream_chacha20_xor_ic(bp.baseAddress!, bp.baseAddress!, UInt64(Self.bufferSize), Self.nonce, block, key)
        }
        block &+= blocks
        used = 0
    }

    public mutating func next() -> UInt64 { nextUInt64() }
}

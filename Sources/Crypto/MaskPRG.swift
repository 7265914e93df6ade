import CSodium

/// Expands a 32-byte seed into a stream of 32-bit words with ChaCha20 (`crypto_stream_chacha20`).
///
/// The full 32-byte seed is the ChaCha20 key, so a mask has all 256 bits of the seed's entropy.
/// Words are the little-endian reading of the keystream, so masks are identical on every platform.
public enum MaskPRG {
    public static let seedByteCount = Int(crypto_stream_chacha20_KEYBYTES)
    /// Words produced per keystream call: 16 KiB fits in L1 next to the vector being masked.
    static let chunkWords = 4096

    /// The first `count` words of the stream for `seed`.
    public static func expand(seed: SecretBytes, count: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { add(seed: seed, to: $0, negate: false) }
        return out
    }

    /// Adds (or, with `negate`, subtracts) the stream for `seed` to `vector`, word by word mod 2^32.
    /// Streams are generated chunk by chunk so no second d-sized buffer is ever allocated.
    ///
    /// `wordOffset` (a multiple of 16, one ChaCha20 block) says which word of the stream meets
    /// `vector[0]`, so a caller can mask a long vector one cache-sized slice at a time with several
    /// seeds while the slice stays in L1.
    public static func add(seed: SecretBytes, to vector: UnsafeMutableBufferPointer<UInt32>, negate: Bool,
                           startingAtWord wordOffset: Int = 0) {
        Sodium.ensureInitialised()
        precondition(seed.count == seedByteCount, "mask seed must be 32 bytes")
        precondition(wordOffset >= 0 && wordOffset % 16 == 0, "stream offset must be a multiple of 16 words")
        guard vector.count > 0 else { return }
        let nonce = [UInt8](repeating: 0, count: Int(crypto_stream_chacha20_NONCEBYTES))
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: chunkWords) { chunk in
            seed.withUnsafeBytes { keyRaw in
                let key = keyRaw.baseAddress!.assumingMemoryBound(to: UInt8.self)
                var start = 0
                while start < vector.count {
                    let n = min(chunkWords, vector.count - start)
                    let bytes = UnsafeMutableRawBufferPointer(chunk)
                    // Keystream for words [start, start+n): 16 words per 64-byte ChaCha20 block.
                    let block = UInt64((wordOffset + start) / 16)
                    let byteCount = ((n + 15) / 16) * 64
                    memsetZero(bytes.baseAddress!, byteCount)
                    _ = crypto_stream_chacha20_xor_ic(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                      bytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                      UInt64(byteCount), nonce, block, key)
                    accumulate(UnsafeMutableBufferPointer(rebasing: vector[start..<(start + n)]),
                               UnsafeBufferPointer(rebasing: chunk[0..<n]), negate: negate)
                    start += n
                }
                sodium_memzero(chunk.baseAddress!, chunkWords * 4)
            }
        }
    }

    /// dst[i] = dst[i] ± src[i] mod 2^32, eight lanes at a time.
    @inline(__always)
    static func accumulate(_ dst: UnsafeMutableBufferPointer<UInt32>, _ src: UnsafeBufferPointer<UInt32>, negate: Bool) {
        let n = dst.count
        let lanes = 8
        let vectorEnd = n - n % lanes
        let d = UnsafeMutableRawPointer(dst.baseAddress!)
        let s = UnsafeRawPointer(src.baseAddress!)
        var i = 0
        if negate {
            while i < vectorEnd {
                let a = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<UInt32>.self)
                let b = s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<UInt32>.self)
                d.storeBytes(of: a &- b, toByteOffset: i * 4, as: SIMD8<UInt32>.self)
                i += lanes
            }
            while i < n { dst[i] = dst[i] &- src[i]; i += 1 }
        } else {
            while i < vectorEnd {
                let a = d.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<UInt32>.self)
                let b = s.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<UInt32>.self)
                d.storeBytes(of: a &+ b, toByteOffset: i * 4, as: SIMD8<UInt32>.self)
                i += lanes
            }
            while i < n { dst[i] = dst[i] &+ src[i]; i += 1 }
        }
    }

    @inline(__always)
    private static func memsetZero(_ p: UnsafeMutableRawPointer, _ n: Int) {
        p.initializeMemory(as: UInt8.self, repeating: 0, count: n)
    }
}

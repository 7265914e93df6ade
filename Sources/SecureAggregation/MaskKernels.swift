import Crypto

/// One mask of a masked input: the ChaCha20 stream of `seed`, added or (with `negate`) subtracted.
struct MaskTerm {
    let seed: SecretBytes
    let negate: Bool
}

/// The O(d) loops of a session: masking an input, adding masked inputs into the running sum, and
/// removing masks. Every loop walks the vector in L1-sized slices and applies all its masks to a
/// slice before moving on, so each word is loaded from memory once however many masks there are
/// (scripts/bench-secagg.sh measures this against the bare keystream).
enum MaskKernels {
    /// Words per slice: 16 KiB of vector next to MaskPRG's 16 KiB keystream chunk stays in L1.
    static let sliceWords = 4096

    /// `vector ±= Σ terms` mod 2^32.
    static func apply(_ terms: [MaskTerm], to vector: UnsafeMutableBufferPointer<UInt32>) {
        guard !terms.isEmpty else { return }
        var start = 0
        while start < vector.count {
            let end = min(start + sliceWords, vector.count)
            let slice = UnsafeMutableBufferPointer(rebasing: vector[start..<end])
            for term in terms { MaskPRG.add(seed: term.seed, to: slice, negate: term.negate, startingAtWord: start) }
            start = end
        }
    }

    /// Masks one input: `sum += x + pairwise` (what this member counts for itself) and writes
    /// `x + pairwise + selfMask` as little-endian words to `message` (what it sends).
    static func mask(input: UnsafeBufferPointer<UInt32>, pairwise: [MaskTerm], selfMask: SecretBytes,
                     sum: UnsafeMutableBufferPointer<UInt32>, message: UnsafeMutableRawBufferPointer) {
        precondition(input.count == sum.count && message.count == 4 * input.count)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: sliceWords) { scratch in
            var start = 0
            while start < input.count {
                let end = min(start + sliceWords, input.count)
                let slice = UnsafeMutableBufferPointer(rebasing: scratch[0..<(end - start)])
                _ = slice.initialize(fromContentsOf: UnsafeBufferPointer(rebasing: input[start..<end]))
                for term in pairwise { MaskPRG.add(seed: term.seed, to: slice, negate: term.negate, startingAtWord: start) }
                addWords(UnsafeBufferPointer(slice), into: UnsafeMutableBufferPointer(rebasing: sum[start..<end]))
                MaskPRG.add(seed: selfMask, to: slice, negate: false, startingAtWord: start)
                storeLittleEndian(UnsafeBufferPointer(slice),
                                  to: UnsafeMutableRawBufferPointer(rebasing: message[(4 * start)..<(4 * end)]))
                start = end
            }
        }
    }

    /// `sum += words`, where `bytes` holds little-endian 32-bit words at any alignment.
    static func addLittleEndian(_ bytes: UnsafeRawBufferPointer, into sum: UnsafeMutableBufferPointer<UInt32>) {
        precondition(bytes.count == 4 * sum.count)
        let n = sum.count
        guard n > 0, let source = bytes.baseAddress, let destination = sum.baseAddress else { return }
        var i = 0
        #if _endian(little)
        let lanes = 8
        let raw = UnsafeMutableRawPointer(destination)
        while i + lanes <= n {
            let a = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<UInt32>.self)
            let b = source.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<UInt32>.self)
            raw.storeBytes(of: a &+ b, toByteOffset: 4 * i, as: SIMD8<UInt32>.self)
            i += lanes
        }
        #endif
        while i < n {
            destination[i] &+= UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            i += 1
        }
    }

    /// `sum += words` (host byte order).
    static func addWords(_ words: UnsafeBufferPointer<UInt32>, into sum: UnsafeMutableBufferPointer<UInt32>) {
        #if _endian(little)
        addLittleEndian(UnsafeRawBufferPointer(words), into: sum)
        #else
        for i in 0..<sum.count { sum[i] &+= words[i] }
        #endif
    }

    /// Writes `words` as little-endian bytes.
    static func storeLittleEndian(_ words: UnsafeBufferPointer<UInt32>, to bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count == 4 * words.count)
        #if _endian(little)
        bytes.copyMemory(from: UnsafeRawBufferPointer(words))
        #else
        for (i, word) in words.enumerated() { bytes.storeBytes(of: word.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        #endif
    }
}

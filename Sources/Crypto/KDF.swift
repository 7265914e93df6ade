import CSodium

/// BLAKE2b (`crypto_generichash`) as a hash and as a keyed, domain-separated key-derivation function.
public enum KDF {
    /// Unkeyed BLAKE2b of `input` (1...64 output bytes). Public data only: group assignment, seeds of tests.
    public static func hash(_ input: [UInt8], outputLength: Int = 32) -> [UInt8] {
        Sodium.ensureInitialised()
        precondition((Int(crypto_generichash_BYTES_MIN)...Int(crypto_generichash_BYTES_MAX)).contains(outputLength))
        var out = [UInt8](repeating: 0, count: outputLength)
        input.withUnsafeBufferPointer { ip in
            _ = crypto_generichash(&out, outputLength, ip.baseAddress ?? UnsafePointer(emptyByte), UInt64(input.count), nil, 0)
        }
        return out
    }

    /// Derives `outputLength` secret bytes from `key` for one purpose.
    ///
    /// The input is `label` (length-prefixed, so labels cannot run into the context) followed by
    /// `context`; distinct labels therefore give independent keys from the same secret.
    public static func derive(from key: SecretBytes, label: String, context: [UInt8], outputLength: Int = 32) -> SecretBytes {
        Sodium.ensureInitialised()
        precondition((Int(crypto_generichash_KEYBYTES_MIN)...Int(crypto_generichash_KEYBYTES_MAX)).contains(key.count),
                     "KDF key must be 16...64 bytes")
        precondition((Int(crypto_generichash_BYTES_MIN)...Int(crypto_generichash_BYTES_MAX)).contains(outputLength))
        let labelBytes = Array(label.utf8)
        var input = [UInt8]()
        input.reserveCapacity(4 + labelBytes.count + context.count)
        withUnsafeBytes(of: UInt32(labelBytes.count).littleEndian) { input.append(contentsOf: $0) }
        input.append(contentsOf: labelBytes)
        input.append(contentsOf: context)
        defer { input.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) } }
        return SecretBytes(count: outputLength) { out in
            key.withUnsafeBytes { k in
                _ = crypto_generichash(out.baseAddress!.assumingMemoryBound(to: UInt8.self), outputLength,
                                       input, UInt64(input.count),
                                       k.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count)
            }
        }
    }
}

nonisolated(unsafe) private let emptyByte: UnsafeMutablePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    p.initialize(to: 0)
    return p
}()

import CSodium

/// One participant's share of a secret: the polynomial's value at `index` (1...255), byte by byte.
public struct ShamirShare: Sendable, Equatable {
    public let index: UInt8
    public let value: SecretBytes

    public init(index: UInt8, value: SecretBytes) {
        self.index = index
        self.value = value
    }
}

/// t-of-n Shamir secret sharing over GF(2^8), applied independently to every byte of the secret.
///
/// Each byte gets its own random polynomial of degree t-1 whose constant term is the secret byte;
/// share i is every polynomial evaluated at x = i. Any t shares determine the polynomials (Lagrange
/// interpolation at 0); t-1 shares are uniformly distributed whatever the secret. Field arithmetic
/// is branch-free and table-free so timing does not depend on secret bytes.
public enum Shamir {
    /// Splits `secret` into `count` shares of which any `threshold` recover it.
    public static func split(_ secret: SecretBytes, threshold: Int, count: Int,
                             using rng: inout some RandomSource) throws -> [ShamirShare] {
        guard count >= 1, count <= 255 else { throw CryptoError.invalidShares("share count \(count) outside 1...255") }
        guard threshold >= 1, threshold <= count else {
            throw CryptoError.invalidShares("threshold \(threshold) outside 1...\(count)")
        }
        let length = secret.count
        // coefficients[k * length + j] is the degree-(k+1) coefficient for byte j.
        let coefficients = SecretBytes(count: (threshold - 1) * length, using: &rng)
        return (1...count).map { i in
            let x = UInt8(i)
            let value = SecretBytes(count: length) { out in
                secret.withUnsafeBytes { s in
                    coefficients.withUnsafeBytes { c in
                        for j in 0..<length {
                            // Horner: ((c_{t-1} x + c_{t-2}) x + ... + c_1) x + s
                            var acc: UInt8 = 0
                            var k = threshold - 2
                            while k >= 0 {
                                acc = GF256.mul(acc, x) ^ c[k * length + j]
                                k -= 1
                            }
                            out[j] = GF256.mul(acc, x) ^ s[j]
                        }
                    }
                }
            }
            return ShamirShare(index: x, value: value)
        }
    }

    /// Recovers the secret from at least `threshold` shares. The first `threshold` shares define
    /// the polynomial; any further shares must agree with it, so a corrupted share is detected
    /// whenever more than `threshold` are supplied.
    public static func combine(_ shares: [ShamirShare], threshold: Int) throws -> SecretBytes {
        guard threshold >= 1 else { throw CryptoError.invalidShares("threshold must be at least 1") }
        guard shares.count >= threshold else {
            throw CryptoError.invalidShares("need \(threshold) shares, have \(shares.count)")
        }
        let length = shares[0].value.count
        var seen = Set<UInt8>()
        for share in shares {
            guard share.index != 0 else { throw CryptoError.invalidShares("share index 0") }
            guard seen.insert(share.index).inserted else { throw CryptoError.invalidShares("duplicate index \(share.index)") }
            guard share.value.count == length else { throw CryptoError.invalidShares("shares differ in length") }
        }
        let basis = Array(shares.prefix(threshold))
        let secret = interpolate(basis, at: 0, length: length)
        for extra in shares.dropFirst(threshold) {
            let expected = interpolate(basis, at: extra.index, length: length)
            guard expected == extra.value else { throw CryptoError.invalidShares("share \(extra.index) is inconsistent") }
        }
        return secret
    }

    /// Lagrange interpolation of the byte polynomials through `points`, evaluated at `x`.
    static func interpolate(_ points: [ShamirShare], at x: UInt8, length: Int) -> SecretBytes {
        // weight_i = prod_{j != i} (x - x_j) / (x_i - x_j); subtraction is XOR in GF(2^8).
        let weights: [UInt8] = points.indices.map { i in
            var numerator: UInt8 = 1, denominator: UInt8 = 1
            for j in points.indices where j != i {
                numerator = GF256.mul(numerator, x ^ points[j].index)
                denominator = GF256.mul(denominator, points[i].index ^ points[j].index)
            }
            return GF256.mul(numerator, GF256.inverse(denominator))
        }
        return SecretBytes(count: length) { out in
            for (i, point) in points.enumerated() {
                point.value.withUnsafeBytes { y in
                    for j in 0..<length { out[j] ^= GF256.mul(weights[i], y[j]) }
                }
            }
        }
    }
}

/// GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1, in constant time.
enum GF256 {
    @inline(__always)
    static func mul(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a, b = b, product: UInt8 = 0
        for _ in 0..<8 {
            product ^= a & (0 &- (b & 1))
            let carry = a >> 7
            a = (a << 1) ^ (0x1B & (0 &- carry))
            b >>= 1
        }
        return product
    }

    /// a^254 = a^-1 for a != 0 (and 0 for 0), by a fixed square-and-multiply chain.
    static func inverse(_ a: UInt8) -> UInt8 {
        var result: UInt8 = 1
        var base = a
        var e = 254
        for _ in 0..<8 {
            let factor = (e & 1) == 1 ? base : 1
            result = mul(result, factor)
            base = mul(base, base)
            e >>= 1
        }
        return result
    }
}

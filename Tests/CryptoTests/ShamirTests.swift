@testable import Crypto
import Testing
import TestKit

@Suite struct ShamirTests {
    func secret(_ rng: inout DeterministicRandom) -> SecretBytes { SecretBytes(count: 32, using: &rng) }

    /// Every subset of `size` elements of 0..<n.
    func subsets(of n: Int, size: Int) -> [[Int]] {
        if size == 0 { return [[]] }
        if n < size { return [] }
        return subsets(of: n - 1, size: size) + subsets(of: n - 1, size: size - 1).map { $0 + [n - 1] }
    }

    @Test(arguments: [(1, 1), (2, 3), (3, 5), (4, 7), (5, 8), (7, 12)])
    func anyThresholdSubsetRecovers(threshold: Int, count: Int) throws {
        var rng = seededRandom(UInt64(threshold * 100 + count))
        let s = secret(&rng)
        let shares = try Shamir.split(s, threshold: threshold, count: count, using: &rng)
        #expect(shares.map(\.index) == (1...count).map { UInt8($0) })
        for subset in subsets(of: count, size: threshold) {
            #expect(try Shamir.combine(subset.map { shares[$0] }, threshold: threshold) == s)
        }
        // More shares than needed also recover, in any order.
        #expect(try Shamir.combine(shares.reversed(), threshold: threshold) == s)
    }

    @Test func fewerThanThresholdIsRefusedAndAWrongGuessIsNotTheSecret() throws {
        var rng = seededRandom(7)
        let s = secret(&rng)
        let shares = try Shamir.split(s, threshold: 3, count: 5, using: &rng)
        #expect(throws: CryptoError.self) { try Shamir.combine(Array(shares.prefix(2)), threshold: 3) }
        // Interpolating t-1 shares as if they were enough gives something other than the secret.
        #expect(try Shamir.combine(Array(shares.prefix(2)), threshold: 2) != s)
    }

    /// t-1 shares are consistent with every possible secret: for each candidate secret there is a
    /// complete, self-consistent set of n shares that contains the t-1 known ones and combines to the
    /// candidate (combine checks the extra shares against the polynomial). So the known shares rule
    /// out no secret.
    @Test func thresholdMinusOneSharesAreConsistentWithEverySecret() throws {
        var rng = seededRandom(8)
        let s = secret(&rng)
        let t = 4, n = 6
        let shares = try Shamir.split(s, threshold: t, count: n, using: &rng)
        let known = Array(shares.prefix(t - 1))
        for candidate in 0...255 {
            let candidateSecret = SecretBytes(copying: [UInt8](repeating: UInt8(candidate), count: 32))
            let basis = [ShamirShare(index: 0, value: candidateSecret)] + known
            let completed = known + (t...n).map { x in
                ShamirShare(index: UInt8(x), value: Shamir.interpolate(basis, at: UInt8(x), length: 32))
            }
            #expect(try Shamir.combine(completed, threshold: t) == candidateSecret)
            #expect(try Shamir.combine(completed.reversed(), threshold: t) == candidateSecret)
        }
    }

    /// GF(2^8) by log and antilog tables over the generator 3, built here apart from `GF256`.
    struct ReferenceField {
        var exp = [UInt8](repeating: 0, count: 510), log = [Int](repeating: 0, count: 256)
        init() {
            var x: UInt8 = 1
            for i in 0..<255 {
                exp[i] = x; exp[i + 255] = x; log[Int(x)] = i
                x ^= (x << 1) ^ (x & 0x80 != 0 ? 0x1B : 0)  // x * 3 = x ^ xtime(x)
            }
        }
        func mul(_ a: UInt8, _ b: UInt8) -> UInt8 { a == 0 || b == 0 ? 0 : exp[log[Int(a)] + log[Int(b)]] }
        func div(_ a: UInt8, _ b: UInt8) -> UInt8 { a == 0 ? 0 : exp[log[Int(a)] + 255 - log[Int(b)]] }
    }

    /// The field against FIPS-197's worked examples, and split against a schoolbook Lagrange
    /// interpolation at 0 in the reference field: any t shares give back the secret, and no
    /// share is the secret itself.
    @Test func splitMatchesAnIndependentInterpolation() throws {
        #expect(GF256.mul(0x57, 0x83) == 0xC1 && GF256.mul(0x57, 0x13) == 0xFE && GF256.inverse(0x53) == 0xCA)
        let field = ReferenceField()
        #expect(field.mul(0x57, 0x83) == 0xC1 && field.div(1, 0x53) == 0xCA)
        var rng = seededRandom(12)
        let s = secret(&rng), t = 3, n = 5
        let shares = try Shamir.split(s, threshold: t, count: n, using: &rng)
        let secretBytes = s.copyBytes()
        for share in shares { #expect(share.value.copyBytes() != secretBytes) }
        for subset in subsets(of: n, size: t) {
            let xs = subset.map { shares[$0].index }, ys = subset.map { shares[$0].value.copyBytes() }
            var recovered = [UInt8](repeating: 0, count: 32)
            for (i, xi) in xs.enumerated() {
                var basis: UInt8 = 1  // the Lagrange basis polynomial of x_i, evaluated at 0
                for (j, xj) in xs.enumerated() where j != i { basis = field.mul(basis, field.div(xj, xj ^ xi)) }
                for k in 0..<32 { recovered[k] ^= field.mul(ys[i][k], basis) }
            }
            #expect(recovered == secretBytes, "shares \(xs)")
        }
    }

    /// Shares of two different secrets, seen t-1 at a time, have the same distribution:
    /// a chi-square test on the byte values of share 1 and share 2 (joint through XOR) over many splits.
    @Test func thresholdMinusOneSharesAreUniformWhateverTheSecret() throws {
        var rng = seededRandom(9)
        let trials = 6000
        for secretByte: UInt8 in [0x00, 0xFF] {
            let s = SecretBytes(copying: [UInt8](repeating: secretByte, count: 32))
            var counts = [Int](repeating: 0, count: 256)
            var xorCounts = [Int](repeating: 0, count: 256)
            for _ in 0..<trials {
                let shares = try Shamir.split(s, threshold: 3, count: 5, using: &rng)
                let a = shares[0].value.copyBytes(), b = shares[1].value.copyBytes()
                for j in 0..<32 { counts[Int(a[j])] += 1; xorCounts[Int(a[j] ^ b[j])] += 1 }
            }
            let expected = Double(trials * 32) / 256
            for histogram in [counts, xorCounts] {
                let chi2 = histogram.reduce(0.0) { $0 + pow2(Double($1) - expected) / expected }
                // 255 degrees of freedom: the 99.99th percentile is about 355.
                #expect(chi2 < 355, "chi-square \(chi2) for secret byte \(secretByte)")
            }
        }
    }

    @Test func corruptedExtraShareIsDetected() throws {
        var rng = seededRandom(10)
        let s = secret(&rng)
        var shares = try Shamir.split(s, threshold: 2, count: 4, using: &rng)
        var bytes = shares[3].value.copyBytes()
        bytes[5] ^= 0x40
        shares[3] = ShamirShare(index: 4, value: SecretBytes(copying: bytes))
        #expect(throws: CryptoError.invalidShares("share 4 is inconsistent")) { try Shamir.combine(shares, threshold: 2) }
    }

    @Test func badParametersAndSharesAreRejected() throws {
        var rng = seededRandom(11)
        let s = secret(&rng)
        #expect(throws: CryptoError.self) { try Shamir.split(s, threshold: 0, count: 3, using: &rng) }
        #expect(throws: CryptoError.self) { try Shamir.split(s, threshold: 4, count: 3, using: &rng) }
        #expect(throws: CryptoError.self) { try Shamir.split(s, threshold: 2, count: 256, using: &rng) }
        let shares = try Shamir.split(s, threshold: 2, count: 3, using: &rng)
        #expect(throws: CryptoError.self) { try Shamir.combine([shares[0], shares[0]], threshold: 2) }
        #expect(throws: CryptoError.self) {
            try Shamir.combine([shares[0], ShamirShare(index: 0, value: shares[1].value)], threshold: 2)
        }
        #expect(throws: CryptoError.self) {
            try Shamir.combine([shares[0], ShamirShare(index: 2, value: SecretBytes(copying: [1]))], threshold: 2)
        }
    }

    @Test func fieldArithmeticIsAField() {
        for a in 1...255 {
            #expect(GF256.mul(UInt8(a), GF256.inverse(UInt8(a))) == 1)
        }
        // Distributivity on a sample, against the schoolbook definition.
        for a in stride(from: 0, through: 255, by: 17) {
            for b in stride(from: 0, through: 255, by: 13) {
                for c in stride(from: 0, through: 255, by: 29) {
                    let (x, y, z) = (UInt8(a), UInt8(b), UInt8(c))
                    #expect(GF256.mul(x, y ^ z) == GF256.mul(x, y) ^ GF256.mul(x, z))
                }
            }
        }
        #expect(GF256.mul(0x57, 0x83) == 0xC1) // FIPS-197 §4.2 example
    }

}

private func pow2(_ x: Double) -> Double { x * x }

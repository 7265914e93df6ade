// Gaussian noise for DP-SGD at memory speed: 16 independent xoshiro128+ lanes feed a Box-Muller
// transform whose log/sin/cos are short float polynomials (Cephes coefficients), so the loop vectorises.
#include "CKernels.h"
#include <math.h>
#include <string.h>

#define LANES 16

static inline uint32_t rotl32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
static inline float bits_to_float(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/// Natural log for normal positive floats (Cephes logf; relative error ~1e-7).
static inline float ck_logf(float v) {
    uint32_t bits = float_to_bits(v);
    float e = (float)((int)((bits >> 23) & 0xff) - 126);
    float x = bits_to_float((bits & 0x7fffff) | 0x3f000000); // mantissa in [0.5, 1)
    int small = x < 0.70710678118654752f;
    e = small ? e - 1.0f : e;
    x = small ? x + x - 1.0f : x - 1.0f;
    float z = x * x;
    float y = ((((((((7.0376836292E-2f * x - 1.1514610310E-1f) * x + 1.1676998740E-1f) * x
                  - 1.2420140846E-1f) * x + 1.4249322787E-1f) * x - 1.6668057665E-1f) * x
                  + 2.0000714765E-1f) * x - 2.4999993993E-1f) * x + 3.3333331174E-1f) * x * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    return x + y + 0.693359375f * e;
}

#if defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void ck_gaussian_noise(float *out, long n, float stddev, const uint64_t seed[8], uint64_t stream, long offset, int add) {
    uint32_t s0[LANES], s1[LANES], s2[LANES], s3[LANES];
    // Expand the 512-bit seed into 64 lane words with SplitMix64 so that every lane differs.
    uint64_t mix = 0;
    for (int l = 0; l < LANES; l++) {
        uint32_t words[4];
        for (int w = 0; w < 4; w += 2) {
            mix ^= seed[(l * 2 + w / 2) % 8] + (uint64_t)(l * 4 + w) + stream * 0xD1B54A32D192ED03ull;
            uint64_t z = (mix += 0x9E3779B97F4A7C15ull);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            words[w] = (uint32_t)z;
            words[w + 1] = (uint32_t)(z >> 32) | 1u; // never an all-zero state
        }
        s0[l] = words[0]; s1[l] = words[1]; s2[l] = words[2]; s3[l] = words[3];
    }
    // Start `offset` values into the stream: skip whole draws of 2 * LANES values, then the
    // first `lead` values of the next one, so any slice equals that slice of the whole stream.
    for (long skip = offset / (2 * LANES); skip > 0; skip--) {
        for (int l = 0; l < LANES; l++) {
            for (int twice = 0; twice < 2; twice++) {
                uint32_t t = s1[l] << 9;
                s2[l] ^= s0[l]; s3[l] ^= s1[l]; s1[l] ^= s2[l]; s0[l] ^= s3[l]; s2[l] ^= t; s3[l] = rotl32(s3[l], 11);
            }
        }
    }
    long lead = offset % (2 * LANES);
    const float halfPi = 1.57079632679489662f;
    float block[2 * LANES];
    for (long done = -lead; done < n; done += 2 * LANES) {
        for (int l = 0; l < LANES; l++) {
            // Two 32-bit draws per lane (xoshiro128+; the weak low bits are discarded).
            uint32_t r1 = s0[l] + s3[l];
            uint32_t t = s1[l] << 9;
            s2[l] ^= s0[l]; s3[l] ^= s1[l]; s1[l] ^= s2[l]; s0[l] ^= s3[l]; s2[l] ^= t; s3[l] = rotl32(s3[l], 11);
            uint32_t r2 = s0[l] + s3[l];
            t = s1[l] << 9;
            s2[l] ^= s0[l]; s3[l] ^= s1[l]; s1[l] ^= s2[l]; s0[l] ^= s3[l]; s2[l] ^= t; s3[l] = rotl32(s3[l], 11);

            float u1 = (float)((r1 >> 8) + 1) * 0x1p-24f;                  // (0, 1]
            float radius = stddev * __builtin_elementwise_sqrt(-2.0f * ck_logf(u1)); // no errno path: vectorises
            // Angle = quadrant * pi/2 + x, x uniform in [-pi/4, pi/4): uniform on the circle.
            uint32_t quadrant = r2 >> 30;
            float x = ((float)((r2 >> 6) & 0xffffff) * 0x1p-24f - 0.5f) * halfPi;
            float x2 = x * x;
            float sinx = x + x * x2 * (-1.6666654611E-1f + x2 * (8.3321608736E-3f + x2 * -1.9515295891E-4f));
            float cosx = 1.0f - 0.5f * x2 + x2 * x2 * (4.166664568298827E-2f + x2 * (-1.388731625493765E-3f + x2 * 2.443315711809948E-5f));
            float c = (quadrant & 1) ? -sinx : cosx;
            float s = (quadrant & 1) ? cosx : sinx;
            c = (quadrant & 2) ? -c : c;
            s = (quadrant & 2) ? -s : s;
            block[l] = radius * c;
            block[LANES + l] = radius * s;
        }
        long from = done < 0 ? -done : 0;
        long take = n - done < 2 * LANES ? n - done : 2 * LANES;
        if (add) {
            for (long i = from; i < take; i++) out[done + i] += block[i];
        } else {
            memcpy(out + done + from, block + from, (size_t)(take - from) * sizeof(float));
        }
    }
}

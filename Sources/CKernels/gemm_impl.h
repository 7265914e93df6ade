// One instruction-set variant of the blocked GEMM. Included by gemm.c once per variant with
// CK_NAME (function name), CK_VBYTES (vector width in bytes) and CK_MR (rows per micro-tile) defined,
// and optionally CK_NV (vectors per micro-tile row: 2, the default, or 1 for narrow outputs).
// Loop structure after BLIS (Goto's algorithm): B panels of KC x NR stay in L1, packed A blocks of
// MC x KC in L2; the MR x NR micro-tile of C lives in vector registers.

#ifndef CK_NV
#define CK_NV 2
#endif
#define CK_VW (CK_VBYTES / 4)   /* floats per vector */
#define CK_NR (CK_NV * CK_VW)   /* columns per micro-tile: CK_NV vectors */
#ifndef CK_KC_OVERRIDE
#define CK_KC 256
#else
#define CK_KC CK_KC_OVERRIDE
#endif
#define CK_MC 96
#define CK_NC 2048

#define CK_CAT2(a, b) a##b
#define CK_CAT(a, b) CK_CAT2(a, b)
#define CK_VEC CK_CAT(CK_NAME, _vec)
#define CK_KERNEL CK_CAT(CK_NAME, _kernel)
#define CK_PACK_A CK_CAT(CK_NAME, _pack_a)
#define CK_PACK_B CK_CAT(CK_NAME, _pack_b)

typedef float CK_VEC __attribute__((vector_size(CK_VBYTES), aligned(4)));

/// C tile (mr x nr, stride ldc) = (acc ? C : 0) + sum_p a[p][0..MR) (x) b[p][0..NR), then bias/relu.
/// a is a packed MR-panel; b has row stride ldb (NR when packed) and always holds NR readable columns.
static inline __attribute__((always_inline)) void CK_KERNEL(
    long kc, const float *restrict a, const float *restrict b, long ldb,
    float *restrict c, long ldc, int mr, int nr, int accumulate, const float *bias, int relu) {
    // With one vector per row (CK_NV 1) the second accumulators and loads are dead code, removed
    // by the compiler; each element still sums in the same order, so results do not change.
    CK_VEC acc0[CK_MR], acc1[CK_MR];
#pragma clang loop unroll(full)
    for (int r = 0; r < CK_MR; r++) { acc0[r] = (CK_VEC){0}; acc1[r] = (CK_VEC){0}; }
    for (long p = 0; p < kc; p++) {
        CK_VEC b0 = *(const CK_VEC *)(b + p * ldb);
        CK_VEC b1 = CK_NV == 2 ? *(const CK_VEC *)(b + p * ldb + CK_VW) : (CK_VEC){0};
        const float *ap = a + p * CK_MR;
#pragma clang loop unroll(full)
        for (int r = 0; r < CK_MR; r++) {
            // scalar * vector splats without an add (0 + x is not foldable: -0.0), so the
            // compiler can use a broadcast load (embedded broadcast on AVX-512).
            float ar = ap[r];
            acc0[r] += ar * b0;
            acc1[r] += ar * b1;
        }
    }
    if (mr == CK_MR && nr == CK_NR) {
        CK_VEC bias0 = {0}, bias1 = {0};
        if (bias) { bias0 = *(const CK_VEC *)bias; if (CK_NV == 2) bias1 = *(const CK_VEC *)(bias + CK_VW); }
#pragma clang loop unroll(full)
        for (int r = 0; r < CK_MR; r++) {
            CK_VEC *c0 = (CK_VEC *)(c + r * ldc);
            CK_VEC v0 = acc0[r] + bias0;
            if (accumulate) v0 += *c0;
            if (relu) v0 = __builtin_elementwise_max(v0, (CK_VEC){0});
            *c0 = v0;
            if (CK_NV == 2) {
                CK_VEC *c1 = (CK_VEC *)(c + r * ldc + CK_VW);
                CK_VEC v1 = acc1[r] + bias1;
                if (accumulate) v1 += *c1;
                if (relu) v1 = __builtin_elementwise_max(v1, (CK_VEC){0});
                *c1 = v1;
            }
        }
        return;
    }
    float tile[CK_MR * CK_NR];
    for (int r = 0; r < CK_MR; r++) {
        *(CK_VEC *)(tile + r * CK_NR) = acc0[r];
        if (CK_NV == 2) *(CK_VEC *)(tile + r * CK_NR + CK_VW) = acc1[r];
    }
    for (int r = 0; r < mr; r++) {
        for (int j = 0; j < nr; j++) {
            float v = tile[r * CK_NR + j] + (bias ? bias[j] : 0.0f);
            if (accumulate) v += c[r * ldc + j];
            if (relu && !(v > 0.0f)) v = 0.0f;
            c[r * ldc + j] = v;
        }
    }
}

/// Packs op(A)[i0..i0+mc, p0..p0+kc] into MR-row panels, zero-padding the last panel.
static void CK_PACK_A(int transA, const float *A, long lda, long i0, long p0, long mc, long kc, float *out) {
    for (long ir = 0; ir < mc; ir += CK_MR) {
        long mr = mc - ir < CK_MR ? mc - ir : CK_MR;
        float *panel = out + ir * kc;
        if (transA) {
            for (long p = 0; p < kc; p++) {
                const float *src = A + (p0 + p) * lda + i0 + ir;
                long r = 0;
                for (; r < mr; r++) panel[p * CK_MR + r] = src[r];
                for (; r < CK_MR; r++) panel[p * CK_MR + r] = 0.0f;
            }
        } else {
            for (long r = 0; r < CK_MR; r++) {
                if (r < mr) {
                    const float *src = A + (i0 + ir + r) * lda + p0;
                    for (long p = 0; p < kc; p++) panel[p * CK_MR + r] = src[p];
                } else {
                    for (long p = 0; p < kc; p++) panel[p * CK_MR + r] = 0.0f;
                }
            }
        }
    }
}

/// Packs one NR-column panel op(B)[p0..p0+kc, j0..j0+nr] (zero-padded to NR columns) with row stride NR.
static void CK_PACK_B(int transB, const float *B, long ldb, long p0, long j0, long kc, long nr, float *out) {
    if (transB) {
        for (long j = 0; j < CK_NR; j++) {
            if (j < nr) {
                const float *src = B + (j0 + j) * ldb + p0;
                for (long p = 0; p < kc; p++) out[p * CK_NR + j] = src[p];
            } else {
                for (long p = 0; p < kc; p++) out[p * CK_NR + j] = 0.0f;
            }
        }
    } else {
        for (long p = 0; p < kc; p++) {
            const float *src = B + (p0 + p) * ldb + j0;
            long j = 0;
            for (; j < nr; j++) out[p * CK_NR + j] = src[j];
            for (; j < CK_NR; j++) out[p * CK_NR + j] = 0.0f;
        }
    }
}

static void CK_NAME(int transA, int transB, long m, long n, long k,
                    const float *A, long lda, const float *B, long ldb,
                    float *C, long ldc, int accumulate, const float *bias, int relu,
                    float *packA, float *packB) {
    for (long jc = 0; jc < n; jc += CK_NC) {
        long nc = n - jc < CK_NC ? n - jc : CK_NC;
        for (long pc = 0; pc < k; pc += CK_KC) {
            long kc = k - pc < CK_KC ? k - pc : CK_KC;
            int first = pc == 0, last = pc + kc == k;
            // Row-major B is read in place for full panels; transposed B and the ragged last panel are packed.
            for (long jr = 0; jr < nc; jr += CK_NR) {
                long nr = nc - jr < CK_NR ? nc - jr : CK_NR;
                if (transB || nr < CK_NR) CK_PACK_B(transB, B, ldb, pc, jc + jr, kc, nr, packB + jr * kc);
            }
            for (long ic = 0; ic < m; ic += CK_MC) {
                long mc = m - ic < CK_MC ? m - ic : CK_MC;
                CK_PACK_A(transA, A, lda, ic, pc, mc, kc, packA);
                for (long jr = 0; jr < nc; jr += CK_NR) {
                    long nr = nc - jr < CK_NR ? nc - jr : CK_NR;
                    const float *bp;
                    long bstride;
                    if (transB || nr < CK_NR) { bp = packB + jr * kc; bstride = CK_NR; }
                    else { bp = B + pc * ldb + jc + jr; bstride = ldb; }
                    const float *biasp = (last && bias) ? bias + jc + jr : 0;
                    for (long ir = 0; ir < mc; ir += CK_MR) {
                        long mr = mc - ir < CK_MR ? mc - ir : CK_MR;
                        CK_KERNEL(kc, packA + ir * kc, bp, bstride, C + (ic + ir) * ldc + jc + jr, ldc,
                                  (int)mr, (int)nr, accumulate || !first, biasp, last && relu);
                    }
                }
            }
        }
    }
}

#undef CK_VW
#undef CK_NV
#undef CK_NR
#undef CK_KC
#undef CK_MC
#undef CK_NC
#undef CK_VEC
#undef CK_KERNEL
#undef CK_PACK_A
#undef CK_PACK_B

// Run-time instruction-set dispatch for the GEMM: the release binary is built for the baseline
// ISA (any x86-64 / arm64), and the AVX2 and AVX-512 variants are compiled here with target attributes.
#include "CKernels.h"
#include <stdlib.h>

// Workspace bound: packA holds MC x KC, packB holds KC x (NC rounded up to NR) for the widest variant.
#define CK_PACK_A_FLOATS (96 * 256)
#define CK_PACK_B_FLOATS (256 * (2048 + 32))

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx2,fma"))), apply_to = function)
#define CK_NAME ck_sgemm_avx512
#define CK_VBYTES 64
#define CK_MR 8
#include "gemm_impl.h"
#undef CK_NAME
#undef CK_MR
// Outputs of at most 16 columns (a CNN's first convolution, the classifier layer) would fill only
// half of the 32-column tile: this variant has one-vector rows and twice the rows per tile.
#define CK_NAME ck_sgemm_avx512_narrow
#define CK_NV 1
#define CK_MR 16
#include "gemm_impl.h"
#undef CK_NAME
#undef CK_VBYTES
#undef CK_MR
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define CK_NAME ck_sgemm_avx2
#define CK_VBYTES 32
#define CK_MR 6
#include "gemm_impl.h"
#undef CK_NAME
#undef CK_VBYTES
#undef CK_MR
#pragma clang attribute pop
#endif

#define CK_NAME ck_sgemm_baseline
#define CK_VBYTES 16
#define CK_MR 4
#include "gemm_impl.h"
#undef CK_NAME
#undef CK_VBYTES
#undef CK_MR

typedef void (*ck_sgemm_fn)(int, int, long, long, long, const float *, long, const float *, long,
                            float *, long, int, const float *, int, float *, float *);

static int ck_supports(int isa) {
    switch (isa) {
    case CK_ISA_BASELINE: return 1;
#if defined(__x86_64__)
    case CK_ISA_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CK_ISA_AVX512: __builtin_cpu_init(); return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#endif
    default: return 0;
    }
}

static int ck_best_isa(void) {
    if (ck_supports(CK_ISA_AVX512)) return CK_ISA_AVX512;
    if (ck_supports(CK_ISA_AVX2)) return CK_ISA_AVX2;
    return CK_ISA_BASELINE;
}

static int ck_best = CK_ISA_AUTO; // the CPU's best variant, resolved once; accessed atomically
// A per-thread override: a process-wide one let a test comparing variants change the rounding
// (FMA or not) of training that other threads were running at the same time.
static _Thread_local int ck_isa_override = CK_ISA_AUTO;

int ck_active_isa(void) {
    if (ck_isa_override != CK_ISA_AUTO) return ck_isa_override;
    int isa = __atomic_load_n(&ck_best, __ATOMIC_RELAXED);
    if (isa == CK_ISA_AUTO) {
        isa = ck_best_isa();
        __atomic_store_n(&ck_best, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

int ck_set_isa(int isa) {
    if (isa != CK_ISA_AUTO && !ck_supports(isa)) return 0;
    ck_isa_override = isa;
    return 1;
}

const char *ck_active_isa_name(void) {
    switch (ck_active_isa()) {
    case CK_ISA_AVX512: return "avx512";
    case CK_ISA_AVX2: return "avx2";
    default: return "baseline";
    }
}

static _Thread_local float *ck_pack_a;
static _Thread_local float *ck_pack_b;

void ck_sgemm(int transA, int transB, long m, long n, long k,
              const float *A, long lda, const float *B, long ldb,
              float *C, long ldc, int accumulate, const float *bias, int relu) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { // empty sum: C = (accumulate ? C : 0) + bias, then relu
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) {
                float v = (accumulate ? C[i * ldc + j] : 0.0f) + (bias ? bias[j] : 0.0f);
                C[i * ldc + j] = (relu && !(v > 0.0f)) ? 0.0f : v;
            }
        return;
    }
    if (!ck_pack_a) {
        ck_pack_a = aligned_alloc(64, CK_PACK_A_FLOATS * sizeof(float));
        ck_pack_b = aligned_alloc(64, CK_PACK_B_FLOATS * sizeof(float));
        if (!ck_pack_a || !ck_pack_b) abort(); // out of memory for 1 MB: nothing sensible remains
    }
    ck_sgemm_fn fn = ck_sgemm_baseline;
#if defined(__x86_64__)
    switch (ck_active_isa()) {
    case CK_ISA_AVX512: fn = n <= 16 ? ck_sgemm_avx512_narrow : ck_sgemm_avx512; break;
    case CK_ISA_AVX2: fn = ck_sgemm_avx2; break;
    default: break;
    }
#endif
    fn(transA, transB, m, n, k, A, lda, B, ldb, C, ldc, accumulate, bias, relu, ck_pack_a, ck_pack_b);
}

#ifndef GOSSIPNODE_CKERNELS_H
#define GOSSIPNODE_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR, arm64 FPCR.FZ).
/// Training with momentum otherwise fills weights with denormals and slows down severalfold.
void ck_enable_flush_to_zero(void);

/// Makes the C allocator keep freed large blocks for reuse instead of returning them to the kernel
/// (glibc's mallopt; elsewhere nothing). Returns 1 if applied.
int ck_retain_freed_memory(void);

// MARK: - Process (process.c)

/// Forbids core dumps of this process (RLIMIT_CORE 0; on Linux also PR_SET_DUMPABLE 0), for a
/// process that holds secret keys, mask secrets and unmasked model updates in memory: a crash
/// must not write them to disk or hand them to a crash reporter. Returns 1 if all of it applied.
int ck_forbid_core_dumps(void);
/// Whether the process may still dump core or be traced by its user (PR_GET_DUMPABLE; 1 elsewhere).
int ck_is_dumpable(void);

// MARK: - GEMM (gemm.c, gemm_impl.h)

/// Single-precision matrix product on row-major matrices, dispatched at run time to the best
/// instruction set the CPU has (AVX-512, AVX2+FMA or the portable baseline):
///   C[m x n] = (accumulate ? C : 0) + op(A)[m x k] * op(B)[k x n]  (+ bias[j] per column) (then max(0, .) if relu)
/// op(A)[i][p] = transA ? A[p*lda + i] : A[i*lda + p];  op(B)[p][j] = transB ? B[j*ldb + p] : B[p*ldb + j].
/// bias may be NULL. Summation order depends only on k, so results do not depend on how callers split m or n.
void ck_sgemm(int transA, int transB, long m, long n, long k,
              const float *A, long lda, const float *B, long ldb,
              float *C, long ldc, int accumulate, const float *bias, int relu);

/// Instruction-set variants of the kernels; CK_ISA_AUTO picks the best the CPU supports.
enum { CK_ISA_AUTO = 0, CK_ISA_BASELINE = 1, CK_ISA_AVX2 = 2, CK_ISA_AVX512 = 3 };

/// Forces one variant on the calling thread only (for tests: other threads keep the best one, so
/// concurrent training keeps its results). Returns 0 if the CPU cannot run it (nothing changes).
int ck_set_isa(int isa);
/// The variant in use on this thread, after resolving CK_ISA_AUTO.
int ck_active_isa(void);
/// Human-readable name of the variant in use ("avx512", "avx2", "baseline").
const char *ck_active_isa_name(void);

// MARK: - Elementwise loops (elementwise.c)

/// SGD with momentum and coupled weight decay: v = momentum*v + (g + decay*w); w -= rate*v.
void ck_sgd_momentum(float *w, float *v, const float *g, long n, float rate, float momentum, float decay);
/// The same with FedProx's proximal term: v = momentum*v + (g + decay*w + mu*(w - anchor)); w -= rate*v.
void ck_sgd_momentum_proximal(float *w, float *v, const float *g, const float *anchor, long n, float rate, float momentum,
                              float decay, float mu);
/// gradient[i] = activation[i] > 0 ? gradient[i] : 0 (ReLU backward, using the ReLU output).
void ck_relu_backward(float *gradient, const float *activation, long n);
/// out[j] = sum over rows of x[r*cols + j].
void ck_column_sums(const float *x, long rows, long cols, float *out);
/// out[r] = sum over j of x[r*cols + j]^2 (sums in float, in index order).
void ck_row_squared_norms(const float *x, long rows, long cols, float *out);
/// Multiplies row r of x by scales[r].
void ck_scale_rows(float *x, long rows, long cols, const float *scales);
/// y += a * x.
void ck_axpy(float *y, const float *x, long n, float a);

// MARK: - Gaussian noise (noise.c)

/// Writes (add = 0) or adds (add = 1) n independent N(0, stddev^2) samples to out: 16-lane
/// xoshiro128+ uniforms and a vectorised Box-Muller transform (float polynomials for log/sin/cos,
/// relative error ~1e-7). The 64-byte seed and the stream number fully determine the samples, so
/// blocks of one vector can be filled in parallel with distinct streams. out[0..n) receives values
/// offset..offset+n of the stream, so a slice can be filled alone. Not a cryptographic generator.
void ck_gaussian_noise(float *out, long n, float stddev, const uint64_t seed[8], uint64_t stream, long offset, int add);

// MARK: - zlib shim (gz.c): gzip'd or plain files, read sequentially

/// Opens a file for reading; gzip'd files are inflated, plain files pass through. NULL on failure (errno set).
void *ck_gz_open(const char *path);
/// Reads up to len bytes; returns the count read (0 at end of file) or -1 on a corrupt stream.
long ck_gz_read(void *file, void *buffer, unsigned len);
/// zlib's description of the last error on this file (valid until the next call).
const char *ck_gz_error(void *file);
/// Closes the file.
void ck_gz_close(void *file);
/// CRC-32 (zip/gzip polynomial) of bytes, continuing from crc (start with 0).
uint32_t ck_crc32(uint32_t crc, const void *bytes, size_t count);

#endif

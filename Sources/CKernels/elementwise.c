// Memory-bound loops around the GEMM, written with restrict pointers so that they vectorise,
// and cloned per instruction set (chosen by the loader through ifunc).
#include "CKernels.h"

#if defined(__x86_64__)
#define CK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CK_CLONES
#endif

CK_CLONES
void ck_sgd_momentum(float *restrict w, float *restrict v, const float *restrict g, long n,
                     float rate, float momentum, float decay) {
    for (long i = 0; i < n; i++) {
        float vi = momentum * v[i] + (g[i] + decay * w[i]);
        v[i] = vi;
        w[i] -= rate * vi;
    }
}

CK_CLONES
void ck_sgd_momentum_proximal(float *restrict w, float *restrict v, const float *restrict g, const float *restrict anchor,
                              long n, float rate, float momentum, float decay, float mu) {
    for (long i = 0; i < n; i++) {
        float vi = momentum * v[i] + (g[i] + decay * w[i] + mu * (w[i] - anchor[i]));
        v[i] = vi;
        w[i] -= rate * vi;
    }
}

CK_CLONES
void ck_relu_backward(float *restrict gradient, const float *restrict activation, long n) {
    for (long i = 0; i < n; i++) gradient[i] = activation[i] > 0.0f ? gradient[i] : 0.0f;
}

CK_CLONES
void ck_column_sums(const float *restrict x, long rows, long cols, float *restrict out) {
    for (long j = 0; j < cols; j++) out[j] = 0.0f;
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        for (long j = 0; j < cols; j++) out[j] += row[j];
    }
}

// 16 partial sums per row (a fixed order, so results do not depend on the ISA's vector width
// beyond rounding of the final reduction) let the reduction vectorise without -ffast-math.
CK_CLONES
void ck_row_squared_norms(const float *restrict x, long rows, long cols, float *restrict out) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        float partial[16] = {0};
        long j = 0;
        for (; j + 16 <= cols; j += 16)
            for (int l = 0; l < 16; l++) partial[l] += row[j + l] * row[j + l];
        float sum = 0.0f;
        for (int l = 0; l < 16; l++) sum += partial[l];
        for (; j < cols; j++) sum += row[j] * row[j];
        out[r] = sum;
    }
}

CK_CLONES
void ck_scale_rows(float *restrict x, long rows, long cols, const float *restrict scales) {
    for (long r = 0; r < rows; r++) {
        float s = scales[r];
        float *row = x + r * cols;
        for (long j = 0; j < cols; j++) row[j] *= s;
    }
}

CK_CLONES
void ck_axpy(float *restrict y, const float *restrict x, long n, float a) {
    for (long i = 0; i < n; i++) y[i] += a * x[i];
}

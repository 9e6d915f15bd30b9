/*
 * Private compute backend: matrix products and vectorisable element
 * kernels. Layers call these and nothing lower.
 */
#ifndef MLPNET_GEMM_H
#define MLPNET_GEMM_H

#include <stdint.h>

/* Row-major C[M,N] = alpha * op(A) op(B) + beta * C, where op(A) is [M,K]
 * (A^T when trans_a) and op(B) is [K,N] (B^T when trans_b). Routed to
 * OpenBLAS cblas_sgemm when the library is built with it, else to a
 * portable blocked loop. */
void mlp__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c,
                int ldc);

/* e^x for float, branch-free so that loops over it vectorise (Cephes
 * polynomial; relative error below 2e-7 on [-87, 88], saturating outside). */
static inline float mlp__expf(float x)
{
    x = x < 88.3762626647949f ? x : 88.3762626647949f;
    x = x > -87.3365447505531f ? x : -87.3365447505531f;
    float t = x * 1.44269504088896341f + 0.5f;
    int32_t i = (int32_t)t;
    i -= (t < (float)i); /* floor for negative t */
    float f = (float)i;
    x -= f * 0.693359375f;
    x -= f * -2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * x * x + x + 1.0f;
    union {
        int32_t i;
        float f;
    } p;
    p.i = (i + 127) << 23;
    return y * p.f;
}

/* Arguments of an element pass over `n` values (unused fields stay 0). */
typedef struct mlp__span_args {
    const float *x, *y, *dy; /* layer input, output, output gradient */
    float *out;              /* what the pass writes: y or dx */
    float alpha;             /* the activation's parameter */
} mlp__span_args;

/* Call fn on [lo, hi) spans covering [0, n): one span per OpenMP thread when
 * n >= MLP_PAR_MIN, else one span. Keeping the loop itself in `fn` lets it
 * be a vectorised (and target-cloned) function of its own. */
void mlp__spans(int64_t n, void (*fn)(const mlp__span_args *a, int64_t lo, int64_t hi),
                const mlp__span_args *a);

/* Column sums of a row-major [rows, cols] matrix into out[cols]
 * (overwrites out). Used for bias gradients. */
void mlp__col_sums(const float *a, int64_t rows, int64_t cols, float *out);

/* 1 if every element is finite. */
int mlp__all_finite(const float *a, int64_t n);

#endif /* MLPNET_GEMM_H */

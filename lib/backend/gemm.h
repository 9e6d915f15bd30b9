/*
 * Private compute backend: matrix products and vectorisable element
 * kernels. Layers call these and nothing lower.
 */
#ifndef MLPNET_GEMM_H
#define MLPNET_GEMM_H

#include <math.h>
#include <stdint.h>

/* Row-major C[M,N] = alpha * op(A) op(B) + beta * C, where op(A) is [M,K]
 * (A^T when trans_a) and op(B) is [K,N] (B^T when trans_b). Routed to
 * OpenBLAS cblas_sgemm when the library is built with it, else to a
 * portable blocked loop. */
void mlp__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c,
                int ldc);

/* A product C = alpha op(A) op(B) + beta C as mlp__sgemm takes it; with
 * `bias` (a row of N values, or NULL) C starts as the bias on every row
 * and beta is ignored: C = alpha op(A) op(B) + bias. */
typedef struct mlp__gemm {
    int trans_a, trans_b, m, n, k;
    float alpha;
    const float *a;
    int lda;
    const float *b;
    int ldb;
    float beta;
    float *c;
    int ldc;
    const float *bias;
} mlp__gemm;

/* The product on the pool (mlp__sgemm is this with bias NULL): cut into
 * blocks of C (below), or, for a product with no transposes whose K is at
 * least 8 times M and N and whose C is small, into parts along K whose
 * sums are then added (gemm.c). */
void mlp__sgemm_run(const mlp__gemm *g);

/* The alignment of the bounds between parts along K (below). */
#define MLP__SGEMM_K_ALIGN 16

/* How many parts along K mlp__sgemm_run splits g into now (they depend on
 * the thread count), or 0 when it cuts g into blocks of C. Part t holds K
 * values mlp__pool_range(K, parts, MLP__SGEMM_K_ALIGN, t); part 0
 * computes onto C as g asks, part t > 0 on its own with beta 0, and the
 * parts' sums are then added onto C in part order. */
int mlp__sgemm_k_parts(const mlp__gemm *g);

/* For tests: take (on 1) or leave (0) the ways of products meant for
 * OpenBLAS's cores with small-matrix kernels, the cuts along a long side
 * and B transposed back, whatever the core; -1 goes back to asking
 * OpenBLAS. Every product must give the same results either way, to
 * rounding: the tests run them on every machine, where otherwise only an
 * AVX-512 core (SkylakeX, Cooperlake, SapphireRapids) would. */
void mlp__gemm_force_small_kernels(int on);

/* For tests: the portable product (built without OpenBLAS) copies one
 * tile's blocks of A and B at a time, on the stack (on 1), as when its
 * thread's buffer cannot be had, or takes its blocks whole (0). The bits
 * are the same either way. No effect with OpenBLAS. */
void mlp__gemm_force_tile_copies(int on);

/* How many blocks of C mlp__sgemm_run would cut g into (1 for a small
 * product or at 1 thread): blocks of rows of C when M >= N, else of
 * columns. A caller that runs several products in one pool job runs part
 * t of `parts` with mlp__sgemm_part, from t = 0 to parts - 1 (any order,
 * any threads: the parts write disjoint blocks of C). It gets
 * mlp__sgemm_run's bits unless mlp__sgemm_run splits g along K. */
int mlp__sgemm_parts(const mlp__gemm *g);
void mlp__sgemm_part(const mlp__gemm *g, int t, int parts);

/* e^(x - f ln 2) 2^f for x clamped to [-87.3, 88.4] and f = floor(x log2(e) +
 * 1/2) given: the shared tail of mlp__expf and mlp__expf_vec. */
static inline float mlp__expf_tail(float x, float f)
{
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
    p.i = ((int32_t)f + 127) << 23;
    return y * p.f;
}

/* The least x whose e^x the exponentials below compute: the float just
 * above ln(FLT_MIN) = -87.33654475, so that e^x there is a normal float
 * (at the float just below, the one the bound was written as before, the
 * result came out subnormal). */
#define MLP__EXPF_LOW (-87.3365402f)

static inline float mlp__expf_clamp(float x)
{
    x = x < 88.3762626647949f ? x : 88.3762626647949f;
    return x > MLP__EXPF_LOW ? x : MLP__EXPF_LOW;
}

/* e, or 0 when x is below MLP__EXPF_LOW: the shared end of mlp__expf and
 * mlp__expf_vec. */
static inline float mlp__expf_low(float x, float e)
{
    return x < MLP__EXPF_LOW ? 0.0f : e;
}

/* e^x for float, branch-free so that loops over it vectorise (Cephes
 * polynomial; relative error below 2e-7 on [-87.3, 88.4], saturating at
 * e^88.4 above). Below -87.3 it is 0: the true values there are subnormal
 * floats or 0, and the saturated value (FLT_MIN) it gave before scaled into
 * subnormals downstream, which every product then computed with many times
 * slower: a softmax over logits far apart (a gap above 87 to the largest)
 * passed back gradients of FLT_MIN / n, and the baseline MLP driven into
 * that state took 0.83 s an epoch at 1 thread, 0.49 s since. NaN keeps
 * its old result. */
static inline float mlp__expf(float x)
{
    const float c = mlp__expf_clamp(x);
    float t = c * 1.44269504088896341f + 0.5f;
    int32_t i = (int32_t)t;
    i -= (t < (float)i); /* floor for negative t */
    return mlp__expf_low(x, mlp__expf_tail(c, (float)i));
}

/* The same bits as mlp__expf, with the floor taken by floorf: GCC vectorises
 * loops over it inside an AVX2 clone (MLP_VECTOR_CLONES), where floorf is one
 * rounding instruction, but not loops over mlp__expf. Without SSE4.1 floorf
 * may be a call: use it only in functions with the clones. */
static inline float mlp__expf_vec(float x)
{
    const float c = mlp__expf_clamp(x);
    return mlp__expf_low(x, mlp__expf_tail(c, floorf(c * 1.44269504088896341f + 0.5f)));
}

/* Arguments of an element pass over `n` values (unused fields stay 0). */
typedef struct mlp__span_args {
    const float *x, *y, *dy; /* layer input, output, output gradient */
    float *out;              /* what the pass writes: y or dx */
    float alpha;             /* the activation's parameter */
} mlp__span_args;

/* Call fn on [lo, hi) spans covering [0, n): one span per thread of the
 * pool (pool.h) when n >= 2 MLP_POOL_MIN, else one span. Keeping the loop itself in `fn`
 * lets it be a vectorised (and target-cloned) function of its own. */
void mlp__spans(int64_t n, void (*fn)(const mlp__span_args *a, int64_t lo, int64_t hi),
                const mlp__span_args *a);

/* Column sums of a row-major [rows, cols] matrix into out[cols]
 * (overwrites out). Used for bias gradients. */
void mlp__col_sums(const float *a, int64_t rows, int64_t cols, float *out);

/* Columns [c0, c1) of those sums into out[c0..c1) (the rest untouched):
 * each column is summed down the rows in order, so a block's sums have the
 * bits of mlp__col_sums's. */
void mlp__col_sums_block(const float *a, int64_t rows, int64_t cols, int64_t c0,
                         int64_t c1, float *out);

/* 1 if every element is finite. */
int mlp__all_finite(const float *a, int64_t n);

/* The index of the first NaN or infinity among a[0..n), or -1: the
 * vectorised pass of mlp__all_finite, then a search when it fails. */
int64_t mlp__first_not_finite(const float *a, int64_t n);

#endif /* MLPNET_GEMM_H */

/* Products with few terms (corr.h: mlp__few_k_product). */
#include "corr_impl.h"

#if MLP__CORR_AVAILABLE

/* Plane f of y [F, P] = w [F, K] col [K, P] (+ bias[f]), K a constant
 * after inlining: the K weights broadcast in registers, then the plane's
 * columns in vectors of 8, two at a time (two chains of additions in
 * flight), each a sum over k in order. The plane is written front to back
 * in one stream: writing all F planes a vector at a time made as many
 * streams, and where y was not in cache that ran slower than a GEMM. The
 * last 1-7 columns come from `tail` (the K rows' last columns, padded with
 * zeros: reading past them could leave col's buffer).
 *
 * With y out of cache the wide loop is bound by writing y, and there a
 * slower loop wrote faster. The kernel alone on the ConvNet's 1->32 3x3
 * shapes (100 samples, 1 thread, y evicted between calls or not): nine
 * loads a pass that nothing used, or the rows' addresses read from memory
 * each pass, took it from 527-604 to 381-423 us out of cache, and from
 * 275-320 to 375-383 us in cache; the addresses recomputed from col each
 * pass (no load) gave 473-492 and 350-377 us; one such load changed
 * nothing. Not taken: the cause is not known (this machine has no
 * hardware counters), so the effect may differ on another CPU, and in
 * cache it costs a fifth to two fifths. */
/* How far ahead of its writes the wide loop of few_k_plane fetches y, in
 * floats. The ConvNet's 1->32 3x3 forward (batch 100, 10 MB of output, 1
 * thread, 3 interleaved rounds): 530-657 -> 472-518 us with y in cache,
 * 823-883 -> 746-815 us with y out of it; 256 and 4096 measured no better. */
enum { FEW_K_AHEAD = 1024 };

static MLP__ALWAYS_INLINE void few_k_plane(const float *wf, const float *col, int64_t P,
                                           const float (*tail)[8], float b, float *yf,
                                           const int K, const int WIDE)
{
    (void)WIDE; /* 1 only with PAIR16 */
    v8 wk[MLP__FEW_K_MAX] = {{0}};
#pragma GCC unroll 12
    for (int k = 0; k < K; k++)
        wk[k] = (v8){wf[k], wf[k], wf[k], wf[k], wf[k], wf[k], wf[k], wf[k]};
    int64_t p = 0;
#if PAIR16
    /* WIDE: 32 columns at a time in two vectors of 16, each lane's sum as
     * below; y's lines FEW_K_AHEAD floats on asked for ahead of their
     * writes (y runs on past the plane into the next) */
    if (WIDE) {
        v16 wk16[MLP__FEW_K_MAX];
#pragma GCC unroll 12
        for (int k = 0; k < K; k++)
            wk16[k] = JOIN16(wk[k], wk[k]);
        for (; p + 32 <= P; p += 32) {
            __builtin_prefetch(yf + p + FEW_K_AHEAD, 1);
            __builtin_prefetch(yf + p + FEW_K_AHEAD + 16, 1);
            v16 a0 = {0}, a1 = {0};
#pragma GCC unroll 12
            for (int k = 0; k < K; k++) {
                v16 u0, u1;
                memcpy(&u0, col + k * P + p, sizeof u0);
                memcpy(&u1, col + k * P + p + 16, sizeof u1);
                a0 += wk16[k] * u0;
                a1 += wk16[k] * u1;
            }
            a0 += b;
            a1 += b;
            memcpy(yf + p, &a0, sizeof a0);
            memcpy(yf + p + 16, &a1, sizeof a1);
        }
    }
#endif
    for (; p + 16 <= P; p += 16) {
        v8 a0 = {0}, a1 = {0};
#pragma GCC unroll 12
        for (int k = 0; k < K; k++) {
            v8 u0, u1;
            LOAD8(u0, col + k * P + p);
            LOAD8(u1, col + k * P + p + 8);
            a0 += wk[k] * u0;
            a1 += wk[k] * u1;
        }
        a0 += b;
        a1 += b;
        memcpy(yf + p, &a0, sizeof a0);
        memcpy(yf + p + 8, &a1, sizeof a1);
    }
    for (; p + 8 <= P; p += 8) {
        v8 a0 = {0};
#pragma GCC unroll 12
        for (int k = 0; k < K; k++) {
            v8 u0;
            LOAD8(u0, col + k * P + p);
            a0 += wk[k] * u0;
        }
        a0 += b;
        memcpy(yf + p, &a0, sizeof a0);
    }
    if (p < P) {
        v8 a0 = {0};
#pragma GCC unroll 12
        for (int k = 0; k < K; k++) {
            v8 u0;
            LOAD8(u0, tail[k]);
            a0 += wk[k] * u0;
        }
        a0 += b;
        STORE_STRIP(yf + p, a0, (int32_t)(P - p));
    }
}

static MLP__ALWAYS_INLINE void few_k(const float *w, int32_t F, const float *col,
                                     int64_t P, const float *bias, float *y, const int K,
                                     const int WIDE)
{
    float tail[MLP__FEW_K_MAX][8] = {{0}};
    const int64_t p = P / 8 * 8;
    if (p < P)
        for (int k = 0; k < K; k++)
            memcpy(tail[k], col + k * P + p, (size_t)(P - p) * sizeof(float));
    for (int32_t f = 0; f < F; f++)
        few_k_plane(w + (int64_t)f * K, col, P, (const float(*)[8])tail,
                    bias ? bias[f] : 0.0f, y + f * P, K, WIDE);
}

#define FEW_K_CASES(WIDE)                                                                \
    switch (K) {                                                                         \
    case 1: few_k(w, F, col, P, bias, y, 1, WIDE); break;                                \
    case 2: few_k(w, F, col, P, bias, y, 2, WIDE); break;                                \
    case 3: few_k(w, F, col, P, bias, y, 3, WIDE); break;                                \
    case 4: few_k(w, F, col, P, bias, y, 4, WIDE); break;                                \
    case 5: few_k(w, F, col, P, bias, y, 5, WIDE); break;                                \
    case 6: few_k(w, F, col, P, bias, y, 6, WIDE); break;                                \
    case 7: few_k(w, F, col, P, bias, y, 7, WIDE); break;                                \
    case 8: few_k(w, F, col, P, bias, y, 8, WIDE); break;                                \
    case 9: few_k(w, F, col, P, bias, y, 9, WIDE); break;                                \
    case 10: few_k(w, F, col, P, bias, y, 10, WIDE); break;                              \
    case 11: few_k(w, F, col, P, bias, y, 11, WIDE); break;                              \
    default: few_k(w, F, col, P, bias, y, 12, WIDE); break;                              \
    }

MLP_VECTOR_CLONES
static void few_k_product(const float *w, int32_t F, int32_t K, const float *col,
                          int64_t P, const float *bias, float *y)
{
    FEW_K_CASES(0);
}

#if PAIR16
/* few_k_product with 32 columns at a time in vectors of 16, for a CPU with
 * AVX-512; the same bits. */
AVX512_ONLY static void few_k_product_wide(const float *w, int32_t F, int32_t K,
                                           const float *col, int64_t P, const float *bias,
                                           float *y)
{
    FEW_K_CASES(1);
}

/* The same code built for any CPU, for mlp__few_k_product_wide elsewhere. */
WIDE_ANY static void few_k_product_wide_any(const float *w, int32_t F, int32_t K,
                                            const float *col, int64_t P,
                                            const float *bias, float *y)
{
    FEW_K_CASES(1);
}
#endif
#undef FEW_K_CASES

void mlp__few_k_product(const float *w, int32_t F, int32_t K, const float *col, int64_t P,
                        const float *bias, float *y)
{
#if PAIR16
    if (cpu_avx512()) {
        few_k_product_wide(w, F, K, col, P, bias, y);
        return;
    }
#endif
    few_k_product(w, F, K, col, P, bias, y);
}

void mlp__few_k_product_narrow(const float *w, int32_t F, int32_t K, const float *col,
                               int64_t P, const float *bias, float *y)
{
    few_k_product(w, F, K, col, P, bias, y);
}

#else /* no vector extensions: the layer never takes this path */

void mlp__few_k_product(const float *w, int32_t F, int32_t K, const float *col, int64_t P,
                        const float *bias, float *y)
{
    (void)w;
    (void)F;
    (void)K;
    (void)col;
    (void)P;
    (void)bias;
    (void)y;
}

void mlp__few_k_product_narrow(const float *w, int32_t F, int32_t K, const float *col,
                               int64_t P, const float *bias, float *y)
{
    mlp__few_k_product(w, F, K, col, P, bias, y);
}

#endif

int mlp__few_k_product_wide(const float *w, int32_t F, int32_t K, const float *col,
                            int64_t P, const float *bias, float *y)
{
#if MLP__CORR_WIDE
    if (cpu_avx512())
        few_k_product_wide(w, F, K, col, P, bias, y);
    else
        few_k_product_wide_any(w, F, K, col, P, bias, y);
#else
    mlp__few_k_product_narrow(w, F, K, col, P, bias, y);
#endif
    return MLP__CORR_WIDE;
}

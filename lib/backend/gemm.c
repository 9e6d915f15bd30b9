/*
 * Matrix products (the thread setting they follow is in threads.c).
 *
 * With OpenBLAS every product is cblas_sgemm. OpenBLAS runs
 * single-threaded and mlp__sgemm splits a product into blocks of rows (or
 * columns) of C, one per part of the library's pool (pool.h), whose
 * threads also run the element passes, so two pools never spin against
 * each other on the same cores. Splitting C by rows or columns computes
 * each element exactly once, with no cross-thread reduction; OpenBLAS may
 * still pick other kernels for other block shapes, so the last bits can
 * differ between thread counts (never between runs with the same count).
 * Without OpenBLAS, a portable blocked loop does the work
 * (-Dblas=disabled), split the same way.
 */
#include "gemm.h"

#include <string.h>

#include "core/core.h"
#include "pool.h"
#include "threads.h"

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>

static void blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta,
                c, ldc);
}

#else

static void blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc)
{
    enum { BK = 64 };
    for (int i = 0; i < m; i++) {
        float *ci = c + (int64_t)i * ldc;
        if (beta == 0.0f) {
            for (int j = 0; j < n; j++)
                ci[j] = 0.0f;
        } else if (beta != 1.0f) {
            for (int j = 0; j < n; j++)
                ci[j] *= beta;
        }
    }
    /* i-p-j order: the innermost loop runs along a row of B and of C, so it
     * vectorises when B is not transposed. */
    for (int p0 = 0; p0 < k; p0 += BK) {
        int p1 = p0 + BK < k ? p0 + BK : k;
        for (int i = 0; i < m; i++) {
            float *ci = c + (int64_t)i * ldc;
            for (int p = p0; p < p1; p++) {
                float aip = trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
                aip *= alpha;
                if (aip == 0.0f)
                    continue;
                if (!trans_b) {
                    const float *bp = b + (int64_t)p * ldb;
                    for (int j = 0; j < n; j++)
                        ci[j] += aip * bp[j];
                } else {
                    for (int j = 0; j < n; j++)
                        ci[j] += aip * b[(int64_t)j * ldb + p];
                }
            }
        }
    }
}

#endif

/* Products (or blocks) of at most SMALL_PRODUCT multiply-adds keep beta = 0
 * rather than a cleared C and beta = 1. OpenBLAS's AVX-512 kernels run
 * them on small-matrix kernels of their own (up to 100^3, its
 * sgemm_small_kernel_permit), which have a variant for beta = 0 that
 * writes C without reading it and has no pass of its own to clear C.
 * Cleared first, C was written twice and read once more. In the 32/64-map
 * ConvNet (bench_convnet, 2 threads, 3 interleaved rounds) the 32->64
 * layer's forward pass, 16 products of 64 x 98 x 32 a group of samples,
 * went from 2.43-2.49 to 2.18-2.23 ms and the step from 15.6-16.4 to
 * 15.1-15.5 ms; with Haswell's kernels (no such path) the step measured
 * alike either way (18.3-19.0 against 18.4-18.7 ms). */
#define SMALL_PRODUCT 1e6

/* The rows (split_m) or columns of C that part t of `parts` computes. */
static void part_block(const mlp__gemm *g, int t, int parts, int *split_m, int64_t *lo,
                       int64_t *hi)
{
    *split_m = g->m >= g->n;
    mlp__pool_range(*split_m ? g->m : g->n, parts, 8, t, lo, hi);
}

int mlp__sgemm_parts(const mlp__gemm *g)
{
    /* Below MLP_GEMM_SPLIT_MIN multiply-adds a part would cost less than
     * handing it to a worker; blocks are at least 8 rows or columns, cut at
     * multiples of 8 so each part keeps OpenBLAS's full-width kernels. */
    if ((double)g->m * g->n * g->k < MLP_GEMM_SPLIT_MIN)
        return 1;
    return mlp__pool_parts(g->m >= g->n ? g->m : g->n, 8);
}

void mlp__sgemm_part(const mlp__gemm *g, int t, int parts)
{
    int split_m;
    int64_t lo, hi;
    part_block(g, t, parts, &split_m, &lo, &hi);
    if (lo >= hi)
        return;
    const float *a = g->a, *b = g->b;
    float *c = g->c;
    int m = g->m, n = g->n;
    if (split_m) {
        a += g->trans_a ? lo : lo * g->lda;
        c += lo * g->ldc;
        m = (int)(hi - lo);
    } else {
        b += g->trans_b ? lo * g->ldb : lo;
        c += lo;
        n = (int)(hi - lo);
    }
    float beta = g->beta;
    if (g->bias) { /* this block of C starts as the bias */
        for (int i = 0; i < m; i++)
            memcpy(c + (int64_t)i * g->ldc, g->bias + (split_m ? 0 : lo),
                   (size_t)n * sizeof *c);
        beta = 1.0f;
    } else if (beta == 0.0f && (double)m * n * g->k > SMALL_PRODUCT) {
        /* Clear the block here and accumulate onto it: OpenBLAS clears C
         * for beta = 0 in a pass of its own that stores one float at a time
         * (sgemm_beta), several times slower than memset; with beta = 1 it
         * skips that pass. The bits are the same (0 + sum). */
        if (n == g->ldc)
            memset(c, 0, (size_t)m * (size_t)n * sizeof *c);
        else
            for (int i = 0; i < m; i++)
                memset(c + (int64_t)i * g->ldc, 0, (size_t)n * sizeof *c);
        beta = 1.0f;
    }
    blas_sgemm(g->trans_a, g->trans_b, m, n, g->k, g->alpha, a, g->lda, b, g->ldb, beta,
               c, g->ldc);
}

/* A product and its part count, for the pool. */
typedef struct gemm_job {
    const mlp__gemm *g;
    int parts;
} gemm_job;

static void gemm_parts(void *arg, int64_t lo, int64_t hi)
{
    const gemm_job *j = arg;
    for (int64_t t = lo; t < hi; t++)
        mlp__sgemm_part(j->g, (int)t, j->parts);
}

void mlp__sgemm_run(const mlp__gemm *g)
{
    gemm_job j = {g, mlp__sgemm_parts(g)};
    mlp__pool_for(j.parts, 1, 1, gemm_parts, &j);
}

void mlp__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c,
                int ldc)
{
    mlp__gemm g = {trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL};
    mlp__sgemm_run(&g);
}

/*
 * Matrix products (the thread setting they follow is in threads.c).
 *
 * With OpenBLAS every product is cblas_sgemm. Builds with OpenMP keep a
 * single thread pool: OpenBLAS runs single-threaded and mlp__sgemm splits a
 * large product into blocks of rows (or columns) of C, one per OpenMP
 * thread. The element passes of the layers use the same OpenMP threads, so
 * two pools never spin against each other on the same cores. Splitting C
 * by rows or columns computes each element exactly once, with no
 * cross-thread reduction; OpenBLAS may still pick other kernels for other
 * block shapes, so the last bits can differ between thread counts (never
 * between runs with the same count). Builds without OpenMP let
 * OpenBLAS use its own threads. Without OpenBLAS, a portable blocked loop
 * does the work (-Dblas=disabled).
 */
#include "gemm.h"
#include "core/core.h"
#include "threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

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

void mlp__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c,
                int ldc)
{
#ifdef _OPENMP
    const int nt = mlp__threads();
    /* Below ~2 MFLOP the fork costs more than it saves. */
    if (nt > 1 && (double)m * n * k >= 1e6 && !omp_in_parallel()) {
        /* Split the larger of M and N into nt blocks (multiples of 16). */
        const int split_m = m >= n;
        const int len = split_m ? m : n;
        int chunk = (len + nt - 1) / nt;
        chunk = (chunk + 15) & ~15;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int t = 0; t < nt; t++) {
            const int lo = t * chunk, hi = lo + chunk < len ? lo + chunk : len;
            if (lo >= hi)
                continue;
            if (split_m) {
                const float *ab = trans_a ? a + lo : a + (int64_t)lo * lda;
                blas_sgemm(trans_a, trans_b, hi - lo, n, k, alpha, ab, lda, b, ldb, beta,
                           c + (int64_t)lo * ldc, ldc);
            } else {
                const float *bb = trans_b ? b + (int64_t)lo * ldb : b + lo;
                blas_sgemm(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, bb, ldb, beta,
                           c + lo, ldc);
            }
        }
        return;
    }
#endif
    blas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

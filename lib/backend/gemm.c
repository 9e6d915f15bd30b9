/*
 * Matrix products. With OpenBLAS every product is one cblas_sgemm call; the
 * portable fallback is a cache-blocked triple loop, correct but much slower,
 * for builds without BLAS (-Dblas=disabled).
 */
#include "core/core.h"
#include "gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The library's own parallel loops (OpenMP, when built with it) use as many
 * threads as OpenBLAS. They never call OpenBLAS from inside a parallel
 * region, so the two pools take turns rather than compete. */
static void set_omp_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
#else
    (void)n;
#endif
}

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>

void mlp__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta,
                float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
                beta, c, ldc);
}

mlp_status mlp_set_num_threads(int n)
{
    openblas_set_num_threads(n > 0 ? n : 0);
    set_omp_threads(n);
    return MLP_STATUS_OK;
}

int mlp_get_num_threads(void)
{
    return openblas_get_num_threads();
}

#else

void mlp__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
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

mlp_status mlp_set_num_threads(int n)
{
    if (n > 1)
        return mlp__error(MLP_STATUS_UNSUPPORTED,
                          "mlp_set_num_threads: this build has no OpenBLAS; only 1 thread");
    set_omp_threads(1);
    return MLP_STATUS_OK;
}

int mlp_get_num_threads(void)
{
    return 1;
}

#endif

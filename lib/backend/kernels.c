/* Small memory-bound kernels shared by layers and the model. */
#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/core.h"
#include "gemm.h"
#include "threads.h"

void mlp__col_sums(const float *a, int64_t rows, int64_t cols, float *out)
{
    for (int64_t j = 0; j < cols; j++)
        out[j] = 0.0f;
    for (int64_t i = 0; i < rows; i++) {
        const float *ai = a + i * cols;
        for (int64_t j = 0; j < cols; j++)
            out[j] += ai[j];
    }
}

int mlp__all_finite(const float *a, int64_t n)
{
    /* x - x is 0 for finite x and NaN for NaN or infinity; summing keeps
     * the loop branch-free so it vectorises. */
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++)
        acc += a[i] - a[i];
    return acc == 0.0f;
}

void mlp__spans(int64_t n, void (*fn)(const mlp__span_args *a, int64_t lo, int64_t hi),
                const mlp__span_args *a)
{
#ifdef _OPENMP
    if (n >= MLP_PAR_MIN && mlp__threads() > 1 && !omp_in_parallel()) {
        const int nt = mlp__threads();
        const int64_t chunk = (n + nt - 1) / nt;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int t = 0; t < nt; t++) {
            const int64_t lo = t * chunk, hi = lo + chunk < n ? lo + chunk : n;
            if (lo < hi)
                fn(a, lo, hi);
        }
        return;
    }
#endif
    fn(a, 0, n);
}

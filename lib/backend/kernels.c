/* Small memory-bound kernels shared by layers and the model. */
#include <math.h>

#include "core/core.h"
#include "gemm.h"

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

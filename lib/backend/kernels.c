/* Small memory-bound kernels shared by layers and the model. */
#include <math.h>

#include "core/core.h"
#include "gemm.h"
#include "pool.h"
#include "threads.h"

/* Cloned functions stay static: clang makes the dispatcher only for callers
 * in the same file. */
MLP_VECTOR_CLONES
static void col_sums_block(const float *a, int64_t rows, int64_t cols, int64_t c0,
                           int64_t c1, float *out)
{
    for (int64_t j = c0; j < c1; j++)
        out[j] = 0.0f;
    for (int64_t i = 0; i < rows; i++) {
        const float *ai = a + i * cols;
        for (int64_t j = c0; j < c1; j++)
            out[j] += ai[j];
    }
}

void mlp__col_sums_block(const float *a, int64_t rows, int64_t cols, int64_t c0,
                         int64_t c1, float *out)
{
    col_sums_block(a, rows, cols, c0, c1, out);
}

void mlp__col_sums(const float *a, int64_t rows, int64_t cols, float *out)
{
    col_sums_block(a, rows, cols, 0, cols, out);
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

int64_t mlp__first_not_finite(const float *a, int64_t n)
{
    if (mlp__all_finite(a, n))
        return -1;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return i;
    return -1;
}

/* An element pass and its arguments, for the pool. */
typedef struct span_job {
    void (*fn)(const mlp__span_args *a, int64_t lo, int64_t hi);
    const mlp__span_args *a;
} span_job;

static void span_part(void *arg, int64_t lo, int64_t hi)
{
    const span_job *j = arg;
    j->fn(j->a, lo, hi);
}

void mlp__spans(int64_t n, void (*fn)(const mlp__span_args *a, int64_t lo, int64_t hi),
                const mlp__span_args *a)
{
    /* spans of whole 64-byte lines, so threads never write to one line */
    span_job j = {fn, a};
    mlp__pool_chunks(n, MLP_POOL_MIN, 16, span_part, &j);
}

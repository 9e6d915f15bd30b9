/*
 * im2col and col2im. For each kernel offset (i, j) and output row oh, the
 * valid output columns form one interval [lo, hi): outside it the column
 * reads padding. With stride 1 the interval maps to a contiguous run of
 * input; otherwise to a strided one. Rows of the column
 * matrix are independent, so im2col runs them in parallel; col2im runs
 * channels in parallel, since rows of one channel add into the same input.
 */
#include <string.h>

#include "core/core.h"
#include "im2col.h"
#include "threads.h"

/* Output columns ow whose input column ow*s - p + j*d lies in [0, w). */
static void valid_range(int32_t ow_n, int32_t s, int32_t p, int32_t off, int32_t w,
                        int32_t *lo, int32_t *hi)
{
    /* ow*s + (off - p) >= 0  and  ow*s + (off - p) < w */
    int32_t base = off - p;
    int32_t a = base >= 0 ? 0 : (-base + s - 1) / s;
    int32_t b = w - base <= 0 ? 0 : (w - base + s - 1) / s;
    *lo = a < ow_n ? a : ow_n;
    *hi = b < ow_n ? b : ow_n;
    if (*hi < *lo)
        *hi = *lo;
}

/* Cloned functions stay static: clang makes the dispatcher only for callers
 * in the same file. */
MLP_VECTOR_CLONES
static void im2col(const mlp__conv_geom *q, const float *x, int32_t g, float *col)
{
    const int64_t P = (int64_t)q->oh * q->ow, plane = (int64_t)q->h * q->w;
    const int32_t rows = q->c * q->kh * q->kw;
    MLP_PARALLEL_FOR(1)
    for (int32_t r = 0; r < rows; r++) {
        const int32_t c = r / (q->kh * q->kw), i = (r / q->kw) % q->kh, j = r % q->kw;
        int32_t lo, hi;
        valid_range(q->ow, q->sw, q->pw, j * q->dw, q->w, &lo, &hi);
        for (int32_t s = 0; s < g; s++) {
            const float *xc = x + ((int64_t)s * q->c + c) * plane;
            float *dst = col + (int64_t)r * g * P + (int64_t)s * P;
            for (int32_t oh = 0; oh < q->oh; oh++, dst += q->ow) {
                const int32_t ih = oh * q->sh - q->ph + i * q->dh;
                if (ih < 0 || ih >= q->h) {
                    memset(dst, 0, (size_t)q->ow * sizeof(float));
                    continue;
                }
                /* Input index of output column ow: base + ow * sw (in range
                 * for ow in [lo, hi) only, so form no pointer outside it). */
                const int64_t base = (int64_t)ih * q->w - q->pw + j * q->dw;
                for (int32_t ow = 0; ow < lo; ow++)
                    dst[ow] = 0.0f;
                if (q->sw == 1) {
                    /* Runs are short (one output row): a loop beats memcpy calls. */
                    for (int32_t ow = lo; ow < hi; ow++)
                        dst[ow] = xc[base + ow];
                } else {
                    for (int32_t ow = lo; ow < hi; ow++)
                        dst[ow] = xc[base + (int64_t)ow * q->sw];
                }
                for (int32_t ow = hi; ow < q->ow; ow++)
                    dst[ow] = 0.0f;
            }
        }
    }
}

MLP_VECTOR_CLONES
static void col2im(const mlp__conv_geom *q, const float *col, int32_t g, float *dx)
{
    const int64_t P = (int64_t)q->oh * q->ow, plane = (int64_t)q->h * q->w;
    const int32_t kk = q->kh * q->kw;
    MLP_PARALLEL_FOR(1)
    for (int32_t c = 0; c < q->c; c++) {
        for (int32_t s = 0; s < g; s++)
            memset(dx + ((int64_t)s * q->c + c) * plane, 0,
                   (size_t)plane * sizeof(float));
        for (int32_t k = 0; k < kk; k++) {
            const int32_t i = k / q->kw, j = k % q->kw, r = c * kk + k;
            int32_t lo, hi;
            valid_range(q->ow, q->sw, q->pw, j * q->dw, q->w, &lo, &hi);
            for (int32_t s = 0; s < g; s++) {
                float *xc = dx + ((int64_t)s * q->c + c) * plane;
                const float *src = col + (int64_t)r * g * P + (int64_t)s * P;
                for (int32_t oh = 0; oh < q->oh; oh++, src += q->ow) {
                    const int32_t ih = oh * q->sh - q->ph + i * q->dh;
                    if (ih < 0 || ih >= q->h)
                        continue;
                    const int64_t base = (int64_t)ih * q->w - q->pw + j * q->dw;
                    if (hi <= lo)
                        continue;
                    if (q->sw == 1) {
                        float *dst = xc + base + lo;
                        for (int32_t ow = 0; ow < hi - lo; ow++)
                            dst[ow] += src[lo + ow];
                    } else {
                        for (int32_t ow = lo; ow < hi; ow++)
                            xc[base + (int64_t)ow * q->sw] += src[ow];
                    }
                }
            }
        }
    }
}

void mlp__im2col(const mlp__conv_geom *q, const float *x, int32_t g, float *col)
{
    im2col(q, x, g, col);
}

void mlp__col2im(const mlp__conv_geom *q, const float *col, int32_t g, float *dx)
{
    col2im(q, col, g, dx);
}

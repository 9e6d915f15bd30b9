/*
 * im2col and col2im. For each kernel offset (i, j) and output row oh, the
 * valid output columns form one interval [lo, hi): outside it the column
 * reads padding. With stride 1 the interval maps to a contiguous run of
 * input; otherwise to a strided one. Rows of the column
 * matrix are independent, so im2col runs them in parallel; col2im runs
 * the planes of dx (a channel of a sample) in parallel, since the rows of
 * one channel add into the same plane of each sample.
 */
#include <string.h>

#include "core/core.h"
#include "im2col.h"
#include "pool.h"
#include "threads.h"

/* The arguments of an im2col or col2im, for the pool's parts. */
typedef struct col_job {
    const mlp__conv_geom *q;
    const float *x; /* im2col's input */
    float *col;
    int32_t g;
    float *dx; /* col2im's output */
} col_job;

/* Output columns ow whose input column ow*s - p + j*d lies in [0, w), off
 * = j*d. In 64 bits, as every index of the kernel's offsets here: a layer
 * may have any int32 stride, padding and dilation, and off - p or j*d
 * overflowed 32 bits (dilation 2^31 - 1 wrapped a span's length negative,
 * and the copy wrote past the column matrix). */
static void valid_range(int32_t ow_n, int64_t s, int64_t p, int64_t off, int64_t w,
                        int32_t *lo, int32_t *hi)
{
    /* ow*s + (off - p) >= 0  and  ow*s + (off - p) < w */
    const int64_t base = off - p;
    const int64_t a = base >= 0 ? 0 : (-base + s - 1) / s;
    const int64_t b = w - base <= 0 ? 0 : (w - base + s - 1) / s;
    *lo = (int32_t)(a < ow_n ? a : ow_n);
    *hi = (int32_t)(b < ow_n ? b : ow_n);
    if (*hi < *lo)
        *hi = *lo;
}

/*
 * Stride 1 with as many output columns as input columns (3x3 with padding
 * 1, 5x5 with padding 2, ...): output row oh of a kernel offset reads input
 * row oh + di shifted by dj, so over the valid rows the whole stretch of a
 * column-matrix plane is the input plane shifted by one constant offset.
 * One long copy moves it; the entries it wrongly fills (columns outside
 * [lo, hi), which wrap to the neighbouring input row) are then zeroed.
 * This replaces a short loop per output row, whose set-up cost dominates
 * on small planes.
 */
typedef struct flat_span {
    int32_t r0, r1, lo, hi; /* valid output rows and columns */
    int64_t a, b, off;      /* the stretch [a, b) of a plane reads input at +off */
} flat_span;

static int flat_case(const mlp__conv_geom *q)
{
    return q->sh == 1 && q->sw == 1 && q->ow == q->w;
}

/* The span of kernel offset (i, j); 0 when it reads padding only. */
static int flat_span_of(const mlp__conv_geom *q, int32_t i, int32_t j, flat_span *f)
{
    valid_range(q->oh, 1, q->ph, (int64_t)i * q->dh, q->h, &f->r0, &f->r1);
    valid_range(q->ow, 1, q->pw, (int64_t)j * q->dw, q->w, &f->lo, &f->hi);
    if (f->r0 >= f->r1 || f->lo >= f->hi)
        return 0;
    f->a = (int64_t)f->r0 * q->ow + f->lo;
    f->b = (int64_t)(f->r1 - 1) * q->ow + f->hi;
    /* a valid row and column exist: both offsets lie within the input's
     * size plus the output's */
    f->off = ((int64_t)i * q->dh - q->ph) * q->w + ((int64_t)j * q->dw - q->pw);
    return 1;
}

/* The spans of the kernel offsets k = i kw + j of a call, computed once
 * instead of once per row of the column matrix and sample (two divisions
 * each): for kernels of at most FLAT_SPANS offsets; larger ones compute
 * each span where it is used. */
enum { FLAT_SPANS = 64 };

typedef struct flat_spans {
    int32_t n; /* offsets held: all of them, or 0 */
    int any[FLAT_SPANS];
    flat_span f[FLAT_SPANS];
} flat_spans;

static void flat_spans_of(const mlp__conv_geom *q, flat_spans *s)
{
    const int32_t kk = q->kh * q->kw;
    s->n = kk <= FLAT_SPANS ? kk : 0;
    for (int32_t k = 0; k < s->n; k++)
        s->any[k] = flat_span_of(q, k / q->kw, k % q->kw, &s->f[k]);
}

/* The span of offset k (flat_span_of's result and *f). */
static int flat_span_at(const mlp__conv_geom *q, const flat_spans *s, int32_t k,
                        flat_span *f)
{
    if (k < s->n) {
        *f = s->f[k];
        return s->any[k];
    }
    return flat_span_of(q, k / q->kw, k % q->kw, f);
}

/*
 * Zero, in one plane of the column matrix, the entries of valid rows
 * outside the valid columns: column by column, down the rows. A row at a
 * time, the two short loops became two memset calls a row, which cost a
 * 32->64 3x3 layer on 14x14 maps more than its copies; a table of each
 * entry's column over the stretch, kept or zeroed entry by entry, took
 * their place for rows up to 64 wide, and this replaced both. Measured on
 * im2col alone (1 thread, the best of 10 interleaved rounds), against the
 * table: 0.56 against 0.93 us for one 28x28 sample with a 3x3 kernel (the
 * ConvNet's first layer, which makes one a sample), 81 against 121 us for
 * 15 samples of 32 channels on 14x14, 8.8 against 17.2 us for 4 channels
 * on 64x64, 10.9 against 12.4 us for 16 samples of 8 channels on 7x7;
 * col2im 0.49 to 0.87 times the table's time on the same shapes.
 */
static void flat_zero_edges(const mlp__conv_geom *q, const flat_span *f, float *dst)
{
    for (int32_t ow = 0; ow < f->lo; ow++)
        for (int32_t oh = f->r0; oh < f->r1; oh++)
            dst[(int64_t)oh * q->ow + ow] = 0.0f;
    for (int32_t ow = f->hi; ow < q->ow; ow++)
        for (int32_t oh = f->r0; oh < f->r1; oh++)
            dst[(int64_t)oh * q->ow + ow] = 0.0f;
}

/* Cloned functions stay static: clang makes the dispatcher only for callers
 * in the same file. */
MLP_VECTOR_CLONES
static void im2col_flat(void *arg, int64_t r0, int64_t r1)
{
    const col_job *jb = arg;
    const mlp__conv_geom *q = jb->q;
    const float *x = jb->x;
    float *col = jb->col;
    const int32_t g = jb->g;
    const int64_t P = (int64_t)q->oh * q->ow, plane = (int64_t)q->h * q->w;
    const int32_t kk = q->kh * q->kw;
    flat_spans spans;
    flat_spans_of(q, &spans);
    for (int32_t r = (int32_t)r0; r < r1; r++) {
        const int32_t c = r / kk;
        flat_span f;
        const int any = flat_span_at(q, &spans, r % kk, &f);
        for (int32_t s = 0; s < g; s++) {
            float *dst = col + (int64_t)r * g * P + (int64_t)s * P;
            if (!any) {
                memset(dst, 0, (size_t)P * sizeof(float));
                continue;
            }
            const float *src = x + ((int64_t)s * q->c + c) * plane + f.off;
            memset(dst, 0, (size_t)f.a * sizeof(float));
            memset(dst + f.b, 0, (size_t)(P - f.b) * sizeof(float));
            for (int64_t k = f.a; k < f.b; k++)
                dst[k] = src[k];
            flat_zero_edges(q, &f, dst);
        }
    }
}

MLP_VECTOR_CLONES
static void im2col(void *arg, int64_t r0, int64_t r1)
{
    const col_job *jb = arg;
    const mlp__conv_geom *q = jb->q;
    const float *x = jb->x;
    float *col = jb->col;
    const int32_t g = jb->g;
    const int64_t P = (int64_t)q->oh * q->ow, plane = (int64_t)q->h * q->w;
    for (int32_t r = (int32_t)r0; r < r1; r++) {
        const int32_t c = r / (q->kh * q->kw), i = (r / q->kw) % q->kh, j = r % q->kw;
        int32_t lo, hi;
        valid_range(q->ow, q->sw, q->pw, (int64_t)j * q->dw, q->w, &lo, &hi);
        for (int32_t s = 0; s < g; s++) {
            const float *xc = x + ((int64_t)s * q->c + c) * plane;
            float *dst = col + (int64_t)r * g * P + (int64_t)s * P;
            for (int32_t oh = 0; oh < q->oh; oh++, dst += q->ow) {
                const int64_t ih = (int64_t)oh * q->sh - q->ph + (int64_t)i * q->dh;
                if (ih < 0 || ih >= q->h) {
                    memset(dst, 0, (size_t)q->ow * sizeof(float));
                    continue;
                }
                /* Input index of output column ow: base + ow * sw (in range
                 * for ow in [lo, hi) only, so form no pointer outside it). */
                const int64_t base = ih * q->w - q->pw + (int64_t)j * q->dw;
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

/* col2im of kernel offset k of channel c of sample s in the flat case:
 * zero the entries of col that read padding, then one long sum (adding
 * those zeros where the stretch wraps into a neighbouring row leaves dx as
 * it was). */
static inline void col2im_flat(const mlp__conv_geom *q, const flat_spans *spans,
                               int32_t c, int32_t k, float *col, int32_t g, int32_t s,
                               float *dx)
{
    const int64_t P = (int64_t)q->oh * q->ow, plane = (int64_t)q->h * q->w;
    flat_span f;
    if (!flat_span_at(q, spans, k, &f))
        return;
    float *src = col + (int64_t)(c * q->kh * q->kw + k) * g * P + (int64_t)s * P;
    float *dst = dx + ((int64_t)s * q->c + c) * plane + f.off;
    flat_zero_edges(q, &f, src);
    for (int64_t i = f.a; i < f.b; i++)
        dst[i] += src[i];
}

/* Items u = c g + s in [u0, u1): channel c of sample s, which no other item
 * adds into, zeroed and then summed over the kernel offsets in order. */
MLP_VECTOR_CLONES
static void col2im(void *arg, int64_t u0, int64_t u1)
{
    const col_job *jb = arg;
    const mlp__conv_geom *q = jb->q;
    float *col = jb->col, *dx = jb->dx;
    const int32_t g = jb->g;
    const int64_t P = (int64_t)q->oh * q->ow, plane = (int64_t)q->h * q->w;
    const int32_t kk = q->kh * q->kw;
    const int flat = flat_case(q);
    flat_spans spans;
    if (flat)
        flat_spans_of(q, &spans);
    for (int64_t u = u0; u < u1; u++) {
        const int32_t c = (int32_t)(u / g), s = (int32_t)(u % g);
        float *xc = dx + ((int64_t)s * q->c + c) * plane;
        memset(xc, 0, (size_t)plane * sizeof(float));
        for (int32_t k = 0; k < kk; k++) {
            if (flat) {
                col2im_flat(q, &spans, c, k, col, g, s, dx);
                continue;
            }
            const int32_t i = k / q->kw, j = k % q->kw, r = c * kk + k;
            int32_t lo, hi;
            valid_range(q->ow, q->sw, q->pw, (int64_t)j * q->dw, q->w, &lo, &hi);
            const float *src = col + (int64_t)r * g * P + (int64_t)s * P;
            for (int32_t oh = 0; oh < q->oh; oh++, src += q->ow) {
                const int64_t ih = (int64_t)oh * q->sh - q->ph + (int64_t)i * q->dh;
                if (ih < 0 || ih >= q->h)
                    continue;
                const int64_t base = ih * q->w - q->pw + (int64_t)j * q->dw;
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

void mlp__im2col(const mlp__conv_geom *q, const float *x, int32_t g, float *col)
{
    col_job jb = {.q = q, .x = x, .col = col, .g = g};
    mlp__pool_chunks((int64_t)q->c * q->kh * q->kw, 1, 1,
                     flat_case(q) ? im2col_flat : im2col, &jb);
}

void mlp__col2im(const mlp__conv_geom *q, float *col, int32_t g, float *dx)
{
    col_job jb = {.q = q, .col = col, .g = g, .dx = dx};
    const int64_t per_item = (int64_t)q->kh * q->kw * q->oh * q->ow;
    mlp__pool_chunks((int64_t)q->c * g, mlp__pool_grain(per_item, MLP_POOL_MIN), 1,
                     col2im, &jb);
}

/*
 * The layout of convolution data, measured rather than assumed. The
 * library's conv2d layer works on NCHW data: im2col into col [K, g P], one
 * product Z = W col per group of g samples, then a copy of Z into y's
 * layout. Next to it, in the same repetition, an NHWC version of the same
 * layer written here: im2col copies runs of C contiguous floats into
 * col [g P, K], one product Y = col W^T writes y in its own layout (no
 * copy); backward dW = col^T dY, dcol = dY W, and col2im adds the runs of
 * C back. Both use the library's products (mlp__sgemm on the thread pool),
 * the layer's group size, no bias (the ConvNet's convs feed batch norm),
 * and recompute col in backward. The NHWC version is checked against the
 * layer (y, dx and dW) before it is timed. A third column times the mixed
 * plan: NCHW outside, NHWC inside the layer, with the layout of x, y, dy
 * and dx changed on the way.
 * Usage: bench_layout [threads] (default 1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/gemm.h"
#include "backend/pool.h"
#include "backend/threads.h"
#include "core/core.h"
#include "layers/layer_impl.h"
#include "mlpnet/mlpnet.h"
#include "model/model_impl.h"

#define BENCH_NAME "bench_layout"
#include "bench_conv_case.h"
#include "bench_util.h"

enum { BATCH = 100, REPS = 20 };

/* An NHWC convolution with stride 1, no dilation, square kernel. */
typedef struct {
    int32_t c, h, w, f, k, pad, oh, ow, P, K, g;
    const float *x, *wt, *dy; /* x [N,H,W,C]; wt [K,F], K = (i k + j) C + c */
    float *col, *dx;          /* col [g P, K]; dx [N,H,W,C] */
    int32_t g0;               /* the group's first sample */
} nhwc;

/* Rows [r0, r1) of col for the group starting at sample q->g0. */
static void im2col_part(void *arg, int64_t r0, int64_t r1)
{
    const nhwc *q = arg;
    const size_t run = (size_t)q->c * sizeof(float);
    for (int64_t r = r0; r < r1; r++) {
        const int32_t s = q->g0 + (int32_t)(r / q->P), p = (int32_t)(r % q->P);
        const int32_t oh = p / q->ow, ow = p % q->ow;
        float *dst = q->col + r * q->K;
        for (int32_t i = 0; i < q->k; i++)
            for (int32_t j = 0; j < q->k; j++, dst += q->c) {
                const int32_t ih = oh - q->pad + i, iw = ow - q->pad + j;
                if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w)
                    memset(dst, 0, run);
                else
                    memcpy(dst, q->x + (((int64_t)s * q->h + ih) * q->w + iw) * q->c,
                           run);
            }
    }
}

/* Samples [s0, s1) of the group: dx = the col entries added back. */
static void col2im_part(void *arg, int64_t s0, int64_t s1)
{
    const nhwc *q = arg;
    for (int64_t sl = s0; sl < s1; sl++) {
        const int64_t s = q->g0 + sl;
        float *dxs = q->dx + s * q->h * q->w * q->c;
        memset(dxs, 0, (size_t)q->h * q->w * q->c * sizeof(float));
        for (int32_t p = 0; p < q->P; p++) {
            const int32_t oh = p / q->ow, ow = p % q->ow;
            const float *src = q->col + (sl * q->P + p) * q->K;
            for (int32_t i = 0; i < q->k; i++)
                for (int32_t j = 0; j < q->k; j++, src += q->c) {
                    const int32_t ih = oh - q->pad + i, iw = ow - q->pad + j;
                    if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w)
                        continue;
                    float *d = dxs + ((int64_t)ih * q->w + iw) * q->c;
                    for (int32_t c = 0; c < q->c; c++)
                        d[c] += src[c];
                }
        }
    }
}

static void nhwc_forward(nhwc *q, float *y)
{
    for (q->g0 = 0; q->g0 < BATCH; q->g0 += q->g) {
        const int32_t g = BATCH - q->g0 < q->g ? BATCH - q->g0 : q->g;
        mlp__pool_for((int64_t)g * q->P, mlp__pool_grain(q->K, MLP_POOL_MIN), 1,
                      im2col_part, q);
        mlp__sgemm(0, 0, g * q->P, q->f, q->K, 1.0f, q->col, q->K, q->wt, q->f, 0.0f,
                   y + (int64_t)q->g0 * q->P * q->f, q->f);
    }
}

static void nhwc_backward(nhwc *q, float *dwt)
{
    for (q->g0 = 0; q->g0 < BATCH; q->g0 += q->g) {
        const int32_t g = BATCH - q->g0 < q->g ? BATCH - q->g0 : q->g;
        const float *dy = q->dy + (int64_t)q->g0 * q->P * q->f;
        mlp__pool_for((int64_t)g * q->P, mlp__pool_grain(q->K, MLP_POOL_MIN), 1,
                      im2col_part, q);
        mlp__sgemm(1, 0, q->K, q->f, g * q->P, 1.0f, q->col, q->K, dy, q->f,
                   q->g0 ? 1.0f : 0.0f, dwt, q->f);
        mlp__sgemm(0, 1, g * q->P, q->K, q->f, 1.0f, dy, q->f, q->wt, q->f, 0.0f, q->col,
                   q->K);
        mlp__pool_for(g, 1, 1, col2im_part, q);
    }
}

/* A batch's layout change, for the pool: per sample, src [a, b] becomes
 * dst [b, a] (NCHW to NHWC with a = C, b = HW; back with a = HW, b = C). */
typedef struct {
    const float *src;
    float *dst;
    int32_t a, b;
} transpose_job;

static void transpose_part(void *arg, int64_t s0, int64_t s1)
{
    const transpose_job *t = arg;
    const int64_t per = (int64_t)t->a * t->b;
    for (int64_t s = s0; s < s1; s++) {
        const float *src = t->src + s * per;
        float *dst = t->dst + s * per;
        for (int32_t i = 0; i < t->a; i++)
            for (int32_t j = 0; j < t->b; j++)
                dst[(int64_t)j * t->a + i] = src[(int64_t)i * t->b + j];
    }
}

static void transpose(const float *src, float *dst, int32_t a, int32_t b)
{
    transpose_job t = {src, dst, a, b};
    mlp__pool_for(BATCH, mlp__pool_grain((int64_t)a * b, MLP_POOL_MIN), 1, transpose_part,
                  &t);
}

/* max |a - b| over max |b|, with a read in NHWC and b in NCHW. */
static double rel_err(const float *nhwc_a, const float *nchw_b, int32_t n, int32_t c,
                      int32_t hw)
{
    double d = 0.0, m = 0.0;
    for (int32_t s = 0; s < n; s++)
        for (int32_t ch = 0; ch < c; ch++)
            for (int32_t p = 0; p < hw; p++) {
                const double a = nhwc_a[((int64_t)s * hw + p) * c + ch],
                             b = nchw_b[((int64_t)s * c + ch) * hw + p];
                d = fmax(d, fabs(a - b));
                m = fmax(m, fabs(b));
            }
    return m > 0.0 ? d / m : d;
}

static void run(const conv_case *cc)
{
    mlp_model *m = bench_conv_model(cc, 0, 2); /* the layout of im2col */
    CHECK(mlp__model_reserve(m, BATCH, "bench"));
    mlp_layer *conv = mlp_model_layer(m, 1);

    nhwc q = {.c = cc->c, .h = cc->h, .w = cc->w, .f = cc->f, .k = cc->k, .pad = cc->pad};
    q.oh = cc->h + 2 * cc->pad - cc->k + 1;
    q.ow = cc->w + 2 * cc->pad - cc->k + 1;
    q.P = q.oh * q.ow;
    q.K = cc->c * cc->k * cc->k;
    q.g = mlp__conv2d_group(conv);
    const int64_t in_n = (int64_t)BATCH * cc->c * cc->h * cc->w,
                  out_n = (int64_t)BATCH * cc->f * q.P, w_n = (int64_t)q.K * cc->f;

    float *x = malloc(in_n * sizeof(float)), *xh = malloc(in_n * sizeof(float));
    float *y = malloc(out_n * sizeof(float)), *yh = malloc(out_n * sizeof(float));
    float *dy = malloc(out_n * sizeof(float)), *dyh = malloc(out_n * sizeof(float));
    float *dx = malloc(in_n * sizeof(float)), *dxh = malloc(in_n * sizeof(float));
    float *wt = malloc(w_n * sizeof(float)), *dwt = malloc(w_n * sizeof(float));
    float *col = malloc((size_t)q.g * q.P * q.K * sizeof(float));
    if (!x || !xh || !y || !yh || !dy || !dyh || !dx || !dxh || !wt || !dwt || !col) {
        fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
        exit(1);
    }
    const int32_t hw = cc->h * cc->w;
    for (int64_t i = 0; i < in_n; i++)
        x[i] = (float)((i * 7919) % 13) * 0.1f - 0.6f;
    for (int64_t i = 0; i < out_n; i++)
        dy[i] = (float)((i * 104729) % 11) * 0.01f - 0.05f;
    /* The same data in NHWC, and W [F, C, k, k] as wt [(i k + j) C + c, F]. */
    for (int32_t s = 0; s < BATCH; s++)
        for (int32_t c = 0; c < cc->c; c++)
            for (int32_t p = 0; p < hw; p++)
                xh[((int64_t)s * hw + p) * cc->c + c] =
                    x[((int64_t)s * cc->c + c) * hw + p];
    for (int32_t s = 0; s < BATCH; s++)
        for (int32_t f = 0; f < cc->f; f++)
            for (int32_t p = 0; p < q.P; p++)
                dyh[((int64_t)s * q.P + p) * cc->f + f] =
                    dy[((int64_t)s * cc->f + f) * q.P + p];
    for (int32_t f = 0; f < cc->f; f++)
        for (int32_t c = 0; c < cc->c; c++)
            for (int32_t i = 0; i < cc->k; i++)
                for (int32_t j = 0; j < cc->k; j++)
                    wt[((int64_t)(i * cc->k + j) * cc->c + c) * cc->f + f] =
                        conv->params[((int64_t)(f * cc->c + c) * cc->k + i) * cc->k + j];
    q.x = xh;
    q.wt = wt;
    q.dy = dyh;
    q.col = col;
    q.dx = dxh;

    /* Check the NHWC version against the layer first. */
    CHECK(conv->ops->forward(conv, x, y, BATCH, MLP_MODE_TRAIN));
    CHECK(conv->ops->backward(conv, x, y, dy, dx, BATCH));
    nhwc_forward(&q, yh);
    nhwc_backward(&q, dwt);
    double e_dw = 0.0, m_dw = 0.0;
    for (int32_t f = 0; f < cc->f; f++)
        for (int32_t kk = 0; kk < q.K; kk++) {
            const int32_t c = kk % cc->c, ij = kk / cc->c;
            const double a = dwt[(int64_t)kk * cc->f + f],
                         b = conv->grads[((int64_t)f * cc->c + c) * cc->k * cc->k + ij];
            e_dw = fmax(e_dw, fabs(a - b));
            m_dw = fmax(m_dw, fabs(b));
        }
    const double e_y = rel_err(yh, y, BATCH, cc->f, q.P),
                 e_dx = rel_err(dxh, dx, BATCH, cc->c, hw), e_w = e_dw / m_dw;
    if (!(e_y < 1e-4 && e_dx < 1e-4 && e_w < 1e-4)) {
        fprintf(stderr, "%s: %s: NHWC disagrees with the layer (y %g, dx %g, dW %g)\n",
                BENCH_NAME, cc->name, e_y, e_dx, e_w);
        exit(1);
    }

    /* The mixed plan: the layer keeps NCHW outside and works in NHWC
     * inside, changing the layout of x and y (forward) and of dy, x and dx
     * (backward) on the way; dW's reordering (K F floats) is left out. */
    float *y2 = malloc(out_n * sizeof(float)), *dx2 = malloc(in_n * sizeof(float));
    if (!y2 || !dx2) {
        fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
        exit(1);
    }
    double tf[REPS], tb[REPS], hf[REPS], hb[REPS], mf[REPS], mb[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        CHECK(conv->ops->forward(conv, x, y, BATCH, MLP_MODE_TRAIN));
        tf[r] = bench_now() - t0;
        t0 = bench_now();
        nhwc_forward(&q, yh);
        hf[r] = bench_now() - t0;
        t0 = bench_now();
        CHECK(conv->ops->backward(conv, x, y, dy, dx, BATCH));
        tb[r] = bench_now() - t0;
        t0 = bench_now();
        nhwc_backward(&q, dwt);
        hb[r] = bench_now() - t0;
        t0 = bench_now();
        transpose(x, xh, cc->c, hw);
        nhwc_forward(&q, yh);
        transpose(yh, y2, q.P, cc->f);
        mf[r] = bench_now() - t0;
        t0 = bench_now();
        transpose(dy, dyh, cc->f, q.P);
        transpose(x, xh, cc->c, hw);
        nhwc_backward(&q, dwt);
        transpose(dxh, dx2, hw, cc->c);
        mb[r] = bench_now() - t0;
    }
    /* The layout changes move values, exactly. */
    if (rel_err(yh, y2, BATCH, cc->f, q.P) != 0.0 ||
        rel_err(dxh, dx2, BATCH, cc->c, hw) != 0.0) {
        fprintf(stderr, "%s: %s: a layout change lost values\n", BENCH_NAME, cc->name);
        exit(1);
    }
    const double ms_f = 1e3 * bench_median(tf, REPS), ms_b = 1e3 * bench_median(tb, REPS),
                 ms_hf = 1e3 * bench_median(hf, REPS),
                 ms_hb = 1e3 * bench_median(hb, REPS);
    const double ms_mf = 1e3 * bench_median(mf, REPS),
                 ms_mb = 1e3 * bench_median(mb, REPS);
    printf(
        "%-28s group %3d\n  forward  NCHW %7.3f ms, NHWC %7.3f ms (%.2fx), NHWC inside "
        "%7.3f ms (%.2fx)\n  backward NCHW %7.3f ms, NHWC %7.3f ms (%.2fx), NHWC inside "
        "%7.3f ms (%.2fx)\n",
        cc->name, q.g, ms_f, ms_hf, ms_f / ms_hf, ms_mf, ms_f / ms_mf, ms_b, ms_hb,
        ms_b / ms_hb, ms_mb, ms_b / ms_mb);
    free(y2);
    free(dx2);
    free(x);
    free(xh);
    free(y);
    free(yh);
    free(dy);
    free(dyh);
    free(dx);
    free(dxh);
    free(wt);
    free(dwt);
    free(col);
    mlp_model_destroy(m);
}

int main(int argc, char **argv)
{
    CHECK(mlp_set_num_threads(argc > 1 ? atoi(argv[1]) : 1));
    printf("bench_layout: batch %d, %d thread(s); medians of %d repetitions, the layer "
           "(NCHW) and an NHWC version of it in the same repetition (x: NCHW time over "
           "NHWC time), %s time\n",
           BATCH, mlp_get_num_threads(), REPS, bench_clock_name());
    for (size_t i = 0; i < BENCH_CONV_CASES; i++)
        run(&bench_conv_cases[i]);
    return 0;
}

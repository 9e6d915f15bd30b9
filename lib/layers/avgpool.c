/*
 * Average pooling over [C,H,W]: each output is the mean of the inputs in its
 * window, padding excluded from the count; the global variant averages each
 * whole channel into one value ([C,H,W] -> [C]).
 *   y = (1/m) sum_window x,  dx[window] += dy / m,  m = valid positions
 */
#include <string.h>

#include "backend/pool.h"
#include "layer_impl.h"
#include "window.h"

/* What max and average pooling share (window.h): setup and creation. */
mlp_status mlp__pool_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    mlp__pool_settings *s = l->settings;
    mlp__window *w = &s->win;
    char a[48];
    if (in->rank != 3)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH, "%s needs a [C,H,W] input, not %s",
                          l->ops->name, mlp__shape_str(in, a, sizeof a));
    if (s->global) {
        w->kh = in->d[1];
        w->kw = in->d[2];
        out->rank = 1;
        out->d[0] = in->d[0];
        return MLP_STATUS_OK;
    }
    int32_t oh = mlp__window_out(in->d[1], w->kh, w->sh, w->ph, 1);
    int32_t ow = mlp__window_out(in->d[2], w->kw, w->sw, w->pw, 1);
    if (oh < 1 || ow < 1)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s window %dx%d (padding %d) does not fit input %s",
                          l->ops->name, (int)w->kh, (int)w->kw, (int)w->ph,
                          mlp__shape_str(in, a, sizeof a));
    out->rank = 3;
    out->d[0] = in->d[0];
    out->d[1] = oh;
    out->d[2] = ow;
    return MLP_STATUS_OK;
}

mlp_status mlp__pool_new(mlp_layer **out, mlp_layer_kind kind, int32_t kh, int32_t kw,
                         int32_t stride, int32_t pad, const char *fn)
{
    if (out)
        *out = NULL;
    if (kh < 1 || kw < 1 || stride < 1 || pad < 0)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: window %dx%d, stride %d, padding %d: need window and stride "
            ">= 1 and padding >= 0",
            fn, (int)kh, (int)kw, (int)stride, (int)pad);
    if (pad > kh / 2 || pad > kw / 2)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: padding %d is more than half the %dx%d window", fn,
                          (int)pad, (int)kh, (int)kw);
    MLP_TRY(mlp__layer_new(out, kind, fn));
    mlp__pool_settings *s = (*out)->settings;
    s->win = (mlp__window){
        .kh = kh, .kw = kw, .sh = stride, .sw = stride, .ph = pad, .pw = pad};
    return MLP_STATUS_OK;
}

/* A pass over planes, for the pool's parts. */
typedef struct avgpool_job {
    const mlp__window *win;
    const float *in;
    float *out;
    int32_t H, W, OH, OW;
} avgpool_job;

static void fwd_part(void *p, int64_t p0, int64_t p1)
{
    const avgpool_job *jb = p;
    const mlp__window *win = jb->win;
    const int32_t H = jb->H, W = jb->W, OH = jb->OH, OW = jb->OW;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float *xp = jb->in + pl * H * W;
        float *yp = jb->out + pl * OH * OW;
        for (int32_t oh = 0; oh < OH; oh++) {
            const int32_t h0 = oh * win->sh - win->ph;
            int32_t i0, i1;
            mlp__window_clip(h0, win->kh, H, &i0, &i1);
            for (int32_t ow = 0; ow < OW; ow++) {
                const int32_t w0 = ow * win->sw - win->pw;
                int32_t j0, j1;
                mlp__window_clip(w0, win->kw, W, &j0, &j1);
                float sum = 0.0f;
                for (int32_t i = i0; i < i1; i++)
                    for (int32_t j = j0; j < j1; j++)
                        sum += xp[(h0 + i) * W + w0 + j];
                yp[oh * OW + ow] = sum / (float)((i1 - i0) * (j1 - j0));
            }
        }
    }
}

static void bwd_part(void *p, int64_t p0, int64_t p1)
{
    const avgpool_job *jb = p;
    const mlp__window *win = jb->win;
    const int32_t H = jb->H, W = jb->W, OH = jb->OH, OW = jb->OW;
    for (int64_t pl = p0; pl < p1; pl++) {
        float *dxp = jb->out + pl * H * W;
        const float *dyp = jb->in + pl * OH * OW;
        memset(dxp, 0, (size_t)H * W * sizeof(float));
        for (int32_t oh = 0; oh < OH; oh++) {
            const int32_t h0 = oh * win->sh - win->ph;
            int32_t i0, i1;
            mlp__window_clip(h0, win->kh, H, &i0, &i1);
            for (int32_t ow = 0; ow < OW; ow++) {
                const int32_t w0 = ow * win->sw - win->pw;
                int32_t j0, j1;
                mlp__window_clip(w0, win->kw, W, &j0, &j1);
                const float g = dyp[oh * OW + ow] / (float)((i1 - i0) * (j1 - j0));
                for (int32_t i = i0; i < i1; i++)
                    for (int32_t j = j0; j < j1; j++)
                        dxp[(h0 + i) * W + w0 + j] += g;
            }
        }
    }
}

/* The job of layer l over its planes (in: x or dy, out: y or dx). */
static avgpool_job job_of(const mlp_layer *l, const float *in, float *out)
{
    const mlp__pool_settings *s = l->settings;
    return (avgpool_job){.win = &s->win,
                         .in = in,
                         .out = out,
                         .H = l->in.d[1],
                         .W = l->in.d[2],
                         .OH = s->global ? 1 : l->out.d[1],
                         .OW = s->global ? 1 : l->out.d[2]};
}

static mlp_status avgpool_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                  mlp_mode mode)
{
    (void)mode;
    avgpool_job j = job_of(l, x, y);
    mlp__pool_chunks((int64_t)n * l->in.d[0], 1, 1, fwd_part, &j);
    return MLP_STATUS_OK;
}

static mlp_status avgpool_backward(mlp_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int32_t n)
{
    (void)x;
    (void)y;
    avgpool_job j = job_of(l, dy, dx);
    mlp__pool_chunks((int64_t)n * l->in.d[0], 1, 1, bwd_part, &j);
    return MLP_STATUS_OK;
}

/* Model-file configuration, version 1: global, kh, kw, stride, pad (i32
 * each). The global variant takes its window from the input at setup, so
 * its window fields are stored as zero. */
static void avgpool_write_config(const mlp_layer *l, unsigned char *p)
{
    const mlp__pool_settings *s = l->settings;
    mlp__cfg_put_i32(p, s->global);
    mlp__cfg_put_i32(p + 4, s->global ? 0 : s->win.kh);
    mlp__cfg_put_i32(p + 8, s->global ? 0 : s->win.kw);
    mlp__cfg_put_i32(p + 12, s->global ? 0 : s->win.sh);
    mlp__cfg_put_i32(p + 16, s->global ? 0 : s->win.ph);
}

static mlp_status avgpool_read_config(mlp_layer **out, uint16_t version,
                                      const unsigned char *p)
{
    (void)version;
    *out = NULL;
    int32_t global = mlp__cfg_get_i32(p), v[4];
    for (int i = 0; i < 4; i++)
        v[i] = mlp__cfg_get_i32(p + 4 + 4 * i);
    if (global == 1) {
        for (int i = 0; i < 4; i++)
            if (v[i] != 0)
                return mlp__error(MLP_STATUS_BAD_FORMAT,
                                  "a global average pool stores a zero window, not %d",
                                  (int)v[i]);
        return mlp_layer_create_global_avgpool(out);
    }
    if (global != 0)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "global = %d is not 0 or 1",
                          (int)global);
    if (!mlp__pool_pad_ok(v[0], v[1], v[3]))
        return mlp__error(MLP_STATUS_BAD_FORMAT, "padding %d does not fit a %dx%d window",
                          (int)v[3], (int)v[0], (int)v[1]);
    return mlp_layer_create_avgpool(out, v[0], v[1], v[2], v[3]);
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int avgpool_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    const mlp__pool_settings *s = l->settings;
    switch (a) {
    case MLP_LAYER_ATTR_GLOBAL: *v = s->global; return 1;
    default: return mlp__window_attr(&s->win, a, v);
    }
}

const mlp_layer_ops mlp__avgpool_ops = {
    .name = "avgpool",
    .setup = mlp__pool_setup,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .record = {.bytes = 20, .write = avgpool_write_config, .read = avgpool_read_config},
    .get_attr = avgpool_get_attr,
    .settings_size = sizeof(mlp__pool_settings),
    .backward_ignores_y = 1,
    .by_sample = 1,
};

mlp_status mlp_layer_create_avgpool(mlp_layer **out, int32_t kh, int32_t kw,
                                    int32_t stride, int32_t pad)
{
    return mlp__pool_new(out, MLP_LAYER_AVGPOOL, kh, kw, stride, pad,
                         "mlp_layer_create_avgpool");
}

mlp_status mlp_layer_create_global_avgpool(mlp_layer **out)
{
    MLP_TRY(mlp__layer_new(out, MLP_LAYER_AVGPOOL, "mlp_layer_create_global_avgpool"));
    mlp__pool_settings *s = (*out)->settings;
    s->global = 1;
    s->win.sh = s->win.sw = 1;
    return MLP_STATUS_OK;
}

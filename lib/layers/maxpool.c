/*
 * Max pooling over [C,H,W]: each output is the largest input in its window
 * (padding never wins). Forward keeps the index of that input; backward
 * sends each output gradient there. Ties go to the first position in
 * row-major window order, so results are deterministic.
 *   y[c,oh,ow] = max_{i,j} x[c, oh*s-p+i, ow*s-p+j],  dx[argmax] += dy
 */
#include <float.h>
#include <string.h>

#include "backend/pool.h"
#include "backend/threads.h"
#include "layer_impl.h"
#include "window.h"

/* The window of the layer's settings (mlp__pool_settings, window.h). */
static const mlp__window *window(const mlp_layer *l)
{
    return &((const mlp__pool_settings *)l->settings)->win;
}

static mlp_status maxpool_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    MLP_TRY(mlp__pool_setup(l, in, out));
    l->scratch_per_sample = mlp__shape_numel(out); /* argmax indices */
    return MLP_STATUS_OK;
}

/* The common 2x2 window with stride 2 and no padding: the larger of each
 * row's pair, then of the two rows, all in selects and integer arithmetic
 * so that no branch depends on the data (the winner's position is random
 * and mispredicts). For finite values the tie rule is the general loop's:
 * the first largest in row-major order. */
MLP_VECTOR_CLONES
static void maxpool_2x2(const float *xp, float *yp, int32_t *ap, int32_t W, int32_t OH,
                        int32_t OW)
{
    for (int32_t oh = 0; oh < OH; oh++) {
        const float *r0 = xp + (int64_t)2 * oh * W, *r1 = r0 + W;
        float *yr = yp + (int64_t)oh * OW;
        int32_t *ar = ap + (int64_t)oh * OW;
        for (int32_t ow = 0; ow < OW; ow++) {
            const float a = r0[2 * ow], b = r0[2 * ow + 1];
            const float c = r1[2 * ow], d = r1[2 * ow + 1];
            const int32_t right0 = b > a, right1 = d > c;
            const float top = b > a ? b : a, bot = d > c ? d : c;
            const int32_t low = bot > top;
            yr[ow] = bot > top ? bot : top;
            ar[ow] =
                2 * oh * W + 2 * ow + low * W + (right0 ^ ((right0 ^ right1) & -low));
        }
    }
}

/* A pass over planes, for the pool's parts. */
typedef struct maxpool_job {
    const mlp_layer *l;
    const float *x, *dy;
    float *y, *dx;
} maxpool_job;

/* The common window: 2x2, stride 2, no padding. */
static int window_2x2(const mlp__window *win)
{
    return win->kh == 2 && win->kw == 2 && win->sh == 2 && win->sw == 2 && win->ph == 0 &&
           win->pw == 0;
}

/* Any window, one plane: xp [H,W] -> yp [OH,OW], argmax indices into ap. */
static void pool_plane_any(const mlp__window *win, const float *xp, float *yp,
                           int32_t *ap, int32_t H, int32_t W, int32_t OH, int32_t OW)
{
    for (int32_t oh = 0; oh < OH; oh++) {
        const int32_t h0 = oh * win->sh - win->ph;
        int32_t i0, i1;
        mlp__window_clip(h0, win->kh, H, &i0, &i1);
        for (int32_t ow = 0; ow < OW; ow++) {
            const int32_t w0 = ow * win->sw - win->pw;
            int32_t j0, j1;
            mlp__window_clip(w0, win->kw, W, &j0, &j1);
            float best = -FLT_MAX;
            int32_t at = (h0 + i0) * W + w0 + j0;
            for (int32_t i = i0; i < i1; i++)
                for (int32_t jj = j0; jj < j1; jj++) {
                    const int32_t k = (h0 + i) * W + w0 + jj;
                    if (xp[k] > best) {
                        best = xp[k];
                        at = k;
                    }
                }
            yp[oh * OW + ow] = xp[at];
            ap[oh * OW + ow] = at;
        }
    }
}

/* The forward pass of plane pl (of n * C) of layer l from its input plane
 * xp: its output plane in y, its argmax indices in the layer's scratch. */
static void pool_plane(const mlp_layer *l, int64_t pl, const float *xp, float *y)
{
    const mlp__window *win = window(l);
    const int32_t H = l->in.d[1], W = l->in.d[2], OH = l->out.d[1], OW = l->out.d[2];
    const int64_t out_plane = (int64_t)OH * OW;
    float *yp = y + pl * out_plane;
    int32_t *ap = (int32_t *)(void *)l->scratch + pl * out_plane;
    if (window_2x2(win))
        maxpool_2x2(xp, yp, ap, W, OH, OW);
    else
        pool_plane_any(win, xp, yp, ap, H, W, OH, OW);
}

static void fwd_part(void *p, int64_t p0, int64_t p1)
{
    const maxpool_job *j = p;
    const int64_t in_plane = (int64_t)j->l->in.d[1] * j->l->in.d[2];
    for (int64_t pl = p0; pl < p1; pl++)
        pool_plane(j->l, pl, j->x + pl * in_plane, j->y);
}

static mlp_status maxpool_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                  mlp_mode mode)
{
    (void)mode;
    /* The scratch holds int32 indices; the model allocated it for this layer. */
    maxpool_job j = {.l = l, .x = x, .y = y};
    const int64_t planes = (int64_t)n * l->in.d[0],
                  in_plane = (int64_t)l->in.d[1] * l->in.d[2];
    mlp__pool_for(planes,
                  mlp__pool_grain(in_plane, window_2x2(window(l)) ? MLP_POOL_MIN : 1), 1,
                  fwd_part, &j);
    return MLP_STATUS_OK;
}

/* The input gradient of plane pl from the output gradient dy: each output
 * gradient added at its argmax, over zeros. */
MLP_VECTOR_CLONES
static void unpool_plane(const mlp_layer *l, int64_t pl, const float *dy, float *dxp)
{
    const int64_t in_plane = (int64_t)l->in.d[1] * l->in.d[2],
                  out_plane = (int64_t)l->out.d[1] * l->out.d[2];
    const float *dyp = dy + pl * out_plane;
    const int32_t *ap = (const int32_t *)(const void *)l->scratch + pl * out_plane;
    memset(dxp, 0, (size_t)in_plane * sizeof(float));
    for (int64_t o = 0; o < out_plane; o++)
        dxp[ap[o]] += dyp[o];
}

static void bwd_part(void *p, int64_t p0, int64_t p1)
{
    const maxpool_job *j = p;
    const int64_t in_plane = (int64_t)j->l->in.d[1] * j->l->in.d[2];
    for (int64_t pl = p0; pl < p1; pl++)
        unpool_plane(j->l, pl, j->dy, j->dx + pl * in_plane);
}

static mlp_status maxpool_backward(mlp_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int32_t n)
{
    (void)x;
    (void)y;
    maxpool_job j = {.l = l, .dy = dy, .dx = dx};
    mlp__pool_for((int64_t)n * l->in.d[0], 1, 1, bwd_part, &j);
    return MLP_STATUS_OK;
}

/* The layer as the sink of the planes of the layer before it. */
static void sink_put(const mlp__plane_sink *s, int64_t pl, const float *xp)
{
    pool_plane(s->l, pl, xp, s->y);
}

static void sink_get(const mlp__plane_sink *s, int64_t pl, float *dxp)
{
    unpool_plane(s->l, pl, s->dy, dxp);
}

/* unpool_plane reads a plane of dy and of the argmax indices (backward);
 * pool_plane writes a plane of y and of the indices (forward). */
static void sink_ahead(const mlp__plane_sink *s, int64_t pl)
{
    const int64_t out_plane = (int64_t)s->l->out.d[1] * s->l->out.d[2];
    const int32_t *ap = (const int32_t *)(const void *)s->l->scratch + pl * out_plane;
    const int64_t bytes = out_plane * (int64_t)sizeof(float);
    if (s->dy) {
        mlp__prefetch(s->dy + pl * out_plane, bytes);
        mlp__prefetch(ap, bytes);
    } else {
        mlp__prefetch_write(s->y + pl * out_plane, bytes);
        mlp__prefetch_write(ap, bytes);
    }
}

static int maxpool_plane_sink(const mlp_layer *l, float *y, const float *dy,
                              mlp__plane_sink *s)
{
    if ((int64_t)l->in.d[1] * l->in.d[2] > MLP__PLANE_MAX)
        return 0;
    *s = (mlp__plane_sink){
        .put = sink_put, .get = sink_get, .ahead = sink_ahead, .l = l, .y = y, .dy = dy};
    return 1;
}

/* Model-file configuration, version 1: kh, kw, stride, pad (i32 each). */
static void maxpool_write_config(const mlp_layer *l, unsigned char *p)
{
    const mlp__window *win = window(l);
    mlp__cfg_put_i32(p, win->kh);
    mlp__cfg_put_i32(p + 4, win->kw);
    mlp__cfg_put_i32(p + 8, win->sh);
    mlp__cfg_put_i32(p + 12, win->ph);
}

static mlp_status maxpool_read_config(mlp_layer **out, uint16_t version,
                                      const unsigned char *p)
{
    (void)version;
    *out = NULL;
    const int32_t kh = mlp__cfg_get_i32(p), kw = mlp__cfg_get_i32(p + 4);
    const int32_t pad = mlp__cfg_get_i32(p + 12);
    if (!mlp__pool_pad_ok(kh, kw, pad))
        return mlp__error(MLP_STATUS_BAD_FORMAT, "padding %d does not fit a %dx%d window",
                          (int)pad, (int)kh, (int)kw);
    return mlp_layer_create_maxpool(out, kh, kw, mlp__cfg_get_i32(p + 8), pad);
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int maxpool_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    return mlp__window_attr(window(l), a, v);
}

const mlp_layer_ops mlp__maxpool_ops = {
    .name = "maxpool",
    .setup = maxpool_setup,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .record = {.bytes = 16, .write = maxpool_write_config, .read = maxpool_read_config},
    .get_attr = maxpool_get_attr,
    .settings_size = sizeof(mlp__pool_settings),
    .backward_ignores_y = 1,
    .plane_sink = maxpool_plane_sink,
};

mlp_status mlp_layer_create_maxpool(mlp_layer **out, int32_t kh, int32_t kw,
                                    int32_t stride, int32_t pad)
{
    return mlp__pool_new(out, MLP_LAYER_MAXPOOL, kh, kw, stride, pad,
                         "mlp_layer_create_maxpool");
}

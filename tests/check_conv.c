/*
 * Tests of 2-D convolution and pooling: forward and backward passes against
 * direct naive loops written here from the definitions (not from im2col),
 * finite-difference gradient checks, max-pooling ties and padding, output
 * shapes, argument checks, thread-count independence, allocation failures.
 *
 * All tensors are NCHW. The convolution reference is
 *   y[n,f,oh,ow] = b[f] + sum_{c,i,j} W[f,c,i,j] x[n,c,oh*sh-ph+i*dh, ow*sw-pw+j*dw]
 * with x read as zero outside the input, and b = 0 for a layer whose bias is
 * turned off (mlp_layer_set_use_bias), which then has the weights W only.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/corr.h"
#include "core/core.h"
#include "layers/layer_impl.h" /* the GEMM group size, to prove coverage */
#include "testutil.h"

static mlp_layer *const SENTINEL = (mlp_layer *)&SENTINEL;

/* ---- geometry --------------------------------------------------------------------- */

typedef struct conv_case {
    int32_t c, h, w; /* input [C,H,W] */
    int32_t f;       /* filters */
    int32_t kh, kw;  /* kernel */
    int32_t sh, sw;  /* stride */
    int32_t ph, pw;  /* zero padding */
    int32_t dh, dw;  /* dilation */
    int32_t n;       /* batch */
} conv_case;

/* Output extent, straight from layer.h: (H + 2p - d (k - 1) - 1) / s + 1, or
 * 0 when the (dilated) kernel does not fit the padded input. */
static int32_t out_extent(int32_t h, int32_t k, int32_t s, int32_t p, int32_t d)
{
    int32_t span = d * (k - 1) + 1;
    if (h + 2 * p < span)
        return 0;
    return (h + 2 * p - span) / s + 1;
}

static void case_str(const conv_case *q, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "x [%d,%d,%d,%d], %d filters %dx%d, stride %dx%d, pad %dx%d, dilation %dx%d",
             (int)q->n, (int)q->c, (int)q->h, (int)q->w, (int)q->f, (int)q->kh,
             (int)q->kw, (int)q->sh, (int)q->sw, (int)q->ph, (int)q->pw, (int)q->dh,
             (int)q->dw);
}

/* ---- naive references ------------------------------------------------------------- */

/* The outputs o in [0, n_out) whose input o * s + off lies in [0, n_in):
 * [*lo, *hi). */
static void tap_range(int32_t n_out, int32_t s, int32_t off, int32_t n_in, int32_t *lo,
                      int32_t *hi)
{
    int32_t a = 0, b = n_out;
    while (a < b && a * s + off < 0)
        a++;
    while (b > a && (b - 1) * s + off >= n_in)
        b--;
    *lo = a;
    *hi = b;
}

/* The references visit each kernel tap (c, i, j) of each filter once and
 * run over the outputs whose input lies inside the image (tap_range), in
 * place of testing every output's every tap: the same sums, in double, in
 * the same order for y and dW, and for dx in an order whose rounding (in
 * double) is far below the tests' tolerances. Tested tap by tap, the
 * references took most of the conv suite's time, and minutes under
 * valgrind. */

/* b NULL: no bias. */
static void ref_conv_forward(const conv_case *q, const float *x, const float *wt,
                             const float *b, double *y)
{
    const int32_t OH = out_extent(q->h, q->kh, q->sh, q->ph, q->dh);
    const int32_t OW = out_extent(q->w, q->kw, q->sw, q->pw, q->dw);
    for (int32_t n = 0; n < q->n; n++)
        for (int32_t f = 0; f < q->f; f++) {
            double *yp = y + ((int64_t)n * q->f + f) * OH * OW;
            for (int64_t o = 0; o < (int64_t)OH * OW; o++)
                yp[o] = b ? b[f] : 0.0;
            for (int32_t c = 0; c < q->c; c++)
                for (int32_t i = 0; i < q->kh; i++)
                    for (int32_t j = 0; j < q->kw; j++) {
                        const double w = wt[((f * q->c + c) * q->kh + i) * q->kw + j];
                        const int32_t hoff = i * q->dh - q->ph, woff = j * q->dw - q->pw;
                        int32_t h0, h1, w0, w1;
                        tap_range(OH, q->sh, hoff, q->h, &h0, &h1);
                        tap_range(OW, q->sw, woff, q->w, &w0, &w1);
                        for (int32_t oh = h0; oh < h1; oh++) {
                            const float *xr =
                                x + (((int64_t)n * q->c + c) * q->h + oh * q->sh + hoff) *
                                        q->w;
                            double *yr = yp + (int64_t)oh * OW;
                            for (int32_t ow = w0; ow < w1; ow++)
                                yr[ow] += w * (double)xr[ow * q->sw + woff];
                        }
                    }
        }
}

/* dW, db, dx of L = sum(y * dy). */
static void ref_conv_backward(const conv_case *q, const float *x, const float *wt,
                              const float *dy, double *dw, double *db, double *dx)
{
    const int32_t OH = out_extent(q->h, q->kh, q->sh, q->ph, q->dh);
    const int32_t OW = out_extent(q->w, q->kw, q->sw, q->pw, q->dw);
    memset(dw, 0, sizeof(double) * (size_t)(q->f * q->c * q->kh * q->kw));
    memset(db, 0, sizeof(double) * (size_t)q->f);
    memset(dx, 0, sizeof(double) * (size_t)((int64_t)q->n * q->c * q->h * q->w));
    for (int32_t n = 0; n < q->n; n++)
        for (int32_t f = 0; f < q->f; f++) {
            const float *dyp = dy + ((int64_t)n * q->f + f) * OH * OW;
            for (int64_t o = 0; o < (int64_t)OH * OW; o++)
                db[f] += dyp[o];
            for (int32_t c = 0; c < q->c; c++)
                for (int32_t i = 0; i < q->kh; i++)
                    for (int32_t j = 0; j < q->kw; j++) {
                        const int64_t wi = ((f * q->c + c) * q->kh + i) * q->kw + j;
                        const double w = wt[wi];
                        const int32_t hoff = i * q->dh - q->ph, woff = j * q->dw - q->pw;
                        int32_t h0, h1, w0, w1;
                        tap_range(OH, q->sh, hoff, q->h, &h0, &h1);
                        tap_range(OW, q->sw, woff, q->w, &w0, &w1);
                        double acc = dw[wi];
                        for (int32_t oh = h0; oh < h1; oh++) {
                            const int64_t row =
                                (((int64_t)n * q->c + c) * q->h + oh * q->sh + hoff) *
                                q->w;
                            const float *dyr = dyp + (int64_t)oh * OW;
                            for (int32_t ow = w0; ow < w1; ow++) {
                                const double g = dyr[ow];
                                const int64_t xi = row + ow * q->sw + woff;
                                acc += g * x[xi];
                                dx[xi] += g * w;
                            }
                        }
                        dw[wi] = acc;
                    }
        }
}

/* Pooling over [C,H,W] planes, windows kh x kw, one stride and padding.
 * Max: the first largest in-range value in row-major window order; arg[]
 * receives its input index. Average: mean of the in-range values. */
static void ref_pool(int is_max, int32_t planes, int32_t H, int32_t W, int32_t kh,
                     int32_t kw, int32_t s, int32_t p, const float *x, double *y,
                     int64_t *arg)
{
    const int32_t OH = out_extent(H, kh, s, p, 1), OW = out_extent(W, kw, s, p, 1);
    for (int32_t pl = 0; pl < planes; pl++)
        for (int32_t oh = 0; oh < OH; oh++)
            for (int32_t ow = 0; ow < OW; ow++) {
                double best = 0, sum = 0;
                int64_t at = -1;
                int cnt = 0;
                for (int32_t i = 0; i < kh; i++)
                    for (int32_t j = 0; j < kw; j++) {
                        int32_t ih = oh * s - p + i, iw = ow * s - p + j;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                            continue;
                        int64_t xi = ((int64_t)pl * H + ih) * W + iw;
                        if (at < 0 || x[xi] > best) {
                            best = x[xi];
                            at = xi;
                        }
                        sum += x[xi];
                        cnt++;
                    }
                TU_CHECK_MSG(cnt > 0, "reference: window of padding only");
                int64_t o = ((int64_t)pl * OH + oh) * OW + ow;
                y[o] = is_max ? best : sum / cnt;
                if (arg)
                    arg[o] = at;
            }
}

/* ---- model helpers ---------------------------------------------------------------- */

static mlp_layer *make_conv(int32_t in_c, int32_t f, int32_t kh, int32_t kw)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_conv2d(&l, in_c, f, kh, kw));
    ck_assert_ptr_nonnull(l);
    return l;
}

static mlp_layer *make_conv_case(const conv_case *q)
{
    mlp_layer *l = make_conv(q->c, q->f, q->kh, q->kw);
    TU_OK(mlp_layer_set_conv2d(l, q->sh, q->sw, q->ph, q->pw, q->dh, q->dw));
    return l;
}

static mlp_layer *make_maxpool(int32_t kh, int32_t kw, int32_t s, int32_t p)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_maxpool(&l, kh, kw, s, p));
    ck_assert_ptr_nonnull(l);
    return l;
}

static mlp_layer *make_avgpool(int32_t kh, int32_t kw, int32_t s, int32_t p)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_avgpool(&l, kh, kw, s, p));
    ck_assert_ptr_nonnull(l);
    return l;
}

static mlp_layer *make_gap(void)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_global_avgpool(&l));
    ck_assert_ptr_nonnull(l);
    return l;
}

/* Largest |v| of a double array (for tolerances relative to the scale). */
static double max_abs(const double *v, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

/* ---- convolution against the naive loops ------------------------------------------ */

/* NaN over the layer's part of the model's shared workspace (once the
 * model has one), which no pass may read before writing. */
static void poison_workspace(mlp_layer *conv)
{
    for (int64_t i = 0; conv->ws && i < conv->ws_floats; i++)
        conv->ws[i] = NAN;
}

/* The paths of a layer: bits 0 and 1 the direct correlation (corr.h)
 * forward and for dW, bit 2 products per sample, bit 3 Winograd's
 * F(2x2, 3x3) forward, for dx and for dW (wino.h). */
enum { PATH_CORR = 3, PATH_PER_SAMPLE = 4, PATH_WINO = 8 };

static int conv_paths(const mlp_layer *conv)
{
    return mlp__conv2d_corr(conv) | mlp__conv2d_per_sample(conv) << 2 |
           mlp__conv2d_wino(conv) << 3;
}

/* The references of one case (the naive loops in float64), computed by the
 * first path checked and kept for the others: the same seed gives every
 * path the same parameters, input and dy. */
typedef struct conv_refs {
    double *y, *dw, *db, *dx;
} conv_refs;

/* Forward (both modes) and backward of one case against the references,
 * with the bias on or off, on the path the layer takes (keep 0), off the
 * direct correlation (keep 1), or on im2col of groups of samples (keep 2,
 * mlp__conv2d_keep); on groups the layer must split the batch into at least
 * `min_groups` of them. Returns the paths the layer took (PATH_*). */
static int check_conv_path(const conv_case *q, uint64_t seed, int min_groups,
                           int use_bias, int keep, conv_refs *refs)
{
    char desc[200];
    case_str(q, desc, sizeof desc);
    if (!use_bias)
        strcat(desc, ", no bias");
    if (keep)
        strcat(desc, keep == 1 ? ", no correlation" : ", groups of samples");
    const int32_t in[3] = {q->c, q->h, q->w};
    const int32_t OH = out_extent(q->h, q->kh, q->sh, q->ph, q->dh);
    const int32_t OW = out_extent(q->w, q->kw, q->sw, q->pw, q->dw);
    ck_assert_msg(OH >= 1 && OW >= 1, "bad test case: %s", desc);
    mlp_model *m = tu_model(3, in, seed);
    mlp_layer *conv = make_conv_case(q);
    TU_OK(mlp_layer_set_use_bias(conv, use_bias));
    mlp__conv2d_keep(conv, keep);
    tu_add(m, conv);
    const int path = conv_paths(conv);
    ck_assert_msg(!(keep && path & PATH_CORR), "%s: took the direct correlation", desc);
    ck_assert_msg(!(keep && path & PATH_WINO), "%s: took Winograd's path", desc);
    ck_assert_msg(!(keep == 2 && path), "%s: took products per sample", desc);
    const int64_t nw = (int64_t)q->f * q->c * q->kh * q->kw, nb = use_bias ? q->f : 0;
    ck_assert_int_eq(mlp_layer_param_count(conv), nw + nb);
    ck_assert_int_eq(mlp_model_param_count(m), nw + nb); /* no hidden bias slot */
    const int32_t group = mlp__conv2d_group(conv);
    ck_assert_msg(group >= 1 && (path || (q->n + group - 1) / group >= min_groups),
                  "%s: %d samples per GEMM group, wanted %d groups", desc, (int)group,
                  min_groups);
    int r = 0;
    int32_t od[MLP_MAX_RANK] = {0};
    TU_OK(mlp_model_output_shape(m, -1, &r, od));
    ck_assert_msg(r == 3 && od[0] == q->f && od[1] == OH && od[2] == OW,
                  "%s: output shape rank %d [%d,%d,%d], want [%d,%d,%d]", desc, r, od[0],
                  od[1], od[2], q->f, OH, OW);

    tu_rng rng;
    tu_rng_seed(&rng, seed);
    float *p = mlp_layer_params(conv);
    tu_fill_uniform(&rng, p, nw + nb, -1.0f, 1.0f); /* the bias too */
    const int64_t nx = (int64_t)q->n * q->c * q->h * q->w;
    const int64_t ny = (int64_t)q->n * q->f * OH * OW;
    mlp_tensor *x = tu_tensor_batch(q->n, 3, in);
    tu_fill_uniform(&rng, mlp_tensor_data(x), nx, -1.0f, 1.0f);
    if (!refs->y) {
        refs->y = malloc(sizeof(double) * (size_t)ny);
        ck_assert_ptr_nonnull(refs->y);
        ref_conv_forward(q, mlp_tensor_data_const(x), p, use_bias ? p + nw : NULL,
                         refs->y);
    }
    const double *ref = refs->y;
    const double ytol = 1e-5 * max_abs(ref, ny) + 1e-6;
    const mlp_tensor *y = NULL;
    char what[256]; /* desc (up to 199) and the longest label */
    for (int mode = MLP_MODE_TRAIN; mode <= MLP_MODE_EVAL; mode++) {
        poison_workspace(conv); /* NaN: see the backward pass below */
        TU_OK(mlp_model_forward(m, x, (mlp_mode)mode, &y));
        ck_assert_int_eq(mlp_tensor_rank(y), 4);
        ck_assert_int_eq(mlp_tensor_dim(y, 0), q->n);
        ck_assert_int_eq(mlp_tensor_dim(y, 1), q->f);
        ck_assert_int_eq(mlp_tensor_dim(y, 2), OH);
        ck_assert_int_eq(mlp_tensor_dim(y, 3), OW);
        snprintf(what, sizeof what, "conv y (%s, %s)", desc,
                 mode == MLP_MODE_TRAIN ? "train" : "eval");
        tu_assert_close_fd(what, mlp_tensor_data_const(y), ref, ny, 1e-4, ytol);
    }

    /* backward */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    int32_t yd[3] = {q->f, OH, OW};
    mlp_tensor *dy = tu_tensor_batch(q->n, 3, yd);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), ny, -1.0f, 1.0f);
    if (!refs->dw) {
        refs->dw = malloc(sizeof(double) * (size_t)nw);
        refs->db = malloc(sizeof(double) * (size_t)q->f);
        refs->dx = malloc(sizeof(double) * (size_t)nx);
        ck_assert(refs->dw && refs->db && refs->dx);
        ref_conv_backward(q, mlp_tensor_data_const(x), p, mlp_tensor_data_const(dy),
                          refs->dw, refs->db, refs->dx);
    }
    const double *rdw = refs->dw, *rdb = refs->db, *rdx = refs->dx;
    /* twice: the second pass must overwrite, not accumulate. The shared
     * workspace holds nothing from one pass to the next: NaN in it first
     * shows any value read before it is written (a scratch row of padding
     * set in an earlier pass, say). */
    const mlp_tensor *dx = NULL;
    for (int rep = 0; rep < 2; rep++) {
        poison_workspace(conv);
        TU_OK(mlp_model_backward(m, dy, &dx));
        ck_assert_int_eq(mlp_tensor_numel(dx), nx);
        const float *g = mlp_layer_grads(conv);
        snprintf(what, sizeof what, "conv dW (%s)", desc);
        tu_assert_close_fd(what, g, rdw, nw, 1e-4, 1e-5 * max_abs(rdw, nw) + 1e-6);
        if (use_bias) {
            snprintf(what, sizeof what, "conv db (%s)", desc);
            tu_assert_close_fd(what, g + nw, rdb, q->f, 1e-4,
                               1e-5 * max_abs(rdb, q->f) + 1e-6);
        }
        snprintf(what, sizeof what, "conv dx (%s)", desc);
        tu_assert_close_fd(what, mlp_tensor_data_const(dx), rdx, nx, 1e-4,
                           1e-5 * max_abs(rdx, nx) + 1e-6);
    }
    /* without dx (a first layer need not compute it) the parameter
     * gradients are the same */
    TU_OK(mlp_model_backward(m, dy, NULL));
    snprintf(what, sizeof what, "conv dW without dx (%s)", desc);
    tu_assert_close_fd(what, mlp_layer_grads(conv), rdw, nw, 1e-4,
                       1e-5 * max_abs(rdw, nw) + 1e-6);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
    return path;
}

/* check_conv_path on the layer's own path, then off the direct correlation
 * and Winograd's path when the layer took either, then on groups of
 * samples when the run before took products per sample: every case holds
 * each path it can take to the references, and the groups to
 * `min_groups`. */
static int check_conv_case(const conv_case *q, uint64_t seed, int min_groups,
                           int use_bias)
{
    conv_refs r = {0};
    const int own = check_conv_path(q, seed, min_groups, use_bias, 0, &r);
    int path = own;
    if (path & (PATH_CORR | PATH_WINO))
        path = check_conv_path(q, seed, min_groups, use_bias, 1, &r);
    if (path & PATH_PER_SAMPLE)
        check_conv_path(q, seed, min_groups, use_bias, 2, &r);
    free(r.y);
    free(r.dw);
    free(r.db);
    free(r.dx);
    return own;
}

/* clang-format off */
/*      C   H   W   F  kh kw sh sw ph pw dh dw  N */
static const conv_case CONV_GRID[] = {
    {1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1},   /* the plainest case */
    {1, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 5},   /* odd sizes, padding 1 */
    {3, 7, 9, 2, 3, 3, 2, 2, 0, 0, 1, 1, 5},   /* stride 2, three channels */
    {3, 7, 9, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1},   /* non-square 3x2 kernel */
    {1, 8, 8, 2, 1, 5, 1, 1, 0, 2, 1, 1, 2},   /* 1x5 kernel, padding 0x2 */
    {3, 9, 7, 5, 3, 3, 1, 2, 2, 1, 1, 1, 3},   /* stride 1x2, padding 2x1 */
    {2, 9, 9, 3, 3, 3, 1, 1, 0, 0, 2, 2, 2},   /* dilation 2 */
    {3, 10, 11, 4, 3, 2, 2, 1, 1, 0, 2, 1, 3}, /* dilation 2x1, stride 2x1 */
    {3, 7, 9, 2, 3, 3, 3, 3, 1, 1, 2, 2, 2},   /* stride 3 with dilation and padding */
    {3, 6, 6, 8, 5, 5, 1, 1, 2, 2, 1, 1, 2},   /* 5x5 "same" */
    {1, 4, 4, 6, 4, 4, 1, 1, 0, 0, 1, 1, 3},   /* kernel = input: 1x1 output */
    {2, 5, 5, 3, 1, 1, 1, 1, 0, 0, 1, 1, 4},   /* 1x1 convolution */
    {1, 4, 4, 2, 2, 2, 1, 1, 2, 2, 1, 1, 2},   /* rows and columns of padding only */
    {2, 6, 5, 3, 2, 3, 2, 2, 1, 2, 1, 2, 3},   /* everything mixed */
    {3, 5, 5, 2, 2, 2, 3, 3, 0, 0, 1, 1, 2},   /* stride > kernel: skipped inputs */
};
/* clang-format on */
#define N_CONV_GRID ((int)(sizeof CONV_GRID / sizeof CONV_GRID[0]))

START_TEST(conv_reference_grid)
{
    check_conv_case(&CONV_GRID[_i], 100 + (uint64_t)_i, 1, 1);
}
END_TEST

/* Without a bias, on a spread of the grid (padding, strides, dilation, 1x1,
 * padding-only rows) and on a batch of several GEMM groups, where the copy
 * that replaces the bias pass must place every group. */
static const int CONV_GRID_NOBIAS[] = {0, 1, 2, 6, 7, 11, 12, 13};
#define N_CONV_GRID_NOBIAS ((int)(sizeof CONV_GRID_NOBIAS / sizeof CONV_GRID_NOBIAS[0]))

START_TEST(conv_reference_grid_nobias)
{
    if (_i < N_CONV_GRID_NOBIAS) {
        const int k = CONV_GRID_NOBIAS[_i];
        check_conv_case(&CONV_GRID[k], 300 + (uint64_t)k, 1, 0);
    } else {
        const conv_case strided = {4, 40, 40, 12, 5, 5, 2, 2, 2, 2, 1, 1, 37};
        check_conv_case(&strided, 11, 2, 0);
    }
}
END_TEST

/* Batches that the layer splits into several GEMM groups (it sizes a group
 * so that its columns and products fit a workspace of ~1M floats), down to
 * one sample per group, and for contrast one that fits a single group. */
START_TEST(conv_reference_large)
{
    /* [8,32,32], 16 filters 3x3: K = 72, P = 1024, (K + F) P = 90112 floats
     * per sample, so groups of 11 in the ~1M-float workspace: 11+11+11+7 */
    const conv_case many = {8, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 40};
    check_conv_case(&many, 7, 4, 1);
    /* 5x5 stride 2: P = 400, (100 + 12) 400 = 44800: groups of 23, 23+14 */
    const conv_case strided = {4, 40, 40, 12, 5, 5, 2, 2, 2, 2, 1, 1, 37};
    check_conv_case(&strided, 10, 2, 1);
    /* one sample per group: a 254x254 output plane fills the workspace */
    const conv_case big_plane = {1, 256, 256, 8, 3, 3, 1, 1, 0, 0, 1, 1, 3};
    check_conv_case(&big_plane, 9, 3, 1);
    /* 40 samples of [3,16,16] with 16 filters fit one group */
    const conv_case one_group = {3, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 40};
    check_conv_case(&one_group, 8, 1, 1);
}
END_TEST

/* The direct-output forward path (one GEMM per sample straight into y):
 * single-channel inputs with stride, padding and dilation on odd sizes, over
 * several GEMM groups, and pointwise (1x1, stride 1, no padding) kernels
 * over several samples; each with and without a bias. A 1x1 kernel with a
 * stride is not pointwise and takes the im2col path beside them. */
START_TEST(conv_reference_direct)
{
    /* clang-format off */
    /*      C   H   W   F  kh kw sh sw ph pw dh dw  N */
    static const conv_case cases[] = {
        {1, 9, 11, 3, 3, 3, 2, 1, 1, 2, 1, 2, 4},    /* strides, padding, dilation */
        {1, 13, 10, 5, 4, 3, 1, 3, 2, 0, 1, 1, 3},   /* even kernel rows, stride 3 */
        {1, 61, 59, 16, 3, 3, 1, 1, 1, 1, 1, 1, 25}, /* groups of 11: 11 + 11 + 3 */
        {5, 7, 6, 4, 1, 1, 1, 1, 0, 0, 1, 1, 9},     /* pointwise */
        {16, 64, 64, 8, 1, 1, 1, 1, 0, 0, 1, 1, 25}, /* pointwise, groups of 10 */
        {1, 12, 11, 4, 5, 5, 1, 1, 2, 2, 1, 1, 3},   /* 5x5, padding 2 */
        {24, 6, 5, 7, 1, 1, 1, 1, 0, 0, 1, 1, 4},    /* pointwise, 24 channels */
        {4, 7, 7, 3, 1, 1, 2, 2, 0, 0, 1, 1, 3},     /* 1x1 with stride: im2col */
    };
    /* clang-format on */
    const int min_groups[] = {1, 1, 3, 1, 3, 1, 1, 1};
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        for (int bias = 0; bias <= 1; bias++)
            check_conv_case(&cases[i], 600 + (uint64_t)(2 * i + bias), min_groups[i],
                            bias);
}
END_TEST

/* im2col and col2im with stride 1 and as many output columns as input
 * columns copy each plane in one stretch, then zero the entries that
 * wrapped into a neighbouring row, column by column: dilation, kernels
 * wider than tall, padding past the kernel (rows of padding only), the
 * ConvNet's second layer over several groups, rows 64 and 70 wide, and a
 * 9x9 kernel (more offsets than im2col keeps the spans of). */
START_TEST(conv_reference_flat)
{
    /* clang-format off */
    /*      C   H   W   F  kh kw sh sw ph pw dh dw  N */
    static const conv_case cases[] = {
        {2, 8, 7, 3, 3, 3, 1, 1, 2, 2, 2, 2, 3},      /* dilation 2, padding 2 */
        {3, 6, 9, 2, 3, 5, 1, 1, 1, 2, 1, 1, 2},      /* 3x5, padding 1x2 */
        {2, 5, 6, 3, 3, 3, 1, 1, 3, 1, 1, 1, 2},      /* rows of padding only */
        {2, 4, 5, 2, 2, 3, 1, 1, 1, 1, 1, 1, 3},      /* even kernel rows */
        {32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 31}, /* groups of 15: 15 + 15 + 1 */
        {2, 6, 70, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3},     /* rows 70 wide */
        {3, 5, 64, 4, 3, 5, 1, 1, 2, 2, 1, 1, 2},     /* rows 64 wide */
        {2, 11, 12, 3, 9, 9, 1, 1, 4, 4, 1, 1, 2},    /* 81 offsets: spans not held */
    };
    /* clang-format on */
    const int min_groups[] = {1, 1, 1, 1, 3, 1, 1, 1};
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        check_conv_case(&cases[i], 700 + (uint64_t)i, min_groups[i], i % 2);
}
END_TEST

/* Winograd's F(2x2, 3x3) (wino.h) for the forward pass, dx and dW: planes
 * of whole and partial tiles (odd output sizes), paddings 0, 1 and 2 (dx's
 * 2, 1 and 0) and mixed, a 1x1 output, odd channel and filter counts,
 * groups of many samples with a short last one, one sample per group
 * (planes of more than 100 tiles), dW's runs of several chunks with a
 * short last one, of chunks of one sample and empty ones, rows of up to 8
 * tiles (read in vectors, each padding; every row length from 1 to 8
 * tiles, and dy's rows of 0 to 8 pairs, stored from the vectors) and of
 * more; each with and
 * without a bias, against the float64 loops, then off Winograd's path. */
START_TEST(conv_reference_wino)
{
    /* clang-format off */
    /*      C   H   W   F  kh kw sh sw ph pw dh dw  N */
    static const conv_case cases[] = {
        {16, 14, 14, 16, 3, 3, 1, 1, 1, 1, 1, 1, 17}, /* 49 tiles: groups of 2, 1;
                                                          dW's runs 4, 4, 4, 5 in
                                                          chunks of 1 */
        {16, 7, 9, 17, 3, 3, 1, 1, 1, 1, 1, 1, 5},    /* partial tiles, 17 filters */
        {19, 10, 11, 16, 3, 3, 1, 1, 0, 0, 1, 1, 4},  /* no padding: dx's is 2 */
        {16, 5, 6, 16, 3, 3, 1, 1, 2, 2, 1, 1, 3},    /* padding 2: dx's is 0 */
        {16, 3, 3, 16, 3, 3, 1, 1, 0, 0, 1, 1, 2},    /* a 1x1 output */
        {16, 6, 7, 18, 3, 3, 1, 1, 1, 0, 1, 1, 3},    /* padding 1x0 */
        {16, 4, 4, 16, 3, 3, 1, 1, 1, 1, 1, 1, 53},   /* 4 tiles: groups of 25, 3;
                                                          dW's runs 13, 13, 13, 14
                                                          in chunks of 12, the
                                                          last 1 or 2 */
        {16, 30, 29, 16, 3, 3, 1, 1, 1, 1, 1, 1, 6},  /* 225 tiles: one per group;
                                                          dW's chunks of 1, runs
                                                          of 1 and 2 */
        {16, 58, 57, 17, 3, 3, 1, 1, 1, 1, 1, 1, 2},  /* 841 tiles: 2 of dW's 4
                                                          runs empty */
        {16, 6, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 3},   /* rows of 8 tiles, the most
                                                          read in vectors */
        {16, 5, 17, 16, 3, 3, 1, 1, 0, 0, 1, 1, 2},   /* 8 tiles, a partial one;
                                                          rows 17 wide */
        {16, 11, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1, 3},  /* rows of 6 tiles, dy's
                                                          of 6 pairs */
        {16, 10, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2},  /* 6 tiles, 5 pairs */
        {16, 6, 7, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2},    /* 4 tiles, 3 pairs */
        {16, 5, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2},    /* 2 tiles, 1 pair */
    };
    /* clang-format on */
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        for (int bias = 0; bias <= 1; bias++) {
            const int path =
                check_conv_case(&cases[i], 800 + (uint64_t)(2 * i + bias), 1, bias);
            ck_assert_msg(path & PATH_WINO, "case %d: paths %d, no Winograd", i, path);
        }
}
END_TEST

/* The backward pass of the direct correlation (dW and the bias gradient in
 * one pass over dy, dx as the correlation's adjoint, mlp__corr_dx): rows
 * of dy a multiple of 8 wide, with a last strip of 1 to 7 columns, and
 * shorter than 8; taps in one block and in several of uneven sizes;
 * kernels 9 wide; padding past the kernel; input rows wider than the
 * output's strips; one input channel with many filters. Each case, with
 * and without a bias, must take the correlation for dW and dx. */
START_TEST(conv_reference_corr_backward)
{
    /* clang-format off */
    /*      C   H   W   F  kh kw sh sw ph pw dh dw  N */
    static const conv_case cases[] = {
        {5, 12, 12, 10, 5, 5, 1, 1, 0, 0, 1, 1, 3},  /* the report's conv2: 11 blocks */
        {1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 3},  /* the ConvNet's first layer */
        {2, 7, 6, 3, 3, 3, 1, 1, 3, 2, 1, 1, 2},     /* padding past the kernel */
        {3, 9, 20, 4, 2, 7, 1, 1, 0, 3, 1, 1, 2},    /* 2x7: 4 blocks, 4-column tail */
        {1, 6, 5, 2, 1, 9, 1, 1, 0, 4, 1, 1, 3},     /* 1x9 on rows 5 wide */
        {14, 9, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 2},    /* 126 taps, 1-column tail */
        {2, 5, 17, 16, 3, 5, 1, 1, 2, 0, 1, 1, 4},   /* 16 filters, rows 13 wide */
        {3, 6, 6, 2, 6, 6, 1, 1, 0, 0, 1, 1, 2},     /* a 1x1 output */
    };
    /* clang-format on */
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
        for (int bias = 0; bias <= 1; bias++) {
            const int path =
                check_conv_case(&cases[i], 800 + (uint64_t)(2 * i + bias), 1, bias);
            ck_assert_msg(path & 2, "case %d: dW and dx not on the correlation", i);
        }
}
END_TEST

static float *test_floats(int64_t n)
{
    float *p = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

/* On a CPU with AVX-512 the direct correlation's forward pass runs pairs of
 * planes in vectors of 16, up to four strips at a time
 * (mlp__corr_forward_wide, on any CPU); elsewhere, and in
 * mlp__corr_forward_narrow, vectors of 8. All must give the same bits:
 * blocks of four planes and single planes after them (1 to 10 planes),
 * the last group of strips 1 to 4 long, rows of 1 to 7 columns past the
 * last full strip and rows shorter than 8, with and without a bias. */
START_TEST(corr_forward_wide_same_bits)
{
    /* clang-format off */
    static const struct { int32_t ci, oh, ow, co, kh, kw; } cases[] = {
        {5, 8, 8, 10, 5, 5},  /* the report's conv2: 8 strips, 2 blocks, 2 planes */
        {1, 3, 8, 4, 3, 3},   /* 3 strips: one group of 3 */
        {2, 5, 8, 9, 3, 3},   /* 5 strips: 4, then 1 */
        {3, 2, 11, 7, 2, 3},  /* 4 strips of 8 and 3 columns; 3 single planes */
        {1, 7, 5, 6, 3, 2},   /* rows 5 wide: 7 strips */
        {2, 1, 17, 1, 1, 4},  /* one plane: no block */
        {4, 6, 23, 8, 3, 3},  /* 18 strips, the last of 7 columns */
    };
    /* clang-format on */
    tu_rng rng;
    tu_rng_seed(&rng, 31);
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const mlp__corr k = {.ci = cases[i].ci,
                             .hp = cases[i].oh + cases[i].kh - 1,
                             .wp = mlp__corr_wp(cases[i].ow, cases[i].kw),
                             .co = cases[i].co,
                             .oh = cases[i].oh,
                             .ow = cases[i].ow,
                             .kh = cases[i].kh,
                             .kw = cases[i].kw};
        const int32_t taps = k.ci * k.kh * k.kw;
        const int64_t nx = (int64_t)k.ci * k.hp * k.wp, ny = (int64_t)k.co * k.oh * k.ow;
        float *xp = test_floats(nx), *w = test_floats((int64_t)k.co * taps);
        float *wpk = test_floats((int64_t)k.co * taps + MLP__CORR_PACK_SPARE);
        float *bias = test_floats(k.co), *y = test_floats(ny);
        float *yn = test_floats(ny), *yw = test_floats(ny);
        tu_fill_uniform(&rng, xp, nx, -1.0f, 1.0f);
        tu_fill_uniform(&rng, w, (int64_t)k.co * taps, -1.0f, 1.0f);
        tu_fill_uniform(&rng, bias, k.co, -1.0f, 1.0f);
        mlp__corr_pack(w, k.co, taps, wpk);
        for (int b = 0; b <= 1; b++) {
            mlp__corr_forward(&k, xp, wpk, b ? bias : NULL, y);
            mlp__corr_forward_narrow(&k, xp, wpk, b ? bias : NULL, yn);
            ck_assert_msg(memcmp(y, yn, (size_t)ny * sizeof(float)) == 0,
                          "case %d, bias %d: the two forward passes differ", i, b);
            memset(yw, 0xff, (size_t)ny * sizeof(float));
            ck_assert_int_eq(mlp__corr_forward_wide(&k, xp, wpk, b ? bias : NULL, yw),
                             MLP__CORR_WIDE);
            ck_assert_msg(memcmp(yw, yn, (size_t)ny * sizeof(float)) == 0,
                          "case %d, bias %d: the wide forward pass differs", i, b);
        }
        free(xp);
        free(w);
        free(wpk);
        free(bias);
        free(y);
        free(yn);
        free(yw);
    }
}
END_TEST

/* The correlation of `ci` planes of [h, w], padded by ph rows and pw
 * columns, to `co` planes through a kh x kw kernel. */
static mlp__corr corr_geom(int32_t ci, int32_t h, int32_t w, int32_t co, int32_t kh,
                           int32_t kw, int32_t ph, int32_t pw)
{
    const int32_t oh = h + 2 * ph - kh + 1, ow = w + 2 * pw - kw + 1;
    return (mlp__corr){.ci = ci,
                       .hp = h + 2 * ph,
                       .wp = mlp__corr_wp(ow, kw),
                       .co = co,
                       .oh = oh,
                       .ow = ow,
                       .kh = kh,
                       .kw = kw};
}

/* On a CPU with AVX-512 the direct correlation's dx runs full strips two at
 * a time in vectors of 16 (across rows, the first strip's sums added in
 * first; mlp__corr_dx_wide, on any CPU); mlp__corr_dx_narrow one at a
 * time in vectors of 8. The same bits: rows of 8, 16 and 24 columns
 * (strips pair within and across rows), rows with a tail after an odd
 * count of full strips, rows shorter than 8, a single row of one full
 * strip (left waiting for a pair to the end), padding, 1 to 12 taps a
 * block and several blocks (blocks of every size from 1 to 12: the taps
 * are shared evenly among the blocks); and dx as defined, in double. */
START_TEST(corr_dx_wide_same_bits)
{
    /* clang-format off */
    static const struct { int32_t ci, h, w, co, kh, kw, ph, pw; } cases[] = {
        {5, 12, 12, 10, 5, 5, 0, 0}, /* the report's conv2: rows of 8 */
        {2, 9, 18, 3, 3, 3, 0, 0},   /* rows of 16 */
        {1, 6, 26, 4, 3, 3, 0, 0},   /* rows of 24: pairs across rows */
        {3, 7, 13, 2, 2, 3, 1, 1},   /* 13 columns: one full strip, a tail */
        {2, 8, 21, 5, 3, 2, 0, 1},   /* 2 full strips and a tail of 5 */
        {1, 9, 7, 3, 3, 3, 1, 1},    /* rows shorter than 8 */
        {14, 9, 9, 3, 3, 3, 1, 1},   /* 126 taps, 9-column rows */
        {1, 5, 9, 2, 1, 1, 1, 1},    /* 1 tap (padded: the layer's path) */
        {2, 6, 10, 3, 1, 1, 0, 0},   /* 2 */
        {1, 6, 11, 2, 1, 3, 0, 1},   /* 3 */
        {2, 7, 9, 2, 1, 3, 1, 1},    /* 6 */
        {1, 8, 12, 3, 1, 7, 0, 3},   /* 7 */
        {1, 7, 17, 2, 1, 13, 0, 6},  /* 13: blocks of 6 and 7 */
        {1, 9, 14, 2, 1, 11, 0, 5},  /* 11 */
        {2, 3, 12, 3, 3, 3, 0, 0},   /* one row: its one full strip, a tail */
        {1, 2, 9, 2, 2, 2, 0, 0},    /* one row of one full strip */
    };
    /* clang-format on */
    tu_rng rng;
    tu_rng_seed(&rng, 33);
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const mlp__corr k = corr_geom(cases[i].ci, cases[i].h, cases[i].w, cases[i].co,
                                      cases[i].kh, cases[i].kw, cases[i].ph, cases[i].pw);
        const int32_t oh = k.oh, ow = k.ow;
        const int64_t taps = (int64_t)k.ci * k.kh * k.kw, ny = (int64_t)k.co * oh * ow;
        const int64_t nx = (int64_t)k.ci * cases[i].h * cases[i].w;
        float *w = test_floats(k.co * taps), *dy = test_floats(ny);
        float *sums = test_floats(mlp__corr_dx_size(&k));
        float *dx = test_floats(nx), *dxn = test_floats(nx), *dxw = test_floats(nx);
        tu_fill_uniform(&rng, w, k.co * taps, -1.0f, 1.0f);
        tu_fill_uniform(&rng, dy, ny, -1.0f, 1.0f);
        mlp__corr_dx(&k, cases[i].ph, cases[i].pw, cases[i].h, cases[i].w, w, dy, sums,
                     dx);
        mlp__corr_dx_narrow(&k, cases[i].ph, cases[i].pw, cases[i].h, cases[i].w, w, dy,
                            sums, dxn);
        ck_assert_msg(memcmp(dx, dxn, (size_t)nx * sizeof(float)) == 0,
                      "case %d: the two input gradients differ", i);
        memset(dxw, 0xff, (size_t)nx * sizeof(float));
        ck_assert_int_eq(mlp__corr_dx_wide(&k, cases[i].ph, cases[i].pw, cases[i].h,
                                           cases[i].w, w, dy, sums, dxw),
                         MLP__CORR_WIDE);
        ck_assert_msg(memcmp(dxw, dxn, (size_t)nx * sizeof(float)) == 0,
                      "case %d: the wide input gradient differs", i);
        for (int32_t c = 0; c < k.ci; c++)
            for (int32_t y = 0; y < cases[i].h; y++)
                for (int32_t x = 0; x < cases[i].w; x++) {
                    double want = 0.0, mag = 0.0;
                    for (int32_t f = 0; f < k.co; f++)
                        for (int32_t a = 0; a < k.kh; a++)
                            for (int32_t b = 0; b < k.kw; b++) {
                                const int32_t r = y + cases[i].ph - a,
                                              col = x + cases[i].pw - b;
                                if (r < 0 || r >= oh || col < 0 || col >= ow)
                                    continue;
                                const double v =
                                    (double)w[f * taps + (c * k.kh + a) * k.kw + b] *
                                    dy[((int64_t)f * oh + r) * ow + col];
                                want += v;
                                mag += fabs(v);
                            }
                    const double got = dx[((int64_t)c * cases[i].h + y) * cases[i].w + x];
                    ck_assert_msg(fabs(got - want) <= 1e-5 * mag + 1e-6,
                                  "case %d: dx[%d][%d][%d] = %.9g, as defined %.9g", i,
                                  (int)c, (int)y, (int)x, got, want);
                }
        free(w);
        free(dy);
        free(sums);
        free(dx);
        free(dxn);
        free(dxw);
    }
}
END_TEST

/* The sum of a plane's eight lanes for tap t (or its bias, t < 0) against
 * the sum it stands for, in double, over the n samples: within a bound
 * on float's rounding of that many terms (a tap read from the wrong place
 * misses it by the size of the sum). */
static void check_dw_lanes(const mlp__corr *k, const float *xp, const float *dy,
                           int32_t n, int32_t plane, int32_t t, const float *lane8, int c)
{
    const int64_t in_sz = (int64_t)k->ci * k->hp * k->wp,
                  out_sz = (int64_t)k->co * k->oh * k->ow;
    const int32_t ch = t < 0 ? 0 : t / (k->kh * k->kw), i = t < 0 ? 0 : t / k->kw % k->kh,
                  j = t < 0 ? 0 : t % k->kw;
    double want = 0.0, mag = 0.0, got = 0.0;
    for (int32_t s = 0; s < n; s++)
        for (int32_t r = 0; r < k->oh; r++)
            for (int32_t col = 0; col < k->ow; col++) {
                const double d =
                    dy[s * out_sz + ((int64_t)plane * k->oh + r) * k->ow + col];
                const double x =
                    t < 0
                        ? 1.0
                        : xp[s * in_sz + ((int64_t)ch * k->hp + r + i) * k->wp + col + j];
                want += d * x;
                mag += fabs(d * x);
            }
    for (int l = 0; l < 8; l++)
        got += lane8[l];
    ck_assert_msg(fabs(got - want) <= 1e-5 * mag + 1e-6,
                  "case %d, plane %d, tap %d: lanes sum to %.9g, the sum is %.9g", c,
                  (int)plane, (int)t, got, want);
}

/* mlp__corr_dw of two planes (nf 2) sums each plane's lanes as two calls
 * of one plane each do: on a CPU with AVX-512 in pairs of lanes in vectors
 * of 16, up to 12 taps a call (mlp__corr_dw_taps; mlp__corr_dw_wide on
 * any CPU), elsewhere (and in mlp__corr_dw_narrow) in vectors of 8, up to
 * 6. The same bits, weights and bias, over two groups of samples (the
 * second adding onto the first's lanes), and the single planes' lanes sum
 * to dW and db as
 * defined: 9 taps (the ConvNet's first layer, one block of a pair on
 * AVX-512), 12, and 25 and 18 in several blocks; blocks of every size from
 * 1 to 12 taps, alone and last; rows with a tail, rows of whole strips in
 * small planes, rows shorter than 8, a pair that does not start at plane
 * 0. */
START_TEST(corr_dw_pairs_same_bits)
{
    ck_assert_int_eq(mlp__corr_dw_taps(1), MLP__CORR_DW_TAPS);
    const int32_t pair_taps = mlp__corr_dw_taps(2);
    ck_assert_msg(pair_taps == MLP__CORR_DW_TAPS || pair_taps == MLP__CORR_DW_TAPS / 2,
                  "a pair's block of %d taps", (int)pair_taps);
    enum { NARROW = MLP__CORR_DW_TAPS / 2 };
    /* clang-format off */
    static const struct { int32_t ci, h, w, co, f, kh, kw, ph, pw; } cases[] = {
        {1, 28, 28, 2, 0, 3, 3, 1, 1}, /* 9 taps, rows of 28: a tail, large planes */
        {1, 11, 13, 3, 1, 3, 4, 1, 1}, /* 12 taps, planes 1 and 2 */
        {1, 12, 12, 2, 0, 5, 5, 0, 0}, /* 25 taps, rows of 8 whole */
        {2, 9, 7, 4, 2, 3, 3, 1, 1},   /* 18 taps, rows shorter than 8 */
        {1, 6, 10, 3, 1, 1, 2, 0, 0},  /* 2 taps */
        {1, 6, 10, 2, 0, 1, 3, 0, 1},  /* 3 */
        {1, 7, 9, 2, 0, 2, 2, 1, 0},   /* 4 */
        {1, 8, 11, 2, 0, 1, 5, 0, 2},  /* 5 */
        {1, 9, 12, 2, 0, 1, 7, 0, 3},  /* 7 */
        {2, 6, 9, 2, 0, 2, 2, 0, 0},   /* 8 */
        {2, 7, 10, 2, 0, 1, 5, 0, 2},  /* 10 */
        {1, 9, 16, 3, 1, 1, 11, 0, 5}, /* 11 */
        {2, 10, 19, 2, 0, 1, 11, 0, 0},/* 22: 12, then 10 */
        {1, 9, 20, 2, 0, 1, 19, 0, 9}, /* 19: 12, then 7 */
    };
    /* clang-format on */
    enum { G1 = 3, G2 = 2 };
    tu_rng rng;
    tu_rng_seed(&rng, 35);
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const mlp__corr k = corr_geom(cases[i].ci, cases[i].h, cases[i].w, cases[i].co,
                                      cases[i].kh, cases[i].kw, cases[i].ph, cases[i].pw);
        const int32_t taps = k.ci * k.kh * k.kw, f = cases[i].f;
        const int64_t in_sz = (int64_t)k.ci * k.hp * k.wp,
                      out_sz = (int64_t)k.co * k.oh * k.ow;
        float *xp = test_floats((G1 + G2) * in_sz), *dy = test_floats((G1 + G2) * out_sz);
        for (int32_t s = 0; s < G1 + G2; s++) {
            float *x = test_floats((int64_t)k.ci * cases[i].h * cases[i].w);
            tu_fill_uniform(&rng, x, (int64_t)k.ci * cases[i].h * cases[i].w, -1.0f,
                            1.0f);
            mlp__corr_pad(x, k.ci, cases[i].h, cases[i].w, cases[i].ph, cases[i].pw, k.wp,
                          xp + s * in_sz);
            free(x);
        }
        tu_fill_uniform(&rng, dy, (G1 + G2) * out_sz, -1.0f, 1.0f);
        float *one = test_floats(2 * taps * 8), *two = test_floats(2 * taps * 8),
              *three = test_floats(2 * taps * 8), *four = test_floats(2 * taps * 8);
        float bone[16], btwo[16], bthree[16], bfour[16];
        memset(four, 0xff, (size_t)(2 * taps * 8) * sizeof(float));
        memset(bfour, 0xff, sizeof bfour);
        for (int group = 0; group < 2; group++) {
            const int32_t s0 = group ? G1 : 0, g = group ? G2 : G1;
            const float *xg = xp + s0 * in_sz, *dg = dy + s0 * out_sz;
            for (int32_t q = 0; q < 2; q++)
                for (int32_t t0 = 0; t0 < taps; t0 += MLP__CORR_DW_TAPS) {
                    const int32_t tn =
                        taps - t0 < MLP__CORR_DW_TAPS ? taps - t0 : MLP__CORR_DW_TAPS;
                    mlp__corr_dw(&k, xg, dg, g, f + q, 1, t0, tn,
                                 one + (q * taps + t0) * 8, (int64_t)taps * 8,
                                 t0 == 0 ? bone + 8 * q : NULL, !group);
                }
            for (int32_t t0 = 0; t0 < taps; t0 += pair_taps) {
                const int32_t tn = taps - t0 < pair_taps ? taps - t0 : pair_taps;
                mlp__corr_dw(&k, xg, dg, g, f, 2, t0, tn, two + t0 * 8, (int64_t)taps * 8,
                             t0 == 0 ? btwo : NULL, !group);
            }
            for (int32_t t0 = 0; t0 < taps; t0 += NARROW) {
                const int32_t tn = taps - t0 < NARROW ? taps - t0 : NARROW;
                mlp__corr_dw_narrow(&k, xg, dg, g, f, 2, t0, tn, three + t0 * 8,
                                    (int64_t)taps * 8, t0 == 0 ? bthree : NULL, !group);
            }
            for (int32_t t0 = 0; t0 < taps; t0 += MLP__CORR_DW_TAPS) {
                const int32_t tn =
                    taps - t0 < MLP__CORR_DW_TAPS ? taps - t0 : MLP__CORR_DW_TAPS;
                ck_assert_int_eq(mlp__corr_dw_wide(&k, xg, dg, g, f, t0, tn,
                                                   four + t0 * 8, (int64_t)taps * 8,
                                                   t0 == 0 ? bfour : NULL, !group),
                                 MLP__CORR_WIDE);
            }
        }
        ck_assert_msg(memcmp(one, two, (size_t)(2 * taps * 8) * sizeof(float)) == 0,
                      "case %d: a pair's weight lanes differ from single planes'", i);
        ck_assert_msg(memcmp(bone, btwo, sizeof bone) == 0,
                      "case %d: a pair's bias lanes differ from single planes'", i);
        ck_assert_msg(memcmp(one, three, (size_t)(2 * taps * 8) * sizeof(float)) == 0,
                      "case %d: a narrow pair's weight lanes differ from single planes'",
                      i);
        ck_assert_msg(memcmp(bone, bthree, sizeof bone) == 0,
                      "case %d: a narrow pair's bias lanes differ from single planes'",
                      i);
        ck_assert_msg(memcmp(one, four, (size_t)(2 * taps * 8) * sizeof(float)) == 0,
                      "case %d: a wide pair's weight lanes differ from single planes'",
                      i);
        ck_assert_msg(memcmp(bone, bfour, sizeof bone) == 0,
                      "case %d: a wide pair's bias lanes differ from single planes'", i);
        for (int32_t q = 0; q < 2; q++) {
            for (int32_t t = 0; t < taps; t++)
                check_dw_lanes(&k, xp, dy, G1 + G2, f + q, t, one + (q * taps + t) * 8,
                               i);
            check_dw_lanes(&k, xp, dy, G1 + G2, f + q, -1, bone + 8 * q, i);
        }
        free(xp);
        free(dy);
        free(one);
        free(two);
        free(three);
        free(four);
    }
}
END_TEST

/* mlp__few_k_product takes 32 columns at a time in vectors of 16 on a CPU
 * with AVX-512 (mlp__few_k_product_wide, on any CPU), then 16, 8 and the
 * last 1-7 in vectors of 8, as mlp__few_k_product_narrow does throughout:
 * the same bits, for 1 to 12 terms, planes of 1 to 100 columns, with and
 * without a bias. */
START_TEST(few_k_wide_same_bits)
{
    static const int64_t widths[] = {1, 7, 8, 16, 31, 32, 33, 63, 64, 71, 100};
    tu_rng rng;
    tu_rng_seed(&rng, 32);
    for (int32_t K = 1; K <= MLP__FEW_K_MAX; K++)
        for (int i = 0; i < (int)(sizeof widths / sizeof widths[0]); i++) {
            const int64_t P = widths[i];
            const int32_t F = 3;
            float *w = test_floats((int64_t)F * K), *col = test_floats(K * P);
            float *bias = test_floats(F), *y = test_floats(F * P),
                  *yn = test_floats(F * P), *yw = test_floats(F * P);
            tu_fill_uniform(&rng, w, (int64_t)F * K, -1.0f, 1.0f);
            tu_fill_uniform(&rng, col, K * P, -1.0f, 1.0f);
            tu_fill_uniform(&rng, bias, F, -1.0f, 1.0f);
            for (int b = 0; b <= 1; b++) {
                mlp__few_k_product(w, F, K, col, P, b ? bias : NULL, y);
                mlp__few_k_product_narrow(w, F, K, col, P, b ? bias : NULL, yn);
                ck_assert_msg(memcmp(y, yn, (size_t)(F * P) * sizeof(float)) == 0,
                              "K %d, %lld columns, bias %d: the two products differ", K,
                              (long long)P, b);
                memset(yw, 0xff, (size_t)(F * P) * sizeof(float));
                ck_assert_int_eq(
                    mlp__few_k_product_wide(w, F, K, col, P, b ? bias : NULL, yw),
                    MLP__CORR_WIDE);
                ck_assert_msg(memcmp(yw, yn, (size_t)(F * P) * sizeof(float)) == 0,
                              "K %d, %lld columns, bias %d: the wide product differs", K,
                              (long long)P, b);
            }
            free(w);
            free(col);
            free(bias);
            free(y);
            free(yn);
            free(yw);
        }
}
END_TEST

/* Products per sample run the same calls at any thread count, in blocks of
 * samples fixed whatever the count, and the direct correlation sums in a
 * fixed order: y, dx and the gradients are the same bit for bit at 1 and 2
 * threads. out: y [ny], then dx [nx], then the gradients [np]. The layer
 * must take the paths `path` (PATH_*). */
static void conv_outputs_at(int threads, const conv_case *q, int path, float *out,
                            int64_t ny)
{
    const int32_t in[3] = {q->c, q->h, q->w};
    mlp_model *m = tu_model(3, in, 3);
    mlp_layer *conv = tu_add(m, make_conv_case(q));
    ck_assert_int_eq(conv_paths(conv), path);
    mlp_tensor *x = tu_tensor_batch(q->n, 3, in);
    const int64_t nx = mlp_tensor_numel(x);
    tu_rng rng;
    tu_rng_seed(&rng, 4);
    tu_fill_uniform(&rng, mlp_tensor_data(x), nx, -1.0f, 1.0f);
    const int32_t yd[3] = {q->f, q->h, q->w};
    mlp_tensor *dy = tu_tensor_batch(q->n, 3, yd);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), ny, -1.0f, 1.0f);
    TU_OK(mlp_set_num_threads(threads));
    const mlp_tensor *yt = NULL, *dxt = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &yt));
    TU_OK(mlp_tensor_copy_to(yt, out, ny));
    TU_OK(mlp_model_backward(m, dy, &dxt));
    TU_OK(mlp_tensor_copy_to(dxt, out + ny, nx));
    memcpy(out + ny + nx, mlp_layer_grads(conv),
           sizeof(float) * (size_t)mlp_layer_param_count(conv));
    TU_OK(mlp_set_num_threads(1));
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

START_TEST(conv_paths_thread_independence)
{
    if (mlp_set_num_threads(2) == MLP_STATUS_UNSUPPORTED)
        return; /* a build with one thread only */
    TU_OK(mlp_set_num_threads(1));
    /* 1->32 3x3 pad 1 on 28x28 (the ConvNet's first layer: forward on a
     * product per sample, dW by the direct correlation, corr.h), pointwise
     * (products only), two on the direct correlation forward and for dW,
     * the second over three groups of samples, and 8->24 3x3 on 10x10
     * (products per sample, forward and backward, with col2im); then
     * Winograd's path (wino.h) for all three passes: the ConvNet's 32->64
     * 3x3 on 14x14 (groups of 2 samples in 8 runs; dW's 4 runs of 10
     * samples in chunks of 1), and 9x9 planes (25 tiles: groups of 4, the
     * last of 2; dW's runs of 10 and 11 in chunks of 2, the last of 11's
     * 1) */
    enum { CASES = 7 };
    const conv_case cases[CASES] = {{1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 40},
                                    {16, 14, 14, 24, 1, 1, 1, 1, 0, 0, 1, 1, 40},
                                    {1, 28, 28, 5, 5, 5, 1, 1, 2, 2, 1, 1, 40},
                                    {2, 60, 61, 12, 3, 3, 1, 1, 1, 1, 1, 1, 40},
                                    {8, 10, 10, 24, 3, 3, 1, 1, 1, 1, 1, 1, 40},
                                    {32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 40},
                                    {16, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 42}};
    const int paths[CASES] = {
        2 | PATH_PER_SAMPLE,        PATH_PER_SAMPLE, 3 | PATH_PER_SAMPLE,
        3 | PATH_PER_SAMPLE,        PATH_PER_SAMPLE, PATH_WINO | PATH_PER_SAMPLE,
        PATH_WINO | PATH_PER_SAMPLE};
    for (int i = 0; i < CASES; i++) {
        const conv_case *q = &cases[i];
        const int64_t ny = (int64_t)q->n * q->f * q->h * q->w;
        const int64_t len = ny + (int64_t)q->n * q->c * q->h * q->w +    /* y, dx, */
                            (int64_t)q->f * q->c * q->kh * q->kw + q->f; /* dW, db */
        float *r12 = calloc(2 * (size_t)len, sizeof(float)); /* 1 thread, then 2 */
        ck_assert_ptr_nonnull(r12);
        conv_outputs_at(1, q, paths[i], r12, ny);
        /* Winograd's groups go to whichever thread is free (each in its
         * scratch slot): three runs, for more chances that the two
         * threads' groups overlap in time when the machine is busy */
        for (int run = 0; run < (paths[i] & PATH_WINO ? 3 : 1); run++) {
            conv_outputs_at(2, q, paths[i], r12 + len, ny);
            ck_assert_msg(memcmp(r12, r12 + len, sizeof(float) * (size_t)len) == 0,
                          "direct conv case %d: y, dx or gradients differ between 1 and "
                          "2 threads (run %d)",
                          i, run);
        }
        free(r12);
    }
}
END_TEST

/* Which paths layers take. The direct correlation (corr.h): stride 1, no
 * dilation, not pointwise, at most 128 taps, and at most 16 filters
 * (forward and dW) or one input channel (dW). Products per sample: one
 * input channel, pointwise, or at least 64 output positions. Winograd's
 * path (wino.h): 3x3, stride 1, no dilation, padding at most 2, at least
 * 16 channels and 16 filters. And the switch that keeps a layer off the
 * correlation and Winograd's path (level 1) and off products per sample
 * too (level 2). */
START_TEST(conv_path_choice)
{
    /* clang-format off */
    /*      C   H   W   F  kh kw sh sw ph pw dh dw  N */
    static const struct {
        conv_case q;
        int path; /* PATH_*: bit 0 correlation forward, bit 1 dW, bit 2 per
                     sample, bit 3 Winograd */
    } cases[] = {
        {{1, 28, 28, 5, 5, 5, 1, 1, 0, 0, 1, 1, 1}, 7},   /* the report's conv1 */
        {{5, 12, 12, 10, 5, 5, 1, 1, 0, 0, 1, 1, 1}, 7},  /* the report's conv2 */
        {{2, 9, 9, 16, 3, 3, 1, 1, 2, 2, 1, 1, 1}, 7},    /* 16 filters, padding 2 */
        {{14, 9, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 7},    /* 126 taps */
        {{1, 8, 8, 5, 3, 3, 1, 1, 3, 1, 1, 1, 1}, 7},     /* padding past the kernel */
        {{1, 28, 28, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 6},  /* 17 filters */
        {{1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 6},  /* the ConvNet's first layer */
        {{32, 14, 14, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 4},  /* 288 taps */
        {{8, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 4},  /* 32 filters of 8 channels */
        {{1, 28, 28, 5, 5, 5, 2, 2, 0, 0, 1, 1, 1}, 4},   /* stride 2 */
        {{1, 28, 28, 5, 5, 5, 1, 2, 0, 0, 1, 1, 1}, 4},   /* stride 1x2 */
        {{1, 28, 28, 5, 3, 3, 1, 1, 0, 0, 2, 1, 1}, 4},   /* dilation 2x1 */
        {{4, 8, 8, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1}, 4},     /* pointwise */
        {{4, 8, 8, 5, 1, 1, 1, 1, 1, 0, 1, 1, 1}, 7},     /* 1x1 with padding */
        {{32, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 12},  /* 64 output positions */
        {{32, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 8},   /* 49: groups */
        {{32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 12}, /* the ConvNet's second */
        {{16, 9, 9, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1}, 8},   /* no padding: groups */
        {{16, 9, 9, 16, 3, 3, 1, 1, 2, 2, 1, 1, 1}, 12},  /* padding 2 */
        {{15, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 4},   /* 15 channels */
        {{16, 9, 9, 15, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 4},   /* 15 filters */
        {{16, 9, 9, 16, 3, 3, 1, 1, 3, 1, 1, 1, 1}, 4},   /* padding 3 */
        {{16, 9, 9, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1}, 0},   /* stride 2: 25 positions */
        {{16, 9, 9, 16, 3, 3, 1, 1, 1, 1, 2, 2, 1}, 0},   /* dilation 2: 49 */
        {{16, 9, 9, 16, 3, 5, 1, 1, 1, 2, 1, 1, 1}, 4},   /* 3x5 */
        {{4, 7, 9, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1}, 0},     /* 1x1 stride 2 on 20 */
    };
    /* clang-format on */
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const conv_case *q = &cases[i].q;
        const int32_t in[3] = {q->c, q->h, q->w};
        for (int keep = 0; keep <= 2; keep++) {
            mlp_model *m = tu_model(3, in, 1);
            mlp_layer *conv = make_conv_case(q);
            mlp__conv2d_keep(conv, keep);
            tu_add(m, conv);
            const int want = keep == 0   ? cases[i].path
                             : keep == 1 ? cases[i].path & PATH_PER_SAMPLE
                                         : 0;
            const int got = conv_paths(conv);
            ck_assert_msg(got == want, "case %d, keep %d: paths %d, want %d", i, keep,
                          got, want);
            mlp_model_destroy(m);
        }
    }
}
END_TEST

/* in_channels 0 takes the input's channels; weights [F, C, kh, kw] then the
 * bias [F], Glorot uniform over fan-in C kh kw and fan-out F kh kw, bias 0. */
START_TEST(conv_params_layout_and_init)
{
    const int32_t in[3] = {16, 6, 6};
    mlp_model *m = tu_model(3, in, 3);
    mlp_layer *conv = tu_add(m, make_conv(0, 32, 3, 3));
    ck_assert_int_eq(mlp_layer_get_kind(conv), MLP_LAYER_CONV2D);
    ck_assert_str_eq(mlp_layer_kind_name(conv), "conv2d");
    const int64_t nw = 32 * 16 * 9;
    ck_assert_int_eq(mlp_layer_param_count(conv), nw + 32);
    ck_assert_int_eq(mlp_layer_state_count(conv), 0);
    const float *p = mlp_layer_params(conv);
    const double bound = sqrt(6.0 / (16 * 9 + 32 * 9));
    double mx = 0;
    for (int64_t i = 0; i < nw; i++)
        mx = fmax(mx, fabs(p[i]));
    ck_assert_msg(mx <= bound * (1 + 1e-6) && mx > 0.98 * bound,
                  "conv weights up to %g, Glorot bound %g", mx, bound);
    for (int i = 0; i < 32; i++)
        ck_assert_float_eq(p[nw + i], 0.0f);

    /* the bias is not a weight: weight decay on zero gradients leaves it */
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(2));
    float *pp = mlp_layer_params(conv);
    for (int i = 0; i < 32; i++)
        pp[nw + i] = 0.25f + 0.01f * (float)i;
    const int64_t total = mlp_model_param_count(m);
    float *before = malloc(sizeof(float) * (size_t)total);
    float *after = malloc(sizeof(float) * (size_t)total);
    ck_assert(before && after);
    TU_OK(mlp_model_get_params(m, before, total));
    mlp_tensor *x = tu_tensor_batch(2, 3, in);
    mlp_tensor *dy = tu_tensor(2, 2, 2);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    TU_OK(mlp_model_backward(m, dy, NULL));
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set(opt, MLP_OPTIM_LEARNING_RATE, 1.0));
    TU_OK(mlp_optimizer_set(opt, MLP_OPTIM_WEIGHT_DECAY, 0.5));
    TU_OK(mlp_optimizer_step(opt));
    TU_OK(mlp_model_get_params(m, after, total));
    for (int64_t i = 0; i < nw + 32; i++) {
        float want = i < nw ? 0.5f * before[i] : before[i];
        TU_CHECK_MSG(fabsf(after[i] - want) <= 1e-6f * fabsf(want),
                     "conv parameter %lld: %g -> %g, want %g", (long long)i,
                     (double)before[i], (double)after[i], (double)want);
    }
    mlp_optimizer_destroy(opt);
    free(before);
    free(after);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);

    /* a constant initialiser applies to the weights, not the bias */
    mlp_layer *c2 = make_conv(2, 3, 2, 2);
    TU_OK(mlp_layer_set_init(c2, MLP_INIT_CONSTANT, 0.125f));
    const int32_t in2[3] = {2, 4, 4};
    m = tu_model(3, in2, 1);
    tu_add(m, c2);
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq(mlp_layer_params(c2)[i], 0.125f);
    for (int i = 24; i < 27; i++)
        ck_assert_float_eq(mlp_layer_params(c2)[i], 0.0f);
    mlp_model_destroy(m);
}
END_TEST

/* Without a bias a conv layer's parameters are its weights alone: the next
 * layer's parameters and gradients follow them directly, and a constant
 * initialiser fills the whole slot. The forward pass adds nothing and the
 * backward pass writes nothing beyond the weight gradients: in a model
 * conv (no bias) -> conv, where a stray bias would be read from and written
 * over the second layer's weights, the output and every gradient equal
 * those of the second layer run on its own on the first one's output, and
 * the naive reference for the first. */
START_TEST(conv_params_without_bias)
{
    const conv_case q1 = {3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2}; /* -> [4,5,5] */
    const int32_t in[3] = {3, 5, 5}, mid[3] = {4, 5, 5}, outd[3] = {2, 5, 5};
    const int64_t nw1 = 4 * 3 * 9, np2 = 2 * 4 + 2;
    mlp_model *m = tu_model(3, in, 5), *m1 = tu_model(3, in, 5),
              *m2 = tu_model(3, mid, 6);
    mlp_layer *c1 = NULL;
    for (int k = 0; k < 2; k++) { /* c1 in m, its twin alone in m1 */
        mlp_layer *l = make_conv_case(&q1);
        TU_OK(mlp_layer_set_use_bias(l, 0));
        TU_OK(mlp_layer_set_init(l, MLP_INIT_CONSTANT, 0.125f));
        tu_add(k ? m1 : m, l);
        if (k == 0)
            c1 = l;
    }
    mlp_layer *c2 = tu_add(m, make_conv(4, 2, 1, 1));  /* with a bias */
    mlp_layer *e2 = tu_add(m2, make_conv(4, 2, 1, 1)); /* its twin alone */
    ck_assert_int_eq(mlp_layer_param_count(c1), nw1);
    ck_assert_int_eq(mlp_layer_param_count(c2), np2);
    ck_assert_int_eq(mlp_model_param_count(m), nw1 + np2);
    ck_assert_ptr_eq(mlp_layer_params(c2), mlp_layer_params(c1) + nw1);
    ck_assert_ptr_eq(mlp_layer_grads(c2), mlp_layer_grads(c1) + nw1);
    for (int64_t i = 0; i < nw1; i++)
        ck_assert_float_eq(mlp_layer_params(c1)[i], 0.125f);
    float *p2 = mlp_layer_params(c2);
    p2[np2 - 2] = 0.5f; /* a non-zero bias for the second layer */
    p2[np2 - 1] = -0.25f;
    memcpy(mlp_layer_params(e2), p2, sizeof(float) * (size_t)np2);

    /* c1 alone on ones: 0.125 per kernel tap inside the input, nothing else */
    mlp_tensor *x = tu_tensor_batch(2, 3, in);
    for (int64_t i = 0; i < mlp_tensor_numel(x); i++)
        mlp_tensor_data(x)[i] = 1.0f;
    const mlp_tensor *y1 = NULL;
    TU_OK(mlp_model_forward(m1, x, MLP_MODE_EVAL, &y1));
    const float *y1d = mlp_tensor_data_const(y1);
    for (int64_t i = 0; i < mlp_tensor_numel(y1); i++) {
        const int h = (int)(i / 5 % 5), w = (int)(i % 5);
        const int rows = h == 0 || h == 4 ? 2 : 3, cols = w == 0 || w == 4 ? 2 : 3;
        ck_assert_msg(y1d[i] == 0.125f * 3 * rows * cols,
                      "conv without bias: y[%lld] = %g", (long long)i, (double)y1d[i]);
    }
    mlp_tensor *y1c = tu_tensor_clone(y1);

    tu_rng rng;
    tu_rng_seed(&rng, 17);
    mlp_tensor *dy = tu_tensor_batch(2, 3, outd);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), mlp_tensor_numel(dy), -1.0f, 1.0f);
    const mlp_tensor *y = NULL, *y2 = NULL, *dx2 = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    TU_OK(mlp_model_backward(m, dy, NULL));
    TU_OK(mlp_model_forward(m2, y1c, MLP_MODE_TRAIN, &y2));
    TU_OK(mlp_model_backward(m2, dy, &dx2));
    const int64_t ny = mlp_tensor_numel(y2);
    ck_assert_int_eq(mlp_tensor_numel(y), ny);
    tu_assert_close_ff("conv (no bias) -> conv: y", mlp_tensor_data_const(y),
                       mlp_tensor_data_const(y2), ny, 1e-6, 1e-6);
    tu_assert_close_ff("conv (no bias) -> conv: second layer's gradients",
                       mlp_layer_grads(c2), mlp_layer_grads(e2), np2, 1e-6, 1e-6);
    double rdw[4 * 3 * 9], rdb[4], rdx[2 * 3 * 5 * 5];
    ref_conv_backward(&q1, mlp_tensor_data_const(x), mlp_layer_params(c1),
                      mlp_tensor_data_const(dx2), rdw, rdb, rdx);
    tu_assert_close_fd("conv (no bias) -> conv: first layer's dW", mlp_layer_grads(c1),
                       rdw, nw1, 1e-4, 1e-5 * max_abs(rdw, nw1) + 1e-6);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(y1c);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m2);
    mlp_model_destroy(m1);
    mlp_model_destroy(m);

    /* turned off, then on again: the bias is back */
    mlp_layer *c = make_conv(3, 4, 3, 3);
    TU_OK(mlp_layer_set_use_bias(c, 0));
    TU_OK(mlp_layer_set_use_bias(c, 1));
    m = tu_model(3, in, 1);
    tu_add(m, c);
    ck_assert_int_eq(mlp_layer_param_count(c), nw1 + 4);
    mlp_model_destroy(m);
}
END_TEST

/* ---- gradient checks -------------------------------------------------------------- */

static const int32_t GC_BATCHES[2] = {1, 3};

START_TEST(conv_gradcheck)
{
    /* clang-format off */
    /*      C  H  W  F kh kw sh sw ph pw dh dw  N (set below) */
    static const conv_case cases[] = {
        {1, 5, 6, 2, 3, 3, 1, 1, 0, 0, 1, 1, 0},
        {3, 5, 5, 2, 3, 2, 2, 2, 1, 1, 1, 1, 0},
        {2, 6, 7, 3, 1, 5, 1, 2, 0, 2, 1, 1, 0},
        {3, 7, 7, 2, 3, 3, 1, 1, 1, 1, 2, 2, 0},
        {1, 6, 6, 2, 2, 3, 2, 1, 1, 0, 1, 2, 0},
        {3, 6, 5, 4, 2, 2, 2, 2, 0, 0, 1, 1, 0},
    };
    /* clang-format on */
    /* _i: the batch (bit 0), the bias turned off (bit 1) */
    const int32_t batch = GC_BATCHES[_i % 2];
    const int use_bias = _i < 2;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        conv_case q = cases[k];
        q.n = batch;
        const int32_t in[3] = {q.c, q.h, q.w};
        mlp_model *m = tu_model(3, in, 40 + k);
        mlp_layer *conv = make_conv_case(&q);
        TU_OK(mlp_layer_set_use_bias(conv, use_bias));
        tu_add(m, conv);
        /* a non-zero bias, so that forward errors in it would show too */
        float *p = mlp_layer_params(conv);
        const int64_t nw = (int64_t)q.f * q.c * q.kh * q.kw;
        ck_assert_int_eq(mlp_layer_param_count(conv), nw + (use_bias ? q.f : 0));
        for (int32_t f = 0; use_bias && f < q.f; f++)
            p[nw + f] = 0.1f * (float)(f + 1);
        tu_gradcheck_cfg cfg;
        tu_gradcheck_cfg_init(&cfg);
        cfg.seed = 500 + k * 10 + (uint64_t)_i;
        tu_gradcheck_result res;
        tu_gradcheck(m, 3, in, batch, &cfg, &res);
        char desc[180];
        case_str(&q, desc, sizeof desc);
        if (!use_bias)
            strcat(desc, ", no bias");
        ck_assert_msg(res.ok, "%s: worst %.3g x tolerance at %s", desc, res.worst,
                      res.where);
        ck_assert_msg(res.max_abs_dx > 1e-3 && res.max_abs_dp > 1e-3, "%s: vacuous",
                      desc);
        mlp_model_destroy(m);
    }
}
END_TEST

/*
 * The finite-difference check on a given input `x` for piecewise-linear
 * models (convolution, relu, pooling, dense): tu_gradcheck in its kink-skip
 * mode, which skips the elements whose step crosses a kink, but in each
 * group (dx, each layer's parameters) at least `min_checked` of the
 * elements must be compared. Max pooling on inputs without near-ties must
 * skip none (min_checked 1). Tolerances are testutil's defaults; the largest
 * numerical derivative of each group must exceed 1e-3.
 */
static void kink_cfg(tu_gradcheck_cfg *cfg, const mlp_tensor *x, double eps,
                     uint64_t seed, double min_checked, const char *label)
{
    tu_gradcheck_cfg_init(cfg);
    cfg->x = mlp_tensor_data_const(x);
    cfg->eps = eps;
    cfg->seed = seed;
    cfg->kink_skip = 1;
    cfg->min_checked = min_checked;
    cfg->nonvacuous = 1e-3;
    cfg->label = label;
}

/* Distinct values 0.05 apart in a shuffled order: no two elements of a
 * window are within twice the step 0.01 of each other. */
static void fill_distinct(float *x, int64_t n, uint64_t seed)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(0.05 * ((double)i - (double)n / 2));
    for (int64_t i = n - 1; i > 0; i--) {
        int32_t j = tu_rng_below(&rng, (int32_t)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

typedef struct pool_case {
    int32_t c, h, w, kh, kw, s, p;
} pool_case;

/* clang-format off */
/*     C  H  W kh kw  s  p */
static const pool_case POOL_GRID[] = {
    {2, 6, 6, 2, 2, 2, 0}, /* the usual 2x2/2 */
    {1, 7, 7, 3, 3, 2, 1}, /* overlapping windows, padding */
    {2, 5, 6, 3, 2, 1, 1}, /* non-square, stride 1 */
    {3, 5, 7, 3, 3, 1, 0}, /* heavy overlap */
    {1, 9, 8, 4, 2, 3, 1}, /* stride 3 */
    {2, 4, 4, 4, 4, 1, 2}, /* padding = half the window */
    {1, 5, 5, 1, 1, 2, 0}, /* 1x1 window, stride 2: subsampling */
    {2, 7, 5, 2, 3, 2, 1},
    {3, 7, 5, 2, 2, 2, 0}, /* 2x2/2 on odd sizes: a last row and column in no window */
    /* 2x2/2 rows of 8 outputs or more (vectors of 8, the last ending at the
     * row's end) and of 4-7 (vectors of 4), on even and odd sizes */
    {2, 28, 28, 2, 2, 2, 0},
    {1, 9, 21, 2, 2, 2, 0},
    {2, 14, 14, 2, 2, 2, 0},
    {1, 5, 9, 2, 2, 2, 0},
    {1, 4, 16, 2, 2, 2, 0},
};
/* clang-format on */
#define N_POOL_GRID ((int)(sizeof POOL_GRID / sizeof POOL_GRID[0]))

START_TEST(maxpool_gradcheck)
{
    const int32_t batch = GC_BATCHES[_i % 2];
    const pool_case *q = &POOL_GRID[_i / 2];
    const int32_t in[3] = {q->c, q->h, q->w};
    mlp_model *m = tu_model(3, in, 1);
    tu_add(m, make_maxpool(q->kh, q->kw, q->s, q->p));
    mlp_tensor *x = tu_tensor_batch(batch, 3, in);
    fill_distinct(mlp_tensor_data(x), mlp_tensor_numel(x), 60 + (uint64_t)_i);
    char label[96];
    snprintf(label, sizeof label, "maxpool %dx%d/%d pad %d on [%d,%d,%d,%d]", q->kh,
             q->kw, q->s, q->p, batch, q->c, q->h, q->w);
    tu_gradcheck_cfg cfg;
    kink_cfg(&cfg, x, 1e-2, 70 + (uint64_t)_i, 1.0, label);
    tu_assert_gradcheck(m, 3, in, batch, &cfg);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(avgpool_gradcheck)
{
    const int32_t batch = GC_BATCHES[_i % 2];
    const pool_case *q = &POOL_GRID[_i / 2];
    const int32_t in[3] = {q->c, q->h, q->w};
    mlp_model *m = tu_model(3, in, 1);
    tu_add(m, make_avgpool(q->kh, q->kw, q->s, q->p));
    tu_gradcheck_cfg cfg;
    tu_gradcheck_cfg_init(&cfg);
    cfg.seed = 80 + (uint64_t)_i;
    tu_assert_gradcheck(m, 3, in, batch, &cfg);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(global_avgpool_gradcheck)
{
    static const int32_t shapes[3][3] = {{3, 4, 5}, {1, 1, 1}, {2, 7, 3}};
    for (int s = 0; s < 3; s++)
        for (int b = 0; b < 2; b++) {
            mlp_model *m = tu_model(3, shapes[s], 1);
            tu_add(m, make_gap());
            tu_gradcheck_cfg cfg;
            tu_gradcheck_cfg_init(&cfg);
            cfg.seed = 90 + (uint64_t)(s * 2 + b);
            tu_assert_gradcheck(m, 3, shapes[s], GC_BATCHES[b], &cfg);
            mlp_model_destroy(m);
        }
}
END_TEST

/* conv -> relu -> maxpool -> conv -> avgpool -> flatten -> dense */
START_TEST(stack_gradcheck)
{
    const int32_t in[3] = {2, 8, 8};
    mlp_model *m = tu_model(3, in, 11);
    mlp_layer *c1 = make_conv(2, 4, 3, 3);
    TU_OK(mlp_layer_set_conv2d(c1, 1, 1, 1, 1, 1, 1));
    tu_add(m, c1);
    tu_add(m, tu_relu());
    tu_add(m, make_maxpool(2, 2, 2, 0)); /* [4,4,4] */
    tu_add(m, make_conv(0, 3, 2, 2));    /* [3,3,3] */
    tu_add(m, make_avgpool(2, 2, 1, 0)); /* [3,2,2] */
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(3));
    int r;
    int32_t d[MLP_MAX_RANK];
    TU_OK(mlp_model_output_shape(m, 4, &r, d));
    ck_assert(r == 3 && d[0] == 3 && d[1] == 2 && d[2] == 2);
    ck_assert_int_eq(mlp_model_param_count(m),
                     (4 * 2 * 9 + 4) + (3 * 4 * 4 + 3) + (12 * 3 + 3));
    /* non-zero conv biases */
    for (int k = 0; k < 4; k++)
        mlp_layer_params(c1)[72 + k] = 0.05f * (float)(k - 1);
    /* All of it is piecewise linear: the checker skips the elements whose
     * step crosses a kink. Weights shared by every position make that common
     * for the first convolution (~15% of its weights at this step; over 60
     * inputs never more than 45%); smaller steps drown in float noise. */
    mlp_tensor *x = tu_tensor_batch(GC_BATCHES[_i], 3, in);
    tu_rng rng;
    tu_rng_seed(&rng, 91 + (uint64_t)_i);
    tu_fill_uniform(&rng, mlp_tensor_data(x), mlp_tensor_numel(x), -1.0f, 1.0f);
    tu_gradcheck_cfg cfg;
    kink_cfg(&cfg, x, 3e-3, 92 + (uint64_t)_i, 0.4,
             "conv-relu-maxpool-conv-avgpool-dense");
    tu_assert_gradcheck(m, 3, in, GC_BATCHES[_i], &cfg);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* ---- pooling against the naive loops ---------------------------------------------- */

static void check_pool_case(int is_max, const pool_case *q, int32_t n, int tie_heavy,
                            uint64_t seed)
{
    const int32_t in[3] = {q->c, q->h, q->w};
    const int32_t OH = out_extent(q->h, q->kh, q->s, q->p, 1);
    const int32_t OW = out_extent(q->w, q->kw, q->s, q->p, 1);
    mlp_model *m = tu_model(3, in, 1);
    mlp_layer *l = tu_add(m, is_max ? make_maxpool(q->kh, q->kw, q->s, q->p)
                                    : make_avgpool(q->kh, q->kw, q->s, q->p));
    ck_assert_int_eq(mlp_layer_get_kind(l),
                     is_max ? MLP_LAYER_MAXPOOL : MLP_LAYER_AVGPOOL);
    ck_assert_str_eq(mlp_layer_kind_name(l), is_max ? "maxpool" : "avgpool");
    ck_assert_int_eq(mlp_layer_param_count(l), 0);
    const int64_t nx = (int64_t)n * q->c * q->h * q->w, ny = (int64_t)n * q->c * OH * OW;
    mlp_tensor *x = tu_tensor_batch(n, 3, in);
    float *xd = mlp_tensor_data(x);
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    for (int64_t i = 0; i < nx; i++)
        xd[i] = tie_heavy ? (float)tu_rng_below(&rng, 3) - 4.0f /* -4..-2, all < 0 */
                          : (float)(4.0 * tu_rng_uniform(&rng) - 2.0);
    double *ref = malloc(sizeof(double) * (size_t)ny);
    int64_t *arg = malloc(sizeof(int64_t) * (size_t)ny);
    double *rdx = calloc((size_t)nx, sizeof(double));
    ck_assert(ref && arg && rdx);
    ref_pool(is_max, n * q->c, q->h, q->w, q->kh, q->kw, q->s, q->p, xd, ref, arg);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    ck_assert_int_eq(mlp_tensor_rank(y), 4);
    ck_assert_int_eq(mlp_tensor_dim(y, 1), q->c);
    ck_assert_int_eq(mlp_tensor_dim(y, 2), OH);
    ck_assert_int_eq(mlp_tensor_dim(y, 3), OW);
    char what[128];
    snprintf(what, sizeof what, "%s %dx%d/%d pad %d on [%d,%d,%d,%d]%s y",
             is_max ? "maxpool" : "avgpool", q->kh, q->kw, q->s, q->p, n, q->c, q->h,
             q->w, tie_heavy ? " (ties)" : "");
    tu_assert_close_fd(what, mlp_tensor_data_const(y), ref, ny, is_max ? 0.0 : 1e-6,
                       is_max ? 0.0 : 1e-6);
    int32_t od[3] = {q->c, OH, OW};
    mlp_tensor *dy = tu_tensor_batch(n, 3, od);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), ny, -1.0f, 1.0f);
    const float *g = mlp_tensor_data_const(dy);
    /* backward reference: max to the chosen position, average spread evenly */
    for (int32_t pl = 0; pl < n * q->c; pl++)
        for (int32_t oh = 0; oh < OH; oh++)
            for (int32_t ow = 0; ow < OW; ow++) {
                int64_t o = ((int64_t)pl * OH + oh) * OW + ow;
                if (is_max) {
                    rdx[arg[o]] += g[o];
                    continue;
                }
                int cnt = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (int32_t i = 0; i < q->kh; i++)
                        for (int32_t j = 0; j < q->kw; j++) {
                            int32_t ih = oh * q->s - q->p + i, iw = ow * q->s - q->p + j;
                            if (ih < 0 || ih >= q->h || iw < 0 || iw >= q->w)
                                continue;
                            if (pass == 0)
                                cnt++;
                            else
                                rdx[((int64_t)pl * q->h + ih) * q->w + iw] += g[o] / cnt;
                        }
            }
    const mlp_tensor *dx = NULL;
    TU_OK(mlp_model_backward(m, dy, &dx));
    snprintf(what, sizeof what, "%s %dx%d/%d pad %d on [%d,%d,%d,%d]%s dx",
             is_max ? "maxpool" : "avgpool", q->kh, q->kw, q->s, q->p, n, q->c, q->h,
             q->w, tie_heavy ? " (ties)" : "");
    tu_assert_close_fd(what, mlp_tensor_data_const(dx), rdx, nx, 1e-6, 1e-6);
    free(ref);
    free(arg);
    free(rdx);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

START_TEST(pool_reference_grid)
{
    const pool_case *q = &POOL_GRID[_i];
    check_pool_case(1, q, 3, 0, 200 + (uint64_t)_i);
    check_pool_case(1, q, 2, 1, 300 + (uint64_t)_i); /* many ties, all negative */
    check_pool_case(0, q, 3, 0, 400 + (uint64_t)_i);
    check_pool_case(0, q, 1, 1, 500 + (uint64_t)_i);
}
END_TEST

START_TEST(global_avgpool_reference)
{
    const int32_t in[3] = {3, 5, 7};
    mlp_model *m = tu_model(3, in, 1);
    mlp_layer *l = tu_add(m, make_gap());
    ck_assert_int_eq(mlp_layer_get_kind(l), MLP_LAYER_AVGPOOL);
    int r;
    int32_t d[MLP_MAX_RANK];
    TU_OK(mlp_model_output_shape(m, -1, &r, d));
    ck_assert_int_eq(r, 1);
    ck_assert_int_eq(d[0], 3);
    mlp_tensor *x = tu_tensor_batch(4, 3, in);
    tu_rng rng;
    tu_rng_seed(&rng, 3);
    tu_fill_uniform(&rng, mlp_tensor_data(x), 4 * 105, -1.0f, 3.0f);
    double ref[12];
    for (int pl = 0; pl < 12; pl++) {
        double s = 0;
        for (int i = 0; i < 35; i++)
            s += mlp_tensor_data_const(x)[pl * 35 + i];
        ref[pl] = s / 35.0;
    }
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_int_eq(mlp_tensor_rank(y), 2);
    ck_assert_int_eq(mlp_tensor_dim(y, 1), 3);
    tu_assert_close_fd("global average y", mlp_tensor_data_const(y), ref, 12, 1e-6, 1e-6);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    mlp_tensor *dy = tu_tensor(2, 4, 3);
    for (int i = 0; i < 12; i++)
        mlp_tensor_data(dy)[i] = (float)(i - 5);
    const mlp_tensor *dx = NULL;
    TU_OK(mlp_model_backward(m, dy, &dx));
    for (int pl = 0; pl < 12; pl++)
        for (int i = 0; i < 35; i++)
            ck_assert_float_eq_tol(mlp_tensor_data_const(dx)[pl * 35 + i],
                                   (float)(pl - 5) / 35.0f, 1e-6f);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* ---- max pooling ties and padding, average pooling's count ------------------------ */

/* One plane through maxpool: x [1,1,h,w] -> dx for the given dy. */
static void maxpool_plane(int32_t h, int32_t w, int32_t kh, int32_t kw, int32_t s,
                          int32_t p, const float *x, const float *dy, float *y, float *dx)
{
    const int32_t in[3] = {1, h, w};
    mlp_model *m = tu_model(3, in, 1);
    tu_add(m, make_maxpool(kh, kw, s, p));
    const int32_t OH = out_extent(h, kh, s, p, 1), OW = out_extent(w, kw, s, p, 1);
    mlp_tensor *xt = tu_tensor(4, 1, 1, h, w), *dyt = tu_tensor(4, 1, 1, OH, OW);
    TU_OK(mlp_tensor_copy_from(xt, x, h * w));
    TU_OK(mlp_tensor_copy_from(dyt, dy, OH * OW));
    const mlp_tensor *yt = NULL, *dxt = NULL;
    TU_OK(mlp_model_forward(m, xt, MLP_MODE_TRAIN, &yt));
    if (y)
        TU_OK(mlp_tensor_copy_to(yt, y, OH * OW));
    TU_OK(mlp_model_backward(m, dyt, &dxt));
    TU_OK(mlp_tensor_copy_to(dxt, dx, h * w));
    mlp_tensor_destroy(xt);
    mlp_tensor_destroy(dyt);
    mlp_model_destroy(m);
}

static void expect_plane(const char *what, const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s: element %d (row-major) is %g, want %g",
                      what, i, (double)got[i], (double)want[i]);
}

START_TEST(maxpool_ties_go_first)
{
    float x[16], dx[16], y[9];
    /* all equal, 2x2 stride 2: each window's gradient to its top-left */
    for (int i = 0; i < 16; i++)
        x[i] = 1.0f;
    const float dy4[4] = {1, 2, 3, 4};
    maxpool_plane(4, 4, 2, 2, 2, 0, x, dy4, y, dx);
    const float want1[16] = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    expect_plane("4x4 of ones, 2x2/2", dx, want1, 16);

    /* overlapping windows 2x2 stride 1 over equal values: to each window's
     * own top-left, i.e. dx[i][j] = dy[i][j] for the 2x3 output */
    for (int i = 0; i < 12; i++)
        x[i] = 5.0f;
    const float dy6[6] = {1, 2, 4, 8, 16, 32};
    maxpool_plane(3, 4, 2, 2, 1, 0, x, dy6, y, dx);
    const float want2[12] = {1, 2, 4, 0, 8, 16, 32, 0, 0, 0, 0, 0};
    expect_plane("3x4 of fives, 2x2/1", dx, want2, 12);

    /* partial ties: the first maximum in row-major order wins */
    const float xa[4] = {1, 3, 3, 2};     /* -> (0,1) */
    const float xb[4] = {0, 1, 2, 2};     /* -> (1,0) */
    const float xc[4] = {7, 7, 7, 7};     /* -> (0,0) */
    const float xd[4] = {-1, -3, -1, -1}; /* -> (0,0) */
    const float g[1] = {1.5f};
    const float *xs[4] = {xa, xb, xc, xd};
    const int at[4] = {1, 2, 0, 0};
    for (int k = 0; k < 4; k++) {
        float w[4] = {0, 0, 0, 0}, d[4];
        w[at[k]] = 1.5f;
        maxpool_plane(2, 2, 2, 2, 1, 0, xs[k], g, y, d);
        char what[48];
        snprintf(what, sizeof what, "2x2 tie case %d", k);
        expect_plane(what, d, w, 4);
        ck_assert_float_eq(y[0], xs[k][at[k]]);
    }

    /* with padding 1, 3x3 stride 1 over equal values: the first in-range
     * position of each window (padding comes first but cannot win) */
    for (int i = 0; i < 9; i++)
        x[i] = -2.0f;
    float dy9[9];
    for (int i = 0; i < 9; i++)
        dy9[i] = (float)(1 << i);
    maxpool_plane(3, 3, 3, 3, 1, 1, x, dy9, y, dx);
    /* windows with top-left in-range (r0, c0) = (max(oh-1,0), max(ow-1,0)) */
    float want3[9] = {0};
    for (int oh = 0; oh < 3; oh++)
        for (int ow = 0; ow < 3; ow++) {
            int r0 = oh > 0 ? oh - 1 : 0, c0 = ow > 0 ? ow - 1 : 0;
            want3[r0 * 3 + c0] += dy9[oh * 3 + ow];
        }
    expect_plane("3x3 of -2, 3x3/1 pad 1", dx, want3, 9);
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(y[i], -2.0f);

    /* deterministic: again, and in a batch, the same bits */
    float dx2[9];
    maxpool_plane(3, 3, 3, 3, 1, 1, x, dy9, NULL, dx2);
    ck_assert(memcmp(dx, dx2, sizeof dx2) == 0);
}
END_TEST

/* The pooling layers' backward passes write every element of dx, the ones
 * no window covers included (the last row and column of an odd size under
 * a 2x2/2 window): called on a dx full of NaN, they leave none. */
START_TEST(pool_backward_writes_all_of_dx)
{
    static const pool_case cases[] = {
        {2, 7, 5, 2, 2, 2, 0}, {1, 6, 6, 2, 2, 2, 0}, {2, 5, 6, 3, 3, 2, 1}};
    for (int is_max = 0; is_max < 2; is_max++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const pool_case *q = &cases[c];
            const int32_t in[3] = {q->c, q->h, q->w}, n = 2;
            const int32_t OH = out_extent(q->h, q->kh, q->s, q->p, 1);
            const int32_t OW = out_extent(q->w, q->kw, q->s, q->p, 1);
            mlp_model *m = tu_model(3, in, 1);
            mlp_layer *l = tu_add(m, is_max ? make_maxpool(q->kh, q->kw, q->s, q->p)
                                            : make_avgpool(q->kh, q->kw, q->s, q->p));
            const int64_t nx = (int64_t)n * q->c * q->h * q->w,
                          ny = (int64_t)n * q->c * OH * OW;
            mlp_tensor *x = tu_tensor_batch(n, 3, in);
            tu_rng rng;
            tu_rng_seed(&rng, 90 + c);
            tu_fill_uniform(&rng, mlp_tensor_data(x), nx, -1.0f, 1.0f);
            const mlp_tensor *y = NULL;
            TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y)); /* the layer's scratch */
            float *dy = malloc(sizeof(float) * (size_t)ny);
            float *dx = malloc(sizeof(float) * (size_t)nx);
            ck_assert(dy && dx);
            tu_fill_uniform(&rng, dy, ny, -1.0f, 1.0f);
            for (int64_t i = 0; i < nx; i++)
                dx[i] = NAN;
            TU_OK(l->ops->backward(l, mlp_tensor_data_const(x), mlp_tensor_data_const(y),
                                   dy, dx, n));
            for (int64_t i = 0; i < nx; i++)
                ck_assert_msg(!isnan(dx[i]), "%s %dx%d/%d on %dx%d: dx[%lld] not written",
                              is_max ? "maxpool" : "avgpool", q->kh, q->kw, q->s, q->h,
                              q->w, (long long)i);
            free(dy);
            free(dx);
            mlp_tensor_destroy(x);
            mlp_model_destroy(m);
        }
}
END_TEST

START_TEST(maxpool_padding_never_wins)
{
    /* all negative: padding (read as 0 by a naive zero-padded max) must
     * never be the answer */
    float x[25], dx[25], y[64], dy[64];
    for (int i = 0; i < 25; i++)
        x[i] = -1.0f - 0.1f * (float)((i * 7) % 25);
    for (int i = 0; i < 64; i++)
        dy[i] = 1.0f;
    static const struct {
        int32_t k, s, p;
    } cfgs[] = {{3, 1, 1}, {2, 2, 1}, {2, 1, 1}, {4, 3, 2}};
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        const int32_t OH = out_extent(5, cfgs[c].k, cfgs[c].s, cfgs[c].p, 1);
        maxpool_plane(5, 5, cfgs[c].k, cfgs[c].k, cfgs[c].s, cfgs[c].p, x, dy, y, dx);
        ck_assert_int_le(OH * OH, 64);
        double ref[64];
        ref_pool(1, 1, 5, 5, cfgs[c].k, cfgs[c].k, cfgs[c].s, cfgs[c].p, x, ref, NULL);
        for (int o = 0; o < OH * OH; o++) {
            ck_assert_msg(y[o] < 0.0f && y[o] == (float)ref[o],
                          "window %dx%d/%d pad %d, output %d: %g, want %g", cfgs[c].k,
                          cfgs[c].k, cfgs[c].s, cfgs[c].p, o, (double)y[o], ref[o]);
        }
        /* every output's gradient lands on a real input */
        double sum = 0;
        for (int i = 0; i < 25; i++)
            sum += dx[i];
        ck_assert_msg(sum == OH * OH, "gradient mass %g, want %d", sum, OH * OH);
    }
}
END_TEST

/* ---- max pooling with NaN ---------------------------------------------------------- */

/* A window holding a NaN gives NaN, and backward sends its gradient to the
 * window's last NaN (tu_ref_maxpool: PyTorch's MaxPool2d), on each path of
 * the layer: the general loop (any window but 2x2/2 unpadded), and for the
 * 2x2/2 window the scalar loop (rows of 1-3 outputs), vectors of 4 (rows
 * of 4-7) and vectors of 8 (rows of 8 or more, the last outputs by a
 * vector overlapping the one before; backward by vectors too), the last
 * two on a CPU with AVX2. For every window of the last plane of the batch,
 * a NaN at each of its positions and at each pair of them; every output
 * and input gradient is the reference's, bit for bit: NaN where a window
 * holds a NaN, the values without NaN elsewhere. */
START_TEST(maxpool_nan_every_position)
{
    /* clang-format off */
    static const pool_case cases[] = {
        /* C  H   W kh kw  s  p */
        {1, 4,  6, 2, 2, 2, 0}, /* rows of 3 outputs: the scalar loop */
        {1, 3, 11, 2, 2, 2, 0}, /* rows of 5: vectors of 4; an odd row and column */
        {1, 2, 16, 2, 2, 2, 0}, /* rows of 8: a vector of 8 */
        {2, 5, 22, 2, 2, 2, 0}, /* rows of 11: vectors of 8, overlapping; 2 planes */
        {1, 5,  5, 3, 3, 1, 1}, /* the general loop: overlapping, padded */
        {1, 5,  5, 2, 2, 2, 1}, /* 2x2/2 padded: the general loop */
        {1, 3,  4, 2, 2, 1, 0}, /* 2x2/1: the general loop, overlapping */
    };
    /* clang-format on */
    char report[2048] = "";
    int failed = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const pool_case *q = &cases[c];
        const int32_t in[3] = {q->c, q->h, q->w}, n = 2;
        const int32_t OH = out_extent(q->h, q->kh, q->s, q->p, 1),
                      OW = out_extent(q->w, q->kw, q->s, q->p, 1);
        const int64_t plane = (int64_t)q->h * q->w, planes = (int64_t)n * q->c,
                      nx = planes * plane, ny = planes * OH * OW;
        mlp_model *m = tu_model(3, in, 1);
        tu_add(m, make_maxpool(q->kh, q->kw, q->s, q->p));
        mlp_tensor *x = tu_tensor_batch(n, 3, in), *dyt = tu_tensor(4, n, q->c, OH, OW);
        float *clean = malloc(sizeof(float) * (size_t)nx);
        float *want = malloc(sizeof(float) * (size_t)ny);
        float *dx_want = malloc(sizeof(float) * (size_t)nx);
        int64_t *arg = malloc(sizeof(int64_t) * (size_t)ny);
        ck_assert(clean && want && dx_want && arg);
        tu_rng rng;
        tu_rng_seed(&rng, 700 + c);
        tu_fill_uniform(&rng, clean, nx, -1.0f, 1.0f);
        tu_fill_uniform(&rng, mlp_tensor_data(dyt), ny, -1.0f, 1.0f);
        /* the last plane: after the others in the layer's passes */
        const int64_t last = (planes - 1) * plane;
        long runs = 0, bad_y = 0, bad_dx = 0;
        char first[160] = "";
        for (int32_t oh = 0; oh < OH; oh++)
            for (int32_t ow = 0; ow < OW; ow++) {
                int64_t at[16];
                const int k =
                    tu_window_positions(q->h, q->w, q->kh, q->kw, q->s, q->p, oh, ow, at);
                for (int i = 0; i < k; i++)
                    for (int j = i; j < k; j++) {
                        float *xv = mlp_tensor_data(x);
                        memcpy(xv, clean, sizeof(float) * (size_t)nx);
                        xv[last + at[i]] = NAN;
                        xv[last + at[j]] = NAN;
                        tu_ref_maxpool((int32_t)planes, q->h, q->w, q->kh, q->kw, q->s,
                                       q->p, xv, want, arg);
                        tu_ref_unpool(arg, mlp_tensor_data(dyt), ny, dx_want, nx);
                        const mlp_tensor *y = NULL, *dx = NULL;
                        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
                        TU_OK(mlp_model_backward(m, dyt, &dx));
                        int64_t fy, fdx;
                        const int64_t by =
                            tu_count_unlike(mlp_tensor_data_const(y), want, ny, &fy);
                        const int64_t bdx =
                            tu_count_unlike(mlp_tensor_data_const(dx), dx_want, nx, &fdx);
                        runs++;
                        if ((by || bdx) && !bad_y && !bad_dx)
                            snprintf(first, sizeof first,
                                     "NaN at %lld and %lld: y[%lld] = %g (want %g), "
                                     "dx[%lld] = %g (want %g)",
                                     (long long)at[i], (long long)at[j], (long long)fy,
                                     fy < 0 ? 0.0 : (double)mlp_tensor_data_const(y)[fy],
                                     fy < 0 ? 0.0 : (double)want[fy], (long long)fdx,
                                     fdx < 0 ? 0.0
                                             : (double)mlp_tensor_data_const(dx)[fdx],
                                     fdx < 0 ? 0.0 : (double)dx_want[fdx]);
                        bad_y += by != 0;
                        bad_dx += bdx != 0;
                    }
            }
        if (bad_y || bad_dx) {
            const size_t used = strlen(report);
            snprintf(
                report + used, sizeof report - used,
                "\n  %dx%d/%d pad %d on [%d,%d,%d]: %ld of %ld placements give other "
                "outputs, %ld other input gradients; first: %s",
                q->kh, q->kw, q->s, q->p, q->c, q->h, q->w, bad_y, runs, bad_dx, first);
            failed++;
        }
        free(clean);
        free(want);
        free(dx_want);
        free(arg);
        mlp_tensor_destroy(x);
        mlp_tensor_destroy(dyt);
        mlp_model_destroy(m);
    }
    ck_assert_msg(failed == 0, "maxpool with NaN, %d window cases fail:%s", failed,
                  report);
}
END_TEST

START_TEST(avgpool_excludes_padding)
{
    /* x = 1..9 on a 3x3 plane, 3x3 window, stride 1, padding 1 */
    const int32_t in[3] = {1, 3, 3};
    mlp_model *m = tu_model(3, in, 1);
    tu_add(m, make_avgpool(3, 3, 1, 1));
    mlp_tensor *x = tu_tensor(4, 1, 1, 3, 3);
    for (int i = 0; i < 9; i++)
        mlp_tensor_data(x)[i] = (float)(i + 1);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    const float *yd = mlp_tensor_data_const(y);
    /* corner: (1+2+4+5)/4 = 3, not 12/9; edge (0,1): 21/6 = 3.5; centre 5 */
    ck_assert_float_eq_tol(yd[0], 3.0f, 1e-6f);
    ck_assert_float_eq_tol(yd[1], 3.5f, 1e-6f);
    ck_assert_float_eq_tol(yd[4], 5.0f, 1e-6f);
    ck_assert_float_eq_tol(yd[8], (5.0f + 6 + 8 + 9) / 4.0f, 1e-6f);
    /* backward: the corner output's gradient splits four ways */
    mlp_tensor *dy = tu_tensor(4, 1, 1, 3, 3);
    mlp_tensor_data(dy)[0] = 1.0f;
    const mlp_tensor *dx = NULL;
    TU_OK(mlp_model_backward(m, dy, &dx));
    const float want[9] = {0.25f, 0.25f, 0, 0.25f, 0.25f, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq_tol(mlp_tensor_data_const(dx)[i], want[i], 1e-7f);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* ---- output shapes ---------------------------------------------------------------- */

/*
 * Strides, padding and dilation near INT32_MAX, on small inputs whose
 * outputs are small: the kernel offsets' input positions pass 2^31 (in the
 * column matrix's spans they wrapped, and a copy wrote past the matrix).
 * Values by hand, forward and backward.
 */
START_TEST(conv_extreme_geometry)
{
    /* [1,3,1], a 3x1 kernel padded by 2^31 - 2 rows, dilation 2^31 - 1:
     * one output, whose taps read row -(2^31 - 2) (padding), row 1 and row
     * 2^31 (past the input): y = b + w1 x1 */
    {
        mlp_model *m = tu_model(3, (const int32_t[]){1, 3, 1}, 5);
        mlp_layer *l = NULL;
        TU_OK(mlp_layer_create_conv2d(&l, 1, 1, 3, 1));
        TU_OK(mlp_layer_set_conv2d(l, 1, 1, INT32_MAX - 1, 0, INT32_MAX, 1));
        tu_add(m, l);
        const float p[4] = {0.5f, -2.0f, 3.0f, 0.25f}; /* w0 w1 w2 b */
        memcpy(mlp_layer_params(l), p, sizeof p);
        mlp_tensor *x = tu_tensor_batch(1, 3, (const int32_t[]){1, 3, 1});
        float *xd = mlp_tensor_data(x);
        xd[0] = 7.0f, xd[1] = 1.5f, xd[2] = -4.0f;
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
        ck_assert_int_eq(mlp_tensor_numel(y), 1);
        ck_assert_float_eq(mlp_tensor_data_const(y)[0], 0.25f - 2.0f * 1.5f);
        mlp_tensor *dy = tu_tensor_batch(1, 3, (const int32_t[]){1, 1, 1});
        mlp_tensor_data(dy)[0] = 2.0f;
        const mlp_tensor *dx = NULL;
        TU_OK(mlp_model_backward(m, dy, &dx));
        const float *g = mlp_layer_grads(l), *gx = mlp_tensor_data_const(dx);
        const float want_g[4] = {0.0f, 3.0f, 0.0f, 2.0f},
                    want_dx[3] = {0.0f, -4.0f, 0.0f};
        for (int k = 0; k < 4; k++)
            ck_assert_msg(g[k] == want_g[k], "dilated: gradient %d is %g, not %g", k,
                          (double)g[k], (double)want_g[k]);
        for (int k = 0; k < 3; k++)
            ck_assert_msg(gx[k] == want_dx[k], "dilated: dx %d is %g, not %g", k,
                          (double)gx[k], (double)want_dx[k]);
        mlp_tensor_destroy(dy);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
    /* [1,3,3], 3x3, stride and padding 2^31 - 1: a 3x3 output whose middle
     * window is the whole input and whose others read padding only */
    {
        mlp_model *m = tu_model(3, (const int32_t[]){1, 3, 3}, 5);
        mlp_layer *l = NULL;
        TU_OK(mlp_layer_create_conv2d(&l, 1, 1, 3, 3));
        TU_OK(mlp_layer_set_conv2d(l, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, 1, 1));
        tu_add(m, l);
        float p[10];
        for (int k = 0; k < 9; k++)
            p[k] = (float)(k - 4);
        p[9] = 0.5f;
        memcpy(mlp_layer_params(l), p, sizeof p);
        mlp_tensor *x = tu_tensor_batch(1, 3, (const int32_t[]){1, 3, 3});
        float *xd = mlp_tensor_data(x);
        float dot = 0.0f;
        for (int k = 0; k < 9; k++) {
            xd[k] = (float)(k + 1) * 0.5f;
            dot += p[k] * xd[k];
        }
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
        ck_assert_int_eq(mlp_tensor_numel(y), 9);
        for (int k = 0; k < 9; k++)
            ck_assert_float_eq_tol(mlp_tensor_data_const(y)[k],
                                   k == 4 ? dot + 0.5f : 0.5f, 1e-5f);
        mlp_tensor *dy = tu_tensor_batch(1, 3, (const int32_t[]){1, 3, 3});
        for (int k = 0; k < 9; k++)
            mlp_tensor_data(dy)[k] = k == 4 ? 2.0f : 1.0f;
        const mlp_tensor *dx = NULL;
        TU_OK(mlp_model_backward(m, dy, &dx));
        const float *g = mlp_layer_grads(l), *gx = mlp_tensor_data_const(dx);
        for (int k = 0; k < 9; k++) {
            ck_assert_float_eq_tol(g[k], 2.0f * xd[k], 1e-6f);
            ck_assert_float_eq_tol(gx[k], 2.0f * p[k], 1e-6f);
        }
        ck_assert_float_eq_tol(g[9], 10.0f, 1e-6f); /* 8 x 1 + 2 */
        mlp_tensor_destroy(dy);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
}
END_TEST

START_TEST(conv_output_shapes)
{
    static const int32_t Hs[] = {5, 8}, Ws[] = {7, 4};
    static const int32_t khs[] = {1, 2, 3, 5}, kws[] = {1, 3, 4};
    static const int32_t ss[4][2] = {{1, 1}, {2, 1}, {1, 3}, {2, 2}};
    static const int32_t ps[4][2] = {{0, 0}, {1, 0}, {0, 2}, {1, 1}};
    static const int32_t ds[3][2] = {{1, 1}, {2, 1}, {1, 2}};
    const long live = mlp__alloc_live();
    int fits = 0, refused = 0, ran = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 3; c++)
                for (int s = 0; s < 4; s++)
                    for (int p = 0; p < 4; p++)
                        for (int d = 0; d < 3; d++) {
                            const int32_t in[3] = {2, Hs[a], Ws[a]};
                            const int32_t OH =
                                out_extent(Hs[a], khs[b], ss[s][0], ps[p][0], ds[d][0]);
                            const int32_t OW =
                                out_extent(Ws[a], kws[c], ss[s][1], ps[p][1], ds[d][1]);
                            mlp_model *m = tu_model(3, in, 1);
                            mlp_layer *l = make_conv(2, 3, khs[b], kws[c]);
                            TU_OK(mlp_layer_set_conv2d(l, ss[s][0], ss[s][1], ps[p][0],
                                                       ps[p][1], ds[d][0], ds[d][1]));
                            mlp_status st = mlp_model_add(m, l);
                            if (OH < 1 || OW < 1) {
                                ck_assert_msg(
                                    st == MLP_STATUS_SHAPE_MISMATCH,
                                    "[2,%d,%d] k %dx%d s %dx%d p %dx%d d %dx%d: %s, "
                                    "but the kernel does not fit",
                                    Hs[a], Ws[a], khs[b], kws[c], ss[s][0], ss[s][1],
                                    ps[p][0], ps[p][1], ds[d][0], ds[d][1],
                                    mlp_status_str(st));
                                refused++;
                            } else {
                                ck_assert_msg(st == MLP_STATUS_OK, "add: %s",
                                              mlp_last_error());
                                int r = 0;
                                int32_t od[MLP_MAX_RANK] = {0};
                                TU_OK(mlp_model_output_shape(m, 0, &r, od));
                                ck_assert_msg(
                                    r == 3 && od[0] == 3 && od[1] == OH && od[2] == OW,
                                    "[2,%d,%d] k %dx%d s %dx%d p %dx%d d %dx%d: "
                                    "got [%d,%d,%d], want [3,%d,%d]",
                                    Hs[a], Ws[a], khs[b], kws[c], ss[s][0], ss[s][1],
                                    ps[p][0], ps[p][1], ds[d][0], ds[d][1], od[0], od[1],
                                    od[2], OH, OW);
                                fits++;
                                if ((fits % 13) == 0) { /* and a pass agrees */
                                    mlp_tensor *x = tu_tensor_batch(2, 3, in);
                                    const mlp_tensor *y = NULL;
                                    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
                                    ck_assert_int_eq(mlp_tensor_dim(y, 2), OH);
                                    ck_assert_int_eq(mlp_tensor_dim(y, 3), OW);
                                    mlp_tensor_destroy(x);
                                    ran++;
                                }
                            }
                            mlp_model_destroy(m);
                        }
    ck_assert(fits > 100 && refused > 20 && ran > 5);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(pool_output_shapes)
{
    static const int32_t sizes[3][2] = {{4, 4}, {5, 7}, {7, 3}};
    int fits = 0, refused = 0;
    for (int z = 0; z < 3; z++)
        for (int32_t kh = 1; kh <= 5; kh++)
            for (int32_t kw = 1; kw <= 4; kw++)
                for (int32_t s = 1; s <= 3; s++)
                    for (int32_t p = 0; 2 * p <= kh && 2 * p <= kw; p++)
                        for (int is_max = 0; is_max < 2; is_max++) {
                            const int32_t in[3] = {3, sizes[z][0], sizes[z][1]};
                            /* (H + 2 pad - k) / stride + 1 */
                            const int32_t OH =
                                in[1] + 2 * p >= kh ? (in[1] + 2 * p - kh) / s + 1 : 0;
                            const int32_t OW =
                                in[2] + 2 * p >= kw ? (in[2] + 2 * p - kw) / s + 1 : 0;
                            mlp_model *m = tu_model(3, in, 1);
                            mlp_layer *l = is_max ? make_maxpool(kh, kw, s, p)
                                                  : make_avgpool(kh, kw, s, p);
                            mlp_status st = mlp_model_add(m, l);
                            if (OH < 1 || OW < 1) {
                                ck_assert_msg(st == MLP_STATUS_SHAPE_MISMATCH,
                                              "pool %dx%d/%d pad %d on [3,%d,%d]: %s", kh,
                                              kw, s, p, in[1], in[2], mlp_status_str(st));
                                refused++;
                            } else {
                                ck_assert_msg(st == MLP_STATUS_OK, "%s",
                                              mlp_last_error());
                                int r = 0;
                                int32_t od[MLP_MAX_RANK] = {0};
                                TU_OK(mlp_model_output_shape(m, -1, &r, od));
                                ck_assert_msg(
                                    r == 3 && od[0] == 3 && od[1] == OH && od[2] == OW,
                                    "pool %dx%d/%d pad %d on [3,%d,%d]: [%d,%d,%d], "
                                    "want [3,%d,%d]",
                                    kh, kw, s, p, in[1], in[2], od[0], od[1], od[2], OH,
                                    OW);
                                fits++;
                            }
                            mlp_model_destroy(m);
                        }
    ck_assert(fits > 100 && refused > 10);
    /* global average pooling: [C,H,W] -> [C] */
    const int32_t in[3] = {6, 5, 3};
    mlp_model *m = tu_model(3, in, 1);
    tu_add(m, make_gap());
    tu_add(m, tu_dense(2));
    int r;
    int32_t od[MLP_MAX_RANK];
    TU_OK(mlp_model_output_shape(m, 0, &r, od));
    ck_assert(r == 1 && od[0] == 6);
    ck_assert_int_eq(mlp_model_param_count(m), 6 * 2 + 2);
    mlp_model_destroy(m);
}
END_TEST

/* ---- misuse ----------------------------------------------------------------------- */

START_TEST(conv_misuse)
{
    const long live = mlp__alloc_live();
    mlp_layer *l;
    /* create */
    TU_FAIL(mlp_layer_create_conv2d(NULL, 1, 2, 3, 3), MLP_STATUS_INVALID_ARG);
    static const int32_t bad[][4] = {{-1, 2, 3, 3}, {1, 0, 3, 3},  {1, 2, 0, 3},
                                     {1, 2, 3, 0},  {1, -2, 3, 3}, {1, 2, -3, 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l = SENTINEL;
        mlp_status st =
            mlp_layer_create_conv2d(&l, bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "conv2d(%d, %d, %d, %d) -> %s",
                      bad[i][0], bad[i][1], bad[i][2], bad[i][3], mlp_status_str(st));
        ck_assert_ptr_null(l);
    }
    /* set_conv2d */
    mlp_layer *c = make_conv(1, 2, 3, 3);
    TU_FAIL(mlp_layer_set_conv2d(NULL, 1, 1, 0, 0, 1, 1), MLP_STATUS_INVALID_ARG);
    static const int32_t badset[][6] = {{0, 1, 0, 0, 1, 1},  {1, 0, 0, 0, 1, 1},
                                        {-1, 1, 0, 0, 1, 1}, {1, 1, -1, 0, 1, 1},
                                        {1, 1, 0, -1, 1, 1}, {1, 1, 0, 0, 0, 1},
                                        {1, 1, 0, 0, 1, 0},  {1, 1, 0, 0, -2, 1}};
    for (size_t i = 0; i < sizeof badset / sizeof badset[0]; i++) {
        const int32_t *v = badset[i];
        mlp_status st = mlp_layer_set_conv2d(c, v[0], v[1], v[2], v[3], v[4], v[5]);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG,
                      "set_conv2d(stride %dx%d, pad %dx%d, dilation %dx%d) -> %s", v[0],
                      v[1], v[2], v[3], v[4], v[5], mlp_status_str(st));
        ck_assert_str_ne(mlp_last_error(), "");
    }
    mlp_layer *d = tu_dense(3), *mp = make_maxpool(2, 2, 2, 0);
    TU_FAIL(mlp_layer_set_conv2d(d, 1, 1, 0, 0, 1, 1), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_conv2d(mp, 1, 1, 0, 0, 1, 1), MLP_STATUS_INVALID_ARG);
    mlp_layer_destroy(d);
    mlp_layer_destroy(mp);
    /* refused settings change nothing: a 3x3 kernel on [1,3,3] gives 1x1 */
    const int32_t in133[3] = {1, 3, 3};
    mlp_model *m = tu_model(3, in133, 1);
    tu_add(m, c);
    int r;
    int32_t od[MLP_MAX_RANK];
    TU_OK(mlp_model_output_shape(m, -1, &r, od));
    ck_assert(r == 3 && od[0] == 2 && od[1] == 1 && od[2] == 1);
    /* once added: BAD_STATE, and nothing changes */
    TU_FAIL(mlp_layer_set_conv2d(c, 1, 1, 1, 1, 1, 1), MLP_STATUS_BAD_STATE);
    TU_OK(mlp_model_output_shape(m, -1, &r, od));
    ck_assert(od[1] == 1 && od[2] == 1);
    mlp_model_destroy(m);

    /* kernel larger than the padded input: SHAPE_MISMATCH naming the shapes */
    m = tu_model(3, in133, 1);
    TU_FAIL(mlp_model_add(m, make_conv(1, 2, 5, 5)), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "[1,3,3]") && strstr(mlp_last_error(), "5x5"),
                  "message does not name the shapes: %s", mlp_last_error());
    ck_assert_int_eq(mlp_model_layer_count(m), 0);
    l = make_conv(1, 2, 5, 5);
    TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1)); /* padded to 5x5: fits */
    tu_add(m, l);
    mlp_model_destroy(m);
    m = tu_model(3, in133, 1);
    l = make_conv(1, 2, 2, 2);
    TU_OK(mlp_layer_set_conv2d(l, 1, 1, 0, 0, 3, 1)); /* dilated span 4 > 3 */
    TU_FAIL(mlp_model_add(m, l), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "[1,3,3]"), "message: %s", mlp_last_error());
    l = make_conv(1, 2, 1, 4); /* only the width does not fit */
    TU_FAIL(mlp_model_add(m, l), MLP_STATUS_SHAPE_MISMATCH);
    mlp_model_destroy(m);

    /* channels */
    m = tu_model(3, in133, 1);
    TU_FAIL_MSG(mlp_model_add(m, make_conv(3, 2, 3, 3)), MLP_STATUS_SHAPE_MISMATCH,
                "conv2d expects 3 input channels but the input [1,3,3] has 1");
    tu_add(m, make_conv(1, 2, 2, 2)); /* -> [2,2,2] */
    TU_FAIL(mlp_model_add(m, make_conv(1, 2, 1, 1)), MLP_STATUS_SHAPE_MISMATCH);
    tu_add(m, make_conv(2, 2, 1, 1));
    tu_add(m, make_conv(0, 5, 2, 2)); /* any channel count */
    TU_OK(mlp_model_output_shape(m, -1, &r, od));
    ck_assert(r == 3 && od[0] == 5 && od[1] == 1 && od[2] == 1);
    mlp_model_destroy(m);

    /* rank-1 and rank-2 inputs, also after a flatten */
    const int32_t flat[1] = {9}, two[2] = {3, 3};
    m = tu_model(1, flat, 1);
    TU_FAIL(mlp_model_add(m, make_conv(0, 2, 1, 1)), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "[9]"), "message: %s", mlp_last_error());
    mlp_model_destroy(m);
    m = tu_model(2, two, 1);
    TU_FAIL(mlp_model_add(m, make_conv(0, 2, 1, 1)), MLP_STATUS_SHAPE_MISMATCH);
    mlp_model_destroy(m);
    m = tu_model(3, in133, 1);
    tu_add(m, tu_flatten());
    TU_FAIL(mlp_model_add(m, make_conv(0, 2, 1, 1)), MLP_STATUS_SHAPE_MISMATCH);
    mlp_model_destroy(m);

    /* Sizes whose products pass 2^63 (a model file may ask for any): a
     * 65536x65536 kernel, padded to fit a 1x1 input, with 2^31 - 1 filters,
     * refused without arithmetic overflow (UBSan watches), as is an output
     * of more than 2^31 positions. */
    m = tu_model(3, (int32_t[]){1, 1, 1}, 1);
    mlp_layer *huge = make_conv(0, INT32_MAX, 131072, 131072);
    TU_OK(mlp_layer_set_conv2d(huge, 1, 1, 65536, 65536, 1, 1));
    TU_FAIL_MSG(mlp_model_add(m, huge), MLP_STATUS_SHAPE_MISMATCH,
                "a 131072x131072 kernel over 1 channels");
    mlp_layer *wide = make_conv(0, 1, 1, 1);
    TU_OK(mlp_layer_set_conv2d(wide, 1, 1, INT32_MAX, INT32_MAX, 1, 1));
    TU_FAIL_MSG(mlp_model_add(m, wide), MLP_STATUS_SHAPE_MISMATCH, "exceed 2147483647");
    mlp_model_destroy(m);
    /* an output of 2^30 positions fits, but not the columns and output of a
     * sample together: (1 weight + 1 filter) x 2^30 */
    m = tu_model(3, (int32_t[]){1, 32768, 32768}, 1);
    TU_FAIL_MSG(mlp_model_add(m, make_conv(0, 1, 1, 1)), MLP_STATUS_SHAPE_MISMATCH,
                "1 filters of 1 weights over 1073741824 output positions");
    mlp_model_destroy(m);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(conv_use_bias_misuse)
{
    const long live = mlp__alloc_live();
    TU_FAIL(mlp_layer_set_use_bias(NULL, 0), MLP_STATUS_INVALID_ARG);
    ck_assert_str_ne(mlp_last_error(), "");
    /* values other than 0 and 1 */
    mlp_layer *c = make_conv(1, 2, 2, 2);
    static const int bad[] = {2, -1, 255};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TU_FAIL(mlp_layer_set_use_bias(c, bad[i]), MLP_STATUS_INVALID_ARG);
        ck_assert_msg(strstr(mlp_last_error(), "mlp_layer_set_use_bias"), "message: %s",
                      mlp_last_error());
    }
    /* kinds without a bias, for either value; the message names the kind */
    mlp_layer *others[4] = {tu_relu(), make_maxpool(2, 2, 2, 0), make_avgpool(2, 2, 1, 0),
                            make_gap()};
    for (int k = 0; k < 4; k++) {
        for (int v = 0; v < 2; v++) {
            TU_FAIL(mlp_layer_set_use_bias(others[k], v), MLP_STATUS_INVALID_ARG);
            ck_assert_msg(strstr(mlp_last_error(), mlp_layer_kind_name(others[k])),
                          "message does not name the kind: %s", mlp_last_error());
        }
        mlp_layer_destroy(others[k]);
    }
    /* the refused values changed nothing: the bias is still on */
    const int32_t in[3] = {1, 3, 3};
    mlp_model *m = tu_model(3, in, 1);
    tu_add(m, c);
    ck_assert_int_eq(mlp_layer_param_count(c), 8 + 2);
    /* once in a model: BAD_STATE for either value, and nothing changes */
    mlp_layer *nb = make_conv(2, 3, 1, 1);
    TU_OK(mlp_layer_set_use_bias(nb, 0));
    tu_add(m, nb);
    for (int v = 0; v < 2; v++) {
        TU_FAIL(mlp_layer_set_use_bias(c, v), MLP_STATUS_BAD_STATE);
        ck_assert_msg(strstr(mlp_last_error(), "already in a model"), "message: %s",
                      mlp_last_error());
        TU_FAIL(mlp_layer_set_use_bias(nb, v), MLP_STATUS_BAD_STATE);
    }
    ck_assert_int_eq(mlp_layer_param_count(c), 8 + 2);
    ck_assert_int_eq(mlp_layer_param_count(nb), 6);
    ck_assert_int_eq(mlp_model_param_count(m), 8 + 2 + 6);
    mlp_model_destroy(m);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(pool_misuse)
{
    const long live = mlp__alloc_live();
    typedef mlp_status (*pool_fn)(mlp_layer **, int32_t, int32_t, int32_t, int32_t);
    const pool_fn fns[2] = {mlp_layer_create_maxpool, mlp_layer_create_avgpool};
    static const int32_t bad[][4] = {
        {0, 2, 1, 0}, {2, 0, 1, 0}, {2, 2, 0, 0}, {2, 2, -1, 0}, {2, 2, 1, -1},
        {2, 2, 1, 2}, /* padding more than half the window */
        {3, 3, 1, 2}, {3, 1, 1, 1}, {1, 3, 1, 1}, {4, 5, 1, 3},  {-2, 2, 1, 0}};
    for (int f = 0; f < 2; f++) {
        TU_FAIL(fns[f](NULL, 2, 2, 2, 0), MLP_STATUS_INVALID_ARG);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            mlp_layer *l = SENTINEL;
            mlp_status st = fns[f](&l, bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
            ck_assert_msg(st == MLP_STATUS_INVALID_ARG,
                          "%s(%d, %d, stride %d, pad %d) -> %s",
                          f ? "avgpool" : "maxpool", bad[i][0], bad[i][1], bad[i][2],
                          bad[i][3], mlp_status_str(st));
            ck_assert_ptr_null(l);
            ck_assert_str_ne(mlp_last_error(), "");
        }
        /* exactly half is fine */
        mlp_layer *l = NULL;
        TU_OK(fns[f](&l, 2, 2, 1, 1));
        mlp_layer_destroy(l);
        l = NULL;
        TU_OK(fns[f](&l, 4, 5, 1, 2));
        mlp_layer_destroy(l);
    }
    TU_FAIL(mlp_layer_create_global_avgpool(NULL), MLP_STATUS_INVALID_ARG);

    /* window larger than the input; rank-1 input */
    const int32_t in[3] = {2, 3, 4};
    mlp_model *m = tu_model(3, in, 1);
    TU_FAIL(mlp_model_add(m, make_maxpool(4, 2, 1, 0)), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "[2,3,4]"), "message: %s", mlp_last_error());
    TU_FAIL(mlp_model_add(m, make_avgpool(2, 5, 1, 0)), MLP_STATUS_SHAPE_MISMATCH);
    tu_add(m, make_maxpool(4, 2, 1, 1)); /* padding makes it fit: [2,2,5] */
    tu_add(m, tu_flatten());
    TU_FAIL(mlp_model_add(m, make_maxpool(1, 1, 1, 0)), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_add(m, make_avgpool(1, 1, 1, 0)), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_add(m, make_gap()), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_int_eq(mlp_model_layer_count(m), 2);
    mlp_model_destroy(m);
    ck_assert_int_eq(mlp__alloc_live(), live);

    /* a pooling layer has no weights to initialise */
    mlp_layer *p = make_maxpool(2, 2, 2, 0);
    TU_FAIL(mlp_layer_set_init(p, MLP_INIT_CONSTANT, 1.0f), MLP_STATUS_INVALID_ARG);
    mlp_layer_destroy(p);
}
END_TEST

/* ---- thread count ----------------------------------------------------------------- */

enum {
    TH_N = 32,
    TH_X = TH_N * 3 * 24 * 24,
    TH_MAXP = 16 * 27 + 16 + 16 * 144 * 10 + 10
};

typedef struct th_run {
    float y[TH_N * 10];
    float dx[TH_X];
    float pg[2 * TH_MAXP]; /* parameters, then gradients */
    int64_t ny, np;
} th_run;

/* Output, input gradient, parameters and gradients of a model for a thread
 * count: conv(3x3, pad 1) -> maxpool -> dense when `gemm`, else pooling and
 * relu only (no matrix product). */
static void run_threaded(int threads, int gemm, th_run *out)
{
    const int32_t in[3] = {3, 24, 24};
    mlp_model *m = tu_model(3, in, 77);
    if (gemm) {
        mlp_layer *c = make_conv(3, 16, 3, 3);
        TU_OK(mlp_layer_set_conv2d(c, 1, 1, 1, 1, 1, 1));
        tu_add(m, c);
        tu_add(m, make_maxpool(2, 2, 2, 0));
        tu_add(m, tu_dense(10));
    } else {
        tu_add(m, make_maxpool(3, 3, 2, 1)); /* [3,12,12] */
        tu_add(m, tu_relu());
        tu_add(m, make_avgpool(3, 2, 1, 1)); /* [3,12,13] */
        tu_add(m, make_gap());               /* [3] */
    }
    mlp_tensor *x = tu_tensor_batch(TH_N, 3, in);
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    tu_fill_uniform(&rng, mlp_tensor_data(x), TH_X, -1.0f, 1.0f);
    int orank;
    int32_t od[MLP_MAX_RANK];
    TU_OK(mlp_model_output_shape(m, -1, &orank, od));
    mlp_tensor *dy = tu_tensor_batch(TH_N, orank, od);
    out->ny = mlp_tensor_numel(dy);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), out->ny, -1.0f, 1.0f);
    TU_OK(mlp_set_num_threads(threads));
    const mlp_tensor *yt = NULL, *dxt = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &yt));
    TU_OK(mlp_tensor_copy_to(yt, out->y, out->ny));
    TU_OK(mlp_model_backward(m, dy, &dxt));
    TU_OK(mlp_tensor_copy_to(dxt, out->dx, TH_X));
    out->np = mlp_model_param_count(m);
    ck_assert_int_le(out->np, TH_MAXP);
    if (out->np)
        TU_OK(mlp_model_get_params(m, out->pg, out->np));
    int64_t off = out->np;
    for (int l = 0; l < mlp_model_layer_count(m); l++) {
        mlp_layer *layer = mlp_model_layer(m, l);
        const int64_t cnt = mlp_layer_param_count(layer);
        if (cnt)
            memcpy(out->pg + off, mlp_layer_grads(layer), sizeof(float) * (size_t)cnt);
        off += cnt;
    }
    TU_OK(mlp_set_num_threads(1));
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
}

/* Every |a - b| <= tol * max|a|: a relative error of the whole array (an
 * element-wise relative test is meaningless for values that cancel to ~0). */
static void expect_near(const char *what, const float *a, const float *b, int64_t n,
                        double tol)
{
    double scale = 0, worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(a[i]));
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > worst) {
            worst = fabs((double)a[i] - b[i]);
            at = i;
        }
    ck_assert_msg(scale > 0 && worst <= tol * scale,
                  "%s: element %lld: %.9g vs %.9g (difference %.3g of scale %.3g)", what,
                  (long long)at, (double)a[at], (double)b[at], worst, scale);
}

START_TEST(thread_count_independence)
{
    mlp_status st = mlp_set_num_threads(2);
    if (st == MLP_STATUS_UNSUPPORTED) { /* a build with one thread only */
        ck_assert_int_eq(mlp_get_num_threads(), 1);
        return;
    }
    TU_OK(st);
    ck_assert_int_eq(mlp_get_num_threads(), 2);
    TU_OK(mlp_set_num_threads(1));
    ck_assert_int_eq(mlp_get_num_threads(), 1);
    th_run *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
    ck_assert(a && b && c);

    /* Without matrix products: bitwise. The library's own parallel loops
     * (pooling, activations) give each output element to one thread. */
    run_threaded(1, 0, a);
    run_threaded(2, 0, b);
    ck_assert_int_eq(a->ny, TH_N * 3);
    ck_assert_msg(memcmp(a->y, b->y, sizeof(float) * (size_t)a->ny) == 0,
                  "pooling outputs differ between 1 and 2 threads");
    ck_assert_msg(memcmp(a->dx, b->dx, sizeof a->dx) == 0,
                  "pooling input gradients differ between 1 and 2 threads");

    /* With convolution and dense products. For a fixed thread count the
     * results are reproducible bit for bit (status.h). Between thread counts
     * they agree to ~1e-7 of their scale but not bitwise: a product split
     * into column blocks runs as several OpenBLAS calls, and OpenBLAS 0.3.21
     * rounds some elements of a block differently from the same columns
     * inside one larger call (its kernels block N internally), so 1 vs 2
     * threads is compared within 1e-6 relative to each array's scale. */
    run_threaded(1, 1, a);
    run_threaded(1, 1, c);
    ck_assert_int_eq(a->np, TH_MAXP);
    ck_assert_msg(memcmp(a, c, sizeof *a) == 0, "1 thread: two runs differ");
    run_threaded(2, 1, b);
    run_threaded(2, 1, c);
    ck_assert_msg(memcmp(b, c, sizeof *b) == 0, "2 threads: two runs differ");
    expect_near("y, 1 vs 2 threads", a->y, b->y, a->ny, 1e-6);
    expect_near("dx, 1 vs 2 threads", a->dx, b->dx, TH_X, 1e-6);
    ck_assert(memcmp(a->pg, b->pg, sizeof(float) * (size_t)a->np) == 0); /* same init */
    const int64_t nw = 16 * 27, nd = 16 * 144 * 10;
    expect_near("conv dW, 1 vs 2 threads", a->pg + a->np, b->pg + b->np, nw, 1e-6);
    expect_near("conv db, 1 vs 2 threads", a->pg + a->np + nw, b->pg + b->np + nw, 16,
                1e-6);
    expect_near("dense dW, 1 vs 2 threads", a->pg + a->np + nw + 16,
                b->pg + b->np + nw + 16, nd, 1e-6);
    expect_near("dense db, 1 vs 2 threads", a->pg + a->np + nw + 16 + nd,
                b->pg + b->np + nw + 16 + nd, 10, 1e-6);
    free(a);
    free(b);
    free(c);
}
END_TEST

/* ---- allocation failures ---------------------------------------------------------- */

/* Build conv-maxpool-conv-avgpool-global_avgpool-dense, run a training pass
 * forward and back, then a larger batch forward (the buffers grow); stop at
 * the first failure. */
static mlp_status oom_build_and_run(void *ctx)
{
    tu_built *b = ctx;
    const int32_t img[3] = {2, 9, 8}, xd[4] = {3, 2, 9, 8}, yd[2] = {3, 2};
    const int32_t x5d[4] = {5, 2, 9, 8};
    mlp_layer *l = NULL;
    const mlp_tensor *dx = NULL;
    mlp_status st = mlp_model_create(&b->model, 3, img, 1);
    TU_THEN(st, mlp_layer_create_conv2d(&l, 2, 4, 3, 3));
    TU_THEN(st, mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
    TU_THEN(st, mlp_model_add(b->model, l)); /* [4,9,8] */
    TU_THEN(st, mlp_layer_create_maxpool(&l, 2, 2, 2, 0));
    TU_THEN(st, mlp_model_add(b->model, l)); /* [4,4,4] */
    TU_THEN(st, mlp_layer_create_conv2d(&l, 0, 3, 2, 2));
    TU_THEN(st, mlp_layer_set_conv2d(l, 2, 2, 0, 0, 1, 1));
    TU_THEN(st, mlp_model_add(b->model, l)); /* [3,2,2] */
    TU_THEN(st, mlp_layer_create_avgpool(&l, 2, 2, 1, 1));
    TU_THEN(st, mlp_model_add(b->model, l)); /* [3,3,3] */
    TU_THEN(st, mlp_layer_create_global_avgpool(&l));
    TU_THEN(st, mlp_model_add(b->model, l)); /* [3] */
    TU_THEN(st, mlp_layer_create_dense(&l, 2));
    TU_THEN(st, mlp_model_add(b->model, l));
    TU_THEN(st, mlp_tensor_create(&b->t[0], 4, xd));
    TU_THEN(st, mlp_tensor_create(&b->t[1], 2, yd));
    TU_THEN(st, mlp_model_forward(b->model, b->t[0], MLP_MODE_TRAIN, NULL));
    TU_THEN(st, mlp_model_backward(b->model, b->t[1], &dx));
    TU_THEN(st, mlp_tensor_create(&b->t[2], 4, x5d));
    /* a larger batch: the buffers grow */
    TU_THEN(st, mlp_model_forward(b->model, b->t[2], MLP_MODE_EVAL, NULL));
    return st;
}

START_TEST(conv_oom_loop)
{
    tu_oom_loop_built("conv model", oom_build_and_run, 300);
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, conv_reference_grid, 0, N_CONV_GRID);
    tcase_add_loop_test(tc, conv_reference_grid_nobias, 0, N_CONV_GRID_NOBIAS + 1);
    tcase_add_test(tc, conv_reference_direct);
    tcase_add_test(tc, conv_reference_corr_backward);
    tcase_add_test(tc, conv_reference_wino);
    tcase_add_test(tc, conv_params_layout_and_init);
    tcase_add_test(tc, conv_params_without_bias);
    tcase_add_loop_test(tc, conv_gradcheck, 0, 4);
    tcase_add_loop_test(tc, stack_gradcheck, 0, 2);
    suite_add_tcase(s, tc);

    /* The direct correlation's vectors of 16 against its vectors of 8
     * (tagged: tests/avx512 runs them on an emulated AVX-512 CPU). */
    tc = tcase_create("wide");
    tcase_set_tags(tc, "wide");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, corr_forward_wide_same_bits);
    tcase_add_test(tc, few_k_wide_same_bits);
    tcase_add_test(tc, corr_dx_wide_same_bits);
    tcase_add_test(tc, corr_dw_pairs_same_bits);
    suite_add_tcase(s, tc);

    /* The largest cases, tagged so that tests/meson.build runs them as a
     * test of their own, beside the rest: under valgrind the suite took
     * seven minutes in one process. */
    tc = tcase_create("groups");
    tcase_set_tags(tc, "groups");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, conv_reference_large);
    tcase_add_test(tc, conv_reference_flat);
    suite_add_tcase(s, tc);

    tc = tcase_create("pool");
    tcase_add_loop_test(tc, pool_reference_grid, 0, N_POOL_GRID);
    tcase_add_loop_test(tc, maxpool_gradcheck, 0, 2 * N_POOL_GRID);
    tcase_add_loop_test(tc, avgpool_gradcheck, 0, 2 * N_POOL_GRID);
    tcase_add_test(tc, global_avgpool_gradcheck);
    tcase_add_test(tc, global_avgpool_reference);
    tcase_add_test(tc, maxpool_ties_go_first);
    tcase_add_test(tc, pool_backward_writes_all_of_dx);
    tcase_add_test(tc, maxpool_padding_never_wins);
    tcase_add_test(tc, maxpool_nan_every_position);
    tcase_add_test(tc, avgpool_excludes_padding);
    suite_add_tcase(s, tc);

    tc = tcase_create("shapes_and_misuse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, conv_output_shapes);
    tcase_add_test(tc, conv_extreme_geometry);
    tcase_add_test(tc, pool_output_shapes);
    tcase_add_test(tc, conv_misuse);
    tcase_add_test(tc, conv_use_bias_misuse);
    tcase_add_test(tc, pool_misuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("system");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, thread_count_independence);
    tcase_add_test(tc, conv_paths_thread_independence);
    tcase_add_test(tc, conv_path_choice);
    tcase_add_test(tc, conv_oom_loop);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(conv_suite, 1)

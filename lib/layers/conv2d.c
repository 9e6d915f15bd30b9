/*
 * 2-D convolution on NCHW data (cross-correlation, as in every framework):
 *   y[n,f,oh,ow] = b[f] + sum_{c,i,j} W[f,c,i,j] x[n,c,oh*sh-ph+i*dh,ow*sw-pw+j*dw]
 * with W [F, C, kh, kw] and zero padding. The bias b [F] follows W in the
 * parameters unless it is turned off (mlp_layer_set_use_bias, for example
 * before batch norm, whose shift makes it redundant); then the layer has W
 * only, and the passes below skip the bias work (a NULL bias pointer, tested
 * outside the element loops, which stay as they are with a bias).
 *
 * Four paths, chosen at setup:
 *
 * - Products per sample (forward_per_sample), for planes of at least
 *   SAMPLE_MIN_P output positions, a single input channel or a pointwise
 *   kernel: im2col of one sample, col_s [K, P] (K = C*kh*kw, P = OH*OW), in
 *   cache, then y_s = W col_s straight into y's layout. Backward per sample:
 *   dW += dy_s col_s^T, dcol_s = W^T dy_s over col_s, col2im. The batch is
 *   cut into fixed blocks of samples (SAMPLE_BLOCKS), so results do not
 *   depend on the thread count.
 * - Groups of g samples (smaller planes, where one product per sample would
 *   be narrow): im2col gives col [K, g*P], one GEMM gives Z = W col
 *   [F, g*P], and one pass scatters Z into y's NCHW layout while adding the
 *   bias (if any). Backward, per group: gather dy into Z's layout (summing
 *   the bias gradient on the way), recompute col, dW += Z col^T (one GEMM),
 *   and for dx: dcol = W^T Z (one GEMM, written over col), then col2im. A
 *   group's size is fixed at setup so that col and Z fit the model's shared
 *   workspace (about 4 MiB per layer), which the model sizes once for all
 *   conv layers.
 * - The direct correlation, for a small stride-1 layer: it skips im2col and
 *   the GEMMs for dW (summing the bias gradient in the same pass) and dx,
 *   and with few filters forward too, correlating a zero-padded copy of
 *   each sample directly (corr.h; see CORR_MAX_K for which layers).
 * - Winograd's F(2x2, 3x3), for all three passes of a 3x3 stride-1 layer
 *   with many channels and filters (wino.h; see takes_wino): 16 products
 *   over transformed tiles in place of im2col and one product of 2.25
 *   times the multiply-adds, and no col2im.
 */
#include <string.h>

#include "backend/corr.h"
#include "backend/gemm.h"
#include "backend/im2col.h"
#include "backend/pool.h"
#include "backend/threads.h"
#include "backend/wino.h"
#include "layer_impl.h"
#include "window.h"

/* The settings of a conv2d layer (l->settings). */
struct conv2d_settings {
    mlp__window win;              /* kernel, stride, padding */
    int32_t dh, dw;               /* dilation */
    int32_t filters, in_channels; /* in_channels 0: whatever the input has */
    int use_bias;                 /* 1 unless turned off (mlp_layer_set_use_bias) */
    int32_t group;                /* samples per GEMM (or per padded batch of
                                     the direct path), fixed at setup (the
                                     workspace holds this many) */
    int corr_fwd, corr_dw;        /* the direct correlation (corr.h) forward
                                     and for dW, chosen at setup */
    int per_sample;               /* products per sample (forward_per_sample),
                                     chosen at setup */
    int wino;                     /* Winograd F(2x2, 3x3) forward, for dx and
                                     for dW (wino.h), chosen at setup */
    int32_t wino_group;           /* samples per group of the Winograd path */
    int32_t wino_chunk;           /* samples per chunk of its dW's runs */
    int keep;                     /* tests: 1 keeps im2col and products
                                     (no correlation, no Winograd), 2 also
                                     groups of samples (no products per
                                     sample) */
};

/* Workspace per group aimed at: col and Z of ~1M floats stay cache-friendly
 * yet give GEMMs thousands of columns. */
#define CONV_WS_TARGET (1 << 20)

/* The geometry of a layer's settings on input `in` with an output of
 * oh x ow. */
static mlp__conv_geom geom_of(const struct conv2d_settings *s, const mlp_shape *in,
                              int32_t oh, int32_t ow)
{
    const mlp__window *w = &s->win;
    return (mlp__conv_geom){.c = in->d[0],
                            .h = in->d[1],
                            .w = in->d[2],
                            .kh = w->kh,
                            .kw = w->kw,
                            .sh = w->sh,
                            .sw = w->sw,
                            .ph = w->ph,
                            .pw = w->pw,
                            .dh = s->dh,
                            .dw = s->dw,
                            .oh = oh,
                            .ow = ow};
}

static mlp__conv_geom geom(const mlp_layer *l)
{
    return geom_of(l->settings, &l->in, l->out.d[1], l->out.d[2]);
}

/* A 1x1 kernel with stride 1, no padding: the input of a sample is its own
 * column matrix [C, P] (im2col would only copy it). */
static int pointwise(const mlp__conv_geom *q)
{
    return q->kh == 1 && q->kw == 1 && q->sh == 1 && q->sw == 1 && q->ph == 0 &&
           q->pw == 0;
}

/*
 * Layers on products per sample (see forward_per_sample): a single input
 * channel (K = kh kw is small, so the product is bound by writing its
 * output, and the grouped path's copy into y would double that traffic),
 * pointwise kernels (no im2col at all), and planes of at least SAMPLE_MIN_P
 * output positions, whose im2col of one sample stays in cache for its
 * product and whose products are wide enough for OpenBLAS. Below that, a
 * group's one product covers many small planes. Measured on layers alone
 * (3x3, batch 100, the best of 5 interleaved runs), per sample against
 * groups: at 1 thread within 4% either way (32->64 on 14x14 forward 10.4
 * against 10.6 ms, backward 21.1 against 21.3; 64->64 with 8x8 outputs
 * 8.4 against 8.1 and 16.1 against 15.9); at 2 threads 3-8% faster (32->64
 * on 14x14 5.1 against 5.3 and 11.1 against 11.3; 16->32 on 32x32 8.2
 * against 8.7 and 16.7 against 18.1), since each thread runs whole samples
 * where the groups split every product and pass between the threads.
 */
enum { SAMPLE_MIN_P = 64 };

static int takes_per_sample(const mlp__conv_geom *q)
{
    return q->c == 1 || pointwise(q) || (int64_t)q->oh * q->ow >= SAMPLE_MIN_P;
}

/* Products per sample cut a batch into at most SAMPLE_BLOCKS blocks of
 * consecutive samples, whatever the thread count: block b runs its samples
 * in order on one thread, with its own im2col slot and its own partial
 * weight gradient, and the partials are added in block order at the end.
 * So every result is the same at any thread count. */
enum { SAMPLE_BLOCKS = 8 };

static int32_t sample_blocks(int32_t n)
{
    return n < SAMPLE_BLOCKS ? n : SAMPLE_BLOCKS;
}

/* The workspace of products per sample: an im2col slot per block (none when
 * pointwise), then the partial weight gradients of blocks 1.. (block 0's is
 * dW itself). */
static int64_t sample_ws(const mlp__conv_geom *q, int64_t F, int64_t K)
{
    const int64_t slot = pointwise(q) ? 0 : K * q->oh * q->ow;
    return SAMPLE_BLOCKS * slot + (SAMPLE_BLOCKS - 1) * F * K;
}

/* The direct correlation (corr.h) replaces im2col and the GEMMs of a
 * stride-1 layer without dilation whose filters have at most CORR_MAX_K
 * taps (C kh kw), when the layer has at most CORR_MAX_F filters (forward
 * and for dW) or a single input channel (for dW). There OpenBLAS runs far
 * below its peak (few rows, or a sum of a few terms per sample) and im2col
 * writes kh kw copies of the input for little arithmetic. dx is the
 * correlation's adjoint (mlp__corr_dx): each strip of dy times each tap's
 * weights, summed over the filters in registers, is added where the tap
 * puts it. Against a product per sample (dcol = W^T dy, then col2im), the
 * whole backward pass at 1 thread went from 2.20-2.30 to 1.78-1.84 ms for
 * 5->10 5x5 on 12x12, and with the bias gradient summed in the dW pass
 * from 5.36-5.43 to 3.48-3.58 ms for 1->32 3x3 on 28x28 (batch 100,
 * interleaved runs). A correlation of dy padded by kh - 1 rows with the
 * flipped weights was slower: it multiplies the padding's zeros (250 taps
 * for each output of a 12x12 plane, against 125 for each of 8x8 in the
 * forward pass). Measured on the layers alone
 * (1 thread, batch 100), direct against im2col: 1->5 5x5 on 28x28 forward
 * 0.35 against 0.90 ms, dW 0.34-0.47 against 1.89; 5->10 5x5 on 12x12
 * forward 0.38 against 0.83, dW 0.63-0.66 against 0.93-0.96; 1->32 3x3 on
 * 28x28 dW 1.31-1.35 against 2.12-2.26 (its forward, bound by writing its
 * output, is faster per sample, as a product with few terms: see few_k);
 * while with 24 or 32 filters over 8 or 12 channels one GEMM over the group
 * computes dW twice as fast. Pointwise kernels have no im2col to save. */
enum { CORR_MAX_F = 16, CORR_MAX_K = MLP__CORR_MAX_TAPS };

/* The correlation of the forward pass (and of dW): x padded to [C, Hp, Wp]
 * against W [F, C, kh, kw] into [F, OH, OW]. Its sizes fit int32 when
 * takes_corr chose the correlation. */
static mlp__corr corr_of_x(const struct conv2d_settings *s, const mlp__conv_geom *q)
{
    return (mlp__corr){.ci = q->c,
                       .hp = q->h + 2 * q->ph,
                       .wp = mlp__corr_wp(q->ow, q->kw),
                       .co = s->filters,
                       .oh = q->oh,
                       .ow = q->ow,
                       .kh = q->kh,
                       .kw = q->kw};
}

/*
 * Sets s->corr_fwd and s->corr_dw for a layer with input `in`, output
 * [oh, ow] and k = C kh kw taps a filter, and if either is set the
 * workspace they need: *fixed floats (the weight gradient's lanes [F, k,
 * 8], which forward uses for its packed weights, then the bias gradient's
 * [F, 8]) and *per_sample (a padded input, then, backward, the scratch of
 * the sample's dx).
 */
static void takes_corr(struct conv2d_settings *s, const mlp_shape *in, int32_t oh,
                       int32_t ow, int64_t k, int64_t *fixed, int64_t *per_sample)
{
    const mlp__window *w = &s->win;
    s->corr_fwd = s->corr_dw = 0;
    if (!MLP__CORR_AVAILABLE || s->keep || w->sh != 1 || w->sw != 1 || s->dh != 1 ||
        s->dw != 1 || (w->kh == 1 && w->kw == 1 && w->ph == 0 && w->pw == 0) ||
        k > CORR_MAX_K)
        return;
    const int64_t F = s->filters;
    /* a padded input [C, hp, wp], indexed with int32 offsets (a model file
     * may ask for any sizes: test before multiplying) */
    const int64_t hp = (int64_t)in->d[1] + 2 * (int64_t)w->ph;
    const int64_t wp = ((int64_t)ow + 7) / 8 * 8 + w->kw - 1;
    if (hp > INT32_MAX || wp > INT32_MAX || hp * wp > INT32_MAX / in->d[0])
        return;
    const int64_t xsz = in->d[0] * hp * wp;
    s->corr_fwd = F <= CORR_MAX_F;
    s->corr_dw = s->corr_fwd || in->d[0] == 1;
    /* per sample of a group: the padded input (forward), or the padded
     * input and the scratch of dx (backward); a layer with dW only on the
     * correlation (one input channel) runs its forward on products per
     * sample, whose slots conv_setup adds */
    const mlp__conv_geom q = geom_of(s, in, oh, ow);
    const mlp__corr kx = corr_of_x(s, &q);
    *fixed = F * k * 8 + F * 8;
    *per_sample = xsz + mlp__corr_dx_size(&kx);
}

/*
 * Winograd's F(2x2, 3x3) (wino.h) for the forward pass, dx and dW of a
 * 3x3 stride-1 layer without dilation, padded by at most 2, with at least
 * WINO_MIN_C input channels and WINO_MIN_F filters (the transformed
 * products have the channels as their sums and their rows), unless the
 * direct correlation took the forward pass.
 *
 * The forward pass and dx: the batch is cut into groups of wino_group
 * samples (about WINO_TILES tiles, so that the 16 products are wide enough
 * for OpenBLAS), which up to WINO_SLOTS threads take as the pool's items
 * (mlp__pool_items), each thread in a scratch slot of its own; a sample's
 * result does not depend on the thread. Measured on 32->64 on 14x14
 * (batch 100, against products per sample in the same run, 4 rounds):
 * forward 15-24% faster at 1 thread and 13-20% at 2. Groups of 100 to 300
 * tiles measured alike, 450 slower; the smallest keeps the scratch small.
 * Items rather than a fixed cut of the groups: on a 2-vCPU virtual machine
 * whose vCPUs ran at speeds up to a fifth apart, by turns, the thread with
 * the faster one waited for the other; as items (8 rounds in one process,
 * the two ways by turns) the layer's forward pass took 3.04 ms on average
 * against 3.25 and its backward pass 6.42 against 6.67.
 *
 * dW: the batch is cut into WINO_DW_RUNS runs of samples, fixed whatever
 * the thread count; each run transforms its samples a chunk of wino_chunk
 * (about WINO_DW_TILES tiles) at a time and adds the chunk's 16 products,
 * whose sums are its tiles (64x32 outputs over 196 tiles for the
 * ConvNet's layer), into sums of its own; the runs' sums are added in run
 * order. dW alone of 32->64 on 14x14, batch 100, at 2 threads (6
 * interleaved rounds, medians of 30 calls): im2col 7.7-11.2 ms, chunks of
 * 16 samples with the products split across threads after each chunk's
 * transforms 6.3-11.5 (a pool barrier twice a chunk, and rounds at 10-11
 * ms when a thread was held up), these runs 6.0-7.0. A first version with
 * products over 2 samples (98 tiles) and the old transforms measured no
 * faster than im2col. Chunks of 4 samples (WINO_DW_TILES 200) were best
 * then; since the products run on B transposed back (gemm.c), one sample
 * (49 tiles) is: the layer's backward pass (bench_convnet, 2 threads, 3
 * interleaved rounds) took 3.81-3.83 ms, 2 samples 3.89-3.90, 3 samples
 * 3.88-3.90, 4 samples 4.06-4.10 and 8 samples 5.22-5.26; with Haswell's
 * kernels (no such path; 2 rounds) 6.18-6.19 against 6.30-6.32 for 4
 * samples.
 */
enum { WINO_MIN_C = 16, WINO_MIN_F = 16, WINO_TILES = 100, WINO_SLOTS = 8 };

/* dW's runs and their chunks of about WINO_DW_TILES tiles. */
enum { WINO_DW_TILES = 50, WINO_DW_RUNS = 4 };

/* The two convolutions of the Winograd path: forward (x to y) and dx (dy
 * to dx, the channels swapped, padding 2 - p). */
static mlp__wino wino_fwd(const mlp__conv_geom *q, int32_t f)
{
    return mlp__wino_geom(q->c, q->h, q->w, q->ph, q->pw, f);
}

static mlp__wino wino_dx(const mlp__conv_geom *q, int32_t f)
{
    return mlp__wino_geom(f, q->oh, q->ow, 2 - q->ph, 2 - q->pw, q->c);
}

/* Floats of one of dW's runs: a chunk of transforms (V and W) and the
 * transforms' scratch. */
static int64_t wino_dw_run_size(const mlp__wino *k, int32_t chunk)
{
    return MLP__WINO_XI * ((int64_t)k->ci + k->co) * chunk * k->th * k->tw +
           mlp__wino_dw_run_scratch(k);
}

/* Sets s->wino, s->wino_group and s->wino_chunk for geometry q; *ws: the
 * floats the path needs, 0 without it: the transformed filters and the
 * forward pass's (or dx's) runs, or dW's runs and their sums. */
static void takes_wino(struct conv2d_settings *s, const mlp__conv_geom *q, int64_t *ws)
{
    s->wino = 0;
    *ws = 0;
    if (s->keep || s->corr_fwd || q->kh != 3 || q->kw != 3 || q->sh != 1 || q->sw != 1 ||
        q->dh != 1 || q->dw != 1 || q->ph > 2 || q->pw > 2 || q->c < WINO_MIN_C ||
        s->filters < WINO_MIN_F)
        return;
    const mlp__wino kf = wino_fwd(q, s->filters), kd = wino_dx(q, s->filters);
    const int64_t tiles = (int64_t)kf.th * kf.tw, tiles_dx = (int64_t)kd.th * kd.tw;
    const int64_t g = tiles >= WINO_TILES ? 1 : WINO_TILES / tiles;
    const int64_t chunk = tiles >= WINO_DW_TILES ? 1 : WINO_DW_TILES / tiles;
    /* the products take int sizes: T = g (or chunk) tiles and their
     * 16 (c + f) T floats */
    const double most =
        (double)(tiles > tiles_dx ? tiles : tiles_dx) * (double)(g > chunk ? g : chunk);
    if ((double)MLP__WINO_XI * ((double)q->c + s->filters) * most > (double)INT32_MAX)
        return;
    s->wino = 1;
    s->wino_group = (int32_t)g;
    s->wino_chunk = (int32_t)chunk;
    const int64_t a = mlp__wino_scratch(&kf, s->wino_group),
                  b = mlp__wino_scratch(&kd, s->wino_group);
    const int64_t filters = MLP__WINO_XI * (int64_t)s->filters * q->c;
    const int64_t runs = filters + WINO_SLOTS * (a > b ? a : b);
    const int64_t dw = WINO_DW_RUNS * (filters + wino_dw_run_size(&kf, s->wino_chunk));
    *ws = runs > dw ? runs : dw;
}

static mlp_status conv_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    struct conv2d_settings *s = l->settings;
    const mlp__window *w = &s->win;
    char a[48];
    if (in->rank != 3)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "conv2d needs a [C,H,W] input, not %s",
                          mlp__shape_str(in, a, sizeof a));
    if (s->in_channels && in->d[0] != s->in_channels)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "conv2d expects %d input channels but the input %s has %d",
                          (int)s->in_channels, mlp__shape_str(in, a, sizeof a),
                          (int)in->d[0]);
    int32_t oh = mlp__window_out(in->d[1], w->kh, w->sh, w->ph, s->dh);
    int32_t ow = mlp__window_out(in->d[2], w->kw, w->sw, w->pw, s->dw);
    if (oh < 1 || ow < 1)
        return mlp__error(
            MLP_STATUS_SHAPE_MISMATCH,
            "conv2d kernel %dx%d (dilation %dx%d) does not fit input %s with "
            "padding %dx%d",
            (int)w->kh, (int)w->kw, (int)s->dh, (int)s->dw,
            mlp__shape_str(in, a, sizeof a), (int)w->ph, (int)w->pw);
    /* Each factor is below 2^31; test the products in an order that cannot
     * overflow 64 bits (a model file may ask for any sizes). */
    const int64_t kk = (int64_t)w->kh * w->kw, p = (int64_t)oh * ow;
    if (kk > INT32_MAX || in->d[0] * kk > INT32_MAX || p > INT32_MAX)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "conv2d: a %dx%d kernel over %d channels and %lld output "
                          "positions (input %s) exceed %d elements per sample",
                          (int)w->kh, (int)w->kw, (int)in->d[0], (long long)p,
                          mlp__shape_str(in, a, sizeof a), (int)INT32_MAX);
    const int64_t k = in->d[0] * kk;
    if (k * s->filters > INT32_MAX || (k + s->filters) * p > INT32_MAX)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "conv2d: %d filters of %lld weights over %lld output positions "
                          "(input %s) exceed %d elements per sample",
                          (int)s->filters, (long long)k, (long long)p,
                          mlp__shape_str(in, a, sizeof a), (int)INT32_MAX);
    out->rank = 3;
    out->d[0] = s->filters;
    out->d[1] = oh;
    out->d[2] = ow;
    l->n_weights = k * s->filters;
    l->n_params = l->n_weights + (s->use_bias ? s->filters : 0);
    int64_t fixed = 0, per_sample = (k + s->filters) * p;
    takes_corr(s, in, oh, ow, k, &fixed, &per_sample);
    s->group = per_sample >= CONV_WS_TARGET ? 1 : (int32_t)(CONV_WS_TARGET / per_sample);
    const mlp__conv_geom q = geom_of(s, in, oh, ow);
    s->per_sample = s->keep < 2 && takes_per_sample(&q);
    /* the workspace of each pass's path: the correlation's or the groups',
     * and the slots of products per sample (both for a layer with dW only
     * on the correlation) */
    const int64_t grouped =
        s->corr_dw || !s->per_sample ? fixed + s->group * per_sample : 0;
    const int64_t sampled =
        s->per_sample && !s->corr_fwd ? sample_ws(&q, s->filters, k) : 0;
    int64_t wino = 0;
    takes_wino(s, &q, &wino);
    l->ws_floats = grouped > sampled ? grouped : sampled;
    if (s->wino && !s->corr_dw) /* Winograd's path takes all three passes */
        l->ws_floats = wino;
    return MLP_STATUS_OK;
}

static void conv_init(mlp_layer *l, mlp_rng *rng)
{
    const struct conv2d_settings *s = l->settings;
    const int64_t area = (int64_t)s->win.kh * s->win.kw;
    mlp__init_weights(l, rng, l->params, l->n_weights, l->in.d[0] * area,
                      s->filters * area);
    if (s->use_bias)
        memset(l->params + l->n_weights, 0, (size_t)s->filters * sizeof(float));
}

/* The arguments of a conv pass, for the pool's parts. */
typedef struct conv_job {
    const mlp__conv_geom *q;
    const float *w, *bias, *x, *dy, *src;
    float *y, *dw, *db, *dx, *ws, *dst;
    int32_t F, K, P, g, nb;
    int64_t in_sz;
    int pw;
} conv_job;

/* The partial weight gradients of blocks 1 .. nb-1, after the slots. */
static float *sample_partials(const conv_job *j)
{
    return j->ws + (int64_t)(j->pw ? 0 : SAMPLE_BLOCKS) * j->K * j->P;
}

/* Samples [s0, s1) of block b of j->nb over j->g samples. */
static void block_samples(const conv_job *j, int64_t b, int32_t *s0, int32_t *s1)
{
    *s0 = (int32_t)(b * j->g / j->nb);
    *s1 = (int32_t)((b + 1) * j->g / j->nb);
}

/* col_s of sample s in block b: x_s itself when pointwise, else its im2col
 * in the block's slot. */
static const float *sample_col(const conv_job *j, int64_t b, int32_t s)
{
    const float *xs = j->x + s * j->in_sz;
    if (j->pw)
        return xs;
    float *slot = j->ws + b * j->K * j->P;
    mlp__im2col(j->q, xs, 1, slot);
    return slot;
}

/* The fields of a pass of products per sample over n samples of x that
 * both directions use. */
static conv_job sample_job(const mlp_layer *l, const mlp__conv_geom *q, const float *x,
                           int32_t n)
{
    const int32_t F = ((const struct conv2d_settings *)l->settings)->filters;
    return (conv_job){.q = q,
                      .w = l->params,
                      .x = x,
                      .ws = l->ws,
                      .F = F,
                      .K = (int32_t)(l->n_weights / F),
                      .P = q->oh * q->ow,
                      .g = n,
                      .nb = sample_blocks(n),
                      .in_sz = l->in_size,
                      .pw = pointwise(q)};
}

/* Whether the forward product has so few terms (K) that a GEMM would
 * spend more on zeroing, reading and writing its output than on the sums
 * (mlp__few_k_product, corr.h). The ConvNet's first layer alone (1->32 3x3
 * on 28x28, K = 9, batch 100, 1 thread): OpenBLAS spent 27% of its
 * forward pass zeroing y (beta 0). */
static int few_k(const conv_job *j)
{
    return MLP__CORR_AVAILABLE && j->K <= MLP__FEW_K_MAX;
}

/* Forward of blocks [b0, b1) (see forward_per_sample). */
MLP_VECTOR_CLONES
static void fwd_sample_part(void *arg, int64_t b0, int64_t b1)
{
    const conv_job *j = arg;
    const int32_t F = j->F, P = j->P;
    for (int64_t b = b0; b < b1; b++) {
        int32_t s0, s1;
        block_samples(j, b, &s0, &s1);
        for (int32_t s = s0; s < s1; s++) {
            float *ys = j->y + (int64_t)s * F * P;
            if (few_k(j)) {
                mlp__few_k_product(j->w, F, j->K, sample_col(j, b, s), P, j->bias, ys);
                continue;
            }
            if (j->bias)
                for (int32_t f = 0; f < F; f++)
                    for (int32_t p = 0; p < P; p++)
                        ys[(int64_t)f * P + p] = j->bias[f];
            mlp__sgemm(0, 0, F, P, j->K, 1.0f, j->w, j->K, sample_col(j, b, s), P,
                       j->bias ? 1.0f : 0.0f, ys, P);
        }
    }
}

/* y [F, P] of each sample = W [F, K] col_s [K, P] (+ bias: y is filled with
 * it, then the product added): im2col of one sample into its block's slot,
 * where the product reads it from cache, and the product straight into y's
 * layout. */
static mlp_status forward_per_sample(mlp_layer *l, const mlp__conv_geom *q,
                                     const float *x, float *y, int32_t n)
{
    const struct conv2d_settings *s = l->settings;
    conv_job j = sample_job(l, q, x, n);
    j.bias = s->use_bias ? l->params + l->n_weights : NULL;
    j.y = y;
    /* One block (a single sample): mlp__sgemm splits its product itself. */
    mlp__pool_chunks(j.nb, 1, 1, fwd_sample_part, &j);
    return MLP_STATUS_OK;
}

/* The sum of eight lanes, in order: how every sum kept in lanes (the bias
 * gradient, the direct correlation's dW) ends. */
static float sum_lanes(const float *v)
{
    float sum = v[0];
    for (int l = 1; l < 8; l++)
        sum += v[l];
    return sum;
}

/* db[f] for filters [f0, f1): sums of dy over the g samples (j->g), in
 * eight lanes (position p of each plane into lane p mod 8, in order of the
 * samples and positions), then the lanes in order: a fixed order that
 * vectorises, where one running sum would wait on each addition. */
MLP_VECTOR_CLONES
static void bias_grad_part(void *arg, int64_t f0, int64_t f1)
{
    const conv_job *j = arg;
    const int32_t F = j->F, P = j->P;
    for (int64_t f = f0; f < f1; f++) {
        float s8[8] = {0};
        for (int32_t i = 0; i < j->g; i++) {
            const float *g = j->dy + ((int64_t)i * F + f) * P;
            int32_t p = 0;
            for (; p + 8 <= P; p += 8)
                for (int l = 0; l < 8; l++)
                    s8[l] += g[p + l];
            for (; p < P; p++)
                s8[p & 7] += g[p];
        }
        j->db[f] = sum_lanes(s8);
    }
}

/* Backward of blocks [b0, b1): for each sample in order, the block's
 * partial dW += dy_s col_s^T (set by the block's first sample), then, for
 * dx, dcol_s = W^T dy_s over col_s's slot and col2im of it (dx_s itself
 * when pointwise). */
static void bwd_sample_part(void *arg, int64_t b0, int64_t b1)
{
    const conv_job *j = arg;
    const int32_t F = j->F, K = j->K, P = j->P;
    for (int64_t b = b0; b < b1; b++) {
        float *dwb = b ? sample_partials(j) + (b - 1) * F * K : j->dw;
        int32_t s0, s1;
        block_samples(j, b, &s0, &s1);
        for (int32_t s = s0; s < s1; s++) {
            const float *dys = j->dy + (int64_t)s * F * P, *col = sample_col(j, b, s);
            mlp__sgemm(0, 1, F, K, P, 1.0f, dys, P, col, P, s > s0 ? 1.0f : 0.0f, dwb, K);
            if (!j->dx)
                continue;
            /* dcol over col_s's slot; dx_s itself when pointwise */
            float *dxs = j->dx + s * j->in_sz, *dcol = j->pw ? dxs : j->ws + b * K * P;
            mlp__sgemm(1, 0, K, P, F, 1.0f, j->w, K, dys, P, 0.0f, dcol, P);
            if (!j->pw)
                mlp__col2im(j->q, dcol, 1, dxs);
        }
    }
}

/* dW [i0, i1) += the partials of blocks 1 .. nb-1, in order. */
MLP_VECTOR_CLONES
static void dw_sum_part(void *arg, int64_t i0, int64_t i1)
{
    const conv_job *j = arg;
    const int64_t FK = (int64_t)j->F * j->K;
    const float *part = sample_partials(j);
    for (int32_t b = 1; b < j->nb; b++)
        for (int64_t i = i0; i < i1; i++)
            j->dw[i] += part[(b - 1) * FK + i];
}

/* Backward of products per sample, reading dy in place (no copy into Z's
 * layout), per block of samples (bwd_sample_part); then dW = the blocks'
 * partials added in block order. */
static mlp_status backward_per_sample(mlp_layer *l, const mlp__conv_geom *q,
                                      const float *x, const float *dy, float *dx,
                                      int32_t n)
{
    const struct conv2d_settings *s = l->settings;
    conv_job j = sample_job(l, q, x, n);
    j.dy = dy;
    j.dw = l->grads;
    j.db = s->use_bias ? l->grads + l->n_weights : NULL;
    j.dx = dx;
    if (j.db)
        mlp__pool_chunks(j.F, mlp__pool_grain((int64_t)n * j.P, MLP_POOL_MIN), 1,
                         bias_grad_part, &j);
    mlp__pool_chunks(j.nb, 1, 1, bwd_sample_part, &j);
    if (j.nb > 1)
        mlp__pool_chunks(l->n_weights, mlp__pool_grain(j.nb, MLP_POOL_MIN), 1,
                         dw_sum_part, &j);
    return MLP_STATUS_OK;
}

/* ---- the direct correlation (corr.h) ------------------------------------------- */

/* A pass of the direct correlation over a group of samples, for the pool's
 * parts: pad each sample's planes (src, [k.ci, h, w] each) into `pad`, then
 * correlate them into `out` (unless pad_only); or (corr_dw_part) the weight
 * gradient's tap blocks. */
typedef struct corr_job {
    mlp__corr k;
    const float *src, *w, *bias, *dy;
    float *pad, *out, *lanes, *bias_lanes;
    int64_t src_sz, out_sz;
    int32_t h, w_in, ph, pw, g, taps, blocks, first, pad_only;
} corr_job;

static int64_t corr_pad_size(const mlp__corr *k)
{
    return (int64_t)k->ci * k->hp * k->wp;
}

static void corr_part(void *arg, int64_t i0, int64_t i1)
{
    const corr_job *j = arg;
    for (int64_t i = i0; i < i1; i++) {
        /* padding only (for dW): a slot per sample; padding then the
         * correlation: the chunk's first slot for each of its samples, so
         * that the padded copy is still in cache */
        float *p = j->pad + (j->pad_only ? i : i0) * corr_pad_size(&j->k);
        mlp__corr_pad(j->src + i * j->src_sz, j->k.ci, j->h, j->w_in, j->ph, j->pw,
                      j->k.wp, p);
        if (!j->pad_only)
            mlp__corr_forward(&j->k, p, j->w, j->bias, j->out + i * j->out_sz);
    }
}

/* The filters of one unit of dW: two (sharing each load of the input)
 * when a filter's taps take several blocks anyway, or when a pair's block
 * holds as many taps as a single filter's (on a CPU with AVX-512, see
 * mlp__corr_dw_taps); else one, so that the unit reads each plane of dy
 * once: pairs in blocks of 6 taps measured 1-3% slower on the 1->32 3x3
 * layer, whose 9 taps then took two blocks. In one block of 9 (AVX-512),
 * that layer's backward pass in the ConvNet's step (dW alone, batch 100)
 * went from 1.05-1.06 to 0.79 ms at 1 thread and from 0.54-0.55 to
 * 0.42-0.43 ms at 2 (bench_convnet, interleaved rounds). */
static int32_t dw_unit_filters(int32_t taps)
{
    return taps > MLP__CORR_DW_TAPS || mlp__corr_dw_taps(2) == MLP__CORR_DW_TAPS ? 2 : 1;
}

/* Units u = fu blocks + b in [u0, u1): taps block b of the unit's filters
 * (dw_unit_filters from fu times that), summed over the group's samples
 * onto the lanes (set on the first group). */
static void corr_dw_part(void *arg, int64_t u0, int64_t u1)
{
    const corr_job *j = arg;
    const int32_t per = dw_unit_filters(j->taps);
    for (int64_t u = u0; u < u1; u++) {
        const int32_t f = (int32_t)(u / j->blocks) * per, b = (int32_t)(u % j->blocks);
        const int32_t nf = j->k.co - f < per ? j->k.co - f : per;
        const int32_t t0 = (int32_t)((int64_t)b * j->taps / j->blocks);
        const int32_t t1 = (int32_t)((int64_t)(b + 1) * j->taps / j->blocks);
        mlp__corr_dw(&j->k, j->pad, j->dy, j->g, f, nf, t0, t1 - t0,
                     j->lanes + ((int64_t)f * j->taps + t0) * 8, (int64_t)j->taps * 8,
                     j->bias_lanes && b == 0 ? j->bias_lanes + (int64_t)f * 8 : NULL,
                     j->first);
    }
}

/* dx of samples [i0, i1) of a group (the backward of the direct
 * correlation): mlp__corr_dx of each sample, in the chunk's first slot of
 * the scratch, while it is in cache. */
typedef struct dx_job {
    mlp__corr k;
    const float *w, *dy; /* dy of the group's first sample */
    float *dx, *sums;    /* dx of the group's first sample */
    int64_t in_sz, out_sz, sums_sz;
    int32_t h, w_in, ph, pw;
} dx_job;

static void dx_sample_part(void *arg, int64_t i0, int64_t i1)
{
    const dx_job *j = arg;
    float *sums = j->sums + i0 * j->sums_sz;
    for (int64_t i = i0; i < i1; i++)
        mlp__corr_dx(&j->k, j->ph, j->pw, j->h, j->w_in, j->w, j->dy + i * j->out_sz,
                     sums, j->dx + i * j->in_sz);
}

/* y of each sample = W correlated with x padded, plus the bias: one sample
 * per iteration. */
static mlp_status forward_corr(mlp_layer *l, const mlp__conv_geom *q, const float *x,
                               float *y, int32_t n)
{
    const struct conv2d_settings *s = l->settings;
    const int32_t F = s->filters, K = (int32_t)(l->n_weights / F), G = s->group;
    float *wpk = l->ws; /* where backward keeps dW's lanes */
    mlp__corr_pack(l->params, F, K, wpk);
    corr_job j = {.k = corr_of_x(s, q),
                  .w = wpk,
                  .bias = s->use_bias ? l->params + l->n_weights : NULL,
                  .pad = l->ws + (int64_t)F * K * 8,
                  .src_sz = l->in_size,
                  .out_sz = l->out_size,
                  .h = q->h,
                  .w_in = q->w,
                  .ph = q->ph,
                  .pw = q->pw};
    for (int32_t g0 = 0; g0 < n; g0 += G) {
        const int32_t g = n - g0 < G ? n - g0 : G;
        j.src = x + g0 * l->in_size;
        j.out = y + g0 * l->out_size;
        mlp__pool_chunks(g, 1, 1, corr_part, &j);
    }
    return MLP_STATUS_OK;
}

/*
 * Backward by the direct correlation, per group: pad x; dW's lanes += dy
 * correlated with x padded, in units of (filter, block of at most
 * MLP__CORR_DW_TAPS taps), each summed over the group's samples in order by
 * one thread, so that dW is the same at any thread count, and the unit of
 * a filter's first block sums the bias gradient's lanes on the way; dx:
 * the correlation's adjoint per sample (dx_sample_part). After the last
 * group each weight's and bias's eight lanes are added in order.
 */
static mlp_status backward_corr(mlp_layer *l, const mlp__conv_geom *q, const float *x,
                                const float *dy, float *dx, int32_t n)
{
    const struct conv2d_settings *s = l->settings;
    const int32_t F = s->filters, K = (int32_t)(l->n_weights / F), G = s->group;
    float *dw = l->grads, *db = s->use_bias ? l->grads + l->n_weights : NULL;
    float *lanes = l->ws, *bias_lanes = lanes + (int64_t)F * K * 8;
    const mlp__corr kx = corr_of_x(s, q);
    float *xp = bias_lanes + (int64_t)F * 8;
    dx_job dj = {.k = kx,
                 .w = l->params,
                 .sums = xp + (int64_t)G * corr_pad_size(&kx),
                 .in_sz = l->in_size,
                 .out_sz = l->out_size,
                 .sums_sz = mlp__corr_dx_size(&kx),
                 .h = q->h,
                 .w_in = q->w,
                 .ph = q->ph,
                 .pw = q->pw};
    corr_job pj = {.k = kx,
                   .pad = xp,
                   .src_sz = l->in_size,
                   .h = q->h,
                   .w_in = q->w,
                   .ph = q->ph,
                   .pw = q->pw,
                   .pad_only = 1};
    corr_job wj = {.k = kx,
                   .pad = xp,
                   .lanes = lanes,
                   .bias_lanes = db ? bias_lanes : NULL,
                   .taps = K};
    const int32_t per = dw_unit_filters(K), tb = mlp__corr_dw_taps(per);
    wj.blocks = (K + tb - 1) / tb;
    for (int32_t g0 = 0; g0 < n; g0 += G) {
        const int32_t g = n - g0 < G ? n - g0 : G;
        pj.src = x + g0 * l->in_size;
        mlp__pool_chunks(g, 1, 1, corr_part, &pj);
        wj.dy = dy + g0 * l->out_size;
        wj.g = g;
        wj.first = g0 == 0;
        mlp__pool_chunks((int64_t)((F + per - 1) / per) * wj.blocks, 1, 1, corr_dw_part,
                         &wj);
        if (dx) {
            dj.dy = dy + g0 * l->out_size;
            dj.dx = dx + g0 * l->in_size;
            mlp__pool_chunks(g, 1, 1, dx_sample_part, &dj);
        }
    }
    for (int64_t i = 0; i < (int64_t)F * K; i++)
        dw[i] = sum_lanes(lanes + i * 8);
    for (int32_t f = 0; db && f < F; f++)
        db[f] = sum_lanes(bias_lanes + (int64_t)f * 8);
    return MLP_STATUS_OK;
}

/* ---- Winograd F(2x2, 3x3) (wino.h) --------------------------------------------- */

/* A Winograd pass over n samples, for the pool's items. */
typedef struct wino_job {
    mlp__wino k;
    const float *u, *src, *bias;
    float *dst, *scratch;
    int64_t src_sz, dst_sz, scratch_sz;
    int32_t n, g;
} wino_job;

/* Group b (samples [b g, b g + g)) in the scratch of `slot`. */
static void wino_item(void *arg, int64_t b, int slot)
{
    const wino_job *j = arg;
    const int32_t s0 = (int32_t)(b * j->g), g = j->n - s0 < j->g ? j->n - s0 : j->g;
    mlp__wino_group(&j->k, j->u, j->src + s0 * j->src_sz, j->src_sz,
                    j->dst + s0 * j->dst_sz, j->dst_sz, g, j->bias,
                    j->scratch + slot * j->scratch_sz);
}

/* The convolution k of n samples of src into dst through the weights
 * transformed (with `adjoint` for dx) into the workspace's head. */
static void wino_run(mlp_layer *l, const mlp__wino *k, int adjoint, const float *src,
                     int64_t src_sz, float *dst, int64_t dst_sz, const float *bias,
                     int32_t n)
{
    const struct conv2d_settings *s = l->settings;
    const int32_t F = s->filters, C = l->in.d[0], g = s->wino_group;
    mlp__wino_weights(l->params, F, C, adjoint, l->ws);
    wino_job j = {.k = *k,
                  .u = l->ws,
                  .src = src,
                  .bias = bias,
                  .dst = dst,
                  .scratch = l->ws + (int64_t)MLP__WINO_XI * F * C,
                  .src_sz = src_sz,
                  .dst_sz = dst_sz,
                  .scratch_sz = mlp__wino_scratch(k, g),
                  .n = n,
                  .g = g};
    mlp__pool_items((n + g - 1) / g, WINO_SLOTS, wino_item, &j);
}

/* dW of the Winograd path in WINO_DW_RUNS runs of samples, fixed whatever
 * the thread count: each run transforms its samples a chunk at a time and
 * adds the chunk's 16 products into its own sums; the runs' sums are then
 * added in run order. */
typedef struct wino_dw_job {
    mlp__wino k;
    const float *x, *dy;
    float *du, *run;
    int64_t x_sz, dy_sz, tps, run_sz;
    int32_t n, chunk;
} wino_dw_job;

static void wino_dw_part(void *arg, int64_t r0, int64_t r1)
{
    const wino_dw_job *j = arg;
    const mlp__wino *k = &j->k;
    const int64_t du_sz = (int64_t)MLP__WINO_XI * k->co * k->ci;
    const int64_t most = j->chunk * j->tps;
    for (int64_t r = r0; r < r1; r++) {
        float *du = j->du + r * du_sz, *v = j->run + r * j->run_sz;
        float *w = v + MLP__WINO_XI * k->ci * most,
              *scratch = w + MLP__WINO_XI * k->co * most;
        const int32_t a = (int32_t)(r * j->n / WINO_DW_RUNS),
                      b = (int32_t)((r + 1) * j->n / WINO_DW_RUNS);
        if (a == b)
            memset(du, 0, (size_t)du_sz * sizeof(float));
        for (int32_t s0 = a; s0 < b; s0 += j->chunk) {
            const int32_t g = b - s0 < j->chunk ? b - s0 : j->chunk;
            const int64_t T = g * j->tps;
            mlp__wino_dw_transform(k, j->x + s0 * j->x_sz, j->x_sz, j->dy + s0 * j->dy_sz,
                                   j->dy_sz, g, v, w, scratch);
            for (int xi = 0; xi < MLP__WINO_XI; xi++)
                mlp__wino_dw_product(k, v, w, T, xi, s0 == a, du);
        }
    }
}

/* dW (and db) of the Winograd path. */
static void wino_dw(mlp_layer *l, const mlp__conv_geom *q, const float *x,
                    const float *dy, int32_t n)
{
    const struct conv2d_settings *s = l->settings;
    const int32_t F = s->filters, C = q->c;
    conv_job bj = sample_job(l, q, x, n);
    bj.dy = dy;
    bj.db = s->use_bias ? l->grads + l->n_weights : NULL;
    if (bj.db)
        mlp__pool_chunks(F, mlp__pool_grain((int64_t)n * bj.P, MLP_POOL_MIN), 1,
                         bias_grad_part, &bj);
    const mlp__wino k = wino_fwd(q, F);
    const int64_t tps = (int64_t)k.th * k.tw, du_sz = (int64_t)MLP__WINO_XI * F * C;
    wino_dw_job j = {.k = k,
                     .x = x,
                     .dy = dy,
                     .du = l->ws,
                     .run = l->ws + WINO_DW_RUNS * du_sz,
                     .x_sz = l->in_size,
                     .dy_sz = l->out_size,
                     .tps = tps,
                     .run_sz = wino_dw_run_size(&k, s->wino_chunk),
                     .n = n,
                     .chunk = s->wino_chunk};
    mlp__pool_chunks(WINO_DW_RUNS, 1, 1, wino_dw_part, &j);
    for (int r = 1; r < WINO_DW_RUNS; r++)
        for (int64_t i = 0; i < du_sz; i++)
            j.du[i] += j.du[r * du_sz + i];
    mlp__wino_dw_finish(j.du, F, C, l->grads);
}

/* Rows sf = s F + f in [r0, r1) of Z [F, g, P] into [g, F, P] (dst),
 * adding bias[f] when there is a bias. */
MLP_VECTOR_CLONES
static void scatter_part(void *arg, int64_t r0, int64_t r1)
{
    const conv_job *j = arg;
    const int32_t F = j->F, P = j->P;
    const int64_t gp = (int64_t)j->g * P;
    for (int64_t sf = r0; sf < r1; sf++) {
        const int64_t s = sf / F, f = sf % F;
        const float *src = j->src + f * gp + s * P;
        float *dst = j->dst + sf * P;
        if (j->bias) {
            const float b = j->bias[f];
            for (int64_t i = 0; i < P; i++)
                dst[i] = src[i] + b;
        } else {
            memcpy(dst, src, (size_t)P * sizeof(float));
        }
    }
}

static mlp_status conv_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                               mlp_mode mode)
{
    (void)mode;
    const struct conv2d_settings *s = l->settings;
    const mlp__conv_geom q = geom(l);
    const int32_t F = s->filters, K = (int32_t)(l->n_weights / F), G = s->group;
    const int64_t P = (int64_t)q.oh * q.ow, in_sz = l->in_size;
    const float *w = l->params, *bias = s->use_bias ? l->params + l->n_weights : NULL;
    float *col = l->ws, *z = l->ws + (int64_t)G * K * P;
    if (s->corr_fwd)
        return forward_corr(l, &q, x, y, n);
    if (s->wino) {
        const mlp__wino k = wino_fwd(&q, F);
        wino_run(l, &k, 0, x, in_sz, y, l->out_size, bias, n);
        return MLP_STATUS_OK;
    }
    if (s->per_sample)
        return forward_per_sample(l, &q, x, y, n);
    for (int32_t g0 = 0; g0 < n; g0 += G) {
        const int32_t g = n - g0 < G ? n - g0 : G;
        const int32_t gp = (int32_t)(g * P);
        mlp__im2col(&q, x + g0 * in_sz, g, col);
        mlp__sgemm(0, 0, F, gp, K, 1.0f, w, K, col, gp, 0.0f, z, gp);
        /* Z [F, g, P] -> y [g, F, P], adding the bias when there is one. */
        conv_job j = {.bias = bias,
                      .src = z,
                      .dst = y + (int64_t)g0 * F * P,
                      .F = F,
                      .P = (int32_t)P,
                      .g = g};
        mlp__pool_chunks((int64_t)g * F, mlp__pool_grain(P, MLP_POOL_MIN), 1,
                         scatter_part, &j);
    }
    return MLP_STATUS_OK;
}

/* dy [g, F, P] (j->dy, the group's first sample) -> Z [F, g, P] (j->dst)
 * for filters [f0, f1), adding each filter's sum to db[f]: summed in eight
 * lanes as in bias_grad_part, then the lanes in order. */
MLP_VECTOR_CLONES
static void gather_sum_part(void *arg, int64_t f0, int64_t f1)
{
    const conv_job *j = arg;
    const int32_t F = j->F, P = j->P;
    const int64_t gp = (int64_t)j->g * P;
    for (int64_t f = f0; f < f1; f++) {
        float s8[8] = {0};
        for (int32_t s = 0; s < j->g; s++) {
            const float *src = j->dy + ((int64_t)s * F + f) * P;
            float *dst = j->dst + f * gp + (int64_t)s * P;
            int32_t i = 0;
            for (; i + 8 <= P; i += 8)
                for (int l = 0; l < 8; l++) {
                    dst[i + l] = src[i + l];
                    s8[l] += src[i + l];
                }
            for (; i < P; i++) {
                dst[i] = src[i];
                s8[i & 7] += src[i];
            }
        }
        j->db[f] += sum_lanes(s8);
    }
}

/* The same copy without a bias, for rows sf = s F + f in [r0, r1). */
static void gather_part(void *arg, int64_t r0, int64_t r1)
{
    const conv_job *j = arg;
    const int32_t F = j->F, P = j->P;
    const int64_t gp = (int64_t)j->g * P;
    for (int64_t sf = r0; sf < r1; sf++) {
        const int64_t s = sf / F, f = sf % F;
        memcpy(j->dst + f * gp + s * P, j->dy + sf * P, (size_t)P * sizeof(float));
    }
}

/* Backward of groups of samples (the file's header). */
static void backward_groups(mlp_layer *l, const mlp__conv_geom *q, const float *x,
                            const float *dy, float *dx, int32_t n)
{
    const struct conv2d_settings *s = l->settings;
    const int32_t F = s->filters, K = (int32_t)(l->n_weights / F), G = s->group;
    const int64_t P = (int64_t)q->oh * q->ow, in_sz = l->in_size;
    float *dw = l->grads, *db = s->use_bias ? l->grads + l->n_weights : NULL;
    float *col = l->ws, *z = l->ws + (int64_t)G * K * P;
    if (db)
        memset(db, 0, (size_t)F * sizeof(float));
    for (int32_t g0 = 0; g0 < n; g0 += G) {
        const int32_t g = n - g0 < G ? n - g0 : G;
        const int32_t gp = (int32_t)(g * P);
        /* dy [g, F, P] -> Z [F, g, P], summing the bias gradient per filter
         * (one filter per iteration, so that each sum has a single owner);
         * without a bias, a plain copy row by row. */
        conv_job j = {.dy = dy + (int64_t)g0 * F * P,
                      .db = db,
                      .dst = z,
                      .F = F,
                      .P = (int32_t)P,
                      .g = g};
        if (db)
            mlp__pool_chunks(F, mlp__pool_grain(gp, MLP_POOL_MIN), 1, gather_sum_part,
                             &j);
        else
            mlp__pool_chunks((int64_t)g * F, mlp__pool_grain(P, MLP_POOL_MIN), 1,
                             gather_part, &j);
        mlp__im2col(q, x + g0 * in_sz, g, col);
        mlp__sgemm(0, 1, F, K, gp, 1.0f, z, gp, col, gp, g0 ? 1.0f : 0.0f, dw, K);
        if (dx) {
            mlp__sgemm(1, 0, K, gp, F, 1.0f, l->params, K, z, gp, 0.0f, col, gp);
            mlp__col2im(q, col, g, dx + g0 * in_sz);
        }
    }
}

static mlp_status conv_backward(mlp_layer *l, const float *x, const float *y,
                                const float *dy, float *dx, int32_t n)
{
    (void)y;
    const struct conv2d_settings *s = l->settings;
    const mlp__conv_geom q = geom(l);
    if (s->corr_dw)
        return backward_corr(l, &q, x, dy, dx, n);
    if (s->wino) {
        wino_dw(l, &q, x, dy, n);
        if (dx) {
            const mlp__wino k = wino_dx(&q, s->filters);
            wino_run(l, &k, 1, dy, l->out_size, dx, l->in_size, NULL, n);
        }
        return MLP_STATUS_OK;
    }
    if (s->per_sample)
        return backward_per_sample(l, &q, x, dy, dx, n);
    backward_groups(l, &q, x, dy, dx, n);
    return MLP_STATUS_OK;
}

/*
 * Model-file configuration: in_channels, filters, kh, kw, sh, sw, ph, pw,
 * dh, dw (i32 each, 40 bytes), and from version 2 use_bias (i32). Version 1
 * predates use_bias: its layers all have a bias.
 */
static uint32_t conv2d_config_size(uint16_t version)
{
    return version == 1 ? 40 : 44;
}

static void conv2d_write_config(const mlp_layer *l, unsigned char *p)
{
    const struct conv2d_settings *s = l->settings;
    const mlp__window *w = &s->win;
    const int32_t v[10] = {s->in_channels, s->filters, w->kh, w->kw, w->sh,
                           w->sw,          w->ph,      w->pw, s->dh, s->dw};
    for (int i = 0; i < 10; i++)
        mlp__cfg_put_i32(p + 4 * i, v[i]);
    mlp__cfg_put_i32(p + 40, s->use_bias);
}

static mlp_status conv2d_read_config(mlp_layer **out, uint16_t version,
                                     const unsigned char *p)
{
    *out = NULL;
    int32_t v[10];
    for (int i = 0; i < 10; i++)
        v[i] = mlp__cfg_get_i32(p + 4 * i);
    int32_t bias = version >= 2 ? mlp__cfg_get_i32(p + 40) : 1;
    if (bias != 0 && bias != 1)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "use_bias = %d is not 0 or 1",
                          (int)bias);
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_conv2d(&l, v[0], v[1], v[2], v[3]);
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_conv2d(l, v[4], v[5], v[6], v[7], v[8], v[9]);
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_use_bias(l, bias);
    return mlp__config_done(out, l, st);
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int conv2d_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    const struct conv2d_settings *s = l->settings;
    switch (a) {
    case MLP_LAYER_ATTR_USE_BIAS: *v = s->use_bias; break;
    case MLP_LAYER_ATTR_IN_CHANNELS: *v = s->in_channels; break;
    case MLP_LAYER_ATTR_FILTERS: *v = s->filters; break;
    case MLP_LAYER_ATTR_DILATION_H: *v = s->dh; break;
    case MLP_LAYER_ATTR_DILATION_W: *v = s->dw; break;
    default: return mlp__window_attr(&s->win, a, v); /* kernel, stride, padding */
    }
    return 1;
}

static void conv2d_set_use_bias(mlp_layer *l, int use_bias)
{
    ((struct conv2d_settings *)l->settings)->use_bias = use_bias;
}

const mlp_layer_ops mlp__conv2d_ops = {
    .name = "conv2d",
    .setup = conv_setup,
    .init_params = conv_init,
    .takes_init = 1,
    .forward = conv_forward,
    .backward = conv_backward,
    .record = {.version = 2,
               .size = conv2d_config_size,
               .write = conv2d_write_config,
               .read = conv2d_read_config},
    .get_attr = conv2d_get_attr,
    .settings_size = sizeof(struct conv2d_settings),
    .set_use_bias = conv2d_set_use_bias,
    .backward_ignores_y = 1,
};

int32_t mlp__conv2d_group(const mlp_layer *l)
{
    return ((const struct conv2d_settings *)l->settings)->group;
}

int mlp__conv2d_corr(const mlp_layer *l)
{
    const struct conv2d_settings *s = l->settings;
    return s->corr_fwd | s->corr_dw << 1;
}

int mlp__conv2d_per_sample(const mlp_layer *l)
{
    return ((const struct conv2d_settings *)l->settings)->per_sample;
}

int mlp__conv2d_wino(const mlp_layer *l)
{
    return ((const struct conv2d_settings *)l->settings)->wino;
}

void mlp__conv2d_keep(mlp_layer *l, int level)
{
    ((struct conv2d_settings *)l->settings)->keep = level;
}

mlp_status mlp_layer_create_conv2d(mlp_layer **out, int32_t in_channels, int32_t filters,
                                   int32_t kh, int32_t kw)
{
    static const char fn[] = "mlp_layer_create_conv2d";
    if (out)
        *out = NULL;
    if (in_channels < 0 || filters < 1 || kh < 1 || kw < 1)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: in_channels %d, filters %d, kernel %dx%d: need in_channels "
            ">= 0 and the others >= 1",
            fn, (int)in_channels, (int)filters, (int)kh, (int)kw);
    MLP_TRY(mlp__layer_new(out, MLP_LAYER_CONV2D, fn));
    struct conv2d_settings *s = (*out)->settings;
    s->in_channels = in_channels;
    s->filters = filters;
    s->win.kh = kh;
    s->win.kw = kw;
    s->win.sh = s->win.sw = s->dh = s->dw = 1;
    s->use_bias = 1;
    return MLP_STATUS_OK;
}

mlp_status mlp_layer_set_conv2d(mlp_layer *layer, int32_t stride_h, int32_t stride_w,
                                int32_t pad_h, int32_t pad_w, int32_t dilation_h,
                                int32_t dilation_w)
{
    static const char fn[] = "mlp_layer_set_conv2d";
    MLP_CHECK_ARG(layer, fn, "layer is NULL");
    if (layer->kind != MLP_LAYER_CONV2D)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: the layer is %s, not conv2d", fn,
                          layer->ops->name);
    if (layer->owner)
        return mlp__error(MLP_STATUS_BAD_STATE, "%s: the layer is already in a model",
                          fn);
    if (stride_h < 1 || stride_w < 1 || pad_h < 0 || pad_w < 0 || dilation_h < 1 ||
        dilation_w < 1)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: stride %dx%d, padding %dx%d, dilation %dx%d: need stride "
                          "and dilation >= 1 and padding >= 0",
                          fn, (int)stride_h, (int)stride_w, (int)pad_h, (int)pad_w,
                          (int)dilation_h, (int)dilation_w);
    struct conv2d_settings *s = layer->settings;
    s->win.sh = stride_h;
    s->win.sw = stride_w;
    s->win.ph = pad_h;
    s->win.pw = pad_w;
    s->dh = dilation_h;
    s->dw = dilation_w;
    return MLP_STATUS_OK;
}

/*
 * Batch normalisation (Ioffe and Szegedy, 2015). Per feature for dense
 * inputs; per channel of [C,H,W] inputs in the spatial variant. With M
 * values per channel in a batch (M = N, or N*H*W):
 *   mean = sum x / M,  var = sum (x - mean)^2 / M,  xhat = (x - mean) / sqrt(var + eps)
 *   y = gamma xhat + beta
 * Backward through the batch statistics:
 *   dbeta = sum dy,  dgamma = sum dy xhat,
 *   dx = gamma / (M sqrt(var + eps)) * (M dy - dbeta - xhat dgamma).
 * Inference uses running averages: r <- (1 - momentum) r + momentum * batch
 * value, with the unbiased variance (var * M / (M - 1)), as PyTorch does.
 *
 * Parameters: gamma [C], beta [C] (not "weights": no weight decay by
 * default). State: running mean [C], running variance [C]. Scratch [4C]:
 * the batch mean and 1/sqrt(var + eps), kept for backward (xhat is
 * recomputed from x rather than stored), and the folded per-channel scale
 * gamma/sqrt(var + eps) and shift beta - mean * scale; then, over planes,
 * two sums per plane [N, 2C] for the passes split by samples.
 *
 * With a ReLU after it (forward_relu, backward_relu: the model's fusion),
 * forward writes max(y, 0) in its one pass, and backward masks dy where
 * x scale + shift (y before the ReLU, recomputed from x, which backward
 * reads anyway) is not above 0: the ReLU's two passes over the batch are
 * gone, and the results have the bits of the two layers run one by one.
 *
 * With a max pool after it (forward_planes, backward_planes: see
 * mlp__plane_sink), each normalised plane goes to the pool while it is in
 * cache, and backward takes each plane of dy from the pool's backward pass
 * of that plane: the output and its gradient are never written whole.
 *
 * Over planes, on one thread, the training passes run a channel at a time
 * (train_part, grad_part): its sums over the batch, then its planes
 * normalised (or their dx) while the channel's planes are in cache. On
 * more threads they split the batch by samples (by_samples), each plane's
 * sums going to the scratch [N, 2C] and each channel's sum adding them in
 * sample order: the same bits on any thread count.
 */
#include <math.h>
#include <string.h>

#include "backend/pool.h"
#include "backend/threads.h"
#include "layer_impl.h"

/* The settings of a batch-norm layer (l->settings). */
struct batchnorm_settings {
    int spatial; /* per channel of [C,H,W] inputs */
    float momentum, eps;
};

/* Channels and values per channel per sample. */
static void layout(const mlp_layer *l, int64_t *c, int64_t *s)
{
    const struct batchnorm_settings *bn = l->settings;
    if (bn->spatial) {
        *c = l->in.d[0];
        *s = (int64_t)l->in.d[1] * l->in.d[2];
    } else {
        *c = l->in_size;
        *s = 1;
    }
}

static mlp_status bn_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    const struct batchnorm_settings *bn = l->settings;
    if (bn->spatial && in->rank != 3) {
        char a[48];
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "spatial batch norm needs a [C,H,W] input, not %s",
                          mlp__shape_str(in, a, sizeof a));
    }
    *out = *in;
    int64_t c = bn->spatial ? in->d[0] : mlp__shape_numel(in);
    l->n_weights = 0;
    l->n_params = 2 * c;
    l->n_state = 2 * c;
    l->scratch_fixed = 4 * c;
    /* planes: a sum per plane (or two, backward) for the passes split by
     * samples (by_samples) */
    l->scratch_per_sample = bn->spatial ? 2 * in->d[0] : 0;
    return MLP_STATUS_OK;
}

static void bn_init(mlp_layer *l, mlp_rng *rng)
{
    (void)rng;
    const int64_t c = l->n_params / 2;
    for (int64_t k = 0; k < c; k++) {
        l->params[k] = 1.0f;     /* gamma */
        l->params[c + k] = 0.0f; /* beta */
        l->state[k] = 0.0f;      /* running mean */
        l->state[c + k] = 1.0f;  /* running variance */
    }
}

/* A running variance is an average of batch variances, so never below 0
 * (0 itself is reachable: a constant channel with momentum 1); inference
 * takes its square root plus eps, which a negative one turns into NaN.
 * The running mean may be any finite value. */
static int64_t bn_check_state(const mlp_layer *l, const float *s, const char **why)
{
    const int64_t c = l->n_state / 2;
    for (int64_t k = 0; k < c; k++)
        if (s[c + k] < 0.0f) {
            *why = "a running variance must be >= 0";
            return c + k;
        }
    return -1;
}

/* Sums over one plane with eight partial sums, so the loops vectorise
 * without -ffast-math; the order is fixed, so results are reproducible. */
enum { LANES = 8 };

MLP_VECTOR_CLONES
static float plane_sum(const float *p, int64_t n)
{
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int t = 0; t < LANES; t++)
            acc[t] += p[j + t];
    float s = 0.0f;
    for (; j < n; j++)
        s += p[j];
    for (int t = 0; t < LANES; t++)
        s += acc[t];
    return s;
}

MLP_VECTOR_CLONES
static float plane_sq_dev(const float *p, int64_t n, float mu)
{
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int t = 0; t < LANES; t++)
            acc[t] += (p[j + t] - mu) * (p[j + t] - mu);
    float s = 0.0f;
    for (; j < n; j++)
        s += (p[j] - mu) * (p[j] - mu);
    for (int t = 0; t < LANES; t++)
        s += acc[t];
    return s;
}

/* sum g (p - mu) over one plane. The gradient sums take it and plane_sum
 * of g as two passes: GCC vectorises a loop that adds into both sums as an
 * interleaved pair (a permute per load, several times slower), and the
 * plane is in cache for the second pass. */
MLP_VECTOR_CLONES
static float plane_dot_dev(const float *p, const float *g, int64_t n, float mu)
{
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int t = 0; t < LANES; t++)
            acc[t] += g[j + t] * (p[j + t] - mu);
    float s = 0.0f;
    for (; j < n; j++)
        s += g[j] * (p[j] - mu);
    for (int t = 0; t < LANES; t++)
        s += acc[t];
    return s;
}

/* dy behind a ReLU after the layer: g where the layer's output p a + b is
 * above 0, else 0, so 0 where it is NaN (the bits of the ReLU's backward,
 * which tests its own output mlp__relu(p a + b) > 0). */
static inline float relu_masked(float g, float p, float a, float b)
{
    return p * a + b > 0.0f ? g : 0.0f;
}

/* v, or the ReLU's max(v, 0) (its own expression, NaN kept) when relu is set. */
static inline float relu_if(int relu, float v)
{
    return relu ? mlp__relu(v) : v;
}

/* plane_sum and plane_dot_dev of g masked by relu_masked (the same order). */
MLP_VECTOR_CLONES
static float plane_masked_sum(const float *p, const float *g, int64_t n, float a, float b)
{
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int t = 0; t < LANES; t++)
            acc[t] += relu_masked(g[j + t], p[j + t], a, b);
    float s = 0.0f;
    for (; j < n; j++)
        s += relu_masked(g[j], p[j], a, b);
    for (int t = 0; t < LANES; t++)
        s += acc[t];
    return s;
}

MLP_VECTOR_CLONES
static float plane_masked_dot_dev(const float *p, const float *g, int64_t n, float mu,
                                  float a, float b)
{
    float acc[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int t = 0; t < LANES; t++)
            acc[t] += relu_masked(g[j + t], p[j + t], a, b) * (p[j + t] - mu);
    float s = 0.0f;
    for (; j < n; j++)
        s += relu_masked(g[j], p[j], a, b) * (p[j] - mu);
    for (int t = 0; t < LANES; t++)
        s += acc[t];
    return s;
}

/* The arguments of a per-channel pass, for the pool's parts. */
typedef struct bn_job {
    const float *x, *dy, *a, *b;
    float *y, *mean, *var;
    const float *gamma, *istd, *cmean;
    float *dx, *dgamma, *dbeta;
    float m;
    int32_t n;
    int64_t c, s;
    int relu; /* a ReLU follows: forward clamps y at 0, backward masks dy; a
                 and b are then the forward's scale and shift */
    const mlp__plane_sink *next; /* or NULL: the planes of y and dy are its */
    float *part, *part2;         /* by_samples: per-plane sums, [n][c] each */
    /* the training forward pass by channels (train_part) */
    const float *beta;
    float *rmean, *rvar, *scale, *shift;
    float mom, eps;
} bn_job;

/* Planes fetched ahead of their use by the passes over a channel's samples
 * (stats_part, grad_sums_part), whose planes lie a channel's planes apart:
 * the hardware's prefetchers do not follow them, and each plane's first
 * pass waited on memory. In the 32/64-map ConvNet (batch 100, 1 thread,
 * interleaved rounds) batch norm + ReLU + pool over 32 planes of 28x28
 * went from 4.0 to 3.0 ms backward and 2.35 to 2.1 forward, over 64 of
 * 14x14 from 2.05 to 1.3-1.4 ms backward; 2 planes ahead against 1: 1.30-1.37
 * against 1.41-1.52 ms there, 4 no better. */
enum { PLANES_AHEAD = 2 };

/* The plane PLANES_AHEAD after sample i of channel k in such a pass over
 * channels [.., k1): a later sample's of k, else one of k + 1's first
 * samples; -1 past the pass's end (or a batch too small to reach it). */
static int64_t plane_ahead(const bn_job *j, int32_t i, int64_t k, int64_t k1)
{
    const int64_t t = (int64_t)i + PLANES_AHEAD, u = t - j->n;
    if (t < j->n)
        return t * j->c + k;
    return k + 1 < k1 && u < j->n ? u * j->c + k + 1 : -1;
}

/* Mean and sum of squared deviations of channels [k0, k1). */
static void stats_part(void *arg, int64_t k0, int64_t k1)
{
    const bn_job *j = arg;
    const int64_t c = j->c, s = j->s;
    const float inv_m = 1.0f / (float)((int64_t)j->n * s);
    for (int64_t k = k0; k < k1; k++) {
        float sum = 0.0f;
        for (int32_t i = 0; i < j->n; i++) {
            const int64_t ahead = plane_ahead(j, i, k, k1);
            if (ahead >= 0)
                mlp__prefetch(j->x + ahead * s, s * (int64_t)sizeof(float));
            sum += plane_sum(j->x + (i * c + k) * s, s);
        }
        const float mu = sum * inv_m;
        float sq = 0.0f;
        for (int32_t i = 0; i < j->n; i++)
            sq += plane_sq_dev(j->x + (i * c + k) * s, s, mu);
        j->mean[k] = mu;
        j->var[k] = sq;
    }
}

/* Batch mean and variance per feature of rows of c features into mean[],
 * var[] (scratch), vectorised along the features. (Planes take
 * train_part.) */
static void batch_stats(const float *x, int32_t n, int64_t c, float *mean, float *var)
{
    const float inv_m = 1.0f / (float)n;
    memset(mean, 0, (size_t)c * sizeof(float));
    memset(var, 0, (size_t)c * sizeof(float));
    for (int32_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            mean[k] += x[i * c + k];
    for (int64_t k = 0; k < c; k++)
        mean[k] *= inv_m;
    for (int32_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++) {
            float d = x[i * c + k] - mean[k];
            var[k] += d * d;
        }
    for (int64_t k = 0; k < c; k++)
        var[k] *= inv_m;
}

/* y = x * a[k] + b[k] on planes [p0, p1) (plane ik has channel ik % c),
 * each put into the layer after when there is one (j->next), or handed to
 * it to compute as it reads the plane (put_scaled: the 32/64-map ConvNet's
 * 2-thread step, 3 rounds, 11.33-11.42 -> 11.23-11.30 ms). */
MLP_VECTOR_CLONES
static void affine_part(void *arg, int64_t p0, int64_t p1)
{
    const bn_job *j = arg;
    const int64_t c = j->c, s = j->s;
    float buf[MLP__PLANE_MAX];
    for (int64_t ik = p0; ik < p1; ik++) {
        const int64_t k = ik % c;
        const float *p = j->x + ik * s;
        float *q = j->next ? buf : j->y + ik * s;
        const float ak = j->a[k], bk = j->b[k];
        if (j->next && j->next->put_scaled) {
            j->next->put_scaled(j->next, ik, p, ak, bk, j->relu);
            continue;
        }
        if (j->relu) {
            for (int64_t e = 0; e < s; e++) {
                const float v = p[e] * ak + bk;
                q[e] = mlp__relu(v);
            }
        } else {
            for (int64_t e = 0; e < s; e++)
                q[e] = p[e] * ak + bk;
        }
        if (j->next)
            j->next->put(j->next, ik, buf);
    }
}

/* y = x * a[k] + b[k] per channel k, then max(y, 0) when relu is set, with
 * the job's arrays; y's planes put into j->next instead when it is not
 * NULL (then s > 1). */
MLP_VECTOR_CLONES
static void affine_channels(const bn_job *j)
{
    if (j->s > 1) {
        mlp__pool_for((int64_t)j->n * j->c, mlp__pool_grain(j->s, MLP_POOL_MIN), 1,
                      affine_part, (void *)j);
        return;
    }
    const float *x = j->x, *a = j->a, *b = j->b;
    float *y = j->y;
    const int64_t c = j->c;
    const int relu = j->relu;
    for (int32_t i = 0; i < j->n; i++)
        for (int64_t k = 0; k < c; k++)
            y[i * c + k] = relu_if(relu, x[i * c + k] * a[k] + b[k]);
}

/* The running averages, 1/sqrt(var + eps), scale and shift of channel k
 * from its batch mean and variance (in j->var): the steps of every
 * training forward pass, channel by channel. */
static void channel_scale(const bn_job *j, int64_t k, int64_t m)
{
    const float mu = j->mean[k], var = j->var[k];
    const float unbias = (float)m / (float)(m - 1);
    j->rmean[k] = (1.0f - j->mom) * j->rmean[k] + j->mom * mu;
    j->rvar[k] = (1.0f - j->mom) * j->rvar[k] + j->mom * var * unbias;
    const float is = 1.0f / sqrtf(var + j->eps);
    j->var[k] = is;
    j->scale[k] = j->gamma[k] * is;
    j->shift[k] = j->beta[k] - mu * j->scale[k];
}

/* The training forward pass of channels [k0, k1) of planes (s > 1), a
 * channel at a time: its statistics, then its planes normalised while
 * they are in cache (the channel's planes over a batch of 100 at 28x28:
 * 300 KB), where a pass over all the statistics and then one over all the
 * planes read x from memory twice. The same operations in the same order
 * for each value as the passes one after the other: the same bits. In
 * the 32/64-map ConvNet (batch 100, 1 thread, 3 interleaved rounds) batch
 * norm + ReLU + pool over 32 planes of 28x28 went from 2.37-2.47 to
 * 1.91-1.99 ms, but only with the output's planes fetched ahead: without,
 * the stores a channel's planes apart missed one by one and it took 2.66-
 * 2.71 ms (2.22-2.30 against 1.20-1.24 over 64 planes of 14x14). */
static void train_part(void *arg, int64_t k0, int64_t k1)
{
    const bn_job *j = arg;
    const int64_t m = (int64_t)j->n * j->s;
    const float inv_m = 1.0f / (float)m;
    for (int64_t k = k0; k < k1; k++) {
        stats_part(arg, k, k + 1);
        j->var[k] *= inv_m;
        channel_scale(j, k, m);
        for (int32_t i = 0; i < j->n; i++) {
            /* the planes written ahead, a channel's planes apart: their
             * lines asked for before the stores miss on them (the pool's
             * output and indices, or y) */
            const int64_t ahead = plane_ahead(j, i, k, k1);
            if (ahead >= 0 && !j->next)
                mlp__prefetch_write(j->y + ahead * j->s, j->s * (int64_t)sizeof(float));
            else if (ahead >= 0 && j->next->ahead)
                j->next->ahead(j->next, ahead);
            affine_part(arg, i * j->c + k, i * j->c + k + 1);
        }
    }
}

/* The grain of the passes split by samples: samples of c planes of s. */
static int64_t sample_grain(int64_t c, int64_t s)
{
    return mlp__pool_grain(c * s, MLP_POOL_MIN);
}

/* Whether the training passes over planes split the batch by samples
 * (train_samples, grads_samples) rather than by channels: with 2 or more
 * threads. A channel's planes lie in every sample, and the layer before
 * (a conv) wrote each sample's planes on the thread that had the sample:
 * split by channels, each thread read half its planes out of the other
 * core's cache. In the 32/64-map ConvNet's 2-thread step (cores 210 ns
 * apart), batch norm over 32 planes of 28x28 took 0.72 ms forward against
 * 0.53 ms when run again over its own channels (0.50 against 0.37 over 64
 * of 14x14). Split by samples (bench_convnet, 2 threads, with the ReLU
 * and pool after it): 0.72-0.74 -> 0.42-0.43 ms forward and 0.94-0.95 ->
 * 0.67-0.69 backward (0.50 -> 0.33-0.34 and 0.41-0.46 -> 0.32-0.33 over
 * 64 planes of 14x14); the step 10.76-10.88 -> 10.51-10.68 ms. One thread
 * keeps the channels, each whole while its planes are in cache. */
static int by_samples(int32_t n, int64_t c, int64_t s)
{
    return mlp__pool_parts(n, sample_grain(c, s)) > 1;
}

/* Each plane's sum (j->part) of samples [i0, i1). */
static void sums_samples(void *arg, int64_t i0, int64_t i1)
{
    const bn_job *j = arg;
    for (int64_t ik = i0 * j->c; ik < i1 * j->c; ik++)
        j->part[ik] = plane_sum(j->x + ik * j->s, j->s);
}

/* Each plane's sum of squared deviations from its channel's mean. */
static void sq_dev_samples(void *arg, int64_t i0, int64_t i1)
{
    const bn_job *j = arg;
    for (int64_t ik = i0 * j->c; ik < i1 * j->c; ik++)
        j->part[ik] = plane_sq_dev(j->x + ik * j->s, j->s, j->mean[ik % j->c]);
}

/* The planes of samples [i0, i1) normalised (affine_part). */
static void affine_samples(void *arg, int64_t i0, int64_t i1)
{
    const bn_job *j = arg;
    affine_part(arg, i0 * j->c, i1 * j->c);
}

/* Channel k's sum of the per-plane sums part[i c + k] over the batch, in
 * sample order (stats_part's and grad_sums_part's order). */
static float channel_sum(const bn_job *j, const float *part, int64_t k)
{
    float sum = 0.0f;
    for (int32_t i = 0; i < j->n; i++)
        sum += part[i * j->c + k];
    return sum;
}

/* The training forward pass of planes split by samples: the statistics
 * (two passes, the planes' sums between them), then the planes normalised.
 * train_part's values, in its order. */
static void train_samples(bn_job *j)
{
    const int64_t m = (int64_t)j->n * j->s, grain = sample_grain(j->c, j->s);
    const float inv_m = 1.0f / (float)m;
    mlp__pool_chunks(j->n, grain, 1, sums_samples, j);
    for (int64_t k = 0; k < j->c; k++)
        j->mean[k] = channel_sum(j, j->part, k) * inv_m;
    mlp__pool_chunks(j->n, grain, 1, sq_dev_samples, j);
    for (int64_t k = 0; k < j->c; k++) {
        j->var[k] = channel_sum(j, j->part, k) * inv_m;
        channel_scale(j, k, m);
    }
    mlp__pool_chunks(j->n, grain, 1, affine_samples, j);
}

static mlp_status forward(mlp_layer *l, const float *x, float *y, int32_t n,
                          mlp_mode mode, int relu, const mlp__plane_sink *next)
{
    const struct batchnorm_settings *bn = l->settings;
    int64_t c, s;
    layout(l, &c, &s);
    float *mean = l->scratch, *istd = l->scratch + c;
    float *scale = l->scratch + 2 * c, *shift = l->scratch + 3 * c;
    bn_job jb = {.x = x,
                 .y = y,
                 .a = scale,
                 .b = shift,
                 .mean = mean,
                 .var = istd,
                 .gamma = l->params,
                 .beta = l->params + c,
                 .rmean = l->state,
                 .rvar = l->state + c,
                 .scale = scale,
                 .shift = shift,
                 .mom = bn->momentum,
                 .eps = bn->eps,
                 .n = n,
                 .c = c,
                 .s = s,
                 .relu = relu,
                 .next = next,
                 .part = l->scratch + 4 * c};
    if (mode == MLP_MODE_TRAIN) {
        const int64_t m = (int64_t)n * s;
        if (m < 2)
            return mlp__error_batch_too_small(
                mlp__error(MLP_STATUS_INVALID_ARG,
                           "batch norm: a batch of %d gives one value per feature; "
                           "training needs at least 2 (use a larger batch)",
                           (int)n));
        if (s > 1) { /* planes: by samples, or by channels on one thread */
            if (by_samples(n, c, s))
                train_samples(&jb);
            else
                mlp__pool_for(c, mlp__pool_grain(m, MLP_POOL_MIN), 1, train_part, &jb);
            return MLP_STATUS_OK;
        }
        batch_stats(x, n, c, mean, istd);
        for (int64_t k = 0; k < c; k++)
            channel_scale(&jb, k, m);
    } else {
        for (int64_t k = 0; k < c; k++) {
            mean[k] = jb.rmean[k];
            istd[k] = 1.0f / sqrtf(jb.rvar[k] + bn->eps);
            scale[k] = jb.gamma[k] * istd[k];
            shift[k] = jb.beta[k] - mean[k] * scale[k];
        }
    }
    affine_channels(&jb);
    return MLP_STATUS_OK;
}

static mlp_status bn_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                             mlp_mode mode)
{
    return forward(l, x, y, n, mode, 0, NULL);
}

static mlp_status bn_forward_relu(mlp_layer *l, const float *x, float *y, int32_t n,
                                  mlp_mode mode)
{
    return forward(l, x, y, n, mode, 1, NULL);
}

/* Planes of the spatial variant that fit the stack buffer of affine_part. */
static int bn_gives_planes(const mlp_layer *l)
{
    int64_t c, s;
    layout(l, &c, &s);
    return ((const struct batchnorm_settings *)l->settings)->spatial && s > 1 &&
           s <= MLP__PLANE_MAX;
}

static mlp_status bn_forward_planes(mlp_layer *l, const float *x, int relu,
                                    const mlp__plane_sink *next, int32_t n, mlp_mode mode)
{
    return forward(l, x, NULL, n, mode, relu, next);
}

/* The plane ik of dy: dy's own, or got from the layer after into buf. */
static const float *dy_plane(const bn_job *j, int64_t ik, float *buf)
{
    if (!j->next)
        return j->dy + ik * j->s;
    j->next->get(j->next, ik, buf);
    return buf;
}

/* q = g masked by relu_masked (g may be q: masked in place), with
 * plane_sum of q in *sum and plane_dot_dev of p and q in *dot: one pass for
 * three, with plane_sum's lanes and order (vectors of LANES), so the same
 * bits. In the 32/64-map ConvNet (batch 100, bench_convnet, interleaved
 * rounds), batch norm + ReLU + pool backward over 32 planes of 28x28 went
 * from 0.66-0.70 to 0.56-0.60 ms on 2 threads (the step 10.41-10.51 ->
 * 10.18-10.28 ms), 1.84-1.89 to 1.61-1.66 on 1. */
typedef float bn_v8 __attribute__((vector_size(LANES * sizeof(float))));
typedef int32_t bn_v8i __attribute__((vector_size(LANES * sizeof(int32_t))));
MLP_VECTOR_CLONES
static void plane_mask_sums(const float *p, const float *g, int64_t n, float a, float b,
                            float mu, float *q, float *sum, float *dot)
{
    const bn_v8 va = {a, a, a, a, a, a, a, a}, vb = {b, b, b, b, b, b, b, b};
    const bn_v8 vmu = {mu, mu, mu, mu, mu, mu, mu, mu}, zero = {0};
    bn_v8 s8 = {0}, d8 = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES) {
        bn_v8 pv, gv;
        memcpy(&pv, p + j, sizeof pv);
        memcpy(&gv, g + j, sizeof gv);
        const bn_v8i keep = pv * va + vb > zero;
        gv = (bn_v8)(keep & (bn_v8i)gv);
        memcpy(q + j, &gv, sizeof gv);
        s8 += gv;
        d8 += gv * (pv - vmu);
    }
    float s = 0.0f, d = 0.0f;
    for (; j < n; j++) {
        q[j] = relu_masked(g[j], p[j], a, b);
        s += q[j];
        d += q[j] * (p[j] - mu);
    }
    for (int t = 0; t < LANES; t++) {
        s += s8[t];
        d += d8[t];
    }
    *sum = s;
    *dot = d;
}

/* Whether the gradient passes keep the plane's gradient in dx's plane
 * between them (staged): the one dx_part then reads, instead of getting
 * dy's plane from the layer after and masking it a second time. */
static int staged(const bn_job *j)
{
    return j->dx && (j->relu || j->next);
}

/* The gradient sums of plane ik (channel k): *sg of its dy (masked when a
 * ReLU follows), *sgx of dy (x - mean). When staged, the plane's gradient
 * (got from the layer after, masked) is left in dx's plane. buf: a plane
 * of scratch for the unstaged case. */
static void plane_grad_sums(const bn_job *j, int64_t ik, int64_t k, float *buf, float *sg,
                            float *sgx)
{
    const int64_t s = j->s;
    const float *p = j->x + ik * s;
    float *q = staged(j) ? j->dx + ik * s : buf;
    const float *g = dy_plane(j, ik, q);
    if (staged(j)) {
        /* g is q (got from the layer after) or dy's plane (a ReLU only):
         * staged without a ReLU means a layer after */
        if (j->relu) {
            plane_mask_sums(p, g, s, j->a[k], j->b[k], j->cmean[k], q, sg, sgx);
            return;
        }
        *sg = plane_sum(q, s);
        *sgx = plane_dot_dev(p, q, s, j->cmean[k]);
    } else if (j->relu) {
        /* no dx to mask into, and a plane with no layer after may not fit
         * buf: the sums mask as they go */
        *sg = plane_masked_sum(p, g, s, j->a[k], j->b[k]);
        *sgx = plane_masked_dot_dev(p, g, s, j->cmean[k], j->a[k], j->b[k]);
    } else {
        *sg = plane_sum(g, s);
        *sgx = plane_dot_dev(p, g, s, j->cmean[k]);
    }
}

/* dbeta and dgamma of channels [k0, k1), adding the planes' sums in sample
 * order. When staged, each plane's gradient is left in dx's plane: the
 * same values, summed in the same order, so the same bits. */
static void grad_sums_part(void *arg, int64_t k0, int64_t k1)
{
    const bn_job *j = arg;
    const int64_t c = j->c, s = j->s;
    const int stage = staged(j);
    float buf[MLP__PLANE_MAX];
    for (int64_t k = k0; k < k1; k++) {
        float sg = 0.0f, sgx = 0.0f;
        for (int32_t i = 0; i < j->n; i++) {
            const int64_t ahead = plane_ahead(j, i, k, k1);
            if (ahead >= 0) {
                mlp__prefetch(j->x + ahead * s, s * (int64_t)sizeof(float));
                if (j->next && j->next->ahead)
                    j->next->ahead(j->next, ahead);
                if (stage)
                    mlp__prefetch_write(j->dx + ahead * s, s * (int64_t)sizeof(float));
            }
            float a, b;
            plane_grad_sums(j, i * c + k, k, buf, &a, &b);
            sg += a;
            sgx += b;
        }
        j->dbeta[k] = sg;
        j->dgamma[k] = sgx * j->istd[k];
    }
}

/* The gradient sums of each plane of samples [i0, i1) into part, part2. */
static void grad_sums_samples(void *arg, int64_t i0, int64_t i1)
{
    const bn_job *j = arg;
    float buf[MLP__PLANE_MAX];
    for (int64_t ik = i0 * j->c; ik < i1 * j->c; ik++)
        plane_grad_sums(j, ik, ik % j->c, buf, &j->part[ik], &j->part2[ik]);
}

/* dx = scale (m dy - dbeta - xhat dgamma) = A dy + B x + C per channel,
 * on planes [p0, p1). When staged, dy's plane (masked) is in dx's plane
 * already, from grad_sums_part; else it is dy's own. */
MLP_VECTOR_CLONES
static void dx_part(void *arg, int64_t p0, int64_t p1)
{
    const bn_job *j = arg;
    const int64_t c = j->c, s = j->s;
    const float m = j->m;
    const int stage = staged(j);
    for (int64_t ik = p0; ik < p1; ik++) {
        const int64_t k = ik % c;
        float *q = j->dx + ik * s;
        const float *p = j->x + ik * s, *g = stage ? q : j->dy + ik * s;
        const float is = j->istd[k], scale = j->gamma[k] * is / m;
        const float ca = scale * m, cb = -scale * is * j->dgamma[k];
        const float cc = -scale * j->dbeta[k] - cb * j->cmean[k];
        for (int64_t e = 0; e < s; e++)
            q[e] = ca * g[e] + cb * p[e] + cc;
    }
}

/* The backward pass of channels [k0, k1) of planes, a channel at a time:
 * its gradient sums, then (when dx is asked for) its planes of dx while
 * its planes of x and dy are in cache, as train_part does forward; the
 * same bits as the two passes one after the other. Measured as there:
 * 3.31-3.35 to 3.19-3.21 ms over 32 planes of 28x28, 1.41-1.43 to 1.39
 * over 64 of 14x14. With a ReLU or a layer after (staged), the first pass
 * leaves each plane's gradient in dx's plane, which it fetches ahead. */
static void grad_part(void *arg, int64_t k0, int64_t k1)
{
    const bn_job *j = arg;
    const int stage = staged(j);
    for (int64_t k = k0; k < k1; k++) {
        grad_sums_part(arg, k, k + 1);
        for (int32_t i = 0; j->dx && i < j->n; i++) {
            const int64_t ahead = plane_ahead(j, i, k, k1);
            if (ahead >= 0 && !stage)
                mlp__prefetch_write(j->dx + ahead * j->s, j->s * (int64_t)sizeof(float));
            dx_part(arg, i * j->c + k, i * j->c + k + 1);
        }
    }
}

/* dx of the planes of samples [i0, i1) (dx_part). */
static void dx_samples(void *arg, int64_t i0, int64_t i1)
{
    const bn_job *j = arg;
    dx_part(arg, i0 * j->c, i1 * j->c);
}

/* The backward pass of planes split by samples (by_samples): each plane's
 * sums, the channels' sums of them, then dx. grad_part's values, in its
 * order. */
static void grads_samples(bn_job *j)
{
    const int64_t grain = sample_grain(j->c, j->s);
    mlp__pool_chunks(j->n, grain, 1, grad_sums_samples, j);
    for (int64_t k = 0; k < j->c; k++) {
        j->dbeta[k] = channel_sum(j, j->part, k);
        j->dgamma[k] = channel_sum(j, j->part2, k) * j->istd[k];
    }
    if (j->dx)
        mlp__pool_chunks(j->n, grain, 1, dx_samples, j);
}

/* dy[i] or, when a ReLU follows, dy[i] masked by relu_masked. */
static inline float grad_at(int relu, const float *dy, const float *x, int64_t i, float a,
                            float b)
{
    return relu ? relu_masked(dy[i], x[i], a, b) : dy[i];
}

MLP_VECTOR_CLONES
static mlp_status backward(mlp_layer *l, const float *x, const float *dy, float *dx,
                           int32_t n, int relu, const mlp__plane_sink *next)
{
    int64_t c, s;
    layout(l, &c, &s);
    const float *gamma = l->params, *mean = l->scratch, *istd = l->scratch + c;
    /* gamma * istd and beta - mean * scale, from forward */
    const float *scale = l->scratch + 2 * c, *shift = l->scratch + 3 * c;
    float *dgamma = l->grads, *dbeta = l->grads + c;
    const float m = (float)((int64_t)n * s);
    memset(dgamma, 0, (size_t)c * sizeof(float));
    memset(dbeta, 0, (size_t)c * sizeof(float));
    if (s == 1) { /* dense input: vectorise along the features */
        for (int32_t i = 0; i < n; i++)
            for (int64_t k = 0; k < c; k++) {
                float g = grad_at(relu, dy, x, i * c + k, scale[k], shift[k]);
                dbeta[k] += g;
                dgamma[k] += g * (x[i * c + k] - mean[k]) * istd[k];
            }
        if (!dx)
            return MLP_STATUS_OK;
        for (int32_t i = 0; i < n; i++)
            for (int64_t k = 0; k < c; k++) {
                const float xh = (x[i * c + k] - mean[k]) * istd[k];
                const float g = grad_at(relu, dy, x, i * c + k, scale[k], shift[k]);
                dx[i * c + k] = scale[k] / m * (m * g - dbeta[k] - xh * dgamma[k]);
            }
        return MLP_STATUS_OK;
    }
    bn_job jb = {.x = x,
                 .dy = dy,
                 .gamma = gamma,
                 .istd = istd,
                 .cmean = mean,
                 .dx = dx,
                 .dgamma = dgamma,
                 .dbeta = dbeta,
                 .m = m,
                 .n = n,
                 .c = c,
                 .s = s,
                 .a = scale,
                 .b = shift,
                 .relu = relu,
                 .next = next,
                 .part = l->scratch + 4 * c,
                 .part2 = l->scratch + 4 * c + (int64_t)n * c};
    if (by_samples(n, c, s))
        grads_samples(&jb);
    else
        mlp__pool_for(c, mlp__pool_grain((int64_t)n * s, MLP_POOL_MIN), 1, grad_part,
                      &jb);
    return MLP_STATUS_OK;
}

static mlp_status bn_backward(mlp_layer *l, const float *x, const float *y,
                              const float *dy, float *dx, int32_t n)
{
    (void)y;
    return backward(l, x, dy, dx, n, 0, NULL);
}

/* y is the ReLU's output, over the layer's own (the model fuses the two
 * only when the ReLU runs in place); the mask comes from x instead. */
static mlp_status bn_backward_relu(mlp_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int32_t n)
{
    (void)y;
    return backward(l, x, dy, dx, n, 1, NULL);
}

static mlp_status bn_backward_planes(mlp_layer *l, const float *x, int relu,
                                     const mlp__plane_sink *next, float *dx, int32_t n)
{
    return backward(l, x, NULL, dx, n, relu, next);
}

/* Model-file configuration, version 1: spatial (i32), momentum, eps (f32). */
static void batchnorm_write_config(const mlp_layer *l, unsigned char *p)
{
    const struct batchnorm_settings *s = l->settings;
    mlp__cfg_put_i32(p, s->spatial);
    mlp__cfg_put_f32(p + 4, s->momentum);
    mlp__cfg_put_f32(p + 8, s->eps);
}

static mlp_status batchnorm_read_config(mlp_layer **out, uint16_t version,
                                        const unsigned char *p)
{
    (void)version;
    *out = NULL;
    int32_t spatial = mlp__cfg_get_i32(p);
    if (spatial != 0 && spatial != 1)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "spatial = %d is not 0 or 1",
                          (int)spatial);
    mlp_layer *l = NULL;
    mlp_status st =
        spatial ? mlp_layer_create_batchnorm_spatial(&l) : mlp_layer_create_batchnorm(&l);
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_batchnorm(l, mlp__cfg_get_f32(p + 4), mlp__cfg_get_f32(p + 8));
    return mlp__config_done(out, l, st);
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int batchnorm_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    const struct batchnorm_settings *s = l->settings;
    switch (a) {
    case MLP_LAYER_ATTR_MOMENTUM: *v = s->momentum; return 1;
    case MLP_LAYER_ATTR_EPSILON: *v = s->eps; return 1;
    case MLP_LAYER_ATTR_SPATIAL: *v = s->spatial; return 1;
    default: return 0;
    }
}

const mlp_layer_ops mlp__batchnorm_ops = {
    .name = "batchnorm",
    .setup = bn_setup,
    .init_params = bn_init,
    .check_state = bn_check_state,
    .forward = bn_forward,
    .backward = bn_backward,
    .forward_relu = bn_forward_relu,
    .backward_relu = bn_backward_relu,
    .gives_planes = bn_gives_planes,
    .forward_planes = bn_forward_planes,
    .backward_planes = bn_backward_planes,
    .record = {.bytes = 12,
               .write = batchnorm_write_config,
               .read = batchnorm_read_config},
    .get_attr = batchnorm_get_attr,
    .settings_size = sizeof(struct batchnorm_settings),
    .backward_ignores_y = 1,
};

static mlp_status create(mlp_layer **out, int spatial, const char *fn)
{
    MLP_TRY(mlp__layer_new(out, MLP_LAYER_BATCHNORM, fn));
    *(struct batchnorm_settings *)(*out)->settings =
        (struct batchnorm_settings){.spatial = spatial, .momentum = 0.1f, .eps = 1e-5f};
    return MLP_STATUS_OK;
}

mlp_status mlp_layer_create_batchnorm(mlp_layer **out)
{
    return create(out, 0, "mlp_layer_create_batchnorm");
}

mlp_status mlp_layer_create_batchnorm_spatial(mlp_layer **out)
{
    return create(out, 1, "mlp_layer_create_batchnorm_spatial");
}

mlp_status mlp_layer_set_batchnorm(mlp_layer *layer, float momentum, float eps)
{
    static const char fn[] = "mlp_layer_set_batchnorm";
    MLP_CHECK_ARG(layer, fn, "layer is NULL");
    if (layer->kind != MLP_LAYER_BATCHNORM)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: the layer is %s, not batchnorm",
                          fn, layer->ops->name);
    if (!(momentum > 0.0f && momentum <= 1.0f))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: momentum %g is outside (0, 1]", fn,
                          (double)momentum);
    if (!(eps > 0.0f && isfinite(eps)))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: eps %g is not > 0", fn,
                          (double)eps);
    struct batchnorm_settings *s = layer->settings;
    s->momentum = momentum;
    s->eps = eps;
    return MLP_STATUS_OK;
}

/*
 * Data-parallel training through the caller's collective operations
 * (include/mlpnet/dist.h): the hook's set-up, the copy of rank 0's model
 * and optimizer at the start of a fit, the agreement that makes a failure
 * on one rank stop every rank, the gradient buckets and the reductions at
 * the end of an epoch.
 *
 * Every rank issues the same collectives in the same order. A training
 * step is one agreement (a fixed-length sum of doubles: the values of the
 * step, then one status slot per rank) followed by the step's buckets; the
 * end of an epoch is one agreement followed by the sums of the figures and
 * the running statistics. A rank that fails before an agreement reports
 * its status in it and stops; every rank sees the slot and stops too. A
 * rank that fails after an agreement finishes that step's buckets (so the
 * sequence of collectives stays aligned) and reports the failure in the
 * next agreement, which the other ranks make at their next step or epoch
 * end.
 */
#include <stdio.h>
#include <string.h>

#include "model_impl.h"
#include "optim/optim_file.h"

/* The size of mlp_dist_ops in every release, oldest first. */
static const size_t dist_ops_sizes[] = {
    MLP__SIZE_UP_TO(mlp_dist_ops, error_message), /* 0.4 */
};
#define N_DIST_SIZES (sizeof dist_ops_sizes / sizeof dist_ops_sizes[0])
_Static_assert(MLP__SIZE_UP_TO(mlp_dist_ops, error_message) == sizeof(mlp_dist_ops),
               "a field was appended to mlp_dist_ops: list the new size");

/* 25 MiB of floats, DDP's default bucket. */
#define DEFAULT_BUCKET_FLOATS ((int64_t)25 * 1024 * 1024 / 4)

static void dist_defaults(mlp_dist_ops *o)
{
    *o = (mlp_dist_ops){
        .struct_size = sizeof *o, .size = 1, .bucket_floats = DEFAULT_BUCKET_FLOATS};
}

mlp_status mlp_dist_ops_init_size(mlp_dist_ops *ops, size_t struct_size)
{
    mlp_dist_ops d;
    dist_defaults(&d);
    return mlp__init_sized(ops, &d, struct_size, dist_ops_sizes, N_DIST_SIZES,
                           "mlp_dist_ops_init", "mlp_dist_ops");
}

/* The hook's callbacks, called with the model marked as inside one
 * (in_hook): a callback that calls back into the model (to run it, change
 * it or its hook) gets BAD_STATE there, instead of freeing or overwriting
 * what the step in progress holds. */
static mlp_status hook_broadcast(mlp_model *m, float *data, int64_t n)
{
    m->in_hook++;
    mlp_status st = m->dist.broadcast(m->dist.user, data, n);
    m->in_hook--;
    return st;
}

static mlp_status hook_sum(mlp_model *m, double *data, int64_t n)
{
    m->in_hook++;
    mlp_status st = m->dist.sum(m->dist.user, data, n);
    m->in_hook--;
    return st;
}

static mlp_status hook_reduce_start(mlp_model *m, int32_t b, float *data, int64_t n)
{
    m->in_hook++;
    mlp_status st = m->dist.reduce_start(m->dist.user, b, m->dist_nb, data, n);
    m->in_hook--;
    return st;
}

static mlp_status hook_reduce_wait(mlp_model *m, int32_t b)
{
    m->in_hook++;
    mlp_status st = m->dist.reduce_wait(m->dist.user, b);
    m->in_hook--;
    return st;
}

/* A failed callback's status, with its message when it gives one. A value
 * that is no status is returned as an internal error, as the agreement
 * reports another rank's, so that the caller never gets a value outside
 * the enum; an empty message counts as none. */
static mlp_status comm_error(const mlp_model *m, mlp_status st, const char *what)
{
    const char *msg = m->dist.error_message ? m->dist.error_message(m->dist.user) : NULL;
    if (st < MLP_STATUS_INVALID_ARG || st > MLP_STATUS_INTERNAL)
        return mlp__error(MLP_STATUS_INTERNAL,
                          "distributed training: rank %d: %s failed: the callback "
                          "returned %d, which is no mlp_status%s%s",
                          (int)m->dist.rank, what, (int)st, msg && msg[0] ? ": " : "",
                          msg && msg[0] ? msg : "");
    return mlp__error(st, "distributed training: rank %d: %s failed: %s",
                      (int)m->dist.rank, what, msg && msg[0] ? msg : mlp_status_str(st));
}

void mlp__dist_release(mlp_model *m)
{
    mlp__free(m->dist_bucket_at);
    mlp__free(m->dist_boff);
    mlp__free(m->dist_bn);
    mlp__free(m->dist_agree);
    m->dist_bucket_at = NULL;
    m->dist_boff = m->dist_bn = NULL;
    m->dist_agree = NULL;
    m->dist_cap = 0;
    m->dist_on = 0;
    m->dist_loss_agreed = 0;
}

mlp_status mlp__dist_broadcast_model(mlp_model *m)
{
    mlp_status st;
    if (m->n_params > 0 &&
        (st = hook_broadcast(m, m->params, m->n_params)) != MLP_STATUS_OK)
        return comm_error(m, st, "the broadcast of the parameters");
    if (m->n_state > 0 && (st = hook_broadcast(m, m->state, m->n_state)) != MLP_STATUS_OK)
        return comm_error(m, st, "the broadcast of the state");
    return MLP_STATUS_OK;
}

/*
 * Rank 0's optimizer on every rank: its scalars (step count,
 * hyper-parameters, schedule) through a sum to which the other ranks add
 * zeros (exact), then its per-parameter state (momentum, moments) by
 * broadcast. So a checkpoint that only rank 0 loaded resumes exactly.
 */
static mlp_status broadcast_optimizer(mlp_model *m, mlp_optimizer *opt, const char *fn)
{
    double s[MLP__OPTIM_SCALARS] = {0};
    if (m->dist.rank == 0)
        mlp__optimizer_get_scalars(opt, s);
    mlp_status st = hook_sum(m, s, MLP__OPTIM_SCALARS);
    if (st != MLP_STATUS_OK)
        return comm_error(m, st, "the broadcast of the optimizer's scalars");
    /* Cannot fail: the ranks agreed on the rule and rank 0's counts are valid. */
    MLP_TRY(mlp__optimizer_set_scalars(opt, s, fn));
    int64_t n;
    float *state = mlp__optimizer_flat_state(opt, &n);
    if (n > 0 && (st = hook_broadcast(m, state, n)) != MLP_STATUS_OK)
        return comm_error(m, st, "the broadcast of the optimizer's state");
    return MLP_STATUS_OK;
}

/* Rank 0's noise generator on every rank, through a sum to which the other
 * ranks add zeros: each of its words as four pieces of 16 bits, exact in
 * doubles. A piece that is no such number (a sum that computed something
 * else) is an internal error. */
static mlp_status broadcast_noise(mlp_model *m)
{
    enum { WORDS = 4, CUTS = 4, N = WORDS * CUTS };
    double v[N] = {0};
    if (m->dist.rank == 0)
        for (int i = 0; i < N; i++)
            v[i] = (double)((m->noise.s[i / CUTS] >> (16 * (i % CUTS))) & 0xFFFF);
    mlp_status st = hook_sum(m, v, N);
    if (st != MLP_STATUS_OK)
        return comm_error(m, st, "the broadcast of the noise generator");
    mlp_rng r = {{0}};
    for (int i = 0; i < N; i++) {
        if (!(v[i] >= 0.0 && v[i] <= 65535.0 && v[i] == (double)(uint32_t)v[i]))
            return mlp__error(MLP_STATUS_INTERNAL,
                              "the broadcast of the noise generator: the sum callback "
                              "gave %g, not a sum of rank 0's piece and zeros",
                              v[i]);
        r.s[i / CUTS] |= (uint64_t)v[i] << (16 * (i % CUTS));
    }
    m->noise = r;
    return MLP_STATUS_OK;
}

void mlp__dist_start_epoch(mlp_model *m)
{
    m->dist_noise = m->noise;
    mlp_rng common = m->noise;
    const uint64_t draw = mlp__rng_u64(&common);
    mlp__rng_seed(&m->noise, draw ^ 0x9E3779B97F4A7C15ull * ((uint64_t)m->dist.rank + 1));
}

/* Each value is cut into 8 pieces of 8 bits. The ranks' pieces x_r are all
 * equal exactly when (sum x_r)^2 = P sum x_r^2 (Cauchy-Schwarz), and with
 * pieces below 256 both sides stay exact in doubles up to 2^17 ranks
 * (MAX_RANKS, the most mlp_model_set_distributed takes). Rank 0's values
 * ride along for the message. */
enum {
    PIECES = 8,
    SAME_DOUBLES = MLP__DIST_SAME_MAX * (2 * PIECES + 1),
    MAX_RANKS = 1 << 17
};

mlp_status mlp__dist_same(mlp_model *m, const mlp__dist_value *v, int n, const char *fn)
{
    double a[SAME_DOUBLES] = {0};
    const int w = 2 * PIECES + 1;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < PIECES; k++) {
            double piece = (double)((v[i].value >> (8 * k)) & 0xff);
            a[i * w + k] = piece;
            a[i * w + PIECES + k] = piece * piece;
        }
        /* Exact below 2^53; larger values (a seed) are only compared. */
        a[i * w + 2 * PIECES] = m->dist.rank == 0 ? (double)v[i].value : 0.0;
    }
    mlp_status st = hook_sum(m, a, (int64_t)n * w);
    if (st != MLP_STATUS_OK)
        return comm_error(m, st, "the check that the ranks agree");
    const double p = (double)m->dist.size;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < PIECES; k++) {
            if (a[i * w + k] * a[i * w + k] == p * a[i * w + PIECES + k])
                continue;
            char mine[64] = "";
            if (m->dist.rank != 0)
                snprintf(mine, sizeof mine, ", rank %d: %llu", (int)m->dist.rank,
                         (unsigned long long)v[i].value);
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: the ranks differ in %s (rank 0: %.17g%s): every rank "
                              "must train the same model on data of the same size with "
                              "the same options",
                              fn, v[i].what, a[i * w + 2 * PIECES], mine);
        }
    return MLP_STATUS_OK;
}

/* FNV-1a, 64 bits, of n bytes onto h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}

/* A shape's rank and extents (not the extents past its rank). */
static uint64_t fnv_shape(uint64_t h, const mlp_shape *s)
{
    h = fnv(h, &s->rank, sizeof s->rank);
    return fnv(h, s->d, (size_t)s->rank * sizeof s->d[0]);
}

/* Layer settings, as model files record them, of at most this many bytes
 * (model_file.c's record buffer holds as many). */
enum { CONFIG_MAX = 64 };

uint64_t mlp__dist_arch_hash(const mlp_model *m)
{
    uint64_t h = fnv_shape(0xcbf29ce484222325u, &m->in);
    for (int32_t i = 0; i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        const int64_t counts[2] = {l->n_params, l->n_state};
        h = fnv(h, l->ops->name, strlen(l->ops->name) + 1);
        h = fnv_shape(h, &l->out);
        h = fnv(h, counts, sizeof counts);
        unsigned char cfg[CONFIG_MAX] = {0};
        const uint32_t n = mlp__config_size(l->ops, mlp__config_newest(l->ops));
        if (l->ops->record.write && n <= CONFIG_MAX) {
            l->ops->record.write(l, cfg);
            h = fnv(h, cfg, n);
        }
    }
    return h;
}

uint64_t mlp__dist_loss_hash(const mlp_model *m)
{
    const int32_t kind = (int32_t)m->loss.kind;
    uint64_t h = fnv(0xcbf29ce484222325u, &kind, sizeof kind);
    h = fnv(h, &m->loss.delta, sizeof m->loss.delta);
    h = fnv(h, &m->n_class_w, sizeof m->n_class_w);
    return fnv(h, m->class_w, m->class_w ? (size_t)m->n_class_w * sizeof *m->class_w : 0);
}

mlp__dist_value mlp__dist_loss_value(const mlp_model *m)
{
    return (mlp__dist_value){"the loss or its class weights (a hash of them)",
                             mlp__dist_loss_hash(m)};
}

void mlp__dist_loss_agreed(mlp_model *m)
{
    m->dist_loss_agreed = 1;
    m->dist_loss_hash = mlp__dist_loss_hash(m);
}

mlp_status mlp__dist_start_fit(mlp_model *m, mlp_status local, mlp_optimizer *opt,
                               const mlp__dist_value *same, int n, const char *fn)
{
    double v[MLP__AGREE_VALS] = {0};
    MLP_TRY(mlp__dist_agree(m, local, fn, v));
    mlp__dist_value all[MLP__DIST_SAME_MAX] = {
        {"the optimizer's rule", (uint64_t)mlp_optimizer_rule(opt)}};
    if (n > MLP__DIST_SAME_MAX - 1)
        n = MLP__DIST_SAME_MAX - 1;
    memcpy(all + 1, same, (size_t)n * sizeof *same);
    MLP_TRY(mlp__dist_same(m, all, n + 1, fn));
    MLP_TRY(mlp__dist_broadcast_model(m));
    MLP_TRY(broadcast_noise(m));
    return broadcast_optimizer(m, opt, fn);
}

mlp_status mlp_model_set_distributed(mlp_model *m, const mlp_dist_ops *ops)
{
    static const char fn[] = "mlp_model_set_distributed";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_TRY(mlp__model_check_idle(m, 1, fn));
    if (!ops) {
        mlp__dist_release(m);
        return MLP_STATUS_OK;
    }
    MLP_TRY(mlp__check_struct_size(ops->struct_size, dist_ops_sizes, N_DIST_SIZES, fn,
                                   "mlp_dist_ops",
                                   "initialise the struct with mlp_dist_ops_init(&ops)"));
    mlp_dist_ops o;
    dist_defaults(&o);
    memcpy(&o, ops, ops->struct_size);
    o.struct_size = sizeof o;
    /* the bound also keeps the agreement's buffer (one double a rank) small */
    MLP_CHECK_RANGE(o.size >= 1 && o.size <= MAX_RANKS, fn, "ops->size", o.size,
                    "in 1..131072 (2^17)");
    MLP_CHECK_RANGE(o.rank >= 0 && o.rank < o.size, fn, "ops->rank", o.rank,
                    "in 0..size-1");
    MLP_CHECK_RANGE(o.bucket_floats >= 0, fn, "ops->bucket_floats", o.bucket_floats,
                    ">= 0");
    MLP_CHECK_ARG(o.broadcast && o.reduce_start && o.reduce_wait && o.sum, fn,
                  "ops->broadcast, reduce_start, reduce_wait and sum must all be set");
    if (o.bucket_floats == 0)
        o.bucket_floats = DEFAULT_BUCKET_FLOATS;
    double *agree = mlp__calloc((size_t)MLP__AGREE_VALS + (size_t)o.size, sizeof *agree);
    if (!agree)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    mlp__dist_release(m);
    m->dist = o;
    m->dist_agree = agree;
    m->dist_on = 1;
    const mlp__dist_value sizes[] = {
        {"the layer count", (uint64_t)m->n_layers},
        {"the parameter count", (uint64_t)m->n_params},
        {"the state count", (uint64_t)m->n_state},
        {"the layers' kinds, shapes or settings (a hash of them)",
         mlp__dist_arch_hash(m)}};
    mlp_status st = mlp__dist_same(m, sizes, 4, fn);
    if (st == MLP_STATUS_OK)
        st = mlp__dist_broadcast_model(m);
    if (st != MLP_STATUS_OK) {
        mlp__dist_release(m); /* the message stays: release sets none */
        /* a collective's own failure names the collective, not the call */
        const char *e = mlp_last_error();
        if (strncmp(e, fn, sizeof fn - 1) != 0 || e[sizeof fn - 1] != ':') {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", e);
            st = mlp__error(st, "%s: %s", fn, msg);
        }
    }
    return st;
}

mlp_status mlp__dist_agree(mlp_model *m, mlp_status local, const char *what, double *vals)
{
    const int32_t p = m->dist.size;
    double *a = m->dist_agree;
    m->dist_remote = 0;
    memset(a, 0, ((size_t)MLP__AGREE_VALS + (size_t)p) * sizeof *a);
    if (local == MLP_STATUS_OK)
        memcpy(a, vals, MLP__AGREE_VALS * sizeof *a);
    else
        a[MLP__AGREE_VALS + m->dist.rank] = (double)local;
    /* The callback must not overwrite a failing rank's message: keep it. */
    char msg[512] = "";
    if (local != MLP_STATUS_OK)
        snprintf(msg, sizeof msg, "%s", mlp_last_error());
    const double t0 = mlp__now();
    mlp_status st = hook_sum(m, a, MLP__AGREE_VALS + (int64_t)p);
    m->dist_wait += mlp__now() - t0; /* a slower rank is waited for here */
    if (local != MLP_STATUS_OK)
        return mlp__error(local, "%s", msg);
    if (st != MLP_STATUS_OK)
        return comm_error(m, st, "the agreement");
    for (int32_t r = 0; r < p; r++)
        if (a[MLP__AGREE_VALS + r] != 0.0) {
            /* a status of another rank, as its sum gave it: one that is no
             * status (a sum that computed something else) is reported as
             * an internal error rather than cast into the enum */
            const double v = a[MLP__AGREE_VALS + r];
            mlp_status theirs =
                v >= 1.0 && v <= (double)MLP_STATUS_INTERNAL && v == (int)v
                    ? (mlp_status)(int)v
                    : MLP_STATUS_INTERNAL;
            m->dist_remote = 1;
            return mlp__error(theirs,
                              "%s: rank %d stopped because rank %d failed (%s; that "
                              "rank's message says why)",
                              what, (int)m->dist.rank, (int)r, mlp_status_str(theirs));
        }
    memcpy(vals, a, MLP__AGREE_VALS * sizeof *a);
    return MLP_STATUS_OK;
}

/* Grow the per-layer plan arrays to the model's layer count. */
static mlp_status reserve_plan(mlp_model *m)
{
    if (m->dist_cap >= m->n_layers)
        return MLP_STATUS_OK;
    int32_t cap = m->n_layers;
    int32_t *at = mlp__calloc((size_t)cap, sizeof *at);
    int64_t *off = mlp__calloc((size_t)cap, sizeof *off);
    int64_t *len = mlp__calloc((size_t)cap, sizeof *len);
    if (!at || !off || !len) {
        mlp__free(at);
        mlp__free(off);
        mlp__free(len);
        return mlp__error(MLP_STATUS_NO_MEMORY, "distributed training: out of memory");
    }
    mlp__free(m->dist_bucket_at);
    mlp__free(m->dist_boff);
    mlp__free(m->dist_bn);
    m->dist_bucket_at = at;
    m->dist_boff = off;
    m->dist_bn = len;
    m->dist_cap = cap;
    return MLP_STATUS_OK;
}

/*
 * Buckets in the order backward finishes the layers: from the last layer
 * down, a bucket closes at the first layer (going down) that brings it to
 * bucket_floats, or at the lowest layer with parameters. A layer's
 * gradients lie at its offset in the flat buffer, so every bucket is one
 * contiguous range, handed to the callbacks without copying.
 */
mlp_status mlp__dist_plan(mlp_model *m)
{
    MLP_TRY(reserve_plan(m));
    int64_t end = m->n_params, off = m->n_params;
    int32_t nb = 0;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        const mlp_layer *l = m->layers[i];
        m->dist_bucket_at[i] = -1;
        if (l->n_params == 0)
            continue;
        off -= l->n_params;
        if (end - off >= m->dist.bucket_floats || off == 0) {
            m->dist_bucket_at[i] = nb;
            m->dist_boff[nb] = off;
            m->dist_bn[nb] = end - off;
            nb++;
            end = off;
        }
    }
    m->dist_nb = nb;
    m->dist_started = 0;
    return MLP_STATUS_OK;
}

mlp_status mlp__dist_start(mlp_model *m, int32_t b)
{
    mlp_status st = hook_reduce_start(m, b, m->grads + m->dist_boff[b], m->dist_bn[b]);
    m->dist_started = b + 1;
    if (st != MLP_STATUS_OK)
        return comm_error(m, st, "starting a gradient bucket");
    return MLP_STATUS_OK;
}

/* Every bucket is started and waited for, also after a failure, so that
 * the collectives of the ranks stay aligned; the first failure is
 * returned, with its message. */
mlp_status mlp__dist_finish(mlp_model *m)
{
    mlp_status first = MLP_STATUS_OK;
    char msg[512] = "";
    while (m->dist_started < m->dist_nb) {
        mlp_status st = mlp__dist_start(m, m->dist_started);
        if (st != MLP_STATUS_OK && first == MLP_STATUS_OK) {
            first = st;
            snprintf(msg, sizeof msg, "%s", mlp_last_error());
        }
    }
    double t0 = mlp__now();
    for (int32_t b = 0; b < m->dist_nb; b++) {
        mlp_status st = hook_reduce_wait(m, b);
        m->dist_wait += mlp__now() - t0;
        t0 = mlp__now();
        if (st != MLP_STATUS_OK && first == MLP_STATUS_OK) {
            first = comm_error(m, st, "waiting for a gradient bucket");
            snprintf(msg, sizeof msg, "%s", mlp_last_error());
        }
    }
    if (first != MLP_STATUS_OK)
        return mlp__error(first, "%s", msg);
    return MLP_STATUS_OK;
}

mlp_status mlp__dist_reduce_sums(mlp_model *m, mlp_status local, const char *what,
                                 mlp__loss_sums *acc, int32_t k)
{
    double v[MLP__AGREE_VALS] = {
        acc->loss, acc->weight, (double)acc->correct, (double)acc->judged,
        acc->sse,  acc->sae,    (double)acc->elems,   (double)acc->rows};
    MLP_TRY(mlp__dist_agree(m, local, what, v));
    acc->loss = v[0];
    acc->weight = v[1];
    acc->correct = (int64_t)v[2];
    acc->judged = (int64_t)v[3];
    acc->sse = v[4];
    acc->sae = v[5];
    acc->elems = (int64_t)v[6];
    acc->rows = (int64_t)v[7];
    mlp_status st;
    if (acc->t_sum && (st = hook_sum(m, acc->t_sum, 3 * (int64_t)k)) != MLP_STATUS_OK)
        return comm_error(m, st, "the sum of the figures");
    return MLP_STATUS_OK;
}

mlp_status mlp__dist_end_epoch(mlp_model *m, mlp__loss_sums *acc, int32_t k)
{
    const int32_t p = m->dist.size;
    double *tmp = NULL;
    mlp_status local = MLP_STATUS_OK;
    if (m->n_state > 0 && !(tmp = mlp__calloc((size_t)m->n_state, sizeof *tmp)))
        local = mlp__error(MLP_STATUS_NO_MEMORY, "mlp_model_fit: out of memory");
    mlp_status st = mlp__dist_reduce_sums(m, local, "the sums of the epoch", acc, k);
    if (st != MLP_STATUS_OK)
        goto done;
    /* Running statistics: the mean over ranks, summed in doubles. */
    if (m->n_state > 0) {
        for (int64_t i = 0; i < m->n_state; i++)
            tmp[i] = m->state[i];
        if ((st = hook_sum(m, tmp, m->n_state)) != MLP_STATUS_OK) {
            st = comm_error(m, st, "the sum of the running statistics");
            goto done;
        }
        for (int64_t i = 0; i < m->n_state; i++)
            m->state[i] = (float)(tmp[i] / p);
    }
    /* the ranks' common noise generator, one draw on (mlp__dist_start_epoch) */
    m->noise = m->dist_noise;
    (void)mlp__rng_u64(&m->noise);
done:
    mlp__free(tmp);
    return st;
}

mlp_status mlp__dist_refuse(mlp_model *m, mlp_status st, const char *fn)
{
    if (!m || !m->dist_on || m->n_layers == 0)
        return st;
    double v[MLP__AGREE_VALS] = {0};
    return mlp__dist_agree(m, st, fn, v);
}

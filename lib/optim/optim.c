/* What all learning rules share: creation, hyper-parameters, stepping. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/pool.h"
#include "backend/threads.h"
#include "optim_impl.h"

/* Keys every rule accepts. */
#define COMMON_KEYS                                                                      \
    (1u << MLP_OPTIM_LEARNING_RATE | 1u << MLP_OPTIM_WEIGHT_DECAY | 1u << MLP_OPTIM_L1 | \
     1u << MLP_OPTIM_CLIP_NORM | 1u << MLP_OPTIM_DECAY_ALL)

static const mlp_optim_ops *rule_ops(mlp_rule rule)
{
    switch (rule) {
    case MLP_RULE_SGD: return &mlp__sgd_ops;
    case MLP_RULE_MOMENTUM: return &mlp__momentum_ops;
    case MLP_RULE_NESTEROV: return &mlp__nesterov_ops;
    case MLP_RULE_RMSPROP: return &mlp__rmsprop_ops;
    case MLP_RULE_ADAM: return &mlp__adam_ops;
    case MLP_RULE_ADAMW: return &mlp__adamw_ops;
    case MLP_RULE_ADAGRAD: return &mlp__adagrad_ops;
    }
    return NULL;
}

mlp_status mlp__optimizer_create(mlp_optimizer **out, mlp_rule rule,
                                 const mlp__param_block *block, const char *fn)
{
    const mlp_optim_ops *ops = rule_ops(rule);
    if (!ops)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: unknown rule %d", fn, (int)rule);
    const int64_t n = block->n;
    if (n == 0)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: the model has no parameters (add its layers first)", fn);
    const int n_segs = block->n_segs;
    mlp_optimizer *o = mlp__calloc(1, sizeof *o);
    if (!o)
        return MLP_STATUS_NO_MEMORY;
    o->segs = mlp__calloc((size_t)n_segs, sizeof *o->segs);
    if (ops->state_floats)
        o->state = mlp__calloc((size_t)n * (size_t)ops->state_floats, sizeof(float));
    if (!o->segs || (ops->state_floats && !o->state)) {
        mlp_optimizer_destroy(o);
        return MLP_STATUS_NO_MEMORY;
    }
    memcpy(o->segs, block->segs, (size_t)n_segs * sizeof *o->segs);
    o->n_segs = n_segs;
    o->ops = ops;
    o->block = block;
    o->generation = block->generation;
    o->n = n;
    o->base_lr = o->lr = ops->default_lr;
    o->momentum = rule == MLP_RULE_RMSPROP ? 0.0 : 0.9;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->decay = 0.9;
    o->weight_decay = rule == MLP_RULE_ADAMW ? 0.01 : 0.0;
    o->sched = MLP__SCHED_CONSTANT;
    *out = o;
    return MLP_STATUS_OK;
}

/* OK while the block's layout is the one the optimizer was created for;
 * BAD_STATE (naming `fn` and the parameter counts then and now) once
 * layers were added to the model. */
static mlp_status check_current(const mlp_optimizer *opt, const char *fn)
{
    if (opt->block->generation == opt->generation && opt->block->n == opt->n)
        return MLP_STATUS_OK;
    const long long then = (long long)opt->n, now = (long long)opt->block->n;
    if (then == now) /* parameter-free layers: the message said "34 then, 34 now" */
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: layers were added to the model since the optimizer was "
                          "created (layers without parameters: %lld parameters then and "
                          "now); create the optimizer after the model's last "
                          "mlp_model_add",
                          fn, now);
    return mlp__error(MLP_STATUS_BAD_STATE,
                      "%s: layers were added to the model since the optimizer was "
                      "created (%lld parameters then, %lld now); create the optimizer "
                      "after the model's last mlp_model_add",
                      fn, then, now);
}

mlp_status mlp__optimizer_check_block(const mlp_optimizer *opt,
                                      const mlp__param_block *block, const char *fn)
{
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    if (opt->block != block)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: the optimizer was created for another model", fn);
    return check_current(opt, fn);
}

/* Where each key lives, and its valid range. */
static double *key_slot(mlp_optimizer *o, mlp_optim_param key)
{
    switch (key) {
    case MLP_OPTIM_LEARNING_RATE: return &o->base_lr;
    case MLP_OPTIM_MOMENTUM: return &o->momentum;
    case MLP_OPTIM_BETA1: return &o->beta1;
    case MLP_OPTIM_BETA2: return &o->beta2;
    case MLP_OPTIM_EPSILON: return &o->eps;
    case MLP_OPTIM_WEIGHT_DECAY: return &o->weight_decay;
    case MLP_OPTIM_L1: return &o->l1;
    case MLP_OPTIM_DECAY: return &o->decay;
    case MLP_OPTIM_CLIP_NORM: return &o->clip;
    case MLP_OPTIM_DECAY_ALL: return NULL;
    }
    return NULL;
}

const char *mlp_optim_param_str(mlp_optim_param key)
{
    switch (key) {
    case MLP_OPTIM_LEARNING_RATE: return "learning_rate";
    case MLP_OPTIM_MOMENTUM: return "momentum";
    case MLP_OPTIM_BETA1: return "beta1";
    case MLP_OPTIM_BETA2: return "beta2";
    case MLP_OPTIM_EPSILON: return "epsilon";
    case MLP_OPTIM_WEIGHT_DECAY: return "weight_decay";
    case MLP_OPTIM_L1: return "l1";
    case MLP_OPTIM_DECAY: return "decay";
    case MLP_OPTIM_CLIP_NORM: return "clip_norm";
    case MLP_OPTIM_DECAY_ALL: return "decay_all";
    }
    return "unknown parameter";
}

int mlp__optimizer_has_key(const mlp_optimizer *o, mlp_optim_param key)
{
    return (COMMON_KEYS | o->ops->keys) & (1u << key) ? 1 : 0;
}

static mlp_status check_key(const mlp_optimizer *o, mlp_optim_param key, const char *fn)
{
    if ((int)key < 1 || (int)key > MLP_OPTIM_DECAY_ALL)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: unknown parameter key %d", fn,
                          (int)key);
    if (!mlp__optimizer_has_key(o, key))
        return mlp__error(MLP_STATUS_UNSUPPORTED,
                          "%s: rule %s has no parameter %s (key %d)", fn, o->ops->name,
                          mlp_optim_param_str(key), (int)key);
    return MLP_STATUS_OK;
}

/*
 * The rules compute in float, so a value is checked as the float it is
 * applied as, not only as the double given, which alone let through:
 * coefficients of [0, 1) from 1 - 2^-25 up, which round to 1 (RMSProp's
 * mean square then never grows, and its steps blew up); rates and
 * penalties from 2^128 - 2^103 up, which round to infinity (one step made
 * parameters infinite or NaN); an epsilon below FLT_MIN, a subnormal float
 * or 0 (mlp_set_flush_denormals reads a subnormal as 0), with which a step
 * of Adam, RMSProp or AdaGrad divided 0 by 0 for a parameter whose
 * gradients had all been 0. That bound is on the double: a double just
 * below FLT_MIN rounds up to it, but to 0 while subnormals are flushed,
 * and the flush may be turned on between this check and a step. The
 * clipping norm alone is used as a double.
 */
const char *mlp__optim_param_range(mlp_optim_param key, double value)
{
    const float f = (float)value;
    switch (key) {
    case MLP_OPTIM_MOMENTUM:
    case MLP_OPTIM_BETA1:
    case MLP_OPTIM_BETA2:
    case MLP_OPTIM_DECAY:
        return value >= 0.0 && f < 1.0f ? NULL
                                        : "[0, 1) as a float (from 1 - 2^-25, "
                                          "0.99999997, it rounds to 1)";
    case MLP_OPTIM_EPSILON:
        return value >= FLT_MIN && isfinite(f) ? NULL
                                               : "> 0 and finite as a normal float "
                                                 "(1.17549435e-38 to 3.40282347e+38)";
    case MLP_OPTIM_DECAY_ALL: return value == 0.0 || value == 1.0 ? NULL : "0 or 1";
    case MLP_OPTIM_CLIP_NORM:
        return value >= 0.0 && isfinite(value) ? NULL : ">= 0 and finite";
    default:
        return value >= 0.0 && isfinite(f) ? NULL
                                           : ">= 0 and finite as a float (at most "
                                             "3.40282347e+38)";
    }
}

/* mlp_optimizer_set, its errors naming `fn`, the call the caller made. */
static mlp_status set_key(mlp_optimizer *opt, mlp_optim_param key, double value,
                          const char *fn)
{
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    MLP_TRY(check_key(opt, key, fn));
    const char *range = mlp__optim_param_range(key, value);
    char v[MLP__FMT_DOUBLE_LEN];
    if (range)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %s = %s must be %s", fn,
                          mlp_optim_param_str(key), mlp__fmt_double(value, v), range);
    if (key == MLP_OPTIM_DECAY_ALL) {
        opt->decay_all = value != 0.0;
        return MLP_STATUS_OK;
    }
    *key_slot(opt, key) = value;
    if (key == MLP_OPTIM_LEARNING_RATE)
        opt->lr = value;
    return MLP_STATUS_OK;
}

mlp_status mlp_optimizer_set(mlp_optimizer *opt, mlp_optim_param key, double value)
{
    return set_key(opt, key, value, "mlp_optimizer_set");
}

mlp_status mlp_optimizer_get(const mlp_optimizer *opt, mlp_optim_param key, double *value)
{
    static const char fn[] = "mlp_optimizer_get";
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    MLP_CHECK_ARG(value, fn, "value is NULL");
    MLP_TRY(check_key(opt, key, fn));
    if (key == MLP_OPTIM_DECAY_ALL)
        *value = opt->decay_all;
    else
        *value = *key_slot((mlp_optimizer *)opt, key);
    return MLP_STATUS_OK;
}

mlp_status mlp_optimizer_set_learning_rate(mlp_optimizer *opt, double lr)
{
    return set_key(opt, MLP_OPTIM_LEARNING_RATE, lr, "mlp_optimizer_set_learning_rate");
}

double mlp_optimizer_learning_rate(const mlp_optimizer *opt)
{
    return opt ? opt->lr : NAN;
}

mlp_rule mlp_optimizer_rule(const mlp_optimizer *opt)
{
    return opt ? opt->ops->rule : (mlp_rule)0;
}

/* Factor that brings the global gradient norm down to the clip value. */
static float clip_scale(const mlp_optimizer *o, const float *g)
{
    if (o->clip <= 0.0)
        return 1.0f;
    double sq = 0.0;
    for (int64_t i = 0; i < o->n; i++)
        sq += (double)g[i] * g[i];
    double norm = sqrt(sq);
    return norm > o->clip ? (float)(o->clip / norm) : 1.0f;
}

/* The arguments of segment s: the step's common ones (rate, clipping
 * factor) with the segment's buffers and penalties. */
static void segment_args(const mlp_optimizer *o, int s, const mlp__step_args *common,
                         mlp__step_args *a)
{
    const mlp__segment *seg = &o->segs[s];
    const int decay = seg->weights || o->decay_all;
    const int adamw = o->ops->rule == MLP_RULE_ADAMW;
    *a = *common;
    a->p = o->block->params + seg->offset;
    a->g = o->block->grads + seg->offset;
    a->n = seg->count;
    a->s0 = o->state ? o->state + seg->offset : NULL;
    a->s1 = o->ops->state_floats > 1 ? o->state + o->n + seg->offset : NULL;
    a->l2 = decay && !adamw ? (float)o->weight_decay : 0.0f;
    a->wd = decay && adamw ? (float)o->weight_decay : 0.0f;
    a->l1 = decay ? (float)o->l1 : 0.0f;
    a->plain = a->scale == 1.0f && a->l2 == 0.0f && a->l1 == 0.0f;
}

/* A rule and the step's common arguments, for the pool. */
typedef struct step_job {
    const mlp_optimizer *o;
    const mlp__step_args *common;
} step_job;

/* Floats a rule steps at a time while the next ones' lines are asked for:
 * 2 KB (see step_part). */
enum { STEP_BLOCK = 512 };

/* Parameters [lo, hi) of the block: the piece of each segment that lies
 * there, with that segment's arguments. */
static void step_block(const step_job *j, int64_t lo, int64_t hi)
{
    for (int s = 0; s < j->o->n_segs; s++) {
        const mlp__segment *seg = &j->o->segs[s];
        const int64_t end = seg->offset + seg->count;
        const int64_t a0 = lo > seg->offset ? lo : seg->offset, a1 = hi < end ? hi : end;
        if (a0 >= a1)
            continue;
        mlp__step_args a;
        segment_args(j->o, s, j->common, &a);
        const int64_t off = a0 - seg->offset;
        a.p += off;
        a.g += off;
        a.s0 = a.s0 ? a.s0 + off : NULL;
        a.s1 = a.s1 ? a.s1 + off : NULL;
        a.n = a1 - a0;
        j->o->ops->step(j->o, &a);
    }
}

/* Parameters [lo, hi) of the block. When the block is split between
 * threads, in blocks of STEP_BLOCK floats, the next block's parameters
 * asked for, to be written (mlp__prefetch_write), while one is stepped. On
 * 2 threads every parameter was last read by both threads (each part of a
 * split step reads all of them: lib/model/split.c), so a write first takes
 * the line from the other core's cache, and the rules' loops waited on
 * those lines one at a time. The baseline MLP's split step on a 2-core
 * virtual machine whose cores took 210 ns to hand a line over: the SGD
 * step went from about 49 to 38 us (a stand-alone copy of the step); see
 * CHANGELOG for the library's figures. That prefetch was a read until
 * 0.5 (see mlp__prefetch_write); as PREFETCHW, SGD over 25,000 floats that
 * both threads had read took 5.3-5.5 us against 7.2-7.3 (2 threads, a
 * stand-alone copy). sum_part in lib/model/split.c does the same. */
static void step_part(void *arg, int64_t lo, int64_t hi)
{
    const step_job *j = arg;
    if (hi - lo == j->o->n) { /* one thread steps them all */
        step_block(j, lo, hi);
        return;
    }
    float *params = j->o->block->params;
    for (int64_t b0 = lo; b0 < hi; b0 += STEP_BLOCK) {
        const int64_t b1 = hi - b0 > STEP_BLOCK ? b0 + STEP_BLOCK : hi;
        const int64_t next = hi - b1 < STEP_BLOCK ? hi - b1 : STEP_BLOCK;
        if (b0 == lo)
            mlp__prefetch_write(params + b0, (b1 - b0) * (int64_t)sizeof(float));
        mlp__prefetch_write(params + b1, next * (int64_t)sizeof(float));
        step_block(j, b0, b1);
    }
}

/* Part t of a step cut: its two spans. */
typedef struct cut_job {
    step_job j;
    const mlp__step_cut *cut;
} cut_job;

static void cut_part(void *arg, int64_t t0, int64_t t1)
{
    const cut_job *c = arg;
    for (int64_t t = t0; t < t1; t++) {
        if (c->cut->lead[t] < c->cut->lead[t + 1])
            step_part((void *)&c->j, c->cut->lead[t], c->cut->lead[t + 1]);
        if (c->cut->rest[t] < c->cut->rest[t + 1])
            step_part((void *)&c->j, c->cut->rest[t], c->cut->rest[t + 1]);
    }
}

/* The whole block in one job on the pool, cut into one span per thread
 * when large enough, each span in up to MLP__POOL_CHUNKS chunks that a
 * thread done early may take (mlp__pool_chunks; spans and chunks of whole
 * 64-byte lines, so threads never share one), whatever the segments: one
 * wait per step instead of one per segment, and no segment too small to
 * split left to one thread. With a cut, one job of cut->parts parts, each
 * stepping its two spans. The rules are element-wise: the result does not
 * depend on the cut. */
mlp_status mlp__optimizer_step_cut(mlp_optimizer *opt, const mlp__step_cut *cut)
{
    static const char fn[] = "mlp_optimizer_step";
    MLP_CHECK_ARG(opt, fn, "optimizer is NULL");
    MLP_TRY(check_current(opt, fn));
    /* Only a loaded file holds the largest count (no run takes 2^63 - 1
     * steps), and one more would overflow: Adam's bias corrections of a
     * wrapped count made every parameter NaN. Refused before anything
     * changes; the count stays loadable, so a saved optimizer still loads. */
    if (opt->t == INT64_MAX)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: the step count is %lld, the largest there is "
                          "(mlp_optimizer_reset starts again from 0)",
                          fn, (long long)opt->t);
    MLP_TRY(mlp__optimizer_check_step(opt));
    opt->t++;
    const mlp__step_args common = {.lr = (float)opt->lr,
                                   .scale = clip_scale(opt, opt->block->grads)};
    step_job j = {opt, &common};
    if (cut && cut->parts > 1 && cut->parts <= MLP__CUT_MAX &&
        cut->rest[cut->parts] == opt->n) {
        cut_job c = {j, cut};
        mlp__pool_for(cut->parts, 1, 1, cut_part, &c);
    } else {
        mlp__pool_chunks(opt->n, MLP_POOL_MIN, 16, step_part, &j);
    }
    return MLP_STATUS_OK;
}

mlp_status mlp__optimizer_check_step(const mlp_optimizer *opt)
{
    if (!opt->ops->check_step || opt->t == INT64_MAX)
        return MLP_STATUS_OK;
    return opt->ops->check_step(opt, opt->t + 1, (float)opt->lr, "mlp_optimizer_step");
}

mlp_status mlp_optimizer_step(mlp_optimizer *opt)
{
    return mlp__optimizer_step_cut(opt, NULL);
}

void mlp_optimizer_reset(mlp_optimizer *opt)
{
    if (!opt)
        return;
    opt->t = 0;
    if (opt->state)
        memset(opt->state, 0,
               (size_t)opt->n * (size_t)opt->ops->state_floats * sizeof(float));
}

void mlp_optimizer_destroy(mlp_optimizer *opt)
{
    if (!opt)
        return;
    mlp__free(opt->segs);
    mlp__free(opt->state);
    mlp__free(opt);
}

/* The double fields among the scalars, in their order after the first five. */
#define N_DOUBLES 13
static void double_fields(mlp_optimizer *o, double *f[N_DOUBLES])
{
    double *all[N_DOUBLES] = {&o->base_lr,  &o->lr,   &o->momentum,     &o->beta1,
                              &o->beta2,    &o->eps,  &o->weight_decay, &o->l1,
                              &o->decay,    &o->clip, &o->sched_gamma,  &o->sched_mult,
                              &o->sched_min};
    memcpy(f, all, sizeof all);
}

void mlp__optimizer_get_scalars(const mlp_optimizer *opt, double *out)
{
    out[0] = (double)opt->ops->rule;
    out[1] = (double)opt->t;
    out[2] = (double)opt->decay_all;
    out[3] = (double)opt->sched;
    out[4] = (double)opt->sched_epochs;
    double *f[N_DOUBLES];
    double_fields((mlp_optimizer *)opt, f);
    for (int i = 0; i < N_DOUBLES; i++)
        out[5 + i] = *f[i];
}

mlp_status mlp__optimizer_set_scalars(mlp_optimizer *opt, const double *in,
                                      const char *fn)
{
    if (in[0] != (double)opt->ops->rule)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: the optimizer's state is that of rule %g, not %s", fn,
                          in[0], opt->ops->name);
    if (!(in[1] >= 0.0 && in[1] <= 9007199254740992.0) ||
        !(in[3] >= MLP__SCHED_CONSTANT && in[3] <= MLP__SCHED_COSINE) ||
        !(in[4] >= 0.0 && in[4] <= INT32_MAX))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: the optimizer's state has a count out of range", fn);
    opt->t = (int64_t)in[1];
    opt->decay_all = in[2] != 0.0;
    opt->sched = (mlp__sched_kind)(int)in[3];
    opt->sched_epochs = (int32_t)in[4];
    double *f[N_DOUBLES];
    double_fields(opt, f);
    for (int i = 0; i < N_DOUBLES; i++)
        *f[i] = in[5 + i];
    return MLP_STATUS_OK;
}

_Static_assert(MLP__OPTIM_SCALARS == 5 + N_DOUBLES,
               "MLP__OPTIM_SCALARS counts every scalar");

float *mlp__optimizer_flat_state(mlp_optimizer *opt, int64_t *n)
{
    *n = opt->n * opt->ops->state_floats;
    return opt->state;
}

/*
 * The optimizer's record in model files (docs/file-format.md, OPTM): the
 * optimizer writes and reads its own state, so lib/io/ knows nothing of its
 * fields. The payload, all little-endian:
 *
 *   0   rule:u32  state_floats:u32  n:u64  t:u64
 *   24  ten hyper-parameters:f64 (base rate, current rate, momentum, beta1,
 *       beta2, epsilon, weight decay, l1, decay, clip norm)
 *   104 decay_all:u32  schedule:u32  sched_epochs:i32  gamma:f64  mult:f64
 *       min_rate:f64
 *   140 n * state_floats floats of per-parameter state
 *
 * Reading rebuilds the optimizer through mlp__optimizer_create and the
 * public setters, so a file's values pass the checks a program's values
 * pass; what no setter covers is checked here.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "optim_impl.h"

#define STATE_FIXED 140u /* bytes before the per-parameter state */

/* Schedule kinds as stored (independent of the private enum's values). */
enum { SCHED_CONSTANT = 0, SCHED_STEP = 1, SCHED_EXP = 2, SCHED_COSINE = 3 };

static uint32_t sched_code(mlp__sched_kind k)
{
    switch (k) {
    case MLP__SCHED_CONSTANT: return SCHED_CONSTANT;
    case MLP__SCHED_STEP: return SCHED_STEP;
    case MLP__SCHED_EXP: return SCHED_EXP;
    case MLP__SCHED_COSINE: return SCHED_COSINE;
    }
    return SCHED_CONSTANT;
}

/* The hyper-parameters in file order (offsets 24..103). */
static double *hyper_slot(mlp_optimizer *o, int i)
{
    double *slots[10] = {&o->base_lr, &o->lr,  &o->momentum,     &o->beta1,
                         &o->beta2,   &o->eps, &o->weight_decay, &o->l1,
                         &o->decay,   &o->clip};
    return slots[i];
}

/* Their keys, for validation through mlp_optimizer_set (0: no key). */
static const mlp_optim_param hyper_key[10] = {
    MLP_OPTIM_LEARNING_RATE, (mlp_optim_param)0, MLP_OPTIM_MOMENTUM,     MLP_OPTIM_BETA1,
    MLP_OPTIM_BETA2,         MLP_OPTIM_EPSILON,  MLP_OPTIM_WEIGHT_DECAY, MLP_OPTIM_L1,
    MLP_OPTIM_DECAY,         MLP_OPTIM_CLIP_NORM};

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

uint64_t mlp__optimizer_state_size(const mlp_optimizer *o)
{
    return STATE_FIXED + 4 * (uint64_t)o->n * (uint64_t)o->ops->state_floats;
}

void mlp__optimizer_write_state(const mlp_optimizer *o, mlp__put_bytes put, void *sink)
{
    unsigned char b[STATE_FIXED];
    const int64_t nstate = o->n * o->ops->state_floats;
    memset(b, 0, sizeof b);
    mlp__put_u32(b, (uint32_t)o->ops->rule);
    mlp__put_u32(b + 4, (uint32_t)o->ops->state_floats);
    mlp__put_u64(b + 8, (uint64_t)o->n);
    mlp__put_u64(b + 16, (uint64_t)o->t);
    for (int i = 0; i < 10; i++)
        mlp__put_f64(b + 24 + 8 * i, *hyper_slot((mlp_optimizer *)o, i));
    mlp__put_u32(b + 104, (uint32_t)o->decay_all);
    mlp__put_u32(b + 108, sched_code(o->sched));
    mlp__put_i32(b + 112, o->sched_epochs);
    mlp__put_f64(b + 116, o->sched_gamma);
    mlp__put_f64(b + 124, o->sched_mult);
    mlp__put_f64(b + 132, o->sched_min);
    put(sink, b, sizeof b);
    unsigned char chunk[4096];
    for (int64_t i = 0; i < nstate;) {
        size_t k = 0;
        for (; k < sizeof chunk / 4 && i < nstate; k++, i++)
            mlp__put_f32(chunk + 4 * k, o->state[i]);
        put(sink, chunk, 4 * k);
    }
}

/*
 * The first per-parameter state value no run leaves there, by the one rule
 * the reader and the writer share (what the library writes, it reads
 * back): every value finite (a step keeps them finite while the gradients'
 * squares are; a run whose gradients overflowed a float's square has
 * diverged, and its moments are refused with the damaged ones), sums and
 * means of squares (the arrays of ops->state_nonneg) >= 0, and all of it 0
 * before the first step (creation and mlp_optimizer_reset zero it with the
 * count). A NaN or negative second moment made the first step's
 * parameters NaN; an infinite one froze its parameter for good. Returns
 * -1, or the value's index in o->state with *why saying what is wrong.
 */
static int64_t state_fault(const mlp_optimizer *o, const char **why)
{
    const int64_t n = o->n, t = o->t;
    for (int k = 0; k < o->ops->state_floats; k++) {
        const int nonneg = (o->ops->state_nonneg >> k) & 1u;
        const float *s = o->state + (int64_t)k * n;
        for (int64_t i = 0; i < n; i++) {
            const float v = s[i];
            *why = NULL;
            if (!isfinite(v))
                *why = "is not finite";
            else if (nonneg && v < 0.0f)
                *why = "is negative";
            else if (t == 0 && v != 0.0f)
                *why = "is not 0 before the first step";
            if (*why)
                return (int64_t)k * n + i;
        }
    }
    return -1;
}

/* The error for state value `at` (state_fault's), led by "FN: " and
 * followed by " (nothing was saved)" for a writer (fn not NULL). */
static mlp_status state_error(const mlp_optimizer *o, int64_t at, const char *why,
                              mlp_status st, const char *fn)
{
    const int k = o->n ? (int)(at / o->n) : 0;
    return mlp__error(st, "%s%soptimizer state: rule %s's %s[%lld] = %g %s%s",
                      fn ? fn : "", fn ? ": " : "", o->ops->name, o->ops->state_names[k],
                      (long long)(at - (int64_t)k * o->n), (double)o->state[at], why,
                      fn ? " (nothing was saved)" : "");
}

mlp_status mlp__optimizer_check_state(const mlp_optimizer *o, const char *fn)
{
    const char *why = NULL;
    const int64_t bad = state_fault(o, &why);
    if (bad < 0)
        return MLP_STATUS_OK;
    return state_error(
        o, bad, why,
        isfinite(o->state[bad]) ? MLP_STATUS_INVALID_ARG : MLP_STATUS_NUMERIC, fn);
}

/* A setter refused a stored value: keep its message behind `what`, as a
 * format error unless the build cannot do it. Running out of memory stays
 * what it is, with the allocator's message (the caller says so). */
static mlp_status refused(mlp_status st, const char *what)
{
    if (st == MLP_STATUS_NO_MEMORY)
        return st;
    char inner[300]; /* the message buffer is shared: copy it first */
    snprintf(inner, sizeof inner, "%s", mlp_last_error());
    if (st != MLP_STATUS_UNSUPPORTED)
        st = MLP_STATUS_BAD_FORMAT;
    return mlp__error(st, "%s: %s", what, inner);
}

mlp_status mlp__optimizer_read_state(mlp_optimizer **out, const mlp__param_block *block,
                                     const unsigned char *p, uint64_t len,
                                     uint64_t *err_at)
{
    *out = NULL;
    *err_at = MLP__STATE_AT_RECORD;
    if (len < STATE_FIXED)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "OPTM record of %llu bytes is shorter than %u", ull(len),
                          STATE_FIXED);
    uint32_t rule = mlp__get_u32(p), floats = mlp__get_u32(p + 4);
    uint64_t n = mlp__get_u64(p + 8), t = mlp__get_u64(p + 16);
    if (n != (uint64_t)block->n) {
        *err_at = 8;
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "the optimizer is for %llu parameters; the model has %lld",
                          ull(n), (long long)block->n);
    }
    if (floats > 2) {
        *err_at = 4;
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%lu state arrays per parameter (at most 2)",
                          (unsigned long)floats);
    }
    const uint64_t want = STATE_FIXED + 4 * (uint64_t)floats * n;
    if (len != want)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "record 'OPTM' has %llu payload bytes; it must have %llu",
                          ull(len), ull(want));
    if (t > (uint64_t)INT64_MAX) {
        *err_at = 16;
        return mlp__error(MLP_STATUS_BAD_FORMAT, "step count %llu is out of range",
                          ull(t));
    }

    mlp_optimizer *o = NULL;
    mlp_status st =
        mlp__optimizer_create(&o, (mlp_rule)rule, block, "mlp_optimizer_create");
    if (st != MLP_STATUS_OK) {
        *err_at = 0;
        return refused(st, "optimizer");
    }
    if ((uint32_t)o->ops->state_floats != floats) {
        *err_at = 4;
        st = mlp__error(MLP_STATUS_BAD_FORMAT,
                        "rule %s keeps %d state arrays, the record %lu", o->ops->name,
                        o->ops->state_floats, (unsigned long)floats);
        goto fail;
    }
    /* Hyper-parameters: through mlp_optimizer_set where the rule has the key
     * (the same range checks as a program's values). A key the rule lacks
     * keeps its creation default, which no setter can change, and is kept
     * as stored, but within the range the setter gives that key: a value
     * no program could have set is a damaged file. The current rate has no
     * key: finite and >= 0, as the base rate. */
    for (int i = 0; i < 10; i++) {
        double v = mlp__get_f64(p + 24 + 8 * i);
        *err_at = 24 + 8 * (uint64_t)i;
        /* Asked without a report: mlp_optimizer_get would leave its
         * "no parameter" message behind a load that succeeds. */
        if (hyper_key[i] && mlp__optimizer_has_key(o, hyper_key[i])) {
            st = mlp_optimizer_set(o, hyper_key[i], v);
            if (st != MLP_STATUS_OK) {
                st = refused(st, "optimizer");
                goto fail;
            }
        } else {
            const mlp_optim_param key =
                hyper_key[i] ? hyper_key[i] : MLP_OPTIM_LEARNING_RATE;
            const char *range = mlp__optim_param_range(key, v);
            if (range) {
                char text[MLP__FMT_DOUBLE_LEN];
                mlp__fmt_double(v, text);
                if (hyper_key[i])
                    st = mlp__error(MLP_STATUS_BAD_FORMAT,
                                    "optimizer: %s = %s (unused by rule %s) must be %s",
                                    mlp_optim_param_str(key), text, o->ops->name, range);
                else
                    st = mlp__error(MLP_STATUS_BAD_FORMAT,
                                    "optimizer: current rate = %s must be %s", text,
                                    range);
                goto fail;
            }
        }
        *hyper_slot(o, i) = v; /* also the current rate, set last */
    }
    uint32_t decay_all = mlp__get_u32(p + 104), sched = mlp__get_u32(p + 108);
    int32_t sched_epochs = mlp__get_i32(p + 112);
    double gamma = mlp__get_f64(p + 116), mult = mlp__get_f64(p + 124),
           min_rate = mlp__get_f64(p + 132);
    if (decay_all > 1) {
        *err_at = 104;
        st = mlp__error(MLP_STATUS_BAD_FORMAT, "decay_all = %lu is not 0 or 1",
                        (unsigned long)decay_all);
        goto fail;
    }
    o->decay_all = (int)decay_all;
    *err_at = 108;
    switch (sched) {
    case SCHED_CONSTANT: st = mlp_optimizer_schedule_constant(o); break;
    case SCHED_STEP: st = mlp_optimizer_schedule_step(o, sched_epochs, gamma); break;
    case SCHED_EXP: st = mlp_optimizer_schedule_exponential(o, gamma); break;
    case SCHED_COSINE:
        st = mlp_optimizer_schedule_cosine(o, sched_epochs, mult, min_rate);
        break;
    default:
        st = mlp__error(MLP_STATUS_BAD_FORMAT, "unknown schedule %lu",
                        (unsigned long)sched);
        goto fail;
    }
    if (st != MLP_STATUS_OK) {
        st = refused(st, "optimizer schedule");
        goto fail;
    }
    /* Fields the schedule does not use are kept as stored rather than reset:
     * an optimizer keeps the fields of a schedule it no longer follows (the
     * next schedule call overwrites them), so loading and saving again
     * gives the same bytes. Each must still be what a program could have
     * left there: 0, the value of an optimizer never given a schedule that
     * uses the field, or a value the schedule's setter accepts (the ranges
     * of schedule.c). The stored schedule's own fields passed its setter
     * above and pass again. */
    const struct {
        uint64_t at;
        const char *name;
        double v;
        int ok;
        const char *range;
    } field[] = {
        {112, "epochs", sched_epochs, sched_epochs >= 0, "0 or >= 1"},
        {116, "gamma", gamma, gamma >= 0.0 && gamma <= 1.0, "0 or in (0, 1]"},
        {124, "period multiplier", mult, mult == 0.0 || (mult >= 1.0 && isfinite(mult)),
         "0 or >= 1 and finite"},
        {132, "minimum rate", min_rate, min_rate >= 0.0 && isfinite((float)min_rate),
         ">= 0 and finite as a float"},
    };
    for (size_t i = 0; i < sizeof field / sizeof field[0]; i++)
        if (!field[i].ok) {
            *err_at = field[i].at;
            st = mlp__error(MLP_STATUS_BAD_FORMAT,
                            "optimizer schedule: %s = %g must be %s", field[i].name,
                            field[i].v, field[i].range);
            goto fail;
        }
    o->sched_epochs = sched_epochs;
    o->sched_gamma = gamma;
    o->sched_mult = mult;
    o->sched_min = min_rate;
    o->t = (int64_t)t;
    /* The state, read whole, then checked by the writer's rule (state_fault). */
    const int64_t nstate = (int64_t)floats * (int64_t)n;
    for (int64_t i = 0; i < nstate; i++)
        o->state[i] = mlp__get_f32(p + STATE_FIXED + 4 * (uint64_t)i);
    const char *why = NULL;
    const int64_t bad = state_fault(o, &why);
    if (bad >= 0) {
        *err_at = STATE_FIXED + 4 * (uint64_t)bad;
        st = state_error(o, bad, why, MLP_STATUS_BAD_FORMAT, NULL);
        goto fail;
    }
    *out = o;
    return MLP_STATUS_OK;
fail:
    mlp_optimizer_destroy(o);
    return st;
}

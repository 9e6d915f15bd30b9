/*
 * Private optimizer interface. Each learning rule is one small file with a
 * static mlp_optim_ops table: how much state it keeps per parameter, which
 * hyper-parameters it reads, and a flat update loop. optim.c validates the
 * hyper-parameters, computes the gradient-clipping scale once per step, and
 * calls the rule once per parameter segment (weights, then the rest, of each
 * layer), so that weight decay reaches weights only. A large segment is cut
 * into one span per thread there, so a rule's loop is plain serial code.
 */
#ifndef MLPNET_OPTIM_IMPL_H
#define MLPNET_OPTIM_IMPL_H

#include "core/core.h"
#include "optim_file.h" /* the block check, staleness, the file record */
#include "param_block.h"

/* One call of a rule's update loop: a segment of n parameters. */
typedef struct mlp__step_args {
    float *p;       /* parameters */
    const float *g; /* raw gradients */
    float *s0, *s1; /* the rule's state for these parameters (or NULL) */
    int64_t n;
    float lr;     /* current rate */
    float l2, l1; /* penalty coefficients for this segment (0 when off) */
    float wd;     /* decoupled decay for this segment (AdamW) */
    float scale;  /* gradient-clipping factor (1 when off) */
    int plain;    /* 1: no clipping, L2 or L1, so the gradient is g as is */
} mlp__step_args;

/* The gradient a rule sees: clipped raw gradient plus the L2 and L1 terms.
 * `plain` does not change inside a loop, so the compiler makes two copies of
 * each rule's loop and the common case skips the extra terms. */
static inline float mlp__eff_grad(const mlp__step_args *a, int64_t i)
{
    if (a->plain)
        return a->g[i];
    float p = a->p[i];
    float sign = (float)((p > 0.0f) - (p < 0.0f));
    return a->scale * a->g[i] + a->l2 * p + a->l1 * sign;
}

typedef struct mlp_optim_ops {
    mlp_rule rule;
    const char *name;
    int state_floats; /* state arrays per parameter (0, 1 or 2) */
    double default_lr;
    unsigned keys; /* rule-specific keys it reads: bit (1u << key) */
    /* update a->n parameters; called on a span of a segment, on any thread */
    void (*step)(const mlp_optimizer *o, const mlp__step_args *a);
    /* optional: OK when step t (from 1) at rate lr gives finite scalars,
     * else MLP_STATUS_NUMERIC with a message naming `fn`; called before a
     * step changes anything */
    mlp_status (*check_step)(const mlp_optimizer *o, int64_t t, float lr, const char *fn);
    /* For the loader's checks of a stored state (optim_file.c): the name of
     * each state array, and bit k set when array k is a sum or mean of
     * squares, which no run makes negative. */
    const char *state_names[2];
    unsigned state_nonneg;
} mlp_optim_ops;

typedef enum {
    MLP__SCHED_CONSTANT,
    MLP__SCHED_STEP,
    MLP__SCHED_EXP,
    MLP__SCHED_COSINE
} mlp__sched_kind;

struct mlp_optimizer {
    const mlp_optim_ops *ops;
    const mlp__param_block *block; /* borrowed: the model's, used while it lives */
    uint64_t generation;           /* the block's generation when created */
    int64_t n;                     /* parameters */
    mlp__segment *segs;
    int n_segs;
    float *state; /* n * ops->state_floats floats, zero at start */
    int64_t t;    /* steps taken */
    /* hyper-parameters, as given; each is in its key's range as the float
     * the rules convert it to (mlp__optim_param_range) */
    double base_lr, lr, momentum, beta1, beta2, eps, weight_decay, l1, decay, clip;
    int decay_all;
    /* schedule */
    mlp__sched_kind sched;
    int32_t sched_epochs;         /* step: epochs per step; cosine: first period */
    double sched_gamma;           /* step, exponential */
    double sched_mult, sched_min; /* cosine */
};

extern const mlp_optim_ops mlp__sgd_ops, mlp__momentum_ops, mlp__nesterov_ops,
    mlp__rmsprop_ops, mlp__adam_ops, mlp__adamw_ops, mlp__adagrad_ops;

/* Create an optimizer for a parameter block (the model's; borrowed). The
 * public mlp_optimizer_create (lib/model/) checks `out` and the model and
 * hands its block over; `fn` names it in messages. */
/* NULL when `value` is in the range mlp_optimizer_set accepts for `key`
 * (a known key), as a double and as the float the rules apply it as, else
 * that range as text ("[0, 1) as a float (...)"). */
const char *mlp__optim_param_range(mlp_optim_param key, double value);

/* 1 when `o`'s rule has the known key `key` (mlp_optimizer_get and _set
 * take it), else 0. Unlike those calls it reports nothing: a reader that
 * asks it, as the loader does for each stored hyper-parameter, leaves the
 * thread's last error as it was. */
int mlp__optimizer_has_key(const mlp_optimizer *o, mlp_optim_param key);

mlp_status mlp__optimizer_create(mlp_optimizer **out, mlp_rule rule,
                                 const mlp__param_block *block, const char *fn);

#endif /* MLPNET_OPTIM_IMPL_H */

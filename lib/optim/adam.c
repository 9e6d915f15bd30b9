/*
 * Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019):
 *   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
 *   p <- p - lr (m / c1) / (sqrt(v / c2) + eps),  c1 = 1 - b1^t, c2 = 1 - b2^t
 * AdamW first shrinks the weights, p <- p - lr wd p, instead of adding
 * wd p to the gradient. The bias corrections are folded into two scalars
 * per step, so the loop does one square root and one division per element.
 * Those two bound the step, so it has an AVX-512 clone (MLP_WIDE_CLONES):
 * 16 lanes a square root and a division instead of 8 took the baseline
 * MLP's step (103,000 parameters, 1 thread) from 30.5 to 19.6 us, with
 * the same bits.
 */
#include <float.h>
#include <math.h>

#include "optim_impl.h"

/* p -= lr/c1 * m / (sqrt(v)/sqrt(c2) + eps) = step_size * m / (sqrt(v) + eps_hat):
 * the step size of step t at rate lr, as the float the loop applies. */
static float step_size_at(const mlp_optimizer *o, int64_t t, float lr)
{
    const double c1 = 1.0 - pow(o->beta1, (double)t), c2 = 1.0 - pow(o->beta2, (double)t);
    return (float)(lr * sqrt(c2) / c1);
}

/*
 * Each hyper-parameter is a finite float (optim.c), but the step size
 * divides the rate by 1 - b1^t, down to 2^-24 at the first step: from a
 * rate of 2^104 (2e31; b2 0) it was infinity as a float, and so was AdamW's
 * lr wd from a product of 2^128. The loop then made every parameter
 * infinite or NaN (inf times a first moment of 0 is NaN) and the step
 * returned OK. The rates an epoch's schedule gives and the count are known
 * only at the step, so the step is checked there, before it changes
 * anything. Beyond these two scalars, a step overflows only through the
 * gradients, as any diverging run does.
 */
static mlp_status adam_check_step(const mlp_optimizer *o, int64_t t, float lr,
                                  const char *fn)
{
    char r[MLP__FMT_DOUBLE_LEN], b1[MLP__FMT_DOUBLE_LEN], b2[MLP__FMT_DOUBLE_LEN];
    if (!isfinite(step_size_at(o, t, lr)))
        return mlp__error(MLP_STATUS_NUMERIC,
                          "%s: step %lld of %s at learning_rate %s, with beta1 %s and "
                          "beta2 %s, has a bias-corrected step size, lr sqrt(1 - "
                          "beta2^t) / (1 - beta1^t), beyond the largest float; the "
                          "parameters are unchanged (lower the learning rate or beta1)",
                          fn, (long long)t, o->ops->name, mlp__fmt_double(o->lr, r),
                          mlp__fmt_double(o->beta1, b1), mlp__fmt_double(o->beta2, b2));
    const float lr_wd = lr * (float)o->weight_decay; /* as the loop's shrink has it */
    if (o->ops->rule != MLP_RULE_ADAMW || isfinite(lr_wd))
        return MLP_STATUS_OK;
    for (int s = 0; s < o->n_segs; s++)
        if (o->segs[s].weights || o->decay_all)
            return mlp__error(MLP_STATUS_NUMERIC,
                              "%s: step %lld of adamw: learning_rate %s times "
                              "weight_decay %s is beyond the largest float; the "
                              "parameters are unchanged (lower either)",
                              fn, (long long)t, mlp__fmt_double(o->lr, r),
                              mlp__fmt_double(o->weight_decay, b1));
    return MLP_STATUS_OK;
}

MLP_WIDE_CLONES
static void adam_step(const mlp_optimizer *o, const mlp__step_args *a)
{
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const double c2 = 1.0 - pow(o->beta2, (double)o->t);
    const float step_size = step_size_at(o, o->t, a->lr);
    /* eps is a normal float (optim.c), but sqrt(c2) is below 1: at the
     * first step it is sqrt(1 - b2), 0.03 for the default b2 and down to
     * 2^-12.5 for the largest b2 accepted. eps sqrt(c2) could then be a
     * subnormal float (eps below 3.7e-37 at the default b2, 6.8e-35 at the
     * largest), which mlp_set_flush_denormals makes 0, and the step divided
     * 0 by 0 for each parameter whose gradients had all been 0. It is kept
     * at FLT_MIN at least, in double before the conversion. That changes
     * only steps where it was subnormal, and those by less than a float's
     * rounding wherever sqrt(v) is above 2e-31. A lower bound on eps that
     * covered the product instead (FLT_MIN / sqrt(1 - b2)) would move with
     * b2 and refuse values that the other rules take. */
    const float eps_hat = (float)fmax(o->eps * sqrt(c2), (double)FLT_MIN);
    const float shrink = 1.0f - a->lr * a->wd;
    float *m = a->s0, *v = a->s1;
    float *p = a->p;
    if (shrink == 1.0f) { /* Adam, or AdamW on a segment without decay */
        for (int64_t i = 0; i < a->n; i++) {
            float g = mlp__eff_grad(a, i);
            float mi = b1 * m[i] + (1.0f - b1) * g;
            float vi = b2 * v[i] + (1.0f - b2) * g * g;
            m[i] = mi;
            v[i] = vi;
            p[i] -= step_size * mi / (sqrtf(vi) + eps_hat);
        }
        return;
    }
    for (int64_t i = 0; i < a->n; i++) {
        float g = mlp__eff_grad(a, i);
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        p[i] = p[i] * shrink - step_size * m[i] / (sqrtf(v[i]) + eps_hat);
    }
}

#define ADAM_KEYS                                                                        \
    (1u << MLP_OPTIM_BETA1 | 1u << MLP_OPTIM_BETA2 | 1u << MLP_OPTIM_EPSILON)

const mlp_optim_ops mlp__adam_ops = {
    .rule = MLP_RULE_ADAM,
    .name = "adam",
    .state_floats = 2,
    .default_lr = 0.001,
    .keys = ADAM_KEYS,
    .step = adam_step,
    .check_step = adam_check_step,
    .state_names = {"m", "v"},
    .state_nonneg = 1u << 1,
};

const mlp_optim_ops mlp__adamw_ops = {
    .rule = MLP_RULE_ADAMW,
    .name = "adamw",
    .state_floats = 2,
    .default_lr = 0.001,
    .keys = ADAM_KEYS,
    .step = adam_step,
    .check_step = adam_check_step,
    .state_names = {"m", "v"},
    .state_nonneg = 1u << 1,
};

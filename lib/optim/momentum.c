/*
 * SGD with heavy-ball momentum, as the course's MomentumLearningRule:
 *   v <- mu v - lr g,   p <- p + v,   with v = 0 at the start.
 */
#include "optim_impl.h"

MLP_VECTOR_CLONES
static void momentum_step(const mlp_optimizer *o, const mlp__step_args *a)
{
    const float mu = (float)o->momentum;
    float *v = a->s0;
    for (int64_t i = 0; i < a->n; i++) {
        v[i] = mu * v[i] - a->lr * mlp__eff_grad(a, i);
        a->p[i] += v[i];
    }
}

const mlp_optim_ops mlp__momentum_ops = {
    .rule = MLP_RULE_MOMENTUM,
    .name = "momentum",
    .state_floats = 1,
    .default_lr = 0.01,
    .keys = 1u << MLP_OPTIM_MOMENTUM,
    .step = momentum_step,
    .state_names = {"velocity"},
};

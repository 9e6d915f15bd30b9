/*
 * Nesterov momentum in the form of Sutskever et al. (2013), rewritten so the
 * gradient is taken at the current parameters:
 *   v <- mu v - lr g,   p <- p + mu v - lr g.
 */
#include "optim_impl.h"

MLP_VECTOR_CLONES
static void nesterov_step(const mlp_optimizer *o, const mlp__step_args *a)
{
    const float mu = (float)o->momentum;
    float *v = a->s0;
    for (int64_t i = 0; i < a->n; i++) {
        float step = a->lr * mlp__eff_grad(a, i);
        v[i] = mu * v[i] - step;
        a->p[i] += mu * v[i] - step;
    }
}

const mlp_optim_ops mlp__nesterov_ops = {
    .rule = MLP_RULE_NESTEROV,
    .name = "nesterov",
    .state_floats = 1,
    .default_lr = 0.01,
    .keys = 1u << MLP_OPTIM_MOMENTUM,
    .step = nesterov_step,
    .state_names = {"velocity"},
};

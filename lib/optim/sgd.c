/* Plain stochastic gradient descent:  p <- p - lr g. */
#include "optim_impl.h"

MLP_VECTOR_CLONES
static void sgd_step(const mlp_optimizer *o, const mlp__step_args *a)
{
    (void)o;
    for (int64_t i = 0; i < a->n; i++)
        a->p[i] -= a->lr * mlp__eff_grad(a, i);
}

const mlp_optim_ops mlp__sgd_ops = {
    .rule = MLP_RULE_SGD,
    .name = "sgd",
    .default_lr = 0.1,
    .step = sgd_step,
};

/*
 * Softplus:  y = log(1 + e^x),  dx = dy * sigmoid(x).
 *
 * Written as y = max(x, 0) + log1p(e^-|x|), so that e^ never overflows and
 * small values keep their digits; the derivative reuses e^-|x| the same way:
 * sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below.
 */
#include <math.h>

#include "backend/gemm.h"
#include "backend/threads.h"
#include "layer_impl.h"

static mlp_status softplus_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                   mlp_mode mode)
{
    (void)mode;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        y[i] = fmaxf(x[i], 0.0f) + log1pf(mlp__expf(-fabsf(x[i])));
    return MLP_STATUS_OK;
}

static mlp_status softplus_backward(mlp_layer *l, const float *x, const float *y,
                                    const float *dy, float *dx, int32_t n)
{
    (void)y;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        const float e = mlp__expf(-fabsf(x[i]));
        dx[i] = dy[i] * (x[i] >= 0.0f ? 1.0f : e) / (1.0f + e);
    }
    return MLP_STATUS_OK;
}

const mlp_layer_ops mlp__softplus_ops = {
    .name = "softplus",
    .kind = MLP_LAYER_SOFTPLUS,
    .setup = mlp__same_shape_setup,
    .forward = softplus_forward,
    .backward = softplus_backward,
    .config_version = 1,
};

mlp_status mlp_layer_create_softplus(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_SOFTPLUS, "mlp_layer_create_softplus");
}

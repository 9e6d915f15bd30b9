/* Hyperbolic tangent:  y = tanh(x),  dx = dy * (1 - y^2). */
#include <math.h>

#include "backend/threads.h"
#include "layer_impl.h"

static mlp_status tanh_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                               mlp_mode mode)
{
    (void)mode;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        y[i] = tanhf(x[i]);
    return MLP_STATUS_OK;
}

static mlp_status tanh_backward(mlp_layer *l, const float *x, const float *y,
                                const float *dy, float *dx, int32_t n)
{
    (void)x;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    return MLP_STATUS_OK;
}

const mlp_layer_ops mlp__tanh_ops = {
    .name = "tanh",
    .kind = MLP_LAYER_TANH,
    .setup = mlp__same_shape_setup,
    .forward = tanh_forward,
    .backward = tanh_backward,
    .config_version = 1,
};

mlp_status mlp_layer_create_tanh(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_TANH, "mlp_layer_create_tanh");
}

/*
 * Scaled ELU (Klambauer et al., 2017):
 *   y = lambda x if x > 0 else lambda alpha (e^x - 1),
 * with the self-normalising constants below. For x <= 0,
 * dy/dx = lambda alpha e^x = y + lambda alpha.
 */
#include "backend/gemm.h"
#include "backend/threads.h"
#include "layer_impl.h"

#define SELU_LAMBDA 1.0507009873554804934f
#define SELU_ALPHA 1.6732632423543772848f

static mlp_status selu_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                               mlp_mode mode)
{
    (void)mode;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float e = (SELU_LAMBDA * SELU_ALPHA) * (mlp__expf(x[i]) - 1.0f);
        y[i] = x[i] > 0.0f ? SELU_LAMBDA * x[i] : e;
    }
    return MLP_STATUS_OK;
}

MLP_VECTOR_CLONES
static mlp_status selu_backward(mlp_layer *l, const float *x, const float *y,
                                const float *dy, float *dx, int32_t n)
{
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float g = dy[i], slope = y[i] + SELU_LAMBDA * SELU_ALPHA;
        dx[i] = x[i] > 0.0f ? SELU_LAMBDA * g : g * slope;
    }
    return MLP_STATUS_OK;
}

const mlp_layer_ops mlp__selu_ops = {
    .name = "selu",
    .kind = MLP_LAYER_SELU,
    .setup = mlp__same_shape_setup,
    .forward = selu_forward,
    .backward = selu_backward,
    .config_version = 1,
};

mlp_status mlp_layer_create_selu(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_SELU, "mlp_layer_create_selu");
}

/* Logistic sigmoid:  y = 1 / (1 + e^-x),  dx = dy * y * (1 - y). */
#include "backend/gemm.h"
#include "backend/threads.h"
#include "layer_impl.h"

static mlp_status sigmoid_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                  mlp_mode mode)
{
    (void)mode;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        y[i] = 1.0f / (1.0f + mlp__expf(-x[i]));
    return MLP_STATUS_OK;
}

MLP_VECTOR_CLONES
static mlp_status sigmoid_backward(mlp_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int32_t n)
{
    (void)x;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
    return MLP_STATUS_OK;
}

const mlp_layer_ops mlp__sigmoid_ops = {
    .name = "sigmoid",
    .kind = MLP_LAYER_SIGMOID,
    .setup = mlp__same_shape_setup,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .config_version = 1,
};

mlp_status mlp_layer_create_sigmoid(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_SIGMOID, "mlp_layer_create_sigmoid");
}

/* Rectified linear unit:  y = max(0, x),  dx = dy * [y > 0]. */
#include "backend/threads.h"
#include "layer_impl.h"

MLP_VECTOR_CLONES
static mlp_status relu_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                               mlp_mode mode)
{
    (void)mode;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
    return MLP_STATUS_OK;
}

MLP_VECTOR_CLONES
static mlp_status relu_backward(mlp_layer *l, const float *x, const float *y,
                                const float *dy, float *dx, int32_t n)
{
    (void)x;
    const int64_t len = (int64_t)n * l->in_size;
    MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float g = dy[i];
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
    return MLP_STATUS_OK;
}

const mlp_layer_ops mlp__relu_ops = {
    .name = "relu",
    .kind = MLP_LAYER_RELU,
    .setup = mlp__same_shape_setup,
    .forward = relu_forward,
    .backward = relu_backward,
    .config_version = 1,
};

mlp_status mlp_layer_create_relu(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_RELU, "mlp_layer_create_relu");
}
